/* engine_flow_control.c: flow control in the engine against real Postgres
 * (engine/flow.c, flow_due.c): dedupe and rate_limit decided under the
 * keys' row locks in the batch's transaction, across batches, inside one
 * batch and across concurrent sessions; dropped events keep their inbox row
 * (a redelivery is a duplicate, not a second decision); debounced and
 * throttled actions held durably and fired by the timer loop once, at the
 * right time, by whichever of two sessions claims them; batches of at most
 * max_size events, each event in exactly one; describe shows what is
 * held; expired keys are purged. */
#include "flow_support.h"

static const char RULES[] =
    "version: 1\n"
    "routes:\n"
    "  - name: once\n"
    "    match: { type: order.placed }\n"
    "    dedupe: { key: \"{{ payload.order }}\", ttl: 1h }\n"
    "    start: { workflow: w, id: \"o-{{ event_id }}\" }\n"
    "  - name: limited\n"
    "    match: { type: mail.send }\n"
    "    rate_limit: { key: \"{{ subject }}\", limit: 2, period: 1m }\n"
    "    start: { workflow: w, id: \"m-{{ event_id }}\" }\n"
    "  - name: quiet\n"
    "    match: { type: doc.edited }\n"
    "    debounce: { key: \"{{ subject }}\", period: 10s, timeout: 30s }\n"
    "    start: { workflow: w, id: \"idx-{{ subject }}\", input: { v: \"{{ payload.v }}\" },"
    " if_closed: allow }\n"
    "  - name: nudge\n"
    "    match: { type: doc.touched }\n"
    "    debounce: { key: \"{{ subject }}\", period: 5s }\n"
    "    signal: { id: \"idx-{{ subject }}\", name: touched, payload: \"{{ payload }}\","
    " if_missing: drop }\n"
    "  - name: paced\n"
    "    match: { type: job.queued }\n"
    "    throttle: { key: \"{{ subject }}\", limit: 4, period: 1s }\n"
    "    start: { workflow: w, id: \"j-{{ event_id }}\" }\n"
    "  - name: digest\n"
    "    match: { type: row.added }\n"
    "    batch: { key: \"{{ subject }}\", max_size: 5, timeout: 2s }\n"
    "    start: { workflow: w, id: \"digest-{{ subject }}-{{ event_id }}\", input: { table:"
    " \"{{ subject }}\" } }\n"
    "workflows:\n"
    "  w:\n"
    "    steps:\n"
    "      - task: t\n";

static long long runs(flow_fx *fx)
{
    return flow_count(fx->s, "SELECT count(*) FROM runs");
}

TEST(dedupe_starts_the_first_event_of_a_key_and_drops_repeats_within_its_ttl)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_dedupe", RULES);
    CHECK_INT(flow_one(&fx, FLOW_T0, "e1", "order.placed", NULL, "{\"order\":7}"),
              RULES_FLOW_OUT_PASSED);
    CHECK_INT(flow_one(&fx, FLOW_T0 + 1000, "e2", "order.placed", NULL, "{\"order\":7}"),
              RULES_FLOW_OUT_DEDUPED);
    CHECK_INT(flow_one(&fx, FLOW_T0 + 2000, "e3", "order.placed", NULL, "{\"order\":8}"),
              RULES_FLOW_OUT_PASSED);
    CHECK_INT(runs(&fx), 2);
    /* the dropped event is in the inbox: its redelivery is a duplicate,
     * decided once */
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM inbox WHERE event_id = 'e2'"), 1);
    CHECK_INT(flow_one(&fx, FLOW_T0 + 3000, "e2", "order.placed", NULL, "{\"order\":7}"),
              RULES_FLOW_OUT_NONE);
    /* after the ttl the key starts again */
    CHECK_INT(flow_one(&fx, FLOW_T0 + 3600000, "e4", "order.placed", NULL, "{\"order\":7}"),
              RULES_FLOW_OUT_PASSED);
    CHECK_INT(runs(&fx), 3);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_keys WHERE route = 'once' AND kind = "
                               "'dedupe' AND key = '7'"),
              1);
    flow_fx_close(&fx);
}

TEST(repeats_inside_one_batch_are_decided_in_event_order)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_dedupe_batch", RULES);
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        flow_add_event(b, fx.rules, id, "order.placed", NULL,
                       i == 3 ? "{\"order\":2}" : "{\"order\":1}");
    }
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    const int want[] = {RULES_FLOW_OUT_PASSED, RULES_FLOW_OUT_DEDUPED, RULES_FLOW_OUT_DEDUPED,
                        RULES_FLOW_OUT_PASSED, RULES_FLOW_OUT_DEDUPED};
    for (size_t i = 0; i < 5; i++)
        CHECK_INT(engine_batch_flow_outcome(b, i), want[i]);
    CHECK_INT(engine_batch_outcome(b, 1), ENGINE_APPLIED); /* acked, not a dead letter */
    engine_batch_free(b);
    CHECK_INT(runs(&fx), 2);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs WHERE workflow_id IN ('o-b0', 'o-b3')"),
              2);
    flow_fx_close(&fx);
}

