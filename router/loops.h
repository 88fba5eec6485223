/* loops.h: the engine's background loops run next to the router by
 * `switchyard serve`: the outbox relay (a thread running engine_relay_run),
 * the worker-report consumer (engine_reports_run) and the timer loop (a thread firing due timers, and schedules when the
 * engine has them, woken by LISTEN/NOTIFY hints and a poll). */
#ifndef SY_ROUTER_LOOPS_H
#define SY_ROUTER_LOOPS_H

#include "config.h"
#include "log.h"
#include "router.h"
#include "status.h"

typedef struct router_loops router_loops;

/* Starts the loops the config enables (engine.outbox_relay, engine.reports,
 * engine.timers). Each waits for router_schema_ready before its first
 * query, so a fresh database is migrated first.
 * cfg, r and log are borrowed and must outlive the loops. A Postgres outage
 * is not an error (the loops retry). SY_OK: *out owned (router_loops_stop). */
sy_status router_loops_start(const router_config *cfg, router *r, const sy_log *log,
                             router_loops **out, sy_error *err) SY_MUST_USE;

/* Total outbox rows published by this process's relay. */
uint64_t router_loops_published(const router_loops *l);

/* Stops and joins the loops, frees. NULL is a no-op. */
void router_loops_stop(router_loops *l);

#endif
