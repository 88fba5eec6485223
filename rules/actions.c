/* actions.c: what a matching route produces. Templates are rendered
 * against the event (one pass), workflow IDs are checked against
 * ^[A-Za-z0-9._:/-]{1,255}$, and any failure becomes a dead-letter action
 * carrying the reason: the router never sees a mangled ID. Also the JSON
 * forms of an action (for `switchyard route` and the embedded tests). */
#include "rules_int.h"

#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rules__if_running_name(rules_if_running v)
{
    static const char *const n[] = {"use_existing", "fail", "terminate_existing"};
    return n[v];
}

const char *rules__if_closed_name(rules_if_closed v)
{
    static const char *const n[] = {"allow", "allow_failed_only", "reject"};
    return n[v];
}

const char *rules__if_missing_name(rules_if_missing v)
{
    static const char *const n[] = {"dead_letter", "drop", "start"};
    return n[v];
}

rules_action *rules__actions_push(rules_actions *out)
{
    if (out->len == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 4;
        rules_action *p = realloc(out->items, cap * sizeof *p);
        if (!p)
            return NULL;
        out->items = p;
        out->cap = cap;
    }
    rules_action *a = &out->items[out->len++];
    memset(a, 0, sizeof *a);
    return a;
}

static rules_action *append(rules_actions *out, const rules_route_def *r)
{
    rules_action *a = rules__actions_push(out);
    if (a)
        a->route = r->name;
    return a;
}

static void free_action(rules_action *a)
{
    free(a->workflow_id);
    cJSON_Delete(a->input);
    cJSON_Delete(a->signal_payload);
    cJSON_Delete(a->admission);
    free(a->dl_code);
    free(a->dl_message);
    for (size_t i = 0; i < a->nflow; i++)
        free(a->flow[i].key);
    memset(a, 0, sizeof *a);
}

void rules__action_free(rules_action *a)
{
    free_action(a);
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    *ok &= !s || d;
    return d;
}

static cJSON *json_or_null(const cJSON *v, bool *ok)
{
    cJSON *d = v ? cJSON_Duplicate(v, true) : NULL;
    *ok &= !v || d;
    return d;
}

sy_status rules__action_copy(const rules_action *a, rules_action *out)
{
    bool ok = true;
    *out = *a;
    out->workflow_id = dup_or_null(a->workflow_id, &ok);
    out->input = json_or_null(a->input, &ok);
    out->signal_payload = json_or_null(a->signal_payload, &ok);
    out->admission = json_or_null(a->admission, &ok);
    out->dl_code = dup_or_null(a->dl_code, &ok);
    out->dl_message = dup_or_null(a->dl_message, &ok);
    for (size_t i = 0; i < a->nflow; i++)
        out->flow[i].key = dup_or_null(a->flow[i].key, &ok);
    if (ok)
        return SY_OK;
    free_action(out);
    return SY_NOMEM;
}

void rules_actions_cleanup(rules_actions *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->len; i++)
        free_action(&a->items[i]);
    free(a->items);
    memset(a, 0, sizeof *a);
}

/* Turns a half-built action into a dead letter with the reason. */
static void to_dead_letter(rules_action *a, const char *code, const char *fmt, const char *what,
                           const char *detail)
{
    const char *route = a->route;
    free_action(a);
    a->route = route;
    a->kind = RULES_DEAD_LETTER;
    a->dl_code = strdup(code);
    sy_buf b = SY_BUF_INIT;
    sy_buf_printf(&b, fmt, route, what, detail);
    a->dl_message = sy_buf_take(&b);
}

/* Renders the workflow ID template; false (and a dead letter) on failure. */
static bool render_id(rules_action *a, const char *tmpl, const cJSON *ev)
{
    sy_error e;
    sy_error_clear(&e);
    char *id = NULL;
    if (rules_render_string(tmpl, ev, &id, &e) != SY_OK) {
        to_dead_letter(a, "bad_workflow_id", "route \"%s\": %s: %s", "workflow id", e.message);
        return false;
    }
    if (!rules_workflow_id_valid(id)) {
        to_dead_letter(a, "bad_workflow_id",
                       "route \"%s\": %s \"%.300s\" does not match ^[A-Za-z0-9._:/-]{1,255}$",
                       "workflow id", id);
        free(id);
        return false;
    }
    a->workflow_id = id;
    return true;
}

static bool render_json(rules_action *a, const cJSON *tmpl, const cJSON *ev, const char *what,
                        cJSON **out)
{
    if (!tmpl)
        return true;
    sy_error e;
    sy_error_clear(&e);
    if (rules_render(tmpl, ev, out, &e) != SY_OK) {
        to_dead_letter(a, "bad_template", "route \"%s\": %s: %s", what, e.message);
        return false;
    }
    return true;
}

