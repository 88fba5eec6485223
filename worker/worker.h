/* worker.h: the reference worker, `switchyard worker` (docs/worker-protocol.md).
 *
 * Consumes task.created messages from `<prefix>.task.created.<queue>` through
 * a durable JetStream pull consumer and runs a command per task: the task
 * input as JSON on stdin, SY_TASK_ID / SY_WORKFLOW_ID / SY_RUN_ID / SY_ATTEMPT
 * / SY_QUEUE / TRACEPARENT in its environment (and TRACESTATE when task.created has one), in a
 * process group of its own. It publishes task.started, task.heartbeat (while the command runs),
 * task.completed (exit 0, stdout as result) or task.failed to
 * `<prefix>.report.<queue>`, and acks the task message only after the final
 * report got its PubAck. The command's process group is killed on timeout
 * and when the engine publishes a cancel for its workflow or task.
 *
 * Threads: worker_run runs on the caller's thread (the fetch loop) and starts
 * one thread per running task; it returns after *stop became true and the
 * running tasks finished or were handed back (nak) after the grace period. */
#ifndef SY_WORKER_H
#define SY_WORKER_H

#include "log.h"
#include "status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_MAX_EXIT_CODES 32

typedef struct worker_opts {
    const char *nats_url; /* NULL: nats://127.0.0.1:4222 */
    const char *queue;    /* [A-Za-z0-9_-]{1,64}, required */
    const char *prefix;   /* subject prefix; NULL: "sy" */
    const char *stream;   /* NULL: the stream that holds the subject */
    const char *durable;  /* NULL: "sy-worker-<queue>" */
    int concurrency;      /* tasks run at once; <= 0: 1 */
    int64_t timeout_ms;   /* per attempt; 0: the task's start_to_close_ms, else none */
    int64_t heartbeat_ms; /* heartbeat period; 0: 10 s (or a third of the task's) */
    int64_t ack_wait_ms;  /* AckWait of a consumer we create; 0: 60 s */
    int64_t grace_ms;     /* after stop: time to finish; 0: 30 s */
    int64_t claim_wait_ms; /* how long task.started waits for the engine's verdict (the
                              claim check); 0: 10 s, at most half the ack wait */
    bool no_claim;         /* start tasks without asking the engine (no engine answers) */
    size_t max_output;    /* stdout bytes kept; 0: 1 MiB (more fails the task) */
    int non_retryable[WORKER_MAX_EXIT_CODES]; /* exit codes reported retryable:false */
    size_t n_non_retryable;
    char *const *argv; /* CMD ARGS..., NULL-terminated, borrowed */
    const sy_log *log; /* borrowed; NULL: no logs */
} worker_opts;

/* Runs until *stop is true (set it from any thread, e.g. a signal thread).
 * Options and argv are borrowed for the duration of the call.
 * SY_OK after a clean stop; SY_NATS_DOWN when NATS is unreachable at start;
 * SY_NATS when the stream or consumer cannot be set up (*err says why). */
sy_status worker_run(const worker_opts *opts, const atomic_bool *stop, sy_error *err) SY_MUST_USE;

/* Checks a queue name: 1-64 characters of [A-Za-z0-9_-] (a subject token and
 * a valid part of a consumer name). */
bool worker_queue_name_ok(const char *queue);

/* Parses "3,4,70" into out (at most WORKER_MAX_EXIT_CODES codes 0-255). */
sy_status worker_parse_exit_codes(const char *s, int *out, size_t *n, sy_error *err) SY_MUST_USE;

#endif
