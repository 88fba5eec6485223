/* engine_corr.c: correlation in the engine against real Postgres
 * (engine/corr.c, docs/flow-control.md "Correlation"): a cancel_on event
 * cancels only the run its where correlates, within its window, once; a
 * wait_event step is resumed by the matching event with its payload as
 * the step's output, looks back for events that came before it, takes one
 * event once (a redelivery or a second wait does not take it again), times
 * out; describe shows what a run waits for; two sessions racing an event
 * against the wait that needs it never lose it. */
#include "flow_support.h"

#include "clock.h"

#include <pthread.h>

static const char RULES[] =
    "version: 1\n"
    "routes:\n"
    "  - name: orders\n"
    "    match: { type: order.placed }\n"
    "    start: { workflow: fulfil, id: \"o-{{ payload.order_id }}\","
    " input: { order_id: \"{{ payload.order_id }}\" } }\n"
    "  - name: waits\n"
    "    match: { type: pay.expected }\n"
    "    start: { workflow: pay, id: \"p-{{ payload.order_id }}\","
    " input: { order_id: \"{{ payload.order_id }}\" } }\n"
    "  - name: twice\n"
    "    match: { type: two.expected }\n"
    "    start: { workflow: two, id: \"t-{{ payload.k }}\", input: { k: \"{{ payload.k }}\" } }\n"
    "  - name: renew\n"
    "    match: { type: sub.renewed }\n"
    "    start: { workflow: remind, id: \"r-{{ event_id }}\", input: { user: \"{{ payload.user "
    "}}\" } }\n"
    "  - name: ship\n"
    "    join:\n"
    "      key: \"{{ payload.order_id }}\"\n"
    "      events:\n"
    "        paid: { type: j.paid }\n"
    "        packed: { type: j.packed, where: \"payload.boxes > 0\" }\n"
    "        address: { type: j.address }\n"
    "      when: paid && (packed || address)\n"
    "      window: 1h\n"
    "    start: { workflow: shipper, id: \"ship-{{ key }}\","
    " input: { amount: \"{{ events.paid.payload.amount }}\", key: \"{{ key }}\" } }\n"
    "workflows:\n"
    "  shipper:\n"
    "    steps:\n"
    "      - task: ship\n"
    "  remind:\n"
    "    cancel_on:\n"
    "      - { type: sub.renewed, where: event.payload.user == input.user }\n"
    "    steps:\n"
    "      - sleep: 1d\n"
    "  fulfil:\n"
    "    cancel_on:\n"
    "      - type: order.canceled\n"
    "        where: event.payload.order_id == input.order_id\n"
    "        within: 1h\n"
    "    steps:\n"
    "      - task: pack\n"
    "  pay:\n"
    "    steps:\n"
    "      - wait_event: payment.received\n"
    "        name: payment\n"
    "        where: event.payload.order_id == input.order_id && event.payload.amount > 0\n"
    "        timeout: 10m\n"
    "        lookback: 5m\n"
    "      - complete: { paid: \"{{ steps.payment.result.amount }}\" }\n"
    "  two:\n"
    "    steps:\n"
    "      - wait_event: ping\n"
    "        name: first\n"
    "        where: event.payload.k == input.k\n"
    "        lookback: 1h\n"
    "      - wait_event: ping\n"
    "        name: second\n"
    "        where: event.payload.k == input.k\n"
    "        lookback: 1h\n"
    "        timeout: 1m\n"
    "        on_timeout: continue\n"
    "      - complete: { a: \"{{ steps.first.result.n }}\", b: \"{{ steps.second.result.n }}\" }\n";

static void one(flow_fx *fx, int64_t now, const char *id, const char *type, const char *payload)
{
    flow_one(fx, now, id, type, NULL, payload);
}

static void timers(flow_fx *fx, int64_t now)
{
    flow_fire(fx->s, now, 100);
}

static char *str(flow_fx *fx, const char *sql)
{
    return flow_str(fx->s, sql);
}

static void check_status(flow_fx *fx, const char *wid, const char *want)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT status FROM workflow_ids WHERE workflow_id = '%s'", wid);
    char *got = str(fx, sql);
    CHECK_MSG(strcmp(got, want) == 0, "%s: %s, want %s", wid, got, want);
    free(got);
}

static long long count(flow_fx *fx, const char *sql)
{
    return flow_count(fx->s, sql);
}

