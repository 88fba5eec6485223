/* corr_sim.c: correlation simulated in memory for `switchyard route` and
 * embedded `tests:` (docs/flow-control.md, "Correlation"). The dry run
 * keeps the runs its starts would begin (workflow ID, type, input, the
 * event that started it) and, for each later event of a correlated type,
 * says which of them it would cancel (cancel_on, within its window) or
 * resume (the run's next wait_event step, its steps in order as if
 * everything between them completed at once). The same where expressions
 * decide, over the same context as the engine's ({event, input, steps,
 * workflow}); what the simulation does not know (a run's tasks, lookback
 * and timeouts) it leaves out. */
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

struct rules_corr_sim {
    const rules_set *set;
    cJSON *runs; /* object: workflow ID -> {type, input, cause, at, wait, steps} */
};

rules_corr_sim *rules_corr_sim_new(const rules_set *set)
{
    rules_corr_sim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->set = set;
    s->runs = cJSON_CreateObject();
    return s;
}

void rules_corr_sim_free(rules_corr_sim *sim)
{
    if (!sim)
        return;
    cJSON_Delete(sim->runs);
    free(sim);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(get(o, k));
    return s ? s : "";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A start (or signal-with-start) to a workflow that correlates begins a
 * simulated run, unless one of that ID is open. */
static void add_start(rules_corr_sim *sim, int64_t now, const char *event_id, const rules_action *a)
{
    const cJSON *def = get(rules_set_workflows(sim->set), a->workflow ? a->workflow : "");
    if (!def || !a->workflow_id || get(sim->runs, a->workflow_id))
        return;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", a->workflow);
    cJSON_AddItemToObject(r, "input",
                          a->input ? cJSON_Duplicate(a->input, 1) : cJSON_CreateObject());
    cJSON_AddStringToObject(r, "cause", event_id ? event_id : "");
    cJSON_AddNumberToObject(r, "at", (double)now);
    cJSON_AddNumberToObject(r, "wait", 0);
    cJSON_AddObjectToObject(r, "steps");
    cJSON_AddItemToObject(sim->runs, a->workflow_id, r);
}

void rules_corr_sim_starts(rules_corr_sim *sim, int64_t now, const char *event_id,
                           const rules_actions *acts)
{
    for (size_t i = 0; sim && i < acts->len; i++) {
        const rules_action *a = &acts->items[i];
        bool held = a->flow_outcome != RULES_FLOW_OUT_NONE &&
                    a->flow_outcome != RULES_FLOW_OUT_PASSED &&
                    a->flow_outcome != RULES_FLOW_OUT_FIRED;
        if (!held && (a->kind == RULES_START ||
                      (a->kind == RULES_SIGNAL && a->if_missing == RULES_IF_MISSING_START)))
            add_start(sim, now, event_id, a);
    }
}

/* The wait_event step number n of a step list (top level, in order). */
static const cJSON *nth_wait(const cJSON *steps, int n)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, steps)
    {
        if (strcmp(str(s, "kind"), "wait_event") == 0 && n-- == 0)
            return s;
    }
    return NULL;
}

static bool holds(const char *where, const cJSON *run, const char *wid, const cJSON *ev,
                  bool with_steps)
{
    cJSON *ctx = cJSON_CreateObject();
    cJSON *wf = cJSON_AddObjectToObject(ctx, "workflow");
    cJSON_AddStringToObject(wf, "id", wid);
    cJSON_AddStringToObject(wf, "type", str(run, "type"));
    cJSON_AddItemReferenceToObject(ctx, "input", (cJSON *)get(run, "input"));
    if (with_steps)
        cJSON_AddItemReferenceToObject(ctx, "steps", (cJSON *)get(run, "steps"));
    cJSON_AddItemReferenceToObject(ctx, "event", (cJSON *)ev);
    bool yes = false;
    sy_error e;
    if (rules_eval(where, ctx, &yes, &e) != SY_OK)
        yes = false;
    cJSON_Delete(ctx);
    return yes;
}

static cJSON *match_json(const char *kind, const char *wid, const cJSON *run, const char *step)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON_AddStringToObject(m, "workflow", str(run, "type"));
    cJSON_AddStringToObject(m, "workflow_id", wid);
    if (step)
        cJSON_AddStringToObject(m, "step", step);
    return m;
}

/* Whether run (open) is canceled by ev at now; adds the match to out. */
static bool cancels(const cJSON *def, const cJSON *run, const char *wid, const cJSON *ev,
                    const char *type, int64_t now, cJSON *out)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, get(def, "cancel_on"))
    {
        double within = num(c, "within_ms");
        if (strcmp(str(c, "event_type"), type) || (within > 0 && now >= num(run, "at") + within))
            continue;
        if (holds(str(c, "where"), run, wid, ev, false)) {
            cJSON_AddItemToArray(out, match_json("cancel_on", wid, run, NULL));
            return true;
        }
    }
    return false;
}

cJSON *rules_corr_sim_event(rules_corr_sim *sim, int64_t now, const cJSON *ev)
{
    cJSON *out = cJSON_CreateArray();
    const char *type = str(ev, "type"), *event_id = str(ev, "event_id");
    if (!sim || !rules_set_correlates(sim->set, type))
        return out;
    const cJSON *defs = rules_set_workflows(sim->set);
    cJSON *run = sim->runs->child;
    while (run) {
        cJSON *next = run->next;
        const cJSON *def = get(defs, str(run, "type"));
        const char *wid = run->string;
        if (*event_id && !strcmp(str(run, "cause"), event_id)) { /* its own start's event */
            run = next;
            continue;
        }
        if (cancels(def, run, wid, ev, type, now, out)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(sim->runs, run));
            run = next;
            continue;
        }
        int n = (int)num(run, "wait");
        const cJSON *w = nth_wait(get(def, "steps"), n);
        if (w && !strcmp(str(w, "event_type"), type) &&
            holds(str(w, "where"), run, wid, ev, true)) {
            cJSON_AddItemToArray(out, match_json("wait_event", wid, run, str(w, "name")));
            cJSON *st = cJSON_AddObjectToObject((cJSON *)get(run, "steps"), str(w, "name"));
            cJSON_AddItemToObject(st, "result", cJSON_Duplicate(get(ev, "payload"), 1));
            cJSON_AddItemToObject(st, "event", cJSON_Duplicate(ev, 1));
            cJSON_ReplaceItemInObjectCaseSensitive(run, "wait", cJSON_CreateNumber(n + 1));
        }
        run = next;
    }
    return out;
}
