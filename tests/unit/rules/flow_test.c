/* Unit tests for flow control in the rules (rules/flow.c, flow_sim.c,
 * load_flow.c, tests_steps.c): the decisions of each stage over time,
 * GCRA's bound on starts, the state's JSON round trip, load errors with
 * file:line:col, keys that render empty or too long as dead letters, and
 * embedded tests with steps. */
#include "envelope.h"
#include "rules.h"
#include "rules_int.h"
#include "rules_support.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define T0 1767225600000LL
#define WF "workflows:\n  w:\n    steps:\n      - task: t\n"

static void route(const rules_set *set, const char *type, const char *subject, const char *payload,
                  rules_actions *out)
{
    cJSON *p = cJSON_Parse(payload);
    envelope *env = NULL;
    sy_error err;
    CHECK(envelope_new("ev-1", type, "src", "2026-01-01T00:00:00Z", subject,
                       "4bf92f3577b34da6a3ce929d0e0e4736", 1, p, &env, &err) == SY_OK);
    cJSON_Delete(p);
    memset(out, 0, sizeof *out);
    CHECK_INT(rules_route(set, env, out), SY_OK);
    envelope_free(env);
}

/* ---- decisions ------------------------------------------------------------------ */

TEST(dedupe_drops_repeats_within_ttl_without_extending_it)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_DEDUPE, .ttl_ms = 1000};
    rules_flow_state s = {0};
    CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_PASSED);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 500), RULES_FLOW_OUT_DEDUPED);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 999), RULES_FLOW_OUT_DEDUPED);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 1000), RULES_FLOW_OUT_PASSED);
    CHECK_INT(rules_flow_expires(&sp, &s), T0 + 2000);
}

TEST(rate_limit_holds_in_every_sliding_window)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_RATE_LIMIT, .limit = 3, .period_ms = 1000};
    rules_flow_state s = {0};
    int64_t passed[4000];
    size_t np = 0;
    /* one event every 7 ms for 20 s: in any 1 s window at most 3 pass */
    for (int64_t t = T0; t < T0 + 20000; t += 7)
        if (rules_flow_on_event(&sp, &s, t) == RULES_FLOW_OUT_PASSED)
            passed[np++] = t;
    for (size_t i = 0; i + 3 < np; i++)
        CHECK_MSG(passed[i + 3] - passed[i] >= 1000, "4 passed within %lld ms",
                  (long long)(passed[i + 3] - passed[i]));
    CHECK(np >= 58 && np <= 61); /* 3 a second, nothing wasted */
    CHECK(s.ntimes <= 3);
    rules_flow_state_cleanup(&s);
}

TEST(debounce_fires_period_after_the_last_event_capped_by_timeout)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_DEBOUNCE, .period_ms = 1000, .timeout_ms = 2500};
    rules_flow_state s = {0};
    CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(s.fire_at, T0 + 1000);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 800), RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(s.fire_at, T0 + 1800);
    rules_flow_due d = rules_flow_on_due(&sp, &s, T0 + 1799, 10);
    CHECK_INT(d.fire, 0); /* not quiet long enough */
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 1700), RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 2400), RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(s.fire_at, T0 + 2500); /* the timeout caps it */
    d = rules_flow_on_due(&sp, &s, T0 + 2500, 10);
    CHECK_INT(d.fire, 1);
    CHECK_INT(d.events, 4);
    CHECK_INT(s.n, 0);
    CHECK_INT(s.fire_at, 0);
    CHECK_INT(rules_flow_on_event(&sp, &s, T0 + 2600), RULES_FLOW_OUT_DEBOUNCED);
    CHECK_INT(s.fire_at, T0 + 3600); /* a new quiet period, a new timeout */
}

/* Every start of a throttled key (passed, or fired by on_due up to 30 ms
 * after its fire_at, as a timer loop does) must stay within the bound:
 * in any window of w ms at most burst + 1 + w / T starts. */
