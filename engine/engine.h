/* engine.h: the durable workflow engine on Postgres (engine/README.md).
 *
 * The engine owns its Postgres schema (numbered migrations), the inbox,
 * workflow executions and their append-only histories, the step interpreter,
 * tasks, timers, signals, dead letters and the transactional outbox, and the
 * relay that publishes the outbox to JetStream.
 *
 * Threads: an `engine` (configuration: workflow definitions, limits) is
 * immutable after engine_new and shared by threads. An engine_session (one
 * Postgres connection plus its prepared statements) belongs to one thread.
 * Every write API runs inside the session's current transaction, which the
 * caller owns (engine_begin/engine_commit), so the router applies a whole
 * batch of events in one transaction and acks only after engine_commit.
 *
 * Only engine/ includes libpq-fe.h; callers see sy_status (SY_DB_DOWN is
 * retryable: connection lost, server shutting down; SY_DB is not). */
#ifndef SY_ENGINE_H
#define SY_ENGINE_H

#include "log.h"
#include "rules.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct engine engine;
typedef struct engine_session engine_session;

typedef struct engine_opts {
    const char *schema;            /* Postgres schema name; NULL: "switchyard" */
    const char *namespace_;        /* workflow namespace; NULL: "default" */
    size_t max_input_bytes;        /* start input / signal payload; 0: 256 KiB */
    int64_t inbox_retention_ms;    /* 0: 7 days */
    int64_t history_retention_ms;  /* closed workflows; 0: 30 days */
    const sy_log *log;             /* borrowed; NULL: no logs */
    const struct sy_clock *clock;  /* copied; NULL: the real clock (sy_clock_init) */
    const cJSON *workflows;        /* copied; non-NULL: these normalised definitions
                                      instead of rules_set_workflows(rules) (tests, tools) */
    const char *subject_prefix;    /* first token of outcome subjects; NULL: "sy" */
    int64_t state_cache;           /* running workflows' states kept in memory, so that a
                                      signal or report replays no history; 0: 4096,
                                      < 0: none */
    _Atomic uint64_t *totals;      /* ENGINE_STAT_COUNT counters (the caller's, outliving
                                      the engine) that every session also adds to: totals
                                      across sessions and rules reloads, for metrics;
                                      NULL: none */
} engine_opts;

/* rules is borrowed and must outlive the engine; its workflow definitions
 * are the ones new starts use. SY_OK: *out owned (engine_free). */
sy_status engine_new(const engine_opts *opts, const rules_set *rules, engine **out,
                     sy_error *err) SY_MUST_USE;
void engine_free(engine *eng);

/* Connects (and runs pending migrations when migrate is true, under an
 * advisory lock so that several processes may start at once). */
sy_status engine_session_open(const engine *eng, const char *conninfo, bool migrate,
                              engine_session **out, sy_error *err) SY_MUST_USE;
void engine_session_close(engine_session *s);

/* Whether the session's connection still works, without a round trip:
 * reads what the socket holds (a server that crashed or shut down has sent
 * its last words and closed it). SY_DB_DOWN when it is gone. Keeps any
 * NOTIFY it reads for engine_wait_notify. The session's thread. */
sy_status engine_session_check(engine_session *s, sy_error *err) SY_MUST_USE;

/* The session's caller found nothing to do for a while (an empty fetch):
 * buffers kept for reuse that are past ENGINE__KEEP_MIN (1 MiB) are
 * freed, and a connection whose output buffer grew past it is replaced by
 * a new one, so that an idle service gives back what a burst of oversized
 * input took. Not in a transaction; the session's thread. */
void engine_session_idle(engine_session *s);

/* Bytes the session keeps between transactions for reuse: its spare write
 * set's buffers and the largest statement its connection sent (libpq's
 * output buffer). After an oversized batch it is back under a bound
 * (engine_int.h: engine__keep_bytes) once the transaction ended. */
size_t engine_session_retained_bytes(const engine_session *s);

/* Tells a service whether one of its loops (relay, report consumer) holds
 * a working Postgres connection: false when a round found it lost, true
 * after a round that worked. For readiness. Called on the loop's thread. */
typedef void (*engine_health_fn)(void *arg, bool db_ok);

sy_status engine_begin(engine_session *s, sy_error *err) SY_MUST_USE;
sy_status engine_commit(engine_session *s, sy_error *err) SY_MUST_USE;
void engine_rollback(engine_session *s);

/* ---- requests ------------------------------------------------------------ */

