/* Unit tests for correlation in the rules (rules/load_corr.c, corr_sim.c,
 * docs/flow-control.md "Correlation"): cancel_on and wait_event load into
 * the normalised definition, bad ones are errors with file:line:col, the
 * correlated types make an event "matched" for the router, and the dry
 * run's simulation says what a later event cancels or resumes, which
 * embedded tests can assert. */
#include "envelope.h"
#include "rules.h"
#include "rules_int.h"
#include "rules_support.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define RULES                                                                                      \
    "routes:\n"                                                                                    \
    "  - name: orders\n"                                                                           \
    "    match: { type: order.placed }\n"                                                          \
    "    start: { workflow: fulfil, id: \"o-{{ payload.id }}\", input: { id: \"{{ payload.id "     \
    "}}\" } }\n"                                                                                   \
    "workflows:\n"                                                                                 \
    "  fulfil:\n"                                                                                  \
    "    cancel_on:\n"                                                                             \
    "      - type: order.canceled\n"                                                               \
    "        where: event.payload.id == input.id\n"                                                \
    "        within: 1h\n"                                                                         \
    "    steps:\n"                                                                                 \
    "      - wait_event: payment.received\n"                                                       \
    "        name: paid\n"                                                                         \
    "        where: event.payload.id == input.id\n"                                                \
    "        timeout: 1d\n"                                                                        \
    "        lookback: 10m\n"                                                                      \
    "      - wait_event: order.shipped\n"                                                          \
    "        where: event.payload.id == input.id && steps.paid.result.amount > 0\n"                \
    "      - task: notify\n"

TEST(cancel_on_and_wait_event_load_into_the_definition)
{
    rules_set *set = rules_test_load_ok(RULES);
    const cJSON *wf = cJSON_GetObjectItem(rules_set_workflows(set), "fulfil");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(wf, "cancel_on"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "event_type")), "order.canceled");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "where")),
              "event.payload.id == input.id");
    CHECK_INT((long long)cJSON_GetObjectItem(c, "within_ms")->valuedouble, 3600000);
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(wf, "steps"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "kind")), "wait_event");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "name")), "paid");
    CHECK_INT((long long)cJSON_GetObjectItem(w, "timeout_ms")->valuedouble, 86400000);
    CHECK_INT((long long)cJSON_GetObjectItem(w, "lookback_ms")->valuedouble, 600000);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "on_timeout")), "fail");
    /* a default name is the event type */
    w = cJSON_GetArrayItem(cJSON_GetObjectItem(wf, "steps"), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(w, "name")), "order.shipped");
    CHECK(rules_set_correlates(set, "order.canceled"));
    CHECK(rules_set_correlates(set, "payment.received"));
    CHECK(!rules_set_correlates(set, "order.placed"));
    rules_set_free(set);
}

TEST(an_event_only_correlated_is_not_unmatched)
{
    rules_set *set = rules_test_load_ok(RULES);
    cJSON *p = cJSON_Parse("{\"id\":\"1\"}");
    envelope *env = NULL;
    sy_error err;
    CHECK(envelope_new("e1", "order.canceled", "src", "2026-01-01T00:00:00Z", NULL,
                       "4bf92f3577b34da6a3ce929d0e0e4736", 1, p, &env, &err) == SY_OK);
    cJSON_Delete(p);
    rules_actions acts = {0};
    CHECK_INT(rules_route(set, env, &acts), SY_OK);
    CHECK_INT(acts.len, 0);
    CHECK(acts.correlate);
    CHECK(!acts.unmatched);
    rules_actions_cleanup(&acts);
    envelope_free(env);
    rules_set_free(set);
}

#define WF_HEAD "workflows:\n  w:\n"

