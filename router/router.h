/* router.h: the switchyard service (router/README.md; its guarantees
 * in docs/design.md): JetStream in, exactly-once into the engine, dead letters.
 *
 * A router owns one NATS connection, the durable pull consumer (created when
 * absent and allowed), the current rules generation (rules_set + engine,
 * swapped atomically on reload) and N pipeline threads. Each pipeline has
 * its own pull subscription on the shared durable consumer and its own
 * engine_session, and loops: fetch a batch -> parse -> route -> one
 * transaction -> commit -> ack/term. Nothing is acked before its commit.
 *
 * Threads: router_new/start/stop/free from the owning thread (main);
 * router_reload and the read accessors from any thread (admin, signals). */
#ifndef SY_ROUTER_H
#define SY_ROUTER_H

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "status.h"

#include <stdbool.h>

typedef struct router router;

/* cfg and log are borrowed and must outlive the router. Loads the rules,
 * schemas and keyring (SY_CONFIG with the file:line:col on a bad file).
 * SY_OK: *out owned (router_free). Nothing is connected yet. */
sy_status router_new(const router_config *cfg, const sy_log *log, router **out,
                     sy_error *err) SY_MUST_USE;

/* Connects to NATS (retrying in the background when it is down), ensures the
 * stream and the durable consumer, and starts the pipeline threads. Postgres
 * being down is not an error: pipelines reconnect with backoff and the
 * router stays unready meanwhile. SY_NATS/SY_CONFIG on a hard failure. */
sy_status router_start(router *r, sy_error *err) SY_MUST_USE;

/* Loads cfg->rules_path again and swaps it in atomically; on failure the old
 * set stays, the error is logged and returned. Any thread. */
sy_status router_reload(router *r, sy_error *err) SY_MUST_USE;

/* Drains: stops fetching, lets each pipeline finish (commit + ack) the batch
 * in flight, joins the threads. Idempotent. */
void router_stop(router *r);

/* Stops (if needed) and frees. NULL is a no-op. */
void router_free(router *r);

/* Readiness: NATS connected, every pipeline holds a Postgres session, no
 * loop next to the router has found Postgres gone (router_health_set),
 * rules loaded. 'why' (may be NULL) gets a short reason when not ready. */
bool router_ready(const router *r, char *why, size_t why_len);

/* The Postgres health of a loop next to the router (loops.h), part of
 * readiness. router_health_slot registers one named 'name' (borrowed: a
 * string literal), healthy until told otherwise; any thread. -1 when the
 * table (ROUTER_HEALTH_SLOTS) is full: that loop then does not count.
 * router_health_set: from the loop's thread; slot -1 is a no-op. */
#define ROUTER_HEALTH_SLOTS 32
int router_health_slot(router *r, const char *name);
void router_health_set(router *r, int slot, bool db_ok);

/* Whether the engine's tables exist: true once a pipeline's first session
 * has run the migrations (postgres.migrate), or from the start when the
 * operator migrates. The loops next to the router (loops.h) wait for it, so
 * that none queries a table the migrations have not created yet. Any
 * thread. */
bool router_schema_ready(const router *r);

/* Borrowed: the live metrics (atomics; read from any thread). */
router_metrics *router_get_metrics(router *r);

/* Hex sha256 of the current rules set, copied into buf (NUL-terminated). */
void router_rules_hash(router *r, char *buf, size_t len);

/* The libpq conninfo with secrets (borrowed; never log it), for the engine
 * loops run next to the router. */
const char *router_conninfo(const router *r);

#endif
