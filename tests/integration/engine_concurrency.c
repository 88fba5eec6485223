/* engine_concurrency.c: a workflow's concurrency limit and priority
 * against real Postgres (docs/flow-control.md, "Concurrency"): starts
 * beyond the limit wait and start, by priority then arrival, when a run of
 * their key closes; cancel_newest drops them, cancel_in_progress cancels
 * the oldest run and replaces older waiting starts; round_robin hands a
 * shared limit to the keys in turn; a bad key dead-letters the event;
 * describe shows a waiting start; two sessions starting and closing runs
 * of one key at once never exceed its limit. */
#include "flow_support.h"

#include <pthread.h>

static const char RULES[] =
    "routes:\n"
    "  - name: q\n"
    "    match: { type: job.q }\n"
    "    start: { workflow: wq, id: \"q-{{ event_id }}\", input: { c: \"{{ payload.c }}\","
    " p: \"{{ payload.p | default(0) }}\" } }\n"
    "  - name: n\n"
    "    match: { type: job.n }\n"
    "    start: { workflow: wn, id: \"n-{{ event_id }}\", input: { c: \"{{ payload.c }}\" } }\n"
    "  - name: i\n"
    "    match: { type: job.i }\n"
    "    start: { workflow: wi, id: \"i-{{ event_id }}\", input: { c: \"{{ payload.c }}\" } }\n"
    "  - name: r\n"
    "    match: { type: job.r }\n"
    "    start: { workflow: wr, id: \"r-{{ event_id }}\", input: { c: \"{{ payload.c }}\" } }\n"
    "  - name: s\n"
    "    match: { type: job.s }\n"
    "    signal: { id: \"q-{{ payload.id }}\", name: go, payload: { n: \"{{ payload.n }}\" },"
    " if_missing: start, start: { workflow: wq, input: { c: \"{{ payload.c }}\" } } }\n"
    "  - name: si\n"
    "    match: { type: job.si }\n"
    "    signal: { id: \"i-{{ payload.id }}\", name: go, if_missing: start,"
    " start: { workflow: wi, input: { c: \"{{ payload.c }}\" } } }\n"
    "workflows:\n"
    "  wq:\n"
    "    concurrency: { key: \"{{ input.c }}\", limit: 2 }\n"
    "    priority: \"{{ input.p }}\"\n"
    "    steps:\n"
    "      - task: t\n"
    "  wn:\n"
    "    concurrency: { key: \"{{ input.c }}\", limit: 1, strategy: cancel_newest }\n"
    "    steps:\n"
    "      - task: t\n"
    "  wi:\n"
    "    concurrency: { key: \"{{ input.c }}\", limit: 1, strategy: cancel_in_progress }\n"
    "    steps:\n"
    "      - task: t\n"
    "  wr:\n"
    "    concurrency: { key: \"{{ input.c }}\", limit: 2, strategy: round_robin }\n"
    "    steps:\n"
    "      - task: t\n";

static long long running(flow_fx *fx, const char *type, const char *c)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM runs WHERE status = 'running' AND workflow_type = '%s'"
             " AND ('%s' = '' OR input->>'c' = '%s')",
             type, c, c);
    return flow_count(fx->s, sql);
}

static const char *status(flow_fx *fx, const char *wid)
{
    static char out[32];
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE workflow_id = '%s'", wid);
    PGresult *r = PQexec(engine__conn(fx->s), sql);
    snprintf(out, sizeof out, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "none");
    PQclear(r);
    return out;
}

static void add(engine_batch *b, flow_fx *fx, const char *id, const char *type, const char *payload)
{
    flow_add_event(b, fx->rules, id, type, NULL, payload);
}

static void one(flow_fx *fx, const char *id, const char *type, const char *payload)
{
    engine_batch *b = engine_batch_new();
    add(b, fx, id, type, payload);
    CHECK_INT(flow_apply_at(fx->s, b, FLOW_T0), SY_OK);
    engine_batch_free(b);
}

