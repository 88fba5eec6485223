/* load_workflows.c: `workflows:` and `schedules:` of the rules file,
 * validated and normalised into the JSON shape of docs/workflow-definition.md
 * (durations in ms, every default filled in, every step named), which the
 * engine and the scheduler consume. Templates and conditions stay strings
 * but are checked here, so a typo is a load error, not a failed workflow. */
#include "closest.h"
#include "rules_int.h"

#include "cron.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const step_kinds[] = {"task", "human",   "wait", "sleep",    "emit",
                                         "if",   "foreach", "fail", "complete", "wait_event"};
#define NKINDS (sizeof step_kinds / sizeof step_kinds[0])

/* Template roots inside a workflow (docs/workflow-definition.md). */
static const rules_root wf_roots[] = {
    {"workflow", RT_OBJ, RT_ANY},
    {"input", RT_ANY, RT_ANY},
    {"steps", RT_OBJ, RT_ANY},
    {"signals", RT_OBJ, RT_ANY},
};
#define NWF_ROOTS (sizeof wf_roots / sizeof wf_roots[0])

typedef struct wf_ctx {
    rules_loader *ld;
    const char *type;
    const char *task_queue;
    cJSON *names; /* object: step name -> true, for uniqueness */
    const rules_root *roots;
    size_t nroots;
} wf_ctx;

static cJSON *load_steps(wf_ctx *w, const rnode *seq, const char *what);

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, v);
}

/* A JSON template field: checks its templates, returns its JSON (owned). */
static cJSON *tmpl_field(wf_ctx *w, const rnode *n, cJSON *dflt)
{
    if (!n)
        return dflt;
    cJSON_Delete(dflt);
    rules__check_node_templates(w->ld, n, w->roots, w->nroots);
    return rules__node_json(n);
}