TEST(rate_limit_drops_the_excess_within_its_period)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_rate", RULES);
    int64_t t = FLOW_T0;
    CHECK_INT(flow_one(&fx, t, "m1", "mail.send", "alice", NULL), RULES_FLOW_OUT_PASSED);
    CHECK_INT(flow_one(&fx, t + 10, "m2", "mail.send", "alice", NULL), RULES_FLOW_OUT_PASSED);
    CHECK_INT(flow_one(&fx, t + 20, "m3", "mail.send", "alice", NULL), RULES_FLOW_OUT_RATE_LIMITED);
    CHECK_INT(flow_one(&fx, t + 30, "m4", "mail.send", "bob", NULL), RULES_FLOW_OUT_PASSED);
    CHECK_INT(flow_one(&fx, t + 59999, "m5", "mail.send", "alice", NULL),
              RULES_FLOW_OUT_RATE_LIMITED);
    CHECK_INT(flow_one(&fx, t + 60000, "m6", "mail.send", "alice", NULL), RULES_FLOW_OUT_PASSED);
    CHECK_INT(runs(&fx), 4);
    flow_fx_close(&fx);
}

/* Two sessions, each applying batches of events that all carry the same
 * dedupe key: the first commit wins, the other batch collides on the new
 * key (SY_BUSY), is applied again, and drops its event. */
static void race(flow_racer *r, engine_session *s)
{
    for (int i = 0; i < 50; i++) {
        engine_batch *b = engine_batch_new();
        char id[32], payload[32];
        snprintf(id, sizeof id, "r%d-%d", r->which, i);
        snprintf(payload, sizeof payload, "{\"order\":%d}", i);
        flow_add_event(b, r->rules, id, "order.placed", NULL, payload);
        CHECK_INT(flow_apply_at(s, b, FLOW_T0), SY_OK);
        r->got += engine_batch_flow_outcome(b, 0) == RULES_FLOW_OUT_PASSED;
        engine_batch_free(b);
    }
}

TEST(concurrent_sessions_pass_each_dedupe_key_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_race", RULES);
    CHECK_INT(flow_race_two(&fx, race, 0), 50);
    CHECK_INT(runs(&fx), 50);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_keys"), 50);
    flow_fx_close(&fx);
}

TEST(keys_past_their_window_are_purged_and_the_rest_kept)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_purge", RULES);
    int64_t now = sy_clock_now_ms(NULL);
    CHECK_INT(flow_one(&fx, now - 7200000, "p1", "order.placed", NULL, "{\"order\":1}"),
              RULES_FLOW_OUT_PASSED); /* its hour ended an hour ago */
    CHECK_INT(flow_one(&fx, now, "p2", "order.placed", NULL, "{\"order\":2}"),
              RULES_FLOW_OUT_PASSED);
    engine_purge_counts pc;
    sy_error err = {0};
    CHECK_INT(engine_purge(fx.s, now, &pc, &err), SY_OK);
    CHECK_INT(pc.flow_keys, 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_keys WHERE key = '2'"), 1);
    flow_fx_close(&fx);
}

/* ---- debounce and throttle: held, then fired by the timer loop ------------------ */

static size_t fire_at(flow_fx *fx, int64_t now)
{
    return flow_fire(fx->s, now, 256);
}

static char *describe(flow_fx *fx, const char *wid)
{
    return flow_describe(fx->s, wid);
}

TEST(a_debounced_key_starts_once_with_its_last_event_after_the_quiet_period)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_debounce", RULES);
    CHECK_INT(flow_one(&fx, FLOW_T0, "d1", "doc.edited", "a", "{\"v\":1}"),
              RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(flow_one(&fx, FLOW_T0 + 2000, "d2", "doc.edited", "a", "{\"v\":2}"),
              RULES_FLOW_OUT_DEBOUNCED);
    /* nothing started yet; describe says why */
    char *d = describe(&fx, "idx-a");
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"outcome\":\"debounced\"") &&
                  strstr(d, "\"events\":2") && strstr(d, "\"route\":\"quiet\""),
              "%s", d);
    free(d);
    CHECK_INT(runs(&fx), 0);
    fire_at(&fx, FLOW_T0 + 11999); /* not quiet for 10 s since d2 yet */
    CHECK_INT(runs(&fx), 0);
    fire_at(&fx, FLOW_T0 + 12000);
    CHECK_INT(runs(&fx), 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs WHERE workflow_id = 'idx-a' AND"
                               " input->>'v' = '2' AND causation_id = 'd2'"),
              1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_keys WHERE fire_at IS NOT NULL OR"
                               " pending IS NOT NULL OR workflow_id IS NOT NULL"),
              0);
    fire_at(&fx, FLOW_T0 + 60000); /* fired once: nothing is left to fire */
    CHECK_INT(runs(&fx), 1);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_FLOW_FIRED), 1);
    flow_fx_close(&fx);
}

