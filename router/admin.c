/* admin.c: admin HTTP on libevent (admin.h): the server, its thread, the
 * health and metrics endpoints, and the dispatch to the JSON API
 * (admin_api.c), the live stream (admin_live.c) and the web UI's files
 * (admin_ui.c).
 *
 * One thread runs an event_base with an evhttp server. A 100 ms timer polls
 * the stop flag so that no libevent threading setup (a process-wide global)
 * is needed to stop the loop from another thread; the same tick drives the
 * live hub. Bearer tokens are compared through fixed-size BLAKE2b digests
 * with sodium_memcmp, so neither their content nor their length leaks
 * through timing. */
#include "admin_int.h"
#include "clock.h"
#include "flow.h"

#include "buf.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <sodium.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SY_VERSION
#define SY_VERSION "dev"
#endif

/* Strict: the UI's pages load only their own scripts and styles (no
 * inline script or style anywhere), talk only to this origin, and may not
 * be framed. */
#define ADMIN_CSP                                                                                  \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"               \
    " connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none';"                   \
    " frame-ancestors 'none'"

void admin__security_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy", ADMIN_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
}

void admin__reply_len(struct evhttp_request *req, int code, const char *type, const char *body,
                      size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    admin__security_headers(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (!evhttp_find_header(h, "Cache-Control"))
        evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Content-Type", type);
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, code < 300 ? "OK" : code < 400 ? "Redirect" : "Error", b);
    evbuffer_free(b);
}

void admin__reply(struct evhttp_request *req, int code, const char *type, const char *body)
{
    admin__reply_len(req, code, type, body, strlen(body));
}

void admin__reply_json(struct evhttp_request *req, int code, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    admin__reply(req, code, "application/json", s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

static bool token_is(const unsigned char *digest, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    unsigned char d[crypto_generichash_BYTES];
    crypto_generichash(d, sizeof d, (const unsigned char *)h + 7, strlen(h + 7), NULL, 0);
    return sodium_memcmp(d, digest, sizeof d) == 0;
}

bool admin__is_admin(const admin_server *a, struct evhttp_request *req)
{
    return a->has_token && token_is(a->token_digest, req);
}

bool admin__may_read(const admin_server *a, struct evhttp_request *req)
{
    return !a->has_read_token || token_is(a->read_digest, req) || admin__is_admin(a, req);
}

static void refresh_backlog(admin_server *a);
static void append_queues(admin_server *a, sy_buf *b);

static void on_metrics(admin_server *a, struct evhttp_request *req)
{
    refresh_backlog(a);
    char hash[80];
    router_rules_hash(a->r, hash, sizeof hash);
    sy_buf b = SY_BUF_INIT;
    router_metrics_render(router_get_metrics(a->r), SY_VERSION, hash, &b);
    append_queues(a, &b);
    admin__reply(req, 200, "text/plain; version=0.0.4", sy_buf_str(&b));
    sy_buf_cleanup(&b);
}

static void add_counter(cJSON *o, const char *k, _Atomic uint64_t *v)
{
    cJSON_AddNumberToObject(o, k, (double)atomic_load(v));
}

static void on_status(admin_server *a, struct evhttp_request *req)
{
    if (!admin__may_read(a, req)) {
        admin__reply(req, 401, "text/plain", "unauthorized\n");
        return;
    }
    char why[128], hash[80];
    bool ready = router_ready(a->r, why, sizeof why);
    router_rules_hash(a->r, hash, sizeof hash);
    router_metrics *m = router_get_metrics(a->r);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "version", SY_VERSION);
    cJSON_AddBoolToObject(j, "ready", ready);
    cJSON_AddStringToObject(j, "reason", why);
    cJSON_AddStringToObject(j, "rules_hash", hash);
    cJSON *c = cJSON_AddObjectToObject(j, "counters");
    add_counter(c, "received", &m->received);
    add_counter(c, "routed", &m->routed);
    add_counter(c, "duplicates", &m->duplicates);
    add_counter(c, "unmatched", &m->unmatched);
    add_counter(c, "acked", &m->acked);
    add_counter(c, "naked", &m->naked);
    add_counter(c, "termed", &m->termed);
    add_counter(c, "started", &m->started);
    add_counter(c, "signaled", &m->signaled);
    add_counter(c, "batches", &m->batches);
    admin__reply_json(req, 200, j);
}

static void on_reload(admin_server *a, struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        admin__reply(req, 405, "text/plain", "use POST\n");
        return;
    }
    if (!admin__is_admin(a, req)) {
        SY_LOG(a->log, SY_LOG_WARN, "admin: unauthorized request", "path", "/api/v1/rules/reload");
        admin__reply(req, a->has_token ? 401 : 403, "text/plain",
                     a->has_token ? "unauthorized\n" : "no admin token configured\n");
        return;
    }
    sy_error err = {0};
    cJSON *j = cJSON_CreateObject();
    bool ok = router_reload(a->r, &err) == SY_OK;
    cJSON_AddBoolToObject(j, "ok", ok);
    if (!ok)
        cJSON_AddStringToObject(j, "error", err.message);
    char hash[80];
    router_rules_hash(a->r, hash, sizeof hash);
    cJSON_AddStringToObject(j, "rules_hash", hash);
    admin__reply_json(req, ok ? 200 : 422, j);
}