/* A template string field (or null when absent and nullable). */
static cJSON *tmpl_string(wf_ctx *w, const rnode *n, const char *what, const char *dflt)
{
    const char *s = dflt;
    if (n && rules__get_string(w->ld, n, what, &s))
        rules__check_node_templates(w->ld, n, w->roots, w->nroots);
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static int64_t dur(wf_ctx *w, const rnode *map, const char *key, int64_t dflt)
{
    const rnode *n = rules__map_get(map, key);
    int64_t v = dflt;
    if (n)
        rules__get_duration(w->ld, n, key, &v);
    return v;
}

static cJSON *load_retry(wf_ctx *w, const rnode *n)
{
    static const char *const keys[] = {"initial_interval", "backoff", "maximum_interval",
                                       "maximum_attempts", "non_retryable"};
    cJSON *r = cJSON_CreateObject();
    int64_t initial = 1000, maxi, attempts = 0;
    double backoff = 2.0;
    cJSON *nr = cJSON_CreateArray();
    if (n && rules__expect_kind(w->ld, n, RN_MAP, "retry")) {
        rules__check_keys(w->ld, n, "retry", keys, 5);
        initial = dur(w, n, "initial_interval", 1000);
        const rnode *v;
        if ((v = rules__map_get(n, "backoff")) &&
            rules__get_number(w->ld, v, "backoff", &backoff) && backoff < 1.0)
            rules__diag(w->ld->d, v, "backoff must be >= 1.0");
        if ((v = rules__map_get(n, "maximum_attempts")))
            rules__get_int(w->ld, v, "maximum_attempts", 0, &attempts);
        if ((v = rules__map_get(n, "non_retryable")) &&
            rules__expect_kind(w->ld, v, RN_SEQ, "non_retryable"))
            for (size_t i = 0; i < v->n; i++) {
                const char *s;
                if (rules__get_string(w->ld, v->vals[i], "non_retryable item", &s))
                    cJSON_AddItemToArray(nr, cJSON_CreateString(s));
            }
    }
    maxi = dur(w, n, "maximum_interval", initial * 100);
    if (n && maxi < initial)
        rules__diag(w->ld->d,
                    rules__map_get(n, "maximum_interval") ? rules__map_get(n, "maximum_interval")
                                                          : n,
                    "maximum_interval is shorter than initial_interval");
    add_num(r, "initial_interval_ms", (double)initial);
    add_num(r, "backoff", backoff);
    add_num(r, "maximum_interval_ms", (double)maxi);
    add_num(r, "maximum_attempts", (double)attempts);
    cJSON_AddItemToObject(r, "non_retryable", nr);
    return r;
}

static cJSON *load_timeouts(wf_ctx *w, const rnode *n)
{
    static const char *const keys[] = {"schedule_to_start", "start_to_close", "schedule_to_close",
                                       "heartbeat"};
    cJSON *t = cJSON_CreateObject();
    if (n && rules__expect_kind(w->ld, n, RN_MAP, "timeouts"))
        rules__check_keys(w->ld, n, "timeouts", keys, 4);
    else
        n = NULL;
    char k[64];
    for (size_t i = 0; i < 4; i++) {
        snprintf(k, sizeof k, "%s_ms", keys[i]);
        add_num(t, k, (double)dur(w, n, keys[i], 0));
    }
    return t;
}

static bool get_bool_field(wf_ctx *w, const rnode *map, const char *key, bool dflt)
{
    const rnode *n = rules__map_get(map, key);
    bool v = dflt;
    if (n)
        rules__get_bool(w->ld, n, key, &v);
    return v;
}

/* A task step's `max_in_flight: N` (docs/flow-control.md, "Task dispatch"):
 * at most N tasks of its queue dispatched and not finished; the others wait
 * in Postgres. A queue is one dispatch limit, so every step of the file that
 * names a limit for the queue must name the same one (ld->queue_limits:
 * queue -> limit). */
static void load_max_in_flight(wf_ctx *w, const rnode *n, const char *queue, cJSON *s)
{
    int64_t lim = 0;
    if (!n || !rules__get_int(w->ld, n, "max_in_flight", 1, &lim))
        return;
    if (lim > RULES_CONC_LIMIT_MAX) {
        rules__diag(w->ld->d, n, "max_in_flight must be at most %d", RULES_CONC_LIMIT_MAX);
        return;
    }
    if (!w->ld->queue_limits)
        w->ld->queue_limits = cJSON_CreateObject();
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(w->ld->queue_limits, queue);
    if (seen && (int64_t)seen->valuedouble != lim) {
        rules__diag(w->ld->d, n,
                    "max_in_flight %lld for queue \"%s\" differs from the %lld another step "
                    "gives it (one limit per queue)",
                    (long long)lim, queue, (long long)seen->valuedouble);
        return;
    }
    if (!seen)
        cJSON_AddNumberToObject(w->ld->queue_limits, queue, (double)lim);
    add_num(s, "max_in_flight", (double)lim);
}

/* Fills a task step's fields (kind and name are added by the caller). */
static void task_fields(wf_ctx *w, const rnode *m, const char *task, cJSON *s)
{
    cJSON_AddStringToObject(s, "task", task);
    /* only a queue of the step's own: without one the engine takes the
     * run's, which is the start's override (a route's task_queue,
     * `workflow start --queue`) or else the workflow's task_queue */
    const rnode *q = rules__map_get(m, "queue");
    const char *queue = NULL;
    if (q && rules__get_string(w->ld, q, "queue", &queue) && queue)
        cJSON_AddStringToObject(s, "queue", queue);
    cJSON_AddItemToObject(s, "input",
                          tmpl_field(w, rules__map_get(m, "input"), cJSON_CreateObject()));
    cJSON_AddItemToObject(s, "retry", load_retry(w, rules__map_get(m, "retry")));
    cJSON_AddItemToObject(s, "timeouts", load_timeouts(w, rules__map_get(m, "timeouts")));
    cJSON_AddBoolToObject(s, "continue_on_failure",
                          get_bool_field(w, m, "continue_on_failure", false));
    load_max_in_flight(w, rules__map_get(m, "max_in_flight"), queue ? queue : w->task_queue, s);
}

static const char *const task_keys[] = {
    "task", "name", "queue", "input", "retry", "timeouts", "continue_on_failure", "max_in_flight"};

static void step_task(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    rules__check_keys(w->ld, m, "a task step", task_keys, 8);
    const char *task = "?";
    rules__get_string(w->ld, v, "task", &task);
    task_fields(w, m, task, s);
}

static void step_human(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"human", "name", "input", "deadline", "assignee"};
    rules__check_keys(w->ld, m, "a human step", keys, 5);
    const char *task = "?";
    rules__get_string(w->ld, v, "human", &task);
    cJSON_AddStringToObject(s, "task", task);
    cJSON_AddItemToObject(s, "input",
                          tmpl_field(w, rules__map_get(m, "input"), cJSON_CreateObject()));
    add_num(s, "deadline_ms", (double)dur(w, m, "deadline", 0));
    cJSON_AddItemToObject(s, "assignee",
                          tmpl_string(w, rules__map_get(m, "assignee"), "assignee", NULL));
}

