/* engine.h: the durable workflow engine on Postgres (DESIGN.md section 4).
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
} engine_start_req;

typedef struct engine_signal_req {
    const char *workflow_id;
    const char *signal;
    const cJSON *payload;       /* borrowed; may be NULL */
    const char *event_id;       /* idempotency key: a signal is applied once per event_id */
    const char *trace_id;
    rules_if_missing if_missing;
    const engine_start_req *start; /* signal-with-start (if_missing == start) */
} engine_signal_req;

typedef struct engine_dead_letter {
    const char *event_id;       /* may be NULL (unparseable body) */
    const char *code, *message; /* why */
    const char *subject;        /* the NATS subject it arrived on */
    const char *body;           /* original bytes */
    size_t body_len;
    const cJSON *headers;       /* object of header -> string, or NULL */
    uint64_t stream_seq;
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
void engine_batch_start(engine_batch *b, size_t ev, const engine_start_req *req);
void engine_batch_signal(engine_batch *b, size_t ev, const engine_signal_req *req);
void engine_batch_dead_letter(engine_batch *b, size_t ev, const engine_dead_letter *dl);

/* Applies the batch inside the session's open transaction: inbox rows first
 * (duplicates are skipped with all their effects), then starts, signals and
 * dead letters in event order. */
sy_status engine_batch_apply(engine_session *s, engine_batch *b, sy_error *err) SY_MUST_USE;
engine_outcome engine_batch_outcome(const engine_batch *b, size_t ev);

#endif
