/* load_flow.c: the flow-control keys of a route (docs/flow-control.md):
 *
 *   dedupe:     { key, ttl }
 *   rate_limit: { key, limit, period }
 *   debounce:   { key, period, timeout }
 *   throttle:   { key, limit, period, burst }
 *   batch:      { key, max_size, timeout }
 *
 * Stages apply in that order: the filters (dedupe, rate_limit), then at
 * most one delay (debounce, throttle or batch). Everything is checked
 * here, with file:line:col: durations are positive, limits in range, the
 * action is one a stage can hold (batch: a start), and a key template can
 * never fail at run time: it is either one template (a missing value
 * renders empty, and an empty key is dead-lettered with the reason) or a
 * string whose every {{ }} always has a value (a required envelope field,
 * a literal, or ending in `| default(...)` or `| json`). */
#include "rules_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- keys that cannot fail ---------------------------------------------------- */

/* Envelope fields every valid event has, as strings or numbers. */
static bool required_root(const char *s, size_t n)
{
    static const char *const roots[] = {"event_id",    "type",     "source",
                                        "occurred_at", "trace_id", "schema_version"};
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++)
        if (strlen(roots[i]) == n && !strncmp(roots[i], s, n))
            return true;
    return false;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* The end of one template segment's part (the next '|' outside quotes, or end). */
static const char *part_end(const char *p, const char *end)
{
    char q = 0;
    for (; p < end; p++) {
        if (q) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == q)
                q = 0;
        } else if (*p == '"' || *p == '\'') {
            q = *p;
        } else if (*p == '|') {
            return p;
        }
    }
    return end;
}

/* Checks one {{ }} segment (text between the braces) of a key made of
 * several parts: NULL when it always has a value, else why not. */
static const char *segment_may_fail(const char *p, const char *end, bool whole)
{
    p = skip_ws(p, end);
    const char *head_end = part_end(p, end);
    const char *h = p, *he = head_end;
    while (he > h && isspace((unsigned char)he[-1]))
        he--;
    bool literal = !(isalpha((unsigned char)*h) || *h == '_' || *h == '$') ||
                   (he - h == 4 && (!strncmp(h, "true", 4) || !strncmp(h, "null", 4))) ||
                   (he - h == 5 && !strncmp(h, "false", 5));
    size_t rootlen = 0;
    while (h + rootlen < he && (isalnum((unsigned char)h[rootlen]) || h[rootlen] == '_'))
        rootlen++;
    bool sub = !literal && h + rootlen < he;
    bool req = !literal && required_root(h, rootlen);
    if (req && sub)
        return "it is a path below a field that has none, so it never has a value";
    bool occurred = req && rootlen == 11 && !strncmp(h, "occurred_at", 11);
    bool may_be_null = literal ? (he - h == 4 && !strncmp(h, "null", 4)) : !req;
    for (const char *f = head_end; f < end;) {
        f = skip_ws(f + 1, end);
        const char *fe = part_end(f, end);
        size_t n = 0;
        while (f + n < fe && isalpha((unsigned char)f[n]))
            n++;
        if (n == 7 && !strncmp(f, "default", 7)) {
            const char *a = skip_ws(f + n, fe);
            may_be_null = a < fe && *a == '(' && !strncmp(skip_ws(a + 1, fe), "null", 4);
        } else if (n == 4 && !strncmp(f, "json", 4)) {
            may_be_null = false;
        } else if (n == 4 && !strncmp(f, "date", 4) && !occurred) {
            return "date() fails on a value that is not a timestamp (in a key, only "
                   "occurred_at | date(...) cannot fail)";
        }
        f = fe;
    }
    if (may_be_null && !whole)
        return "it may be missing or null, which fails the key (add | default(\"...\"))";
    return NULL;
}

/* Checks every segment of the key template s; false (with a diagnostic)
 * when one can fail. A key that is one whole template may be missing: it
 * renders empty, and an empty key is dead-lettered at run time. */
static bool key_cannot_fail(rules_loader *ld, const rnode *n, const char *what, const char *s)
{
    const char *open = strstr(s, "{{");
    bool whole = open == s;
    for (; open; open = strstr(open, "{{")) {
        const char *close = strstr(open + 2, "}}");
        if (!close)
            return true; /* a syntax error, already diagnosed */
        if (whole && close[2])
            whole = false;
        const char *why = segment_may_fail(open + 2, close, whole);
        if (why) {
            rules__diag(ld->d, n, "%s \"%s\" can fail: {{%.*s}}: %s", what, s,
                        (int)(close - open - 2), open + 2, why);
            return false;
        }
        open = close + 2;
    }
    return true;
}

/* ---- stages ----------------------------------------------------------------------- */

typedef struct stage_fields {
    const char *const *keys;
    size_t nkeys;
} stage_fields;

static const char *const dedupe_keys[] = {"key", "ttl"};
static const char *const rate_keys[] = {"key", "limit", "period"};
static const char *const debounce_keys[] = {"key", "period", "timeout"};
static const char *const throttle_keys[] = {"key", "limit", "period", "burst"};
static const char *const batch_keys[] = {"key", "max_size", "timeout"};
static const stage_fields FIELDS[RULES_FLOW_KINDS] = {
    {dedupe_keys, 2}, {rate_keys, 3}, {debounce_keys, 3}, {throttle_keys, 4}, {batch_keys, 3}};