static void step_wait(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"wait", "name", "timeout", "on_timeout"};
    static const char *const on_timeout[] = {"fail", "continue"};
    rules__check_keys(w->ld, m, "a wait step", keys, 4);
    const char *sig = "?";
    rules__get_string(w->ld, v, "wait", &sig);
    cJSON_AddStringToObject(s, "signal", sig);
    add_num(s, "timeout_ms", (double)dur(w, m, "timeout", 0));
    const rnode *o = rules__map_get(m, "on_timeout");
    int i = o ? rules__get_enum(w->ld, o, "on_timeout", on_timeout, 2) : 0;
    cJSON_AddStringToObject(s, "on_timeout", on_timeout[i < 0 ? 0 : i]);
}

static void step_sleep(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"sleep", "name"};
    rules__check_keys(w->ld, m, "a sleep step", keys, 2);
    int64_t ms = 0;
    rules__get_duration(w->ld, v, "sleep", &ms);
    add_num(s, "duration_ms", (double)ms);
}

/* An emit's nats_subject, as far as it is known at load: each
 * {{ template }} stands for one non-empty token of its own, so the text
 * around the templates must still make a subject ("a.{{ x }}.b" does;
 * "a b.{{ x }}", "a..{{ x }}" and "a.>" do not). */
static void check_emit_subject(wf_ctx *w, const rnode *n)
{
    if (!n || n->kind != RN_SCALAR || !n->str)
        return;
    sy_buf shape = SY_BUF_INIT;
    for (const char *p = n->str; *p;) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open, "}}") : NULL;
        if (!close) {
            sy_buf_puts(&shape, p);
            break;
        }
        sy_buf_append(&shape, p, (size_t)(open - p));
        sy_buf_putc(&shape, 'x');
        p = close + 2;
    }
    const char *why = NULL;
    if (!rules_subject_valid(sy_buf_str(&shape), &why))
        rules__diag(w->ld->d, n, "emit nats_subject \"%s\" cannot be published to: %s", n->str,
                    why);
    sy_buf_cleanup(&shape);
}

static void step_emit(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"emit", "name"};
    static const char *const ekeys[] = {"type", "subject", "nats_subject", "payload",
                                        "schema_version"};
    rules__check_keys(w->ld, m, "an emit step", keys, 2);
    if (!rules__expect_kind(w->ld, v, RN_MAP, "emit"))
        return;
    rules__check_keys(w->ld, v, "emit", ekeys, 5);
    const rnode *t = rules__map_get(v, "type");
    if (!t)
        rules__diag(w->ld->d, v, "emit needs a type");
    cJSON_AddItemToObject(s, "type", tmpl_string(w, t, "type", "?"));
    /* subject: the envelope's (what the event is about); nats_subject: where
     * it is published. Two fields, so neither is mistaken for the other. */
    cJSON_AddItemToObject(s, "subject",
                          tmpl_string(w, rules__map_get(v, "subject"), "subject", NULL));
    cJSON_AddItemToObject(s, "nats_subject",
                          tmpl_string(w, rules__map_get(v, "nats_subject"), "nats_subject", NULL));
    check_emit_subject(w, rules__map_get(v, "nats_subject"));
    cJSON_AddItemToObject(s, "payload",
                          tmpl_field(w, rules__map_get(v, "payload"), cJSON_CreateObject()));
    int64_t ver = 1;
    const rnode *sv = rules__map_get(v, "schema_version");
    if (sv)
        rules__get_int(w->ld, sv, "schema_version", 1, &ver);
    add_num(s, "schema_version", (double)ver);
}

