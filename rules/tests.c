/* tests.c: embedded rule tests (`tests:` in the rules file). Each test is an
 * event (envelope fields it omits get defaults; it is validated as a real
 * envelope at load) and the actions it must produce: the same number, in
 * order, each expected action a subset of the actual one. `switchyard check`
 * runs them; a failure points at the test's line. */
#include "rules_int.h"

#include "envelope.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const test_keys[] = {"name", "event", "expect", "steps"};
static const char *const event_keys[] = {"event_id", "type",           "source",   "occurred_at",
                                         "subject",  "schema_version", "trace_id", "payload"};
static const char *const expect_keys[] = {"route",       "start", "signal",   "drop",
                                          "dead_letter", "flow",  "admission"};
static const char *const exp_flow_keys[] = {"outcome", "keys", "fire_at", "events"};
static const char *const exp_start_keys[] = {"workflow",   "id",         "input",
                                             "task_queue", "if_running", "if_closed"};
static const char *const exp_signal_keys[] = {"id", "name", "payload", "if_missing", "start"};

/* Fills envelope defaults and validates the event as a real envelope. */
cJSON *rules__test_event(rules_loader *ld, const rnode *n, size_t index, int64_t at_ms)
{
    if (!rules__expect_kind(ld, n, RN_MAP, "a test's event"))
        return NULL;
    if (!rules__check_keys(ld, n, "a test's event", event_keys, 8))
        return NULL;
    cJSON *ev = rules__node_json(n);
    char id[64];
    snprintf(id, sizeof id, "test-%zu", index + 1);
    char at[SY_TIME_RFC3339_MAX];
    sy_time_format_rfc3339(at_ms, at);
    const struct {
        const char *k, *v;
    } defaults[] = {
        {"source", "test"}, {"occurred_at", at}, {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"}};
    if (!cJSON_GetObjectItemCaseSensitive(ev, "event_id"))
        cJSON_AddStringToObject(ev, "event_id", id);
    for (size_t i = 0; i < 3; i++)
        if (!cJSON_GetObjectItemCaseSensitive(ev, defaults[i].k))
            cJSON_AddStringToObject(ev, defaults[i].k, defaults[i].v);
    if (!cJSON_GetObjectItemCaseSensitive(ev, "schema_version"))
        cJSON_AddNumberToObject(ev, "schema_version", 1);
    if (!cJSON_GetObjectItemCaseSensitive(ev, "payload"))
        cJSON_AddItemToObject(ev, "payload", cJSON_CreateObject());
    if (!cJSON_GetObjectItemCaseSensitive(ev, "type")) {
        rules__diag(ld->d, n, "a test's event needs type:");
        cJSON_Delete(ev);
        return NULL;
    }
    char *body = cJSON_PrintUnformatted(ev);
    envelope *env = NULL;
    sy_error e;
    sy_error_clear(&e);
    envelope_opts eo = {0};
    sy_status st = body ? envelope_parse(body, strlen(body), NULL, &eo, &env, &e) : SY_NOMEM;
    free(body);
    cJSON *out = NULL;
    if (st != SY_OK)
        rules__diag(ld->d, n, "the test's event is not a valid envelope: %s%s%s", e.path,
                    *e.path ? ": " : "", e.message);
    else
        out = cJSON_Duplicate(envelope_json(env), true);
    envelope_free(env);
    cJSON_Delete(ev);
    return out;
}

static void check_expect_item(rules_loader *ld, const rnode *n)
{
    if (!rules__expect_kind(ld, n, RN_MAP, "an expected action"))
        return;
    rules__check_keys(ld, n, "an expected action", expect_keys, 7);
    const rnode *v;
    if ((v = rules__map_get(n, "start")) && rules__expect_kind(ld, v, RN_MAP, "start"))
        rules__check_keys(ld, v, "an expected start", exp_start_keys, 6);
    if ((v = rules__map_get(n, "signal")) && rules__expect_kind(ld, v, RN_MAP, "signal"))
        rules__check_keys(ld, v, "an expected signal", exp_signal_keys, 5);
    if ((v = rules__map_get(n, "flow")) && rules__expect_kind(ld, v, RN_MAP, "flow"))
        rules__check_keys(ld, v, "an expected flow", exp_flow_keys, 4);
}

bool rules__test_expect_list(rules_loader *ld, const rnode *n, const char *what)
{
    if (!rules__expect_kind(ld, n, RN_SEQ, what))
        return false;
    for (size_t i = 0; i < n->n; i++)
        check_expect_item(ld, n->vals[i]);
    return true;
}

static void load_test(rules_loader *ld, const rnode *m)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "a test"))
        return;
    rules__check_keys(ld, m, "a test", test_keys, 4);
    rules_set *set = ld->set;
    if (set->ntests == ld->tests_cap) {
        ld->tests_cap = ld->tests_cap ? ld->tests_cap * 2 : 8;
        set->tests = realloc(set->tests, ld->tests_cap * sizeof *set->tests);
        if (!set->tests)
            abort();
    }
    rules_test_def *t = &set->tests[set->ntests];
    memset(t, 0, sizeof *t);
    t->file = m->file;
    t->line = m->line;
    t->col = m->col;
    const rnode *n = rules__map_get(m, "name");
    char dflt[32];
    snprintf(dflt, sizeof dflt, "#%zu", set->ntests + 1);
    t->name = rules__strdup(&set->arena, dflt);
    if (n)
        rules__get_string(ld, n, "name", &t->name);
    const rnode *ev = rules__map_get(m, "event"), *ex = rules__map_get(m, "expect");
    const rnode *steps = rules__map_get(m, "steps");
    if (steps && (ev || ex)) {
        rules__diag(ld->d, steps, "test %s has steps: and event:/expect: (steps hold the events)",
                    t->name);
        return;
    }
    if (steps) {
        rules__load_test_steps(ld, t, steps); /* counted either way: the set frees them */
        set->ntests++;
        return;
    }
    if (!ev || !ex) {
        rules__diag(ld->d, m, "test %s needs event: and expect: (or steps:)", t->name);
        return;
    }
    if (!rules__test_expect_list(ld, ex, "expect (a list of actions, [] for none)"))
        return;
    t->event = rules__test_event(ld, ev, set->ntests, RULES__TEST_EPOCH_MS);
    t->expect = rules__node_json(ex);
    set->ntests++;
}

