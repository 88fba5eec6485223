/* ops.c: the semantics of each operation of a batch: start (if_running /
 * if_closed), signal (and signal-with-start), cancel, terminate, task
 * reports with attempt checks, timer firings, dead letters. Each works on
 * the in-memory runs of the write set and emits history events; the
 * interpreter (interp.c) then advances the run. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

static bool running(const engine__run *run)
{
    return run && strcmp(run->status, "running") == 0;
}

static void sync_status(engine__run *run)
{
    const char *st = cJSON_GetStringValue(JGET(run->state, "status"));
    sy_strlcpy(run->status, sizeof run->status, st ? st : "running");
}

static bool id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 255)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("._:/-", *p)))
            return false;
    return true;
}

/* At least the bytes of v as compact JSON: every string escaped at worst
 * (6 bytes a byte), every number its longest; stops once past stop. */
static size_t json_bound(const cJSON *v, size_t stop)
{
    size_t n = 0;
    for (; v && n <= stop; v = v->next) {
        n += v->string ? 6 * strlen(v->string) + 3 : 1; /* "key": or the comma */
        if (cJSON_IsString(v))
            n += 6 * strlen(v->valuestring) + 2;
        else if (cJSON_IsRaw(v))
            n += strlen(v->valuestring);
        else if (cJSON_IsArray(v) || cJSON_IsObject(v))
            n += 2 + json_bound(v->child, n < stop ? stop - n : 0);
        else
            n += 32; /* a number, true, false, null */
    }
    return n;
}

/* The bytes of input as compact JSON, exactly when they could be over
 * limit: a start's input is printed only then (it was printed for every
 * start, a malloc and a print per start for a size that is far below the
 * limit). */
static size_t input_bytes(const cJSON *input, size_t limit)
{
    if (!input)
        return 0;
    if (cJSON_IsObject(input) && json_bound(input->child, limit) + 2 <= limit)
        return 0; /* under the limit: how much under does not matter */
    char *text = cJSON_PrintUnformatted(input);
    size_t n = text ? strlen(text) : 0;
    free(text);
    return n;
}

sy_status engine__check_start(const engine *eng, const engine__start *st, sy_error *err)
{
    if (!id_valid(st->wid))
        return sy_error_set(err, SY_INVALID, "bad_workflow_id", "workflow_id",
                            "workflow ID \"%.64s\" does not match ^[A-Za-z0-9._:/-]{1,255}$",
                            st->wid ? st->wid : "");
    if (!st->type || !engine__def_by_type(eng, st->type))
        return sy_error_set(err, SY_INVALID, "unknown_workflow_type", "workflow_type",
                            "unknown workflow type \"%.64s\"", st->type ? st->type : "");
    if (st->input && !cJSON_IsObject(st->input) && !cJSON_IsNull(st->input))
        return sy_error_set(err, SY_INVALID, "bad_input", "input", "input must be a JSON object");
    size_t n = input_bytes(st->input, eng->max_input);
    if (n > eng->max_input)
        return sy_error_set(err, SY_INVALID, "input_too_large", "input",
                            "input is %zu bytes, more than the limit of %zu", n, eng->max_input);
    if (st->trace_id && strlen(st->trace_id) != 32)
        return sy_error_set(err, SY_INVALID, "bad_trace_id", "trace_id",
                            "trace_id must be 32 lowercase hex digits");
    return SY_OK;
}

/* A refused action: the event's outcome says why; a router event also gets
 * a dead letter row (and its sy.deadletter.<code> outcome). */
static void refuse(engine__ws *ws, engine_batch *b, engine__op *op, const char *code,
                   const char *fmt, const char *arg)
{
    engine_result *res = &b->evs[op->ev].res;
    res->outcome = ENGINE_DEAD_LETTERED;
    sy_strlcpy(res->code, sizeof res->code, code);
    snprintf(res->message, sizeof res->message, fmt, arg);
    if (b->api)
        return;
    const engine__bevent *e = &b->evs[op->ev];
    engine__op_dead_letter(ws, b, op, code, res->message, e->has_source ? &e->source : NULL);
}

