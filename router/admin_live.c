/* admin_live.c: live updates for the web UI over Server-Sent Events
 * (GET /api/v1/live), fed by ONE Postgres listener per process.
 *
 * The engine NOTIFYs ENGINE_NOTIFY_CHANGES_CHANNEL in the statement of
 * every batch that changes runs or writes dead letters (engine.h), so a
 * notification arrives only after its transaction committed. The hub owns
 * one libpq connection that LISTENs on that channel; its socket is watched
 * by the admin thread's own event loop (no thread, no lock): when it is
 * readable the notifications are read, merged for a short window (at most
 * LIVE_COALESCE_MS, so that a burst of commits costs each browser one
 * message), and written to every open stream. Browsers never poll
 * Postgres: they re-read only what a message says changed, and the
 * recent-events ring is announced by its sequence number from the tick.
 *
 * Messages ("event:" names):
 *   hello   {"listening": bool}                          on connect
 *   changes {"runs":[{workflow_id, run_id, status, workflow_type,
 *            history_length}], "more": n, "dead_letters": n}
 *   events  {"last_seq": n}                              new recent events
 *   resync  {}                     the listener reconnected: re-read all
 * and a ": ping" comment every 15 s to keep proxies from closing the stream.
 * A client that does not read (more than 1 MiB waiting) is dropped. */
#include "admin_int.h"
#include "clock.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
    LIVE_COALESCE_MS = 100, /* at most 10 messages a second per stream */
    LIVE_MAX_RUNS = 50,     /* runs per message (a page's worth); the rest is counted in "more" */
    LIVE_MAX_CLIENTS = 1000,
    LIVE_PING_MS = 15000,
    LIVE_MAX_QUEUED = 1 << 20, /* bytes waiting for a client before it is dropped */
};

typedef struct live_client {
    struct evhttp_request *req;
    struct live_client *next;
    struct admin_live *hub;
} live_client;

struct admin_live {
    admin_server *a;
    engine_session *conn;   /* the listener, NULL while disconnected */
    router_gen *gen;        /* the generation conn was opened with */
    struct event *readable; /* on conn's socket */
    struct event *flush;    /* the end of a coalescing window */
    bool flush_armed;
    live_client *clients;
    size_t nclients;
    cJSON *runs; /* pending: merged from notifications */
    size_t more, dead_letters;
    bool pending;
    int64_t retry_at_ms; /* reconnect the listener from then on */
    int64_t ping_at_ms;
    uint64_t events_seq; /* the recent-events seq last announced */
    char schema[64], ns[128];
    uint64_t notifications; /* received, for tests and the bench */
};

static void send_all(admin_live *h, const char *event, const char *data);

/* ---- the listener ------------------------------------------------------------------- */

static void listener_close(admin_live *h)
{
    if (h->readable)
        event_free(h->readable);
    h->readable = NULL;
    engine_session_close(h->conn);
    h->conn = NULL;
    router__gen_release(h->gen);
    h->gen = NULL;
}

/* Folds one notification payload into the pending message. */
static void take_payload(void *arg, const char *channel, const char *payload)
{
    admin_live *h = arg;
    (void)channel;    /* the listener LISTENs on the changes channel only */
    if (!h->nclients) /* nobody to tell: read and forget */
        return;
    cJSON *j = cJSON_Parse(payload);
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "s"));
    const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "n"));
    /* another schema or namespace on the same database: not ours */
    if (!j || !s || !n || strcmp(s, h->schema) || strcmp(n, h->ns)) {
        cJSON_Delete(j);
        return;
    }
    h->notifications++;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "r"))
    {
        if (cJSON_GetArraySize(h->runs) >= LIVE_MAX_RUNS || cJSON_GetArraySize(r) != 5) {
            h->more++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        static const char *const keys[] = {"workflow_id", "run_id", "status", "workflow_type",
                                           "history_length"};
        for (int i = 0; i < 5; i++) {
            cJSON *v = cJSON_Duplicate(cJSON_GetArrayItem(r, i), 1);
            if (i == 4 && cJSON_IsNumber(v))
                cJSON_SetNumberValue(v, v->valuedouble - 1); /* next_seq - 1 */
            cJSON_AddItemToObject(o, keys[i], v);
        }
        cJSON_AddItemToArray(h->runs, o);
    }
    h->more += (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "m"));
    h->dead_letters += (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "d"));
    h->pending = true;
    cJSON_Delete(j);
}

static void flush_pending(admin_live *h)
{
    h->flush_armed = false;
    if (!h->pending)
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "runs", h->runs);
    cJSON_AddNumberToObject(j, "more", (double)h->more);
    cJSON_AddNumberToObject(j, "dead_letters", (double)h->dead_letters);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    h->runs = cJSON_CreateArray();
    h->more = h->dead_letters = 0;
    h->pending = false;
    if (s)
        send_all(h, "changes", s);
    free(s);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_pending(arg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admin_live *h = arg;
    sy_error err;
    sy_error_clear(&err);
    if (engine_read_notifications(h->conn, take_payload, h, &err) != SY_OK) {
        SY_LOG(h->a->log, SY_LOG_WARN, "live: the listener lost Postgres; reconnecting", "error",
               err.message);
        listener_close(h);
        h->retry_at_ms = sy_mono_ms() + 1000;
        return;
    }
    if (h->pending && !h->flush_armed) {
        struct timeval tv = {0, LIVE_COALESCE_MS * 1000};
        event_add(h->flush, &tv);
        h->flush_armed = true;
    }
}