TEST(throttle_never_exceeds_its_rate_and_keeps_fifo_order)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_THROTTLE, .limit = 10, .period_ms = 1000, .burst = 3};
    rules_flow_state s = {0};
    int64_t starts[2000];
    size_t ns = 0, queued = 0, fired_items = 0;
    int64_t t = T0;
    srand(7);
    while (t < T0 + 60000) {
        /* bursts of arrivals, then gaps */
        int n = rand() % 5;
        for (int i = 0; i < n; i++) {
            rules_flow_outcome o = rules_flow_on_event(&sp, &s, t);
            if (o == RULES_FLOW_OUT_PASSED)
                starts[ns++] = t;
            else
                queued++;
        }
        int64_t next = t + rand() % 400;
        while (s.fire_at && s.fire_at + 30 <= next) {
            int64_t at = s.fire_at + rand() % 30;
            rules_flow_due d = rules_flow_on_due(&sp, &s, at, 256);
            for (size_t i = 0; i < d.fire; i++)
                starts[ns++] = at;
            fired_items += d.items;
            CHECK(d.fire > 0);
        }
        t = next;
    }
    while (s.fire_at) {
        int64_t at = s.fire_at;
        rules_flow_due d = rules_flow_on_due(&sp, &s, at, 256);
        for (size_t i = 0; i < d.fire; i++)
            starts[ns++] = at;
        fired_items += d.items;
    }
    CHECK_INT(fired_items, queued); /* every queued event started once */
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i + 1; j < ns && starts[j] - starts[i] < 5000; j++) {
            int64_t w = starts[j] - starts[i];
            CHECK_MSG((int64_t)(j - i + 1) <= 3 + 1 + w / 100, "%zu starts in %lld ms", j - i + 1,
                      (long long)w);
        }
    for (size_t i = 1; i < ns; i++)
        CHECK(starts[i] >= starts[i - 1]); /* FIFO: in order */
}

TEST(throttle_spaces_a_backlog_evenly_at_the_rate)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_THROTTLE, .limit = 4, .period_ms = 1000, .burst = 1};
    rules_flow_state s = {0};
    CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_PASSED);
    for (int i = 0; i < 8; i++)
        CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_THROTTLED);
    CHECK_INT(s.fire_at, T0 + 250);
    CHECK_INT(rules_flow_held_due(&sp, &s), T0 + 2000); /* the 8th in line */
    CHECK_INT(rules_flow_on_due(&sp, &s, T0 + 249, 10).fire, 0);
    rules_flow_due d = rules_flow_on_due(&sp, &s, T0 + 1000, 10); /* a late timer loop */
    CHECK_INT(d.fire, 2); /* two at most, not the four it missed */
    CHECK_INT(s.fire_at, T0 + 1250);
    /* a loop a little late keeps the slots 250 ms apart: no drift */
    d = rules_flow_on_due(&sp, &s, T0 + 1253, 10);
    CHECK_INT(d.fire, 1);
    CHECK_INT(s.fire_at, T0 + 1500);
    d = rules_flow_on_due(&sp, &s, T0 + 1502, 10);
    CHECK_INT(s.fire_at, T0 + 1750);
}

/* A fast throttle's queue applied by a loop that is always a few tens of
 * ms late (its round and commit): slots within RULES_FLOW_CATCH_UP_MS keep
 * the schedule, so 100/s stays 100/s. With a grace of one interval (10 ms)
 * every round restarted the schedule: 84/s measured by bench flow. */
TEST(a_fast_throttle_keeps_its_rate_when_the_loop_is_always_late)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_THROTTLE, .limit = 100, .period_ms = 1000, .burst = 1};
    rules_flow_state s = {0};
    CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_PASSED);
    for (int i = 0; i < 2000; i++)
        rules_flow_on_event(&sp, &s, T0);
    int64_t fired = 0, now = T0;
    while (now < T0 + 10000) {
        now = (s.fire_at > now ? s.fire_at : now) + 30; /* every round 30 ms late */
        rules_flow_due d = rules_flow_on_due(&sp, &s, now, 1000);
        fired += (int64_t)d.fire;
    }
    /* 10 s at 100/s: 1000 starts, give or take the last round's */
    CHECK_MSG(fired >= 990 && fired <= 1010, "%lld starts in 10 s", (long long)fired);
}

