/* engine_flow.c: workflows moving: signals (arrival order, idempotency per
 * event_id, buffering, signal-with-start), sleep and wait timeouts fired by
 * the timer loop with a controlled clock, task reports (attempt checks,
 * retries, timeouts), human tasks, cancel vs terminate. Real Postgres. */
#include "engine_support.h"

#include <pthread.h>

static sy_status signal(engine_fx *fx, const char *id, const char *name, const char *event_id,
                        int value, engine_result *res)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "v", value);
    engine_signal_req req = {.workflow_id = id, .signal = name, .payload = p, .event_id = event_id,
                             .if_missing = RULES_IF_MISSING_DEAD_LETTER};
    sy_status st = engine_signal(fx->s, &req, res, &err);
    cJSON_Delete(p);
    if (st == SY_OK)
        CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    else
        engine_rollback(fx->s);
    return st;
}

static size_t fire_timers(engine_fx *fx, int64_t now)
{
    size_t n = 0;
    sy_error err = {0};
    CHECK_MSG(engine_timers_run_once(fx->s, now, 100, &n, &err) == SY_OK, "timers: %s", err.message);
    return n;
}

static sy_status report(engine_fx *fx, const char *task, int64_t attempt, engine_report_kind k,
                        bool retryable, engine_result *res)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    cJSON *result = cJSON_CreateString("done");
    engine_report r = {.task_id = task, .attempt = attempt, .kind = k, .result = result,
                       .error_type = "boom", .error_message = "it broke", .retryable = retryable};
    sy_status st = engine_task_report(fx->s, &r, res, &err);
    cJSON_Delete(result);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    return st;
}

static char *task_of(engine_fx *fx, const char *wid)
{
    return engine_fx_str(fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", wid, NULL);
}

TEST(signals_are_consumed_in_arrival_order_and_once_per_event_id)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_signals");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter", "s", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal(&fx, "s", "go", "sig-1", 1, &r), SY_OK);
    CHECK_INT(r.outcome, ENGINE_APPLIED);
    CHECK_INT(signal(&fx, "s", "go", "sig-1", 1, &r), SY_OK); /* redelivered: no effect */
    CHECK_INT(r.outcome, ENGINE_DUPLICATE);
    CHECK_STR(engine_fx_status(&fx, "s"), "running");
    CHECK_INT(signal(&fx, "s", "go", "sig-2", 2, &r), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "s"), "completed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'workflow.signaled'", NULL, NULL), 2);
    /* the first wait took the first signal, the second the second */
    CHECK_INT(engine_fx_int(&fx, "SELECT (data->>'signal_seq')::int FROM history_events WHERE type = 'signal.consumed' AND data->>'step' = '0'", NULL, NULL),
              engine_fx_int(&fx, "SELECT seq FROM history_events WHERE type = 'workflow.signaled' AND data->'payload'->>'v' = '1'", NULL, NULL));
    CHECK_INT(engine_fx_int(&fx, "SELECT (data->>'signal_seq')::int FROM history_events WHERE type = 'signal.consumed' AND data->>'step' = '1'", NULL, NULL),
              engine_fx_int(&fx, "SELECT seq FROM history_events WHERE type = 'workflow.signaled' AND data->'payload'->>'v' = '2'", NULL, NULL));
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE result::jsonb = '{\"ok\": true}'::jsonb", NULL, NULL), 1);
    engine_fx_close(&fx);
}

TEST(signals_in_one_batch_keep_their_order)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_signal_batch");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter", "s", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < 3; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "b-%d", i);
        cJSON *p = cJSON_CreateNumber(i);
        engine_signal_req req = {.workflow_id = "s", .signal = "go", .payload = p, .event_id = eid};
        engine_batch_signal(b, engine_batch_event(b, eid), &req);
        cJSON_Delete(p);
    }
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx.s, b, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    /* two waits took the first two; the third found the workflow closed */
    CHECK_INT(engine_batch_outcome(b, 1), ENGINE_APPLIED);
    CHECK_INT(engine_batch_outcome(b, 2), ENGINE_DEAD_LETTERED);
    CHECK_STR(engine_batch_result(b, 2)->code, "workflow_closed");
    engine_batch_free(b);
    CHECK_STR(engine_fx_status(&fx, "s"), "completed");
    char *order = engine_fx_str(&fx, "SELECT string_agg(data->>'payload', ',' ORDER BY seq) FROM history_events WHERE type = 'workflow.signaled'", NULL, NULL);
    CHECK_STR(order, "0,1");
    free(order);
    engine_fx_close(&fx);
}

