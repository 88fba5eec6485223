/* worker_task.h: the worker's shared state and one task's life, internal to
 * worker/worker*.c. worker.c owns the `worker` (connection, consumer, the
 * list of running tasks); worker_task.c runs one task on its own thread:
 * parse, task.started, the command (worker_exec.c), heartbeats, the final
 * report, and the ack after its PubAck. */
#ifndef SY_WORKER_TASK_H
#define SY_WORKER_TASK_H

#include "worker.h"
#include "worker_int.h"
#include "trace.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <pthread.h>

typedef struct worker_task worker_task;

typedef struct worker {
    const worker_opts *o; /* borrowed for worker_run's duration */
    const char *prefix;
    int concurrency;
    int64_t ack_wait_ms, grace_ms, heartbeat_ms;
    int64_t claim_wait_ms; /* the claim check's wait for the engine; 0: not asked */
    size_t max_output;
    char worker_id[128]; /* host:pid, reported as "worker" */
    char report_subject[256];
    natsConnection *nc;
    jsCtx *js;             /* thread-safe; shared by the task threads */
    natsSubscription *sub; /* the pull consumer (fetch loop only) */
    natsSubscription *cancel_sub[3];
    pthread_mutex_t mu; /* guards active, running */
    pthread_cond_t cv;  /* signalled when a task ends */
    int active;
    worker_task *running;
    atomic_bool handback; /* grace is over: kill and nak what still runs */
} worker;

struct worker_task {
    worker_task *next; /* in worker.running, under worker.mu */
    worker *w;
    natsMsg *msg;       /* owned: acked, naked or termed, then destroyed */
    cJSON *body;        /* owned: the parsed task.created */
    const cJSON *input; /* borrowed from body; NULL: {} */
    char task_id[128], workflow_id[256], run_id[128], trace_id[33];
    char event_id[160]; /* of the task.created event */
    char span[17];      /* this run's span (common/trace.h), "" until parsed */
    char parent_span[17]; /* task.created's: its traceparent header's, else its event_id's */
    char tracestate[SY_TRACESTATE_MAX + 1]; /* task.created's tracestate header, "" when none:
                                               carried on to CMD and the reports as it came */
    char started_at[40]; /* when CMD started, RFC 3339: the final report's Sy-Started-At,
                            so that the history has the task started even if another
                            engine consumer holds its task.started (docs/worker-protocol.md) */
    long attempt;
    int64_t timeout_ms, heartbeat_ms, next_beat_ms;
    int beats;
    atomic_bool cancel; /* set by the cancel subscription's thread */
};

/* "" as NULL: a log field that is not known is left out. */
static inline const char *worker__known(const char *s)
{
    return s && *s ? s : NULL;
}

/* Every log line about one task names it the same way: its task, its
 * workflow, the task.created event and its trace (what a log search by
 * any of them finds). */
#define WORKER_TASK_LOG(t, lvl, ...)                                                               \
    SY_LOG((t)->w->o->log, (lvl), __VA_ARGS__, "task_id", worker__known((t)->task_id),             \
           "workflow_id", worker__known((t)->workflow_id), "event_id",                             \
           worker__known((t)->event_id), "trace_id", worker__known((t)->trace_id), "span_id",      \
           worker__known((t)->span), "parent_span_id", worker__known((t)->parent_span))

/* Takes msg; runs the task on a new detached thread, which registers the
 * task in w->running (active++) now and removes it when done. */
void worker_task_start(worker *w, natsMsg *msg);

#endif