static void finish(flow_fx *fx, const char *wid)
{
    engine_result r;
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_terminate(fx->s, wid, "done", &r, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
}

static size_t timers(flow_fx *fx)
{
    return flow_fire(fx->s, FLOW_T0 + 1000, 64);
}

static char *describe(flow_fx *fx, const char *wid)
{
    return flow_describe(fx->s, wid);
}

TEST(starts_beyond_the_limit_wait_and_start_by_priority_when_a_run_closes)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_queue", RULES);
    engine_batch *b = engine_batch_new();
    add(b, &fx, "a1", "job.q", "{\"c\":\"acme\"}");
    add(b, &fx, "a2", "job.q", "{\"c\":\"acme\"}");
    add(b, &fx, "a3", "job.q", "{\"c\":\"acme\"}");
    add(b, &fx, "a4", "job.q", "{\"c\":\"acme\",\"p\":5}");
    add(b, &fx, "b1", "job.q", "{\"c\":\"bolt\"}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_INT(engine_batch_conc_outcome(b, 0), ENGINE_CONC_PASSED);
    CHECK_INT(engine_batch_conc_outcome(b, 2), ENGINE_CONC_QUEUED);
    CHECK_STR(engine_batch_result(b, 2)->code, "concurrency_queued");
    CHECK_MSG(strstr(engine_batch_result(b, 2)->message,
                     "concurrency key \"acme\" of wq is at its limit of 2 (2 running)"),
              "%s", engine_batch_result(b, 2)->message);
    CHECK_INT(engine_batch_conc_outcome(b, 4), ENGINE_CONC_PASSED); /* another key */
    engine_batch_free(b);
    CHECK_INT(running(&fx, "wq", "acme"), 2);
    CHECK_INT(running(&fx, "wq", "bolt"), 1);
    CHECK_STR(status(&fx, "q-a3"), "none");
    /* a waiting start is described, with its place in line: a4 (priority
     * 5) goes before a3 */
    char *d = describe(&fx, "q-a3");
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"outcome\":\"queued\"") &&
                  strstr(d, "\"position\":2") && strstr(d, "\"limit\":2") &&
                  strstr(d, "\"running\":2") && strstr(d, "\"key\":\"acme\""),
              "%s", d);
    free(d);
    d = describe(&fx, "q-a1");
    CHECK_MSG(strstr(d, "\"status\":\"running\"") && strstr(d, "\"outcome\":\"running\""), "%s", d);
    free(d);
    CHECK_INT(timers(&fx), 0); /* no slot is free: nothing starts */
    CHECK_INT(running(&fx, "wq", "acme"), 2);
    /* a later start of the key waits behind the others, even with a slot */
    finish(&fx, "q-a1");
    timers(&fx);
    CHECK_STR(status(&fx, "q-a4"), "running"); /* the higher priority first */
    CHECK_STR(status(&fx, "q-a3"), "none");
    CHECK_INT(running(&fx, "wq", "acme"), 2);
    finish(&fx, "q-a2");
    finish(&fx, "q-a4");
    timers(&fx);
    CHECK_STR(status(&fx, "q-a3"), "running");
    CHECK_INT(running(&fx, "wq", "acme"), 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 0);
    CHECK_INT(flow_count(fx.s, "SELECT queued FROM concurrency_keys WHERE ckey = 'wq\nacme'"), 0);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CONC_QUEUED), 2);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CONC_RELEASED), 2);
    flow_fx_close(&fx);
}