typedef struct engine_start_req {
    const char *workflow_type;  /* a key of rules_set_workflows */
    const char *workflow_id;
    const cJSON *input;         /* borrowed; NULL = {} */
    const char *task_queue;     /* override or NULL */
    rules_if_running if_running;
    rules_if_closed if_closed;
    const char *event_id;       /* causation; NULL for API/CLI starts */
    const char *trace_id;       /* NULL: a new one */
    const char *tracestate;     /* W3C tracestate that came with trace_id (checked); may be NULL */
    const char *route;          /* the route that asked (named in its dead letter); may be NULL */
} engine_start_req;

typedef struct engine_signal_req {
    const char *workflow_id;
    const char *signal;
    const cJSON *payload;       /* borrowed; may be NULL */
    const char *event_id;       /* idempotency key: a signal is applied once per event_id */
    const char *trace_id;
    const char *tracestate; /* W3C tracestate that came with trace_id (checked); may be NULL */
    rules_if_missing if_missing;
    const engine_start_req *start; /* signal-with-start (if_missing == start) */
    const char *route; /* the route that asked (named in its dead letter); may be NULL */
} engine_signal_req;

typedef struct engine_dead_letter {
    const char *event_id;       /* may be NULL (unparseable body) */
    const char *trace_id, *type, *source; /* what parsed of the event; each may be NULL */
    const char *code, *message; /* why */
    const char *subject;        /* the NATS subject it arrived on */
    const char *body;           /* original bytes */
    size_t body_len;
    const cJSON *headers;       /* object of header -> string, or NULL */
    uint64_t stream_seq;
    const char *route; /* the route whose action failed; NULL: the whole event */
} engine_dead_letter;

/* ---- batches (the router's path) ----------------------------------------- */

/* A batch collects the effects of many events and applies them with a few
 * multi-row statements. Owned by one thread; reusable after reset. */
typedef struct engine_batch engine_batch;

typedef enum {
    ENGINE_APPLIED,      /* new event, effects written */
    ENGINE_DUPLICATE,    /* event_id already in the inbox: no effect */
    ENGINE_DEAD_LETTERED /* an action was refused (e.g. signal to a missing workflow) */
} engine_outcome;

engine_batch *engine_batch_new(void);
void engine_batch_reset(engine_batch *b);
void engine_batch_free(engine_batch *b);

/* Adds an event (its inbox row) and returns its index in the batch. The
 * strings and JSON given to the batch functions are copied. */
size_t engine_batch_event(engine_batch *b, const char *event_id);
/* The routes whose actions event ev is applied with ('\n'-joined names,
 * copied), recorded on its inbox row for `switchyard replay`: an event
 * replayed later takes effect only through routes not recorded here. */
void engine_batch_event_routes(engine_batch *b, size_t ev, const char *routes);

/* What the inbox holds of event_id, for replay's exactly-once check:
 * applied is whether a row keyed event_id exists, routes the names it
 * recorded ('\n'-joined; NULL: none recorded, a row from before migration
 * 019), route_keys the routes applied one by one since, under
 * sy.route:<event_id>/<route> ('\n'-joined, NULL: none). Strings owned
 * (engine_inbox_entry_cleanup). Not in a transaction. */
typedef struct engine_inbox_entry {
    bool applied;
    char *routes, *route_keys;
} engine_inbox_entry;
sy_status engine_inbox_get(engine_session *s, const char *event_id, engine_inbox_entry *out,
                           sy_error *err) SY_MUST_USE;
void engine_inbox_entry_cleanup(engine_inbox_entry *e);
void engine_batch_start(engine_batch *b, size_t ev, const engine_start_req *req);
void engine_batch_signal(engine_batch *b, size_t ev, const engine_signal_req *req);
void engine_batch_dead_letter(engine_batch *b, size_t ev, const engine_dead_letter *dl);

/* Marks event ev as the replay of dead letter dead_letter_id. The first
 * dead letter the event writes replaces that one (same id, its code,
 * message and route updated, failures + 1, pending again) instead of
 * adding a row; later ones are new rows. per_route: the replay runs the
 * one route the dead letter names, and its inbox row is the route's
 * ("sy.route:<event_id>/<route>"): when that route fails again, the row is
 * removed with the failure, so that the next replay runs it again. */
void engine_batch_event_replay(engine_batch *b, size_t ev, int64_t dead_letter_id, bool per_route);

/* Applies the batch inside the session's open transaction: inbox rows first
 * (duplicates are skipped with all their effects), then starts, signals and
 * dead letters in event order. */
sy_status engine_batch_apply(engine_session *s, engine_batch *b, sy_error *err) SY_MUST_USE;
engine_outcome engine_batch_outcome(const engine_batch *b, size_t ev);

/* ---- results --------------------------------------------------------------- */