TEST(signal_to_missing_workflow_dead_letters_or_starts)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_signal_missing");
    engine_result r;
    CHECK_INT(signal(&fx, "nobody", "go", "m-1", 1, &r), SY_NOT_FOUND);
    CHECK_STR(r.code, "workflow_not_found");
    /* in a router batch the refusal is a dead letter row plus its notice */
    engine_batch *b = engine_batch_new();
    engine_signal_req req = {.workflow_id = "nobody", .signal = "go", .event_id = "m-2"};
    size_t ev0 = engine_batch_event(b, "m-2");
    engine_batch_signal(b, ev0, &req);
    const char orig[] = "{\"event_id\":\"m-2\"}";
    engine_dead_letter src = {.subject = "events.review", .body = orig, .body_len = sizeof orig - 1,
                              .stream_seq = 7};
    engine_batch_event_source(b, ev0, &src);
    engine_start_req st = {.workflow_type = "waiter", .workflow_id = "sws"};
    engine_signal_req sws = {.workflow_id = "sws", .signal = "go", .event_id = "m-3",
                             .if_missing = RULES_IF_MISSING_START, .start = &st};
    engine_batch_signal(b, engine_batch_event(b, "m-3"), &sws);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx.s, b, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_outcome(b, 0), ENGINE_DEAD_LETTERED);
    CHECK_INT(engine_batch_outcome(b, 1), ENGINE_APPLIED);
    CHECK(engine_batch_result(b, 1)->started);
    engine_batch_free(b);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters WHERE code = 'workflow_not_found' AND event_id = 'm-2'"
                                 " AND subject = 'events.review' AND stream_seq = 7 AND convert_from(body, 'UTF8') = '{\"event_id\":\"m-2\"}'", NULL, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.deadletter.workflow_not_found'", NULL, NULL), 1);
    /* signal-with-start: started, and the signal consumed by the first wait */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events h JOIN runs r USING (run_id) WHERE r.workflow_id = 'sws' AND h.type = 'signal.consumed'", NULL, NULL), 1);
    engine_fx_close(&fx);
}

TEST(sleep_fires_when_due_and_then_emits)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_sleep");
    engine_result r;
    int64_t t0 = sy_clock_now_ms(NULL);
    CHECK_INT(engine_fx_start(&fx, "sleeper", "z", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(fire_timers(&fx, t0 + 1000), 0); /* not due yet */
    CHECK_STR(engine_fx_status(&fx, "z"), "running");
    CHECK_INT(fire_timers(&fx, t0 + 6000), 1);
    CHECK_STR(engine_fx_status(&fx, "z"), "completed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.emit.test.slept' AND body::jsonb->>'type' = 'test.slept'", NULL, NULL), 1);
    CHECK_INT(fire_timers(&fx, t0 + 60000), 0); /* fired once */
    engine_fx_close(&fx);
}

TEST(wait_timeout_fails_or_continues)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_wait_timeout");
    engine_result r;
    int64_t t0 = sy_clock_now_ms(NULL);
    CHECK_INT(engine_fx_start(&fx, "waiter", "strict", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(engine_fx_start(&fx, "lenient", "soft", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(fire_timers(&fx, t0 + 2000), 1); /* lenient's 1 s timeout */
    CHECK_STR(engine_fx_status(&fx, "strict"), "running");
    /* lenient continued past its wait into an if whose branch fails */
    CHECK_STR(engine_fx_status(&fx, "soft"), "failed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id = 'soft' AND error->>'type' = 'nope'", NULL, NULL), 1);
    CHECK_INT(fire_timers(&fx, t0 + 61000), 1);
    CHECK_STR(engine_fx_status(&fx, "strict"), "failed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id = 'strict' AND error->>'type' = 'timeout'", NULL, NULL), 1);
    engine_fx_close(&fx);
}

TEST(task_reports_complete_the_workflow_and_stale_ones_are_ignored)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_reports");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "t", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    char *task = task_of(&fx, "t");
    CHECK_INT(report(&fx, "no-such-task", 1, ENGINE_REPORT_STARTED, true, &r), SY_OK);
    CHECK_STR(r.code, "unknown_task");
    CHECK_INT(report(&fx, task, 2, ENGINE_REPORT_STARTED, true, &r), SY_OK);
    CHECK_STR(r.code, "stale_attempt");
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_STARTED, true, &r), SY_OK);
    CHECK_INT(r.outcome, ENGINE_APPLIED);
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_HEARTBEAT, true, &r), SY_OK);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE heartbeat_at IS NOT NULL AND status = 'started'", NULL, NULL), 1);
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_COMPLETED, true, &r), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "t"), "completed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE result::jsonb = '\"done\"'::jsonb", NULL, NULL), 1);
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_COMPLETED, true, &r), SY_OK);
    CHECK_STR(r.code, "workflow_closed");
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_STALE_REPORTS), 1);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_UNKNOWN_TASKS), 1);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CLOSED_REPORTS), 1);
    free(task);
    engine_fx_close(&fx);
}

