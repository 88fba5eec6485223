/* batch.h: the batch's operations (batch.c collects and loads, ops.c
 * applies them), private to engine/. */
#ifndef SY_ENGINE_BATCH_H
#define SY_ENGINE_BATCH_H

#include "engine_int.h"
#include "ws.h"

typedef enum {
    OP_START,
    OP_SIGNAL,
    OP_DEAD_LETTER,
    OP_REPORT,
    OP_CANCEL,
    OP_TERMINATE,
    OP_TIMER,
    OP_EVENT
} op_kind;

typedef struct engine__start {
    char *type, *wid, *queue, *event_id, *trace_id, *tracestate;
    cJSON *input;
    rules_if_running if_running;
    rules_if_closed if_closed;
} engine__start;

typedef struct engine__op {
    op_kind kind;
    size_t ev;
    char *wid;              /* the workflow it touches (resolved for reports and timers) */
    char *event_id, *trace_id;
    char *tracestate;       /* a signal's W3C tracestate, carried with its trace_id; may be NULL */
    char *route;            /* the route that asked for it (dead letters name it); may be NULL */
    engine__start start;    /* OP_START, and OP_SIGNAL with has_start */
    bool has_start;
    char *signal;
    cJSON *payload;
    rules_if_missing if_missing;
    char *code, *message, *subject, *body, *reason; /* dead letter; cancel/terminate reason */
    char *ev_type, *ev_source; /* dead letter: what parsed of the event (and trace_id) */
    size_t body_len;
    cJSON *headers;
    uint64_t stream_seq;
    char *task_id;          /* OP_REPORT */
    int64_t attempt;
    engine_report_kind report;
    cJSON *result;
    char *error_type, *error_message;
    bool retryable;
    bool started;           /* a final report whose task.started may not be applied yet */
    char *timer_id, *timer_kind, *run_id; /* OP_TIMER */
    cJSON *timer_data;
    bool held; /* flow control dropped or held it (flow.c): not applied now */
    /* correlation (corr.c): a cancel_on's OP_CANCEL or a wait_event's OP_EVENT for the run
       run_id only (a closed or newer run ignores it); OP_EVENT: its step key, the event in
       payload */
    bool corr;
    char *step;
    /* concurrency and priority of the start it makes (concurrency.c) */
    char *ckey;           /* "<type>\n<key>" (round_robin "<type>\n"); NULL: none */
    char *csub;           /* the rendered key */
    int64_t cprio;        /* the rendered priority */
    char *cerror;         /* a key or priority that failed: the start is refused */
    char cerror_code[32];
    char crun[37];        /* the run its start created (it takes the slot) */
    bool cadmitted;       /* it has a slot */
    bool cfixed;          /* the timer loop gave it its slot: not decided again */
    bool cheld;           /* held by concurrency (reset when applied again) */
    bool cfull;           /* signal-with-start and no slot: its start is refused, */
    bool cqueue;          /* or, with cfull, waits (queue, round_robin) */
    bool cquiet;          /* a cancel concurrency asked for: a closed run is no error */
    engine_conc_outcome coutcome;
} engine__op;

typedef struct engine__bevent {
    char *event_id;
    char *routes; /* '\n'-joined names its inbox row records (engine_batch_event_routes) */
    bool dup;
    engine_result res;
    int64_t replay_of; /* the dead letter this event replays (0: none) */
    bool replay_route; /* ... one route of it: its inbox row goes when that fails again */
    bool replay_taken; /* the event's first dead letter replaced replay_of */
    bool has_source;
    engine_dead_letter source; /* borrowed, valid during apply (engine_batch_event_source) */
    cJSON *corr; /* owned: the envelope of an event of a correlated type (corr.c), or NULL */
    int64_t corr_at; /* when corr came (ms; engine_batch_correlate_at); 0: the batch's now */
} engine__bevent;

struct engine_batch {
    engine__bevent *evs;
    size_t nev, capev;
    engine__op *ops;
    size_t nops, capops;
    bool api; /* single call: refusals are returned, not dead-lettered */
    struct engine__flows *flows; /* flow control of some ops (flow.c), NULL: none */
    bool corr_any;               /* some event is correlated (engine_batch_correlate) */
    bool corr_based;             /* corr_base is set: ops past it were added by matching (corr.c) */
    size_t corr_base;
    bool conc_based;             /* conc_nops, conc_nev: the ops and events before
                                    concurrency added cancels (concurrency.c) */
    size_t conc_nops, conc_nev;
    uint64_t conc_counts[ENGINE_CONC_OUTCOMES]; /* what concurrency did, counted on success */
};

/* flow.c: the flow stages of a batch's ops. Decides them under the keys'
 * row locks (dropping or holding ops), writes the keys' states and held
 * actions; runs after the inbox, before anything else is locked. */