/* The loop thread's session (reopened after a failure, and after a rules
 * reload so that the API's calls see the definitions new starts use). */
engine_session *admin__session(admin_server *a, sy_error *err)
{
    router_gen *g = router__gen_acquire(a->r);
    if (a->session && g == a->gen) {
        router__gen_release(g);
        return a->session;
    }
    if (a->session)
        admin__session_close(a);
    if (engine_session_open(g->eng, router_conninfo(a->r), false, &a->session, err) != SY_OK) {
        router__gen_release(g);
        a->session = NULL;
        return NULL;
    }
    a->gen = g;
    return a->session;
}

void admin__session_close(admin_server *a)
{
    engine_session_close(a->session);
    a->session = NULL;
    router__gen_release(a->gen);
    a->gen = NULL;
}

/* The outbox gauges, read from Postgres on each scrape (one cheap query):
 * unknown (absent from /metrics) while Postgres is away. */
static void refresh_backlog(admin_server *a)
{
    router_metrics *m = router_get_metrics(a->r);
    sy_error err = {0};
    uint64_t rows = 0;
    int64_t age = 0;
    engine_session *s = admin__session(a, &err);
    if (s && engine_outbox_backlog(s, sy_clock_now_ms(NULL), &rows, &age, &err) != SY_OK) {
        admin__session_close(a); /* reopened next time */
        s = NULL;
    }
    atomic_store(&m->outbox_backlog, s ? (int64_t)rows : -1);
    atomic_store(&m->outbox_oldest_age_ms, s ? age : -1);
    int64_t held[RULES_FLOW_KINDS];
    if (s && engine_flow_held(s, held, &err) != SY_OK) {
        admin__session_close(a);
        s = NULL;
    }
    for (int k = 0; k < RULES_FLOW_KINDS; k++)
        atomic_store(&m->flow_held[k], s ? held[k] : -1);
    int64_t waiting = -1;
    if (s && engine_conc_waiting(s, &waiting, &err) != SY_OK) {
        admin__session_close(a);
        s = NULL;
        waiting = -1;
    }
    atomic_store(&m->conc_waiting, waiting);
}

/* The task queue gauges, one query per scrape (a bounded label set: the
 * first 256 queues by name); absent while Postgres is away. */
enum { ADMIN_QUEUES_MAX = 256 };
static void append_queues(admin_server *a, sy_buf *b)
{
    engine_queue_backlog *q = calloc(ADMIN_QUEUES_MAX, sizeof *q);
    sy_error err = {0};
    size_t n = 0;
    engine_session *s = q ? admin__session(a, &err) : NULL;
    if (s && engine_task_queue_backlog(s, sy_clock_now_ms(NULL), q, ADMIN_QUEUES_MAX, &n, &err) !=
                 SY_OK) {
        admin__session_close(a); /* reopened next time */
        s = NULL;
    }
    if (s)
        router_metrics_render_queues(q, n, b);
    free(q);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    admin_server *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    char path[1024];
    size_t plen = strcspn(uri, "?");
    if (plen >= sizeof path) {
        admin__reply(req, 414, "text/plain", "URI too long\n");
        return;
    }
    snprintf(path, sizeof path, "%.*s", (int)plen, uri);
    char why[128];
    if (strcmp(path, "/livez") == 0)
        admin__reply(req, 200, "text/plain", "ok\n");
    else if (strcmp(path, "/readyz") == 0) {
        bool ready = router_ready(a->r, why, sizeof why);
        strcat(why, "\n");
        admin__reply(req, ready ? 200 : 503, "text/plain", why);
    } else if (strcmp(path, "/metrics") == 0)
        on_metrics(a, req);
    else if (strcmp(path, "/api/v1/status") == 0)
        on_status(a, req);
    else if (strcmp(path, "/api/v1/rules/reload") == 0)
        on_reload(a, req);
    else if (a->cfg->ui_enabled && strcmp(path, "/api/v1/live") == 0)
        admin__live(a, req);
    else if (a->cfg->ui_enabled && strncmp(path, "/api/v1/", 8) == 0)
        admin__api(a, req, path + 8);
    else if (a->cfg->ui_enabled && (strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0))
        admin__ui(a, req, path);
    else if (a->cfg->ui_enabled && strcmp(path, "/") == 0)
        admin__ui(a, req, "/ui");
    else
        admin__reply(req, 404, "text/plain", "not found\n");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admin_server *a = arg;
    if (atomic_load(&a->stop))
        event_base_loopbreak(a->base);
    else
        admin__live_tick(a);
}