TEST(bad_correlation_is_an_error_with_its_position)
{
    rules_test_load_fails(WF_HEAD
                          "    cancel_on:\n      - type: a.b\n    steps:\n      - task: t\n",
                          "cancel_on[0] needs where:", ":4:9:");
    rules_test_load_fails(WF_HEAD "    cancel_on:\n      - type: a.*\n        where: \"true\"\n"
                                  "    steps:\n      - task: t\n",
                          "must be an exact event type", ":4:15:");
    rules_test_load_fails(WF_HEAD "    cancel_on:\n      - type: a.b\n        where: evnt.x == 1\n"
                                  "    steps:\n      - task: t\n",
                          "in where: unknown name \"evnt\" (did you mean \"event\"", ":5:16:");
    /* a cancel_on applies from the start: it knows no steps */
    rules_test_load_fails(WF_HEAD "    cancel_on:\n      - type: a.b\n        where: steps.x == 1\n"
                                  "    steps:\n      - task: t\n",
                          "unknown name \"steps\"", ":5:16:");
    rules_test_load_fails(
        WF_HEAD "    cancel_on:\n      - type: a.b\n        where: \"true\"\n        within: -5s\n"
                "    steps:\n      - task: t\n",
        "within", ":6:17:");
    rules_test_load_fails(
        WF_HEAD "    cancel_on:\n      - { type: a.b, where: \"true\", whithin: 1h }\n"
                "    steps:\n      - task: t\n",
        "unknown key \"whithin\" in cancel_on[0] (did you mean \"within\"", ":4:37:");
    rules_test_load_fails(WF_HEAD "    steps:\n      - wait_event: a.b\n        timeout: 1h\n",
                          "wait_event needs where:", ":4:9:");
    rules_test_load_fails(WF_HEAD
                          "    steps:\n      - wait_event: a.b\n        where: event.x == 1\n"
                          "        lookback: -1m\n",
                          "lookback", ":6:19:");
    rules_test_load_fails(WF_HEAD
                          "    steps:\n      - wait_event: a.b\n        where: \"event.type ==\"\n",
                          "in where:", ":5:");
    rules_test_load_fails(WF_HEAD "    steps:\n      - wait_event: a.b\n        where: \"true\"\n"
                                  "        on_timeout: skip\n",
                          "on_timeout: unknown value \"skip\"", ":6:21:");
}

static size_t run_tests(const char *text, rules_diags *failures)
{
    rules_set *set = rules_test_load_ok(text);
    size_t n = rules_run_tests(set, failures);
    for (size_t i = 0; i < failures->len; i++)
        fprintf(stderr, "failure: %s\n", failures->lines[i]);
    rules_set_free(set);
    return n;
}

TEST(embedded_tests_assert_what_an_event_cancels_or_resumes)
{
    rules_diags f = {0};
    CHECK_INT(
        run_tests(RULES
                  "tests:\n"
                  "  - name: correlated\n"
                  "    steps:\n"
                  "      - event: { type: order.placed, payload: { id: \"1\" } }\n"
                  "        expect: [ { route: orders } ]\n"
                  "      - event: { type: order.placed, payload: { id: \"2\" } }\n"
                  "        expect: [ { route: orders } ]\n"
                  "        correlated: []\n"
                  "      - event: { type: payment.received, payload: { id: \"1\", amount: 5 } }\n"
                  "        expect: []\n"
                  "        correlated: [ { kind: wait_event, workflow_id: o-1, step: paid } ]\n"
                  "      - event: { type: order.shipped, payload: { id: \"1\" } }\n"
                  "        expect: []\n"
                  "        correlated: [ { kind: wait_event, step: order.shipped } ]\n"
                  "      - event: { type: order.canceled, payload: { id: \"2\" } }\n"
                  "        expect: []\n"
                  "        correlated: [ { kind: cancel_on, workflow_id: o-2 } ]\n"
                  "      - event: { type: order.canceled, payload: { id: \"2\" } }\n"
                  "        expect: []\n"
                  "        correlated: []\n"
                  "      - after: 2h\n"
                  "        event: { type: order.canceled, payload: { id: \"1\" } }\n"
                  "        expect: []\n"
                  "        correlated: []\n",
                  &f),
        1);
    CHECK_INT(f.len, 0);
    rules_diags_cleanup(&f);
    /* a wrong expectation fails at its step */
    run_tests(RULES "tests:\n"
                    "  - name: wrong\n"
                    "    steps:\n"
                    "      - event: { type: order.placed, payload: { id: \"1\" } }\n"
                    "        expect: [ { route: orders } ]\n"
                    "      - event: { type: order.canceled, payload: { id: \"9\" } }\n"
                    "        expect: []\n"
                    "        correlated: [ { kind: cancel_on, workflow_id: o-1 } ]\n",
              &f);
    CHECK_INT(f.len, 1);
    CHECK(strstr(f.lines[0], ":25:9: test wrong: expected correlated"));
    rules_diags_cleanup(&f);
}