/* What one call (or one event of a batch) did. */
typedef struct engine_result {
    engine_outcome outcome;
    bool started;       /* a new run was started */
    char run_id[37];    /* the run affected ("" when none) */
    char code[48];      /* refusal or dead-letter code ("" when applied): workflow_running,
                           workflow_closed, workflow_not_found, bad_workflow_id,
                           unknown_workflow_type, input_too_large, stale_attempt, ... */
    char message[256];
} engine_result;

const engine_result *engine_batch_result(const engine_batch *b, size_t ev); /* borrowed */

/* What a workflow's concurrency limit did with a start (docs/flow-control.md,
 * "Concurrency"). */
typedef enum {
    ENGINE_CONC_NONE,     /* no limit, or not decided (a duplicate, held by flow control) */
    ENGINE_CONC_PASSED,   /* it found a slot */
    ENGINE_CONC_QUEUED,   /* it waits for one (queue, round_robin, cancel_in_progress) */
    ENGINE_CONC_DROPPED,  /* cancel_newest: it found none and was dropped */
    ENGINE_CONC_CANCELED, /* (counts) a run canceled to make room */
    ENGINE_CONC_REPLACED, /* (counts) a waiting start replaced by a newer one */
    ENGINE_CONC_RELEASED, /* the timer loop started it into a free slot */
    ENGINE_CONC_OUTCOMES
} engine_conc_outcome;

/* After engine_batch_apply: what concurrency did with event ev's start. */
engine_conc_outcome engine_batch_conc_outcome(const engine_batch *b, size_t ev);

/* Attaches the original message of event ev (subject, body, body_len,
 * headers, stream_seq of *orig; code and message are ignored), so that an
 * action the engine refuses (ENGINE_DEAD_LETTERED with a code) is stored as a
 * replayable dead letter with the original bytes. Borrowed: the pointers
 * must stay valid until engine_batch_apply returns (no copy on the hot path). */
void engine_batch_event_source(engine_batch *b, size_t ev, const engine_dead_letter *orig);

/* Event ev (envelope JSON, copied) is of a type some workflow correlates
 * on (rules_set_correlates: cancel_on, wait_event): the batch stores it for
 * the waits' lookback and matches it with the runs waiting for it, which
 * it cancels or resumes in the same transaction (docs/flow-control.md,
 * "Correlation"). The event needs an inbox row (a non-NULL event_id). */
void engine_batch_correlate(engine_batch *b, size_t ev, const cJSON *event);
/* The same for an event that came at at_ms (Unix ms; 0: now), not now:
 * `switchyard replay` gives an old event its stream time, so it counts
 * for the waits and cancel_ons that existed then (created before at_ms,
 * with the grace) and still wait, is stored for lookbacks at that time,
 * and joins its parts at that time; never for a wait that began after. */
void engine_batch_correlate_at(engine_batch *b, size_t ev, const cJSON *event, int64_t at_ms);

/* ---- stream order (router/order.c; migration 030) --------------------------
 * A lane is one router pipeline: the stream sequences it fetched and has not
 * committed (pending[i], with keys[i] a hash of a workflow ID the event
 * starts or signals, 0 for none; an event with several IDs is listed once
 * per ID), and the sequences it committed that the consumer's ack floor may
 * not have passed yet (done). Arrays borrowed for the call. */
typedef struct engine_order_lane {
    const int64_t *pending, *keys;
    size_t npending;
    const int64_t *done;
    size_t ndone;
} engine_order_lane;

/* One entry of another lane: a pending (seq, key) or a done seq (key 0). */
typedef struct engine_order_entry {
    int64_t seq, key;
    bool done;
} engine_order_entry;

/* Outside a transaction (it commits by itself): writes lane 'lane' as
 * *mine and reads every other lane's entries with seq > floor. SY_OK: *out
 * (owned, free()) holds *n entries (NULL when none). */
sy_status engine_order_publish(engine_session *s, const char *lane, const engine_order_lane *mine,
                               int64_t floor, engine_order_entry **out, size_t *n,
                               sy_error *err) SY_MUST_USE;
/* Inside the caller's transaction: writes lane 'lane' as *mine (what stays
 * pending once the transaction commits, and done), so that other lanes see
 * the events it committed as done exactly when their effects are visible. */
sy_status engine_order_settle(engine_session *s, const char *lane, const engine_order_lane *mine,
                              sy_error *err) SY_MUST_USE;
/* Deletes lane 'lane' (a pipeline stopping cleanly). */
sy_status engine_order_drop(engine_session *s, const char *lane, sy_error *err) SY_MUST_USE;

/* Runs the numbered migrations (engine/migrations/NNN_*.sql, embedded at
 * build time) under an advisory lock; *applied (may be NULL) receives how
 * many were new. Idempotent. */
sy_status engine_migrate(const engine *eng, const char *conninfo, int *applied,
                         sy_error *err) SY_MUST_USE;