TEST(cancel_on_cancels_only_the_correlated_run)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_cancel", RULES);
    one(&fx, FLOW_T0, "s1", "order.placed", "{\"order_id\":\"1\"}");
    one(&fx, FLOW_T0, "s2", "order.placed", "{\"order_id\":\"2\"}");
    timers(&fx, FLOW_T0 + 10); /* the starts' scans: nothing came yet */
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs WHERE kind = 'cancel'"), 2);
    /* describe names what the run waits for */
    cJSON *d = NULL;
    sy_error err = {0};
    CHECK_INT(engine_describe(fx.s, "o-2", NULL, &d, &err), SY_OK);
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "waiting_for"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "kind")), "cancel_on");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "type")), "order.canceled");
    cJSON_Delete(d);

    one(&fx, FLOW_T0 + 1000, "c1", "order.canceled", "{\"order_id\":\"1\"}");
    check_status(&fx, "o-1", "canceled");
    check_status(&fx, "o-2", "running");
    char *reason = str(&fx, "SELECT data->>'reason' FROM history_events h JOIN workflow_ids w"
                            " ON w.run_id = h.run_id WHERE w.workflow_id = 'o-1'"
                            " AND h.type = 'workflow.cancel_requested'");
    CHECK_STR(reason, "cancel_on: order.canceled event c1");
    free(reason);
    /* the canceled run's subscription went with it */
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs"), 1);
    /* an event no run correlates with has no effect, and is no dead letter */
    one(&fx, FLOW_T0 + 2000, "c3", "order.canceled", "{\"order_id\":\"3\"}");
    check_status(&fx, "o-2", "running");
    CHECK_INT(count(&fx, "SELECT count(*) FROM dead_letters"), 0);
    flow_fx_close(&fx);
}

TEST(a_newer_event_of_the_starting_type_cancels_the_older_run_not_its_own)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_cancel_newer", RULES);
    one(&fx, FLOW_T0, "n1", "sub.renewed", "{\"user\":\"u\"}");
    timers(&fx, FLOW_T0 + 1);
    check_status(&fx, "r-n1", "running");
    one(&fx, FLOW_T0 + 1000, "n2", "sub.renewed", "{\"user\":\"u\"}");
    timers(&fx, FLOW_T0 + 1001);
    check_status(&fx, "r-n1", "canceled");
    check_status(&fx, "r-n2", "running");
    flow_fx_close(&fx);
}

/* Two processes: the cancel's batch began (its clock read) before the
 * start's, but routed the event after the start committed or raced it:
 * within the grace it still cancels. */
TEST(a_cancel_routed_just_before_the_start_by_the_clock_still_cancels)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_cancel_grace", RULES);
    one(&fx, FLOW_T0 + 2000, "s8", "order.placed", "{\"order_id\":\"8\"}");
    one(&fx, FLOW_T0, "c8", "order.canceled", "{\"order_id\":\"8\"}");
    check_status(&fx, "o-8", "canceled");
    flow_fx_close(&fx);
}

TEST(cancel_on_ignores_events_after_its_window_and_before_the_start)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_cancel_window", RULES);
    /* more than the 30 s grace before the start: not a later event */
    one(&fx, FLOW_T0, "early", "order.canceled", "{\"order_id\":\"5\"}");
    one(&fx, FLOW_T0 + 31000, "s5", "order.placed", "{\"order_id\":\"5\"}");
    one(&fx, FLOW_T0 + 31000, "s6", "order.placed", "{\"order_id\":\"6\"}");
    timers(&fx, FLOW_T0 + 31001); /* the scan does not take the earlier event */
    check_status(&fx, "o-5", "running");
    one(&fx, FLOW_T0 + 31000 + 3600000, "late", "order.canceled", "{\"order_id\":\"6\"}");
    check_status(&fx, "o-6", "running");
    flow_fx_close(&fx);
}

/* Applies at now an event of type that came at at_ms, correlated only
 * (as switchyard replay hands an old event to its batch). */
static void correlate_at(flow_fx *fx, int64_t now, const char *id, const char *type,
                         const char *payload, int64_t at_ms)
{
    envelope *env = flow_envelope(id, type, NULL, payload);
    engine_batch *b = engine_batch_new();
    engine_batch_correlate_at(b, engine_batch_event(b, id), envelope_json(env), at_ms);
    CHECK_INT(flow_apply_at(fx->s, b, now), SY_OK);
    engine_batch_free(b);
    envelope_free(env);
}

