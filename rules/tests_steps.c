/* tests_steps.c: embedded tests made of steps, for what happens over time
 * (flow control: dedupe windows, rate limits, debounced, throttled and
 * batched starts):
 *
 *   - name: debounced edits start once
 *     steps:
 *       - event: { type: doc.edited, subject: d1 }
 *         expect: [ { route: index-doc, flow: { outcome: debounced } } ]
 *       - after: 10s
 *         fired: [ { route: index-doc, start: { id: index-d1 } } ]
 *
 * The clock starts at 2026-01-01T00:00:00Z. A step first moves it by
 * `after` (a duration, default 0): the held actions due meanwhile fire as
 * the timer loop would fire them and must match `fired` (the same number,
 * in order, each a subset; no `fired` means nothing may fire). Then its
 * `event` (whose occurred_at defaults to the clock) is routed and must
 * produce `expect`. Flow control is simulated in memory (flow_sim.c). */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const step_keys[] = {"after", "event", "expect", "fired", "correlated"};

static bool load_step(rules_loader *ld, rules_test_step *st, const rnode *m, size_t test_index,
                      int64_t *clock)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "a test step"))
        return false;
    rules__check_keys(ld, m, "a test step", step_keys, 5);
    st->line = m->line;
    st->col = m->col;
    const rnode *n;
    if ((n = rules__map_get(m, "after"))) {
        if (!rules__get_duration(ld, n, "after", &st->after_ms))
            return false;
        if (st->after_ms < 0) {
            rules__diag(ld->d, n, "after must not be negative");
            return false;
        }
    }
    *clock += st->after_ms;
    if ((n = rules__map_get(m, "fired"))) {
        if (!rules__test_expect_list(ld, n, "fired (a list of actions, [] for none)"))
            return false;
        st->fired = rules__node_json(n);
    }
    const rnode *ev = rules__map_get(m, "event"), *ex = rules__map_get(m, "expect");
    if (!ev && !n && !rules__map_get(m, "after")) {
        rules__diag(ld->d, m, "a test step needs after:, event: or fired:");
        return false;
    }
    if (!ev != !ex) {
        rules__diag(ld->d, m, "a test step's event: needs expect: (and expect: an event:)");
        return false;
    }
    if (!ev)
        return true;
    if (!rules__test_expect_list(ld, ex, "expect (a list of actions, [] for none)"))
        return false;
    const rnode *co = rules__map_get(m, "correlated");
    if (co) {
        if (!rules__expect_kind(ld, co, RN_SEQ, "correlated (a list, [] for none)"))
            return false;
        st->correlated = rules__node_json(co);
    }
    st->event = rules__test_event(ld, ev, test_index, *clock);
    st->expect = rules__node_json(ex);
    return st->event != NULL;
}

bool rules__load_test_steps(rules_loader *ld, rules_test_def *t, const rnode *steps)
{
    if (!rules__expect_kind(ld, steps, RN_SEQ, "steps (a list)"))
        return false;
    if (steps->n == 0) {
        rules__diag(ld->d, steps, "test %s has no steps", t->name);
        return false;
    }
    t->steps = calloc(steps->n, sizeof *t->steps);
    if (!t->steps)
        abort();
    int64_t clock = RULES__TEST_EPOCH_MS;
    bool ok = true;
    for (size_t i = 0; i < steps->n; i++) {
        /* counted before it is filled: the set frees what a failed step kept */
        t->nsteps++;
        ok &= load_step(ld, &t->steps[i], steps->vals[i], ld->set->ntests, &clock);
    }
    return ok;
}

/* What the step's event correlated with (corr_sim.c) against its
 * `correlated:` list: as many, in order, each a subset. */
static void compare_corr(const rules_test_def *t, const rules_test_step *st, const cJSON *got,
                         rules_diags *failures)
{
    if (!st->correlated)
        return;
    int nw = cJSON_GetArraySize(st->correlated), ng = cJSON_GetArraySize(got);
    bool ok = nw == ng;
    for (const cJSON *w = st->correlated->child, *g = got->child; ok && w; w = w->next, g = g->next)
        ok = rules__json_subset(w, g);
    if (ok)
        return;
    char *ws = cJSON_PrintUnformatted(st->correlated), *gs = cJSON_PrintUnformatted(got);
    rules__diag_at(failures, t->file, st->line, st->col,
                   "test %s: expected correlated %.300s, got %.300s", t->name, ws ? ws : "?",
                   gs ? gs : "?");
    free(ws);
    free(gs);
}

void rules__run_test_steps(const rules_set *set, const rules_test_def *t, rules_diags *failures)
{
    rules_flow_sim *sim = rules_flow_sim_new();
    rules_corr_sim *corr = rules_corr_sim_new(set);
    int64_t clock = RULES__TEST_EPOCH_MS;
    static const cJSON none = {.type = cJSON_Array};
    for (size_t i = 0; sim && i < t->nsteps; i++) {
        const rules_test_step *st = &t->steps[i];
        rules_actions fired = {0}, acts = {0};
        clock += st->after_ms;
        bool ok = rules_flow_sim_advance(sim, clock, &fired) == SY_OK;
        if (ok)
            rules__test_compare(t, st->line, st->col, "fired action", st->fired ? st->fired : &none,
                                &fired, failures);
        rules_corr_sim_starts(corr, clock, NULL, &fired);
        cJSON_Delete(rules_corr_sim_take_lookbacks(corr));
        if (ok && st->event)
            ok = rules__route_json(set, st->event, &acts) == SY_OK &&
                 rules_flow_sim_event(sim, clock, st->event, &acts) == SY_OK;
        if (ok && st->event) {
            rules__test_compare(t, st->line, st->col, "action", st->expect, &acts, failures);
            /* before its own starts: a run never correlates the event that started it */
            cJSON *got = rules_corr_sim_event(corr, clock, st->event);
            rules_corr_sim_starts(corr, clock, NULL, &acts);
            cJSON *lb = rules_corr_sim_take_lookbacks(corr); /* its runs' lookbacks */
            while (cJSON_GetArraySize(lb) > 0)
                cJSON_AddItemToArray(got, cJSON_DetachItemFromArray(lb, 0));
            cJSON_Delete(lb);
            compare_corr(t, st, got, failures);
            cJSON_Delete(got);
        }
        if (!ok)
            rules__diag_at(failures, t->file, st->line, st->col, "test %s: out of memory", t->name);
        rules_actions_cleanup(&fired);
        rules_actions_cleanup(&acts);
    }
    if (!sim)
        rules__diag_at(failures, t->file, t->line, t->col, "test %s: out of memory", t->name);
    rules_flow_sim_free(sim);
    rules_corr_sim_free(corr);
}
