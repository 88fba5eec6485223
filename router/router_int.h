/* router_int.h: what router.c and pipeline.c share (not a public API). */
#ifndef SY_ROUTER_INT_H
#define SY_ROUTER_INT_H

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

/* Sleeps up to ms, waking early when the router is stopping. */
void router__sleep(struct router *r, int64_t ms);

#endif
