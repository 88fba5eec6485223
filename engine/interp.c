/* interp.c: the step interpreter. engine__advance walks a run's definition
 * from the first step, reading what the history already decided (the
 * reducer's state, reduce.c) and deciding what it has not: each decision is
 * a new history event (engine__emit), reduced into the state at once, so the
 * walk continues until the run blocks (a task, signal or timer is pending)
 * or closes. Conditions and rendered values are recorded in the history
 * (branch.taken, task.scheduled's input, foreach.expanded's items), so
 * replaying a history never re-evaluates a template. Templates and
 * expressions are rules/'s (rules_render, rules_eval). */
#include "engine_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { W_DONE, W_BLOCKED, W_FAILED, W_COMPLETED, W_ERROR } wres;

typedef struct walker {
    engine__ws *ws;
    engine__run *run;
    sy_error *err;
    cJSON *value; /* owned: the last step's result, the complete result, or the fail error */
} walker;

static wres walk_list(walker *w, const cJSON *steps, const char *prefix);

static cJSON *ctx(walker *w)
{
    return JGET(w->run->state, "ctx");
}

static const cJSON *key_rec(walker *w, const char *key)
{
    return JGET(JGET(w->run->state, "keys"), key);
}

static void set_value(walker *w, cJSON *v)
{
    cJSON_Delete(w->value);
    w->value = v ? v : cJSON_CreateNull();
}

static wres fail_with(walker *w, const char *type, const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    JADD(e, "type", cJSON_CreateString(type));
    JADD(e, "message", cJSON_CreateString(msg));
    set_value(w, e);
    return W_FAILED;
}

static cJSON *event(const char *key, const cJSON *step)
{
    cJSON *d = cJSON_CreateObject();
    JADD(d, "step", cJSON_CreateString(key));
    JADD(d, "name", cJSON_CreateString(engine__str(step, "name")));
    return d;
}

/* ---- task and human steps -------------------------------------------------- */

static wres render_field(walker *w, const cJSON *step, const char *field, cJSON **out)
{
    sy_error e = {0};
    const cJSON *t = JGET(step, field);
    *out = NULL;
    if (!t || cJSON_IsNull(t))
        return W_DONE;
    if (engine__render(t, ctx(w), out, &e) != SY_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "step \"%s\" field %s: %s", engine__str(step, "name"), field,
                 e.message);
        return fail_with(w, "template_error", msg);
    }
    return W_DONE;
}

/* A field used as text: a number or boolean becomes its JSON text, null (or
 * a missing value) NULL, an object or array fails the run. */
static wres render_text_field(walker *w, const cJSON *step, const char *field, char **out)
{
    sy_error e = {0};
    if (engine__render_text(JGET(step, field), ctx(w), out, &e) != SY_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "step \"%s\" field %s: %s", engine__str(step, "name"), field,
                 e.message);
        return fail_with(w, "template_error", msg);
    }
    return W_DONE;
}

static cJSON *string_or_null(char *taken)
{
    cJSON *v = taken ? cJSON_CreateString(taken) : cJSON_CreateNull();
    free(taken);
    return v;
}

/* A step's policy object as a member of an event: a reference to the
 * definition's (which outlives the event), not a copy. */
static cJSON *policy_ref(const cJSON *v)
{
    return cJSON_IsObject(v) ? cJSON_CreateObjectReference(v->child) : cJSON_Duplicate(v, 1);
}

