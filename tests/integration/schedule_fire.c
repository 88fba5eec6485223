/* Integration tests of schedule firing on a fixed, made-up clock: a due slot
 * starts "<id>:<scheduled_for>" and advances the schedule in one
 * transaction; catch-up after downtime; limited_actions; jitter; DST; two
 * processes racing never fire a slot twice. */
#include "schedule_support.h"

#include <sys/wait.h>
#include <unistd.h>

#define EVERY_MINUTE "\"cron\":\"* * * * *\",\"workflow\":\"quick\",\"overlap\":\"allow_all\""

TEST(due_slot_starts_its_workflow_and_advances)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_due");
    sched_create(&fx, "tick", EVERY_MINUTE, at("2030-01-01 00:00:30"));
    CHECK_INT(sched_col(&fx, "tick", "(extract(epoch from next_fire_at))::bigint * 1000"),
              at("2030-01-01 00:01:00"));
    int64_t due = -1;
    sy_error err = {0};
    CHECK_INT(engine_schedules_next_due(fx.s, &due, &err), SY_OK);
    CHECK_INT(due, at("2030-01-01 00:01:00"));
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:00:59")), 0); /* not due yet */
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:01:00") + 400), 1);
    CHECK(sched_wf_status(&fx, "tick:2030-01-01T00:01:00Z")[0] != '\0');
    CHECK_INT(sched_col(&fx, "tick", "(extract(epoch from next_fire_at))::bigint * 1000"),
              at("2030-01-01 00:02:00"));
    CHECK_INT(sched_col(&fx, "tick", "fired_count"), 1);
    CHECK_INT(sched_outbox(&fx, "switchyard.schedule.fired"), 1);
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:01:00") + 900), 0); /* never twice */
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM workflow_ids", NULL, NULL), 1);
    sched_fx_close(&fx);
}

TEST(fired_event_names_schedule_slot_and_run)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_event");
    sched_create(&fx, "ev", EVERY_MINUTE ",\"input\":{\"when\":\"{{ schedule.scheduled_for }}\"}",
                 at("2030-01-01 00:00:30"));
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:01:00")), 1);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.schedule.fired.quick' "
                        "AND body::jsonb->'payload'->>'workflow_id' = 'ev:2030-01-01T00:01:00Z' "
                        "AND body::jsonb->'payload'->>'schedule_id' = 'ev' "
                        "AND (body::jsonb->'payload'->>'run_id')::uuid = (SELECT run_id FROM runs "
                        "WHERE workflow_id = 'ev:2030-01-01T00:01:00Z')",
                        NULL, NULL),
              1);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM runs WHERE workflow_id = 'ev:2030-01-01T00:01:00Z' "
                        "AND input->>'when' = '2030-01-01T00:01:00Z'",
                        NULL, NULL),
              1);
    sched_fx_close(&fx);
}

TEST(catchup_window_skips_and_counts_older_missed_slots)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_catchup");
    sched_create(&fx, "cu", EVERY_MINUTE ",\"catchup_window_ms\":3600000",
                 at("2030-01-01 00:00:00"));
    /* down for two hours: slots 00:01..02:00; those more than 1h late
     * (00:01..00:59, 59 of them) are missed, 01:00..02:00 (61) still run */
    CHECK_INT(sched_run(&fx, at("2030-01-01 02:00:00")), 61);
    CHECK_INT(sched_col(&fx, "cu", "missed_count"), 59);
    CHECK_INT(sched_col(&fx, "cu", "fired_count"), 61);
    CHECK(sched_wf_status(&fx, "cu:2030-01-01T00:59:00Z")[0] == '\0');
    CHECK(sched_wf_status(&fx, "cu:2030-01-01T01:00:00Z")[0] != '\0');
    CHECK_INT(sched_int(&fx,
                        "SELECT (body::jsonb->'payload'->>'count')::int FROM outbox_messages WHERE "
                        "body::jsonb->'payload'->>'reason' = 'catchup_window'",
                        NULL, NULL),
              59);
    sched_fx_close(&fx);
}

TEST(limited_actions_stop_after_n_starts)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_limited");
    sched_create(&fx, "lim", EVERY_MINUTE ",\"limited_actions\":2", at("2030-01-01 00:00:00"));
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:01:00")), 1);
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:05:00")), 1);
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:09:00")), 0);
    CHECK_INT(sched_col(&fx, "lim", "remaining_actions"), 0);
    CHECK_INT(sched_col(&fx, "lim", "(next_fire_at IS NULL)::int"), 1);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM workflow_ids", NULL, NULL), 2);
    sched_fx_close(&fx);
}

