/* Unit tests of schedule definitions (engine/schedule.h) that need no
 * database: validation with precise paths and messages, overlap policy
 * names, the firing's workflow ID, deterministic jitter. */
#include "schedule.h"
#include "schedule_int.h"
#include "test.h"

static sy_status validate(const char *json, sy_error *err)
{
    cJSON *def = cJSON_Parse(json);
    CHECK_MSG(def != NULL, "bad test JSON %s", json);
    sy_status st = engine_schedule_validate(def, err);
    cJSON_Delete(def);
    return st;
}

TEST(minimal_definition_is_valid_with_defaults)
{
    sy_error err = {0};
    CHECK_INT(validate("{\"id\":\"a\",\"cron\":\"@hourly\",\"workflow\":\"w\"}", &err), SY_OK);
    cJSON *def = cJSON_Parse("{\"id\":\"a\",\"cron\":\"@hourly\",\"workflow\":\"w\"}");
    sched__def d;
    CHECK_INT(sched__def_read(def, NULL, &d, &err), SY_OK);
    CHECK_STR(d.timezone, "UTC");
    CHECK_INT(d.overlap, ENGINE_OVERLAP_SKIP);
    CHECK_INT(d.catchup_window_ms, 3600000);
    CHECK_INT(d.jitter_ms, 0);
    CHECK(!d.paused);
    char *text = sched__def_text(&d);
    CHECK_STR(text, "{\"id\":\"a\",\"cron\":\"@hourly\",\"timezone\":\"UTC\",\"workflow\":\"w\","
                    "\"input\":{},\"overlap\":\"skip\",\"catchup_window_ms\":3600000,"
                    "\"jitter_ms\":0,\"paused\":false,\"limited_actions\":0}");
    free(text);
    cJSON_Delete(def);
}

TEST(invalid_members_name_their_path)
{
    sy_error err = {0};
    CHECK_INT(validate("{\"id\":\"a\",\"cron\":\"0 25 * * *\",\"workflow\":\"w\"}", &err),
              SY_INVALID);
    CHECK_STR(err.path, "cron");
    CHECK_STR(err.message, "field 2 (hour): 25 is out of range 0-23 (column 3)");
    CHECK_INT(validate("{\"id\":\"a\",\"cron\":\"@daily\",\"workflow\":\"w\",\"timezone\":"
                       "\"Nowhere/City\"}",
                       &err),
              SY_INVALID);
    CHECK_STR(err.path, "timezone");
    CHECK_INT(
        validate("{\"id\":\"a\",\"cron\":\"@daily\",\"workflow\":\"w\",\"overlap\":\"x\"}", &err),
        SY_INVALID);
    CHECK_STR(err.path, "overlap");
    CHECK_INT(validate("{\"id\":\"a b\",\"cron\":\"@daily\",\"workflow\":\"w\"}", &err),
              SY_INVALID);
    CHECK_STR(err.path, "id");
    CHECK_INT(validate("{\"id\":\"a\",\"workflow\":\"w\"}", &err), SY_INVALID);
    CHECK_STR(err.path, "cron");
    CHECK_STR(err.message, "missing required member");
    CHECK_INT(
        validate("{\"id\":\"a\",\"cron\":\"@daily\",\"workflow\":\"w\",\"jitter_ms\":-5}", &err),
        SY_INVALID);
    CHECK_STR(err.path, "jitter_ms");
    CHECK_INT(validate("[]", &err), SY_INVALID);
}

TEST(overlap_names_round_trip)
{
    static const char *const names[] = {"skip",         "buffer_one",      "buffer_all",
                                        "cancel_other", "terminate_other", "allow_all"};
    for (size_t i = 0; i < 6; i++) {
        engine_overlap o;
        CHECK(engine_overlap_parse(names[i], &o));
        CHECK_STR(engine_overlap_name(o), names[i]);
    }
    engine_overlap o;
    CHECK(!engine_overlap_parse("Skip", &o));
    CHECK(!engine_overlap_parse(NULL, &o));
}

TEST(workflow_id_is_schedule_and_utc_slot)
{
    char wid[300];
    engine_schedule_workflow_id("nightly", INT64_C(1772953200000), wid, sizeof wid);
    CHECK_STR(wid, "nightly:2026-03-08T07:00:00Z");
}

TEST(jitter_is_deterministic_and_bounded)
{
    CHECK_INT(sched__jitter("a", 1000, 0), 0);
    int64_t j = sched__jitter("a", 60000, 30000);
    CHECK(j >= 0 && j < 30000);
    CHECK_INT(sched__jitter("a", 60000, 30000), j);
    bool differs = false; /* different slots or ids spread out */
    for (int i = 1; i < 20; i++)
        differs = differs || sched__jitter("a", 60000 * (int64_t)i, 30000) != j;
    CHECK(differs);
}
