/* engine_dispatch.c: a task queue's dispatch limit (max_in_flight on a
 * task step, docs/flow-control.md "Task dispatch") against real Postgres:
 * tasks beyond the limit stay pending, and each finish (completed, failed,
 * canceled) releases the next, highest priority first, then arrival; a
 * task canceled while it waits is never dispatched; describe and the
 * queue backlog show a held task's place; two sessions creating and finishing tasks of one
 * queue at once never have more than the limit in flight and release each
 * task once. */
#include "flow_support.h"

static const char RULES[] = "routes:\n"
                            "  - name: d\n"
                            "    match: { type: job.d }\n"
                            "    start: { workflow: wd, id: \"{{ event_id }}\", input: { p: \"{{ "
                            "payload.p | default(0) }}\" } }\n"
                            "  - name: f\n"
                            "    match: { type: job.f }\n"
                            "    start: { workflow: wf, id: \"{{ event_id }}\" }\n"
                            "workflows:\n"
                            "  wd:\n"
                            "    task_queue: dq\n"
                            "    priority: \"{{ input.p }}\"\n"
                            "    steps:\n"
                            "      - task: t\n"
                            "        max_in_flight: LIMIT\n"
                            "        retry: { maximum_attempts: 1 }\n"
                            "  wf:\n"
                            "    task_queue: free\n"
                            "    steps:\n"
                            "      - task: t\n";

/* RULES with its limit. */
static const char *rules_with(int limit)
{
    static char out[sizeof RULES + 16];
    const char *at = strstr(RULES, "LIMIT");
    snprintf(out, sizeof out, "%.*s%d%s", (int)(at - RULES), RULES, limit, at + 5);
    return out;
}

static void start(flow_fx *fx, const char *id, int p)
{
    char payload[32];
    snprintf(payload, sizeof payload, "{\"p\":%d}", p);
    engine_batch *b = engine_batch_new();
    flow_add_event(b, fx->rules, id, "job.d", NULL, payload);
    CHECK_INT(flow_apply_at(fx->s, b, sy_clock_now_ms(NULL)), SY_OK);
    engine_batch_free(b);
}

/* The workflow IDs of the task.created messages in the outbox, in publish order. */
static char *dispatched(flow_fx *fx)
{
    static char out[1024];
    PGresult *r = PQexec(engine__conn(fx->s),
                         "SELECT coalesce(string_agg(body::json->'payload'->>'workflow_id', ','"
                         " ORDER BY page_id, n), '') FROM outbox_messages WHERE subject LIKE"
                         " '%.task.created.dq'");
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    snprintf(out, sizeof out, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static char *task_of(flow_fx *fx, const char *wid)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT task_id FROM tasks WHERE workflow_id = '%s'", wid);
    return flow_str(fx->s, sql);
}

static void report(flow_fx *fx, const char *wid, engine_report_kind kind)
{
    char *task = task_of(fx, wid);
    engine_report r = {
        .task_id = task, .attempt = 1, .kind = kind, .error_type = "boom", .error_message = "boom"};
    engine_result res;
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_task_report(fx->s, &r, &res, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    free(task);
}

static void cancel(flow_fx *fx, const char *wid)
{
    engine_result res;
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_cancel(fx->s, wid, "test", &res, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
}

TEST(a_finish_releases_the_highest_priority_pending_task_then_the_oldest)
{
    flow_fx fx;
    flow_fx_open(&fx, "dispatch_order", rules_with(1));
    start(&fx, "d0", 0);
    CHECK_STR(dispatched(&fx), "d0");
    start(&fx, "d1", 1); /* created while d0 runs: held */
    start(&fx, "d2", 5);
    start(&fx, "d3", 3);
    start(&fx, "d4", 3); /* same priority as d3: after it */
    CHECK_STR(dispatched(&fx), "d0");
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dispatch_pending"), 4);
    /* describe and the backlog say where a held task is */
    char *d = flow_describe(fx.s, "d3");
    CHECK_MSG(strstr(d, "\"dispatch\":{\"outcome\":\"queued\",\"priority\":3,\"position\":2,"),
              "%s", d);
    CHECK_MSG(strstr(d, "\"limit\":1,\"in_flight\":1}"), "%s", d);
    free(d);
    d = flow_describe(fx.s, "d0");
    CHECK_MSG(strstr(d, "\"dispatch\":{\"outcome\":\"dispatched\",\"priority\":0,"), "%s", d);
    free(d);
    engine_queue_backlog q[4];
    size_t nq = 0;
    sy_error err = {0};
    CHECK_INT(engine_task_queue_backlog(fx.s, sy_clock_now_ms(NULL), q, 4, &nq, &err), SY_OK);
    CHECK_INT(nq, 1);
    CHECK_STR(q[0].queue, "dq");
    CHECK_INT(q[0].tasks, 5);
    CHECK_INT(q[0].held, 4);
    report(&fx, "d0", ENGINE_REPORT_STARTED);
    CHECK_STR(dispatched(&fx), "d0"); /* started is still in flight */
    report(&fx, "d0", ENGINE_REPORT_COMPLETED);
    CHECK_STR(dispatched(&fx), "d0,d2");
    report(&fx, "d2", ENGINE_REPORT_FAILED); /* no retry left: the run fails */
    CHECK_STR(dispatched(&fx), "d0,d2,d3");
    cancel(&fx, "d4"); /* waiting: dropped, never dispatched */
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dispatch_pending"), 1);
    cancel(&fx, "d3"); /* in flight: its cancel frees the place */
    CHECK_STR(dispatched(&fx), "d0,d2,d3,d1");
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dispatch_pending"), 0);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dispatch_in_flight"), 1);
    /* a queue without a limit is not held */
    engine_batch *b = engine_batch_new();
    flow_add_event(b, fx.rules, "f1", "job.f", NULL, "{}");
    flow_add_event(b, fx.rules, "f2", "job.f", NULL, "{}");
    CHECK_INT(flow_apply_at(fx.s, b, sy_clock_now_ms(NULL)), SY_OK);
    engine_batch_free(b);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM outbox_messages WHERE subject LIKE"
                               " '%.task.created.free'"),
              2);
    flow_fx_close(&fx);
}

