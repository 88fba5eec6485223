/* admin.c: admin HTTP on libevent (admin.h).
 *
 * One thread runs an event_base with an evhttp server. A 100 ms timer polls
 * the stop flag so that no libevent threading setup (a process-wide global)
 * is needed to stop the loop from another thread. The bearer token is
 * compared through fixed-size BLAKE2b digests with sodium_memcmp, so neither
 * its content nor its length leaks through timing. */
#include "admin.h"
#include "clock.h"

#include "buf.h"
#include "dlq.h"
#include "router_int.h"

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

#ifndef SY_VERSION
#define SY_VERSION "dev"
#endif

struct admin_server {
    router *r;
    const sy_log *log;
    struct event_base *base;
    struct evhttp *http;
    struct event *tick;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int port;
    bool has_token;
    unsigned char token_digest[crypto_generichash_BYTES];
    engine_session *session; /* lazily opened by the loop thread, for reads */
    router_gen *gen;         /* the generation session was opened with */
};

static void reply(struct evhttp_request *req, int code, const char *type, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void reply_json(struct evhttp_request *req, int code, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    reply(req, code, "application/json", s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

/* Whether the request carries the right bearer token (constant time). */
static bool authorized(const admin_server *a, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!a->has_token || !h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    unsigned char d[crypto_generichash_BYTES];
    crypto_generichash(d, sizeof d, (const unsigned char *)h + 7, strlen(h + 7), NULL, 0);
    return sodium_memcmp(d, a->token_digest, sizeof d) == 0;
}

static void refresh_backlog(admin_server *a);

static void on_metrics(admin_server *a, struct evhttp_request *req)
{
    refresh_backlog(a);
    char hash[80];
    router_rules_hash(a->r, hash, sizeof hash);
    sy_buf b = SY_BUF_INIT;
    router_metrics_render(router_get_metrics(a->r), SY_VERSION, hash, &b);
    reply(req, 200, "text/plain; version=0.0.4", sy_buf_str(&b));
    sy_buf_cleanup(&b);
}

static void add_counter(cJSON *o, const char *k, _Atomic uint64_t *v)
{
    cJSON_AddNumberToObject(o, k, (double)atomic_load(v));
}

static void on_status(admin_server *a, struct evhttp_request *req)
{
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
    reply_json(req, 200, j);
}

static void on_reload(admin_server *a, struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply(req, 405, "text/plain", "use POST\n");
        return;
    }
    if (!authorized(a, req)) {
        SY_LOG(a->log, SY_LOG_WARN, "admin: unauthorized request", "path", "/api/v1/rules/reload");
        reply(req, a->has_token ? 401 : 403, "text/plain",
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
    reply_json(req, ok ? 200 : 422, j);
}

/* The loop thread's read-only session (reopened after a failure). */
static engine_session *admin_session(admin_server *a, sy_error *err)
{
    if (a->session)
        return a->session;
    router_gen *g = router__gen_acquire(a->r);
    if (engine_session_open(g->eng, router_conninfo(a->r), false, &a->session, err) != SY_OK) {
        router__gen_release(g);
        a->session = NULL;
        return NULL;
    }
    a->gen = g;
    return a->session;
}

static void admin_session_close(admin_server *a)
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
    engine_session *s = admin_session(a, &err);
    if (s && engine_outbox_backlog(s, sy_clock_now_ms(NULL), &rows, &age, &err) != SY_OK) {
        admin_session_close(a); /* reopened next time */
        s = NULL;
    }
    atomic_store(&m->outbox_backlog, s ? (int64_t)rows : -1);
    atomic_store(&m->outbox_oldest_age_ms, s ? age : -1);
}

/* GET /api/v1/dead-letters[?code=C&after_id=N&limit=N]: JSON lines;
 * GET /api/v1/dead-letters/<id>: one, with headers and body. */
static void on_dead_letters(admin_server *a, struct evhttp_request *req, const char *rest)
{
    sy_error err = {0};
    engine_session *s = admin_session(a, &err);
    if (!s) {
        reply(req, 503, "text/plain", "Postgres unavailable\n");
        return;
    }
    sy_buf b = SY_BUF_INIT;
    sy_status st;
    if (*rest == '/') {
        engine_dead_letter_row row = {0};
        st = engine_dead_letter_get(s, strtoll(rest + 1, NULL, 10), &row, &err);
        if (st == SY_OK)
            router_dlq_row_json(&row, true, &b);
        engine_dead_letter_row_cleanup(&row);
    } else {
        struct evkeyvalq q;
        evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))
                                   ? evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req))
                                   : "",
                               &q);
        const char *after = evhttp_find_header(&q, "after_id"), *lim = evhttp_find_header(&q, "limit");
        engine_dlq_filter f = {.code = evhttp_find_header(&q, "code"),
                               .after_id = after ? strtoll(after, NULL, 10) : 0,
                               .limit = lim ? (size_t)strtoul(lim, NULL, 10) : 100};
        engine_dead_letter_list l = {0};
        st = engine_dead_letters_list(s, &f, &l, &err);
        for (size_t i = 0; st == SY_OK && i < l.len; i++)
            router_dlq_row_json(&l.items[i], false, &b);
        engine_dead_letter_list_cleanup(&l);
        evhttp_clear_headers(&q);
    }
    if (st == SY_OK)
        reply(req, 200, "application/x-ndjson", sy_buf_str(&b));
    else if (st == SY_NOT_FOUND)
        reply(req, 404, "text/plain", "no such dead letter\n");
    else {
        admin_session_close(a); /* reconnect on the next request */
        reply(req, sy_status_retryable(st) ? 503 : 500, "text/plain", "database error\n");
    }
    sy_buf_cleanup(&b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    admin_server *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    char path[128];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(uri, "?"), uri);
    char why[128];
    if (strcmp(path, "/livez") == 0)
        reply(req, 200, "text/plain", "ok\n");
    else if (strcmp(path, "/readyz") == 0) {
        bool ready = router_ready(a->r, why, sizeof why);
        strcat(why, "\n");
        reply(req, ready ? 200 : 503, "text/plain", why);
    } else if (strcmp(path, "/metrics") == 0)
        on_metrics(a, req);
    else if (strcmp(path, "/api/v1/status") == 0)
        on_status(a, req);
    else if (strcmp(path, "/api/v1/rules/reload") == 0)
        on_reload(a, req);
    else if (strncmp(path, "/api/v1/dead-letters", 20) == 0 &&
             (path[20] == '\0' || path[20] == '/'))
        on_dead_letters(a, req, path + 20);
    else
        reply(req, 404, "text/plain", "not found\n");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admin_server *a = arg;
    if (atomic_load(&a->stop))
        event_base_loopbreak(a->base);
}

