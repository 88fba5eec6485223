/* reduce.c: the reducer. The state of a run is a pure function of its
 * history: engine__reduce folds one history event into a JSON state, and
 * replaying a recorded history from engine__state_new gives the same state
 * as the run had (tests/unit/engine replays recorded histories).
 *
 * State shape (engine/README.md):
 *   status, cancel_requested, result, error, tracestate (when its trace came with one),
 *   ctx    {workflow:{id,run_id,type}, input, steps:{<name>:{result,error,signal}},
 * signals:{<name>:[..]}} keys   {<step key>: {status, name, result, error, timer_id, branch,
 * count}} tasks  {<task_id>: {step, name, queue, attempt, status, human, input}} sigq   [{seq,
 * name, payload, consumed}] timers {<timer_id>: {step, kind}} Step keys name a step's position:
 * "0", "2/t/1" (then-branch), "2/e/0", "3#4" (the 5th item of a foreach). */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

static cJSON *obj(cJSON *parent, const char *key)
{
    cJSON *o = JGET(parent, key);
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        o = cJSON_AddObjectToObject(parent, key);
    }
    return o;
}

/* key: a string literal at every call (set, set_copy, set_str and
 * step_outcome's field): kept as the member's name, not copied (JADD). */
static void set(cJSON *o, const char *key, cJSON *v)
{
    cJSON *old = JGET(o, key);
    if (!old) {
        cJSON_AddItemToObjectCS(o, key, v);
        return;
    }
    /* ReplaceItemViaPointer leaves the name to us (a duplicate carries
     * a copy of its source's name: freed, as AddItemToObjectCS does) */
    if (!(v->type & cJSON_StringIsConst))
        cJSON_free(v->string);
    v->string = (char *)key;
    v->type |= cJSON_StringIsConst;
    cJSON_ReplaceItemViaPointer(o, old, v);
}