TEST(batch_fires_at_max_size_or_timeout_and_never_more_than_max_size)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_BATCH, .max_size = 3, .timeout_ms = 5000};
    rules_flow_state s = {0};
    CHECK_INT(rules_flow_on_event(&sp, &s, T0), RULES_FLOW_OUT_BATCHED);
    CHECK_INT(s.fire_at, T0 + 5000);
    rules_flow_on_event(&sp, &s, T0 + 10);
    rules_flow_on_event(&sp, &s, T0 + 20);
    CHECK_INT(s.fire_at, T0 + 20); /* full: due at once */
    rules_flow_on_event(&sp, &s, T0 + 30);
    rules_flow_on_event(&sp, &s, T0 + 30);
    rules_flow_due d = rules_flow_on_due(&sp, &s, T0 + 40, 10);
    CHECK_INT(d.fire, 1);
    CHECK_INT(d.items, 3);
    CHECK_INT(s.n, 2);
    CHECK_INT(s.seq, 5);
    CHECK_INT(s.fire_at, T0 + 5040); /* the rest opened the next batch */
    d = rules_flow_on_due(&sp, &s, T0 + 5040, 10);
    CHECK_INT(d.items, 2);
    CHECK_INT(s.fire_at, 0);
}

TEST(state_json_round_trips_with_its_spec)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_RATE_LIMIT, .limit = 5, .period_ms = 60000};
    rules_flow_state s = {0};
    for (int i = 0; i < 3; i++)
        rules_flow_on_event(&sp, &s, T0 + i);
    cJSON *j = rules_flow_state_json(&sp, &s);
    rules_flow_spec sp2;
    rules_flow_state s2;
    CHECK_INT(rules_flow_state_parse(j, &sp2, &s2), SY_OK);
    CHECK_INT(sp2.kind, RULES_FLOW_RATE_LIMIT);
    CHECK_INT(sp2.limit, 5);
    CHECK_INT(sp2.period_ms, 60000);
    CHECK_INT(s2.ntimes, 3);
    CHECK_INT(s2.times[2], T0 + 2);
    cJSON_Delete(j);
    rules_flow_state_cleanup(&s2);
    cJSON *bad = cJSON_Parse("{\"kind\":\"sometimes\"}");
    CHECK_INT(rules_flow_state_parse(bad, &sp2, &s2), SY_INVALID);
    cJSON_Delete(bad);
    rules_flow_state_cleanup(&s);
    rules_flow_state_cleanup(&s2);
}

/* ---- loading -------------------------------------------------------------------- */

#define ROUTE(flow)                                                                                \
    WF "routes:\n"                                                                                 \
       "  - name: r\n"                                                                             \
       "    match: { type: a.b }\n"                                                                \
       "    start: { workflow: w, id: \"x-{{ event_id }}\" }\n" flow

