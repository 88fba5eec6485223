/* Integration tests of schedule administration: registration from the
 * rules file (idempotent; a changed spec updates; a removed schedule is
 * paused, and comes back when re-added), pause/resume with a note, trigger
 * now, backfill with its own overlap policy, describe and list. */
#include "schedule_support.h"

#define T0 at("2030-01-01 00:00:00")

static engine_schedule_sync_counts sync_json(sched_fx *fx, const char *json, int64_t now)
{
    cJSON *arr = cJSON_Parse(json);
    CHECK_MSG(arr != NULL, "bad test JSON");
    engine_schedule_sync_counts c = {0};
    sy_error err = {0};
    sy_status st = engine_schedules_sync(fx->s, arr, now, &c, &err);
    CHECK_MSG(st == SY_OK, "sync: %s: %s", err.path, err.message);
    cJSON_Delete(arr);
    return c;
}

#define RULES_A "[{\"id\":\"a\",\"cron\":\"0 * * * *\",\"workflow\":\"quick\"}]"
#define RULES_A2 "[{\"id\":\"a\",\"cron\":\"30 * * * *\",\"workflow\":\"quick\"}]"
#define RULES_B "[{\"id\":\"b\",\"cron\":\"0 * * * *\",\"workflow\":\"quick\"}]"

TEST(sync_is_idempotent_and_updates_changed_specs)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_sync");
    engine_schedule_sync_counts c = sync_json(&fx, RULES_A, T0);
    CHECK_INT(c.created, 1);
    c = sync_json(&fx, RULES_A, T0 + 1000);
    CHECK_INT(c.created + c.updated, 0);
    CHECK_INT(c.unchanged, 1);
    CHECK_INT(sched_col(&fx, "a", "(extract(epoch from next_fire_at) * 1000)::bigint"),
              at("2030-01-01 01:00:00"));
    c = sync_json(&fx, RULES_A2, T0 + 2000);
    CHECK_INT(c.updated, 1);
    CHECK_INT(sched_col(&fx, "a", "(extract(epoch from next_fire_at) * 1000)::bigint"),
              at("2030-01-01 00:30:00"));
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 1);
    sched_fx_close(&fx);
}

TEST(sync_pauses_a_removed_schedule_and_readding_resumes_it)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_removed");
    sync_json(&fx, RULES_A, T0);
    engine_schedule_sync_counts c = sync_json(&fx, RULES_B, T0);
    CHECK_INT(c.created, 1);
    CHECK_INT(c.removed, 1);
    CHECK_INT(sched_col(&fx, "a", "paused::int"), 1);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM schedules WHERE schedule_id = 'a' AND note = "
                        "'removed from the rules file'",
                        NULL, NULL),
              1);
    CHECK_INT(sched_run(&fx, at("2030-01-01 01:00:00")), 1); /* only b */
    CHECK_STR(sched_wf_status(&fx, "a:2030-01-01T01:00:00Z"), "");
    c = sync_json(&fx,
                  "["
                  "{\"id\":\"a\",\"cron\":\"0 * * * *\",\"workflow\":\"quick\"},"
                  "{\"id\":\"b\",\"cron\":\"0 * * * *\",\"workflow\":\"quick\"}]",
                  at("2030-01-01 01:30:00"));
    CHECK_INT(c.updated, 1);
    CHECK_INT(sched_col(&fx, "a", "paused::int"), 0);
    CHECK_INT(sched_run(&fx, at("2030-01-01 02:00:00")), 2);
    sched_fx_close(&fx);
}

TEST(sync_rejects_an_invalid_schedule_and_changes_nothing)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_invalid");
    cJSON *arr = cJSON_Parse("[{\"id\":\"ok\",\"cron\":\"0 * * * *\",\"workflow\":\"quick\"},"
                             "{\"id\":\"bad\",\"cron\":\"0 25 * * *\",\"workflow\":\"quick\"}]");
    sy_error err = {0};
    CHECK_INT(engine_schedules_sync(fx.s, arr, T0, NULL, &err), SY_INVALID);
    CHECK_STR(err.path, "schedules[1].cron");
    CHECK_STR(err.message, "field 2 (hour): 25 is out of range 0-23 (column 3)");
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 0);
    cJSON_Delete(arr);
    arr = cJSON_Parse("[{\"id\":\"x\",\"cron\":\"0 * * * *\",\"workflow\":\"nope\"}]");
    CHECK_INT(engine_schedules_sync(fx.s, arr, T0, NULL, &err), SY_INVALID);
    CHECK_STR(err.path, "schedules[0].workflow");
    cJSON_Delete(arr);
    sched_fx_close(&fx);
}

