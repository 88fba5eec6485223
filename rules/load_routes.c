/* load_routes.c: `routes:` of the rules file. Each route is compiled once:
 * its type pattern is classified (exact types go into the index's hash
 * table, globs into the ordered glob list), its `where` is compiled to an
 * AST (with load-time type checks), its templates are checked, and its
 * workflow must exist. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_keys[] = {
    "name",   "description", "match",    "start",    "signal", "drop",
    "dead_letter", "dedupe", "rate_limit", "debounce", "throttle", "batch", /* load_flow.c */
    "join"}; /* load_join.c */
static const char *const match_keys[] = {"type", "source", "subject", "where"};
static const char *const start_keys[] = {"workflow",   "id",        "input",
                                         "if_running", "if_closed", "task_queue"};
static const char *const signal_keys[] = {"id", "name", "payload", "if_missing", "start"};
static const char *const running_names[] = {"use_existing", "fail", "terminate_existing"};
static const char *const closed_names[] = {"allow", "allow_failed_only", "reject"};
static const char *const missing_names[] = {"dead_letter", "drop", "start"};

/* `type` patterns: dot-separated segments of [A-Za-z0-9_-]+, or `*` (one
 * segment), or a final `>` (one or more segments), as NATS subjects. */
static bool check_type_pattern(rules_loader *ld, const rnode *n, const char *p, bool *exact)
{
    *exact = true;
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c != '.' && *c)
            continue;
        size_t len = (size_t)(c - seg);
        bool ok = len > 0;
        if (len == 1 && (*seg == '*' || *seg == '>')) {
            *exact = false;
            if (*seg == '>' && *c) {
                rules__diag(ld->d, n, "type pattern \"%s\": \">\" must be the last segment", p);
                return false;
            }
        } else {
            for (const char *q = seg; q < c && ok; q++)
                ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                     (*q >= '0' && *q <= '9') || *q == '_' || *q == '-';
        }
        if (!ok) {
            rules__diag(ld->d, n,
                        "type pattern \"%s\": segment \"%.*s\" must be [A-Za-z0-9_-]+, "
                        "\"*\" or a final \">\"",
                        p, (int)len, seg);
            return false;
        }
        if (!*c)
            return true;
        seg = c + 1;
    }
}

static void load_match(rules_loader *ld, rules_route_def *r, const rnode *m)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "match"))
        return;
    rules__check_keys(ld, m, "match", match_keys, 4);
    const rnode *n;
    const char *s;
    if ((n = rules__map_get(m, "type")) && rules__get_string(ld, n, "match.type", &s) &&
        check_type_pattern(ld, n, s, &r->type_is_exact))
        r->type_pat = s;
    if ((n = rules__map_get(m, "source")) && rules__get_string(ld, n, "match.source", &s))
        r->source_pat = strcmp(s, "*") ? s : NULL;
    if ((n = rules__map_get(m, "subject")) && rules__get_string(ld, n, "match.subject", &s))
        r->subject_pat = s;
    if ((n = rules__map_get(m, "where")) && rules__get_string(ld, n, "match.where", &s)) {
        sy_error e;
        r->where = rules__expr_compile(&ld->set->arena, s, rules__envelope_roots,
                                       rules__envelope_nroots, &e);
        if (!r->where)
            rules__diag_at(ld->d, n->file, n->line, n->col + (n->plain ? 0 : 1) + atoi(e.path + 1),
                           "in where: %s", e.message);
    }
}

static bool check_tmpl(rules_loader *ld, const rnode *n)
{
    if (ld->tmpl_roots) /* a join's start renders against {key, events} */
        return rules__check_node_templates(ld, n, ld->tmpl_roots, ld->ntmpl_roots);
    return rules__check_node_templates(ld, n, rules__envelope_roots, rules__envelope_nroots);
}

static int get_enum_field(rules_loader *ld, const rnode *m, const char *key,
                          const char *const *names, size_t count, int dflt)
{
    const rnode *n = rules__map_get(m, key);
    if (!n)
        return dflt;
    int i = rules__get_enum(ld, n, key, names, count);
    return i < 0 ? dflt : i;
}

/* A start block (also the start half of signal-with-start, where id may
 * default to the signal's). */