static void fire_start_half(rules_action *a, const rules_route_def *r, const cJSON *ev)
{
    a->workflow = r->workflow;
    a->task_queue = r->task_queue;
    a->if_running = r->if_running;
    a->if_closed = r->if_closed;
    if (!render_json(a, r->input_tmpl, ev, "input", &a->input))
        return;
    if (a->input && !cJSON_IsObject(a->input))
        to_dead_letter(a, "bad_input", "route \"%s\": %s %s", "start input must be an object,",
                       "not another JSON value");
}

/* A stage's key: one whole template keeps its value (missing or null
 * renders empty, a non-string its JSON text); a longer string is rendered
 * as text (load_flow.c made sure none of its parts can fail). NULL with
 * *e set on failure. Owned. */
static char *render_key(const char *tmpl, const cJSON *ev, sy_error *e)
{
    cJSON *t = cJSON_CreateString(tmpl), *v = NULL;
    sy_status st = t ? rules_render(t, ev, &v, e) : SY_NOMEM;
    cJSON_Delete(t);
    char *key = NULL;
    if (st == SY_OK)
        key = cJSON_IsString(v) ? strdup(v->valuestring)
              : cJSON_IsNull(v) ? strdup("")
                                : cJSON_PrintUnformatted(v);
    else if (st == SY_NOMEM)
        sy_error_set(e, SY_NOMEM, NULL, NULL, "out of memory");
    cJSON_Delete(v);
    return key;
}

void rules__fire_flow(const rules_route_def *r, const cJSON *ev, rules_action *a)
{
    for (size_t i = 0; i < r->nflow; i++) {
        const rules_flow_spec *sp = &r->flow[i];
        const char *stage = rules_flow_kind_name(sp->kind);
        sy_error e;
        sy_error_clear(&e);
        char *key = render_key(sp->key_tmpl, ev, &e);
        char why[400];
        if (!key)
            snprintf(why, sizeof why, "%s.key: %s", stage, e.message);
        else if (!*key)
            snprintf(why, sizeof why, "%s.key \"%.200s\" rendered empty", stage, sp->key_tmpl);
        else if (strlen(key) > RULES_FLOW_KEY_MAX)
            snprintf(why, sizeof why, "%s.key is %zu bytes, more than %d", stage, strlen(key),
                     RULES_FLOW_KEY_MAX);
        if (!key || !*key || strlen(key) > RULES_FLOW_KEY_MAX) {
            free(key);
            to_dead_letter(a, "bad_flow_key", "route \"%s\": %s%s", why, "");
            return;
        }
        a->flow[a->nflow].spec = sp;
        a->flow[a->nflow++].key = key;
    }
}

sy_status rules__fire(const rules_route_def *r, const cJSON *ev, rules_actions *out)
{
    rules_action *a = append(out, r);
    if (!a)
        return SY_NOMEM;
    a->kind = r->kind;
    switch (r->kind) {
    case RULES_START:
        if (render_id(a, r->id_tmpl, ev))
            fire_start_half(a, r, ev);
        break;
    case RULES_SIGNAL:
        a->signal = r->signal_name;
        a->if_missing = r->if_missing;
        if (!render_id(a, r->signal_id_tmpl, ev) ||
            !render_json(a, r->payload_tmpl, ev, "payload", &a->signal_payload))
            break;
        if (r->has_start)
            fire_start_half(a, r, ev);
        break;
    case RULES_DROP:
        break;
    case RULES_DEAD_LETTER:
        a->dl_code = strdup(r->dl_code);
        a->dl_message = strdup(r->dl_message);
        break;
    }
    if (r->nflow && a->kind != RULES_DEAD_LETTER)
        rules__fire_flow(r, ev, a);
    return SY_OK;
}

void rules__fire_admission(const cJSON *workflows, rules_action *a)
{
    if (!a->workflow || (a->kind != RULES_START && a->kind != RULES_SIGNAL))
        return;
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(workflows, a->workflow);
    if (!cJSON_GetObjectItemCaseSensitive(def, "concurrency") &&
        !cJSON_GetObjectItemCaseSensitive(def, "priority"))
        return;
    rules_admission ad;
    sy_error e;
    sy_error_clear(&e);
    if (rules_admission_render(def, a->workflow_id, a->input, &ad, &e) != SY_OK) {
        char code[32];
        snprintf(code, sizeof code, "%s", e.code);
        to_dead_letter(a, code, "route \"%s\": %s%s", e.message, "");
        return;
    }
    a->admission = rules_admission_json(&ad);
    rules_admission_cleanup(&ad);
}
