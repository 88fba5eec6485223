/* router_int.h: what router.c and pipeline.c share (not a public API). */
#ifndef SY_ROUTER_INT_H
#define SY_ROUTER_INT_H

#include "buf.h"
#include "engine.h"
#include "envelope.h"
#include "recent.h"
#include "router.h"
#include "rules.h"

#include <nats/nats.h>

#include <pthread.h>
#include <stdatomic.h>

/* One rules generation: a rules set and the engine built on it. Pipelines
 * hold a reference while their session uses the engine; the last release
 * frees it, so a reload never pulls the set out from under a batch. */
typedef struct router_gen {
    rules_set *rules;
    engine *eng;
    atomic_int refs;
    char hash[80];
} router_gen;

/* A message stream order held for the next round (order.h). */
typedef struct router_held {
    natsMsg *msg;
    uint64_t seq;
    int64_t since, touched; /* first held; last InProgress (monotonic ms) */
} router_held;

struct router_order;
struct router_order_msg;

typedef struct router_pipeline {
    struct router *r;
    int index;
    pthread_t thread;
    bool started;
    natsSubscription *sub;
    engine_session *session;
    router_gen *gen;           /* the generation session was opened with */
    engine_batch *batch;
    atomic_bool db_ok;
    int64_t backoff_ms;        /* current reconnect backoff */
    bool trim_when_idle;       /* a batch held an oversized message (mem.h) */
    router_recent_event *rec;  /* batch_size entries for the batch's recent events, or NULL */
    sy_buf routes;             /* scratch: an event's route names (router__routes_text) */
    struct router_order *order; /* stream order per workflow (order.h); NULL: off */
    router_held *held;         /* events held for the next round */
    size_t nheld, cap_held;
    struct router_order_msg *round; /* this round's events in stream order */
    size_t nround, cap_round;
} router_pipeline;

struct router {
    const router_config *cfg;  /* borrowed */
    const sy_log *log;         /* borrowed */
    router_metrics metrics;
    char *conninfo;            /* owned secret */
    envelope_schemas *schemas;
    envelope_keyring *keyring;
    envelope_opts env_opts;
    pthread_mutex_t gen_mu;
    router_gen *gen;           /* current; guarded by gen_mu */
    natsConnection *nc;
    jsCtx *js;
    router_pipeline *pipes;
    size_t npipes;
    atomic_bool stopping;
    atomic_bool started;       /* pipes[] is complete; read by the admin thread */
    atomic_bool schema_ready;  /* migrations done (router_schema_ready) */
    struct {
        const char *name;
        atomic_bool db_ok;
    } health[ROUTER_HEALTH_SLOTS]; /* the loops' (router_health_slot) */
    atomic_int nhealth;            /* slots published; written under gen_mu */
    router_recent *recent;     /* the recent routed events (recent.h); may be NULL */
};

/* Takes a reference to the current generation (never NULL after new). */
router_gen *router__gen_acquire(struct router *r);
void router__gen_release(router_gen *g);

/* The options of every NATS connection of the service (nats_opts.c):
 * servers, name, reconnect forever, credentials, TLS. cfg borrowed. Owned
 * result (natsOptions_Destroy), or NULL with *err set (SY_CONFIG). */
natsOptions *router_nats_options(const router_config *cfg, sy_error *err);
/* The same as an engine_nats_options_fn; arg is the const router_config *. */
void *router__nats_options_fn(void *arg, sy_error *err);

/* The pipeline thread's body. */
void *router__pipeline_main(void *arg);

/* Adds routed action a (a start or a signal) of the valid event env to
 * batch b as an op of event ev, with its flow stages; returns their flow
 * handle (engine_batch_flow), SIZE_MAX when it has none. pipeline.c; the
 * pipelines' path and replay's. */
size_t router__batch_action(engine_batch *b, size_t ev, const envelope *env, const char *tracestate,
                            const rules_action *a);
/* Every header of m as name, value, name, value, ...: *n pairs, a header
 * given twice as two pairs (so a CloudEvents attribute given twice is
 * refused, never one of its values taken). Owned array (free()) of strings
 * borrowed from m; NULL when there are none. pipeline.c. */
const char **router__header_pairs(natsMsg *m, size_t *n);
/* Every header of m as {name: first value}; NULL when there are none.
 * Owned. pipeline.c. */
cJSON *router__headers_json(natsMsg *m);
/* The W3C trace context headers of m against its valid event env
 * (traceparent: the same trace id; tracestate well-formed), and the trace
 * context the event carries on: its parent id into parent (17 bytes, ""
 * without one) and its tracestate into *state (borrowed from m or env,
 * NULL without one), the headers' when m has a traceparent header, else
 * the CloudEvent's attributes'. SY_INVALID with err (bad_trace_id)
 * otherwise. pipeline.c. */
sy_status router__trace_headers(natsMsg *m, const envelope *env, char *parent, const char **state,
                                sy_error *err);
/* The schemas and keyring the configuration names, loaded (each owned,
 * NULL when not configured), and the parse options using them. router.c. */
sy_status router__envelope_load(const router_config *c, envelope_schemas **schemas,
                                envelope_keyring **keyring, envelope_opts *opts, sy_error *err);

/* The line of an inbox row's routes that says the event was correlated
 * (cancel_on, wait_event, join: engine_batch_correlate) under its key;
 * no route may take this name (rules: a name starting with "~"). */
#define ROUTER_CORR_ROUTE "~correlate"
/* The '\n'-joined route names of acts into out (reset first), and
 * ROUTER_CORR_ROUTE when acts correlates: what an event's inbox row
 * records (engine_batch_event_routes), so that a replay applies neither
 * again. */
void router__routes_text(const rules_actions *acts, sy_buf *out);

/* Sleeps up to ms, waking early when the router is stopping. */
void router__sleep(struct router *r, int64_t ms);

#endif