void engine__op_dead_letter(engine__ws *ws, engine_batch *b, const engine__op *op, const char *code,
                            const char *message, const engine_dead_letter *src)
{
    engine__bevent *e = &b->evs[op->ev];
    int64_t replaces = e->replay_of && !e->replay_taken ? e->replay_of : 0;
    e->replay_taken = e->replay_taken || replaces;
    engine_dead_letter dl = {.event_id = op->event_id,
                             .trace_id = op->trace_id,
                             .type = op->ev_type,
                             .source = op->ev_source,
                             .code = code,
                             .message = message,
                             .route = op->route};
    if (src) {
        /* a refused action: its event's fields come with the source */
        dl.type = dl.type ? dl.type : src->type;
        dl.source = dl.source ? dl.source : src->source;
        dl.trace_id = dl.trace_id ? dl.trace_id : src->trace_id;
        dl.subject = src->subject;
        dl.body = src->body;
        dl.body_len = src->body_len;
        dl.headers = src->headers;
        dl.stream_seq = src->stream_seq;
    }
    engine__ws_dead_letter(ws, &dl, replaces);
}

static void ignore(engine_batch *b, engine__op *op, const char *code, const char *msg)
{
    engine_result *res = &b->evs[op->ev].res;
    res->outcome = ENGINE_DUPLICATE;
    sy_strlcpy(res->code, sizeof res->code, code);
    sy_strlcpy(res->message, sizeof res->message, msg);
}

/* ---- start ------------------------------------------------------------------------------ */

static void terminate_run(engine__ws *ws, engine__run *run, const char *reason)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, JGET(run->state, "tasks"))
    {
        const char *s = engine__str(t, "status");
        if (!strcmp(s, "scheduled") || !strcmp(s, "started") || !strcmp(s, "backoff"))
            engine__ws_task(ws, run, t, "canceled", 0, 0);
    }
    cJSON *d = cJSON_CreateObject();
    JADD(d, "reason", cJSON_CreateString(reason ? reason : "terminated"));
    engine__emit(ws, run, "workflow.terminated", d);
    sync_status(run);
}

static sy_status new_run(engine__ws *ws, engine_batch *b, engine__op *op, const engine__start *st,
                         engine__run **out, sy_error *err)
{
    const engine__def *def = engine__def_by_type(ws->eng, st->type);
    engine__run *prev = engine__ws_find(ws, st->wid);
    engine__run *run = calloc(1, sizeof *run);
    sy_strlcpy(run->workflow_id, sizeof run->workflow_id, st->wid);
    unsigned char rnd[32];
    engine__ws_random(ws, rnd, sizeof rnd);
    engine__uuid7(rnd, ws->now, run->run_id);
    sy_strlcpy(run->type, sizeof run->type, st->type);
    sy_strlcpy(run->def_hash, sizeof run->def_hash, def->hash);
    snprintf(run->status, sizeof run->status, "running");
    const char *q = st->queue ? st->queue : cJSON_GetStringValue(JGET(def->body, "task_queue"));
    sy_strlcpy(run->task_queue, sizeof run->task_queue, q ? q : st->type);
    if (st->trace_id)
        sy_strlcpy(run->trace_id, sizeof run->trace_id, st->trace_id);
    else
        engine__hex(rnd + 16, 16, run->trace_id);
    run->causation_id = st->event_id ? strdup(st->event_id) : op->event_id ? strdup(op->event_id) : NULL;
    run->def = def;
    run->next_seq = 1;
    run->started_at = ws->now;
    run->exists_id = prev && prev->exists_id; /* a row in the database */
    run->new_run = run->current = run->loaded = true;
    run->input = st->input ? cJSON_Duplicate(st->input, 1) : cJSON_CreateObject();
    run->state = engine__state_new(run->workflow_id, run->run_id, run->type);
    if (prev)
        prev->current = false;
    engine__ws_add_run(ws, run);
    engine__ws_def(ws, def);
    cJSON *d = cJSON_CreateObject();
    /* the input by reference (run->input outlives the event); its
     * workflow_type, def_hash and task_queue are the run row's: nothing in
     * memory reads them, the history stores none, and the history_events
     * view (013) shows them */
    JADD(d, "input", cJSON_IsObject(run->input) ? cJSON_CreateObjectReference(run->input->child)
                                                : cJSON_Duplicate(run->input, 1));
    /* the W3C tracestate of the run's trace, in its history (the reducer
     * keeps it in the state) so every outcome of the trace carries it */
    if (st->trace_id && st->tracestate && *st->tracestate)
        JADD(d, "tracestate", cJSON_CreateString(st->tracestate));
    engine__emit(ws, run, "workflow.started", d);
    sy_status s = engine__advance(ws, run, err);
    sync_status(run);
    engine_result *res = &b->evs[op->ev].res;
    res->started = true;
    sy_strlcpy(res->run_id, sizeof res->run_id, run->run_id);
    if (op->cadmitted) /* its slot (concurrency.c) */
        sy_strlcpy(op->crun, sizeof op->crun, run->run_id);
    *out = run;
    return s;
}