TEST(cancel_newest_drops_the_start_that_finds_no_slot)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_newest", RULES);
    one(&fx, "n1", "job.n", "{\"c\":\"x\"}");
    engine_batch *b = engine_batch_new();
    add(b, &fx, "n2", "job.n", "{\"c\":\"x\"}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_INT(engine_batch_conc_outcome(b, 0), ENGINE_CONC_DROPPED);
    CHECK_INT(engine_batch_result(b, 0)->outcome, ENGINE_APPLIED); /* acked, not a dead letter */
    CHECK_STR(engine_batch_result(b, 0)->code, "concurrency_dropped");
    engine_batch_free(b);
    CHECK_STR(status(&fx, "n-n1"), "running");
    CHECK_STR(status(&fx, "n-n2"), "none");
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 0);
    finish(&fx, "n-n1");
    one(&fx, "n3", "job.n", "{\"c\":\"x\"}"); /* the slot is free again */
    CHECK_STR(status(&fx, "n-n3"), "running");
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CONC_DROPPED), 1);
    flow_fx_close(&fx);
}

TEST(cancel_in_progress_cancels_the_oldest_run_and_replaces_older_waiting_starts)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_in_progress", RULES);
    one(&fx, "i1", "job.i", "{\"c\":\"x\"}");
    engine_batch *b = engine_batch_new();
    add(b, &fx, "i2", "job.i", "{\"c\":\"x\"}");
    add(b, &fx, "i3", "job.i", "{\"c\":\"x\"}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_INT(engine_batch_conc_outcome(b, 1), ENGINE_CONC_QUEUED);
    engine_batch_free(b);
    /* i1 was asked to cancel (its task had not started: it closed at once);
     * i3 replaced i2, which never runs */
    CHECK_STR(status(&fx, "i-i1"), "canceled");
    CHECK_INT(running(&fx, "wi", "x"), 0);
    timers(&fx);
    CHECK_STR(status(&fx, "i-i3"), "running");
    CHECK_STR(status(&fx, "i-i2"), "none");
    CHECK_INT(running(&fx, "wi", "x"), 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 0);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CONC_CANCELED), 1);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_CONC_REPLACED), 1);
    flow_fx_close(&fx);
}

TEST(round_robin_hands_a_shared_limit_to_the_keys_in_turn)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_round_robin", RULES);
    engine_batch *b = engine_batch_new();
    const char *evs[][2] = {{"a1", "a"}, {"a2", "a"}, {"a3", "a"}, {"a4", "a"},
                            {"b1", "b"}, {"b2", "b"}, {"c1", "c"}};
    for (size_t i = 0; i < 7; i++) {
        char p[32];
        snprintf(p, sizeof p, "{\"c\":\"%s\"}", evs[i][1]);
        add(b, &fx, evs[i][0], "job.r", p);
    }
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    engine_batch_free(b);
    CHECK_INT(running(&fx, "wr", ""), 2); /* the limit is the workflow's, over every key */
    CHECK_STR(status(&fx, "r-a1"), "running");
    CHECK_STR(status(&fx, "r-a2"), "running");
    /* each slot that frees goes to the next key: b, c, then a again */
    const char *order[] = {"r-b1", "r-c1", "r-a3", "r-b2", "r-a4"};
    const char *closing[] = {"r-a1", "r-a2", "r-b1", "r-c1", "r-a3"};
    for (int i = 0; i < 5; i++) {
        finish(&fx, closing[i]);
        timers(&fx);
        CHECK_MSG(!strcmp(status(&fx, order[i]), "running"), "step %d: %s is %s", i, order[i],
                  status(&fx, order[i]));
        CHECK_INT(running(&fx, "wr", ""), 2);
    }
    flow_fx_close(&fx);
}