TEST(jitter_delays_the_start_but_not_the_slot)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_jitter");
    sched_create(&fx, "jit", "\"cron\":\"0 * * * *\",\"workflow\":\"quick\",\"jitter_ms\":600000",
                 at("2030-01-01 00:30:00"));
    long long next = sched_col(&fx, "jit", "(extract(epoch from next_fire_at) * 1000)::bigint");
    long long due = sched_col(&fx, "jit", "(extract(epoch from due_at) * 1000)::bigint");
    CHECK_INT(next, at("2030-01-01 01:00:00"));
    CHECK(due >= next && due < next + 600000);
    CHECK_INT(sched_run(&fx, due - 1), 0);
    CHECK_INT(sched_run(&fx, due), 1);
    CHECK(sched_wf_status(&fx, "jit:2030-01-01T01:00:00Z")[0] != '\0');
    sched_fx_close(&fx);
}

TEST(dst_gap_slot_fires_at_the_end_of_the_gap)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_dst");
    sched_create(&fx, "ny",
                 "\"cron\":\"30 2 * * *\",\"timezone\":\"America/New_York\",\"workflow\":\"quick\"",
                 at("2030-03-09 12:00:00"));
    /* 2030-03-10 02:30 does not exist in New York: 03:00 EDT = 07:00 UTC */
    CHECK_INT(sched_col(&fx, "ny", "(extract(epoch from next_fire_at) * 1000)::bigint"),
              at("2030-03-10 07:00:00"));
    CHECK_INT(sched_run(&fx, at("2030-03-10 07:00:00")), 1);
    CHECK(sched_wf_status(&fx, "ny:2030-03-10T07:00:00Z")[0] != '\0');
    CHECK_INT(sched_col(&fx, "ny", "(extract(epoch from next_fire_at) * 1000)::bigint"),
              at("2030-03-11 06:30:00"));
    sched_fx_close(&fx);
}

/* One process's share of the race: its own engine and connection, many
 * rounds at the same "now"; exits with the number of workflows it started. */
static void race_child(const char *conninfo, int64_t now)
{
    cJSON *defs = cJSON_Parse(SCHED_TEST_DEFS);
    engine_opts o = {.workflows = defs};
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_error err = {0};
    if (engine_new(&o, NULL, &eng, &err) != SY_OK ||
        engine_session_open(eng, conninfo, false, &s, &err) != SY_OK)
        _exit(255);
    cJSON_Delete(defs);
    size_t total = 0;
    for (int round = 0; round < 40; round++) {
        size_t n = 0;
        if (engine_schedules_run_once(s, now, 7, &n, &err) != SY_OK)
            _exit(255);
        total += n;
    }
    engine_session_close(s);
    engine_free(eng);
    _exit((int)total);
}

TEST(two_processes_racing_never_fire_a_slot_twice)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_race");
    cJSON *def = cJSON_Parse("{\"id\":\"r\",\"cron\":\"* * * * *\",\"workflow\":\"quick\"}");
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(
        engine_schedules_create_many(fx.s, "race-", 120, def, at("2030-01-01 00:00:00"), &err),
        SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    cJSON_Delete(def);
    fflush(NULL);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fixture_fork(); /* dies with the test, even a failed one */
        CHECK(kids[k] >= 0);
        if (kids[k] == 0)
            race_child(fx.conninfo, at("2030-01-01 00:01:00"));
    }
    int fired = 0;
    for (int k = 0; k < 2; k++) {
        int status = 0;
        CHECK(waitpid(kids[k], &status, 0) == kids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 255);
        fired += WEXITSTATUS(status);
    }
    CHECK_INT(fired, 120);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM runs", NULL, NULL), 120);
    CHECK_INT(sched_outbox(&fx, "switchyard.schedule.fired"), 120);
    CHECK_INT(sched_int(&fx, "SELECT sum(fired_count) FROM schedules", NULL, NULL), 120);
    sched_fx_close(&fx);
}

TEST(unreadable_schedule_is_paused_and_does_not_block_others)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_fire_broken");
    sched_create(&fx, "good", EVERY_MINUTE, at("2030-01-01 00:00:00"));
    sched_create(&fx, "bad", EVERY_MINUTE, at("2030-01-01 00:00:00"));
    /* as if a tzdata update had dropped the zone */
    sched_int(&fx,
              "WITH u AS (UPDATE schedules SET timezone = 'Gone/Zone' WHERE schedule_id = $1 "
              "RETURNING 1) SELECT count(*) FROM u",
              "bad", NULL);
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:01:00")), 1);
    CHECK(sched_wf_status(&fx, "good:2030-01-01T00:01:00Z")[0] != '\0');
    CHECK_INT(sched_col(&fx, "bad", "paused::int"), 1);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM schedules WHERE schedule_id = 'bad' AND note LIKE "
                        "'invalid: %unknown time zone \"Gone/Zone\"%'",
                        NULL, NULL),
              1);
    CHECK_INT(sched_run(&fx, at("2030-01-01 00:02:00")), 1);
    sched_fx_close(&fx);
}