void rules__load_tests(rules_loader *ld, const rnode *seq)
{
    if (!rules__expect_kind(ld, seq, RN_SEQ, "tests"))
        return;
    for (size_t i = 0; i < seq->n; i++)
        load_test(ld, seq->vals[i]);
}

/* ---- actions as JSON ------------------------------------------------------------- */

static void add_start_fields(cJSON *o, const rules_action *a, bool with_id)
{
    cJSON_AddStringToObject(o, "workflow", a->workflow ? a->workflow : "");
    if (with_id && a->workflow_id)
        cJSON_AddStringToObject(o, "id", a->workflow_id);
    cJSON_AddItemToObject(o, "input",
                          a->input ? cJSON_Duplicate(a->input, true) : cJSON_CreateObject());
    if (a->task_queue)
        cJSON_AddStringToObject(o, "task_queue", a->task_queue);
    cJSON_AddStringToObject(o, "if_running", rules__if_running_name(a->if_running));
    cJSON_AddStringToObject(o, "if_closed", rules__if_closed_name(a->if_closed));
}

cJSON *rules__flow_json(const rules_action *a)
{
    if (!a->nflow)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (a->flow_outcome != RULES_FLOW_OUT_NONE)
        cJSON_AddStringToObject(o, "outcome", rules_flow_outcome_name(a->flow_outcome));
    cJSON *keys = cJSON_AddObjectToObject(o, "keys");
    for (size_t i = 0; i < a->nflow; i++)
        cJSON_AddStringToObject(keys, rules_flow_kind_name(a->flow[i].spec->kind),
                                a->flow[i].key ? a->flow[i].key : "");
    if (a->flow_fire_at > 0) {
        char at[SY_TIME_RFC3339_MAX];
        cJSON_AddStringToObject(o, "fire_at", sy_time_format_rfc3339(a->flow_fire_at, at));
    }
    if (a->flow_outcome == RULES_FLOW_OUT_FIRED)
        cJSON_AddNumberToObject(o, "events", (double)a->flow_events);
    return o;
}

