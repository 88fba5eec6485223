/* admin_int.h: what the admin server's files share (admin.c, admin_api.c,
 * admin_workflows.c, admin_ops.c, admin_live.c, admin_ui.c); not a public
 * API. Everything here runs on the admin thread, which owns the server's
 * event loop, its engine session and its live hub. */
#ifndef SY_ROUTER_ADMIN_INT_H
#define SY_ROUTER_ADMIN_INT_H

#include "admin.h"
#include "router_int.h"

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include <stdatomic.h>
#include <stdbool.h>

typedef struct admin_live admin_live; /* admin_live.c: the SSE hub */

struct admin_server {
    router *r;
    const router_config *cfg; /* the router's, borrowed */
    const sy_log *log;
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int port;
    bool has_token, has_read_token;
    unsigned char token_digest[crypto_generichash_BYTES];
    unsigned char read_digest[crypto_generichash_BYTES];
    engine_session *session; /* lazily opened by the loop thread */
    router_gen *gen;         /* the generation session was opened with */
    admin_live *live;        /* NULL until the first client of /api/v1/live */
    cJSON *queues_cache;     /* engine_task_queues, kept a few seconds (a scan) */
    int64_t queues_at_ms;
    struct admin_counts {    /* engine_workflow_counts by query string, kept 2 s */
        char key[512];
        cJSON *j;
        int64_t at_ms;
    } counts[8];
};

/* Replies (the loop thread). reply_json takes j. Every reply carries the
 * security headers (CSP, nosniff, no framing, no referrer, no caching). */
void admin__reply(struct evhttp_request *req, int code, const char *type, const char *body);
void admin__reply_len(struct evhttp_request *req, int code, const char *type, const char *body,
                      size_t len);
void admin__reply_json(struct evhttp_request *req, int code, cJSON *j);
void admin__security_headers(struct evhttp_request *req);

/* The loop thread's session (reopened after a failure), NULL with *err set
 * when Postgres is away; admin__session_close after a failed call. */
engine_session *admin__session(admin_server *a, sy_error *err);
void admin__session_close(admin_server *a);

/* The bearer token of the request matches the admin token (constant time). */
bool admin__is_admin(const admin_server *a, struct evhttp_request *req);
/* Reads are allowed: no read token configured, or the read or admin token. */
bool admin__may_read(const admin_server *a, struct evhttp_request *req);

/* ---- the JSON API (admin_api.c) -------------------------------------------- */

/* One API request being handled. */
typedef struct api_req {
    admin_server *a;
    struct evhttp_request *req;
    char *seg[8]; /* the path's segments after /api/v1/, percent-decoded (owned) */
    size_t nseg;
    struct evkeyvalq query; /* the query string's parameters */
    cJSON *body;            /* the POST body when there is one (owned), else NULL */
    bool post;
    bool done; /* a reply was sent */
} api_req;

/* Handles /api/v1/<path> (GET/POST): parses, authorises, dispatches. */
void admin__api(admin_server *a, struct evhttp_request *req, const char *path);

/* Sends {"error":{"code","field","message"}} with HTTP status http. */
void api_error(api_req *q, int http, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The HTTP status and error for a failed engine call (400 naming err->path,
 * 404, 409, 503, 500), logged when it is the server's fault. */
void api_fail(api_req *q, sy_status st, const sy_error *err);
void api_ok(api_req *q, cJSON *j); /* 200, takes j */

/* Query parameters. Each returns false after sending a 400 that names it. */
const char *api_param(api_req *q, const char *name); /* NULL when absent or empty */
bool api_param_int(api_req *q, const char *name, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out);
bool api_param_time(api_req *q, const char *name, int64_t *ms); /* RFC 3339; 0 when absent */
/* A name of [A-Za-z0-9._:/-]{1,max} (IDs, types, queues, codes); NULL when absent. */
bool api_param_name(api_req *q, const char *name, size_t max, const char **out);
bool api_valid_name(const char *s, size_t max);
/* Body members: refuses unknown members (400 naming it) against allowed
 * (NULL-terminated); a string member of at most max bytes (NULL: absent). */
bool api_body_only(api_req *q, const char *const *allowed);
bool api_body_str(api_req *q, const char *name, size_t max, bool required, const char **out);
/* Runs fn inside engine_begin/commit on the admin session; replies the
 * failure itself (returns false). */
bool api_tx(api_req *q, sy_status (*fn)(engine_session *s, void *arg, sy_error *err), void *arg);

/* The handlers (admin_workflows.c, admin_ops.c). Each replies. */
void api_workflows(api_req *q);
void api_tasks(api_req *q);
void api_schedules(api_req *q);
void api_dead_letters(api_req *q);
void api_joins(api_req *q);
void api_task_queues(api_req *q);
void api_events(api_req *q);

/* ---- live updates (admin_live.c) ------------------------------------------ */

/* GET /api/v1/live: a Server-Sent Events stream (the request stays open). */
void admin__live(admin_server *a, struct evhttp_request *req);
/* Called by the 100 ms tick: pending notifications are sent, the listener
 * reconnected. */
void admin__live_tick(admin_server *a);
void admin__live_free(admin_live *l);
/* Open streams, for tests and metrics. */
size_t admin__live_clients(const admin_server *a);

/* ---- the web UI's files (admin_ui.c) --------------------------------------- */

/* GET /ui/...: the embedded files (ui/); "/ui" redirects to "/ui/". */
void admin__ui(admin_server *a, struct evhttp_request *req, const char *path);

#endif
