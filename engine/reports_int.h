/* reports_int.h: shared by engine/reports*.c only (see reports.h). */
#ifndef SY_ENGINE_REPORTS_INT_H
#define SY_ENGINE_REPORTS_INT_H

#include "engine_int.h"
#include "reports.h"

#include <nats/nats.h>

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
};

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
} item;

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
