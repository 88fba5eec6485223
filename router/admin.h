/* admin.h: the router's admin HTTP server on libevent (router/README.md).
 *
 *   GET  /livez                 200 while the process runs
 *   GET  /readyz                200 when NATS, Postgres and rules are ready, else 503
 *   GET  /metrics               Prometheus text
 *   GET  /api/v1/status         JSON: version, readiness, rules hash, counters
 *   POST /api/v1/rules/reload   reload the rules (bearer token required)
 *   /api/v1/...                 the JSON API of the web UI (docs/http-api.md)
 *   GET  /api/v1/live           Server-Sent Events (admin_live.c)
 *   GET  /ui/                   the web UI (ui/, embedded at build time)
 *
 * Binds 127.0.0.1 by default. Anything that changes state needs
 * "Authorization: Bearer <token>" with the token read from a file, compared
 * in constant time; without a token file those endpoints are disabled (403).
 * ui.read_token_file makes reads need a token too. The server runs its own
 * event loop on its own thread. */
#ifndef SY_ROUTER_ADMIN_H
#define SY_ROUTER_ADMIN_H

#include "log.h"
#include "router.h"
#include "status.h"

typedef struct admin_server admin_server;

/* listen: "host:port" (port 0 picks a free one). token_file may be NULL.
 * r and log are borrowed and must outlive the server. SY_OK: *out owned
 * (admin_stop). SY_CONFIG/SY_IO when the address cannot be bound. */
sy_status admin_start(const char *listen, const char *token_file, router *r, const sy_log *log,
                      admin_server **out, sy_error *err) SY_MUST_USE;

/* The bound port (useful with port 0). */
int admin_port(const admin_server *a);

/* CPU seconds the server's thread has used (requests, the live hub and its
 * fan-out): for `bench ui`. */
double admin_cpu_seconds(const admin_server *a);

/* Stops the loop, joins the thread, frees. NULL is a no-op. */
void admin_stop(admin_server *a);

#endif