static wres schedule_task(walker *w, const cJSON *step, const char *key, const char *name)
{
    cJSON *input = NULL;
    const cJSON *tmpl = JGET(step, "input");
    sy_error e = {0};
    if (tmpl && engine__render(tmpl, ctx(w), &input, &e) != SY_OK)
        return fail_with(w, "template_error", e.message);
    bool human = strcmp(engine__str(step, "kind"), "human") == 0;
    char *assignee = NULL; /* rendered here, recorded in task.scheduled: replays never render */
    if (human && render_text_field(w, step, "assignee", &assignee) != W_DONE) {
        cJSON_Delete(input);
        return W_FAILED;
    }
    const char *queue = engine__str(step, "queue");
    if (!*queue)
        queue = w->run->task_queue;
    char task_id[400];
    sy_concat(task_id, sizeof task_id, w->run->run_id, ":", key);
    /* what the run and its pinned definition determine comes last (the
     * history leaves it out, ws.c, and its readers append it back in this
     * order: engine__task_derived_members), the step's policies by
     * reference (not copied) */
    cJSON *d = cJSON_CreateObject();
    JADD(d, "step", cJSON_CreateString(key));
    JADD(d, "attempt", cJSON_CreateNumber(1));
    JADD(d, "input", input ? input : cJSON_CreateObject());
    if (human)
        JADD(d, "assignee", string_or_null(assignee));
    /* the definition's strings by reference: d lives only through
     * engine__emit, the definition longer (the reducer copies them) */
    JADD(d, "name", cJSON_CreateStringReference(name));
    JADD(d, "task_id", cJSON_CreateString(task_id));
    JADD(d, "task", cJSON_CreateStringReference(engine__str(step, "task")));
    JADD(d, "queue", cJSON_CreateStringReference(human ? "human" : queue));
    JADD(d, "human", cJSON_CreateBool(human));
    if (JGET(step, "retry"))
        JADD(d, "retry", policy_ref(JGET(step, "retry")));
    if (JGET(step, "timeouts"))
        JADD(d, "timeouts", policy_ref(JGET(step, "timeouts")));
    if (JGET(step, "deadline_ms"))
        JADD(d, "deadline_ms", cJSON_Duplicate(JGET(step, "deadline_ms"), 1));
    engine__emit(w->ws, w->run, "task.scheduled", d);
    return W_BLOCKED;
}

/* The outcome of one task whose key record is k (NULL: not scheduled yet). */
static wres task_outcome(walker *w, const cJSON *step, const cJSON *k)
{
    const char *status = engine__str(k, "status");
    if (strcmp(status, "done") == 0) {
        set_value(w, cJSON_Duplicate(JGET(k, "result"), 1));
        return W_DONE;
    }
    if (strcmp(status, "failed") == 0) {
        if (cJSON_IsTrue(JGET(step, "continue_on_failure"))) {
            set_value(w, NULL);
            return W_DONE;
        }
        set_value(w, cJSON_Duplicate(JGET(k, "error"), 1));
        return W_FAILED;
    }
    return W_BLOCKED;
}

static wres step_task(walker *w, const cJSON *step, const char *key)
{
    const cJSON *k = key_rec(w, key);
    if (!k || !*engine__str(k, "status"))
        return schedule_task(w, step, key, engine__str(step, "name"));
    return task_outcome(w, step, k);
}

/* ---- wait, sleep, emit -------------------------------------------------------- */

/* A wait (for a signal or an event) that has ended: done, its record's
 * `result` member the step's value, or timed out (on_timeout: continue, or
 * fail naming what it waited for). Returns false while it is open. */
static bool wait_ended(walker *w, const cJSON *step, const cJSON *k, const char *result,
                       const char *what, const char *name, wres *out)
{
    const char *status = engine__str(k, "status");
    if (strcmp(status, "done") == 0) {
        set_value(w, cJSON_Duplicate(JGET(k, result), 1));
        *out = W_DONE;
        return true;
    }
    if (strcmp(status, "timed_out") != 0)
        return false;
    if (strcmp(engine__str(step, "on_timeout"), "continue") == 0) {
        set_value(w, NULL);
        *out = W_DONE;
        return true;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "wait for %s \"%s\" timed out", what, name);
    *out = fail_with(w, "timeout", msg);
    return true;
}

/* The timer that ends a wait after timeout_ms. */
static void arm_wait_timeout(walker *w, const cJSON *step, const char *key, int64_t timeout_ms)
{
    cJSON *d = event(key, step);
    JADD(d, "kind", cJSON_CreateString("wait_timeout"));
    JADD(d, "fire_at", cJSON_CreateNumber((double)(engine__ws_now(w->ws) + timeout_ms)));
    engine__emit(w->ws, w->run, "timer.started", d);
}

