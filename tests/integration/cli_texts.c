/* The exact texts the CLI prints about workflows and tasks, against a real
 * database (issue 19 item 13): the engine's words, never its code glued on
 * the end; a report on a task that is done says so; a failure of a type the
 * retry policy calls non-retryable is recorded as not retryable. */
#include "engine_support.h"

#include <stdio.h>

/* review: a human approval, then a wait (the run stays open after the task
 * is done); strict: a task whose policy does not retry bad_input. */
static const char TEXT_DEFS[] =
    "{\"review\":{\"type\":\"review\",\"task_queue\":\"qr\",\"steps\":["
    "  {\"kind\":\"human\",\"name\":\"approve\",\"task\":\"approve\",\"input\":{},"
    "   \"deadline_ms\":0,\"assignee\":null},"
    "  {\"kind\":\"wait\",\"name\":\"go\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":"
    "\"fail\"}]},"
    "\"strict\":{\"type\":\"strict\",\"task_queue\":\"qs\",\"steps\":["
    "  {\"kind\":\"task\",\"name\":\"work\",\"task\":\"work\",\"queue\":\"qs\",\"input\":{},"
    "   \"retry\":{\"initial_interval_ms\":1000,\"backoff\":2.0,\"maximum_interval_ms\":100000,"
    "   \"maximum_attempts\":5,\"non_retryable\":[\"bad_input\"]},"
    "   \"timeouts\":{\"schedule_to_start_ms\":0,\"start_to_close_ms\":60000,"
    "   \"schedule_to_close_ms\":0,\"heartbeat_ms\":0},\"continue_on_failure\":false}]}}";

/* Runs "switchyard ARGS --db <fx>" with stderr into the output; returns the
 * exit code, the output in out (cap bytes). */
static int cli(engine_fx *fx, const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s --db '%s' 2>&1", fixture_switchyard_bin(), args,
             fx->conninfo);
    return fixture_run(cmd, out, cap);
}

/* Starts a run of type as workflow id; returns its task's id (owned). */
static char *start_task(engine_fx *fx, const char *type, const char *id)
{
    engine_result r;
    CHECK_INT(engine_fx_start(fx, type, id, RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
              SY_OK);
    return engine_fx_str(fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", id, NULL);
}

/* was "switchyard workflow describe: no such workflow not_found" */
TEST(a_missing_workflow_is_said_in_words)
{
    engine_fx fx;
    engine_fx_open_defs(&fx, "cli_texts_missing", NULL, TEXT_DEFS);
    char out[2048];
    CHECK_INT(cli(&fx, "workflow describe nope", out, sizeof out), 1);
    CHECK_STR(out, "switchyard workflow describe: no such workflow\n");
    CHECK_INT(cli(&fx, "workflow describe nope -o json", out, sizeof out), 1);
    /* the JSON on stdout, the same line on stderr (their order in one pipe is not fixed) */
    CHECK_MSG(strstr(out, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
                          "workflow\"}}\n") != NULL &&
                  strstr(out, "switchyard workflow describe: no such workflow\n") != NULL,
              "printed %s", out);
    engine_fx_close(&fx);
}

/* was "report for ... ignored: stale_attempt" for a task completed a moment ago */
TEST(a_second_completion_says_the_task_is_already_completed)
{
    engine_fx fx;
    engine_fx_open_defs(&fx, "cli_texts_twice", NULL, TEXT_DEFS);
    char *task = start_task(&fx, "review", "rv-1"), args[512], out[2048], want[512];
    snprintf(args, sizeof args, "task complete %s --result '{\"ok\":true}'", task);
    CHECK_INT(cli(&fx, args, out, sizeof out), 0);
    snprintf(want, sizeof want, "task %s completed\n", task);
    CHECK_STR(out, want);
    CHECK_STR(engine_fx_status(&fx, "rv-1"), "running"); /* waits for "go" now */
    CHECK_INT(cli(&fx, args, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "switchyard task: report for %s ignored: the task is already completed\n", task);
    CHECK_STR(out, want);
    snprintf(args, sizeof args, "task complete %s -o json", task);
    CHECK_INT(cli(&fx, args, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "{\"task_id\":\"%s\",\"outcome\":\"ignored\",\"code\":\"task_closed\",\"message\":"
             "\"the task is already completed\"}\n",
             task);
    CHECK_STR(out, want);
    /* a stale attempt is still called one */
    snprintf(args, sizeof args, "task fail %s --attempt 7 --error-type x --message y", task);
    CHECK_INT(cli(&fx, args, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "switchyard task: report for %s ignored: the report is for an attempt that is not "
             "current\n",
             task);
    CHECK_STR(out, want);
    free(task);
    engine_fx_close(&fx);
}

/* was "retryable": true in task.failed and in the run's error */
TEST(a_failure_of_a_non_retryable_type_is_recorded_as_not_retryable)
{
    engine_fx fx;
    engine_fx_open_defs(&fx, "cli_texts_retry", NULL, TEXT_DEFS);
    char *task = start_task(&fx, "strict", "st-1"), args[512], out[2048];
    snprintf(args, sizeof args, "task fail %s --error-type bad_input --message 'no such gap'",
             task);
    CHECK_INT(cli(&fx, args, out, sizeof out), 0);
    CHECK_STR(engine_fx_status(&fx, "st-1"), "failed"); /* no retry: the policy says so */
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM history_events WHERE type = 'task.failed' AND "
                            "data->'error'->>'retryable' = 'false' AND data->>'final' = 'true'",
                            NULL, NULL),
              1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM runs WHERE workflow_id = 'st-1' AND "
                            "error->>'type' = 'bad_input' AND error->>'retryable' = 'false'",
                            NULL, NULL),
              1);
    CHECK_INT(cli(&fx, "workflow describe st-1 -o json", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"retryable\":false") != NULL &&
                  strstr(out, "\"retryable\":true") == NULL,
              "describe printed %s", out);
    free(task);
    engine_fx_close(&fx);
}
