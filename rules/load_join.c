/* load_join.c: join routes (docs/flow-control.md, "Joins"): a route that
 * starts a workflow once several correlated events have all (or as its
 * `when` says) arrived within a window:
 *
 *   - name: ship-when-ready
 *     join:
 *       key: "{{ payload.order_id }}"
 *       events:
 *         paid:   { type: payment.captured }
 *         packed: { type: order.packed, where: "payload.boxes > 0" }
 *       when: paid && packed        # default: every event
 *       window: 1h
 *     start: { workflow: ship, id: "ship-{{ key }}", input: { amount: "{{
 * events.paid.payload.amount }}" } }
 *
 * Loading checks it like a route (file:line:col); the pure functions the
 * engine and the dry runs share are below: which parts an event is
 * (rules_join_hits), whether the parts present satisfy `when`
 * (rules_join_ready) and the start a complete join renders
 * (rules_join_start). The partial state is the engine's (join_keys). */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rules_root rules__join_roots[] = {{"key", RT_STR, RT_ANY}, {"events", RT_OBJ, RT_ANY}};
const size_t rules__join_nroots = 2;

static const char *const join_keys[] = {"key", "events", "when", "window"};
static const char *const part_keys[] = {"type", "where"};

static void load_part(rules_loader *ld, rules_join_spec *j, const rnode *name, const rnode *m)
{
    rules_join_part *p = &j->parts[j->nparts++];
    p->name = name->str;
    p->type = "?";
    if (!rules__expect_kind(ld, m, RN_MAP, "a join event"))
        return;
    rules__check_keys(ld, m, "a join event", part_keys, 2);
    const rnode *t = rules__map_get(m, "type"), *w = rules__map_get(m, "where");
    if (!t)
        rules__diag(ld->d, m, "join event \"%s\" needs type:", p->name);
    else if (rules__get_string(ld, t, "type", &p->type) && strpbrk(p->type, "*> \t"))
        rules__diag(ld->d, t, "join event \"%s\": type \"%s\" must be an exact event type", p->name,
                    p->type);
    const char *src;
    if (w && rules__get_string(ld, w, "where", &src)) {
        sy_error e;
        p->where = rules__expr_compile(&ld->set->arena, src, rules__envelope_roots,
                                       rules__envelope_nroots, &e);
        if (!p->where)
            rules__diag_at(ld->d, w->file, w->line, w->col + (w->plain ? 0 : 1) + atoi(e.path + 1),
                           "in where: %s", e.message);
    }
    if (!ld->set->join_types)
        ld->set->join_types = cJSON_CreateObject();
    if (!cJSON_GetObjectItemCaseSensitive(ld->set->join_types, p->type))
        cJSON_AddTrueToObject(ld->set->join_types, p->type);
}

/* `when` over the parts' names (booleans); default: all of them. */
static void load_when(rules_loader *ld, rules_join_spec *j, const rnode *n)
{
    rules_root roots[RULES_JOIN_PARTS];
    sy_buf all = SY_BUF_INIT;
    for (size_t i = 0; i < j->nparts; i++) {
        roots[i] = (rules_root){j->parts[i].name, RT_BOOL, RT_ANY};
        sy_buf_printf(&all, "%s%s", i ? " && " : "", j->parts[i].name);
    }
    const char *src = NULL;
    if (n && !rules__get_string(ld, n, "when", &src))
        src = NULL;
    j->when_src = rules__strdup(&ld->set->arena, src ? src : all.len ? all.data : "false");
    sy_buf_cleanup(&all);
    sy_error e;
    j->when = rules__expr_compile(&ld->set->arena, j->when_src, roots, j->nparts, &e);
    if (!j->when && n)
        rules__diag_at(ld->d, n->file, n->line, n->col + (n->plain ? 0 : 1) + atoi(e.path + 1),
                       "in when: %s", e.message);
}