#define JOIN_RULES                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: ship\n"                                                                             \
    "    join:\n"                                                                                  \
    "      key: \"{{ payload.id }}\"\n"                                                            \
    "      events:\n"                                                                              \
    "        paid: { type: j.paid }\n"                                                             \
    "        packed: { type: j.packed, where: \"payload.boxes > 0\" }\n"                           \
    "        address: { type: j.address }\n"                                                       \
    "      when: paid && (packed || address)\n"                                                    \
    "      window: 1h\n"                                                                           \
    "    start: { workflow: w, id: \"ship-{{ key }}\", input: { amount: \"{{ "                     \
    "events.paid.payload.amount }}\" } }\n"                                                        \
    "workflows:\n"                                                                                 \
    "  w:\n"                                                                                       \
    "    steps:\n"                                                                                 \
    "      - task: t\n"

TEST(a_join_route_loads_and_decides)
{
    rules_set *set = rules_test_load_ok(JOIN_RULES);
    CHECK(rules_set_correlates(set, "j.paid"));
    CHECK(rules_set_correlates(set, "j.packed"));
    size_t r = rules_join_find(set, "ship");
    CHECK(r != SIZE_MAX);
    CHECK_INT(rules_join_window(set, r), 3600000);
    cJSON *ev = cJSON_Parse("{\"type\":\"j.packed\",\"payload\":{\"id\":\"k\",\"boxes\":0}}");
    rules_join_hit hits[4];
    CHECK_INT(rules_join_hits(set, ev, hits, 4), 0); /* its where does not hold */
    cJSON_Delete(ev);
    ev = cJSON_Parse("{\"type\":\"j.paid\",\"payload\":{\"id\":\"k\",\"amount\":3}}");
    CHECK_INT(rules_join_hits(set, ev, hits, 4), 1);
    CHECK_STR(hits[0].part, "paid");
    CHECK_STR(hits[0].key, "k");
    free(hits[0].key);
    cJSON *events = cJSON_CreateObject();
    cJSON_AddItemToObject(events, "paid", ev);
    CHECK(!rules_join_ready(set, r, events));
    cJSON_AddItemToObject(events, "address", cJSON_CreateObject());
    CHECK(rules_join_ready(set, r, events));
    rules_actions acts = {0};
    CHECK_INT(rules_join_start(set, r, "k", events, &acts), SY_OK);
    CHECK_INT(acts.len, 1);
    CHECK_STR(acts.items[0].workflow_id, "ship-k");
    CHECK_INT((long long)cJSON_GetObjectItem(acts.items[0].input, "amount")->valuedouble, 3);
    rules_actions_cleanup(&acts);
    cJSON_Delete(events);
    rules_set_free(set);
}

TEST(a_bad_join_is_an_error_with_its_position)
{
    const char *wf = "workflows:\n  w:\n    steps:\n      - task: t\n";
    char text[1024];
    snprintf(text, sizeof text,
             "routes:\n  - name: j\n    join:\n      key: \"{{ payload.id }}\"\n"
             "      events: { a: { type: x.a }, b: { type: x.b } }\n      when: a && c\n"
             "      window: 1h\n    start: { workflow: w, id: \"j-{{ key }}\" }\n%s",
             wf);
    rules_test_load_fails(text, "in when: unknown name \"c\"", ":6:18:");
    snprintf(text, sizeof text,
             "routes:\n  - name: j\n    join:\n      key: \"{{ payload.id }}\"\n"
             "      events: { a: { type: x.a }, b: { type: x.b } }\n"
             "    start: { workflow: w, id: \"j-{{ key }}\" }\n%s",
             wf);
    rules_test_load_fails(text, "join needs window:", ":4:7:");
    snprintf(text, sizeof text,
             "routes:\n  - name: j\n    join:\n      key: \"{{ payload.id }}\"\n"
             "      events: { a: { type: x.a }, b: { type: x.b } }\n      window: 1h\n"
             "    start: { workflow: w, id: \"j-{{ payload.id }}\" }\n%s",
             wf);
    rules_test_load_fails(text, "unknown name \"payload\"", ":7:");
    snprintf(text, sizeof text,
             "routes:\n  - name: j\n    join:\n      key: \"{{ payload.id }}\"\n"
             "      events: { a: { type: x.a } }\n      window: 1h\n"
             "    start: { workflow: w, id: \"j-{{ key }}\" }\n%s",
             wf);
    rules_test_load_fails(text, "join needs events: (two or more", ":5:15:");
}