/* Applies the ID policies; *out is the run the start leaves (NULL: refused). */
static sy_status do_start(engine__ws *ws, engine_batch *b, engine__op *op, const engine__start *st,
                          engine__run **out, sy_error *err)
{
    *out = NULL;
    sy_error e = {0};
    if (op->cerror) { /* its concurrency key or priority (concurrency.c) */
        refuse(ws, b, op, op->cerror_code, "%s", op->cerror);
        return SY_OK;
    }
    if (engine__check_start(ws->eng, st, &e) != SY_OK) {
        refuse(ws, b, op, e.code, "%s", e.message);
        return SY_OK;
    }
    engine__run *run = engine__ws_find(ws, st->wid);
    engine_result *res = &b->evs[op->ev].res;
    if (running(run)) {
        if (st->if_running == RULES_IF_RUNNING_USE_EXISTING) {
            sy_strlcpy(res->run_id, sizeof res->run_id, run->run_id);
            *out = run;
            return SY_OK;
        }
        if (st->if_running == RULES_IF_RUNNING_FAIL) {
            refuse(ws, b, op, "workflow_running", "workflow \"%.200s\" is already running", st->wid);
            return SY_OK;
        }
        terminate_run(ws, run, "terminated by a new start (if_running: terminate_existing)");
    } else if (run) {
        bool failed = !strcmp(run->status, "failed") || !strcmp(run->status, "canceled") ||
                      !strcmp(run->status, "terminated");
        if (st->if_closed == RULES_IF_CLOSED_REJECT ||
            (st->if_closed == RULES_IF_CLOSED_ALLOW_FAILED_ONLY && !failed)) {
            refuse(ws, b, op, "workflow_closed", "workflow \"%.200s\" is closed and may not start again", st->wid);
            return SY_OK;
        }
    }
    return new_run(ws, b, op, st, out, err);
}

/* ---- signal, cancel, terminate ------------------------------------------------------------ */

static void bind(engine__run *run, const engine__op *op)
{
    run->cur_event_id = op->event_id;
    run->cur_trace_id = op->trace_id && strlen(op->trace_id) == 32 ? op->trace_id : NULL;
    run->cur_tracestate = run->cur_trace_id ? op->tracestate : NULL;
}

static sy_status do_signal(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err)
{
    engine__run *run = engine__ws_find(ws, op->wid);
    if (!running(run)) {
        if (op->if_missing == RULES_IF_MISSING_DROP) {
            snprintf(b->evs[op->ev].res.code, sizeof b->evs[op->ev].res.code, "dropped");
            return SY_OK;
        }
        if (op->if_missing != RULES_IF_MISSING_START || !op->has_start) {
            refuse(ws, b, op, run ? "workflow_closed" : "workflow_not_found",
                   "no running workflow \"%.200s\" to signal", op->wid);
            return SY_OK;
        }
        if (op->cfull && op->cqueue) /* waits for a slot like a start */
            return engine__conc_queue_signal(ws, b, op, err);
        if (op->cfull) { /* cancel_in_progress, cancel_newest: refused */
            refuse(ws, b, op, "concurrency_limit",
                   "no running workflow \"%.200s\" to signal, and its concurrency key is at"
                   " its limit",
                   op->wid);
            return SY_OK;
        }
        sy_status st = do_start(ws, b, op, &op->start, &run, err);
        if (st != SY_OK || !running(run))
            return st;
    }
    bind(run, op);
    cJSON *d = cJSON_CreateObject();
    JADD(d, "signal", cJSON_CreateString(op->signal ? op->signal : ""));
    JADD(d, "payload", cJSON_Duplicate(op->payload, 1));
    if (op->event_id)
        JADD(d, "event_id", cJSON_CreateString(op->event_id));
    engine__emit(ws, run, "workflow.signaled", d);
    sy_strlcpy(b->evs[op->ev].res.run_id, sizeof b->evs[op->ev].res.run_id, run->run_id);
    sy_status st = engine__advance(ws, run, err);
    sync_status(run);
    return st;
}