TEST(failed_task_retries_with_backoff_until_attempts_run_out)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_retry");
    engine_result r;
    int64_t t0 = sy_clock_now_ms(NULL);
    CHECK_INT(engine_fx_start(&fx, "one", "f", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    char *task = task_of(&fx, "f");
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_FAILED, true, &r), SY_OK);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE status = 'backoff'", NULL, NULL), 1);
    CHECK_INT(fire_timers(&fx, t0 + 500), 0);  /* backoff is 1 s */
    CHECK_INT(fire_timers(&fx, t0 + 1500), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT attempt FROM tasks", NULL, NULL), 2);
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_FAILED, true, &r), SY_OK); /* stale attempt */
    CHECK_STR(r.code, "stale_attempt");
    CHECK_INT(report(&fx, task, 2, ENGINE_REPORT_STARTED, true, &r), SY_OK);
    /* start_to_close 60 s expires: attempt 2 times out, attempt 3 after 2 s */
    CHECK_INT(fire_timers(&fx, t0 + 70000), 1);
    CHECK_INT(fire_timers(&fx, t0 + 80000), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT attempt FROM tasks", NULL, NULL), 3);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'task.timed_out'", NULL, NULL), 1);
    CHECK_INT(report(&fx, task, 3, ENGINE_REPORT_FAILED, true, &r), SY_OK); /* 3 of 3 */
    CHECK_STR(engine_fx_status(&fx, "f"), "failed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.task.created.q1'", NULL, NULL), 3);
    free(task);
    engine_fx_close(&fx);
}

TEST(non_retryable_error_fails_at_once)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_nonretry");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "n", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    char *task = task_of(&fx, "n");
    CHECK_INT(report(&fx, task, 1, ENGINE_REPORT_FAILED, false, &r), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "n"), "failed");
    free(task);
    engine_fx_close(&fx);
}

TEST(human_task_completes_with_any_attempt)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_human");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "human", "h", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE human AND queue = 'human'", NULL, NULL), 1);
    char *task = task_of(&fx, "h");
    CHECK_INT(report(&fx, task, 0, ENGINE_REPORT_COMPLETED, true, &r), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "h"), "completed");
    free(task);
    engine_fx_close(&fx);
}

static sy_status start_with(engine_session *s, const char *type, const char *id, const char *input)
{
    sy_error err = {0};
    cJSON *in = cJSON_Parse(input);
    CHECK(in != NULL);
    CHECK_INT(engine_begin(s, &err), SY_OK);
    engine_start_req req = {.workflow_type = type, .workflow_id = id, .input = in};
    engine_result r;
    sy_status st = engine_start(s, &req, &r, &err);
    cJSON_Delete(in);
    CHECK_MSG(st == SY_OK, "start %s: %s", id, err.message);
    CHECK_INT(engine_commit(s, &err), SY_OK);
    return st;
}

/* One member of the payload (or the envelope, when member is NULL) of the
 * outbox message on 'subject' from workflow 'wid', as text (owned). */
static char *outbox_field(engine_fx *fx, const char *subject, const char *wid, const char *env_key,
                          const char *member)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(body::jsonb%s->>'%s', '<null>') FROM outbox_messages"
             " WHERE subject = $1 AND body::jsonb->>'subject' = $2",
             member ? "->'payload'" : "", member ? member : env_key);
    return engine_fx_str(fx, sql, subject, wid);
}

/* A human task's assignee is a template (docs/workflow-definition.md):
 * rendered, never copied as "{{ ... }}"; a number renders as its text. */
