/* engine_report_parse: the worker reports the engine accepts
 * (schemas/worker/task.*.json) and the precise errors for the rest. */
#include "reports.h"
#include "test.h"

static sy_status parse(const char *body, cJSON **j, engine_report *r, sy_error *e)
{
    sy_error_clear(e);
    return engine_report_parse(body, strlen(body), j, r, e);
}

TEST(accepts_completed_with_result)
{
    cJSON *j = NULL;
    engine_report r;
    sy_error e;
    CHECK_INT(parse("{\"type\":\"task.completed\",\"task_id\":\"t1\",\"attempt\":2,"
                    "\"worker\":\"h:1\",\"result\":{\"n\":1}}",
                    &j, &r, &e),
              SY_OK);
    CHECK_INT(r.kind, ENGINE_REPORT_COMPLETED);
    CHECK_STR(r.task_id, "t1");
    CHECK_INT(r.attempt, 2);
    CHECK(cJSON_IsObject(r.result));
    cJSON_Delete(j);
}

TEST(accepts_failed_and_reads_retryable)
{
    cJSON *j = NULL;
    engine_report r;
    sy_error e;
    CHECK_INT(
        parse("{\"type\":\"task.failed\",\"task_id\":\"t1\",\"attempt\":1,\"error\":"
              "{\"type\":\"bad_input\",\"message\":\"no\",\"retryable\":false,\"exit_code\":3}}",
              &j, &r, &e),
        SY_OK);
    CHECK_INT(r.kind, ENGINE_REPORT_FAILED);
    CHECK_STR(r.error_type, "bad_input");
    CHECK_STR(r.error_message, "no");
    CHECK(!r.retryable);
    cJSON_Delete(j);
    CHECK_INT(parse("{\"type\":\"task.failed\",\"task_id\":\"t1\",\"attempt\":1,\"error\":"
                    "{\"type\":\"x\",\"message\":\"\"}}",
                    &j, &r, &e),
              SY_OK);
    CHECK(r.retryable);
    cJSON_Delete(j);
}

TEST(accepts_heartbeat_with_details)
{
    cJSON *j = NULL;
    engine_report r;
    sy_error e;
    CHECK_INT(parse("{\"type\":\"task.heartbeat\",\"task_id\":\"t\",\"attempt\":1,"
                    "\"details\":[1,2]}",
                    &j, &r, &e),
              SY_OK);
    CHECK_INT(r.kind, ENGINE_REPORT_HEARTBEAT);
    cJSON_Delete(j);
}

static void expect_invalid(const char *body, const char *code, const char *path)
{
    cJSON *j = (cJSON *)1;
    engine_report r;
    sy_error e;
    CHECK_INT(parse(body, &j, &r, &e), SY_INVALID);
    CHECK(j == NULL);
    CHECK_STR(e.code, code);
    if (path)
        CHECK_STR(e.path, path);
}

TEST(rejects_unknown_type)
{
    expect_invalid("{\"type\":\"task.done\",\"task_id\":\"t\",\"attempt\":1}", "bad_value", "type");
}

TEST(rejects_missing_task_id_and_bad_attempt)
{
    expect_invalid("{\"type\":\"task.started\",\"attempt\":1}", "missing_field", "task_id");
    expect_invalid("{\"type\":\"task.started\",\"task_id\":\"t\",\"attempt\":0}", "missing_field",
                   "attempt");
    expect_invalid("{\"type\":\"task.started\",\"task_id\":\"t\",\"attempt\":1.5}", "missing_field",
                   "attempt");
}

TEST(rejects_members_not_allowed_for_the_kind)
{
    expect_invalid("{\"type\":\"task.started\",\"task_id\":\"t\",\"attempt\":1,\"result\":1}",
                   "unknown_field", "result");
    expect_invalid("{\"type\":\"task.completed\",\"task_id\":\"t\",\"attempt\":1,\"reslt\":1}",
                   "unknown_field", "reslt");
}

TEST(rejects_failed_without_error_type)
{
    expect_invalid("{\"type\":\"task.failed\",\"task_id\":\"t\",\"attempt\":1}", "bad_type",
                   "error");
    expect_invalid("{\"type\":\"task.failed\",\"task_id\":\"t\",\"attempt\":1,\"error\":"
                   "{\"message\":\"m\"}}",
                   "missing_field", "error.type");
    expect_invalid("{\"type\":\"task.failed\",\"task_id\":\"t\",\"attempt\":1,\"error\":"
                   "{\"type\":\"a\",\"message\":\"m\",\"retryable\":\"no\"}}",
                   "bad_type", "error.retryable");
}

TEST(rejects_bad_json_and_duplicate_keys)
{
    expect_invalid("{\"type\":", "bad_json", NULL);
    expect_invalid("{\"type\":\"task.started\",\"task_id\":\"a\",\"task_id\":\"b\",\"attempt\":1}",
                   "duplicate_key", "task_id");
    expect_invalid("[1]", "bad_type", "");
}

TEST(rejects_bad_trace_id)
{
    expect_invalid("{\"type\":\"task.started\",\"task_id\":\"t\",\"attempt\":1,"
                   "\"trace_id\":\"XYZ\"}",
                   "bad_value", "trace_id");
}

/* started_at travels as a header (reports.h, ENGINE_STARTED_HEADER), so
 * that an older engine ignores it: in the body it is an unknown member. */
TEST(started_at_is_not_a_member_of_a_report)
{
    cJSON *j = NULL;
    engine_report r;
    sy_error e;
    CHECK_INT(parse("{\"type\":\"task.completed\",\"task_id\":\"t\",\"attempt\":1,"
                    "\"started_at\":\"2026-12-04T21:00:00Z\"}",
                    &j, &r, &e),
              SY_INVALID);
    CHECK_STR(e.code, "unknown_field");
    CHECK(j == NULL && !r.started);
}