/* A required positive duration; false (diagnosed) otherwise. */
static bool positive_duration(rules_loader *ld, const rnode *m, const char *stage, const char *key,
                              bool required, int64_t *out)
{
    const rnode *n = rules__map_get(m, key);
    char what[64];
    snprintf(what, sizeof what, "%s.%s", stage, key);
    if (!n) {
        if (required)
            rules__diag(ld->d, m, "%s needs %s: (a duration such as 30s)", stage, key);
        return !required;
    }
    if (!rules__get_duration(ld, n, what, out))
        return false;
    if (*out <= 0) {
        rules__diag(ld->d, n, "%s must be greater than 0", what);
        return false;
    }
    return true;
}

static bool int_field(rules_loader *ld, const rnode *m, const char *stage, const char *key,
                      int64_t min, int64_t max, int64_t dflt, int64_t *out)
{
    const rnode *n = rules__map_get(m, key);
    char what[64];
    snprintf(what, sizeof what, "%s.%s", stage, key);
    *out = dflt;
    if (!n) {
        if (dflt == 0)
            rules__diag(ld->d, m, "%s needs %s: (an integer)", stage, key);
        return dflt != 0;
    }
    if (!rules__get_int(ld, n, what, min, out))
        return false;
    if (*out > max) {
        rules__diag(ld->d, n, "%s must be at most %lld", what, (long long)max);
        return false;
    }
    return true;
}

static void load_key(rules_loader *ld, const rnode *m, const char *stage, rules_flow_spec *sp)
{
    const rnode *n = rules__map_get(m, "key");
    char what[64];
    snprintf(what, sizeof what, "%s.key", stage);
    if (!n) {
        rules__diag(ld->d, m,
                    "%s needs key: (a template over the event, e.g. \"{{ subject }}\"; a "
                    "constant gives the route one key)",
                    stage);
        return;
    }
    if (rules__get_string(ld, n, what, &sp->key_tmpl) &&
        rules__check_node_templates(ld, n, rules__envelope_roots, rules__envelope_nroots))
        key_cannot_fail(ld, n, what, sp->key_tmpl);
}

static void load_params(rules_loader *ld, const rnode *m, const char *stage, rules_flow_spec *sp)
{
    switch (sp->kind) {
    case RULES_FLOW_DEDUPE:
        positive_duration(ld, m, stage, "ttl", true, &sp->ttl_ms);
        break;
    case RULES_FLOW_RATE_LIMIT:
        int_field(ld, m, stage, "limit", 1, RULES_FLOW_RATE_MAX, 0, &sp->limit);
        positive_duration(ld, m, stage, "period", true, &sp->period_ms);
        break;
    case RULES_FLOW_THROTTLE:
        int_field(ld, m, stage, "limit", 1, 1000000, 0, &sp->limit);
        positive_duration(ld, m, stage, "period", true, &sp->period_ms);
        int_field(ld, m, stage, "burst", 1, 1000000, 1, &sp->burst);
        break;
    case RULES_FLOW_DEBOUNCE:
        if (positive_duration(ld, m, stage, "period", true, &sp->period_ms) &&
            positive_duration(ld, m, stage, "timeout", false, &sp->timeout_ms) && sp->timeout_ms &&
            sp->timeout_ms < sp->period_ms)
            rules__diag(ld->d, rules__map_get(m, "timeout"),
                        "debounce.timeout is shorter than debounce.period: every event would "
                        "fire timeout after the first (make timeout at least the period)");
        break;
    case RULES_FLOW_BATCH:
        int_field(ld, m, stage, "max_size", 1, RULES_BATCH_MAX, 0, &sp->max_size);
        positive_duration(ld, m, stage, "timeout", true, &sp->timeout_ms);
        break;
    default:
        break;
    }
}

/* Which actions a stage can hold or drop. */
static void check_action(rules_loader *ld, const rules_route_def *r, const rnode *at,
                         rules_flow_kind k)
{
    const char *stage = rules_flow_kind_name(k);
    if (r->kind != RULES_START && r->kind != RULES_SIGNAL)
        rules__diag(ld->d, at, "%s needs a start or signal action (route \"%s\" has none)", stage,
                    r->name);
    else if (k == RULES_FLOW_BATCH && r->kind != RULES_START)
        rules__diag(ld->d, at,
                    "batch needs a start action: a batch starts one workflow whose "
                    "input.events holds its events");
}

void rules__load_flow(rules_loader *ld, rules_route_def *r, const rnode *route)
{
    const rnode *delay = NULL;
    for (int k = 0; k < RULES_FLOW_KINDS; k++) {
        const char *stage = rules_flow_kind_name((rules_flow_kind)k);
        const rnode *m = rules__map_get(route, stage);
        if (!m)
            continue;
        bool is_delay = k >= RULES_FLOW_DEBOUNCE;
        if (is_delay && delay) {
            rules__diag(ld->d, m,
                        "a route takes at most one of debounce, throttle and batch (route "
                        "\"%s\" has %s and %s)",
                        r->name,
                        rules__map_get(route, "debounce") == delay   ? "debounce"
                        : rules__map_get(route, "throttle") == delay ? "throttle"
                                                                     : "batch",
                        stage);
            continue;
        }
        if (is_delay)
            delay = m;
        check_action(ld, r, m, (rules_flow_kind)k);
        if (!rules__expect_kind(ld, m, RN_MAP, stage))
            continue;
        rules__check_keys(ld, m, stage, FIELDS[k].keys, FIELDS[k].nkeys);
        rules_flow_spec *sp = &r->flow[r->nflow++];
        memset(sp, 0, sizeof *sp);
        sp->kind = (rules_flow_kind)k;
        load_key(ld, m, stage, sp);
        load_params(ld, m, stage, sp);
    }
}