/* A correlated op (corr.c) is for the run it matched only: a run that
 * closed or was replaced meanwhile ignores it. */
static bool corr_stale(const engine__op *op, const engine__run *run)
{
    return op->corr && (!running(run) || !op->run_id || strcmp(run->run_id, op->run_id) != 0);
}

/* A wait_event step resumed by the event that matched it; a step that got
 * its event or timed out meanwhile, or an event the run took already, is
 * left alone: one event satisfies a wait once. */
static sy_status do_event(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err)
{
    engine__run *run = engine__ws_find(ws, op->wid);
    if (corr_stale(op, run) || !run->state)
        return SY_OK;
    const cJSON *k = JGET(JGET(run->state, "keys"), op->step ? op->step : "");
    const char *status = engine__str(k, "status");
    if ((strcmp(status, "waiting_event") && strcmp(status, "timer")) ||
        !*engine__str(k, "event_type") ||
        JGET(JGET(run->state, "events_taken"), op->event_id ? op->event_id : ""))
        return SY_OK;
    bind(run, op);
    cJSON *d = cJSON_CreateObject();
    JADD(d, "step", cJSON_CreateString(op->step));
    JADD(d, "name", cJSON_CreateString(engine__str(k, "name")));
    JADD(d, "event_id", cJSON_CreateString(op->event_id ? op->event_id : ""));
    JADD(d, "event", cJSON_Duplicate(op->payload, 1));
    engine__emit(ws, run, "event.received", d);
    engine__count(ws->s, ENGINE_STAT_CORR_WAITS);
    sy_strlcpy(b->evs[op->ev].res.run_id, sizeof b->evs[op->ev].res.run_id, run->run_id);
    sy_status st = engine__advance(ws, run, err);
    sync_status(run);
    return st;
}

static sy_status do_close(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err)
{
    engine__run *run = engine__ws_find(ws, op->wid);
    if (op->corr && corr_stale(op, run))
        return SY_OK;
    if (!running(run) && op->cquiet) /* closed meanwhile: the room is made */
        return SY_OK;
    if (!running(run)) {
        refuse(ws, b, op, run ? "workflow_closed" : "workflow_not_found",
               "no running workflow \"%.200s\"", op->wid);
        return SY_OK;
    }
    bind(run, op);
    sy_strlcpy(b->evs[op->ev].res.run_id, sizeof b->evs[op->ev].res.run_id, run->run_id);
    if (op->kind == OP_TERMINATE) {
        terminate_run(ws, run, op->reason);
        return SY_OK;
    }
    if (!cJSON_IsTrue(JGET(run->state, "cancel_requested"))) {
        cJSON *d = cJSON_CreateObject();
        JADD(d, "reason", cJSON_CreateString(op->reason ? op->reason : "canceled"));
        if (op->corr && op->event_id)
            JADD(d, "event_id", cJSON_CreateString(op->event_id));
        engine__emit(ws, run, "workflow.cancel_requested", d);
        if (op->corr)
            engine__count(ws->s, ENGINE_STAT_CORR_CANCELED);
    }
    sy_status st = engine__advance(ws, run, err);
    sync_status(run);
    return st;
}

/* ---- task reports ----------------------------------------------------------------------------- */

