/* effects.c: what a new history event causes besides itself: its outcome
 * event in the outbox (docs/outcome-events.md), the
 * task row of a task event and the timers it arms. */
#include "engine_int.h"
#include "trace.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

/* History types that are published, and where: subject
 * sy.<noun>.<verb>.<queue or workflow type>. */
static const struct {
    const char *history;
    const char *outcome; /* <noun>.<verb> */
    bool by_queue;
} OUTCOMES[] = {
    {"workflow.started", "workflow.started", false},
    {"workflow.signaled", "workflow.signaled", false},
    {"workflow.cancel_requested", "workflow.cancel_requested", false},
    {"workflow.completed", "workflow.completed", false},
    {"workflow.failed", "workflow.failed", false},
    {"workflow.canceled", "workflow.canceled", false},
    {"workflow.terminated", "workflow.terminated", false},
    {"task.scheduled", "task.created", true},
    {"task.started", "task.started", true},
    {"task.completed", "task.completed", true},
    {"task.failed", "task.failed", true},
    {"task.timed_out", "task.timed_out", true},
    {"task.canceled", "task.canceled", true},
};

/* The envelope up to "payload": (the caller writes the payload and '}').
 * ts: occurred_at, RFC 3339. */
static void body_head(sy_buf *b, const char *event_id, const char *type, const char *ts,
                      const char *subject, const char *trace_id, int64_t schema_version)
{
    char n[21];
    sy_buf_puts(b, "{\"event_id\":");
    engine__json_str(b, event_id);
    sy_buf_puts(b, ",\"type\":");
    engine__json_str(b, type);
    sy_buf_puts(b, ",\"source\":\"switchyard\",\"occurred_at\":\"");
    sy_buf_puts(b, ts);
    sy_buf_putc(b, '"');
    if (subject) {
        sy_buf_puts(b, ",\"subject\":");
        engine__json_str(b, subject);
    }
    sy_buf_puts(b, ",\"trace_id\":");
    engine__json_str(b, trace_id);
    sy_buf_puts(b, ",\"schema_version\":");
    sy_buf_puts(b, sy_i64(n, schema_version));
    sy_buf_puts(b, ",\"payload\":");
}

void engine__outcome_body(sy_buf *b, const char *event_id, const char *type, int64_t now_ms,
                          const char *subject, const char *trace_id, const cJSON *payload)
{
    char ts[32];
    engine__rfc3339(now_ms, ts);
    body_head(b, event_id, type, ts, subject, trace_id, 1);
    engine__json_val(b, payload);
    sy_buf_putc(b, '}');
}

/* "key":<string> members of a payload written as text. */
static void put_member(sy_buf *b, const char *key, const char *v)
{
    sy_buf_putc(b, ',');
    engine__json_str(b, key);
    sy_buf_putc(b, ':');
    if (v)
        engine__json_str(b, v);
    else
        sy_buf_append(b, "null", 4);
}

/* The members of data named by keys, copied into the payload being written. */
static void copy_members(sy_buf *b, const cJSON *data, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = JGET(data, keys[i]);
        if (!v)
            continue;
        sy_buf_putc(b, ',');
        engine__json_str(b, keys[i]);
        sy_buf_putc(b, ':');
        engine__json_val(b, v);
    }
}

/* The outcome's span (its event_id's) and its parent: the span of the
 * event or report being applied (a signal, a task report), else the
 * workflow's (a start, a timer): trace.h. */
static void put_spans(sy_buf *b, const engine__run *run, const char *event_id)
{
    char span[SY_SPAN_ID_LEN + 1], parent[SY_SPAN_ID_LEN + 1];
    sy_span_id(event_id, span);
    sy_span_id(run->cur_event_id ? run->cur_event_id : run->run_id, parent);
    put_member(b, "span_id", span);
    put_member(b, "parent_span_id", parent);
}

/* The W3C tracestate an outcome of trace carries on (vendors' entries as
 * they came, never changed): the one that came with the event or report
 * being applied, else the run's (its starting event's) when trace is the
 * run's trace; NULL: none. */
static const char *tracestate_of(const engine__run *run, const char *trace)
{
    if (run->cur_trace_id && run->cur_tracestate)
        return run->cur_tracestate;
    const char *ts = cJSON_GetStringValue(JGET(run->state, "tracestate"));
    return ts && *ts && strcmp(trace, run->trace_id) == 0 ? ts : NULL;
}