static void step_if(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"if", "name", "then", "else"};
    rules__check_keys(w->ld, m, "an if step", keys, 4);
    const char *cond = "false";
    if (rules__get_string(w->ld, v, "if", &cond)) {
        rules_arena a = {0};
        sy_error e;
        if (!rules__expr_compile(&a, cond, w->roots, w->nroots, &e))
            rules__diag_at(w->ld->d, v->file, v->line,
                           v->col + (v->plain ? 0 : 1) + atoi(e.path + 1), "in condition: %s",
                           e.message);
        rules__arena_free(&a);
    }
    cJSON_AddStringToObject(s, "condition", cond);
    const rnode *t = rules__map_get(m, "then"), *e = rules__map_get(m, "else");
    if (!t)
        rules__diag(w->ld->d, m, "an if step needs then:");
    cJSON_AddItemToObject(s, "then", t ? load_steps(w, t, "then") : cJSON_CreateArray());
    cJSON_AddItemToObject(s, "else", e ? load_steps(w, e, "else") : cJSON_CreateArray());
}

static void step_foreach(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"foreach", "name", "as", "task", "max_parallel"};
    rules__check_keys(w->ld, m, "a foreach step", keys, 5);
    cJSON_AddItemToObject(s, "items", tmpl_string(w, v, "foreach", "[]"));
    const char *as = "item";
    const rnode *an = rules__map_get(m, "as");
    if (an)
        rules__get_string(w->ld, an, "as", &as);
    cJSON_AddStringToObject(s, "as", as);
    rules_root roots[NWF_ROOTS + 2];
    memcpy(roots, w->roots, w->nroots * sizeof *roots);
    roots[w->nroots] = (rules_root){as, RT_ANY, RT_ANY};
    roots[w->nroots + 1] = (rules_root){"index", RT_NUM, RT_ANY};
    wf_ctx inner = *w;
    inner.roots = roots;
    inner.nroots = w->nroots + 2;
    cJSON *task = cJSON_CreateObject();
    const rnode *t = rules__map_get(m, "task");
    cJSON_AddStringToObject(task, "kind", "task");
    if (!t) {
        rules__diag(w->ld->d, m, "a foreach step needs task:");
    } else if (t->kind == RN_SCALAR) {
        const char *name = "?";
        rules__get_string(w->ld, t, "task", &name);
        cJSON_AddStringToObject(task, "name", name);
        task_fields(&inner, &(rnode){.kind = RN_MAP}, name, task);
    } else if (rules__expect_kind(w->ld, t, RN_MAP, "foreach task")) {
        const rnode *tn = rules__map_get(t, "task");
        const char *name = "?";
        if (!tn)
            rules__diag(w->ld->d, t, "foreach task needs task: (the task's name)");
        else
            rules__get_string(w->ld, tn, "task", &name);
        rules__check_keys(w->ld, t, "a foreach task", task_keys, 8);
        const rnode *nn = rules__map_get(t, "name");
        const char *sname = name;
        if (nn)
            rules__get_string(w->ld, nn, "name", &sname);
        cJSON_AddStringToObject(task, "name", sname);
        task_fields(&inner, t, name, task);
    }
    cJSON_AddItemToObject(s, "task", task);
    int64_t mp = 0;
    const rnode *mpn = rules__map_get(m, "max_parallel");
    if (mpn)
        rules__get_int(w->ld, mpn, "max_parallel", 0, &mp);
    add_num(s, "max_parallel", (double)mp);
}

static void step_fail(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"fail", "name"};
    static const char *const fkeys[] = {"type", "message"};
    rules__check_keys(w->ld, m, "a fail step", keys, 2);
    cJSON *e = cJSON_CreateObject();
    if (v->kind == RN_SCALAR) {
        cJSON_AddStringToObject(e, "type", "workflow_failed");
        cJSON_AddItemToObject(e, "message", tmpl_string(w, v, "fail", ""));
    } else if (rules__expect_kind(w->ld, v, RN_MAP, "fail")) {
        rules__check_keys(w->ld, v, "fail", fkeys, 2);
        cJSON_AddItemToObject(e, "type",
                              tmpl_string(w, rules__map_get(v, "type"), "type", "workflow_failed"));
        cJSON_AddItemToObject(e, "message",
                              tmpl_string(w, rules__map_get(v, "message"), "message", ""));
    }
    cJSON_AddItemToObject(s, "error", e);
}

static void step_complete(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"complete", "name"};
    rules__check_keys(w->ld, m, "a complete step", keys, 2);
    cJSON_AddItemToObject(s, "result", tmpl_field(w, v, NULL));
}