TEST(a_debounce_timeout_caps_the_delay_of_a_key_that_never_goes_quiet)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_debounce_cap", RULES);
    /* an edit every 5 s: never quiet for 10 s; the timeout fires at 30 s */
    for (int i = 0; i <= 5; i++) {
        char id[16], payload[16];
        snprintf(id, sizeof id, "c%d", i);
        snprintf(payload, sizeof payload, "{\"v\":%d}", i);
        fire_at(&fx, FLOW_T0 + i * 5000);
        CHECK_INT(runs(&fx), 0);
        flow_one(&fx, FLOW_T0 + i * 5000 + 1, id, "doc.edited", "b", payload);
    }
    fire_at(&fx, FLOW_T0 + 30000);
    CHECK_INT(runs(&fx), 0);
    fire_at(&fx, FLOW_T0 + 30001); /* 30 s after the first */
    CHECK_INT(runs(&fx), 1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs WHERE input->>'v' = '5'"), 1);
    flow_fx_close(&fx);
}

TEST(a_debounced_signal_reaches_the_running_workflow_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_debounce_signal", RULES);
    flow_one(&fx, FLOW_T0, "s0", "doc.edited", "c", "{\"v\":0}");
    fire_at(&fx, FLOW_T0 + 10000);
    CHECK_INT(runs(&fx), 1);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        CHECK_INT(flow_one(&fx, FLOW_T0 + 10000 + i * 1000, id, "doc.touched", "c", "{}"),
                  RULES_FLOW_OUT_DEBOUNCED);
    }
    fire_at(&fx, FLOW_T0 + 18000);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM history_events WHERE type ="
                               " 'workflow.signaled' AND data->>'event_id' = 't3'"),
              1);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM history_events WHERE type ="
                               " 'workflow.signaled'"),
              1);
    flow_fx_close(&fx);
}

TEST(throttled_starts_keep_their_order_and_never_exceed_the_rate)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_throttle", RULES);
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "j%02d", i);
        flow_add_event(b, fx.rules, id, "job.queued", "q", NULL);
    }
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    CHECK_INT(engine_batch_flow_outcome(b, 0), RULES_FLOW_OUT_PASSED);
    for (size_t i = 1; i < 12; i++)
        CHECK_INT(engine_batch_flow_outcome(b, i), RULES_FLOW_OUT_THROTTLED);
    CHECK_INT(engine_batch_flow_fire_at(b, 11), FLOW_T0 + 2750); /* its slot */
    engine_batch_free(b);
    char *d = describe(&fx, "j-j05");
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"outcome\":\"throttled\"") &&
                  strstr(d, "\"position\":5"),
              "%s", d);
    free(d);
    /* a timer loop polling every 100 ms, and one late round */
    for (int64_t t = FLOW_T0; t <= FLOW_T0 + 1500; t += 100)
        fire_at(&fx, t);
    /* polled every 100 ms: started at 0, 300, 500, 800, 1000, 1300, 1500 ms
     * (never before a slot; slots 250 ms apart while the queue is behind) */
    CHECK_INT(runs(&fx), 7);
    fire_at(&fx, FLOW_T0 + 3000); /* late: starts two, not the five it missed */
    CHECK_INT(runs(&fx), 9);
    for (int64_t t = FLOW_T0 + 3000; t <= FLOW_T0 + 5000; t += 50)
        fire_at(&fx, t);
    CHECK_INT(runs(&fx), 12);
    /* FIFO, and at most burst + 1 + w / 250 ms starts in any window of w */
    PGresult *r =
        PQexec(engine__conn(fx.s),
               "SELECT workflow_id, (extract(epoch FROM started_at) * 1000)::bigint"
               " FROM runs ORDER BY started_at, workflow_id" /* one round starts ties at once */);
    CHECK_INT(PQntuples(r), 12);
    for (int i = 0; i < 12; i++) {
        char want[16];
        snprintf(want, sizeof want, "j-j%02d", i);
        CHECK_STR(PQgetvalue(r, i, 0), want);
        for (int j = i + 1; j < 12; j++) {
            long long w = atoll(PQgetvalue(r, j, 1)) - atoll(PQgetvalue(r, i, 1));
            CHECK_MSG(j - i + 1 <= 2 + w / 250, "%d starts in %lld ms", j - i + 1, w);
        }
    }
    PQclear(r);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_items"), 0);
    flow_fx_close(&fx);
}