TEST(bad_flow_configuration_is_an_error_with_its_position)
{
    rules_test_load_fails(ROUTE("    debounce: { key: \"{{ subject }}\", period: -5s }\n"),
                          "debounce.period", ":9:");
    rules_test_load_fails(ROUTE("    debounce: { key: \"{{ subject }}\", period: 0 }\n"),
                          "debounce.period must be greater than 0", ":9:");
    rules_test_load_fails(ROUTE("    throttle: { key: k, limit: 0, period: 1s }\n"),
                          "throttle.limit", ":9:");
    rules_test_load_fails(ROUTE("    rate_limit: { key: k, limit: 5000, period: 1s }\n"),
                          "rate_limit.limit must be at most 1000", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { key: k, tll: 1h }\n"),
                          "unknown key \"tll\" in dedupe (did you mean \"ttl\"?)", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { ttl: 1h }\n"), "dedupe needs key:", ":9:");
    rules_test_load_fails(ROUTE("    batch: { key: k, max_size: 10 }\n"),
                          "batch needs timeout:", ":9:");
    rules_test_load_fails(
        ROUTE("    debounce: { key: k, period: 1s }\n    throttle: { key: k, limit: 1, "
              "period: 1s }\n"),
        "at most one of debounce, throttle and batch", ":10:");
    rules_test_load_fails(ROUTE("    debounce: { key: k, period: 10s, timeout: 1s }\n"),
                          "debounce.timeout is shorter than debounce.period", ":9:");
}

TEST(a_key_template_that_can_fail_is_refused_at_load)
{
    rules_test_load_fails(ROUTE("    dedupe: { key: \"order-{{ payload.id }}\", ttl: 1h }\n"),
                          "dedupe.key \"order-{{ payload.id }}\" can fail", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { key: \"{{ payload.at | date }}\", ttl: 1h }\n"),
                          "date() fails", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { key: \"{{ type.x }}\", ttl: 1h }\n"),
                          "never has a value", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { key: \"{{ input.id }}\", ttl: 1h }\n"),
                          "unknown name", ":9:");
    rules_test_load_fails(ROUTE("    dedupe: { key: \"{{ payload.id | upperr }}\", ttl: 1h }\n"),
                          "unknown filter", ":9:");
    /* these cannot fail */
    rules_set *ok = rules_test_load_ok(
        ROUTE("    dedupe: { key: \"{{ type }}-{{ payload.id | default('none') }}-"
              "{{ occurred_at | date('%Y') }}-{{ payload | json }}\", ttl: 1h }\n"));
    rules_set_free(ok);
}

TEST(flow_needs_an_action_it_can_hold)
{
    rules_test_load_fails(WF "routes:\n  - name: r\n    match: { type: a.b }\n    drop: true\n"
                             "    dedupe: { key: k, ttl: 1s }\n",
                          "dedupe needs a start or signal action", ":9:");
    rules_test_load_fails(WF "routes:\n  - name: r\n    match: { type: a.b }\n"
                             "    signal: { id: \"x\", name: go }\n"
                             "    batch: { key: k, max_size: 2, timeout: 1s }\n",
                          "batch needs a start action", ":9:");
}

/* ---- keys at run time ------------------------------------------------------------- */

TEST(a_key_that_renders_empty_or_too_long_is_a_dead_letter_with_the_reason)
{
    rules_set *set =
        rules_test_load_ok(ROUTE("    debounce: { key: \"{{ payload.k }}\", period: 1s }\n"));
    rules_actions a;
    route(set, "a.b", NULL, "{}", &a); /* missing: renders empty */
    CHECK_INT(a.len, 1);
    CHECK_INT(a.items[0].kind, RULES_DEAD_LETTER);
    CHECK_STR(a.items[0].dl_code, "bad_flow_key");
    CHECK(strstr(a.items[0].dl_message, "debounce.key \"{{ payload.k }}\" rendered empty"));
    rules_actions_cleanup(&a);
    char payload[700];
    snprintf(payload, sizeof payload, "{\"k\":\"%0600d\"}", 0);
    route(set, "a.b", NULL, payload, &a);
    CHECK_INT(a.items[0].kind, RULES_DEAD_LETTER);
    CHECK(strstr(a.items[0].dl_message, "debounce.key is 600 bytes, more than 512"));
    rules_actions_cleanup(&a);
    route(set, "a.b", NULL, "{\"k\":42}", &a);
    CHECK_INT(a.items[0].kind, RULES_START);
    CHECK_INT(a.items[0].nflow, 1);
    CHECK_STR(a.items[0].flow[0].key, "42");
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

/* ---- simulation and embedded tests --------------------------------------------------- */

TEST(the_simulation_fires_held_actions_when_the_clock_passes_them)
{
    rules_set *set = rules_test_load_ok(
        ROUTE("    batch: { key: \"{{ subject }}\", max_size: 2, timeout: 5s }\n"));
    rules_flow_sim *sim = rules_flow_sim_new();
    rules_actions a, fired = {0};
    cJSON *ev = cJSON_Parse("{\"event_id\":\"e\"}");
    for (int i = 0; i < 3; i++) {
        route(set, "a.b", "s1", "{}", &a);
        CHECK_INT(rules_flow_sim_event(sim, T0 + i, ev, &a), SY_OK);
        CHECK_INT(a.items[0].flow_outcome, RULES_FLOW_OUT_BATCHED);
        rules_actions_cleanup(&a);
    }
    CHECK_INT(rules_flow_sim_advance(sim, T0 + 2, &fired), SY_OK);
    CHECK_INT(fired.len, 1); /* the full batch, at once */
    CHECK_INT(fired.items[0].flow_events, 2);
    CHECK_INT(fired.items[0].flow_outcome, RULES_FLOW_OUT_FIRED);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(fired.items[0].input, "events")));
    rules_actions_cleanup(&fired);
    CHECK_INT(rules_flow_sim_advance(sim, INT64_MAX, &fired), SY_OK);
    CHECK_INT(fired.len, 1);
    CHECK_INT(fired.items[0].flow_fire_at, T0 + 2 + 5000);
    rules_actions_cleanup(&fired);
    rules_flow_sim_free(sim);
    cJSON_Delete(ev);
    rules_set_free(set);
}