TEST(cli_schedules_survive_rules_sync)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_cli");
    sched_create(&fx, "mine", "\"cron\":\"0 * * * *\",\"workflow\":\"quick\"", T0);
    engine_schedule_sync_counts c = sync_json(&fx, RULES_A, T0);
    CHECK_INT(c.removed, 0);
    CHECK_INT(sched_col(&fx, "mine", "paused::int"), 0);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_schedule_delete(fx.s, "mine", &err), SY_OK);
    CHECK_INT(engine_schedule_delete(fx.s, "mine", &err), SY_NOT_FOUND);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 1);
    sched_fx_close(&fx);
}

TEST(pause_with_note_and_resume_from_now)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_pause");
    sched_create(&fx, "p", "\"cron\":\"* * * * *\",\"workflow\":\"quick\"", T0);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_schedule_pause(fx.s, "p", true, "maintenance", T0, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(sched_run(&fx, T0 + 5 * 60000), 0);
    cJSON *d = NULL;
    CHECK_INT(engine_schedule_describe(fx.s, "p", T0, 3, &d, &err), SY_OK);
    CHECK_STR(sy_json_get_string(d, "note"), "maintenance");
    CHECK(cJSON_IsTrue(sy_json_get(d, "paused")));
    cJSON_Delete(d);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_schedule_pause(fx.s, "p", false, "back", T0 + 5 * 60000 + 30000, &err), SY_OK);
    CHECK_INT(engine_schedule_pause(fx.s, "zzz", false, NULL, T0, &err), SY_NOT_FOUND);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    /* the slots that passed while paused are not fired; the next is 00:06 */
    CHECK_INT(sched_run(&fx, T0 + 6 * 60000), 1);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM workflow_ids", NULL, NULL), 1);
    CHECK_STR(sched_wf_status(&fx, "p:2030-01-01T00:06:00Z"), "completed");
    sched_fx_close(&fx);
}

static engine_schedule_fire trigger(sched_fx *fx, const char *id, int64_t now,
                                    const engine_overlap *overlap)
{
    engine_schedule_fire f = {0};
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_schedule_trigger(fx->s, id, now, overlap, &f, &err) == SY_OK, "%s",
              err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    return f;
}

TEST(trigger_now_fires_with_its_own_id_and_obeys_overlap)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_trigger");
    sched_create(&fx, "tr", "\"cron\":\"0 0 1 1 *\",\"workflow\":\"waiter\",\"overlap\":\"skip\"",
                 T0);
    engine_schedule_fire f = trigger(&fx, "tr", T0 + 5500, NULL);
    CHECK(f.started);
    CHECK_STR(f.workflow_id, "tr:2030-01-01T00:00:05.500Z");
    CHECK_STR(sched_wf_status(&fx, "tr:2030-01-01T00:00:05.500Z"), "running");
    f = trigger(&fx, "tr", T0 + 9000, NULL); /* skip: the first still runs */
    CHECK(!f.started);
    CHECK_STR(f.reason, "overlap");
    engine_overlap allow = ENGINE_OVERLAP_ALLOW_ALL;
    f = trigger(&fx, "tr", T0 + 5900, &allow); /* same second: a firing of its own */
    CHECK(f.started);
    CHECK_STR(f.workflow_id, "tr:2030-01-01T00:00:05.900Z");
    /* on a whole second a trigger moves off it: that is a cron slot's ID */
    f = trigger(&fx, "tr", T0 + 60000, &allow);
    CHECK_STR(f.workflow_id, "tr:2030-01-01T00:01:00.001Z");
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM workflow_ids", NULL, NULL), 3);
    sched_fx_close(&fx);
}

/* issue 19 item 15: two triggers in one second were one firing (the second
 * was "already_fired"), whatever the overlap policy. */
TEST(two_triggers_in_one_millisecond_are_two_firings)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_trigger_twice");
    sched_create(&fx, "ta",
                 "\"cron\":\"0 0 1 1 *\",\"workflow\":\"waiter\",\"overlap\":\"allow_all\"", T0);
    sched_create(&fx, "tt",
                 "\"cron\":\"0 0 1 1 *\",\"workflow\":\"waiter\",\"overlap\":\"terminate_other\"",
                 T0);
    engine_schedule_fire a1 = trigger(&fx, "ta", T0 + 7250, NULL);
    engine_schedule_fire a2 = trigger(&fx, "ta", T0 + 7250, NULL);
    CHECK(a1.started && a2.started);
    CHECK(strcmp(a1.workflow_id, a2.workflow_id) != 0);
    CHECK_STR(sched_wf_status(&fx, a1.workflow_id), "running");
    CHECK_STR(sched_wf_status(&fx, a2.workflow_id), "running");
    engine_schedule_fire t1 = trigger(&fx, "tt", T0 + 7250, NULL);
    engine_schedule_fire t2 = trigger(&fx, "tt", T0 + 7250, NULL);
    CHECK(t1.started && t2.started);
    CHECK_STR(sched_wf_status(&fx, t1.workflow_id), "terminated");
    CHECK_STR(sched_wf_status(&fx, t2.workflow_id), "running");
    sched_fx_close(&fx);
}