static void set_copy(cJSON *o, const char *key, const cJSON *v)
{
    set(o, key, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

static void set_str(cJSON *o, const char *key, const char *v)
{
    set(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/* A status: v is a string literal, kept by reference (not copied: a
 * malloc and a free fewer, and a literal outlives every state). */
static void set_lit(cJSON *o, const char *key, const char *v)
{
    set(o, key, cJSON_CreateStringReference(v));
}

cJSON *engine__state_new(const char *workflow_id, const char *run_id, const char *type)
{
    cJSON *st = cJSON_CreateObject();
    JADD(st, "status", cJSON_CreateStringReference("running"));
    JADD(st, "cancel_requested", cJSON_CreateBool(0));
    cJSON *ctx = JADD(st, "ctx", cJSON_CreateObject());
    cJSON *wf = JADD(ctx, "workflow", cJSON_CreateObject());
    JADD(wf, "id", cJSON_CreateString(workflow_id));
    JADD(wf, "run_id", cJSON_CreateString(run_id));
    JADD(wf, "type", cJSON_CreateString(type));
    JADD(ctx, "input", cJSON_CreateObject());
    JADD(ctx, "steps", cJSON_CreateObject());
    JADD(ctx, "signals", cJSON_CreateObject());
    JADD(st, "keys", cJSON_CreateObject());
    JADD(st, "tasks", cJSON_CreateObject());
    JADD(st, "sigq", cJSON_CreateArray());
    JADD(st, "timers", cJSON_CreateObject());
    return st;
}

/* Records a step outcome both under its key and, by name, in ctx.steps. */
static void step_outcome(cJSON *st, const char *key, const char *status, const char *field,
                         const cJSON *value)
{
    cJSON *k = obj(obj(st, "keys"), key);
    set_lit(k, "status", status); /* a literal at every call */
    if (field)
        set_copy(k, field, value);
    const char *name = engine__str(k, "name");
    if (!*name || strchr(key, '#'))
        return; /* foreach items are joined by the interpreter */
    cJSON *s = obj(obj(obj(st, "ctx"), "steps"), name);
    if (field)
        set_copy(s, field, value);
}

static void on_task_scheduled(cJSON *st, const cJSON *d)
{
    const char *key = engine__str(d, "step");
    cJSON *k = obj(obj(st, "keys"), key);
    set_lit(k, "status", "scheduled");
    set_str(k, "name", engine__str(d, "name"));
    set_str(k, "task_id", engine__str(d, "task_id"));
    cJSON *t = obj(obj(st, "tasks"), engine__str(d, "task_id"));
    set_str(t, "step", key);
    set_str(t, "name", engine__str(d, "name"));
    set_str(t, "queue", engine__str(d, "queue"));
    set_copy(t, "attempt", JGET(d, "attempt"));
    set_lit(t, "status", "scheduled");
    set(t, "human", cJSON_CreateBool(cJSON_IsTrue(JGET(d, "human"))));
    set_copy(t, "input", JGET(d, "input"));
    set_copy(t, "retry", JGET(d, "retry"));
    set_copy(t, "timeouts", JGET(d, "timeouts"));
    set_copy(t, "task", JGET(d, "task"));
}

/* task.started/completed/failed/timed_out/canceled */
static void on_task_change(cJSON *st, const char *type, const cJSON *d)
{
    cJSON *t = JGET(JGET(st, "tasks"), engine__str(d, "task_id"));
    if (!t)
        return;
    const char *key = engine__str(t, "step");
    const char *verb = type + 5;
    if (strcmp(verb, "started") == 0) {
        set_lit(t, "status", "started");
        return;
    }
    if (strcmp(verb, "completed") == 0) {
        set_lit(t, "status", "completed");
        step_outcome(st, key, "done", "result", JGET(d, "result"));
        return;
    }
    if (strcmp(verb, "canceled") == 0) {
        set_lit(t, "status", "canceled");
        return;
    }
    /* failed or timed out: final ends the step, otherwise a retry is due */
    bool final = cJSON_IsTrue(JGET(d, "final"));
    set_lit(t, "status", final ? "failed" : "backoff");
    if (final)
        step_outcome(st, key, "failed", "error", JGET(d, "error"));
}

static void on_signal(cJSON *st, int64_t seq, const cJSON *d)
{
    cJSON *e = cJSON_CreateObject();
    JADD(e, "seq", cJSON_CreateNumber((double)seq));
    JADD(e, "name", cJSON_CreateString(engine__str(d, "signal")));
    JADD(e, "payload", cJSON_Duplicate(JGET(d, "payload"), 1));
    JADD(e, "consumed", cJSON_CreateBool(0));
    cJSON_AddItemToArray(JGET(st, "sigq"), e);
    cJSON *sigs = obj(obj(st, "ctx"), "signals");
    cJSON *list = JGET(sigs, engine__str(d, "signal"));
    if (!list)
        list = cJSON_AddArrayToObject(sigs, engine__str(d, "signal"));
    const cJSON *p = JGET(d, "payload");
    cJSON_AddItemToArray(list, p ? cJSON_Duplicate(p, 1) : cJSON_CreateNull());
}

static void on_consumed(cJSON *st, const cJSON *d)
{
    const cJSON *seq = JGET(d, "signal_seq");
    const cJSON *e;
    cJSON_ArrayForEach(e, JGET(st, "sigq"))
    {
        if (cJSON_IsNumber(seq) && JGET(e, "seq")->valuedouble == seq->valuedouble) {
            cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)e, "consumed", cJSON_CreateTrue());
            const char *key = engine__str(d, "step");
            set_str(obj(obj(st, "keys"), key), "name", engine__str(d, "name"));
            step_outcome(st, key, "done", "signal", JGET(e, "payload"));
            step_outcome(st, key, "done", "result", JGET(e, "payload"));
        }
    }
}

static void on_timer(cJSON *st, int64_t seq, const char *type, const cJSON *d)
{
    const char *key = engine__str(d, "step");
    cJSON *k = obj(obj(st, "keys"), key);
    if (strcmp(type, "timer.started") == 0) {
        char id[64];
        snprintf(id, sizeof id, "%s:%lld", engine__str(JGET(JGET(st, "ctx"), "workflow"), "run_id"),
                 (long long)seq);
        set_lit(k, "status", "timer");
        set_str(k, "name", engine__str(d, "name"));
        set_str(k, "timer_id", id);
        cJSON *t = obj(obj(st, "timers"), id);
        set_str(t, "step", key);
        set_str(t, "kind", engine__str(d, "kind"));
        return;
    }
    /* timer.fired: a sleep is done; a wait that had not got its signal timed out */
    const char *id = engine__str(d, "timer_id");
    cJSON *t = JGET(JGET(st, "timers"), id);
    bool wait = t && strcmp(engine__str(t, "kind"), "wait_timeout") == 0;
    cJSON_DeleteItemFromObjectCaseSensitive(JGET(st, "timers"), id);
    if (*engine__str(k, "event_type") && strcmp(engine__str(k, "status"), "timer") == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(JGET(st, "esubs"), key);
    if (strcmp(engine__str(k, "status"), "timer") == 0)
        step_outcome(st, key, wait ? "timed_out" : "done", NULL, NULL);
}

/* Correlation (corr.c): esubs names the subscriptions a run holds (its
 * rows go when it closes), events_taken the events its waits took. */
static void on_corr(cJSON *st, const char *type, const cJSON *d)
{
    const char *key = engine__str(d, "step");
    if (strcmp(type, "cancel_on.armed") == 0) {
        set(st, "cancel_armed", cJSON_CreateTrue());
        int i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, JGET(d, "subs"))
        {
            char id[32];
            snprintf(id, sizeof id, "cancel:%d", i++);
            cJSON_AddItemToObject(obj(st, "esubs"), id, cJSON_CreateTrue());
        }
        return;
    }
    cJSON *k = obj(obj(st, "keys"), key);
    if (strcmp(type, "event_wait.started") == 0) {
        set_lit(k, "status", "waiting_event");
        set_str(k, "name", engine__str(d, "name"));
        set_str(k, "event_type", engine__str(d, "event_type"));
        cJSON_AddItemToObject(obj(st, "esubs"), key, cJSON_CreateTrue());
        return;
    }
    /* event.received: the step is done with the event's payload */
    cJSON_DeleteItemFromObjectCaseSensitive(JGET(st, "esubs"), key);
    cJSON_DeleteItemFromObjectCaseSensitive(JGET(st, "timers"), engine__str(k, "timer_id"));
    cJSON_AddItemToObject(obj(st, "events_taken"), engine__str(d, "event_id"), cJSON_CreateTrue());
    const cJSON *ev = JGET(d, "event");
    set_copy(k, "event", ev);
    step_outcome(st, key, "done", "result", JGET(ev, "payload"));
    cJSON *s = obj(obj(obj(st, "ctx"), "steps"), engine__str(k, "name"));
    set_copy(s, "event", ev);
}

static void on_close(cJSON *st, const char *type, const cJSON *d)
{
    set_str(st, "status", type + strlen("workflow."));
    if (JGET(d, "result"))
        set_copy(st, "result", JGET(d, "result"));
    if (JGET(d, "error"))
        set_copy(st, "error", JGET(d, "error"));
}

static void on_step_record(cJSON *st, const char *type, const cJSON *d)
{
    cJSON *k = obj(obj(st, "keys"), engine__str(d, "step"));
    set_str(k, "name", engine__str(d, "name"));
    if (strcmp(type, "branch.taken") == 0) {
        set_str(k, "branch", engine__str(d, "branch"));
        set_lit(k, "status", "branched");
    } else if (strcmp(type, "foreach.expanded") == 0) {
        set_copy(k, "count", JGET(d, "count"));
        set_copy(k, "items", JGET(d, "items"));
        set_lit(k, "status", "expanded");
    } else if (strcmp(type, "foreach.joined") == 0) {
        step_outcome(st, engine__str(d, "step"), "done", "result", JGET(d, "result"));
    } else if (strcmp(type, "event.emitted") == 0) {
        step_outcome(st, engine__str(d, "step"), "done", NULL, NULL);
    }
}

void engine__reduce(cJSON *st, int64_t seq, const char *type, const cJSON *d)
{
    cJSON *at = JGET(st, "seq");
    if (cJSON_IsNumber(at)) /* in place: a node fewer to allocate and free per event */
        cJSON_SetNumberValue(at, (double)seq);
    else
        set(st, "seq", cJSON_CreateNumber((double)seq));
    if (strcmp(type, "workflow.started") == 0) {
        set_copy(obj(st, "ctx"), "input", JGET(d, "input"));
        if (JGET(d, "tracestate")) /* the trace's W3C tracestate (effects.c) */
            set_copy(st, "tracestate", JGET(d, "tracestate"));
    } else if (strcmp(type, "workflow.signaled") == 0)
        on_signal(st, seq, d);
    else if (strcmp(type, "workflow.cancel_requested") == 0)
        set(st, "cancel_requested", cJSON_CreateTrue());
    else if (strcmp(type, "task.scheduled") == 0)
        on_task_scheduled(st, d);
    else if (strncmp(type, "task.", 5) == 0)
        on_task_change(st, type, d);
    else if (strcmp(type, "signal.consumed") == 0)
        on_consumed(st, d);
    else if (strncmp(type, "timer.", 6) == 0)
        on_timer(st, seq, type, d);
    else if (strcmp(type, "cancel_on.armed") == 0 || strcmp(type, "event_wait.started") == 0 ||
             strcmp(type, "event.received") == 0)
        on_corr(st, type, d);
    else if (strcmp(type, "workflow.completed") == 0 || strcmp(type, "workflow.failed") == 0 ||
             strcmp(type, "workflow.canceled") == 0 || strcmp(type, "workflow.terminated") == 0)
        on_close(st, type, d);
    else
        on_step_record(st, type, d);
}

/* ---- what the history leaves out ------------------------------------------------------ */

/* The step at key in a definition's steps ("0", "2/t/1", "3#4": for a
 * foreach item, its task), or NULL. */
const cJSON *engine__step_at(const cJSON *body, const char *key)
{
    const cJSON *list = JGET(body, "steps"), *step = NULL;
    const char *p = key;
    while (list && *p >= '0' && *p <= '9') {
        char *end = NULL;
        long i = strtol(p, &end, 10);
        step = cJSON_GetArrayItem(list, (int)i);
        p = end;
        if (*p == '#')
            return JGET(step, "task");
        if (*p == '\0')
            return step;
        if (p[0] != '/' || (p[1] != 't' && p[1] != 'e') || p[2] != '/')
            return NULL;
        list = JGET(step, p[1] == 't' ? "then" : "else");
        p += 3;
    }
    return NULL;
}

/* The step whose name a task at key carries: for a foreach item ("3#4")
 * the foreach step ("3"), else the task's own step. */
static const cJSON *named_step(const cJSON *body, const char *key)
{
    const char *hash = strchr(key, '#');
    if (!hash)
        return engine__step_at(body, key);
    char prefix[256];
    size_t n = (size_t)(hash - key);
    if (n >= sizeof prefix)
        return NULL;
    memcpy(prefix, key, n);
    prefix[n] = '\0';
    return engine__step_at(body, prefix);
}

cJSON *engine__task_derived(const engine__task_origin *o, const char *member)
{
    const cJSON *s = engine__step_at(o->body, o->key);
    if (!s)
        return NULL;
    bool human = strcmp(engine__str(s, "kind"), "human") == 0;
    if (strcmp(member, "task_id") == 0) {
        char id[400];
        sy_concat(id, sizeof id, o->run_id, ":", o->key);
        return cJSON_CreateString(id);
    }
    if (strcmp(member, "name") == 0)
        return cJSON_CreateString(engine__str(named_step(o->body, o->key), "name"));
    if (strcmp(member, "task") == 0)
        return cJSON_CreateString(engine__str(s, "task"));
    if (strcmp(member, "queue") == 0)
        return cJSON_CreateString(human                      ? "human"
                                  : *engine__str(s, "queue") ? engine__str(s, "queue")
                                                             : o->task_queue);
    if (strcmp(member, "human") == 0)
        return cJSON_CreateBool(human);
    const cJSON *v = JGET(s, member); /* retry, timeouts, deadline_ms */
    return v ? cJSON_Duplicate(v, 1) : NULL;
}

const char *const engine__task_derived_members[] = {
    "name", "task_id", "task", "queue", "human", "retry", "timeouts", "deadline_ms", NULL};

bool engine__task_member_derived(const engine__task_origin *o, const cJSON *m)
{
    const char *k = m->string;
    const char *const *d = engine__task_derived_members;
    while (k && *d && strcmp(*d, k) != 0)
        d++;
    const cJSON *s = !k || !*d || !o->body ? NULL
                     : o->step             ? o->step
                                           : engine__step_at(o->body, o->key);
    if (!s)
        return false; /* not one of them (input, attempt, assignee, ...), or no step */
    bool human = strcmp(engine__str(s, "kind"), "human") == 0;
    const char *want = NULL;
    char id[400];
    if (strcmp(k, "human") == 0)
        return cJSON_IsBool(m) && cJSON_IsTrue(m) == human;
    if (strcmp(k, "task_id") == 0)
        want = sy_concat(id, sizeof id, o->run_id, ":", o->key) ? NULL : id; /* true: truncated */
    else if (strcmp(k, "name") == 0)
        want = engine__str(named_step(o->body, o->key), "name");
    else if (strcmp(k, "task") == 0)
        want = engine__str(s, "task");
    else if (strcmp(k, "queue") == 0)
        want = human ? "human" : *engine__str(s, "queue") ? engine__str(s, "queue") : o->task_queue;
    if (want)
        return cJSON_IsString(m) && strcmp(m->valuestring, want) == 0;
    const cJSON *v = JGET(s, k); /* retry, timeouts, deadline_ms: the step's own? */
    if (!v)
        return false;
    return (m->type & cJSON_IsReference && m->child == v->child) || cJSON_Compare(m, v, 1);
}

void engine__history_expand(const engine__task_origin *o, const char *type, cJSON *data)
{
    if (!cJSON_IsObject(data) || strcmp(type, "task.scheduled") != 0 || !o->body)
        return;
    engine__task_origin at = *o;
    at.key = engine__str(data, "step");
    for (const char *const *k = engine__task_derived_members; *k; k++) {
        if (JGET(data, *k))
            continue; /* written before 013, or not derived */
        cJSON *v = engine__task_derived(&at, *k);
        if (v)
            cJSON_AddItemToObject(data, *k, v);
    }
}