static bool listener_open(admin_live *h)
{
    sy_error err;
    sy_error_clear(&err);
    h->gen = router__gen_acquire(h->a->r); /* the session needs its engine, not its rules */
    bool ok = engine_session_open(h->gen->eng, router_conninfo(h->a->r), false, &h->conn, &err) ==
                  SY_OK &&
              engine_listen_for(h->conn, ENGINE_NOTIFY_CHANGES, &err) == SY_OK;
    if (ok) {
        h->readable = event_new(h->a->base, engine_session_socket(h->conn), EV_READ | EV_PERSIST,
                                on_readable, h);
        ok = h->readable && event_add(h->readable, NULL) == 0;
    }
    if (!ok)
        listener_close(h);
    return ok;
}

/* ---- the streams ------------------------------------------------------------------------ */

/* Forgets c. closing: its connection is being freed by evhttp (the close
 * callback), so neither it nor the request may be touched; otherwise the
 * callback is removed first, and end finishes the reply. */
static void client_drop(admin_live *h, live_client *c, bool closing, bool end)
{
    for (live_client **p = &h->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    h->nclients--;
    if (!closing) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), NULL, NULL);
        if (end)
            evhttp_send_reply_end(c->req);
    }
    free(c);
}

static void on_client_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    live_client *c = arg;
    client_drop(c->hub, c, true, false);
}

static size_t queued(const live_client *c)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void send_one(live_client *c, const char *text, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, text, len);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

/* Formats one message once and writes it to every stream. */
static void send_all(admin_live *h, const char *event, const char *data)
{
    sy_buf m = SY_BUF_INIT;
    if (event)
        sy_buf_printf(&m, "event: %s\ndata: %s\n\n", event, data);
    else
        sy_buf_puts(&m, data);
    for (live_client *c = h->clients, *next; c; c = next) {
        next = c->next;
        if (queued(c) > LIVE_MAX_QUEUED) {
            SY_LOG(h->a->log, SY_LOG_WARN, "live: dropping a client that does not read");
            client_drop(h, c, false, true);
            continue;
        }
        send_one(c, m.data, m.len);
    }
    sy_buf_cleanup(&m);
}

static admin_live *hub_new(admin_server *a)
{
    admin_live *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->a = a;
    h->runs = cJSON_CreateArray();
    h->flush = event_new(a->base, -1, 0, on_flush, h);
    snprintf(h->schema, sizeof h->schema, "%s",
             a->cfg->pg_schema ? a->cfg->pg_schema : "switchyard");
    snprintf(h->ns, sizeof h->ns, "%s",
             a->cfg->engine_namespace ? a->cfg->engine_namespace : "default");
    if (!h->runs || !h->flush) {
        admin__live_free(h);
        return NULL;
    }
    h->ping_at_ms = sy_mono_ms() + LIVE_PING_MS;
    listener_open(h); /* a failure is retried by the tick */
    return h;
}

void admin__live(admin_server *a, struct evhttp_request *req)
{
    if (!admin__may_read(a, req)) {
        admin__reply(req, 401, "application/json",
                     "{\"error\":{\"code\":\"unauthorized\",\"field\":null,\"message\":\"reads "
                     "need the read token\"}}");
        return;
    }
    if (!a->live && !(a->live = hub_new(a))) {
        admin__reply(req, 503, "text/plain", "out of memory\n");
        return;
    }
    admin_live *h = a->live;
    live_client *c = h->nclients < LIVE_MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        admin__reply(req, 503, "text/plain", "too many live clients\n");
        return;
    }
    c->req = req;
    c->hub = h;
    c->next = h->clients;
    h->clients = c;
    h->nclients++;
    admin__security_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "text/event-stream");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Accel-Buffering", "no");
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    evhttp_connection_set_closecb(conn, on_client_close, c);
    /* small messages go out at once (no Nagle wait for the client's ACK) */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    int one = 1;
    if (bev)
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evhttp_send_reply_start(req, 200, "OK");
    char hello[96];
    snprintf(hello, sizeof hello, "retry: 2000\nevent: hello\ndata: {\"listening\":%s}\n\n",
             h->conn ? "true" : "false");
    send_one(c, hello, strlen(hello));
}

void admin__live_tick(admin_server *a)
{
    admin_live *h = a->live;
    if (!h)
        return;
    int64_t now = sy_mono_ms();
    if (!h->conn && now >= h->retry_at_ms) {
        if (listener_open(h))
            send_all(h, "resync", "{}"); /* what happened meanwhile was not heard */
        else
            h->retry_at_ms = now + 2000;
    }
    uint64_t last = 0;
    cJSON_Delete(router_recent_json(a->r->recent, UINT64_MAX, 0, &last));
    if (last != h->events_seq && h->nclients) {
        char d[48];
        snprintf(d, sizeof d, "{\"last_seq\":%llu}", (unsigned long long)last);
        send_all(h, "events", d);
    }
    h->events_seq = last;
    if (now >= h->ping_at_ms) {
        send_all(h, NULL, ": ping\n\n");
        h->ping_at_ms = now + LIVE_PING_MS;
    }
}

void admin__live_free(admin_live *h)
{
    if (!h)
        return;
    while (h->clients)
        client_drop(h, h->clients, false, false);
    listener_close(h);
    if (h->flush)
        event_free(h->flush);
    cJSON_Delete(h->runs);
    free(h);
}

size_t admin__live_clients(const admin_server *a)
{
    return a->live ? a->live->nclients : 0;
}