TEST(human_task_assignee_is_rendered)
{
    engine_fx fx;
    memset(&fx, 0, sizeof fx);
    fx.conninfo = fixture_pg_fresh_db("eng_flow_assignee");
    cJSON *defs = cJSON_Parse("{\"review\":{\"type\":\"review\",\"task_queue\":\"qr\",\"steps\":["
                              "{\"kind\":\"human\",\"name\":\"review\",\"task\":\"review\","
                              "\"input\":{},\"deadline_ms\":0,"
                              "\"assignee\":\"{{ input.owner | default('auditors') }}\"}]},"
                              "\"bad\":{\"type\":\"bad\",\"task_queue\":\"qr\",\"steps\":["
                              "{\"kind\":\"human\",\"name\":\"review\",\"task\":\"review\","
                              "\"input\":{},\"deadline_ms\":0,"
                              "\"assignee\":\"{{ input }}\"}]}}");
    engine_opts o = {.workflows = defs};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx.eng, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_MSG(engine_session_open(fx.eng, fx.conninfo, true, &fx.s, &err) == SY_OK, "%s",
              err.message);
    start_with(fx.s, "review", "r-ops", "{\"owner\":\"ops\"}");
    start_with(fx.s, "review", "r-none", "{}");
    start_with(fx.s, "review", "r-num", "{\"owner\":7}");
    const char *want[][2] = {{"r-ops", "ops"}, {"r-none", "auditors"}, {"r-num", "7"}};
    for (size_t i = 0; i < 3; i++) {
        char *a = outbox_field(&fx, "sy.task.created.human", want[i][0], NULL, "assignee");
        CHECK_STR(a, want[i][1]);
        free(a);
    }
    /* the rendered value is what the history recorded (a replay never renders) */
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM history_events WHERE type = 'task.scheduled' AND "
                            "data->>'assignee' = 'ops'",
                            NULL, NULL),
              1);
    /* an assignee that renders to an object fails the run, it is not copied */
    start_with(fx.s, "bad", "r-bad", "{\"owner\":\"x\"}");
    CHECK_STR(engine_fx_status(&fx, "r-bad"), "failed");
    CHECK_INT(
        engine_fx_int(&fx,
                      "SELECT count(*) FROM runs WHERE workflow_id = 'r-bad' AND error->>'type' = "
                      "'template_error' AND error->>'message' LIKE '%field assignee%'",
                      NULL, NULL),
        1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM outbox_messages WHERE subject = "
                            "'sy.task.created.human' AND body LIKE '%{{%'",
                            NULL, NULL),
              0);
    engine_fx_close(&fx);
}

/* An emit step's subject is the envelope's subject (a number renders as its
 * text, null is the workflow ID), its nats_subject where it is published
 * (null: sy.emit.<type>), and its schema_version the envelope's. */
TEST(emit_renders_envelope_subject_and_nats_subject_apart)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_emit_subject");
    start_with(fx.s, "emitter", "e1", "{\"n\":42}");
    CHECK_STR(engine_fx_status(&fx, "e1"), "completed");
    CHECK_INT(
        engine_fx_int(
            &fx,
            "SELECT count(*) FROM outbox_messages WHERE subject = 'events.counted.42'"
            " AND body::jsonb->>'type' = 'test.counted' AND body::jsonb->>'subject' = '42'"
            " AND body::jsonb->>'schema_version' = '2' AND body::jsonb->'payload'->>'n' = '42'",
            NULL, NULL),
        1);
    /* no subject, no nats_subject: the workflow ID and sy.emit.<type> */
    int64_t t0 = sy_clock_now_ms(NULL);
    engine_result r;
    CHECK_INT(
        engine_fx_start(&fx, "sleeper", "z", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
        SY_OK);
    CHECK_INT(fire_timers(&fx, t0 + 6000), 1);
    char *about = outbox_field(&fx, "sy.emit.test.slept", "z", "schema_version", NULL);
    CHECK_STR(about, "1");
    free(about);
    engine_fx_close(&fx);
}

/* An emit's rendered nats_subject goes to the outbox whole, however long:
 * it was cut at 599 bytes, so the event went to a subject nobody named (the
 * relay refuses one over RULES_SUBJECT_MAX as its dead letter:
 * engine_relay an_overlong_subject_is_a_dead_letter). */
TEST(an_emit_subject_is_never_truncated)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_emit_long");
    char input[1200];
    snprintf(input, sizeof input, "{\"n\":\"%0*d\"}", 1100, 7);
    start_with(fx.s, "emitter", "long", input);
    CHECK_STR(engine_fx_status(&fx, "long"), "completed");
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM outbox_messages WHERE subject = "
                            "'events.counted.' || lpad('7', 1100, '0')",
                            NULL, NULL),
              1);
    engine_fx_close(&fx);
}