static void load_start(rules_loader *ld, rules_route_def *r, const rnode *m, bool id_optional)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "start"))
        return;
    rules__check_keys(ld, m, "start", start_keys, 6);
    const rnode *n;
    if (!(n = rules__map_get(m, "workflow")))
        rules__diag(ld->d, m, "start needs workflow:");
    else if (rules__get_string(ld, n, "workflow", &r->workflow) &&
             !cJSON_GetObjectItemCaseSensitive(ld->set->workflows, r->workflow))
        rules__unknown_workflow(ld, n, r->workflow);
    if (!(n = rules__map_get(m, "id"))) {
        if (!id_optional)
            rules__diag(ld->d, m, "start needs id: (a template for the workflow ID)");
    } else if (rules__get_string(ld, n, "id", &r->id_tmpl)) {
        check_tmpl(ld, n);
    }
    if ((n = rules__map_get(m, "input"))) {
        check_tmpl(ld, n);
        r->input_tmpl = rules__node_json(n);
    }
    if ((n = rules__map_get(m, "task_queue")))
        rules__get_string(ld, n, "task_queue", &r->task_queue);
    r->if_running = (rules_if_running)get_enum_field(ld, m, "if_running", running_names, 3,
                                                     (int)ld->def_if_running);
    r->if_closed = (rules_if_closed)get_enum_field(ld, m, "if_closed", closed_names, 3,
                                                   (int)ld->def_if_closed);
}

static void load_signal(rules_loader *ld, rules_route_def *r, const rnode *m)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "signal"))
        return;
    rules__check_keys(ld, m, "signal", signal_keys, 5);
    const rnode *n;
    if (!(n = rules__map_get(m, "id")))
        rules__diag(ld->d, m, "signal needs id: (a template for the workflow ID)");
    else if (rules__get_string(ld, n, "id", &r->signal_id_tmpl))
        check_tmpl(ld, n);
    if (!(n = rules__map_get(m, "name")))
        rules__diag(ld->d, m, "signal needs name:");
    else
        rules__get_string(ld, n, "name", &r->signal_name);
    if ((n = rules__map_get(m, "payload"))) {
        check_tmpl(ld, n);
        r->payload_tmpl = rules__node_json(n);
    }
    r->if_missing = (rules_if_missing)get_enum_field(ld, m, "if_missing", missing_names, 3, 0);
    n = rules__map_get(m, "start");
    if (r->if_missing == RULES_IF_MISSING_START && !n)
        rules__diag(ld->d, m, "if_missing: start needs a start: block (workflow, input)");
    if (n && r->if_missing != RULES_IF_MISSING_START)
        rules__diag(ld->d, n, "a start: block inside signal needs if_missing: start");
    if (n) {
        r->has_start = true;
        load_start(ld, r, n, true);
        if (rules__map_get(n, "id"))
            rules__diag(ld->d, rules__map_get(n, "id"),
                        "signal-with-start starts the workflow "
                        "under the signal's id; remove this id");
    }
}

static void load_dead_letter(rules_loader *ld, rules_route_def *r, const rnode *n)
{
    static const char *const keys[] = {"code", "reason"};
    r->dl_code = "rule_dead_letter";
    r->dl_message = "dead-lettered by a rule";
    if (n->kind == RN_SCALAR) {
        rules__get_string(ld, n, "dead_letter", &r->dl_message);
        return;
    }
    if (!rules__expect_kind(ld, n, RN_MAP, "dead_letter"))
        return;
    rules__check_keys(ld, n, "dead_letter", keys, 2);
    const rnode *v;
    if ((v = rules__map_get(n, "code")))
        rules__get_string(ld, v, "code", &r->dl_code);
    if ((v = rules__map_get(n, "reason")))
        rules__get_string(ld, v, "reason", &r->dl_message);
}

/* Exactly one action per route. */
static void load_action(rules_loader *ld, rules_route_def *r, const rnode *m)
{
    static const char *const actions[] = {"start", "signal", "drop", "dead_letter"};
    const rnode *found = NULL;
    for (size_t i = 0; i < 4; i++) {
        const rnode *n = rules__map_get(m, actions[i]);
        if (!n)
            continue;
        if (found) {
            rules__diag(ld->d, n, "route \"%s\" has more than one action (%s and %s)", r->name,
                        actions[r->kind], actions[i]);
            return;
        }
        found = n;
        r->kind = (rules_action_kind)i;
    }
    if (!found) {
        rules__diag(ld->d, m, "route \"%s\" needs an action: start, signal, drop or dead_letter",
                    r->name);
        return;
    }
    bool b;
    if (r->kind == RULES_START)
        load_start(ld, r, found, false);
    else if (r->kind == RULES_SIGNAL)
        load_signal(ld, r, found);
    else if (r->kind == RULES_DEAD_LETTER)
        load_dead_letter(ld, r, found);
    else if (found->kind != RN_MAP && rules__get_bool(ld, found, "drop", &b) && !b)
        rules__diag(ld->d, found, "drop: false is not an action (remove the route instead)");
}