/* ---- single calls (API, CLI, scheduler) ------------------------------------
 * Each runs inside the session's open transaction (engine_begin) and is a
 * batch of one. Bad requests (invalid workflow ID, unknown workflow type,
 * oversized input) return SY_INVALID with err->code set and write nothing.
 * A refused action (if_running=fail, if_closed=reject, missing workflow)
 * returns SY_CONFLICT / SY_NOT_FOUND with res->code; nothing but the inbox
 * row (when event_id is given) is written. res may be NULL. */
sy_status engine_start(engine_session *s, const engine_start_req *req, engine_result *res,
                       sy_error *err) SY_MUST_USE;
sy_status engine_signal(engine_session *s, const engine_signal_req *req, engine_result *res,
                        sy_error *err) SY_MUST_USE;
/* Cooperative: pending tasks are canceled and the run ends "canceled". */
sy_status engine_cancel(engine_session *s, const char *workflow_id, const char *reason,
                        engine_result *res, sy_error *err) SY_MUST_USE;
/* At once: the run ends "terminated"; nothing else happens. */
sy_status engine_terminate(engine_session *s, const char *workflow_id, const char *reason,
                           engine_result *res, sy_error *err) SY_MUST_USE;

/* ---- task reports (the worker protocol, engine side) ---------------------- */

typedef enum {
    ENGINE_REPORT_STARTED,
    ENGINE_REPORT_HEARTBEAT,
    ENGINE_REPORT_COMPLETED,
    ENGINE_REPORT_FAILED,
} engine_report_kind;

typedef struct engine_report {
    const char *task_id;
    int64_t attempt;            /* the attempt the worker holds; 0 = any (human tasks) */
    engine_report_kind kind;
    const cJSON *result;        /* completed: borrowed, may be NULL */
    const char *error_type;     /* failed: e.g. "bad_input" (matched against non_retryable) */
    const char *error_message;
    bool retryable;             /* failed: false = no more attempts */
    const char *event_id;       /* idempotency key of the report; NULL: none */
    const char *trace_id;       /* may be NULL */
    bool started;               /* completed/failed: the worker sent task.started first
                                   (reports.h, ENGINE_STARTED_HEADER): recorded with it
                                   if not applied yet */
} engine_report;

/* Applies one report in the session's transaction. A report for a stale
 * attempt, an unknown task, a closed workflow or a task that is done is
 * counted and ignored: SY_OK with res->outcome ENGINE_DUPLICATE, res->code
 * "stale_attempt", "unknown_task", "workflow_closed" or "task_closed", and
 * res->message saying it in words ("the task is already completed"). */
sy_status engine_task_report(engine_session *s, const engine_report *r, engine_result *res,
                             sy_error *err) SY_MUST_USE;
void engine_batch_report(engine_batch *b, size_t ev, const engine_report *r);

/* Counters of one session (since open); engine_opts.totals sums them
 * over every session of the engine. */
enum {
    ENGINE_STAT_STALE_REPORTS,
    ENGINE_STAT_UNKNOWN_TASKS,
    ENGINE_STAT_CLOSED_REPORTS,
    ENGINE_STAT_TIMERS_FIRED,
    ENGINE_STAT_TIMERS_STALE,
    ENGINE_STAT_STATE_HITS,          /* running workflows whose state came from the cache */
    ENGINE_STAT_STATE_MISSES,        /* ... whose history was loaded and replayed */
    ENGINE_STAT_OUTBOX_DEAD_LETTERS, /* outbox messages that could not be published
                                        (no stream, too large, bad subject): dead-lettered */
    ENGINE_STAT_TASK_CLOSED_REPORTS, /* reports on a task already completed, failed or
                                        canceled (its current attempt) */
    ENGINE_STAT_FLOW_FIRED,          /* actions flow control held, applied by the timer loop */
    ENGINE_STAT_CORR_CANCELED,       /* runs a cancel_on event asked to cancel */
    ENGINE_STAT_CORR_WAITS,          /* wait_event steps an event satisfied */
    ENGINE_STAT_CONC_PASSED,         /* starts under a concurrency limit that found a slot */
    ENGINE_STAT_CONC_QUEUED,         /* ... that wait for one */
    ENGINE_STAT_CONC_DROPPED,        /* ... dropped (cancel_newest) */
    ENGINE_STAT_CONC_CANCELED,       /* runs canceled to make room (cancel_in_progress) */
    ENGINE_STAT_CONC_REPLACED,       /* waiting starts replaced by a newer one (cancel_in_progress) */
    ENGINE_STAT_CONC_RELEASED,       /* waiting starts the timer loop started into a free slot */
    ENGINE_STAT_JOINS_STARTED,       /* join routes whose events were all there: started */
    ENGINE_STAT_COUNT
};
uint64_t engine_session_stat(const engine_session *s, int which);