static size_t run_tests(const char *text, rules_diags *fails)
{
    rules_set *set = rules_test_load_ok(text);
    size_t n = rules_run_tests(set, fails);
    for (size_t i = 0; i < fails->len; i++)
        fprintf(stderr, "fail: %s\n", fails->lines[i]);
    rules_set_free(set);
    return n;
}

TEST(embedded_tests_with_steps_check_what_fires_and_when)
{
    rules_diags f = {0};
    CHECK_INT(run_tests(ROUTE("    debounce: { key: \"{{ subject }}\", period: 10s }\n"
                              "tests:\n"
                              "  - name: quiet\n"
                              "    steps:\n"
                              "      - event: { type: a.b, subject: s }\n"
                              "        expect: [ { route: r, flow: { outcome: debounced, keys: { "
                              "debounce: s } } } ]\n"
                              "      - after: 9s\n"
                              "        event: { type: a.b, subject: s, event_id: last }\n"
                              "        expect: [ { route: r, flow: { fire_at: "
                              "\"2026-01-01T00:00:19.000Z\" } } ]\n"
                              "      - after: 10s\n"
                              "        fired: [ { route: r, start: { id: x-last }, flow: { "
                              "outcome: fired, events: 2 } } ]\n"),
                        &f),
              1);
    CHECK_INT(f.len, 0);
    rules_diags_cleanup(&f);
    /* a wrong expectation fails at its step's line; an unexpected firing too */
    run_tests(ROUTE("    debounce: { key: \"{{ subject }}\", period: 10s }\n"
                    "tests:\n"
                    "  - name: wrong\n"
                    "    steps:\n"
                    "      - event: { type: a.b, subject: s }\n"
                    "        expect: [ { route: r, flow: { outcome: passed } } ]\n"
                    "      - after: 1m\n"),
              &f);
    CHECK_INT(f.len, 2);
    CHECK(strstr(f.lines[0], ":13:9: test wrong failed: action 1"));
    CHECK(strstr(f.lines[1], ":15:9: test wrong failed: expected 0 fired actions, got 1"));
    rules_diags_cleanup(&f);
}

TEST(debounce_holds_the_latest_event_by_occurred_at_whatever_the_arrival_order)
{
    rules_flow_spec sp = {.kind = RULES_FLOW_DEBOUNCE, .period_ms = 1000};
    rules_flow_state s = {0};
    rules_flow_on_event(&sp, &s, T0);
    CHECK(rules_flow_debounce_takes(&s, T0 + 5)); /* the first is held */
    rules_flow_on_event(&sp, &s, T0 + 10);
    CHECK(!rules_flow_debounce_takes(&s, T0 + 2)); /* older: it only delays */
    CHECK_INT(s.fire_at, T0 + 1010);
    rules_flow_on_event(&sp, &s, T0 + 20);
    CHECK(rules_flow_debounce_takes(&s, T0 + 5)); /* equal: arrival order */
    rules_flow_on_due(&sp, &s, T0 + 1020, 10);
    rules_flow_on_event(&sp, &s, T0 + 2000);
    CHECK(rules_flow_debounce_takes(&s, T0 - 100000)); /* a new period holds any */
}

