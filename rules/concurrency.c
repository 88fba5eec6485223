/* concurrency.c: a workflow's `concurrency: { key, limit, strategy }` and
 * `priority: "{{ expr }}"` (docs/flow-control.md, "Concurrency"): checked
 * and normalised at load into the definition's JSON, and rendered for one
 * start (rules_admission_render), the same way by the engine, which
 * decides under the key's row lock, and by the dry runs.
 *
 * Both are templates over the start: {input, workflow: {id, type}}. A
 * key that renders empty or longer than RULES_FLOW_KEY_MAX, or fails, and
 * a priority that is not an integer, refuse the start with the reason
 * (a dead letter for a routed event). */
#include "rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const STRATEGIES[RULES_CONC_STRATEGIES] = {"queue", "cancel_in_progress",
                                                              "cancel_newest", "round_robin"};

const char *rules_conc_strategy_name(rules_conc_strategy s)
{
    return s >= 0 && s < RULES_CONC_STRATEGIES ? STRATEGIES[s] : "queue";
}

rules_conc_strategy rules_conc_strategy_parse(const char *s)
{
    for (int i = 0; s && i < RULES_CONC_STRATEGIES; i++)
        if (!strcmp(s, STRATEGIES[i]))
            return (rules_conc_strategy)i;
    return RULES_CONC_QUEUE;
}

/* Template roots of a start's key and priority. */
static const rules_root START_ROOTS[] = {
    {"input", RT_ANY, RT_ANY},
    {"workflow", RT_OBJ, RT_ANY},
};
#define NSTART_ROOTS (sizeof START_ROOTS / sizeof START_ROOTS[0])

/* ---- load --------------------------------------------------------------------- */

static void load_concurrency(rules_loader *ld, cJSON *wf, const rnode *m)
{
    static const char *const keys[] = {"key", "limit", "strategy"};
    if (!rules__expect_kind(ld, m, RN_MAP, "concurrency"))
        return;
    rules__check_keys(ld, m, "concurrency", keys, 3);
    cJSON *c = cJSON_CreateObject();
    const rnode *k = rules__map_get(m, "key");
    const char *key = NULL;
    if (!k)
        rules__diag(ld->d, m,
                    "concurrency needs key: (a template over the start, e.g. "
                    "\"{{ input.customer }}\"; a constant gives the workflow one key)");
    else if (rules__get_string(ld, k, "concurrency.key", &key))
        rules__check_node_templates(ld, k, START_ROOTS, NSTART_ROOTS);
    const rnode *l = rules__map_get(m, "limit");
    int64_t limit = 0;
    if (!l)
        rules__diag(ld->d, m, "concurrency needs limit: (an integer >= 1)");
    else if (rules__get_int(ld, l, "concurrency.limit", 1, &limit) && limit > RULES_CONC_LIMIT_MAX)
        rules__diag(ld->d, l, "concurrency.limit must be at most %d", RULES_CONC_LIMIT_MAX);
    const rnode *s = rules__map_get(m, "strategy");
    int strategy = RULES_CONC_QUEUE;
    if (s)
        strategy =
            rules__get_enum(ld, s, "concurrency.strategy", STRATEGIES, RULES_CONC_STRATEGIES);
    cJSON_AddStringToObject(c, "key", key ? key : "");
    cJSON_AddNumberToObject(c, "limit", (double)limit);
    cJSON_AddStringToObject(
        c, "strategy",
        rules_conc_strategy_name(strategy < 0 ? RULES_CONC_QUEUE : (rules_conc_strategy)strategy));
    cJSON_AddItemToObject(wf, "concurrency", c);
}

static void load_priority(rules_loader *ld, cJSON *wf, const rnode *n)
{
    if (n->kind == RN_SCALAR && n->plain && !strstr(n->str, "{{")) {
        double v;
        if (rules__get_number(ld, n, "priority", &v)) {
            if (v != floor(v) || fabs(v) > RULES_PRIORITY_MAX)
                rules__diag(ld->d, n, "priority must be an integer between -%d and %d",
                            RULES_PRIORITY_MAX, RULES_PRIORITY_MAX);
            cJSON_AddNumberToObject(wf, "priority", v);
        }
        return;
    }
    const char *p = NULL;
    if (rules__get_string(ld, n, "priority", &p) &&
        rules__check_node_templates(ld, n, START_ROOTS, NSTART_ROOTS))
        cJSON_AddStringToObject(wf, "priority", p);
}