/* ---- reading ----------------------------------------------------------------
 * Results are cJSON trees owned by the caller (cJSON_Delete); the shapes are
 * documented in engine/README.md. Need no open transaction. */

/* {workflow_id, run_id, workflow_type, status, task_queue, trace_id,
 *  causation_id, input, result, error, started_at, closed_at,
 *  cancel_requested, history_length, pending_tasks:[...]}. run_id NULL: the
 * latest run. SY_NOT_FOUND when unknown. */
sy_status engine_describe(engine_session *s, const char *workflow_id, const char *run_id,
                          cJSON **out, sy_error *err) SY_MUST_USE;

/* Open joins (join routes' partial state, docs/flow-control.md "Joins"):
 * {"joins": [{route, key, arrived: [part], missing: [part] | null, when,
 *  workflow_id, since, deadline, events: {part: {event_id, type,
 *  occurred_at}}}], "next_page_token": "..." | null}, by route then key;
 * only those whose window is still open at now_ms. missing: the route's
 * parts not arrived (null for a row written before migration 022). */
typedef struct engine_join_filter {
    const char *route;      /* NULL: every join route */
    size_t limit;           /* 0: 100; at most 1000 */
    const char *page_token; /* the previous page's next_page_token, or NULL */
    int64_t now_ms;
} engine_join_filter;
sy_status engine_join_list(engine_session *s, const engine_join_filter *f, cJSON **out,
                           sy_error *err) SY_MUST_USE;
/* One open join, as a list item but with each part's whole envelope in
 * events. SY_NOT_FOUND (saying which) when route has none open for key. */
sy_status engine_join_get(engine_session *s, const char *route, const char *key, int64_t now_ms,
                          cJSON **out, sy_error *err) SY_MUST_USE;

/* The statuses of a run, NULL-terminated: running, completed, failed,
 * canceled, terminated (the values of engine_list_filter.status). */
extern const char *const engine_workflow_statuses[];

typedef struct engine_list_filter {
    const char *workflow_type;  /* NULL: any */
    const char *status;         /* NULL: any; running|completed|failed|canceled|terminated */
    const char *id_prefix;      /* NULL: any */
    int64_t started_after_ms;   /* 0: unbounded */
    int64_t started_before_ms;  /* 0: unbounded */
    size_t limit;               /* 0: 100; at most 1000 */
    const char *page_token;     /* from the previous page's next_page_token, or NULL */
    const char *task_queue;     /* NULL: any */
} engine_list_filter;

/* {"workflows":[{workflow_id, run_id, workflow_type, status, task_queue,
 *  started_at, closed_at}], "next_page_token": "..." | null}, newest first. */
sy_status engine_list(engine_session *s, const engine_list_filter *f, cJSON **out,
                      sy_error *err) SY_MUST_USE;

/* Runs per status among the newest 'bound' (0: 100000) runs that match f
 * (its status, limit and page_token ignored): {"counts":{status:n},
 * "total":n, "bounded":bool (the bound was reached: older runs were not
 * counted), "bound":n}. Bounded so that it costs a known walk of the
 * primary key at any table size. */
sy_status engine_workflow_counts(engine_session *s, const engine_list_filter *f, size_t bound,
                                 cJSON **out, sy_error *err) SY_MUST_USE;

/* [{seq, type, data, created_at}] of the run (NULL: latest) after after_seq. */
sy_status engine_history(engine_session *s, const char *workflow_id, const char *run_id,
                         int64_t after_seq, size_t limit, cJSON **out, sy_error *err) SY_MUST_USE;

/* The outbox backlog: *rows unpublished outbox messages, *oldest_age_ms the age
 * of the oldest one against now_ms (0 when empty). Needs no transaction. */
sy_status engine_outbox_backlog(engine_session *s, int64_t now_ms, uint64_t *rows,
                                int64_t *oldest_age_ms, sy_error *err) SY_MUST_USE;

/* Where the server's WAL stands: *bytes its insert position (exact), *fpi
 * the full-page images pg_stat_wal has counted (its counters lag by up to
 * a second): a bench reads them before and after a run for the WAL each
 * event costs. Cluster-wide, so everything else running on the server
 * counts too. Needs no transaction. */
sy_status engine_wal_stats(engine_session *s, uint64_t *bytes, uint64_t *fpi,
                           sy_error *err) SY_MUST_USE;

/* One task queue's backlog for workers: tasks scheduled and not taken yet
 * (human tasks excluded: no worker takes them). */