/* ---- a workflow's concurrency and priority (rules/concurrency.c) ---------------- */

#define CONC_WF(lines)                                                                             \
    "routes:\n  - name: r\n    match: { type: a.b }\n    start: { workflow: w, id: x }\n"          \
    "workflows:\n  w:\n" lines "    steps:\n      - task: t\n"

TEST(bad_concurrency_configuration_is_an_error_with_its_position)
{
    rules_test_load_fails(CONC_WF("    concurrency: { key: k, limit: 0 }\n"), "concurrency.limit",
                          ":7:");
    rules_test_load_fails(
        CONC_WF("    concurrency: { key: k, limit: 2, strategy: cancel_oldest }\n"),
        "concurrency.strategy: unknown value \"cancel_oldest\"", ":7:");
    rules_test_load_fails(CONC_WF("    concurrency: { limit: 2 }\n"),
                          "concurrency needs key:", ":7:");
    rules_test_load_fails(CONC_WF("    concurrency: { key: k }\n"),
                          "concurrency needs limit:", ":7:");
    rules_test_load_fails(CONC_WF("    concurrency: { key: k, limt: 2 }\n"),
                          "unknown key \"limt\" in concurrency (did you mean \"limit\"?)", ":7:");
    rules_test_load_fails(CONC_WF("    concurrency: { key: \"{{ payload.c }}\", limit: 2 }\n"),
                          "unknown name \"payload\"", ":7:");
    rules_test_load_fails(CONC_WF("    concurrency: { key: k, limit: 20000 }\n"),
                          "concurrency.limit must be at most 10000", ":7:");
    rules_test_load_fails(CONC_WF("    priority: 1.5\n"), "priority must be an integer", ":7:");
    rules_test_load_fails(CONC_WF("    priority: \"{{ input.p | upperr }}\"\n"), "unknown filter",
                          ":7:");
}

TEST(a_start_s_concurrency_key_and_priority_render_from_its_input)
{
    rules_set *set =
        rules_test_load_ok(CONC_WF("    concurrency: { key: \"{{ input.c }}\", limit: 3,"
                                   " strategy: round_robin }\n    priority: \"{{ input.p }}\"\n"));
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(rules_set_workflows(set), "w");
    cJSON *in = cJSON_Parse("{\"c\":\"acme\",\"p\":\"7\"}");
    rules_admission a;
    sy_error err = {0};
    CHECK_INT(rules_admission_render(def, "x", in, &a, &err), SY_OK);
    CHECK(a.has_concurrency);
    CHECK_STR(a.key, "acme");
    CHECK_INT(a.limit, 3);
    CHECK_INT(a.strategy, RULES_CONC_ROUND_ROBIN);
    CHECK_INT(a.priority, 7);
    rules_admission_cleanup(&a);
    cJSON_Delete(in);
    in = cJSON_Parse("{\"p\":1}"); /* no key */
    CHECK_INT(rules_admission_render(def, "x", in, &a, &err), SY_INVALID);
    CHECK_STR(err.code, "bad_concurrency_key");
    CHECK_MSG(strstr(err.message, "rendered empty"), "%s", err.message);
    cJSON_Delete(in);
    in = cJSON_Parse("{\"c\":\"acme\",\"p\":\"high\"}");
    CHECK_INT(rules_admission_render(def, "x", in, &a, &err), SY_INVALID);
    CHECK_STR(err.code, "bad_priority");
    cJSON_Delete(in);
    in = cJSON_Parse("{\"c\":\"acme\"}"); /* no priority: 0 */
    CHECK_INT(rules_admission_render(def, "x", in, &a, &err), SY_OK);
    CHECK_INT(a.priority, 0);
    rules_admission_cleanup(&a);
    cJSON_Delete(in);
    rules_set_free(set);
}

