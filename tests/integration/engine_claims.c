/* The claim check, the hold of task.started and the linger of reports (engine/reports_run.c,
 * engine/claims.c, docs/worker-protocol.md): a claim is answered from a
 * read of the committed state, without waiting for a write; the
 * task.started it answered "run" is held, and recorded together with its
 * task's next report, or alone when the hold ends; a final report that
 * says it was started records the start it overtook. Real engine, real
 * nats-server, reports sent by hand (worker_engine.h). */
#include "reports_int.h"
#include "worker_engine.h"

static const char DEFS[] =
    "{\"one\":{\"type\":\"one\",\"task_queue\":\"q1\",\"steps\":[{\"kind\":\"task\","
    "\"name\":\"run\",\"task\":\"run\",\"queue\":\"q1\",\"input\":{},\"retry\":"
    "{\"initial_interval_ms\":100,\"backoff\":1.0,\"maximum_interval_ms\":100,"
    "\"maximum_attempts\":3,\"non_retryable\":[]},\"timeouts\":{\"schedule_to_start_ms\":0,"
    "\"start_to_close_ms\":60000,\"schedule_to_close_ms\":0,\"heartbeat_ms\":0},"
    "\"continue_on_failure\":false}]}}";

/* reply_to: the claim check's inbox; started_at: the final report's
 * ENGINE_STARTED_HEADER (NULL: none). */