typedef struct engine_queue_backlog {
    char queue[128];
    uint64_t tasks;
    int64_t oldest_age_ms; /* of the oldest of them against now_ms; 0 when none */
    uint64_t held;         /* of them, held for dispatch (max_in_flight: dispatch.c) */
} engine_queue_backlog;

/* The backlog of every queue that has open tasks or a worker seen on it
 * (engine_workers_seen; those show 0 rather than vanish), sorted by name,
 * at most max of them into out[]; *n receives how many. One query, a scan
 * of the namespace's tasks (the query docs/keda.md gives KEDA, per queue).
 * Needs no transaction. */
sy_status engine_task_queue_backlog(engine_session *s, int64_t now_ms, engine_queue_backlog *out,
                                    size_t max, size_t *n, sy_error *err) SY_MUST_USE;

/* ---- dead letters (for `switchyard dlq`) ---------------------------------- */

typedef struct engine_dead_letter_row {
    int64_t id;
    char *event_id;             /* owned, NULL when unknown */
    char *trace_id, *type, *source; /* owned, what parsed of the event; NULL when unknown */
    char *code, *message;       /* owned */
    char *subject;              /* owned, NULL when none */
    char *body;                 /* owned, original bytes (NUL-terminated for convenience) */
    size_t body_len;
    cJSON *headers;             /* owned, NULL when none */
    uint64_t stream_seq;
    int64_t created_at_ms;
    int64_t replayed_at_ms; /* 0: never replayed (or failed again since) */
    char *route;            /* owned: the route that failed; NULL: the whole event */
    int64_t failures;       /* 1 + the replays that failed again */
    int64_t updated_at_ms;  /* the last failure (created_at_ms when only one) */
} engine_dead_letter_row;

typedef struct engine_dead_letter_list {
    engine_dead_letter_row *items; /* owned */
    size_t len;
} engine_dead_letter_list;

typedef struct engine_dlq_filter {
    const char *code;           /* NULL: any */
    int64_t after_id;           /* pagination: rows with id > after_id */
    size_t limit;               /* 0: 100 */
    bool include_replayed;
    const char *source, *type;  /* the body's envelope members; NULL: any */
    int64_t since_ms, until_ms; /* created_at in [since, until); 0: unbounded */
    bool newest_first;          /* by id descending; then before_id pages instead */
    int64_t before_id;          /* newest_first: rows with id < before_id (0: from the top) */
} engine_dlq_filter;

sy_status engine_dead_letters_list(engine_session *s, const engine_dlq_filter *f,
                                   engine_dead_letter_list *out, sy_error *err) SY_MUST_USE;
void engine_dead_letter_list_cleanup(engine_dead_letter_list *l);
/* SY_NOT_FOUND when no such id. *out owned: engine_dead_letter_row_cleanup. */
sy_status engine_dead_letter_get(engine_session *s, int64_t id, engine_dead_letter_row *out,
                                 sy_error *err) SY_MUST_USE;
void engine_dead_letter_row_cleanup(engine_dead_letter_row *row);
/* Marks a dead letter replayed (now). SY_NOT_FOUND when no such id. */
sy_status engine_dead_letter_replayed(engine_session *s, int64_t id, sy_error *err) SY_MUST_USE;
/* Whether dead letter 'id' is one a replay of event 'event_id' may name:
 * with 'route' (a route's replay), its dead letter of that route; without
 * (NULL), the whole event's (no route; the event_id unknown when it did
 * not parse). Any publisher can set dlq replay's headers: the router
 * honours them only when this holds (a forged one is a plain duplicate).
 * Outside or inside a transaction. */
sy_status engine_dead_letter_names(engine_session *s, int64_t id, const char *event_id,
                                   const char *route, bool *out, sy_error *err) SY_MUST_USE;

/* ---- the operator's HTTP API and web UI (docs/http-api.md) ------------------ */

/* Describe plus what an operator looks at: every task of the run (attempt,
 * scheduled/started/heartbeat times, input, result, error), its pending
 * timers, its buffered signals (received, not yet consumed by a wait) and,
 * while running, current_step {step, event, seq} (the last history event
 * naming a step). run_id NULL: the latest run. SY_NOT_FOUND when unknown
 * (a purged ID: use engine_describe). */
sy_status engine_workflow_detail(engine_session *s, const char *workflow_id, const char *run_id,
                                 cJSON **out, sy_error *err) SY_MUST_USE;

/* Fires now the retry of a task waiting in backoff (its retry timer is due
 * at once; the timer loop is woken). Caller's transaction. SY_NOT_FOUND
 * (code not_in_backoff) when the task does not wait for a retry. */
sy_status engine_task_retry_now(engine_session *s, const char *task_id, sy_error *err) SY_MUST_USE;