TEST(a_concurrency_key_that_renders_empty_dead_letters_the_event)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_bad_key", RULES);
    /* a start not routed (the API, a schedule): the engine renders the key
     * itself (a routed one is a dead letter of the route: rules' dry run) */
    engine_batch *b = engine_batch_new();
    cJSON *in = cJSON_Parse("{\"p\":1}");
    engine_start_req st = {.workflow_type = "wq", .workflow_id = "q-e1", .input = in};
    engine_batch_start(b, engine_batch_event(b, "e1"), &st);
    cJSON_Delete(in);
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    const engine_result *r = engine_batch_result(b, 0);
    CHECK_INT(r->outcome, ENGINE_DEAD_LETTERED);
    CHECK_STR(r->code, "bad_concurrency_key");
    CHECK_MSG(strstr(r->message, "concurrency.key \"{{ input.c }}\" rendered empty"), "%s",
              r->message);
    engine_batch_free(b);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dead_letters WHERE code ="
                               " 'bad_concurrency_key'"),
              1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs"), 0);
    flow_fx_close(&fx);
}

/* ---- two sessions at once ------------------------------------------------------------ */

/* Starts 40 runs of key k (limit 2) in batches of 4, closing a running run
 * of the key now and then and running the timer loop, as a serve process
 * would. */
static void session_main(flow_racer *w, engine_session *s)
{
    sy_error err = {0};
    for (int round = 0; round < 10; round++) {
        engine_batch *b = engine_batch_new();
        for (int j = 0; j < 4; j++) {
            char id[32];
            snprintf(id, sizeof id, "s%d-%d-%d", w->which, round, j);
            flow_add_event(b, w->rules, id, "job.q", NULL, "{\"c\":\"k\"}");
        }
        CHECK_INT(flow_apply_at(s, b, sy_clock_now_ms(NULL)), SY_OK);
        engine_batch_free(b);
        PGresult *r = PQexec(engine__conn(s), "SELECT workflow_id FROM runs WHERE status ="
                                              " 'running' ORDER BY run_id LIMIT 1");
        char wid[64] = "";
        if (PQntuples(r))
            snprintf(wid, sizeof wid, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        engine_result res;
        if (wid[0] && engine_begin(s, &err) == SY_OK) {
            if (engine_terminate(s, wid, "done", &res, &err) != SY_OK ||
                engine_commit(s, &err) != SY_OK)
                engine_rollback(s); /* the other session closed it first */
        }
        flow_fire(s, sy_clock_now_ms(NULL), 64);
    }
}

/* Records, in every transaction that inserts a run, how many runs of its
 * key are running then, itself included: that transaction holds the
 * key's lock, so it sees every other start of the key committed. */
#define CONC_OVERLAP_TRIGGER                                                                       \
    "CREATE TABLE overlap (n bigint);"                                                             \
    " CREATE FUNCTION record_overlap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"               \
    " INSERT INTO overlap SELECT count(*) FROM runs WHERE status = 'running' AND"                  \
    " workflow_type = NEW.workflow_type AND input->>'c' = NEW.input->>'c'; RETURN NULL; END $$;"   \
    " CREATE TRIGGER record_overlap AFTER INSERT ON runs FOR EACH ROW EXECUTE FUNCTION"            \
    " record_overlap()"

typedef struct sampler {
    const char *conninfo;
    _Atomic bool stop;
    long long max;
} sampler;

static void *sampler_main(void *arg)
{
    sampler *m = arg;
    PGconn *c = PQconnectdb(m->conninfo);
    while (!atomic_load(&m->stop)) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM switchyard.runs WHERE status = 'running'");
        long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
        if (n > m->max)
            m->max = n;
    }
    PQfinish(c);
    return NULL;
}