/* A wait for a correlated event (load_corr.c): its payload is the step's
 * result; events that came up to `lookback` before the wait count too. */
static void step_wait_event(wf_ctx *w, const rnode *m, const rnode *v, cJSON *s)
{
    static const char *const keys[] = {"wait_event", "name",     "where",
                                       "timeout",    "lookback", "on_timeout"};
    static const char *const on_timeout[] = {"fail", "continue"};
    rules__check_keys(w->ld, m, "a wait_event step", keys, 6);
    rules__load_event_match(w->ld, m, v, "wait_event", w->roots, w->nroots, s);
    int64_t timeout = dur(w, m, "timeout", 0), lookback = dur(w, m, "lookback", 0);
    if (timeout < 0 || lookback < 0)
        rules__diag(w->ld->d, m, "wait_event: timeout and lookback must not be negative");
    add_num(s, "timeout_ms", (double)timeout);
    add_num(s, "lookback_ms", (double)lookback);
    const rnode *o = rules__map_get(m, "on_timeout");
    int i = o ? rules__get_enum(w->ld, o, "on_timeout", on_timeout, 2) : 0;
    cJSON_AddStringToObject(s, "on_timeout", on_timeout[i < 0 ? 0 : i]);
}

typedef void (*step_fn)(wf_ctx *, const rnode *, const rnode *, cJSON *);
static const step_fn step_fns[] = {step_task,     step_human,     step_wait,    step_sleep,
                                   step_emit,     step_if,        step_foreach, step_fail,
                                   step_complete, step_wait_event};

/* Which kind a step map is: foreach wins (its `task:` is a field). */
static int step_kind(wf_ctx *w, const rnode *m)
{
    if (rules__map_get(m, "foreach"))
        return 6;
    int found = -1;
    for (size_t i = 0; i < NKINDS; i++) {
        if (!rules__map_get(m, step_kinds[i]))
            continue;
        if (found >= 0) {
            rules__diag(w->ld->d, m, "a step has one kind, but this has both %s and %s",
                        step_kinds[found], step_kinds[i]);
            return -1;
        }
        found = (int)i;
    }
    if (found >= 0)
        return found;
    bool typo = false;
    for (size_t i = 0; i < m->n; i++) {
        const char *sug = sy_closest(m->keys[i]->str, step_kinds, NKINDS);
        if (sug) {
            rules__diag(w->ld->d, m->keys[i], "unknown key \"%s\" in a step (did you mean \"%s\"?)",
                        m->keys[i]->str, sug);
            typo = true;
        }
    }
    if (!typo)
        rules__diag(w->ld->d, m,
                    "a step needs one of: task, human, wait, sleep, emit, if, "
                    "foreach, fail, complete, wait_event");
    return found;
}

static cJSON *load_step(wf_ctx *w, const rnode *m, size_t index)
{
    if (!rules__expect_kind(w->ld, m, RN_MAP, "a step"))
        return NULL;
    int k = step_kind(w, m);
    if (k < 0)
        return NULL;
    const rnode *v = rules__map_get(m, step_kinds[k]);
    char name[300];
    const rnode *nn = rules__map_get(m, "name");
    const char *given = NULL;
    if (nn)
        rules__get_string(w->ld, nn, "name", &given);
    if (given)
        snprintf(name, sizeof name, "%s", given);
    else if ((k == 0 || k == 1 || k == 2 || k == 9) && v->kind == RN_SCALAR && *v->str)
        snprintf(name, sizeof name, "%s", v->str);
    else
        snprintf(name, sizeof name, "%s-%zu", step_kinds[k], index + 1);
    if (cJSON_GetObjectItemCaseSensitive(w->names, name))
        rules__diag(w->ld->d, nn ? nn : m,
                    "workflow \"%s\": step name \"%s\" is used twice "
                    "(give one a different name:)",
                    w->type, name);
    else
        cJSON_AddTrueToObject(w->names, name);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "kind", step_kinds[k]);
    cJSON_AddStringToObject(s, "name", name);
    step_fns[k](w, m, v, s);
    return s;
}