static void add_flow(cJSON *o, const rules_action *a)
{
    cJSON *f = rules__flow_json(a);
    if (f)
        cJSON_AddItemToObject(o, "flow", f);
}

cJSON *rules__action_expect_json(const rules_action *a)
{
    cJSON *o = cJSON_CreateObject(), *x;
    cJSON_AddStringToObject(o, "route", a->route ? a->route : "");
    switch (a->kind) {
    case RULES_START:
        add_start_fields(cJSON_AddObjectToObject(o, "start"), a, true);
        break;
    case RULES_SIGNAL:
        x = cJSON_AddObjectToObject(o, "signal");
        cJSON_AddStringToObject(x, "id", a->workflow_id ? a->workflow_id : "");
        cJSON_AddStringToObject(x, "name", a->signal ? a->signal : "");
        cJSON_AddItemToObject(x, "payload",
                              a->signal_payload ? cJSON_Duplicate(a->signal_payload, true)
                                                : cJSON_CreateNull());
        cJSON_AddStringToObject(x, "if_missing", rules__if_missing_name(a->if_missing));
        if (a->workflow)
            add_start_fields(cJSON_AddObjectToObject(x, "start"), a, false);
        break;
    case RULES_DROP:
        cJSON_AddTrueToObject(o, "drop");
        break;
    case RULES_DEAD_LETTER:
        x = cJSON_AddObjectToObject(o, "dead_letter");
        cJSON_AddStringToObject(x, "code", a->dl_code ? a->dl_code : "");
        cJSON_AddStringToObject(x, "reason", a->dl_message ? a->dl_message : "");
        break;
    }
    add_flow(o, a);
    if (a->admission)
        cJSON_AddItemToObject(o, "admission", cJSON_Duplicate(a->admission, true));
    return o;
}

cJSON *rules__action_route_json(const rules_action *a)
{
    static const char *const kinds[] = {"start", "signal", "drop", "dead_letter"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "route", a->route ? a->route : "");
    cJSON_AddStringToObject(o, "action", kinds[a->kind]);
    if (a->workflow)
        cJSON_AddStringToObject(o, "workflow", a->workflow);
    if (a->workflow_id)
        cJSON_AddStringToObject(o, "workflow_id", a->workflow_id);
    if (a->signal)
        cJSON_AddStringToObject(o, "signal", a->signal);
    if (a->kind == RULES_START || (a->kind == RULES_SIGNAL && a->workflow))
        cJSON_AddItemToObject(o, "input",
                              a->input ? cJSON_Duplicate(a->input, true) : cJSON_CreateObject());
    if (a->kind == RULES_SIGNAL)
        cJSON_AddItemToObject(o, "payload",
                              a->signal_payload ? cJSON_Duplicate(a->signal_payload, true)
                                                : cJSON_CreateNull());
    if (a->task_queue)
        cJSON_AddStringToObject(o, "task_queue", a->task_queue);
    if (a->kind == RULES_START || (a->kind == RULES_SIGNAL && a->workflow)) {
        cJSON_AddStringToObject(o, "if_running", rules__if_running_name(a->if_running));
        cJSON_AddStringToObject(o, "if_closed", rules__if_closed_name(a->if_closed));
    }
    if (a->kind == RULES_SIGNAL)
        cJSON_AddStringToObject(o, "if_missing", rules__if_missing_name(a->if_missing));
    if (a->kind == RULES_DEAD_LETTER) {
        cJSON_AddStringToObject(o, "code", a->dl_code ? a->dl_code : "");
        cJSON_AddStringToObject(o, "message", a->dl_message ? a->dl_message : "");
    }
    add_flow(o, a);
    if (a->admission)
        cJSON_AddItemToObject(o, "admission", cJSON_Duplicate(a->admission, true));
    return o;
}