/* The outcome event of a history event, if its type is published. The
 * payload is written as text straight into the body (no cJSON tree): the
 * members every outcome carries, then the task's or the workflow's. */
static void outcome(engine__ws *ws, engine__run *run, int64_t seq, const char *type,
                    const cJSON *data)
{
    size_t i = 0, n = sizeof OUTCOMES / sizeof OUTCOMES[0];
    while (i < n && strcmp(OUTCOMES[i].history, type) != 0)
        i++;
    if (i == n)
        return;
    static const char *const wf_keys[] = {"input", "result", "error", "signal", "payload", "reason"};
    static const char *const task_keys[] = {"step", "attempt", "input", "result", "error",
                                            "final", "retry_at", "kind", "human", "assignee",
                                            "timeouts"};
    const cJSON *t = NULL;
    const char *queue = "";
    if (OUTCOMES[i].by_queue) {
        t = JGET(JGET(run->state, "tasks"), engine__str(data, "task_id"));
        queue = engine__str(t, "queue");
    }
    char event_id[64], otype[96], subject[512], num[21];
    sy_concat(event_id, sizeof event_id, run->run_id, ":", sy_i64(num, seq));
    sy_concat(otype, sizeof otype, "switchyard.", OUTCOMES[i].outcome);
    sy_concat(subject, sizeof subject, ws->eng->prefix, ".", OUTCOMES[i].outcome, ".",
              OUTCOMES[i].by_queue ? queue : run->type);
    sy_buf *body = &ws->scratch;
    sy_buf_reset(body);
    const char *trace = run->cur_trace_id ? run->cur_trace_id : run->trace_id;
    body_head(body, event_id, otype, ws->now_text, run->workflow_id, trace, 1);
    sy_buf_puts(body, "{\"workflow_id\":");
    engine__json_str(body, run->workflow_id);
    put_member(body, "run_id", run->run_id);
    put_member(body, "workflow_type", run->type);
    put_member(body, "causation_id", run->cur_event_id ? run->cur_event_id : run->causation_id);
    put_spans(body, run, event_id);
    const char *ts = tracestate_of(run, trace);
    if (ts) /* right after parent_span_id: where the relay reads it for its header */
        put_member(body, "tracestate", ts);
    if (OUTCOMES[i].by_queue) {
        put_member(body, "task_id", engine__str(data, "task_id"));
        put_member(body, "queue", queue);
        put_member(body, "task", engine__str(t, "task"));
        copy_members(body, data, task_keys, sizeof task_keys / sizeof *task_keys);
    } else {
        copy_members(body, data, wf_keys, sizeof wf_keys / sizeof *wf_keys);
    }
    sy_buf_append(body, "}}", 2);
    int64_t lim = run->def && run->def->dispatch && !strcmp(type, "task.scheduled")
                      ? engine__dispatch_limit(run, t)
                      : 0;
    if (lim > 0)
        engine__dispatch_hold(ws, run, t, lim, event_id, subject, body->data);
    else
        engine__ws_outbox(ws, event_id, subject, body->data);
}

/* An emit step publishes a domain event of its own type and schema version
 * with the deterministic event_id <run_id>:<seq>: the envelope's subject is
 * the step's rendered `subject` (else the workflow ID), the NATS subject its
 * `nats_subject` (else <prefix>.emit.<type>). */
static void emitted(engine__ws *ws, engine__run *run, int64_t seq, const cJSON *data)
{
    char event_id[64], n[21];
    sy_concat(event_id, sizeof event_id, run->run_id, ":", sy_i64(n, seq));
    /* the rendered subject whole, however long: one the relay cannot
     * publish (RULES_SUBJECT_MAX) becomes its dead letter, never a
     * truncated subject that some other stream or consumer takes */
    sy_buf subject = SY_BUF_INIT;
    if (*engine__str(data, "nats_subject")) {
        sy_buf_puts(&subject, engine__str(data, "nats_subject"));
    } else {
        sy_buf_puts(&subject, ws->eng->prefix);
        sy_buf_puts(&subject, ".emit.");
        sy_buf_puts(&subject, engine__str(data, "type"));
    }
    const char *about =
        *engine__str(data, "subject") ? engine__str(data, "subject") : run->workflow_id;
    int64_t version = engine__num(data, "schema_version");
    sy_buf body = SY_BUF_INIT;
    const char *trace = run->cur_trace_id ? run->cur_trace_id : run->trace_id;
    body_head(&body, event_id, engine__str(data, "type"), ws->now_text, about, trace,
              version > 0 ? version : 1);
    engine__json_val(&body, JGET(data, "payload"));
    sy_buf_putc(&body, '}');
    engine__ws_outbox(ws, event_id, sy_buf_str(&subject), body.data);
    sy_buf_cleanup(&body);
    sy_buf_cleanup(&subject);
}