TEST(two_sessions_starting_and_closing_runs_of_one_key_never_exceed_its_limit)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_two_sessions", RULES);
    PGresult *r = PQexec(engine__conn(fx.s), CONC_OVERLAP_TRIGGER);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    sampler m = {.conninfo = fx.conninfo};
    pthread_t ts;
    CHECK(pthread_create(&ts, NULL, sampler_main, &m) == 0);
    flow_race_two(&fx, session_main, 0);
    atomic_store(&m.stop, true);
    pthread_join(ts, NULL);
    CHECK_MSG(m.max <= 2, "%lld runs of one key at once (limit 2)", m.max);
    CHECK_INT(running(&fx, "wq", "k"), 2);
    /* what the trigger saw in every transaction that started a run: the
     * key's running runs, itself included (client clocks cannot say it:
     * a batch's time is taken before it waits for the key's lock) */
    CHECK_INT(flow_count(fx.s, "SELECT max(n) FROM overlap"), 2);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM overlap"),
              flow_count(fx.s, "SELECT count(*) FROM runs"));
    /* every start is a run or waits: none lost, none twice */
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs") +
                  flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"),
              80);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue") +
                  flow_count(fx.s, "SELECT count(DISTINCT workflow_id) FROM runs"),
              80);
    CHECK_INT(flow_count(fx.s, "SELECT queued FROM concurrency_keys"),
              flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"));
    flow_fx_close(&fx);
}

/* A signal-with-start whose workflow is not running and whose key is full
 * waits like a start (queue, round_robin): started when a slot frees, the
 * signal delivered to the run it starts, once; a signal to a running run
 * of a full key is delivered at once; cancel_in_progress still refuses it
 * (concurrency_limit). */
static long long signals_of(flow_fx *fx, const char *wid)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM history_events h JOIN runs r USING (run_id)"
             " WHERE r.workflow_id = '%s' AND h.type = 'workflow.signaled'",
             wid);
    return flow_count(fx->s, sql);
}

TEST(a_signal_with_start_at_the_limit_waits_and_is_delivered_once_its_run_starts)
{
    flow_fx fx;
    flow_fx_open(&fx, "conc_signal", RULES);
    one(&fx, "f1", "job.q", "{\"c\":\"acme\"}");
    one(&fx, "f2", "job.q", "{\"c\":\"acme\"}");
    CHECK_INT(running(&fx, "wq", "acme"), 2);
    engine_batch *b = engine_batch_new();
    add(b, &fx, "s1", "job.s", "{\"id\":\"x\",\"c\":\"acme\",\"n\":1}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_STR(engine_batch_result(b, 0)->code, "concurrency_queued");
    CHECK(engine_batch_result(b, 0)->outcome != ENGINE_DEAD_LETTERED);
    engine_batch_free(b);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM dead_letters"), 0);
    CHECK_STR(status(&fx, "q-x"), "none");
    char *d = describe(&fx, "q-x");
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"outcome\":\"queued\""), "%s", d);
    free(d);
    /* a redelivery is a duplicate: it waits once */
    one(&fx, "s1", "job.s", "{\"id\":\"x\",\"c\":\"acme\",\"n\":1}");
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 1);
    /* a signal to a running run of the full key is delivered now */
    one(&fx, "s2", "job.s", "{\"id\":\"f1\",\"c\":\"acme\",\"n\":2}");
    CHECK_INT(signals_of(&fx, "q-f1"), 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 1);
    CHECK_INT(timers(&fx), 0); /* no slot is free */
    finish(&fx, "q-f2");
    timers(&fx);
    CHECK_STR(status(&fx, "q-x"), "running");
    CHECK_INT(signals_of(&fx, "q-x"), 1);
    CHECK_INT(running(&fx, "wq", "acme"), 2);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM concurrency_queue"), 0);
    CHECK_INT(flow_count(fx.s, "SELECT queued FROM concurrency_keys WHERE ckey = 'wq\nacme'"), 0);
    timers(&fx);
    CHECK_INT(signals_of(&fx, "q-x"), 1);
    /* cancel_in_progress refuses a signal-with-start at the limit */
    one(&fx, "g1", "job.i", "{\"c\":\"bolt\"}");
    b = engine_batch_new();
    add(b, &fx, "s3", "job.si", "{\"id\":\"y\",\"c\":\"bolt\"}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_STR(engine_batch_result(b, 0)->code, "concurrency_limit");
    engine_batch_free(b);
    flow_fx_close(&fx);
}