TEST(embedded_tests_follow_a_join_to_its_start)
{
    rules_diags f = {0};
    CHECK_INT(run_tests(JOIN_RULES
                        "tests:\n"
                        "  - name: joined\n"
                        "    steps:\n"
                        "      - event: { type: j.paid, payload: { id: a, amount: 5 } }\n"
                        "        expect: []\n"
                        "        correlated: [ { kind: join, route: ship, key: a, "
                        "event: paid, outcome: waiting } ]\n"
                        "      - after: 2h\n"
                        "        event: { type: j.address, payload: { id: a } }\n"
                        "        expect: []\n"
                        "        correlated: [ { kind: join, outcome: waiting } ]\n"
                        "      - event: { type: j.paid, payload: { id: a, amount: 6 } }\n"
                        "        expect: []\n"
                        "        correlated: [ { kind: join, outcome: started, "
                        "workflow_id: ship-a } ]\n",
                        &f),
              1);
    CHECK_INT(f.len, 0);
    rules_diags_cleanup(&f);
}

/* Stream order has nothing to fence only when no two events can name one
 * workflow: every ID is P{{ event_id }}S with one P and S, nothing
 * correlates, joins, flow-controls or limits concurrency. */
#define ORDER_WF                                                                                   \
    "workflows:\n"                                                                                 \
    "  w:\n"                                                                                       \
    "    steps:\n"                                                                                 \
    "      - task: t\n"
#define ORDER_ROUTE(name, type, id)                                                                \
    "  - name: " name "\n"                                                                         \
    "    match: { type: " type " }\n"                                                              \
    "    start: { workflow: w, id: \"" id "\" }\n"

static bool order_free(const char *text)
{
    rules_set *set = rules_test_load_ok(text);
    bool free_ = rules_set_order_free(set);
    rules_set_free(set);
    return free_;
}

TEST(only_rules_where_no_two_events_name_one_workflow_are_order_free)
{
    CHECK(order_free("routes:\n" ORDER_ROUTE("a", "x", "b-{{ event_id }}") ORDER_WF));
    CHECK(order_free("routes:\n" ORDER_ROUTE("a", "x", "b-{{event_id}}-z")
                         ORDER_ROUTE("b", "y", "b-{{ event_id }}-z") ORDER_WF));
    CHECK(order_free("routes:\n"
                     "  - name: d\n"
                     "    match: { type: x }\n"
                     "    dead_letter: { code: no, reason: not wanted }\n" ORDER_WF));
    /* an ID from the payload: two events may name one workflow */
    CHECK(!order_free("routes:\n" ORDER_ROUTE("a", "x", "b-{{ payload.id }}") ORDER_WF));
    /* a filter may map two event IDs to one */
    CHECK(!order_free("routes:\n" ORDER_ROUTE("a", "x", "b-{{ event_id | lower }}") ORDER_WF));
    CHECK(!order_free("routes:\n" ORDER_ROUTE("a", "x", "{{ event_id }}-{{ type }}") ORDER_WF));
    /* two prefixes: "a-" + "b-1" is "a-b-" + "1" */
    CHECK(!order_free("routes:\n" ORDER_ROUTE("a", "x", "a-{{ event_id }}")
                          ORDER_ROUTE("b", "y", "a-b-{{ event_id }}") ORDER_WF));
    CHECK(!order_free("routes:\n" ORDER_ROUTE("a", "x", "a-{{ event_id }}")
                          ORDER_ROUTE("b", "y", "a-{{ event_id }}-b") ORDER_WF));
    /* a signal by the payload names another event's workflow */
    CHECK(!order_free("routes:\n" ORDER_ROUTE(
        "a", "x",
        "a-{{ event_id }}") "  - name: s\n"
                            "    match: { type: y }\n"
                            "    signal: { id: \"a-{{ payload.id }}\", name: go }\n" ORDER_WF));
    /* correlation acts on whichever runs wait */
    CHECK(!order_free(RULES));
    /* flow control and concurrency decide by other keys */
    CHECK(!order_free("routes:\n" ORDER_ROUTE(
        "a", "x",
        "a-{{ event_id }}") "    dedupe: { key: \"{{ payload.id }}\", ttl: 1h }\n" ORDER_WF));
    CHECK(!order_free("routes:\n" ORDER_ROUTE(
        "a", "x", "a-{{ event_id }}") "workflows:\n"
                                      "  w:\n"
                                      "    concurrency: { key: \"{{ input.k }}\", limit: 1 }\n"
                                      "    steps:\n"
                                      "      - task: t\n"));
}