static wres step_wait(walker *w, const cJSON *step, const char *key)
{
    const cJSON *k = key_rec(w, key);
    const char *status = engine__str(k, "status");
    wres ended;
    if (wait_ended(w, step, k, "signal", "signal", engine__str(step, "signal"), &ended))
        return ended;
    /* signals are buffered: the oldest unconsumed one of that name is taken */
    const cJSON *e;
    cJSON_ArrayForEach(e, JGET(w->run->state, "sigq"))
    {
        if (cJSON_IsTrue(JGET(e, "consumed")) ||
            strcmp(engine__str(e, "name"), engine__str(step, "signal")) != 0)
            continue;
        cJSON *d = event(key, step);
        JADD(d, "signal_seq", cJSON_CreateNumber((double)engine__num(e, "seq")));
        engine__emit(w->ws, w->run, "signal.consumed", d);
        set_value(w, cJSON_Duplicate(JGET(key_rec(w, key), "signal"), 1));
        return W_DONE;
    }
    if (!*status && engine__num(step, "timeout_ms") > 0)
        arm_wait_timeout(w, step, key, engine__num(step, "timeout_ms"));
    return W_BLOCKED;
}

/* The run's context a correlated event is matched against (corr.c): the
 * where sees it as it was when the wait began, plus `event`. */
static cJSON *match_ctx(walker *w, bool with_steps)
{
    cJSON *c = cJSON_CreateObject();
    const char *keep[] = {"workflow", "input", "steps", "signals"};
    for (size_t i = 0; i < (with_steps ? 4u : 2u); i++)
        if (JGET(ctx(w), keep[i]))
            cJSON_AddItemToObject(c, keep[i], cJSON_Duplicate(JGET(ctx(w), keep[i]), 1));
    return c;
}

/* A wait for a correlated event: event_wait.started subscribes the run
 * (corr.c writes its row and looks back), event.received resumes it with
 * the event's payload as the step's result. */
static wres step_wait_event(walker *w, const cJSON *step, const char *key)
{
    const cJSON *k = key_rec(w, key);
    const char *status = engine__str(k, "status");
    wres ended;
    if (wait_ended(w, step, k, "result", "event", engine__str(step, "event_type"), &ended))
        return ended;
    if (*status)
        return W_BLOCKED;
    int64_t timeout = engine__num(step, "timeout_ms");
    cJSON *d = event(key, step);
    JADD(d, "event_type", cJSON_CreateString(engine__str(step, "event_type")));
    JADD(d, "where", cJSON_CreateString(engine__str(step, "where")));
    JADD(d, "lookback_ms", cJSON_CreateNumber((double)engine__num(step, "lookback_ms")));
    JADD(d, "timeout_ms", cJSON_CreateNumber((double)timeout));
    JADD(d, "ctx", match_ctx(w, true));
    engine__emit(w->ws, w->run, "event_wait.started", d);
    if (timeout > 0)
        arm_wait_timeout(w, step, key, timeout);
    return W_BLOCKED;
}

static wres step_sleep(walker *w, const cJSON *step, const char *key)
{
    const char *status = engine__str(key_rec(w, key), "status");
    if (strcmp(status, "done") == 0)
        return W_DONE;
    if (!*status) {
        cJSON *d = event(key, step);
        JADD(d, "kind", cJSON_CreateString("sleep"));
        JADD(
            d, "fire_at",
            cJSON_CreateNumber((double)(engine__ws_now(w->ws) + engine__num(step, "duration_ms"))));
        engine__emit(w->ws, w->run, "timer.started", d);
    }
    return W_BLOCKED;
}

/* An emitted event: its envelope's subject (what the event is about; null:
 * the workflow ID) and the NATS subject it is published on (null:
 * <prefix>.emit.<type>) are separate fields. */
static wres step_emit(walker *w, const cJSON *step, const char *key)
{
    if (strcmp(engine__str(key_rec(w, key), "status"), "done") == 0)
        return W_DONE;
    cJSON *type = NULL, *payload = NULL;
    char *subject = NULL, *nats_subject = NULL;
    wres r = render_field(w, step, "type", &type);
    if (r == W_DONE)
        r = render_text_field(w, step, "subject", &subject);
    if (r == W_DONE)
        r = render_text_field(w, step, "nats_subject", &nats_subject);
    if (r == W_DONE)
        r = render_field(w, step, "payload", &payload);
    if (r == W_DONE && !cJSON_IsString(type))
        r = fail_with(w, "template_error", "emit: type must render to a string");
    if (r != W_DONE) {
        cJSON_Delete(type);
        free(subject);
        free(nats_subject);
        cJSON_Delete(payload);
        return r;
    }
    cJSON *d = event(key, step);
    JADD(d, "type", type);
    JADD(d, "subject", string_or_null(subject));
    JADD(d, "nats_subject", string_or_null(nats_subject));
    JADD(d, "payload", payload ? payload : cJSON_CreateObject());
    JADD(d, "schema_version",
         cJSON_CreateNumber(engine__num(step, "schema_version")
                                ? (double)engine__num(step, "schema_version")
                                : 1));
    engine__emit(w->ws, w->run, "event.emitted", d);
    return W_DONE;
}

