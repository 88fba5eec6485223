/* reports_int.h: shared by engine/reports*.c only (see reports.h). */
#ifndef SY_ENGINE_REPORTS_INT_H
#define SY_ENGINE_REPORTS_INT_H

#include "engine_int.h"
#include "reports.h"

#include <nats/nats.h>


/* The options of one engine NATS connection: fn(arg) when given (the
 * service's servers, credentials and TLS), else just url (NULL:
 * nats://127.0.0.1:4222). NULL with *err set on failure; owned. Shared with
 * relay.c, so that both loops connect one way. */
natsOptions *engine__nats_options(engine_nats_options_fn fn, void *arg, const char *url,
                                  sy_error *err);

/* One fetched message and what became of it. */
typedef struct item {
    natsMsg *msg;
    cJSON *json;       /* owned; NULL when invalid */
    engine_report rep; /* borrows json */
    char event_id[160];
    char span[17], parent_span[17]; /* the report's span, its traceparent's parent (the
                                       worker's span; "" without one): trace.h */
    size_t ev;
    bool answered; /* its claim check was answered from the read (claims.c) */
    bool skip;     /* the read said applying it would change nothing: acked unapplied,
                      never part of a batch */
} item;

/* The task.started reports a consumer holds (reports_hold.c): answered
 * "run" from the read, recorded with the next report of their task that the
 * consumer fetches (one run loaded and written once for both), or alone
 * when their hold is over. Unacked meanwhile: a crash loses nothing. */
typedef struct engine__held engine__held;
typedef struct engine__hold {
    engine__held **slots; /* by task and attempt; a power of two of them */
    size_t nslots, n;
    engine__held *head, *tail; /* arrival order: the head is due first */
} engine__hold;
/* dst takes src's message and JSON (src is left empty). */
void engine__item_move(item *dst, item *src);
/* Holds *it (moved) until due_ms; false when out of memory (*it kept). */
bool engine__hold_put(engine__hold *h, item *it, int64_t due_ms);
/* Takes the held report of this task and attempt into *out, if any. */
bool engine__hold_take(engine__hold *h, const char *task_id, int64_t attempt, item *out);
/* Takes the oldest held report into *out if it is due at now_ms. */
bool engine__hold_take_due(engine__hold *h, int64_t now_ms, item *out);
int64_t engine__hold_next_due(const engine__hold *h); /* 0: none held */
/* How many are due at now_ms (the oldest ones: every hold is as long). */
size_t engine__hold_count_due(const engine__hold *h, int64_t now_ms);
/* Hands every held message back (NAK: redelivered at once) and empties h. */
void engine__hold_release(engine__hold *h);

struct engine_reports {
    const engine *eng;
    const sy_log *log;
    char *conninfo, *prefix, *stream, *durable;
    size_t batch;
    int64_t fetch_ms;
    engine_health_fn health; /* may be NULL */
    void *health_arg;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub; /* NULL until the consumer is set up */
    engine_session *s;     /* NULL until (re)connected */
    engine_batch *b;
    _Atomic uint64_t applied, ignored, invalid;
    int64_t busy_at;           /* when the last round applied reports (engine__now) */
    struct engine__seen *seen; /* workers seen since the last write (reports_workers.c) */
    int64_t hold_ms;           /* how long a task.started is held; 0: not held */
    engine__hold hold;
    int64_t linger_ms;         /* how long the pending batch waits for more; 0: not at all */
    item *pend;                /* fetched, to be applied in one transaction (owned) */
    size_t npend, cpend;
    int64_t pend_due;          /* when the pending batch is applied, full or not */
};

/* The workers table (008_ui.sql): what the applied reports said about who
 * sent them, kept in memory and written at most once a second, outside the
 * reports' transactions (reports_workers.c). */
typedef struct engine__seen engine__seen;
/* Counts the committed reports it[0..n) (queue from the subject after
 * "<prefix>.report.", worker from the report's "worker" member). */
void engine__seen_note(engine_reports *r, const item *it, size_t n, int64_t now_ms);
/* Writes what was counted when a second has passed since the last write
 * (or always when force). A failure is logged and the counts dropped. */
void engine__seen_flush(engine_reports *r, int64_t now_ms, bool force);
void engine__seen_free(engine__seen *s);

#endif