TEST(cancel_is_cooperative_and_terminate_immediate)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_cancel");
    engine_result r;
    sy_error err = {0};
    CHECK_INT(engine_fx_start(&fx, "one", "c", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(engine_fx_start(&fx, "one", "t", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_cancel(fx.s, "c", "user asked", &r, &err), SY_OK);
    CHECK_INT(engine_terminate(fx.s, "t", "operator", &r, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "c"), "canceled");
    CHECK_STR(engine_fx_status(&fx, "t"), "terminated");
    /* cancel: the pending task got a task.canceled event (and outcome);
     * terminate: no task events, the task row is just closed */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events h JOIN runs r USING (run_id) WHERE r.workflow_id = 'c' AND h.type = 'task.canceled'", NULL, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events h JOIN runs r USING (run_id) WHERE r.workflow_id = 't' AND h.type = 'task.canceled'", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.task.canceled.q1'", NULL, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.workflow.canceled.one'", NULL, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.workflow.terminated.one'", NULL, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE status = 'canceled'", NULL, NULL), 2);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_cancel(fx.s, "t", NULL, &r, &err), SY_CONFLICT);
    engine_rollback(fx.s);
    engine_fx_close(&fx);
}

TEST(running_workflow_keeps_its_definition_after_rules_change)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_defs");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "v", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    /* new rules: "one" now has a wait after its task */
    cJSON *defs = cJSON_Parse(
        "{\"one\":{\"type\":\"one\",\"task_queue\":\"q1\",\"steps\":["
        "{\"kind\":\"task\",\"name\":\"work\",\"task\":\"work\",\"queue\":\"q1\",\"input\":{}},"
        "{\"kind\":\"wait\",\"name\":\"more\",\"signal\":\"more\",\"timeout_ms\":0}]}}");
    engine_opts o = {.workflows = defs};
    engine *eng2 = NULL;
    engine_session *s2 = NULL;
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &eng2, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(eng2, fx.conninfo, false, &s2, &err), SY_OK);
    char *task = task_of(&fx, "v");
    engine_report rep = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_COMPLETED};
    CHECK_INT(engine_begin(s2, &err), SY_OK);
    CHECK_MSG(engine_task_report(s2, &rep, &r, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(s2, &err), SY_OK);
    /* the old definition (one step) was used: completed, no wait */
    CHECK_STR(engine_fx_status(&fx, "v"), "completed");
    /* a new start uses the new definition */
    CHECK_INT(engine_begin(s2, &err), SY_OK);
    engine_start_req req = {.workflow_type = "one", .workflow_id = "v2"};
    CHECK_INT(engine_start(s2, &req, &r, &err), SY_OK);
    CHECK_INT(engine_commit(s2, &err), SY_OK);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(DISTINCT def_hash) FROM runs", NULL, NULL), 2);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM definitions", NULL, NULL), 2);
    free(task);
    engine_session_close(s2);
    engine_free(eng2);
    engine_fx_close(&fx);
}

typedef struct sig_thread {
    engine *eng;
    const char *conninfo;
    int from;
    sy_status st;
    sy_error err;
} sig_thread;

static void *signal_many(void *arg)
{
    sig_thread *t = arg;
    engine_session *s = NULL;
    t->st = engine_session_open(t->eng, t->conninfo, false, &s, &t->err);
    engine_batch *b = engine_batch_new();
    for (int round = 0; t->st == SY_OK && round < 20; round++) {
        engine_batch_reset(b);
        for (int k = 0; k < 10; k++) {
            char eid[32], wid[16];
            snprintf(eid, sizeof eid, "c-%d-%d-%d", t->from, round, k);
            snprintf(wid, sizeof wid, "cw-%d", k % 3);
            engine_signal_req req = {.workflow_id = wid, .signal = "poke", .event_id = eid};
            engine_batch_signal(b, engine_batch_event(b, eid), &req);
        }
        t->st = engine_begin(s, &t->err);
        if (t->st == SY_OK)
            t->st = engine_batch_apply(s, b, &t->err);
        if (t->st == SY_OK)
            t->st = engine_commit(s, &t->err);
        else
            engine_rollback(s);
    }
    engine_batch_free(b);
    engine_session_close(s);
    return NULL;
}

TEST(concurrent_sessions_signaling_the_same_workflows_serialise)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_flow_concurrent");
    engine_result r;
    for (int i = 0; i < 3; i++) {
        char wid[16];
        snprintf(wid, sizeof wid, "cw-%d", i);
        CHECK_INT(engine_fx_start(&fx, "waiter", wid, RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    }
    sig_thread t[2] = {{.eng = fx.eng, .conninfo = fx.conninfo, .from = 0},
                       {.eng = fx.eng, .conninfo = fx.conninfo, .from = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, signal_many, &t[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(t[i].st == SY_OK, "session %d: %s", i, t[i].err.message);
    }
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'workflow.signaled'", NULL, NULL), 400);
    /* seqs are dense per run: no gaps, no duplicates */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs r WHERE r.next_seq - 1 <> (SELECT max(seq) FROM history_events h WHERE h.run_id = r.run_id)", NULL, NULL), 0);
    engine_fx_close(&fx);
}
