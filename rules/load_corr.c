/* load_corr.c: correlation of later events with running workflows
 * (docs/flow-control.md, "Correlation"): a workflow's `cancel_on` list and
 * its `wait_event` steps. Both match events of one exact type with a
 * `where` over the event (`event`) and the run (`input`, `steps`,
 * `workflow`, `signals`), checked here like an `if` condition, so a typo is
 * a load error. The set keeps the types any workflow correlates on
 * (rules_set_correlates): the router hands those events to the engine even
 * when no route matches them. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The workflow's roots plus `event`, the correlated event's envelope. */
static size_t event_roots(const rules_root *roots, size_t nroots, rules_root *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < nroots && n + 1 < cap; i++)
        out[n++] = roots[i];
    out[n++] = (rules_root){"event", RT_OBJ, RT_ANY};
    return n;
}

/* An exact event type: what events are stored and looked up by. */
static const char *exact_type(rules_loader *ld, const rnode *n, const char *what)
{
    const char *t = NULL;
    if (!rules__get_string(ld, n, what, &t))
        return NULL;
    if (strpbrk(t, "*> \t")) {
        rules__diag(ld->d, n, "%s \"%s\" must be an exact event type (no wildcards)", what, t);
        return NULL;
    }
    return t;
}

void rules__load_event_match(rules_loader *ld, const rnode *m, const rnode *type_node,
                             const char *what, const rules_root *roots, size_t nroots, cJSON *out)
{
    char field[96];
    snprintf(field, sizeof field, "%s type", what);
    const char *type = type_node ? exact_type(ld, type_node, field) : NULL;
    if (!type_node)
        rules__diag(ld->d, m, "%s needs type: (the event type it waits for)", what);
    cJSON_AddStringToObject(out, "event_type", type ? type : "?");
    const rnode *w = rules__map_get(m, "where");
    const char *src = "true";
    if (!w)
        rules__diag(ld->d, m,
                    "%s needs where: (which events belong to this run, e.g. "
                    "event.payload.order_id == input.order_id)",
                    what);
    else if (rules__get_string(ld, w, "where", &src)) {
        rules_root all[16];
        size_t n = event_roots(roots, nroots, all, 16);
        rules_arena a = {0};
        sy_error e;
        if (!rules__expr_compile(&a, src, all, n, &e))
            rules__diag_at(ld->d, w->file, w->line, w->col + (w->plain ? 0 : 1) + atoi(e.path + 1),
                           "in where: %s", e.message);
        rules__arena_free(&a);
    }
    cJSON_AddStringToObject(out, "where", src);
}

void rules__load_cancel_on(rules_loader *ld, const rnode *n, const rules_root *roots, size_t nroots,
                           cJSON *wf)
{
    static const char *const keys[] = {"type", "where", "within"};
    cJSON *list = cJSON_AddArrayToObject(wf, "cancel_on");
    if (!rules__expect_kind(ld, n, RN_SEQ, "cancel_on"))
        return;
    /* a run's cancel_on excludes wait_event-only roots: it applies from the start */
    rules_root start_roots[8];
    size_t ns = 0;
    for (size_t i = 0; i < nroots && ns < 8; i++)
        if (strcmp(roots[i].name, "steps") && strcmp(roots[i].name, "signals"))
            start_roots[ns++] = roots[i];
    for (size_t i = 0; i < n->n; i++) {
        const rnode *m = n->vals[i];
        char what[48];
        snprintf(what, sizeof what, "cancel_on[%zu]", i);
        if (!rules__expect_kind(ld, m, RN_MAP, what))
            continue;
        rules__check_keys(ld, m, what, keys, 3);
        cJSON *c = cJSON_CreateObject();
        rules__load_event_match(ld, m, rules__map_get(m, "type"), what, start_roots, ns, c);
        int64_t within = 0;
        const rnode *wn = rules__map_get(m, "within");
        if (wn && rules__get_duration(ld, wn, "within", &within) && within <= 0)
            rules__diag(ld->d, wn, "%s.within must be a positive duration", what);
        cJSON_AddNumberToObject(c, "within_ms", (double)within);
        cJSON_AddItemToArray(list, c);
    }
}

/* The event types of a step list's wait_event steps (recursing into if
 * branches) added to types. */
static void step_types(const cJSON *steps, cJSON *types)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, steps)
    {
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "kind"));
        if (kind && strcmp(kind, "wait_event") == 0) {
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "event_type"));
            if (t && !cJSON_GetObjectItemCaseSensitive(types, t))
                cJSON_AddTrueToObject(types, t);
        }
        step_types(cJSON_GetObjectItemCaseSensitive(s, "then"), types);
        step_types(cJSON_GetObjectItemCaseSensitive(s, "else"), types);
    }
}

void rules__collect_corr_types(rules_set *set)
{
    cJSON *types = cJSON_CreateObject();
    const cJSON *wf;
    cJSON_ArrayForEach(wf, set->workflows)
    {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(wf, "cancel_on"))
        {
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "event_type"));
            if (t && !cJSON_GetObjectItemCaseSensitive(types, t))
                cJSON_AddTrueToObject(types, t);
        }
        step_types(cJSON_GetObjectItemCaseSensitive(wf, "steps"), types);
    }
    const cJSON *j;
    cJSON_ArrayForEach(j, set->join_types)
    {
        if (!cJSON_GetObjectItemCaseSensitive(types, j->string))
            cJSON_AddTrueToObject(types, j->string);
    }
    set->corr_types = types;
}

bool rules_set_correlates(const rules_set *set, const char *type)
{
    return set && type && set->corr_types && set->corr_types->child &&
           cJSON_GetObjectItemCaseSensitive(set->corr_types, type) != NULL;
}

const cJSON *rules_set_correlated_types(const rules_set *set)
{
    return set ? set->corr_types : NULL;
}