/* Keyed correlation (rules_corr_key / rules_corr_event_key): a where with an
 * equality on the event has a key; the key of an event at the path equals
 * the subscription's exactly when that equality holds (the same kind and
 * value: "1" is not 1, -0 is 0); any other where has none (scan). */
static void key_of(const char *where, const char *ctx_json, const char *want_path,
                   const char *want_key)
{
    cJSON *ctx = cJSON_Parse(ctx_json);
    char *path = NULL, *key = NULL;
    rules_corr_key(where, ctx, &path, &key);
    if (!want_path) {
        CHECK_MSG(!path && !key, "%s: keyed %s %s", where, path, key);
    } else {
        CHECK_MSG(path && key, "%s: no key", where);
        CHECK_STR(path ? path : "", want_path);
        CHECK_STR(key ? key : "", want_key);
    }
    free(path);
    free(key);
    cJSON_Delete(ctx);
}

static void event_key(const char *ev_json, const char *path, const char *want)
{
    cJSON *ev = cJSON_Parse(ev_json);
    char *key = rules_corr_event_key(ev, path);
    if (!want)
        CHECK_MSG(!key, "%s at %s: %s", ev_json, path, key);
    else
        CHECK_STR(key ? key : "(none)", want);
    free(key);
    cJSON_Delete(ev);
}

TEST(a_where_with_an_equality_on_the_event_is_keyed_by_the_value_it_subscribed_with)
{
    const char *in = "{\"input\":{\"order_id\":\"A1\",\"n\":3,\"z\":-0.0,\"o\":{\"a\":1}},"
                     "\"steps\":{\"s\":{\"result\":{\"id\":true}}}}";
    key_of("event.payload.order_id == input.order_id", in, "[\"payload\",\"order_id\"]", "s:A1");
    key_of("input.n == event.payload.items[0].n", in, "[\"payload\",\"items\",0,\"n\"]", "n:3");
    key_of("event.payload.amount > 0 && event.payload[\"odd key\"] == input.order_id", in,
           "[\"payload\",\"odd key\"]", "s:A1");
    key_of("event.subject == steps.s.result.id && event.payload.x != 1", in, "[\"subject\"]",
           "b:true");
    key_of("event.payload.z == input.z", in, "[\"payload\",\"z\"]", "n:0");
    key_of("event.payload.m == input.missing", in, "[\"payload\",\"m\"]", "z:");
    key_of("event.payload.k == \"lit\"", in, "[\"payload\",\"k\"]", "s:lit");
    /* the run's own value before a literal, which every run shares */
    key_of("event.payload.ok == true && input.n == event.payload.ref", in, "[\"payload\",\"ref\"]",
           "n:3");
    /* none: an ||, a negation, an order, an object, the event on both sides */
    key_of("event.payload.order_id == input.order_id || true", in, NULL, NULL);
    key_of("!(event.payload.order_id == input.order_id)", in, NULL, NULL);
    key_of("event.payload.n >= input.n", in, NULL, NULL);
    key_of("event.payload.o == input.o", in, NULL, NULL);
    key_of("event.payload.a == event.payload.b", in, NULL, NULL);
    key_of("event == input.o", in, NULL, NULL);
    key_of("true", in, NULL, NULL);
    key_of("(((", in, NULL, NULL);

    event_key("{\"payload\":{\"order_id\":\"A1\"}}", "[\"payload\",\"order_id\"]", "s:A1");
    event_key("{\"payload\":{\"order_id\":1}}", "[\"payload\",\"order_id\"]", "n:1");
    event_key("{\"payload\":{\"order_id\":\"1\"}}", "[\"payload\",\"order_id\"]", "s:1");
    event_key("{\"payload\":{\"items\":[{\"n\":3.0}]}}", "[\"payload\",\"items\",0,\"n\"]", "n:3");
    event_key("{\"payload\":{}}", "[\"payload\",\"order_id\"]", "z:");
    event_key("{\"payload\":{\"order_id\":null}}", "[\"payload\",\"order_id\"]", "z:");
    event_key("{\"payload\":{\"order_id\":{\"a\":1}}}", "[\"payload\",\"order_id\"]", NULL);
    event_key("{\"payload\":{\"z\":-0.0}}", "[\"payload\",\"z\"]", "n:0");
    event_key("{}", "not a path", NULL);
}