/* ---- if, foreach, fail, complete ------------------------------------------------ */

static wres step_if(walker *w, const cJSON *step, const char *key)
{
    const char *branch = engine__str(key_rec(w, key), "branch");
    if (!*branch) {
        bool yes = false;
        sy_error e = {0};
        if (engine__eval(engine__str(step, "condition"), ctx(w), &yes, &e) != SY_OK)
            return fail_with(w, "expression_error", e.message);
        cJSON *d = event(key, step);
        JADD(d, "branch", cJSON_CreateString(yes ? "then" : "else"));
        engine__emit(w->ws, w->run, "branch.taken", d);
        branch = yes ? "then" : "else";
    }
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%c", key, branch[0] == 't' ? 't' : 'e');
    return walk_list(w, JGET(step, strcmp(branch, "then") == 0 ? "then" : "else"), prefix);
}

static wres foreach_expand(walker *w, const cJSON *step, const char *key)
{
    cJSON *items = NULL;
    wres r = render_field(w, step, "items", &items);
    if (r != W_DONE)
        return r;
    if (!cJSON_IsArray(items)) {
        cJSON_Delete(items);
        return fail_with(w, "template_error", "foreach: items must render to an array");
    }
    cJSON *d = event(key, step);
    JADD(d, "count", cJSON_CreateNumber(cJSON_GetArraySize(items)));
    JADD(d, "items", items);
    engine__emit(w->ws, w->run, "foreach.expanded", d);
    return W_DONE;
}

/* Schedules item i of a foreach with `<as>` and `index` in the context. */
static wres foreach_schedule(walker *w, const cJSON *step, const char *key, int i)
{
    const cJSON *items = JGET(key_rec(w, key), "items");
    const char *as = *engine__str(step, "as") ? engine__str(step, "as") : "item";
    cJSON *c = ctx(w);
    cJSON_AddItemToObject(c, as, cJSON_Duplicate(cJSON_GetArrayItem(items, i), 1));
    JADD(c, "index", cJSON_CreateNumber(i));
    char sub[300];
    snprintf(sub, sizeof sub, "%s#%d", key, i);
    cJSON *task = cJSON_Duplicate(JGET(step, "task"), 1);
    if (!JGET(task, "kind"))
        JADD(task, "kind", cJSON_CreateString("task"));
    wres r = schedule_task(w, task, sub, engine__str(step, "name"));
    cJSON_Delete(task);
    cJSON_DeleteItemFromObjectCaseSensitive(c, as);
    cJSON_DeleteItemFromObjectCaseSensitive(c, "index");
    return r == W_BLOCKED ? W_DONE : r;
}

static wres step_foreach(walker *w, const cJSON *step, const char *key)
{
    const char *status = engine__str(key_rec(w, key), "status");
    if (strcmp(status, "done") == 0) {
        set_value(w, cJSON_Duplicate(JGET(key_rec(w, key), "result"), 1));
        return W_DONE;
    }
    if (!*status && foreach_expand(w, step, key) != W_DONE)
        return W_FAILED;
    int n = (int)engine__num(key_rec(w, key), "count"), inflight = 0, done = 0;
    int maxp = (int)engine__num(step, "max_parallel");
    const cJSON *task = JGET(step, "task");
    cJSON *results = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s#%d", key, i);
        const cJSON *k = key_rec(w, sub);
        wres r = W_BLOCKED;
        if (!k && (maxp <= 0 || inflight < maxp))
            r = foreach_schedule(w, step, key, i) == W_DONE ? W_BLOCKED : W_FAILED;
        else if (k)
            r = task_outcome(w, task, k);
        else
            r = W_ERROR; /* not scheduled yet: max_parallel reached */
        if (r == W_FAILED) {
            cJSON_Delete(results);
            return W_FAILED;
        }
        done += r == W_DONE;
        inflight += r == W_BLOCKED;
        cJSON_AddItemToArray(results,
                             r == W_DONE ? cJSON_Duplicate(w->value, 1) : cJSON_CreateNull());
    }
    if (done < n) {
        cJSON_Delete(results);
        return W_BLOCKED;
    }
    cJSON *d = event(key, step);
    JADD(d, "result", results);
    engine__emit(w->ws, w->run, "foreach.joined", d);
    set_value(w, cJSON_Duplicate(JGET(key_rec(w, key), "result"), 1));
    return W_DONE;
}