cJSON *rules_action_to_json(const rules_action *a)
{
    return rules__action_route_json(a);
}

/* ---- running ------------------------------------------------------------------------ */

bool rules__json_subset(const cJSON *want, const cJSON *got)
{
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(got))
            return false;
        const cJSON *w;
        cJSON_ArrayForEach(w, want)
        {
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, w->string);
            if (!g || !rules__json_subset(w, g))
                return false;
        }
        return true;
    }
    if (cJSON_IsTrue(want) && cJSON_IsObject(got))
        return true; /* `dead_letter: true`: any dead letter */
    if (cJSON_IsArray(want)) {
        if (!cJSON_IsArray(got) || cJSON_GetArraySize(want) != cJSON_GetArraySize(got))
            return false;
        for (const cJSON *w = want->child, *g = got->child; w; w = w->next, g = g->next)
            if (!rules__json_subset(w, g))
                return false;
        return true;
    }
    return cJSON_Compare(want, got, true);
}

static void fail_test(const rules_test_def *t, int line, int col, rules_diags *failures,
                      const char *what, const cJSON *got)
{
    char *g = got ? cJSON_PrintUnformatted(got) : NULL;
    rules__diag_at(failures, t->file, line, col, "test %s failed: %s%s%s", t->name, what,
                   g ? "; got " : "", g ? g : "");
    free(g);
}

void rules__test_compare(const rules_test_def *t, int line, int col, const char *label,
                         const cJSON *want, const rules_actions *acts, rules_diags *failures)
{
    cJSON *got = cJSON_CreateArray();
    for (size_t i = 0; i < acts->len; i++)
        cJSON_AddItemToArray(got, rules__action_expect_json(&acts->items[i]));
    int nwant = cJSON_GetArraySize(want), ngot = (int)acts->len;
    char what[300];
    if (nwant != ngot) {
        snprintf(what, sizeof what, "expected %d %s%s, got %d", nwant, label,
                 nwant == 1 ? "" : "s", ngot);
        fail_test(t, line, col, failures, what, got);
    } else {
        int i = 0;
        for (const cJSON *w = want->child, *g = got->child; w; w = w->next, g = g->next, i++)
            if (!rules__json_subset(w, g)) {
                char *ws = cJSON_PrintUnformatted(w);
                snprintf(what, sizeof what, "%s %d: expected %.200s", label, i + 1,
                         ws ? ws : "?");
                free(ws);
                fail_test(t, line, col, failures, what, g);
            }
    }
    cJSON_Delete(got);
}

/* One event, routed at its occurred_at with flow control simulated from
 * an empty state (the first event of a key passes its filters). */
static void run_test(const rules_set *set, const rules_test_def *t, rules_diags *failures)
{
    rules_actions acts = {0};
    rules_flow_sim *sim = rules_flow_sim_new();
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t->event, "occurred_at"));
    int64_t now = RULES__TEST_EPOCH_MS;
    sy_error e;
    if (!at || sy_time_parse_rfc3339(at, NULL, &now, &e) != SY_OK)
        now = RULES__TEST_EPOCH_MS;
    if (!sim || rules__route_json(set, t->event, &acts) != SY_OK ||
        rules_flow_sim_event(sim, now, t->event, &acts) != SY_OK)
        fail_test(t, t->line, t->col, failures, "out of memory", NULL);
    else
        rules__test_compare(t, t->line, t->col, "action", t->expect, &acts, failures);
    rules_flow_sim_free(sim);
    rules_actions_cleanup(&acts);
}

size_t rules_run_tests(const rules_set *set, rules_diags *failures)
{
    for (size_t i = 0; i < set->ntests; i++) {
        if (set->tests[i].steps)
            rules__run_test_steps(set, &set->tests[i], failures);
        else if (set->tests[i].event)
            run_test(set, &set->tests[i], failures);
    }
    return set->ntests;
}
