/* reports.h: the engine's consumer of worker reports (docs/worker-protocol.md).
 *
 * Workers publish task.started / task.heartbeat / task.completed /
 * task.failed to `<prefix>.report.<queue>`. This consumer reads them through
 * its own durable JetStream pull consumer on `<prefix>.report.>`, validates
 * each one (schemas/worker/task.*.json), answers the claim checks of the
 * fetch from one read (claims.c), holds the task.started it answered "run"
 * until the task's next report comes or the hold ends (reports_hold.c), lets
 * the rest linger for more, applies them with engine_batch_report inside
 * one transaction, commits, and only then acks the messages. Reports for stale attempts, unknown tasks or closed
 * workflows are counted and acked (the engine ignores them); invalid reports
 * are counted, logged and terminated. A database outage naks the batch with
 * a delay; nothing is acked before its commit.
 *
 * Threads: an engine_reports object belongs to one thread (engine_reports_run
 * is meant to be a thread of `switchyard serve`); the counters may be read
 * from any thread. */
#ifndef SY_ENGINE_REPORTS_H
#define SY_ENGINE_REPORTS_H

#include "engine.h"

#include <stdatomic.h>

typedef struct engine_reports engine_reports;

/* The claim check (docs/worker-protocol.md): a task.started report with
 * this header (an inbox subject) is answered there, from a read of the
 * committed state (or, when it is not held, once its transaction
 * committed), with {"task_id", "attempt", "verdict": "run" | "closed" |
 * "stale" | "unknown" | "duplicate", "reason"}: a worker runs the task only
 * on "run", so a task of a canceled or terminated run is never started. */
#define ENGINE_REPLY_HEADER "Sy-Reply-To"

/* On a task.completed or task.failed: when the work began (RFC 3339), sent
 * by a worker that published task.started first. The consumer holding that
 * task.started may not be the one this report reaches, so the engine,
 * finding the task not started, records task.started before it. A header,
 * not a member, so that an engine from before it ignores it. */
#define ENGINE_STARTED_HEADER "Sy-Started-At"

/* An empty fetch gives back what the session's batches took
 * (engine_session_idle) only once no report was applied for this long: a
 * consumer that waits between the worker's batches (fetches of 20 ms) shed
 * and trimmed its write set between every two of them, and grew it again. */
#define ENGINE_REPORTS_IDLE_MS 1000

/* The default hold of a task.started (engine_reports_opts.hold_started_ms):
 * long enough for a short task's completion to come along, short enough that
 * the task list shows a task started a moment after it did. A task whose
 * schedule_to_start timer fires sooner than this and a margin is not held. */
#define ENGINE_REPORTS_HOLD_MS 250

/* The default linger of fetched reports (engine_reports_opts.linger_ms):
 * workers that report one task at a time fill a transaction with many of
 * them instead of a few; a workflow's next step waits this much longer. */
#define ENGINE_REPORTS_LINGER_MS 10

typedef struct engine_reports_opts {
    const char *conninfo;                /* Postgres; copied */
    const char *nats_url;                /* copied; NULL: nats://127.0.0.1:4222 */
    const char *prefix;                  /* subject prefix; NULL: "sy" */
    const char *stream;                  /* NULL: the stream holding <prefix>.report.> */
    const char *durable;                 /* NULL: "switchyard-reports" */
    size_t batch;                        /* reports per fetch and transaction; 0: 256 */
    int64_t fetch_timeout_ms;            /* 0: 500 */
    engine_nats_options_fn nats_options; /* non-NULL: used instead of nats_url */
    void *nats_options_arg;              /* borrowed during engine_reports_new */
    /* How long a task.started whose claim check said "run" is held before it
     * is recorded alone (it goes with its task's next report when that comes
     * first: a short task costs one write of its run, not two). 0:
     * ENGINE_REPORTS_HOLD_MS; < 0: every task.started is recorded at once. */
    int64_t hold_started_ms;
    /* How long fetched reports wait for more before they are applied in one
     * transaction (a full batch goes at once). A worker waits for its
     * report's PubAck, not for this; the claim check's answer never waits
     * for it. 0: ENGINE_REPORTS_LINGER_MS; < 0: each fetch applied at once. */
    int64_t linger_ms;
    engine_health_fn health; /* may be NULL; told after each round of engine_reports_run */
    void *health_arg;        /* borrowed while the consumer lives */
} engine_reports_opts;

/* eng is borrowed and must outlive the object. Connects to NATS (reconnects
 * forever afterwards); Postgres and the consumer are set up lazily by
 * run_once, so a missing stream or database is retried, not fatal.
 * SY_OK: *out owned (engine_reports_free). SY_NATS_DOWN: NATS unreachable. */
sy_status engine_reports_new(const engine *eng, const engine_reports_opts *o, engine_reports **out,
                             sy_error *err) SY_MUST_USE;

/* Fetches one batch (waiting up to fetch_timeout_ms), applies it in one
 * transaction, commits, acks. *handled (may be NULL): messages acked or
 * terminated. SY_DB_DOWN / SY_NATS_DOWN / SY_NATS: nothing was acked. An
 * idle round checks its Postgres connection (SY_DB_DOWN when it is lost),
 * so an outage is seen between batches too. */
sy_status engine_reports_run_once(engine_reports *r, size_t *handled, sy_error *err) SY_MUST_USE;

/* Loops run_once until *stop is true (checked at least every
 * fetch_timeout_ms), backing off after failures. Run it in its own thread. */
void engine_reports_run(engine_reports *r, const atomic_bool *stop);

typedef struct engine_reports_stats {
    uint64_t applied; /* reports that changed a task */
    uint64_t ignored; /* stale attempt, unknown task, closed workflow */
    uint64_t invalid; /* not a report: terminated */
} engine_reports_stats;

engine_reports_stats engine_reports_get_stats(const engine_reports *r);
void engine_reports_free(engine_reports *r); /* NULL is a no-op */

/* Parses and validates one report body (exposed for unit tests and the
 * fuzzer). SY_OK: *out is the parsed object (owned, cJSON_Delete) and *rep
 * points into it (borrowed, valid while *out lives). SY_INVALID: *err has a
 * code and the JSON path of the offending field. */
sy_status engine_report_parse(const char *body, size_t len, cJSON **out, engine_report *rep,
                              sy_error *err) SY_MUST_USE;

#endif