void rules__load_join(rules_loader *ld, rules_route_def *r, const rnode *n)
{
    if (!rules__expect_kind(ld, n, RN_MAP, "join"))
        return;
    rules__check_keys(ld, n, "join", join_keys, 4);
    rules_join_spec *j = rules__alloc(&ld->set->arena, sizeof *j);
    r->join = j;
    const rnode *k = rules__map_get(n, "key"), *ev = rules__map_get(n, "events");
    if (!k)
        rules__diag(
            ld->d, n,
            "join needs key: (a template over each event, e.g. \"{{ payload.order_id }}\")");
    else if (rules__get_string(ld, k, "join.key", &j->key_tmpl))
        rules__check_node_templates(ld, k, rules__envelope_roots, rules__envelope_nroots);
    if (!ev || !rules__expect_kind(ld, ev, RN_MAP, "join.events") || ev->n < 2)
        rules__diag(ld->d, ev ? ev : n, "join needs events: (two or more, by name)");
    for (size_t i = 0; ev && ev->kind == RN_MAP && i < ev->n; i++) {
        if (j->nparts == RULES_JOIN_PARTS) {
            rules__diag(ld->d, ev->keys[i], "a join takes at most %d events", RULES_JOIN_PARTS);
            break;
        }
        load_part(ld, j, ev->keys[i], ev->vals[i]);
    }
    load_when(ld, j, rules__map_get(n, "when"));
    const rnode *w = rules__map_get(n, "window");
    if (!w)
        rules__diag(ld->d, n, "join needs window: (how long a partial join waits, e.g. 1h)");
    else if (rules__get_duration(ld, w, "join.window", &j->window_ms) && j->window_ms <= 0)
        rules__diag(ld->d, w, "join.window must be a positive duration");
}

/* ---- the decisions (engine and dry runs) ------------------------------------------- */

size_t rules_join_find(const rules_set *set, const char *route)
{
    for (size_t i = 0; set && route && i < set->nroutes; i++)
        if (set->routes[i].join && strcmp(set->routes[i].name, route) == 0)
            return i;
    return SIZE_MAX;
}

size_t rules_join_hits(const rules_set *set, const cJSON *ev, rules_join_hit *out, size_t max)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    size_t n = 0;
    for (size_t i = 0; type && i < set->nroutes && n < max; i++) {
        const rules_join_spec *j = set->routes[i].join;
        for (size_t p = 0; j && p < j->nparts && n < max; p++) {
            if (strcmp(j->parts[p].type, type) ||
                (j->parts[p].where && !rules__expr_eval(j->parts[p].where, ev)))
                continue;
            char *key = NULL;
            sy_error e;
            if (rules_render_string(j->key_tmpl, ev, &key, &e) != SY_OK || !key || !*key ||
                strlen(key) > RULES_FLOW_KEY_MAX) {
                free(key); /* no key: the event is no part of any join of this route */
                continue;
            }
            out[n++] = (rules_join_hit){i, set->routes[i].name, j->parts[p].name, key};
        }
    }
    return n;
}

int64_t rules_join_window(const rules_set *set, size_t route)
{
    return route < set->nroutes && set->routes[route].join ? set->routes[route].join->window_ms : 0;
}

bool rules_join_ready(const rules_set *set, size_t route, const cJSON *events)
{
    if (route >= set->nroutes || !set->routes[route].join)
        return false;
    const rules_join_spec *j = set->routes[route].join;
    cJSON *ctx = cJSON_CreateObject();
    for (size_t i = 0; i < j->nparts; i++)
        cJSON_AddBoolToObject(ctx, j->parts[i].name,
                              cJSON_GetObjectItemCaseSensitive(events, j->parts[i].name) != NULL);
    bool yes = j->when && rules__expr_eval(j->when, ctx);
    cJSON_Delete(ctx);
    return yes;
}

sy_status rules_join_start(const rules_set *set, size_t route, const char *key, const cJSON *events,
                           rules_actions *out)
{
    if (route >= set->nroutes || !set->routes[route].join)
        return SY_OK;
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "key", key);
    cJSON_AddItemReferenceToObject(ctx, "events", (cJSON *)events);
    sy_status st = rules__fire(&set->routes[route], ctx, out);
    cJSON_Delete(ctx);
    return st;
}

cJSON *rules_join_spec_json(const rules_set *set, size_t route)
{
    if (!set || route >= set->nroutes || !set->routes[route].join)
        return NULL;
    const rules_join_spec *j = set->routes[route].join;
    cJSON *o = cJSON_CreateObject(), *ev = cJSON_AddObjectToObject(o, "events");
    for (size_t i = 0; i < j->nparts; i++)
        cJSON_AddStringToObject(ev, j->parts[i].name, j->parts[i].type);
    cJSON_AddStringToObject(o, "when", j->when_src);
    cJSON_AddNumberToObject(o, "window_ms", (double)j->window_ms);
    return o;
}