static void load_route(rules_loader *ld, const rnode *m)
{
    if (!rules__expect_kind(ld, m, RN_MAP, "a route"))
        return;
    rules__check_keys(ld, m, "a route", route_keys, sizeof route_keys / sizeof *route_keys);
    rules_set *set = ld->set;
    if (set->nroutes == ld->routes_cap) {
        ld->routes_cap = ld->routes_cap ? ld->routes_cap * 2 : 16;
        set->routes = realloc(set->routes, ld->routes_cap * sizeof *set->routes);
        if (!set->routes)
            abort();
    }
    rules_route_def *r = &set->routes[set->nroutes];
    memset(r, 0, sizeof *r);
    r->index = set->nroutes++;
    r->file = m->file;
    r->line = m->line;
    r->col = m->col;
    r->name = "?";
    const rnode *n = rules__map_get(m, "name");
    if (!n)
        rules__diag(ld->d, m, "a route needs name:");
    else if (rules__get_string(ld, n, "name", &r->name)) {
        if (r->name[0] == '~') /* an inbox row's routes name a correlation "~correlate" */
            rules__diag(ld->d, n, "route name \"%s\": names starting with ~ are reserved", r->name);
        for (size_t i = 0; i + 1 < set->nroutes; i++)
            if (strcmp(set->routes[i].name, r->name) == 0)
                rules__diag(ld->d, n, "route \"%s\" is defined twice (first at %s:%d:%d)", r->name,
                            set->routes[i].file, set->routes[i].line, set->routes[i].col);
    }
    const rnode *join = rules__map_get(m, "join");
    if (join && (n = rules__map_get(m, "match")))
        rules__diag(ld->d, n, "route \"%s\": a join route has no match: (its events are under join:)",
                    r->name);
    else if (join)
        rules__load_join(ld, r, join);
    else if ((n = rules__map_get(m, "match")))
        load_match(ld, r, n);
    else
        rules__diag(ld->d, m, "route \"%s\" needs match: (at least a type)", r->name);
    if (join) {
        ld->tmpl_roots = rules__join_roots;
        ld->ntmpl_roots = rules__join_nroots;
    }
    load_action(ld, r, m);
    ld->tmpl_roots = NULL;
    if (join && r->kind != RULES_START)
        rules__diag(ld->d, m, "route \"%s\": a join starts a workflow (start:)", r->name);
    if (!join)
        rules__load_flow(ld, r, m);
    else if (r->nflow || rules__map_get(m, "dedupe") || rules__map_get(m, "debounce") ||
             rules__map_get(m, "throttle") || rules__map_get(m, "batch") ||
             rules__map_get(m, "rate_limit"))
        rules__diag(ld->d, m, "route \"%s\": a join takes no flow control", r->name);
}

void rules__load_routes(rules_loader *ld, const rnode *seq)
{
    if (!rules__expect_kind(ld, seq, RN_SEQ, "routes"))
        return;
    for (size_t i = 0; i < seq->n; i++)
        load_route(ld, seq->vals[i]);
}

/* Splits an ID template of the form P{{ event_id }}S (one template, the
 * event_id root, no filter) into its literal prefix and suffix lengths;
 * false for any other template. */
static bool event_id_tmpl(const char *t, size_t *plen, size_t *slen)
{
    const char *open = strstr(t, "{{");
    if (!open)
        return false;
    const char *p = open + 2;
    while (*p == ' ')
        p++;
    if (strncmp(p, "event_id", 8) != 0)
        return false;
    p += 8;
    while (*p == ' ')
        p++;
    if (strncmp(p, "}}", 2) != 0 || strstr(p + 2, "{{") || strstr(p + 2, "}}") ||
        memchr(t, '}', (size_t)(open - t)))
        return false;
    *plen = (size_t)(open - t);
    *slen = strlen(p + 2);
    return true;
}

/* Whether route r's workflow IDs are P{{ event_id }}S with the first such
 * template seen (*first; set when NULL). */
static bool ids_event_unique(const rules_route_def *r, const char **first)
{
    const char *tmpls[] = {r->id_tmpl, r->signal_id_tmpl};
    for (size_t i = 0; i < 2; i++) {
        size_t p, s, fp, fs;
        if (!tmpls[i])
            continue;
        if (!event_id_tmpl(tmpls[i], &p, &s))
            return false;
        if (!*first) {
            *first = tmpls[i];
            continue;
        }
        event_id_tmpl(*first, &fp, &fs);
        if (p != fp || s != fs || memcmp(tmpls[i], *first, p) != 0 ||
            strcmp(tmpls[i] + strlen(tmpls[i]) - s, *first + strlen(*first) - fs) != 0)
            return false;
    }
    return true;
}

bool rules__order_free(const rules_set *set)
{
    if ((set->corr_types && set->corr_types->child) || set->join_types)
        return false;
    const char *first = NULL;
    for (size_t i = 0; i < set->nroutes; i++) {
        const rules_route_def *r = &set->routes[i];
        if (r->join || r->nflow || !ids_event_unique(r, &first))
            return false;
        const cJSON *wf =
            r->workflow ? cJSON_GetObjectItemCaseSensitive(set->workflows, r->workflow) : NULL;
        if (cJSON_GetObjectItemCaseSensitive(wf, "concurrency"))
            return false;
    }
    return true;
}

bool rules_set_order_free(const rules_set *set)
{
    return set && set->order_free;
}