static sy_status report_apply(engine__ws *ws, engine__run *run, engine__op *op, const cJSON *t,
                              sy_error *err)
{
    cJSON *d = cJSON_CreateObject();
    JADD(d, "task_id", cJSON_CreateString(op->task_id));
    JADD(d, "attempt", cJSON_CreateNumber((double)engine__num(t, "attempt")));
    if (op->report == ENGINE_REPORT_STARTED) {
        engine__emit(ws, run, "task.started", d);
        return SY_OK;
    }
    if (op->started && !strcmp(engine__str(t, "status"), "scheduled")) {
        /* its task.started is held by another report consumer (reports_run.c)
         * or still on its way: the history says it started all the same */
        engine__emit(ws, run, "task.started", cJSON_Duplicate(d, 1));
    }
    if (op->report == ENGINE_REPORT_COMPLETED) {
        JADD(d, "result", cJSON_Duplicate(op->result, 1));
        engine__emit(ws, run, "task.completed", d);
    } else {
        cJSON_Delete(d);
        cJSON *e = cJSON_CreateObject();
        JADD(e, "type", cJSON_CreateString(op->error_type));
        JADD(e, "message", cJSON_CreateString(op->error_message));
        JADD(e, "retryable", cJSON_CreateBool(op->retryable));
        engine__task_failure(ws, run, t, "task.failed", e, op->retryable, false);
    }
    sy_status st = engine__advance(ws, run, err);
    sync_status(run);
    return st;
}

static sy_status do_report(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err)
{
    engine__run *run = op->wid ? engine__ws_find(ws, op->wid) : NULL;
    const cJSON *t = run && run->state ? JGET(JGET(run->state, "tasks"), op->task_id) : NULL;
    if (!op->wid || (run && run->state && !t) || (run && strncmp(op->task_id, run->run_id, 36) != 0)) {
        engine__count(ws->s, ENGINE_STAT_UNKNOWN_TASKS);
        ignore(b, op, "unknown_task", "no such task");
        return SY_OK;
    }
    if (!running(run)) {
        engine__count(ws->s, ENGINE_STAT_CLOSED_REPORTS);
        ignore(b, op, "workflow_closed", "the task's workflow is closed");
        return SY_OK;
    }
    const char *ts = engine__str(t, "status");
    bool open = !strcmp(ts, "scheduled") || !strcmp(ts, "started");
    bool attempt_ok = op->attempt == 0 || op->attempt == engine__num(t, "attempt");
    bool kind_ok = op->report == ENGINE_REPORT_STARTED ? !strcmp(ts, "scheduled")
                   : op->report == ENGINE_REPORT_HEARTBEAT ? open
                                                           : open;
    bool done = !strcmp(ts, "completed") || !strcmp(ts, "failed") || !strcmp(ts, "canceled");
    if (attempt_ok && done) {
        /* the current attempt, reported on again: say what became of it */
        char msg[64];
        snprintf(msg, sizeof msg, "the task is already %s", ts);
        engine__count(ws->s, ENGINE_STAT_TASK_CLOSED_REPORTS);
        ignore(b, op, "task_closed", msg);
        return SY_OK;
    }
    if (attempt_ok && op->report == ENGINE_REPORT_STARTED && !strcmp(ts, "started")) {
        /* a redelivered task claimed again (another delivery's task.started
         * came first): nothing to record, and the worker may run it */
        ignore(b, op, "already_started", "the task's current attempt is started already");
        return SY_OK;
    }
    if (!attempt_ok || !kind_ok) {
        engine__count(ws->s, ENGINE_STAT_STALE_REPORTS);
        ignore(b, op, "stale_attempt", "the report is for an attempt that is not current");
        return SY_OK;
    }
    bind(run, op);
    sy_strlcpy(b->evs[op->ev].res.run_id, sizeof b->evs[op->ev].res.run_id, run->run_id);
    if (op->report == ENGINE_REPORT_HEARTBEAT) {
        engine__ws_task(ws, run, t, ts, 0, ws->now);
        return SY_OK;
    }
    return report_apply(ws, run, op, t, err);
}