sy_status engine__flow_apply(engine__ws *ws, engine_batch *b, sy_error *err) SY_MUST_USE;
void engine__flows_reset(engine_batch *b);
/* Concurrency limits and priority (concurrency.c, concurrency_due.c). */
void engine__conc_reset(engine_batch *b); /* before each attempt of a batch */
sy_status engine__conc_apply(engine__ws *ws, engine_batch *b, sy_error *err) SY_MUST_USE;
void engine__conc_closing(engine__ws *ws); /* before the flush: a closing run wakes the loops */
sy_status engine__conc_slots(engine__ws *ws, engine_batch *b, sy_error *err) SY_MUST_USE;
void engine__conc_count(engine_session *s, const engine_batch *b);
void engine__conc_op_cleanup(engine__op *o);
/* A signal-with-start (cfull, cqueue) whose workflow is not running: it
 * waits in the key's queue (the key's row is this batch's, locked), and
 * the timer loop applies it, start and signal, when a slot frees. */
sy_status engine__conc_queue_signal(engine__ws *ws, engine_batch *b, engine__op *o,
                                    sy_error *err) SY_MUST_USE;
char *engine__conc_ckey(const char *type, rules_conc_strategy s, const char *key); /* owned */
/* The running runs of keys (keys_js: a JSON array of ckeys), oldest first,
 * deleting the slots of closed runs; row() once per run. */
sy_status engine__conc_running(engine_session *s, const char *keys_js,
                               void (*row)(void *arg, const char *ckey, const char *wid, bool cr),
                               void *arg, sy_error *err) SY_MUST_USE;
sy_status engine__conc_due(engine_session *s, int64_t now, size_t max, size_t *started,
                           sy_error *err) SY_MUST_USE;
void engine__op_cleanup(engine__op *o); /* frees what the op owns */
/* Adds a cancel or terminate (kind) of workflow wid to b (batch.c). */
void engine__batch_op(engine_batch *b, size_t ev, int kind, const char *wid, const char *reason);
/* What the timer loop needs to apply op later (flow.c's JSON; route and
 * event may be NULL). Owned. */
cJSON *engine__op_request(const engine__op *o, const char *route, const cJSON *event);
void engine__flows_free(engine_batch *b);
/* A batch op from a held action's request (flow.c's JSON); events (taken,
 * may be NULL) become its input.events (a batch). Its event has no inbox
 * row: the event that caused it had one. */
void engine__batch_request(engine_batch *b, const cJSON *req, cJSON *events);
/* When event e's correlated envelope came: its corr_at, else ws->now. */
int64_t engine__corr_at(const engine__ws *ws, const engine__bevent *e);
/* corr.c: correlation (cancel_on, wait_event). engine__corr_apply stores
 * the batch's correlated events and matches them (and the lookback of
 * waits that began: event_scan timers) with the runs waiting, adding their
 * ops; runs after the inbox and flow control, before anything else is
 * locked. engine__corr_effects records a history event's subscription rows
 * (ws), engine__corr_write writes them after the flush. */
bool engine__corr_needed(const engine_batch *b);
sy_status engine__corr_apply(engine__ws *ws, engine_batch *b, sy_error *err) SY_MUST_USE;
sy_status engine__corr_write(engine__ws *ws, sy_error *err) SY_MUST_USE;
/* join.c: the batch's correlated events that are parts of join routes,
 * added to their joins' durable state under its row locks; a join that is
 * complete adds its start to the batch (called by engine__corr_apply). */
sy_status engine__join_apply(engine__ws *ws, engine_batch *b, sy_error *err) SY_MUST_USE;
/* batch.c: an op added to the batch (zeroed but for kind, ev and event_id),
 * and dropping the ops past n. */
engine__op *engine__batch_add_op(engine_batch *b, size_t ev, int kind);
void engine__batch_truncate(engine_batch *b, size_t n);

/* Runs a batch at time now in the session's open transaction (batch.c). */
sy_status engine__batch_run(engine_session *s, engine_batch *b, int64_t now, sy_error *err) SY_MUST_USE;

/* Applies one operation to the write set (ops.c). */
sy_status engine__apply_op(engine__ws *ws, engine_batch *b, engine__op *op, sy_error *err) SY_MUST_USE;
/* Validates a start request against the engine (ops.c): SY_INVALID with code. */
sy_status engine__check_start(const engine *eng, const engine__start *st, sy_error *err) SY_MUST_USE;
/* Adds a timer firing (timers.c). */
void engine__batch_timer(engine_batch *b, const char *run_id, const char *wid,
                         const char *timer_id, const char *kind, const cJSON *data);
/* Writes a dead letter of op's event (ops.c): the first one of a replay
 * replaces the dead letter it replays. */
void engine__op_dead_letter(engine__ws *ws, engine_batch *b, const engine__op *op, const char *code,
                            const char *message, const engine_dead_letter *src);
/* Whether the op needs its run's history loaded (ops.c). */
bool engine__op_needs_history(const engine__op *op);

#endif