static cJSON *load_steps(wf_ctx *w, const rnode *seq, const char *what)
{
    cJSON *steps = cJSON_CreateArray();
    if (!rules__expect_kind(w->ld, seq, RN_SEQ, what))
        return steps;
    for (size_t i = 0; i < seq->n; i++) {
        cJSON *s = load_step(w, seq->vals[i], i);
        if (s)
            cJSON_AddItemToArray(steps, s);
    }
    return steps;
}

static void load_workflow(rules_loader *ld, const rnode *key, const rnode *m)
{
    static const char *const keys[] = {"task_queue",  "steps",    "description",
                                       "cancel_on",   "concurrency", "priority"};
    if (cJSON_GetObjectItemCaseSensitive(ld->set->workflows, key->str)) {
        rules__diag(ld->d, key, "workflow \"%s\" is defined twice", key->str);
        return;
    }
    if (!rules_workflow_id_valid(key->str))
        rules__diag(ld->d, key, "workflow name \"%s\" must match [A-Za-z0-9._:/-]{1,255}",
                    key->str);
    if (!rules__expect_kind(ld, m, RN_MAP, "a workflow"))
        return;
    rules__check_keys(ld, m, "a workflow", keys, 6);
    wf_ctx w = {.ld = ld,
                .type = key->str,
                .task_queue = key->str,
                .names = cJSON_CreateObject(),
                .roots = wf_roots,
                .nroots = NWF_ROOTS};
    const rnode *q = rules__map_get(m, "task_queue");
    if (q)
        rules__get_string(ld, q, "task_queue", &w.task_queue);
    const rnode *steps = rules__map_get(m, "steps");
    cJSON *wf = cJSON_CreateObject();
    cJSON_AddStringToObject(wf, "type", key->str);
    cJSON_AddStringToObject(wf, "task_queue", w.task_queue);
    if (!steps || (steps->kind == RN_SEQ && steps->n == 0))
        rules__diag(ld->d, steps ? steps : m, "workflow \"%s\" needs at least one step", key->str);
    cJSON_AddItemToObject(wf, "steps",
                          steps ? load_steps(&w, steps, "steps") : cJSON_CreateArray());
    const rnode *cancel_on = rules__map_get(m, "cancel_on");
    if (cancel_on)
        rules__load_cancel_on(ld, cancel_on, w.roots, w.nroots, wf);
    cJSON_Delete(w.names);
    rules__load_admission(ld, wf, m);
    cJSON_AddItemToObject(ld->set->workflows, key->str, wf);
}

void rules__load_workflows(rules_loader *ld, const rnode *map)
{
    if (!rules__expect_kind(ld, map, RN_MAP, "workflows"))
        return;
    for (size_t i = 0; i < map->n; i++)
        load_workflow(ld, map->keys[i], map->vals[i]);
}

void rules__unknown_workflow(rules_loader *ld, const rnode *at, const char *name)
{
    const char *names[64];
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ld->set->workflows)
    {
        if (n < 64)
            names[n++] = it->string;
    }
    const char *sug = sy_closest(name, names, n);
    if (sug)
        rules__diag(ld->d, at, "unknown workflow \"%s\" (did you mean \"%s\"?)", name, sug);
    else
        rules__diag(ld->d, at, "unknown workflow \"%s\" (define it under workflows:)", name);
}

/* ---- schedules ------------------------------------------------------------------ */

/* The parsed spec (owned, sy_cron_free), or NULL after a diagnostic. */
static sy_cron *check_cron(rules_loader *ld, const rnode *n, const char *spec)
{
    sy_cron *c = NULL;
    size_t col = 0;
    sy_error e;
    if (sy_cron_parse_col(spec, &c, &col, &e) != SY_OK) {
        int at = n->col + (n->plain ? 0 : 1) + (col ? (int)col - 1 : 0);
        rules__diag_at(ld->d, n->file, n->line, at, "invalid cron \"%s\": %s", spec, e.message);
    }
    return c;
}

/* The zone must exist and mean something for the spec (c NULL: the cron was
 * already reported). */
static void check_timezone(rules_loader *ld, const rnode *n, const char *name, const sy_cron *c)
{
    sy_tz *tz = NULL;
    sy_error e;
    if (sy_tz_load(name, &tz, &e) != SY_OK)
        rules__diag(ld->d, n, "timezone \"%s\": %s", name, e.message);
    else if (c && sy_cron_check_zone(c, name, &e) != SY_OK)
        rules__diag(ld->d, n, "%s", e.message);
    sy_tz_free(tz);
}

