/* corr_sim.c: correlation simulated in memory for `switchyard route` and
 * embedded `tests:` (docs/flow-control.md, "Correlation"). The dry run
 * keeps the runs its starts would begin (workflow ID, type, input, the
 * event that started it) and, for each later event of a correlated type,
 * says which of them it would cancel (cancel_on, within its window) or
 * resume (the run's next wait_event step, its steps in order as if
 * everything between them completed at once). The same where expressions
 * decide, over the same context as the engine's ({event, input, steps,
 * workflow}). A wait_event step's timeout is honoured by the clock (a
 * run whose wait timed out fails, or with on_timeout: continue goes on to
 * its next wait), and its lookback over the correlated events the dry run
 * has seen (the last CORR_SIM_KEEP); what it does not know (a run's
 * tasks) it leaves out. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORR_SIM_KEEP 1000 /* correlated events kept for lookbacks */

struct rules_corr_sim {
    const rules_set *set;
    cJSON *runs; /* object: workflow ID -> {type, input, cause, at, wait, wait_at, taken, steps} */
    cJSON *events;  /* [{at, ev}] of correlated types, oldest first */
    cJSON *pending; /* lookback matches of the runs the last starts began */
    cJSON *joins;   /* object: "<route>\n<key>" -> {first, events: {part: envelope}} */
};

rules_corr_sim *rules_corr_sim_new(const rules_set *set)
{
    rules_corr_sim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->set = set;
    s->runs = cJSON_CreateObject();
    s->joins = cJSON_CreateObject();
    s->events = cJSON_CreateArray();
    s->pending = cJSON_CreateArray();
    return s;
}

void rules_corr_sim_free(rules_corr_sim *sim)
{
    if (!sim)
        return;
    cJSON_Delete(sim->runs);
    cJSON_Delete(sim->joins);
    cJSON_Delete(sim->events);
    cJSON_Delete(sim->pending);
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

static void look_back(rules_corr_sim *sim, cJSON *run, const char *wid, const cJSON *def,
                      int64_t now, cJSON *out);

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
    cJSON_AddNumberToObject(r, "wait_at", (double)now);
    cJSON_AddArrayToObject(r, "taken");
    cJSON_AddObjectToObject(r, "steps");
    cJSON_AddItemToObject(sim->runs, a->workflow_id, r);
    look_back(sim, r, a->workflow_id, def, now, sim->pending);
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

/* Run takes ev for its current wait (step w): the step's result, the next
 * wait begins at now. */
static void take(cJSON *run, const cJSON *w, const cJSON *ev, int64_t now)
{
    cJSON *steps = (cJSON *)get(run, "steps");
    cJSON_DeleteItemFromObjectCaseSensitive(steps, str(w, "name"));
    cJSON *st = cJSON_AddObjectToObject(steps, str(w, "name"));
    cJSON_AddItemToObject(st, "result",
                          ev ? cJSON_Duplicate(get(ev, "payload"), 1) : cJSON_CreateNull());
    cJSON_AddItemToObject(st, "event", ev ? cJSON_Duplicate(ev, 1) : cJSON_CreateNull());
    if (ev)
        cJSON_AddItemToArray((cJSON *)get(run, "taken"), cJSON_CreateString(str(ev, "event_id")));
    cJSON_ReplaceItemInObjectCaseSensitive(run, "wait", cJSON_CreateNumber(num(run, "wait") + 1));
    cJSON_ReplaceItemInObjectCaseSensitive(run, "wait_at", cJSON_CreateNumber((double)now));
}

static bool taken(const cJSON *run, const char *event_id)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, get(run, "taken"))
    {
        if (!strcmp(cJSON_GetStringValue(t), event_id))
            return true;
    }
    return false;
}

/* The waits that begin take the events they look back to (the oldest
 * first, one each, never one the run took or the one that started it). */
static void look_back(rules_corr_sim *sim, cJSON *run, const char *wid, const cJSON *def,
                      int64_t now, cJSON *out)
{
    const cJSON *w;
    while ((w = nth_wait(get(def, "steps"), (int)num(run, "wait"))) && num(w, "lookback_ms") > 0) {
        double from = num(run, "wait_at") - num(w, "lookback_ms");
        const cJSON *e, *hit = NULL;
        cJSON_ArrayForEach(e, sim->events)
        {
            const cJSON *ev = get(e, "ev");
            const char *id = str(ev, "event_id");
            if (num(e, "at") >= from && num(e, "at") <= (double)now &&
                !strcmp(str(ev, "type"), str(w, "event_type")) && !taken(run, id) &&
                (!*id || strcmp(str(run, "cause"), id)) &&
                holds(str(w, "where"), run, wid, ev, true)) {
                hit = ev;
                break;
            }
        }
        if (!hit)
            return;
        cJSON *m = match_json("wait_event", wid, run, str(w, "name"));
        cJSON_AddStringToObject(m, "event_id", str(hit, "event_id"));
        cJSON_AddTrueToObject(m, "lookback");
        cJSON_AddItemToArray(out, m);
        take(run, w, hit, now);
    }
}