static void task_timer(engine__ws *ws, engine__run *run, const char *task_id, int64_t attempt,
                       const char *kind, int64_t after_ms, bool per_attempt)
{
    if (after_ms <= 0)
        return;
    char id[512], n[21];
    if (per_attempt)
        sy_concat(id, sizeof id, task_id, "@", sy_i64(n, attempt), ":", kind);
    else
        sy_concat(id, sizeof id, task_id, ":", kind);
    cJSON *d = cJSON_CreateObject();
    JADD(d, "task_id", cJSON_CreateString(task_id));
    JADD(d, "attempt", cJSON_CreateNumber((double)attempt));
    JADD(d, "after_ms", cJSON_CreateNumber((double)after_ms));
    engine__ws_timer(ws, run, id, ws->now + after_ms, kind, d);
}

static void task_effects(engine__ws *ws, engine__run *run, const char *type, const cJSON *data)
{
    const char *task_id = engine__str(data, "task_id");
    const cJSON *t = JGET(JGET(run->state, "tasks"), task_id);
    if (!t)
        return;
    const char *verb = type + 5;
    const cJSON *to = JGET(t, "timeouts");
    int64_t attempt = engine__num(t, "attempt");
    int64_t started = 0;
    if (strcmp(verb, "scheduled") == 0) {
        task_timer(ws, run, task_id, attempt, "schedule_to_start", engine__num(to, "schedule_to_start_ms"), true);
        if (attempt == 1) {
            task_timer(ws, run, task_id, attempt, "schedule_to_close", engine__num(to, "schedule_to_close_ms"), false);
            task_timer(ws, run, task_id, attempt, "deadline", engine__num(data, "deadline_ms"), false);
        }
    } else if (strcmp(verb, "started") == 0) {
        started = ws->now;
        task_timer(ws, run, task_id, attempt, "start_to_close", engine__num(to, "start_to_close_ms"), true);
        task_timer(ws, run, task_id, attempt, "heartbeat", engine__num(to, "heartbeat_ms"), true);
    } else if (JGET(data, "retry_at")) {
        cJSON *d = cJSON_CreateObject();
        JADD(d, "task_id", cJSON_CreateString(task_id));
        JADD(d, "attempt", cJSON_CreateNumber((double)attempt));
        char id[512], n[21];
        sy_concat(id, sizeof id, task_id, "@", sy_i64(n, attempt), ":retry");
        engine__ws_timer(ws, run, id, engine__num(data, "retry_at"), "retry", d);
    }
    engine__ws_task_with(ws, run, t, engine__str(t, "status"), started, started,
                         JGET(data, "result"), JGET(data, "error"));
}

void engine__effects(engine__ws *ws, engine__run *run, int64_t seq, const char *type,
                     const cJSON *data)
{
    outcome(ws, run, seq, type, data);
    if (strcmp(type, "event.emitted") == 0) {
        emitted(ws, run, seq, data);
    } else if (strncmp(type, "task.", 5) == 0) {
        task_effects(ws, run, type, data);
    } else if (strcmp(type, "timer.started") == 0) {
        char id[64], n[21];
        sy_concat(id, sizeof id, run->run_id, ":", sy_i64(n, seq));
        cJSON *d = cJSON_CreateObject();
        JADD(d, "step", cJSON_CreateString(engine__str(data, "step")));
        engine__ws_timer(ws, run, id, engine__num(data, "fire_at"), engine__str(data, "kind"), d);
    }
    engine__corr_effects(ws, run, type, data);
}