TEST(a_routed_start_carries_its_admission_and_a_bad_key_is_a_dead_letter)
{
    rules_set *set = rules_test_load_ok(
        "routes:\n  - name: r\n    match: { type: a.b }\n"
        "    start: { workflow: w, id: \"x-{{ event_id }}\", input: { c: \"{{ payload.c }}\" } }\n"
        "workflows:\n  w:\n    concurrency: { key: \"{{ input.c }}\", limit: 2 }\n"
        "    priority: 3\n    steps:\n      - task: t\n");
    rules_actions acts;
    route(set, "a.b", NULL, "{\"c\":\"acme\"}", &acts);
    CHECK_INT(acts.len, 1);
    cJSON *j = rules_action_to_json(&acts.items[0]);
    char *s = cJSON_PrintUnformatted(j);
    CHECK_MSG(strstr(s, "\"admission\":{\"key\":\"acme\",\"limit\":2,\"strategy\":\"queue\","
                        "\"priority\":3}"),
              "%s", s);
    free(s);
    cJSON_Delete(j);
    rules_actions_cleanup(&acts);
    route(set, "a.b", NULL, "{}", &acts);
    CHECK_INT(acts.items[0].kind, RULES_DEAD_LETTER);
    CHECK_STR(acts.items[0].dl_code, "bad_concurrency_key");
    CHECK_MSG(strstr(acts.items[0].dl_message,
                     "route \"r\": concurrency.key \"{{ input.c }}\" rendered empty"),
              "%s", acts.items[0].dl_message);
    rules_actions_cleanup(&acts);
    rules_set_free(set);
}

/* ---- a task queue's dispatch limit (max_in_flight on a task step) ---------------- */

#define MIF_WF(steps)                                                                              \
    "routes:\n  - name: r\n    match: { type: a.b }\n    start: { workflow: w, id: x }\n"          \
    "workflows:\n  w:\n    task_queue: q\n    steps:\n" steps

TEST(max_in_flight_is_kept_on_the_task_step_and_the_foreach_task)
{
    rules_set *set = rules_test_load_ok(MIF_WF("      - task: t\n        max_in_flight: 2\n"
                                    "      - foreach: \"{{ input.xs }}\"\n"
                                    "        task: { task: u, queue: other, max_in_flight: 5 }\n"
                                    "      - task: v\n        queue: free\n"));
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(rules_set_workflows(set), "w"), "steps");
    const cJSON *t = cJSON_GetArrayItem(steps, 0);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(t, "max_in_flight")->valueint, 2);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, 1), "task");
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(u, "max_in_flight")->valueint, 5);
    CHECK(!cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(steps, 2), "max_in_flight"));
    rules_set_free(set);
}

TEST(bad_max_in_flight_is_an_error_with_its_position)
{
    rules_test_load_fails(MIF_WF("      - task: t\n        max_in_flight: 0\n"),
               "max_in_flight must be an integer >= 1", ":10:");
    rules_test_load_fails(MIF_WF("      - task: t\n        max_in_flight: 20000\n"),
               "max_in_flight must be at most 10000", ":10:");
    rules_test_load_fails(MIF_WF("      - task: t\n        max_in_flight: two\n"),
               "max_in_flight must be an integer", ":10:");
    rules_test_load_fails(MIF_WF("      - task: t\n        max_in_flght: 2\n"),
               "(did you mean \"max_in_flight\"?)", ":10:");
    /* the workflow's queue q twice with two limits: the second is refused */
    rules_test_load_fails(MIF_WF("      - task: t\n        max_in_flight: 2\n"
                      "      - task: u\n        queue: q\n        max_in_flight: 3\n"),
               "max_in_flight 3 for queue \"q\" differs from the 2", ":13:");
}