static void publish_with(we_fx *fx, const char *body, const char *reply_to, const char *started_at)
{
    char subj[128];
    snprintf(subj, sizeof subj, "%s.report.q1", fx->wk.prefix);
    natsMsg *m = NULL;
    CHECK_INT(natsMsg_Create(&m, subj, NULL, body, (int)strlen(body)), NATS_OK);
    if (reply_to)
        CHECK_INT(natsMsgHeader_Set(m, ENGINE_REPLY_HEADER, reply_to), NATS_OK);
    if (started_at)
        CHECK_INT(natsMsgHeader_Set(m, ENGINE_STARTED_HEADER, started_at), NATS_OK);
    jsPubAck *pa = NULL;
    CHECK_INT(js_PublishMsg(&pa, fx->wk.js, m, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

static void publish(we_fx *fx, const char *body, const char *reply_to)
{
    publish_with(fx, body, reply_to, NULL);
}

/* Publishes task.completed of attempt 1 with this result (a JSON number). */
static void complete(we_fx *fx, const char *task_id, int result, const char *started_at)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"task.completed\",\"task_id\":\"%s\",\"attempt\":1,\"result\":%d}",
             task_id, result);
    publish_with(fx, body, NULL, started_at);
}

/* Publishes task.started asking the engine; returns its verdict and
 * reason as "verdict/reason" in out. */
static void ask(we_fx *fx, const char *task_id, int attempt, char *out, size_t cap)
{
    char inbox[128], body[512];
    snprintf(inbox, sizeof inbox, "_INBOX.claims.%s.%d", fx->wk.prefix, attempt);
    natsSubscription *sub = NULL;
    CHECK_INT(natsConnection_SubscribeSync(&sub, fx->wk.nc, inbox), NATS_OK);
    CHECK_INT(natsConnection_Flush(fx->wk.nc), NATS_OK);
    snprintf(body, sizeof body, "{\"type\":\"task.started\",\"task_id\":\"%s\",\"attempt\":%d}",
             task_id, attempt);
    publish(fx, body, inbox);
    natsMsg *m = NULL;
    CHECK_INT(natsSubscription_NextMsg(&m, sub, 10000), NATS_OK);
    cJSON *j = cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    snprintf(out, cap, "%s/%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "verdict")),
             cJSON_GetStringValue(cJSON_GetObjectItem(j, "reason")));
    cJSON_Delete(j);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
}

static char *task_of(we_fx *fx, const char *wid)
{
    char *t = we_query(fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", wid, NULL);
    CHECK(t != NULL);
    return t;
}

static char *task_status(we_fx *fx, const char *wid)
{
    return we_query(fx, "SELECT status FROM tasks WHERE workflow_id = $1", wid, NULL);
}

/* The history's event types in order, comma-joined (owned). */
static char *history_types(we_fx *fx, const char *wid)
{
    return we_query(fx,
                    "SELECT string_agg(h.type, ',' ORDER BY h.seq) FROM history_events h JOIN runs"
                    " r USING (run_id) WHERE r.workflow_id = $1",
                    wid, NULL);
}

/* The run's history has its task scheduled, started, then completed. */
static void check_started_then_completed(we_fx *fx, const char *wid)
{
    char *types = history_types(fx, wid);
    CHECK_MSG(types && strstr(types, "task.scheduled,task.started,task.completed"), "history: %s",
              types ? types : "(none)");
    free(types);
}

TEST(a_claim_is_answered_before_its_start_is_written_and_goes_with_the_completion)
{
    we_fx fx;
    we_open_reports(&fx, "cl_with", DEFS, 60000, 0); /* no hold ends during the test */
    we_start(&fx, "one", "wf-with", NULL);
    char *task_id = task_of(&fx, "wf-with"), v[128];
    ask(&fx, task_id, 1, v, sizeof v);
    CHECK_STR(v, "run/");
    /* answered from the read: nothing is written until a report follows */
    usleep(300 * 1000);
    char *st = task_status(&fx, "wf-with");
    CHECK_STR(st, "scheduled");
    free(st);
    complete(&fx, task_id, 7, NULL); /* no Sy-Started-At: the held start records it */
    CHECK_STR(we_wait_closed(&fx, "wf-with", 10000), "completed");
    check_started_then_completed(&fx, "wf-with");
    engine_reports_stats rs = engine_reports_get_stats(fx.rep);
    CHECK_INT(rs.applied, 2);
    CHECK_INT(rs.ignored, 0);
    free(task_id);
    we_close(&fx);
}

TEST(a_held_start_is_recorded_alone_when_its_hold_ends)
{
    we_fx fx;
    we_open_reports(&fx, "cl_alone", DEFS, 300, 0);
    we_start(&fx, "one", "wf-alone", NULL);
    char *task_id = task_of(&fx, "wf-alone"), v[128];
    ask(&fx, task_id, 1, v, sizeof v);
    CHECK_STR(v, "run/");
    CHECK_MSG(we_wait_task(&fx, "wf-alone", "started", 5000), "the held start was never recorded");
    CHECK_INT(we_history_count(&fx, "wf-alone", "task.started"), 1);
    CHECK(we_count(&fx,
                   "SELECT count(*) FROM tasks WHERE workflow_id = $1 AND started_at IS NOT NULL",
                   "wf-alone", NULL) == 1);
    /* a second delivery's claim: already started, and nothing more written */
    ask(&fx, task_id, 1, v, sizeof v);
    CHECK_STR(v, "run/already_started");
    usleep(500 * 1000);
    CHECK_INT(we_history_count(&fx, "wf-alone", "task.started"), 1);
    free(task_id);
    we_close(&fx);
}

TEST(a_final_report_that_says_it_started_records_the_start_it_overtook)
{
    we_fx fx;
    we_open(&fx, "cl_overtook", DEFS);
    we_start(&fx, "one", "wf-over", NULL);
    we_start(&fx, "one", "wf-bad", NULL);
    char *task_id = task_of(&fx, "wf-over"), *bad_id = task_of(&fx, "wf-bad");
    /* their task.started is held by another consumer, or still on its way */
    complete(&fx, bad_id, 1, "not a time"); /* malformed: as if absent */
    CHECK_STR(we_wait_closed(&fx, "wf-bad", 10000), "completed");
    char *bad = history_types(&fx, "wf-bad");
    CHECK_MSG(bad && !strstr(bad, "task.started"), "history: %s", bad ? bad : "(none)");
    free(bad);
    complete(&fx, task_id, 1, "2026-12-04T21:00:00.000Z");
    CHECK_STR(we_wait_closed(&fx, "wf-over", 10000), "completed");
    check_started_then_completed(&fx, "wf-over");
    /* the overtaken task.started, when it comes: the task is closed */
    char v[128];
    ask(&fx, task_id, 1, v, sizeof v);
    CHECK_STR(v, "closed/workflow_closed");
    CHECK_INT(we_history_count(&fx, "wf-over", "task.started"), 1);
    free(task_id);
    free(bad_id);
    we_close(&fx);
}

TEST(claims_the_read_refuses_are_answered_and_change_nothing)
{
    we_fx fx;
    we_open(&fx, "cl_refused", DEFS);
    we_start(&fx, "one", "wf-ref", NULL);
    char *task_id = task_of(&fx, "wf-ref"), v[128];
    ask(&fx, task_id, 2, v, sizeof v);
    CHECK_STR(v, "stale/stale_attempt");
    ask(&fx, "no-such-task:run", 1, v, sizeof v);
    CHECK_STR(v, "unknown/unknown_task");
    char *st = task_status(&fx, "wf-ref");
    CHECK_STR(st, "scheduled");
    free(st);
    sy_error err;
    sy_error_clear(&err);
    engine_result res;
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_terminate(fx.s, "wf-ref", "test", &res, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    ask(&fx, task_id, 1, v, sizeof v);
    CHECK_STR(v, "closed/workflow_closed");
    engine_reports_stats rs = engine_reports_get_stats(fx.rep);
    CHECK_INT(rs.applied, 0);
    CHECK_INT(rs.ignored, 3);
    CHECK_INT(we_history_count(&fx, "wf-ref", "task.started"), 0);
    free(task_id);
    we_close(&fx);
}

/* Reports fetched within the linger go in one transaction: the runs they
 * close share the batch's clock; and none is applied before it ends. */
TEST(reports_within_the_linger_are_applied_in_one_transaction)
{
    we_fx fx;
    we_open_reports(&fx, "cl_linger", DEFS, 0, 1500);
    we_start(&fx, "one", "wf-l1", NULL);
    we_start(&fx, "one", "wf-l2", NULL);
    char *t1 = task_of(&fx, "wf-l1"), *t2 = task_of(&fx, "wf-l2");
    complete(&fx, t1, 1, NULL);
    usleep(200 * 1000);
    complete(&fx, t2, 2, NULL);
    usleep(200 * 1000); /* 400 ms after the first: still lingering */
    char *st = task_status(&fx, "wf-l1");
    CHECK_STR(st, "scheduled");
    free(st);
    CHECK_STR(we_wait_closed(&fx, "wf-l1", 10000), "completed");
    CHECK_STR(we_wait_closed(&fx, "wf-l2", 10000), "completed");
    CHECK_INT(we_count(&fx,
                       "SELECT count(DISTINCT closed_at) FROM runs WHERE workflow_id IN ($1, $2)",
                       "wf-l1", "wf-l2"),
              1);
    free(t1);
    free(t2);
    we_close(&fx);
}

/* A consumer that stops hands back what it held and what lingered (NAK, not
 * the 30 s ack wait): another consumer applies both at once. */
TEST(what_a_stopping_consumer_holds_goes_back_at_once)
{
    we_fx fx;
    we_open_still(&fx, "cl_stop", DEFS, 60000, 60000);
    we_start(&fx, "one", "wf-s1", NULL);
    we_start(&fx, "one", "wf-s2", NULL);
    char *t1 = task_of(&fx, "wf-s1"), *t2 = task_of(&fx, "wf-s2"), body[512];
    snprintf(body, sizeof body, "{\"type\":\"task.started\",\"task_id\":\"%s\",\"attempt\":1}", t1);
    publish(&fx, body, NULL);
    complete(&fx, t2, 1, NULL);
    sy_error err;
    for (int i = 0; i < 100 && fx.rep->hold.n + fx.rep->npend < 2; i++) {
        size_t n = 0;
        CHECK_INT(engine_reports_run_once(fx.rep, &n, &err), SY_OK);
    }
    CHECK_INT(fx.rep->hold.n, 1);
    CHECK_INT(fx.rep->npend, 1);
    engine_reports_free(fx.rep);
    engine_reports_opts ro = {.conninfo = fx.conninfo,
                              .nats_url = fixture_nats_url(),
                              .prefix = fx.wk.prefix,
                              .fetch_timeout_ms = 100,
                              .hold_started_ms = -1,
                              .linger_ms = -1};
    CHECK_INT(engine_reports_new(fx.eng, &ro, &fx.rep, &err), SY_OK);
    int64_t t0 = sy_clock_now_ms(NULL);
    while (engine_reports_get_stats(fx.rep).applied < 2 && sy_clock_now_ms(NULL) - t0 < 10000) {
        size_t n = 0;
        if (engine_reports_run_once(fx.rep, &n, &err) != SY_OK)
            usleep(50 * 1000);
    }
    CHECK_INT(engine_reports_get_stats(fx.rep).applied, 2);
    char *st = task_status(&fx, "wf-s1");
    CHECK_STR(st, "started");
    free(st);
    CHECK_STR(we_wait_closed(&fx, "wf-s2", 1000), "completed");
    free(t1);
    free(t2);
    we_close(&fx);
}