/* An event correlated as having come at its own time (a replay's,
 * engine_batch_correlate_at) counts then, not when it is applied: one
 * from before a run started never cancels it, one from after does, both
 * applied minutes later; it is stored for lookbacks at that time. The
 * batch's clock decided: the older event canceled the run. */
TEST(a_correlated_event_counts_at_the_time_it_came)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_at", RULES);
    one(&fx, FLOW_T0 + 60000, "s7", "order.placed", "{\"order_id\":\"7\"}");
    timers(&fx, FLOW_T0 + 60001);
    int64_t later = FLOW_T0 + 600000;
    correlate_at(&fx, later, "old7", "order.canceled", "{\"order_id\":\"7\"}", FLOW_T0);
    check_status(&fx, "o-7", "running");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM corr_events WHERE event_id = 'old7' AND"
             " (extract(epoch FROM at) * 1000)::bigint = %lld",
             (long long)FLOW_T0);
    CHECK_INT(count(&fx, sql), 1);
    correlate_at(&fx, later, "new7", "order.canceled", "{\"order_id\":\"7\"}", FLOW_T0 + 120000);
    check_status(&fx, "o-7", "canceled");
    flow_fx_close(&fx);
}

TEST(an_event_in_the_batch_that_starts_the_run_cancels_it)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_cancel_same_batch", RULES);
    engine_batch *b = engine_batch_new();
    flow_add_event(b, fx.rules, "s7", "order.placed", NULL, "{\"order_id\":\"7\"}");
    flow_add_event(b, fx.rules, "c7", "order.canceled", NULL, "{\"order_id\":\"7\"}");
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    engine_batch_free(b);
    check_status(&fx, "o-7", "running"); /* its subscription did not exist yet ... */
    timers(&fx, FLOW_T0 + 5);            /* ... its lookback finds the event */
    check_status(&fx, "o-7", "canceled");
    flow_fx_close(&fx);
}

TEST(wait_event_resumes_with_the_matching_events_payload)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_wait", RULES);
    one(&fx, FLOW_T0, "w1", "pay.expected", "{\"order_id\":\"a\"}");
    one(&fx, FLOW_T0, "w2", "pay.expected", "{\"order_id\":\"b\"}");
    timers(&fx, FLOW_T0 + 1);
    cJSON *d = NULL;
    sy_error err = {0};
    CHECK_INT(engine_describe(fx.s, "p-a", NULL, &d, &err), SY_OK);
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "waiting_for"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "kind")), "wait_event");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "step")), "payment");
    cJSON_Delete(d);
    /* the where sees both: wrong order, then a zero amount, do not match */
    one(&fx, FLOW_T0 + 600100, "x1", "payment.received", "{\"order_id\":\"c\",\"amount\":5}");
    one(&fx, FLOW_T0 + 200, "x2", "payment.received", "{\"order_id\":\"a\",\"amount\":0}");
    check_status(&fx, "p-a", "running");
    one(&fx, FLOW_T0 + 300, "x3", "payment.received", "{\"order_id\":\"a\",\"amount\":42}");
    check_status(&fx, "p-a", "completed");
    check_status(&fx, "p-b", "running");
    char *res = str(&fx, "SELECT r.result::text FROM runs r JOIN workflow_ids w USING (run_id)"
                         " WHERE w.workflow_id = 'p-a'");
    CHECK_STR(res, "{\"paid\":42}");
    free(res);
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs"), 1);
    /* a redelivery of the event is a duplicate: nothing happens twice */
    one(&fx, FLOW_T0 + 400, "x3", "payment.received", "{\"order_id\":\"a\",\"amount\":42}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM history_events WHERE type = 'event.received'"), 1);
    flow_fx_close(&fx);
}

TEST(wait_event_looks_back_for_events_that_came_before_it)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_lookback", RULES);
    /* within the lookback (5m) of the wait, and before it */
    one(&fx, FLOW_T0, "e1", "payment.received", "{\"order_id\":\"k\",\"amount\":7}");
    one(&fx, FLOW_T0, "e0", "payment.received", "{\"order_id\":\"old\",\"amount\":7}");
    one(&fx, FLOW_T0 + 60000, "w1", "pay.expected", "{\"order_id\":\"k\"}");
    one(&fx, FLOW_T0 + 6 * 60000, "w2", "pay.expected", "{\"order_id\":\"old\"}");
    check_status(&fx, "p-k", "running"); /* the lookback is the timer loop's */
    timers(&fx, FLOW_T0 + 6 * 60000 + 1);
    check_status(&fx, "p-k", "completed");
    check_status(&fx, "p-old", "running"); /* 6 minutes is past its 5m lookback */
    /* and its timeout fails it */
    timers(&fx, FLOW_T0 + 17 * 60000);
    check_status(&fx, "p-old", "failed");
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs"), 0);
    flow_fx_close(&fx);
}