static void *admin_main(void *arg)
{
    admin_server *a = arg;
    event_base_dispatch(a->base);
    return NULL;
}

static sy_status load_token(const char *token_file, unsigned char *digest, bool *has, sy_error *err)
{
    if (!token_file)
        return SY_OK;
    char *tok = NULL;
    sy_status st = router_config_read_secret(token_file, &tok, err);
    if (st != SY_OK)
        return st;
    if (sodium_init() < 0) {
        free(tok);
        return sy_error_set(err, SY_INTERNAL, NULL, NULL, "libsodium failed to initialise");
    }
    crypto_generichash(digest, crypto_generichash_BYTES, (const unsigned char *)tok, strlen(tok),
                       NULL, 0);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    *has = true;
    return SY_OK;
}

static sy_status bind_listen(admin_server *a, const char *listen, sy_error *err)
{
    const char *colon = strrchr(listen, ':');
    char host[128];
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return sy_error_set(err, SY_CONFIG, "bad_config", "admin.listen",
                            "admin.listen: \"%s\" is not host:port", listen);
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    int port = atoi(colon + 1);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(a->http, host, (uint16_t)port);
    if (!bs)
        return sy_error_set(err, SY_IO, "bind", "admin.listen", "could not listen on %s", listen);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) == 0)
        a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return SY_OK;
}

sy_status admin_start(const char *listen, const char *token_file, router *r, const sy_log *log,
                      admin_server **out, sy_error *err)
{
    *out = NULL;
    admin_server *a = calloc(1, sizeof *a);
    if (!a)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    a->r = r;
    a->cfg = r->cfg;
    a->log = log;
    atomic_init(&a->stop, false);
    sy_status st = load_token(token_file, a->token_digest, &a->has_token, err);
    if (st == SY_OK)
        st = load_token(a->cfg->ui_read_token_file, a->read_digest, &a->has_read_token, err);
    if (st == SY_OK && (!(a->base = event_base_new()) || !(a->http = evhttp_new(a->base))))
        st = sy_error_set(err, SY_NOMEM, NULL, NULL, "could not create the HTTP server");
    if (st == SY_OK)
        st = bind_listen(a, listen, err);
    if (st == SY_OK) {
        evhttp_set_gencb(a->http, on_request, a);
        /* bigger bodies are refused with 413 before a handler sees them */
        evhttp_set_max_body_size(a->http, (ev_ssize_t)a->cfg->ui_max_body);
        evhttp_set_max_headers_size(a->http, 16384);
        evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
        struct timeval tv = {0, 100000};
        a->tick = event_new(a->base, -1, EV_PERSIST, on_tick, a);
        if (!a->tick || event_add(a->tick, &tv) != 0)
            st = sy_error_set(err, SY_NOMEM, NULL, NULL, "could not add the stop timer");
    }
    if (st == SY_OK && pthread_create(&a->thread, NULL, admin_main, a) != 0)
        st = sy_error_set(err, SY_NOMEM, NULL, NULL, "could not start the admin thread");
    if (st != SY_OK) {
        admin_stop(a);
        return st;
    }
    a->running = true;
    SY_LOG(log, SY_LOG_INFO, "admin listening", "listen", listen);
    *out = a;
    return SY_OK;
}

int admin_port(const admin_server *a)
{
    return a->port;
}

double admin_cpu_seconds(const admin_server *a)
{
    clockid_t cid;
    struct timespec ts;
    if (!a->running || pthread_getcpuclockid(a->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void admin_stop(admin_server *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, true);
    if (a->running)
        pthread_join(a->thread, NULL);
    admin__live_free(a->live); /* the loop thread, its owner, has ended */
    a->live = NULL;
    cJSON_Delete(a->queues_cache);
    for (size_t i = 0; i < sizeof a->counts / sizeof a->counts[0]; i++)
        cJSON_Delete(a->counts[i].j);
    admin__session_close(a);
    if (a->tick)
        event_free(a->tick);
    if (a->http)
        evhttp_free(a->http);
    if (a->base)
        event_base_free(a->base);
    sodium_memzero(a->token_digest, sizeof a->token_digest);
    sodium_memzero(a->read_digest, sizeof a->read_digest);
    free(a);
}