TEST(backfill_fires_a_range_once_with_its_own_policy)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_backfill");
    sched_create(&fx, "bf", "\"cron\":\"0 * * * *\",\"workflow\":\"waiter\",\"overlap\":\"skip\"",
                 at("2030-01-02 00:00:00"));
    engine_schedule_backfill_counts c = {0};
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    sy_status st =
        engine_schedule_backfill(fx.s, "bf", T0, at("2030-01-01 10:00:00"),
                                 ENGINE_OVERLAP_ALLOW_ALL, at("2030-01-02 00:00:00"), &c, &err);
    CHECK_MSG(st == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(c.slots, 10); /* 00:00 .. 09:00 */
    CHECK_INT(c.started, 10);
    CHECK_STR(sched_wf_status(&fx, "bf:2030-01-01T09:00:00Z"), "running");
    CHECK_STR(sched_wf_status(&fx, "bf:2030-01-01T10:00:00Z"), "");
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_schedule_backfill(fx.s, "bf", T0, at("2030-01-01 12:00:00"),
                                       ENGINE_OVERLAP_ALLOW_ALL, at("2030-01-02 00:00:00"), &c,
                                       &err),
              SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(c.already_fired, 10);
    CHECK_INT(c.started, 2);
    /* next_fire_at is the schedule's own business */
    CHECK_INT(sched_col(&fx, "bf", "(extract(epoch from next_fire_at) * 1000)::bigint"),
              at("2030-01-02 01:00:00"));
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_schedule_backfill(fx.s, "bf", T0, T0, ENGINE_OVERLAP_SKIP, T0, &c, &err),
              SY_INVALID);
    engine_rollback(fx.s);
    sched_fx_close(&fx);
}

TEST(describe_lists_upcoming_slots_and_list_shows_all)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_admin_describe");
    sched_create(&fx, "d1",
                 "\"cron\":\"0 9 * * MON\",\"timezone\":\"Europe/Berlin\",\"workflow\":\"quick\"",
                 at("2030-01-01 00:00:00"));
    sched_create(&fx, "d2", "\"cron\":\"@every 15m\",\"workflow\":\"quick\"", T0);
    cJSON *d = NULL;
    sy_error err = {0};
    CHECK_INT(engine_schedule_describe(fx.s, "d1", T0, 2, &d, &err), SY_OK);
    const cJSON *up = sy_json_get(d, "upcoming");
    CHECK_INT(cJSON_GetArraySize(up), 2);
    /* Mondays 2030-01-07 and 01-14, 09:00 CET = 08:00 UTC */
    CHECK_STR(cJSON_GetArrayItem(up, 0)->valuestring, "2030-01-07T08:00:00Z");
    CHECK_STR(cJSON_GetArrayItem(up, 1)->valuestring, "2030-01-14T08:00:00Z");
    CHECK_STR(sy_json_get_string(d, "overlap"), "skip");
    cJSON_Delete(d);
    CHECK_INT(engine_schedule_describe(fx.s, "nope", T0, 2, &d, &err), SY_NOT_FOUND);
    cJSON *l = NULL;
    CHECK_INT(engine_schedule_list(fx.s, NULL, 0, &l, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(sy_json_get(l, "schedules")), 2);
    CHECK_STR(sy_json_get_string(cJSON_GetArrayItem(sy_json_get(l, "schedules"), 1), "id"), "d2");
    CHECK(cJSON_IsNull(sy_json_get(l, "next_page_token")));
    cJSON_Delete(l);
    /* pages of one: d1 then d2, the token is the last id of a page */
    CHECK_INT(engine_schedule_list(fx.s, NULL, 1, &l, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(sy_json_get(l, "schedules")), 1);
    CHECK_STR(sy_json_get_string(l, "next_page_token"), "d1");
    cJSON_Delete(l);
    CHECK_INT(engine_schedule_list(fx.s, "d1", 1, &l, &err), SY_OK);
    CHECK_STR(sy_json_get_string(cJSON_GetArrayItem(sy_json_get(l, "schedules"), 0), "id"), "d2");
    CHECK(cJSON_IsNull(sy_json_get(l, "next_page_token")));
    cJSON_Delete(l);
    sched_fx_close(&fx);
}