TEST(one_event_satisfies_one_wait_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_once", RULES);
    one(&fx, FLOW_T0, "t1", "two.expected", "{\"k\":\"z\"}");
    one(&fx, FLOW_T0 + 10, "p1", "ping", "{\"k\":\"z\",\"n\":1}");
    timers(&fx, FLOW_T0 + 20);
    /* the second wait looks back over the same ping: it is taken */
    timers(&fx, FLOW_T0 + 30);
    check_status(&fx, "t-z", "running");
    one(&fx, FLOW_T0 + 40, "p2", "ping", "{\"k\":\"z\",\"n\":2}");
    check_status(&fx, "t-z", "completed");
    char *res = str(&fx, "SELECT r.result::text FROM runs r JOIN workflow_ids w USING (run_id)"
                         " WHERE w.workflow_id = 't-z'");
    CHECK_STR(res, "{\"a\":1,\"b\":2}");
    free(res);
    flow_fx_close(&fx);
}

TEST(a_wait_event_timeout_may_continue)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_timeout", RULES);
    one(&fx, FLOW_T0, "t1", "two.expected", "{\"k\":\"y\"}");
    one(&fx, FLOW_T0 + 10, "p1", "ping", "{\"k\":\"y\",\"n\":1}");
    timers(&fx, FLOW_T0 + 20);
    timers(&fx, FLOW_T0 + 30);
    timers(&fx, FLOW_T0 + 120000);
    check_status(&fx, "t-y", "completed");
    char *res = str(&fx, "SELECT r.result::text FROM runs r JOIN workflow_ids w USING (run_id)"
                         " WHERE w.workflow_id = 't-y'");
    CHECK_STR(res, "{\"a\":1,\"b\":null}");
    free(res);
    /* a ping after the timeout changes nothing */
    one(&fx, FLOW_T0 + 130000, "p9", "ping", "{\"k\":\"y\",\"n\":9}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM history_events WHERE type = 'event.received'"), 1);
    flow_fx_close(&fx);
}

/* Two sessions: one starts waits, the other sends their events, at once,
 * with no lookback to fall back on but the instant race: every wait is
 * satisfied exactly once. */
static void race(flow_racer *r, engine_session *s)
{
    for (int i = 0; i < r->n; i++) {
        char id[32], payload[96];
        engine_batch *b = engine_batch_new();
        if (r->which == 0) {
            snprintf(id, sizeof id, "w%d", i);
            snprintf(payload, sizeof payload, "{\"order_id\":\"r%d\"}", i);
            flow_add_event(b, r->rules, id, "pay.expected", NULL, payload);
        } else {
            snprintf(id, sizeof id, "e%d", i);
            snprintf(payload, sizeof payload, "{\"order_id\":\"r%d\",\"amount\":%d}", i, i + 1);
            flow_add_event(b, r->rules, id, "payment.received", NULL, payload);
        }
        CHECK_INT(flow_apply_at(s, b, FLOW_T0 + i), SY_OK);
        engine_batch_free(b);
        flow_fire(s, FLOW_T0 + i, 100);
    }
}

TEST(an_event_racing_its_wait_in_another_session_is_never_lost)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_race", RULES);
    flow_race_two(&fx, race, 60);
    for (int k = 0; k < 5; k++)
        timers(&fx, FLOW_T0 + 1000);
    CHECK_INT(count(&fx, "SELECT count(*) FROM workflow_ids WHERE status = 'completed'"), 60);
    CHECK_INT(count(&fx, "SELECT count(*) FROM history_events WHERE type = 'event.received'"), 60);
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs r JOIN workflow_ids w USING (run_id)"
                         " WHERE (r.result->>'paid')::int <> substr(w.workflow_id, 4)::int + 1"),
              0);
    flow_fx_close(&fx);
}

/* The instant race made to happen: an event's batch has read the
 * subscriptions (none yet) and not committed when the wait commits and its
 * lookback scans; the scan must wait for the event's commit and find it,
 * not miss it. */
typedef struct scanner {
    engine_session *s;
    int64_t now;
} scanner;

/* Until backend pid waits for a lock it was not granted (true), or 60 s
 * (false): the scan has reached the event's lock, however slow the box. */