/* Whether run's current wait timed out by now: it fails (false: the run is
 * closed), or with on_timeout: continue its result is null and the next
 * wait begins when it timed out (and looks back from then). */
static bool times_out(rules_corr_sim *sim, cJSON *run, const char *wid, const cJSON *def,
                      int64_t now, cJSON *out)
{
    const cJSON *w;
    while ((w = nth_wait(get(def, "steps"), (int)num(run, "wait"))) && num(w, "timeout_ms") > 0 &&
           (double)now >= num(run, "wait_at") + num(w, "timeout_ms")) {
        if (strcmp(str(w, "on_timeout"), "continue") != 0)
            return false;
        take(run, w, NULL, (int64_t)(num(run, "wait_at") + num(w, "timeout_ms")));
        look_back(sim, run, wid, def, now, out);
    }
    return true;
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

/* The join parts ev is (load_join.c), as the engine's join.c adds them:
 * a join whose window passed starts over, a complete one starts its
 * workflow (a simulated run from then on). */
static void joins_event(rules_corr_sim *sim, int64_t now, const cJSON *ev, cJSON *out)
{
    rules_join_hit hits[16];
    size_t n = rules_join_hits(sim->set, ev, hits, 16);
    for (size_t i = 0; i < n; i++) {
        char jkey[RULES_FLOW_KEY_MAX + 300];
        snprintf(jkey, sizeof jkey, "%s\n%s", hits[i].name, hits[i].key);
        cJSON *j = cJSON_GetObjectItemCaseSensitive(sim->joins, jkey);
        if (j && now >= num(j, "first") + (double)rules_join_window(sim->set, hits[i].route)) {
            cJSON_DeleteItemFromObjectCaseSensitive(sim->joins, jkey);
            j = NULL;
        }
        if (!j) {
            j = cJSON_AddObjectToObject(sim->joins, jkey);
            cJSON_AddNumberToObject(j, "first", (double)now);
            cJSON_AddObjectToObject(j, "events");
        }
        cJSON *events = cJSON_GetObjectItemCaseSensitive(j, "events");
        cJSON_DeleteItemFromObjectCaseSensitive(events, hits[i].part);
        cJSON_AddItemToObject(events, hits[i].part, cJSON_Duplicate(ev, 1));
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "kind", "join");
        cJSON_AddStringToObject(m, "route", hits[i].name);
        cJSON_AddStringToObject(m, "key", hits[i].key);
        cJSON_AddStringToObject(m, "event", hits[i].part);
        bool ready = rules_join_ready(sim->set, hits[i].route, events);
        cJSON_AddStringToObject(m, "outcome", ready ? "started" : "waiting");
        rules_actions acts = {0};
        if (ready &&
            rules_join_start(sim->set, hits[i].route, hits[i].key, events, &acts) == SY_OK &&
            acts.len) {
            const rules_action *a = &acts.items[0];
            if (a->workflow)
                cJSON_AddStringToObject(m, "workflow", a->workflow);
            if (a->workflow_id)
                cJSON_AddStringToObject(m, "workflow_id", a->workflow_id);
            if (a->kind == RULES_DEAD_LETTER)
                cJSON_AddStringToObject(m, "dead_letter", a->dl_message ? a->dl_message : "");
            rules_corr_sim_starts(sim, now, str(ev, "event_id"), &acts);
        }
        rules_actions_cleanup(&acts);
        if (ready)
            cJSON_DeleteItemFromObjectCaseSensitive(sim->joins, jkey);
        cJSON_AddItemToArray(out, m);
        free(hits[i].key);
    }
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
        if (!times_out(sim, run, wid, def, now, out)) { /* failed: closed */
            cJSON_Delete(cJSON_DetachItemViaPointer(sim->runs, run));
            run = next;
            continue;
        }
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
            take(run, w, ev, now);
            look_back(sim, run, wid, def, now, out);
        }
        run = next;
    }
    joins_event(sim, now, ev, out);
    /* kept for the lookback of waits that begin later */
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "at", (double)now);
    cJSON_AddItemToObject(e, "ev", cJSON_Duplicate(ev, 1));
    cJSON_AddItemToArray(sim->events, e);
    if (cJSON_GetArraySize(sim->events) > CORR_SIM_KEEP)
        cJSON_DeleteItemFromArray(sim->events, 0);
    return out;
}

cJSON *rules_corr_sim_take_lookbacks(rules_corr_sim *sim)
{
    cJSON *out = sim ? sim->pending : cJSON_CreateArray();
    if (sim)
        sim->pending = cJSON_CreateArray();
    return out;
}