static const char *const sched_keys[] = {
    "id",     "cron",   "timezone",        "workflow",   "input", "overlap", "catchup_window",
    "jitter", "paused", "limited_actions", "description"};
static const char *const overlaps[] = {"skip",         "buffer_one",      "buffer_all",
                                       "cancel_other", "terminate_other", "allow_all"};

static const char *required_string(rules_loader *ld, const rnode *m, const char *key,
                                   const char *what)
{
    const rnode *n = rules__map_get(m, key);
    const char *s = NULL;
    if (!n)
        rules__diag(ld->d, m, "%s needs %s:", what, key);
    else
        rules__get_string(ld, n, key, &s);
    return s;
}

static void load_schedule(rules_loader *ld, const rnode *m)
{
    static const rules_root roots[] = {{"schedule", RT_OBJ, RT_ANY}};
    if (!rules__expect_kind(ld, m, RN_MAP, "a schedule"))
        return;
    rules__check_keys(ld, m, "a schedule", sched_keys, sizeof sched_keys / sizeof *sched_keys);
    wf_ctx w = {.ld = ld, .roots = roots, .nroots = 1};
    const char *id = required_string(ld, m, "id", "a schedule");
    const char *cron = required_string(ld, m, "cron", "a schedule");
    const char *wf = required_string(ld, m, "workflow", "a schedule");
    const cJSON *it;
    cJSON_ArrayForEach(it, ld->set->schedules)
    {
        if (id && strcmp(cJSON_GetObjectItemCaseSensitive(it, "id")->valuestring, id) == 0)
            rules__diag(ld->d, rules__map_get(m, "id"), "schedule \"%s\" is defined twice", id);
    }
    if (id && (!rules_workflow_id_valid(id) || strlen(id) > RULES_SCHEDULE_ID_MAX))
        rules__diag(ld->d, rules__map_get(m, "id"),
                    "schedule id \"%.40s\" must be 1-%d characters of [A-Za-z0-9._:/-] "
                    "(its firings are workflow IDs <id>:<scheduled_for>)",
                    id, RULES_SCHEDULE_ID_MAX);
    sy_cron *parsed = cron ? check_cron(ld, rules__map_get(m, "cron"), cron) : NULL;
    if (wf && !cJSON_GetObjectItemCaseSensitive(ld->set->workflows, wf))
        rules__unknown_workflow(ld, rules__map_get(m, "workflow"), wf);
    const rnode *tzn = rules__map_get(m, "timezone");
    const char *tz = "UTC";
    if (tzn && rules__get_string(ld, tzn, "timezone", &tz))
        check_timezone(ld, tzn, tz, parsed);
    sy_cron_free(parsed);
    const rnode *ov = rules__map_get(m, "overlap");
    int o = ov ? rules__get_enum(ld, ov, "overlap", overlaps, 6) : 0;
    int64_t limited = 0;
    const rnode *ln = rules__map_get(m, "limited_actions");
    if (ln)
        rules__get_int(ld, ln, "limited_actions", 0, &limited);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "id", id ? id : "?");
    cJSON_AddStringToObject(s, "cron", cron ? cron : "?");
    cJSON_AddStringToObject(s, "timezone", tz);
    cJSON_AddStringToObject(s, "workflow", wf ? wf : "?");
    cJSON_AddItemToObject(s, "input",
                          tmpl_field(&w, rules__map_get(m, "input"), cJSON_CreateObject()));
    cJSON_AddStringToObject(s, "overlap", overlaps[o < 0 ? 0 : o]);
    add_num(s, "catchup_window_ms", (double)dur(&w, m, "catchup_window", 3600000));
    add_num(s, "jitter_ms", (double)dur(&w, m, "jitter", 0));
    cJSON_AddBoolToObject(s, "paused", get_bool_field(&w, m, "paused", false));
    add_num(s, "limited_actions", (double)limited);
    cJSON_AddItemToArray(ld->set->schedules, s);
}

void rules__load_schedules(rules_loader *ld, const rnode *seq)
{
    if (!rules__expect_kind(ld, seq, RN_SEQ, "schedules"))
        return;
    for (size_t i = 0; i < seq->n; i++)
        load_schedule(ld, seq->vals[i]);
}