static bool waits_for_a_lock(const char *conninfo, int pid)
{
    PGconn *c = PQconnectdb(conninfo);
    CHECK_MSG(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    char p[16];
    snprintf(p, sizeof p, "%d", pid);
    const char *params[] = {p};
    bool waiting = false;
    for (int i = 0; i < 6000 && !waiting; i++) {
        if (i)
            usleep(10 * 1000);
        PGresult *r =
            PQexecParams(c, "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", 1, NULL,
                         params, NULL, NULL, 0);
        CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
        waiting = atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
    }
    PQfinish(c);
    return waiting;
}

static void *scan_thread(void *arg)
{
    scanner *sc = arg;
    sy_error err = {0};
    size_t fired = 0;
    CHECK_INT(engine_timers_run_once(sc->s, sc->now, 100, &fired, &err), SY_OK);
    return NULL;
}

TEST(a_wait_scanning_while_its_event_commits_waits_for_it)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_instant", RULES);
    engine_session *s2 = NULL;
    sy_error err = {0};
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &s2, &err), SY_OK);
    engine_batch *eb = engine_batch_new();
    flow_add_event(eb, fx.rules, "ev", "payment.received", NULL,
                   "{\"order_id\":\"q\",\"amount\":3}");
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine__batch_run(fx.s, eb, FLOW_T0, &err), SY_OK); /* open, not committed */

    engine_batch *wb = engine_batch_new();
    flow_add_event(wb, fx.rules, "wq", "pay.expected", NULL, "{\"order_id\":\"q\"}");
    CHECK_INT(flow_apply_at(s2, wb, FLOW_T0), SY_OK);
    engine_batch_free(wb);
    scanner sc = {s2, FLOW_T0 + 1};
    pthread_t t;
    pthread_create(&t, NULL, scan_thread, &sc);
    /* commit only once the scan waits for it: a fixed pause would let a
     * slow scan start after the commit and test nothing */
    CHECK_MSG(waits_for_a_lock(fx.conninfo, PQbackendPID(engine__conn(s2))),
              "the lookback scan never waited for the uncommitted event's lock");
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    pthread_join(t, NULL);
    engine_batch_free(eb);
    check_status(&fx, "p-q", "completed");
    engine_session_close(s2);
    flow_fx_close(&fx);
}

TEST(a_join_starts_once_when_its_events_are_there_and_shows_while_partial)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_join", RULES);
    one(&fx, FLOW_T0, "j1", "j.paid", "{\"order_id\":\"k1\",\"amount\":9}");
    one(&fx, FLOW_T0 + 10, "j2", "j.packed", "{\"order_id\":\"k1\",\"boxes\":0}"); /* no part */
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs"), 0);
    /* the partial join is durable and shows on the ID it will start */
    cJSON *d = NULL;
    sy_error err = {0};
    CHECK_INT(engine_describe(fx.s, "ship-k1", NULL, &d, &err), SY_OK);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(d, "status")), "pending");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "join"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "route")), "ship");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "events"), 0)),
              "paid");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 1);
    cJSON_Delete(d);
    /* a redelivery adds nothing */
    one(&fx, FLOW_T0 + 20, "j1", "j.paid", "{\"order_id\":\"k1\",\"amount\":9}");
    one(&fx, FLOW_T0 + 30, "j3", "j.address", "{\"order_id\":\"k1\"}");
    check_status(&fx, "ship-k1", "running");
    char *in = str(&fx, "SELECT input::text FROM runs");
    CHECK_STR(in, "{\"amount\":9,\"key\":\"k1\"}");
    free(in);
    CHECK_INT(count(&fx, "SELECT count(*) FROM join_keys"), 0);
    /* another part of the key opens a new join, it starts nothing */
    one(&fx, FLOW_T0 + 40, "j4", "j.packed", "{\"order_id\":\"k1\",\"boxes\":2}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs"), 1);
    CHECK_INT(count(&fx, "SELECT count(*) FROM join_keys"), 1);
    flow_fx_close(&fx);
}

