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
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub; /* NULL until the consumer is set up */
    engine_session *s;     /* NULL until (re)connected */
    engine_batch *b;
    _Atomic uint64_t applied, ignored, invalid;
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
    size_t ev;
} item;

#endif