/* Two timer loops (sessions) firing the same due keys at once: SKIP
 * LOCKED hands each key to one of them; every key starts exactly once.
 * r->n: the items a round fires at the most; 320 / r->n rounds. */
static void fire_loop(flow_racer *r, engine_session *s)
{
    for (int i = 0; i < 320 / r->n; i++)
        r->got += (long long)flow_fire(s, FLOW_T0 + 60000, (size_t)r->n);
}

TEST(two_timer_loops_fire_each_debounced_key_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_two_loops", RULES);
    flow_apply_spread(&fx, FLOW_T0, 200, "k", "doc.edited", "doc", 100, "{\"v\":1}");
    CHECK_INT(flow_race_two(&fx, fire_loop, 16), 100);
    CHECK_INT(runs(&fx), 100);
    CHECK_INT(flow_count(fx.s, "SELECT count(DISTINCT workflow_id) FROM runs"), 100);
    flow_fx_close(&fx);
}

TEST(the_timer_loop_wakes_for_what_flow_control_holds)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_next_due", RULES);
    flow_one(&fx, FLOW_T0, "n1", "doc.edited", "z", "{}");
    int64_t at = 0;
    sy_error err = {0};
    CHECK_INT(engine_next_timer(fx.s, &at, &err), SY_OK);
    CHECK_INT(at, FLOW_T0 + 10000);
    flow_fx_close(&fx);
}

/* ---- batch ------------------------------------------------------------------------ */

TEST(a_batch_starts_once_with_up_to_max_size_events_each_event_in_one_batch)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_batch", RULES);
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < 12; i++) {
        char id[16], payload[32];
        snprintf(id, sizeof id, "b%02d", i);
        snprintf(payload, sizeof payload, "{\"row\":%d}", i);
        flow_add_event(b, fx.rules, id, "row.added", "orders", payload);
    }
    CHECK_INT(flow_apply_at(fx.s, b, FLOW_T0), SY_OK);
    for (size_t i = 0; i < 12; i++)
        CHECK_INT(engine_batch_flow_outcome(b, i), RULES_FLOW_OUT_BATCHED);
    engine_batch_free(b);
    char *d = describe(&fx, "digest-orders-b00");
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"outcome\":\"batched\"") &&
                  strstr(d, "\"events\":12"),
              "%s", d);
    free(d);
    /* full: due at once, five at a time */
    fire_at(&fx, FLOW_T0);
    CHECK_INT(runs(&fx), 1);
    d = describe(&fx, "digest-orders-b05"); /* the next batch starts as its first */
    CHECK_MSG(strstr(d, "\"status\":\"pending\"") && strstr(d, "\"events\":7"), "%s", d);
    free(d);
    fire_at(&fx, FLOW_T0 + 5);
    fire_at(&fx, FLOW_T0 + 10);
    CHECK_INT(runs(&fx), 2); /* the last two opened the next batch at 5 ms */
    fire_at(&fx, FLOW_T0 + 2004);
    CHECK_INT(runs(&fx), 2);
    fire_at(&fx, FLOW_T0 + 2005); /* its timeout */
    CHECK_INT(runs(&fx), 3);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs WHERE workflow_id IN"
                               " ('digest-orders-b00', 'digest-orders-b05', 'digest-orders-b10')"
                               " AND input->>'table' = 'orders'"),
              3);
    /* each event in exactly one batch, in arrival order */
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs r, json_array_elements(r.input->'events')"
                               " WITH ORDINALITY AS e(ev, n) WHERE e.ev->>'event_id' ="
                               " 'b' || lpad(((CASE r.workflow_id WHEN 'digest-orders-b00' THEN 0"
                               " WHEN 'digest-orders-b05' THEN 5 ELSE 10 END) + n - 1)::text, 2,"
                               " '0')"),
              12);
    CHECK_INT(flow_count(fx.s, "SELECT max(json_array_length(input->'events')) FROM runs"), 5);
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM flow_items"), 0);
    CHECK_INT(engine_session_stat(fx.s, ENGINE_STAT_FLOW_FIRED), 3);
    flow_fx_close(&fx);
}

TEST(two_timer_loops_put_each_event_in_exactly_one_batch)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_batch_two_loops", RULES);
    flow_apply_spread(&fx, FLOW_T0, 300, "x", "row.added", "t", 20, "{}");
    flow_race_two(&fx, fire_loop, 8);
    CHECK_INT(runs(&fx), 60); /* 20 keys x 15 events, 5 a batch */
    CHECK_INT(flow_count(fx.s, "SELECT count(*) FROM runs, json_array_elements(input->'events')"),
              300);
    CHECK_INT(flow_count(fx.s, "SELECT count(DISTINCT e->>'event_id') FROM runs,"
                               " json_array_elements(input->'events') AS e"),
              300);
    flow_fx_close(&fx);
}