void rules__load_admission(rules_loader *ld, cJSON *wf, const rnode *m)
{
    const rnode *c = rules__map_get(m, "concurrency");
    if (c)
        load_concurrency(ld, wf, c);
    const rnode *p = rules__map_get(m, "priority");
    if (p)
        load_priority(ld, wf, p);
}

/* ---- one start ------------------------------------------------------------------- */

void rules_admission_cleanup(rules_admission *a)
{
    free(a->key);
    memset(a, 0, sizeof *a);
}

static cJSON *start_ctx(const char *type, const char *wid, const cJSON *input)
{
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddItemToObject(ctx, "input", input ? cJSON_Duplicate(input, 1) : cJSON_CreateObject());
    cJSON *w = cJSON_AddObjectToObject(ctx, "workflow");
    cJSON_AddStringToObject(w, "id", wid ? wid : "");
    cJSON_AddStringToObject(w, "type", type ? type : "");
    return ctx;
}

static sy_status render_key(const cJSON *c, const cJSON *ctx, rules_admission *out, sy_error *err)
{
    const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "key"));
    sy_error e = {0};
    char *key = NULL;
    if (rules_render_text(tmpl ? tmpl : "", ctx, &key, &e) != SY_OK)
        return sy_error_set(err, SY_INVALID, "bad_concurrency_key", NULL,
                            "concurrency.key \"%.200s\" failed: %s", tmpl, e.message);
    if (!key || !*key || strlen(key) > RULES_FLOW_KEY_MAX) {
        bool empty = !key || !*key;
        free(key);
        return sy_error_set(err, SY_INVALID, "bad_concurrency_key", NULL,
                            "concurrency.key \"%.200s\" rendered %s", tmpl,
                            empty ? "empty" : "longer than 512 bytes");
    }
    out->key = key;
    return SY_OK;
}

static sy_status render_priority(const cJSON *p, const cJSON *ctx, rules_admission *out,
                                 sy_error *err)
{
    if (cJSON_IsNumber(p)) {
        out->priority = (int64_t)p->valuedouble;
        return SY_OK;
    }
    cJSON *v = NULL;
    sy_error e = {0};
    if (rules_render(p, ctx, &v, &e) != SY_OK)
        return sy_error_set(err, SY_INVALID, "bad_priority", NULL, "priority \"%.200s\" failed: %s",
                            p->valuestring, e.message);
    double d = 0;
    char *end = NULL;
    bool ok = true;
    if (cJSON_IsNumber(v))
        d = v->valuedouble;
    else if (cJSON_IsString(v) && *v->valuestring)
        d = strtod(v->valuestring, &end), ok = end && !*end;
    else
        ok = cJSON_IsNull(v) || !v; /* missing: the default, 0 */
    cJSON_Delete(v);
    if (!ok || d != floor(d) || fabs(d) > RULES_PRIORITY_MAX)
        return sy_error_set(err, SY_INVALID, "bad_priority", NULL,
                            "priority \"%.200s\" is not an integer between -%d and %d",
                            p->valuestring, RULES_PRIORITY_MAX, RULES_PRIORITY_MAX);
    out->priority = (int64_t)d;
    return SY_OK;
}

sy_status rules_admission_render(const cJSON *def, const char *wid, const cJSON *input,
                                 rules_admission *out, sy_error *err)
{
    memset(out, 0, sizeof *out);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(def, "concurrency");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(def, "priority");
    if (!c && !p)
        return SY_OK;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(def, "type"));
    cJSON *ctx = start_ctx(type, wid, input);
    sy_status st = SY_OK;
    if (c) {
        out->has_concurrency = true;
        out->limit = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "limit"));
        out->strategy = rules_conc_strategy_parse(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "strategy")));
        st = render_key(c, ctx, out, err);
    }
    if (st == SY_OK && p)
        st = render_priority(p, ctx, out, err);
    cJSON_Delete(ctx);
    if (st != SY_OK)
        rules_admission_cleanup(out);
    return st;
}

cJSON *rules_admission_json(const rules_admission *a)
{
    cJSON *o = cJSON_CreateObject();
    if (a->has_concurrency) {
        cJSON_AddStringToObject(o, "key", a->key ? a->key : "");
        cJSON_AddNumberToObject(o, "limit", (double)a->limit);
        cJSON_AddStringToObject(o, "strategy", rules_conc_strategy_name(a->strategy));
    }
    cJSON_AddNumberToObject(o, "priority", (double)a->priority);
    return o;
}