/* ---- timers ------------------------------------------------------------------------------------- */

static bool timer_due(const cJSON *t, const char *kind, int64_t attempt)
{
    const char *s = engine__str(t, "status");
    if (!strcmp(kind, "schedule_to_close") || !strcmp(kind, "deadline"))
        return !strcmp(s, "scheduled") || !strcmp(s, "started") || !strcmp(s, "backoff");
    if (engine__num(t, "attempt") != attempt)
        return false;
    if (!strcmp(kind, "schedule_to_start"))
        return !strcmp(s, "scheduled");
    if (!strcmp(kind, "retry"))
        return !strcmp(s, "backoff");
    return !strcmp(s, "started"); /* start_to_close, heartbeat */
}

static sy_status do_timer(engine__ws *ws, engine__op *op, sy_error *err)
{
    engine__run *run = engine__ws_find(ws, op->wid);
    if (!running(run) || strcmp(run->run_id, op->run_id) != 0 || !run->state) {
        engine__count(ws->s, ENGINE_STAT_TIMERS_STALE);
        return SY_OK;
    }
    const char *kind = op->timer_kind;
    if (!strcmp(kind, "sleep") || !strcmp(kind, "wait_timeout")) {
        if (!JGET(JGET(run->state, "timers"), op->timer_id)) {
            engine__count(ws->s, ENGINE_STAT_TIMERS_STALE);
            return SY_OK;
        }
        cJSON *d = cJSON_CreateObject();
        JADD(d, "timer_id", cJSON_CreateString(op->timer_id));
        JADD(d, "step", cJSON_CreateString(engine__str(op->timer_data, "step")));
        engine__emit(ws, run, "timer.fired", d);
    } else {
        const cJSON *t = JGET(JGET(run->state, "tasks"), engine__str(op->timer_data, "task_id"));
        if (!t || !timer_due(t, kind, engine__num(op->timer_data, "attempt"))) {
            engine__count(ws->s, ENGINE_STAT_TIMERS_STALE);
            return SY_OK;
        }
        if (!strcmp(kind, "retry")) {
            engine__task_retry(ws, run, t);
        } else {
            cJSON *e = cJSON_CreateObject();
            JADD(e, "type", cJSON_CreateString("timeout"));
            JADD(e, "kind", cJSON_CreateString(kind));
            JADD(e, "message", cJSON_CreateString("the task timed out"));
            bool final = !strcmp(kind, "schedule_to_close") || !strcmp(kind, "deadline");
            engine__task_failure(ws, run, t, "task.timed_out", e, true, final);
        }
    }
    engine__count(ws->s, ENGINE_STAT_TIMERS_FIRED);
    sy_status st = engine__advance(ws, run, err);
    sync_status(run);
    return st;
}

bool engine__op_needs_history(const engine__op *op)
{
    if (op->kind == OP_START)
        return op->start.if_running == RULES_IF_RUNNING_TERMINATE;
    return op->kind != OP_DEAD_LETTER;
}

sy_status engine__apply_op(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err)
{
    engine__run *run = NULL;
    switch (op->kind) {
    case OP_START:
        return do_start(ws, b, op, &op->start, &run, err);
    case OP_SIGNAL:
        return do_signal(ws, b, op, err);
    case OP_CANCEL:
    case OP_TERMINATE:
        return do_close(ws, b, op, err);
    case OP_REPORT:
        return do_report(ws, b, op, err);
    case OP_TIMER:
        return do_timer(ws, op, err);
    case OP_EVENT:
        return do_event(ws, b, op, err);
    case OP_DEAD_LETTER: {
        engine_dead_letter src = {.subject = op->subject,
                                  .body = op->body,
                                  .body_len = op->body_len,
                                  .headers = op->headers,
                                  .stream_seq = op->stream_seq};
        engine__op_dead_letter(ws, b, op, op->code, op->message, &src);
        b->evs[op->ev].res.outcome = ENGINE_DEAD_LETTERED;
        sy_strlcpy(b->evs[op->ev].res.code, sizeof b->evs[op->ev].res.code, op->code);
        return SY_OK;
    }
    }
    return SY_OK;
}