static wres step_fail(walker *w, const cJSON *step)
{
    cJSON *e = NULL;
    wres r = render_field(w, step, "error", &e);
    if (r != W_DONE)
        return r;
    set_value(w, e ? e : cJSON_CreateObject());
    return W_FAILED;
}

static wres step_complete(walker *w, const cJSON *step)
{
    cJSON *v = NULL;
    wres r = render_field(w, step, "result", &v);
    if (r != W_DONE)
        return r;
    set_value(w, v);
    return W_COMPLETED;
}

static wres walk_step(walker *w, const cJSON *step, const char *key)
{
    const char *kind = engine__str(step, "kind");
    if (strcmp(kind, "task") == 0 || strcmp(kind, "human") == 0)
        return step_task(w, step, key);
    if (strcmp(kind, "wait") == 0)
        return step_wait(w, step, key);
    if (strcmp(kind, "wait_event") == 0)
        return step_wait_event(w, step, key);
    if (strcmp(kind, "sleep") == 0)
        return step_sleep(w, step, key);
    if (strcmp(kind, "emit") == 0)
        return step_emit(w, step, key);
    if (strcmp(kind, "if") == 0)
        return step_if(w, step, key);
    if (strcmp(kind, "foreach") == 0)
        return step_foreach(w, step, key);
    if (strcmp(kind, "fail") == 0)
        return step_fail(w, step);
    if (strcmp(kind, "complete") == 0)
        return step_complete(w, step);
    return fail_with(w, "bad_definition", "unknown step kind");
}

static wres walk_list(walker *w, const cJSON *steps, const char *prefix)
{
    int i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, steps)
    {
        char key[256], n[21];
        sy_concat(key, sizeof key, prefix, *prefix ? "/" : "", sy_i64(n, i++));
        wres r = walk_step(w, step, key);
        if (r != W_DONE)
            return r;
    }
    return W_DONE;
}

/* ---- closing --------------------------------------------------------------------- */

/* Cancels every task not yet finished (a task.canceled event each). */
void engine__cancel_pending(engine__ws *ws, engine__run *run)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, JGET(run->state, "tasks"))
    {
        const char *st = engine__str(t, "status");
        if (strcmp(st, "scheduled") && strcmp(st, "started") && strcmp(st, "backoff"))
            continue;
        cJSON *d = cJSON_CreateObject();
        JADD(d, "task_id", cJSON_CreateString(t->string));
        JADD(d, "attempt", cJSON_CreateNumber((double)engine__num(t, "attempt")));
        engine__emit(ws, run, "task.canceled", d);
    }
}

static void close_run(engine__ws *ws, engine__run *run, const char *type, const char *field,
                      cJSON *value)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, field, value ? value : cJSON_CreateNull());
    engine__emit(ws, run, type, d);
}

sy_status engine__advance(engine__ws *ws, engine__run *run, sy_error *err)
{
    if (strcmp(engine__str(run->state, "status"), "running") != 0)
        return SY_OK;
    if (cJSON_IsTrue(JGET(run->state, "cancel_requested"))) {
        engine__cancel_pending(ws, run);
        close_run(ws, run, "workflow.canceled", "reason", cJSON_CreateString("cancel requested"));
        return SY_OK;
    }
    walker w = {.ws = ws, .run = run, .err = err, .value = cJSON_CreateNull()};
    const cJSON *cancel_on = JGET(run->def->body, "cancel_on");
    if (cJSON_GetArraySize(cancel_on) > 0 && !cJSON_IsTrue(JGET(run->state, "cancel_armed"))) {
        /* the run's cancel_on subscriptions (corr.c), from its start */
        cJSON *d = cJSON_CreateObject();
        JADD(d, "subs", cJSON_Duplicate(cancel_on, 1));
        JADD(d, "ctx", match_ctx(&w, false));
        engine__emit(ws, run, "cancel_on.armed", d);
    }
    wres r = walk_list(&w, JGET(run->def->body, "steps"), "");
    if (r == W_DONE || r == W_COMPLETED) {
        close_run(ws, run, "workflow.completed", "result", w.value);
        w.value = NULL;
    } else if (r == W_FAILED) {
        engine__cancel_pending(ws, run);
        close_run(ws, run, "workflow.failed", "error", w.value);
        w.value = NULL;
    }
    cJSON_Delete(w.value);
    return r == W_ERROR ? err->status : SY_OK;
}