TEST(a_join_past_its_window_starts_over)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_join_window", RULES);
    one(&fx, FLOW_T0, "w1", "j.paid", "{\"order_id\":\"k2\",\"amount\":1}");
    one(&fx, FLOW_T0 + 3600000, "w2", "j.packed", "{\"order_id\":\"k2\",\"boxes\":1}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs"), 0);
    char *ev = str(&fx, "SELECT string_agg(k, ',') FROM join_keys, json_object_keys(events) k");
    CHECK_STR(ev, "packed");
    free(ev);
    one(&fx, FLOW_T0 + 3600001, "w3", "j.paid", "{\"order_id\":\"k2\",\"amount\":2}");
    check_status(&fx, "ship-k2", "running");
    /* retention forgets a partial join after its window */
    one(&fx, FLOW_T0, "w4", "j.paid", "{\"order_id\":\"k3\",\"amount\":1}");
    engine_purge_counts pc;
    sy_error err = {0};
    CHECK_INT(engine_purge(fx.s, FLOW_T0 + 3600001, &pc, &err), SY_OK);
    CHECK_INT(count(&fx, "SELECT count(*) FROM join_keys"), 0);
    flow_fx_close(&fx);
}

/* Two sessions send the two halves of the same joins at once: each join
 * starts exactly once (a new key's row collides, the batch is applied
 * again and finds the other's part). */
static void join_half(flow_racer *r, engine_session *s)
{
    for (int i = 0; i < r->n; i++) {
        char id[32], payload[96];
        engine_batch *b = engine_batch_new();
        snprintf(id, sizeof id, "%c%d", r->which ? 'a' : 'p', i);
        snprintf(payload, sizeof payload, "{\"order_id\":\"r%d\",\"amount\":%d}", i, i);
        flow_add_event(b, r->rules, id, r->which ? "j.address" : "j.paid", NULL, payload);
        CHECK_INT(flow_apply_at(s, b, FLOW_T0 + i), SY_OK);
        engine_batch_free(b);
    }
}

TEST(two_sessions_completing_the_same_joins_start_each_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_join_race", RULES);
    flow_race_two(&fx, join_half, 40);
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs"), 40);
    CHECK_INT(count(&fx, "SELECT count(DISTINCT workflow_id) FROM runs"), 40);
    CHECK_INT(count(&fx, "SELECT count(*) FROM join_keys"), 0);
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs WHERE (input->>'amount')::int"
                         " <> substr(workflow_id, 7)::int"),
              0);
    flow_fx_close(&fx);
}

/* `switchyard join list` and `join describe` (and engine_join_list/get
 * under them): the open joins by route and key, what arrived, what is
 * missing, the condition and the deadline; paged; a join past its window
 * is not listed. */
static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static char *names(const cJSON *arr)
{
    char *t = cJSON_PrintUnformatted(arr);
    return t;
}

static int join_cli(flow_fx *fx, int64_t now, const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_TEST_TIME_OFFSET_MS=%lld '%s' join %s --db '%s' 2>&1",
             (long long)(now - sy_clock_now_ms(NULL)), fixture_switchyard_bin(), args,
             fx->conninfo);
    return fixture_run(cmd, out, cap);
}

