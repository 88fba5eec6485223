/* engine_flow_control.c: flow control in the engine against real Postgres
 * (engine/flow.c): dedupe and rate_limit decided under the keys' row locks
 * in the batch's transaction, across batches, inside one batch and across
 * concurrent sessions; dropped events keep their inbox row (a redelivery is
 * a duplicate, not a second decision); expired keys are purged; a rules set
 * whose flow control the engine does not apply is refused. */
#include "flow_support.h"

#include <pthread.h>

static const char RULES[] = "version: 1\n"
                            "routes:\n"
                            "  - name: once\n"
                            "    match: { type: order.placed }\n"
                            "    dedupe: { key: \"{{ payload.order }}\", ttl: 1h }\n"
                            "    start: { workflow: w, id: \"o-{{ event_id }}\" }\n"
                            "  - name: limited\n"
                            "    match: { type: mail.send }\n"
                            "    rate_limit: { key: \"{{ subject }}\", limit: 2, period: 1m }\n"
                            "    start: { workflow: w, id: \"m-{{ event_id }}\" }\n"
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
typedef struct racer {
    const char *conninfo;
    const rules_set *rules;
    int which;
    int passed;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_error err = {0};
    engine_opts o = {0};
    CHECK(engine_new(&o, r->rules, &eng, &err) == SY_OK);
    CHECK(engine_session_open(eng, r->conninfo, false, &s, &err) == SY_OK);
    for (int i = 0; i < 50; i++) {
        engine_batch *b = engine_batch_new();
        char id[32], payload[32];
        snprintf(id, sizeof id, "r%d-%d", r->which, i);
        snprintf(payload, sizeof payload, "{\"order\":%d}", i);
        flow_add_event(b, r->rules, id, "order.placed", NULL, payload);
        CHECK_INT(flow_apply_at(s, b, FLOW_T0), SY_OK);
        r->passed += engine_batch_flow_outcome(b, 0) == RULES_FLOW_OUT_PASSED;
        engine_batch_free(b);
    }
    engine_session_close(s);
    engine_free(eng);
    return NULL;
}

TEST(concurrent_sessions_pass_each_dedupe_key_once)
{
    flow_fx fx;
    flow_fx_open(&fx, "flow_race", RULES);
    racer rs[2] = {{fx.conninfo, fx.rules, 0, 0}, {fx.conninfo, fx.rules, 1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, race, &rs[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(rs[0].passed + rs[1].passed, 50);
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

TEST(a_rules_set_with_flow_control_the_engine_does_not_apply_is_refused)
{
    for (int k = 0; k < RULES_FLOW_KINDS; k++) {
        if (engine_flow_supported((rules_flow_kind)k))
            continue;
        static const char *const stage[] = {"", "", "    debounce: { key: k, period: 1s }\n",
                                            "    throttle: { key: k, limit: 1, period: 1s }\n",
                                            "    batch: { key: k, max_size: 2, timeout: 1s }\n"};
        char text[512];
        snprintf(text, sizeof text,
                 "routes:\n  - name: held\n    match: { type: a.b }\n%s"
                 "    start: { workflow: w, id: x }\nworkflows:\n  w:\n    steps:\n"
                 "      - task: t\n",
                 stage[k]);
        rules_set *set = flow_load_rules(text);
        engine *eng = NULL;
        sy_error err = {0};
        CHECK_INT(engine_new(NULL, set, &eng, &err), SY_CONFIG);
        CHECK(strstr(err.message, "route \"held\""));
        rules_set_free(set);
    }
}