/* ---- task failures and retries ------------------------------------------------------ */

static bool non_retryable(const cJSON *retry, const char *type)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, JGET(retry, "non_retryable"))
    {
        if (cJSON_IsString(t) && type && strcmp(t->valuestring, type) == 0)
            return true;
    }
    return false;
}

/* Backoff before attempt+1: initial * backoff^(attempt-1), capped. */
static int64_t backoff_ms(const cJSON *retry, int64_t attempt)
{
    double initial = cJSON_IsNumber(JGET(retry, "initial_interval_ms"))
                         ? JGET(retry, "initial_interval_ms")->valuedouble
                         : 1000;
    double factor =
        cJSON_IsNumber(JGET(retry, "backoff")) ? JGET(retry, "backoff")->valuedouble : 2.0;
    double cap = cJSON_IsNumber(JGET(retry, "maximum_interval_ms"))
                     ? JGET(retry, "maximum_interval_ms")->valuedouble
                     : 100 * initial;
    double d = initial * pow(factor, (double)(attempt - 1));
    return (int64_t)(d > cap ? cap : d);
}

void engine__task_failure(engine__ws *ws, engine__run *run, const cJSON *task, const char *type,
                          cJSON *error, bool retryable, bool force_final)
{
    const cJSON *retry = JGET(task, "retry");
    int64_t attempt = engine__num(task, "attempt"), max = engine__num(retry, "maximum_attempts");
    bool type_final = non_retryable(retry, engine__str(error, "type"));
    bool final = force_final || !retryable || type_final || (max > 0 && attempt >= max) ||
                 cJSON_IsTrue(JGET(task, "human"));
    if (type_final && cJSON_IsObject(error)) { /* the policy overrules the reporter's word */
        cJSON_DeleteItemFromObjectCaseSensitive(error, "retryable");
        cJSON_AddItemToObject(error, "retryable", cJSON_CreateFalse());
    }
    cJSON *d = cJSON_CreateObject();
    JADD(d, "task_id", cJSON_CreateString(task->string));
    JADD(d, "attempt", cJSON_CreateNumber((double)attempt));
    JADD(d, "error", error);
    JADD(d, "final", cJSON_CreateBool(final));
    if (!final)
        JADD(d, "retry_at",
             cJSON_CreateNumber((double)(engine__ws_now(ws) + backoff_ms(retry, attempt))));
    engine__emit(ws, run, type, d);
}

void engine__task_retry(engine__ws *ws, engine__run *run, const cJSON *task)
{
    /* in schedule_task's order: what the history leaves out comes last */
    cJSON *d = cJSON_CreateObject();
    JADD(d, "step", cJSON_CreateString(engine__str(task, "step")));
    JADD(d, "attempt", cJSON_CreateNumber((double)(engine__num(task, "attempt") + 1)));
    if (JGET(task, "input"))
        JADD(d, "input", cJSON_Duplicate(JGET(task, "input"), 1));
    JADD(d, "name", cJSON_CreateString(engine__str(task, "name")));
    JADD(d, "task_id", cJSON_CreateString(task->string));
    if (JGET(task, "task"))
        JADD(d, "task", cJSON_Duplicate(JGET(task, "task"), 1));
    JADD(d, "queue", cJSON_CreateString(engine__str(task, "queue")));
    JADD(d, "human", cJSON_CreateBool(cJSON_IsTrue(JGET(task, "human"))));
    const char *copy[] = {"retry", "timeouts"};
    for (size_t i = 0; i < 2; i++)
        if (JGET(task, copy[i]))
            cJSON_AddItemToObject(d, copy[i], cJSON_Duplicate(JGET(task, copy[i]), 1));
    engine__emit(ws, run, "task.scheduled", d);
}