/* {"queues":[{queue, scheduled, started, backoff, oldest_scheduled_at,
 *  oldest_age_ms, workers:[{worker, first_seen_at, last_seen_at, reports,
 *  completed, failed}], last_seen_at, completed, failed, failure_rate}]}:
 * open tasks per queue (a scan of the tasks table: the UI's callers cache
 * it) and the workers the report consumer saw. Needs no transaction. */
sy_status engine_task_queues(engine_session *s, int64_t now_ms, cJSON **out,
                             sy_error *err) SY_MUST_USE;

/* The values of engine_task_filter.status, NULL-terminated: "pending"
 * (scheduled, started or backoff: waiting for a worker, a person or a
 * retry), each status of a task (scheduled, started, backoff, completed,
 * failed, canceled), and "all". */
extern const char *const engine_task_status_filters[];

typedef struct engine_task_filter {
    const char *queue;      /* NULL: any; "human": the human tasks */
    const char *assignee;   /* NULL: any; else the human tasks assigned to it */
    const char *status;     /* NULL: "pending"; else one of engine_task_status_filters */
    size_t limit;           /* 0: 100; at most 1000 */
    const char *page_token; /* the previous page's next_page_token, or NULL */
} engine_task_filter;

/* The tasks that match f, in the list shape of docs/cli.md: {"tasks":
 * [{task_id, workflow_id, run_id, workflow_type, name, step, queue, human,
 * assignee, attempt, status, input, scheduled_at, started_at,
 * heartbeat_at}], "next_page_token": the last task_id of the page when more
 * follow, else null}, by task_id (a run's tasks together, runs in start
 * order: their ids are UUIDv7). A human task's assignee is the one its
 * task.scheduled event recorded (the rendered template). SY_INVALID for a
 * status that is not a filter value. Needs no transaction. */
sy_status engine_task_list(engine_session *s, const engine_task_filter *f, cJSON **out,
                           sy_error *err) SY_MUST_USE;

/* What the report consumer saw of one worker on one queue since its last
 * call (worker "" when the reports did not say). */
typedef struct engine_worker_seen {
    const char *queue, *worker; /* borrowed */
    int64_t last_seen_ms;
    uint64_t reports, completed, failed;
} engine_worker_seen;

/* Adds w[0..n) (sorted in place) to the workers table, in its own
 * transaction without waiting for the WAL flush (telemetry). */
sy_status engine_workers_seen(engine_session *s, engine_worker_seen *w, size_t n,
                              sy_error *err) SY_MUST_USE;

/* What became of the replay of dead letter id: {"status":
 * "dead_lettered", dead_letter_id, code, message, at} when a newer dead
 * letter carries header = id, else {"status":"applied", at} when the inbox
 * holds inbox_key (the replay's key), else {"status":"pending"}. */
sy_status engine_dead_letter_replay_outcome(engine_session *s, int64_t id, const char *inbox_key,
                                            const char *header, cJSON **out,
                                            sy_error *err) SY_MUST_USE;

/* Benchmarks only (`switchyard bench ui`): n runs "<prefix><i>" of
 * workflow_type (also their queue) with their workflow_ids rows, started
 * at first_ms + i * step_ms, in one statement; 1 in 100 running, 4 failed,
 * the rest completed. No history, tasks or outbox. Caller's transaction. */
sy_status engine_runs_create_many(engine_session *s, const char *prefix, size_t n,
                                  const char *workflow_type, int64_t first_ms, int64_t step_ms,
                                  sy_error *err) SY_MUST_USE;

/* ---- timers ---------------------------------------------------------------- */

/* Claims up to max due timers (fire_at <= now_ms) with FOR UPDATE SKIP LOCKED
 * and fires them, in its own transaction (the session must not be in one).
 * *fired (may be NULL) receives how many timers were handled. */
sy_status engine_timers_run_once(engine_session *s, int64_t now_ms, size_t max, size_t *fired,
                                 sy_error *err) SY_MUST_USE;
/* LISTEN for new timers and outbox rows on this session. */
sy_status engine_listen(engine_session *s, sy_error *err) SY_MUST_USE;
/* LISTEN for one kind only: a timer loop that also hears the outbox
 * channel wakes up (and polls) after every committed batch. */
enum { ENGINE_NOTIFY_TIMERS = 1, ENGINE_NOTIFY_OUTBOX = 2, ENGINE_NOTIFY_CHANGES = 4 };

/* Every transaction that changes runs or writes dead letters also NOTIFYs
 * this channel, in the same statement as its writes (so a listener hears of
 * a change only after it committed), with the payload
 *   {"s": schema, "n": namespace,
 *    "r": [[workflow_id, run_id, status, workflow_type, next_seq], ...],
 *    "m": runs left out (the payload stays under Postgres's 8000 bytes),
 *    "d": dead letters written}
 * The web UI's live updates are fed by one listener per process
 * (router/admin_live.c). A hint for what to re-read, like the others: a
 * listener that lost its connection re-reads everything. */