/* ---- two sessions ---------------------------------------------------------- */

/* Creates 30 tasks of queue dq (limit 2) in batches of 3 and completes one
 * of the tasks in flight now and then, as a serve process and a worker
 * would. */
static void session_main(flow_racer *w, engine_session *s)
{
    sy_error err = {0};
    for (int round = 0; round < 10; round++) {
        engine_batch *b = engine_batch_new();
        for (int j = 0; j < 3; j++) {
            char id[32], payload[32];
            snprintf(id, sizeof id, "s%d-%d-%d", w->which, round, j);
            snprintf(payload, sizeof payload, "{\"p\":%d}", (round * 3 + j) % 7);
            flow_add_event(b, w->rules, id, "job.d", NULL, payload);
        }
        CHECK_INT(flow_apply_at(s, b, sy_clock_now_ms(NULL)), SY_OK);
        engine_batch_free(b);
        PGresult *r = PQexec(engine__conn(s), "SELECT task_id FROM dispatch_in_flight ORDER BY"
                                              " random() LIMIT 1");
        char task[128] = "";
        if (PQntuples(r))
            snprintf(task, sizeof task, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        engine_report rep = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_COMPLETED};
        engine_result res;
        if (task[0] && engine_begin(s, &err) == SY_OK) {
            if (engine_task_report(s, &rep, &res, &err) != SY_OK || engine_commit(s, &err) != SY_OK)
                engine_rollback(s);
        }
    }
}

/* Records, in every transaction that releases a task, how many tasks of
 * the queue are in flight then, itself included: that transaction holds
 * the queue's lock, so it sees every other release committed. */
#define DISPATCH_OVERLAP_TRIGGER                                                                   \
    "CREATE TABLE overlap (n bigint);"                                                             \
    " CREATE FUNCTION record_overlap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"               \
    " INSERT INTO overlap SELECT count(*) FROM dispatch_in_flight i JOIN tasks t ON"               \
    " t.task_id = i.task_id AND t.attempt = i.attempt AND t.status IN ('scheduled', 'started')"    \
    " WHERE i.queue = NEW.queue; RETURN NULL; END $$;"                                             \
    " CREATE TRIGGER record_overlap AFTER INSERT ON dispatch_in_flight FOR EACH ROW EXECUTE"       \
    " FUNCTION record_overlap()"

TEST(two_sessions_never_have_more_than_the_limit_in_flight_and_release_each_task_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "dispatch_two_sessions", rules_with(2));
    PGresult *r = PQexec(engine__conn(fx.s), DISPATCH_OVERLAP_TRIGGER);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    flow_race_two(&fx, session_main, 0);
    CHECK_INT(flow_count(fx.s, "SELECT max(n) FROM overlap"), 2);
    CHECK_INT(flow_count(fx.s,
                         "SELECT count(*) FROM tasks WHERE status IN ('scheduled',"
                         " 'started') AND task_id IN (SELECT task_id FROM dispatch_in_flight)"),
              2);
    /* every task is dispatched once or still pending: none lost, none twice */
    long long sent = flow_count(fx.s, "SELECT count(*) FROM outbox_messages WHERE subject LIKE"
                                      " '%.task.created.dq'");
    CHECK_INT(flow_count(fx.s, "SELECT count(DISTINCT event_id) FROM outbox_messages WHERE"
                               " subject LIKE '%.task.created.dq'"),
              sent);
    CHECK_INT(sent + flow_count(fx.s, "SELECT count(*) FROM dispatch_pending"), 60);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM tasks"), 60);
    flow_fx_close(&fx);
}