TEST(join_list_shows_each_open_join_with_its_arrived_and_missing_parts)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_join_list", RULES);
    one(&fx, FLOW_T0, "l1", "j.paid", "{\"order_id\":\"k1\",\"amount\":9}");
    one(&fx, FLOW_T0 + 10, "l2", "j.packed", "{\"order_id\":\"k2\",\"boxes\":1}");
    one(&fx, FLOW_T0 + 600000, "l3", "j.address", "{\"order_id\":\"k3\"}");
    one(&fx, FLOW_T0 + 600010, "l4", "j.packed", "{\"order_id\":\"k3\",\"boxes\":2}");
    sy_error err = {0};
    cJSON *l = NULL;
    engine_join_filter f = {.limit = 2, .now_ms = FLOW_T0 + 600100};
    CHECK_INT(engine_join_list(fx.s, &f, &l, &err), SY_OK);
    const cJSON *js = jget(l, "joins");
    CHECK_INT(cJSON_GetArraySize(js), 2);
    const cJSON *k1 = cJSON_GetArrayItem(js, 0);
    CHECK_STR(cJSON_GetStringValue(jget(k1, "route")), "ship");
    CHECK_STR(cJSON_GetStringValue(jget(k1, "key")), "k1");
    char *a = names(jget(k1, "arrived")), *m = names(jget(k1, "missing"));
    CHECK_STR(a, "[\"paid\"]");
    CHECK_STR(m, "[\"packed\",\"address\"]"); /* in the rules' order */
    free(a);
    free(m);
    CHECK_STR(cJSON_GetStringValue(jget(k1, "when")), "paid && (packed || address)");
    CHECK_STR(cJSON_GetStringValue(jget(k1, "workflow_id")), "ship-k1");
    CHECK(strncmp(cJSON_GetStringValue(jget(k1, "deadline")), "2026-01-01T01:00:00", 19) == 0);
    CHECK_STR(cJSON_GetStringValue(jget(jget(jget(k1, "events"), "paid"), "event_id")), "l1");
    const char *tok = cJSON_GetStringValue(jget(l, "next_page_token"));
    CHECK(tok != NULL);
    /* the next page: k3, which has two parts and still waits for paid */
    char *token = strdup(tok ? tok : "");
    cJSON_Delete(l);
    f.page_token = token;
    CHECK_INT(engine_join_list(fx.s, &f, &l, &err), SY_OK);
    js = jget(l, "joins");
    CHECK_INT(cJSON_GetArraySize(js), 1);
    a = names(jget(cJSON_GetArrayItem(js, 0), "arrived"));
    m = names(jget(cJSON_GetArrayItem(js, 0), "missing"));
    CHECK_STR(a, "[\"address\",\"packed\"]"); /* in the order they arrived */
    CHECK_STR(m, "[\"paid\"]");
    free(a);
    free(m);
    CHECK(cJSON_IsNull(jget(l, "next_page_token")));
    cJSON_Delete(l);
    free(token);
    /* a bad token, another route, a window that ended */
    f.page_token = "zz";
    CHECK_INT(engine_join_list(fx.s, &f, &l, &err), SY_INVALID);
    f.page_token = NULL;
    f.route = "nope";
    CHECK_INT(engine_join_list(fx.s, &f, &l, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(jget(l, "joins")), 0);
    cJSON_Delete(l);
    f.route = NULL;
    f.limit = 0;
    f.now_ms = FLOW_T0 + 3601000; /* k1's window (1h) ended, k2's too, k3's not */
    CHECK_INT(engine_join_list(fx.s, &f, &l, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(jget(l, "joins")), 1);
    cJSON_Delete(l);
    /* one, with its parts' envelopes */
    cJSON *d = NULL;
    CHECK_INT(engine_join_get(fx.s, "ship", "k3", FLOW_T0 + 600100, &d, &err), SY_OK);
    CHECK_INT((int)jget(jget(jget(jget(d, "events"), "packed"), "payload"), "boxes")->valuedouble,
              2);
    cJSON_Delete(d);
    CHECK_INT(engine_join_get(fx.s, "ship", "k9", FLOW_T0 + 600100, &d, &err), SY_NOT_FOUND);
    CHECK(strstr(err.message, "k9") != NULL);

    /* the same through the command */
    char out[8192];
    CHECK_INT(join_cli(&fx, FLOW_T0 + 600100, "list -o json", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"key\":\"k1\",\"arrived\":[\"paid\"],\"missing\":[\"packed\","
                          "\"address\"]") != NULL,
              "%s", out);
    CHECK(strstr(out, "\"next_page_token\":null") != NULL);
    CHECK_INT(join_cli(&fx, FLOW_T0 + 600100, "list --limit 1", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "ROUTE") == out && strstr(out, "k1") && !strstr(out, "k2") &&
                  strstr(out, "packed,address") && strstr(out, "next page: --page "),
              "%s", out);
    CHECK_INT(join_cli(&fx, FLOW_T0 + 3601000, "list --route ship -o json", out, sizeof out), 0);
    CHECK_MSG(!strstr(out, "\"k1\"") && strstr(out, "\"k3\""), "%s", out);
    CHECK_INT(join_cli(&fx, FLOW_T0 + 600100, "describe ship k3 -o json", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"boxes\":2") != NULL, "%s", out);
    CHECK(join_cli(&fx, FLOW_T0 + 600100, "describe ship k9", out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "no open join of route \"ship\" for key \"k9\"") != NULL, "%s", out);
    CHECK_INT(join_cli(&fx, FLOW_T0 + 600100, "describe ship", out, sizeof out), 64);
    CHECK_INT(join_cli(&fx, FLOW_T0 + 600100, "list --page zz", out, sizeof out), 65);
    flow_fx_close(&fx);
}

/* Keyed correlation (migration 022): a where with an equality on the
 * event stores its key when the run subscribes, and an event reads only
 * the rows of its key (and the unkeyed ones of its type), not every row
 * of its type: measured as the event_subs rows the event's transaction
 * read (pg_stat_xact_user_tables) with many runs waiting. */
static const char KEYED_RULES[] =
    "version: 1\n"
    "routes:\n"
    "  - name: k-start\n"
    "    match: { type: k.start }\n"
    "    start: { workflow: keyed, id: \"k-{{ payload.n }}\","
    " input: { n: \"{{ payload.n }}\", min: 5 } }\n"
    "workflows:\n"
    "  keyed:\n"
    "    cancel_on:\n"
    "      - { type: k.cancel, where: \"event.payload.n == input.n\" }\n"
    "      - { type: k.cancel_big, where: \"event.payload.amount > input.min\" }\n"
    "    steps:\n"
    "      - wait_event: k.paid\n"
    "        name: paid\n"
    "        where: event.payload.ok == true && input.n == event.payload.ref\n"
    "      - complete: { amount: \"{{ steps.paid.result.amount }}\" }\n";

#define KEYED_RUNS 600

/* The event_subs rows this session read so far and has not reported yet
 * (inside a transaction nothing is reported: a difference there is what
 * the transaction read). */
static long long subs_read(flow_fx *fx)
{
    return count(fx, "SELECT coalesce(sum(seq_tup_read + idx_tup_fetch), 0)::bigint"
                     " FROM pg_stat_xact_user_tables WHERE relname = 'event_subs'");
}

/* One event in a transaction of its own: the event_subs rows it read. */
static long long rows_read(flow_fx *fx, int64_t now, const char *id, const char *type,
                           const char *payload)
{
    engine_batch *b = engine_batch_new();
    flow_add_event(b, fx->rules, id, type, NULL, payload);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    long long before = subs_read(fx);
    CHECK_MSG(engine__batch_run(fx->s, b, now, &err) == SY_OK, "%s", err.message);
    long long n = subs_read(fx) - before;
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    engine_batch_free(b);
    return n;
}

TEST(an_event_reads_only_the_waiting_rows_of_its_key)
{
    flow_fx fx;
    flow_fx_open(&fx, "corr_keyed", KEYED_RULES);
    for (int i = 0; i < KEYED_RUNS; i += 100) {
        engine_batch *b = engine_batch_new();
        for (int j = i; j < i + 100; j++) {
            char id[32], payload[64];
            snprintf(id, sizeof id, "s%d", j);
            snprintf(payload, sizeof payload, "{\"n\":%d}", j);
            flow_add_event(b, fx.rules, id, "k.start", NULL, payload);
        }
        CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
        engine_batch_free(b);
    }
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs WHERE kind = 'cancel'"
                         " AND kpath = '[\"payload\",\"n\"]' AND kval = 'n:7'"),
              1);
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs WHERE kind = 'wait'"
                         " AND kpath = '[\"payload\",\"ref\"]'"),
              KEYED_RUNS);
    CHECK_INT(count(&fx, "SELECT count(*) FROM event_subs WHERE kpath IS NULL"), KEYED_RUNS);
    /* the wait of run 7 by key: a handful of rows, not KEYED_RUNS */
    long long n =
        rows_read(&fx, FLOW_T0 + 100, "p7", "k.paid", "{\"ref\":7,\"ok\":true,\"amount\":3}");
    CHECK_MSG(n < 20, "read %lld rows of event_subs", n);
    check_status(&fx, "k-7", "completed");
    /* the rest of the where still decides; a string is not the number */
    one(&fx, FLOW_T0 + 200, "p8", "k.paid", "{\"ref\":8,\"ok\":false,\"amount\":3}");
    check_status(&fx, "k-8", "running");
    one(&fx, FLOW_T0 + 300, "c9s", "k.cancel", "{\"n\":\"9\"}");
    check_status(&fx, "k-9", "running");
    one(&fx, FLOW_T0 + 400, "c9", "k.cancel", "{\"n\":9.0}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs WHERE cancel_requested"), 1);
    /* an event no run is keyed on reads (almost) nothing */
    n = rows_read(&fx, FLOW_T0 + 500, "p-none", "k.paid", "{\"ref\":\"x\",\"ok\":true}");
    CHECK_MSG(n < 20, "read %lld rows of event_subs", n);
    /* a where without an equality is read and evaluated for every run */
    n = rows_read(&fx, FLOW_T0 + 600, "big", "k.cancel_big", "{\"amount\":1}");
    CHECK_MSG(n >= KEYED_RUNS - 2, "read %lld rows of event_subs", n);
    one(&fx, FLOW_T0 + 700, "big2", "k.cancel_big", "{\"amount\":6}");
    CHECK_INT(count(&fx, "SELECT count(*) FROM runs WHERE status = 'running'"
                         " AND NOT cancel_requested"),
              0);
    flow_fx_close(&fx);
}