#define ENGINE_NOTIFY_CHANGES_CHANNEL "switchyard_changes"

/* The session's socket, for an event loop to watch for readability (a
 * session that LISTENs); -1 when it has none. */
int engine_session_socket(engine_session *s);

/* Reads what the server sent without blocking and calls fn for every
 * notification that arrived (channel and payload borrowed for the call).
 * SY_DB_DOWN when the connection is lost. */
typedef void (*engine_notify_fn)(void *arg, const char *channel, const char *payload);
sy_status engine_read_notifications(engine_session *s, engine_notify_fn fn, void *arg,
                                    sy_error *err) SY_MUST_USE;
sy_status engine_listen_for(engine_session *s, int which, sy_error *err) SY_MUST_USE;
/* Waits up to timeout_ms for a notification (a hint only: always poll too).
 * *notified (may be NULL) says whether one arrived. */
sy_status engine_wait_notify(engine_session *s, int timeout_ms, bool *notified,
                             sy_error *err) SY_MUST_USE;
/* *at_ms: the earliest fire_at, or 0 when there is no timer. */
sy_status engine_next_timer(engine_session *s, int64_t *at_ms, sy_error *err) SY_MUST_USE;

/* ---- retention --------------------------------------------------------------- */

typedef struct engine_purge_counts {
    size_t inbox, runs, dead_letters;
    size_t flow_keys; /* flow-control keys holding nothing, past their window */
    size_t corr_events; /* stored events of correlated types past their lookback */
    bool more; /* a call's bound was reached: call again soon for the rest */
} engine_purge_counts;

/* Deletes inbox rows older than inbox_retention_ms, closed runs (with
 * history, tasks, timers) closed before history_retention_ms ago, and dead
 * letters last touched (recorded, failed again, replayed) before
 * history_retention_ms ago. The
 * workflow_ids tombstones stay. Own transaction, bounded: at most
 * ENGINE_PURGE_INBOX inbox rows and ENGINE_PURGE_RUNS runs of each kind
 * (UUIDv7, first-release) a call. */
#define ENGINE_PURGE_INBOX 50000
#define ENGINE_PURGE_RUNS 10000
sy_status engine_purge(engine_session *s, int64_t now_ms, engine_purge_counts *out,
                       sy_error *err) SY_MUST_USE;

/* ---- the outbox relay -------------------------------------------------------- */

typedef struct engine_relay engine_relay;

/* Builds the options of a NATS connection (servers, credentials, TLS) so that
 * every connection of a service is made one way (the router's
 * router_nats_options). Returns a new nats.c natsOptions* (void* keeps
 * nats.h out of this header), owned by the caller, or NULL with *err set. */
typedef void *(*engine_nats_options_fn)(void *arg, sy_error *err);

typedef struct engine_relay_opts {
    const char *conninfo;      /* Postgres; borrowed during engine_relay_new */
    const char *nats_url;      /* borrowed during engine_relay_new */
    size_t batch;              /* messages per round (whole pages); 0: 2048 */
    int64_t ack_timeout_ms;    /* wait for PubAcks per round; 0: 5000 */
    int64_t poll_ms;           /* polling fallback when idle; 0: 200 */
    engine_nats_options_fn nats_options; /* non-NULL: used instead of nats_url */
    void *nats_options_arg;    /* borrowed during engine_relay_new */
    engine_health_fn health;   /* may be NULL; told after each round of engine_relay_run */
    void *health_arg;          /* borrowed while the relay lives */
} engine_relay_opts;

/* Connects to both (NATS reconnects forever). SY_OK: *out owned. */
sy_status engine_relay_new(const engine *eng, const engine_relay_opts *o, engine_relay **out,
                           sy_error *err) SY_MUST_USE;
/* One round: publishes about batch messages (whole pages) in outbox order,
 * deletes the pages whose PubAcks all arrived; *published counts their
 * messages. Only one relay publishes at a time (advisory lock); others
 * return SY_OK with *published 0. */
sy_status engine_relay_run_once(engine_relay *r, size_t *published, sy_error *err) SY_MUST_USE;
/* Loops run_once until *stop becomes true (checked at least every poll_ms),
 * surviving NATS and Postgres outages. Run it in a thread of its own. */
void engine_relay_run(engine_relay *r, const atomic_bool *stop);
uint64_t engine_relay_published(const engine_relay *r); /* total since new */
void engine_relay_free(engine_relay *r);

#endif