static void *admin_main(void *arg)
{
    admin_server *a = arg;
    event_base_dispatch(a->base);
    return NULL;
}

static sy_status load_token(admin_server *a, const char *token_file, sy_error *err)
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
    crypto_generichash(a->token_digest, sizeof a->token_digest, (const unsigned char *)tok,
                       strlen(tok), NULL, 0);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    a->has_token = true;
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
    a->log = log;
    atomic_init(&a->stop, false);
    sy_status st = load_token(a, token_file, err);
    if (st == SY_OK && (!(a->base = event_base_new()) || !(a->http = evhttp_new(a->base))))
        st = sy_error_set(err, SY_NOMEM, NULL, NULL, "could not create the HTTP server");
    if (st == SY_OK)
        st = bind_listen(a, listen, err);
    if (st == SY_OK) {
        evhttp_set_gencb(a->http, on_request, a);
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

void admin_stop(admin_server *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, true);
    if (a->running)
        pthread_join(a->thread, NULL);
    admin_session_close(a); /* the loop thread, its owner, has ended */
    if (a->tick)
        event_free(a->tick);
    if (a->http)
        evhttp_free(a->http);
    if (a->base)
        event_base_free(a->base);
    sodium_memzero(a->token_digest, sizeof a->token_digest);
    free(a);
}