/* Dry runs honour a wait_event's lookback (an earlier event within it is
 * taken when the wait begins, reported on the line that started the run)
 * and its timeout (by the clock: the wait fails the run, or with
 * on_timeout: continue moves to the next wait). */
TEST(embedded_tests_honour_wait_event_lookback_and_timeout)
{
    rules_diags f = {0};
    static char text[8192];
    snprintf(text, sizeof text, "%s%s",
             "routes:\n"
             "  - name: cont\n"
             "    match: { type: c.start }\n"
             "    start: { workflow: cont, id: \"c-{{ payload.id }}\", input: { id: \"{{ "
             "payload.id }}\" } }\n",
             RULES + strlen("routes:\n"));
    strncat(text,
            "  cont:\n"
            "    steps:\n"
            "      - wait_event: ping\n"
            "        name: first\n"
            "        where: event.payload.id == input.id\n"
            "        timeout: 1h\n"
            "        on_timeout: continue\n"
            "      - wait_event: ping\n"
            "        name: second\n"
            "        where: event.payload.id == input.id\n"
            "tests:\n"
            "  - name: lookback and timeout\n"
            "    steps:\n"
            "      - event: { type: payment.received, payload: { id: \"1\", amount: 5 } }\n"
            "        expect: []\n"
            "        correlated: []\n"
            "      - after: 5m\n"
            "        event: { type: order.placed, payload: { id: \"1\" } }\n"
            "        expect: [ { route: orders } ]\n"
            "        correlated: [ { kind: wait_event, workflow_id: o-1, step: paid,"
            " lookback: true } ]\n"
            "      - event: { type: order.shipped, payload: { id: \"1\" } }\n"
            "        expect: []\n"
            "        correlated: [ { kind: wait_event, workflow_id: o-1 } ]\n"
            "      - after: 20m\n"
            "        event: { type: order.placed, payload: { id: \"2\" } }\n"
            "        expect: [ { route: orders } ]\n"
            "        correlated: []\n"
            "      - after: 11m\n"
            "        event: { type: payment.received, payload: { id: \"9\", amount: 1 } }\n"
            "        expect: []\n"
            "        correlated: []\n"
            "      - after: 25h\n"
            "        event: { type: payment.received, payload: { id: \"2\", amount: 1 } }\n"
            "        expect: []\n"
            "        correlated: []\n"
            "      - event: { type: order.canceled, payload: { id: \"2\" } }\n"
            "        expect: []\n"
            "        correlated: []\n"
            "      - event: { type: c.start, payload: { id: \"c\" } }\n"
            "        expect: [ { route: cont } ]\n"
            "      - after: 2h\n"
            "        event: { type: ping, payload: { id: \"c\" } }\n"
            "        expect: []\n"
            "        correlated: [ { kind: wait_event, workflow_id: c-c, step: second } ]\n",
            sizeof text - strlen(text) - 1);
    CHECK_INT(run_tests(text, &f), 1);
    for (size_t i = 0; i < f.len; i++)
        fprintf(stderr, "%s\n", f.lines[i]);
    CHECK_INT(f.len, 0);
    rules_diags_cleanup(&f);
}
