/* router_helpers.h: shared by the router integration tests (router_*.c):
 * a rules file, an in-memory router config on the test's own stream,
 * publishing with PubAck, and counting rows in the engine's tables. Header
 * only (static functions) so that each test file stays one executable. */
#ifndef SY_TEST_ROUTER_HELPERS_H
#define SY_TEST_ROUTER_HELPERS_H

#include "config.h"
#include "fixture.h"
#include "router.h"
#include "test.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* order.created starts order-<n>; order.paid signals it (dead letter when
 * missing); kg.bad renders an invalid workflow ID. */
static const char rh_rules[] =
    "version: 1\n"
    "routes:\n"
    "  - name: start-order\n"
    "    match: { type: order.created }\n"
    "    start:\n"
    "      workflow: order\n"
    "      id: \"order-{{ payload.n }}\"\n"
    "      input: { n: \"{{ payload.n }}\" }\n"
    "  - name: pay-order\n"
    "    match: { type: order.paid }\n"
    "    signal:\n"
    "      id: \"order-{{ payload.n }}\"\n"
    "      name: paid\n"
    "      payload: \"{{ payload }}\"\n"
    "      if_missing: dead_letter\n"
    "  - name: bad-id\n"
    "    match: { type: kg.bad }\n"
    "    start:\n"
    "      workflow: order\n"
    "      id: \"bad id {{ payload.n }}\"\n"
    "workflows:\n"
    "  order:\n"
    "    task_queue: orders\n"
    "    steps:\n"
    "      - wait: paid\n"
    "        timeout: 1d\n"
    "      - task: ship\n";

static __attribute__((unused)) char *rh_write_file(const char *name, const char *text)
{
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/sy-rt-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

static __attribute__((unused)) void rh_set(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
}

/* A free TCP port on the loopback. */
static __attribute__((unused)) int rh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A one-shot HTTP/1.0 request with an optional body (content type
 * application/json unless ctype says otherwise) and bearer token; returns
 * the status (0: no connection) and the whole response (headers too) in
 * resp. */
static __attribute__((unused)) int rh_http_body(int port, const char *method, const char *path,
                                                const char *token, const char *ctype,
                                                const char *body, char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    resp[0] = '\0';
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    size_t blen = body ? strlen(body) : 0;
    char head[1024];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.0\r\n%s%s%s%s%s%sContent-Length: %zu\r\n\r\n",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? "Content-Type: " : "",
                     body ? (ctype ? ctype : "application/json") : "", body ? "\r\n" : "", blen);
    CHECK(write(fd, head, (size_t)n) == n);
    for (size_t off = 0; off < blen;) { /* the server may refuse a big body early */
        ssize_t w = write(fd, body + off, blen - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, resp + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
    int status = 0;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    return status;
}

/* The same without a body. */
static __attribute__((unused)) int rh_http(int port, const char *method, const char *path,
                                           const char *token, char *resp, size_t cap)
{
    return rh_http_body(port, method, path, token, NULL, NULL, resp, cap);
}

/* A config on stream RT_<name> (subjects rt.<name>.>), fast timings. */
static __attribute__((unused)) void rh_config(router_config *c, const char *name, const char *nats_url, const char *conninfo,
                      const char *rules_path)
{
    char buf[128];
    router_config_init(c);
    rh_set(&c->nats_urls.items[0], nats_url);
    rh_set(&c->pg_conninfo, conninfo);
    rh_set(&c->rules_path, rules_path);
    snprintf(buf, sizeof buf, "RT_%s", name);
    rh_set(&c->stream_name, buf);
    snprintf(buf, sizeof buf, "rt.%s.>", name);
    rh_set(&c->stream_subjects.items[0], buf);
    rh_set(&c->consumer_name, "router");
    c->stream_storage = ROUTER_STORAGE_MEMORY;
    c->pipelines = 2;
    c->batch_size = 64;
    c->fetch_wait_ms = 20;
    c->nak_delay_ms = 200;
    c->ack_wait_ms = 5000;
    c->max_deliver = -1;
    rh_set(&c->admin_listen, "127.0.0.1:0");
    free(c->outcomes_stream); /* SY is shared by other tests: leave it to them */
    c->outcomes_stream = NULL;
}

/* The engine's outcomes go to a stream of the test's own (prefix.>): a
 * test that reads them does not share SY with the others. */
static __attribute__((unused)) void rh_own_outcomes(router_config *c, const char *prefix,
                                                    const char *stream)
{
    char subj[128];
    snprintf(subj, sizeof subj, "%s.>", prefix);
    rh_set(&c->engine_subject_prefix, prefix);
    rh_set(&c->outcomes_subjects.items[0], subj);
    rh_set(&c->outcomes_stream, stream);
}

static __attribute__((unused)) void rh_event(char *out, size_t n, const char *id, const char *type, int num)
{
    snprintf(out, n,
             "{\"event_id\":\"%s\",\"type\":\"%s\",\"source\":\"test\","
             "\"occurred_at\":\"2026-01-02T03:04:05Z\",\"trace_id\":"
             "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"
             "\"payload\":{\"n\":%d}}",
             id, type, num);
}

typedef struct rh_nats {
    natsConnection *nc;
    jsCtx *js;
} rh_nats;

static __attribute__((unused)) void rh_nats_open(rh_nats *n, const char *url)
{
    CHECK_INT(natsConnection_ConnectTo(&n->nc, url), NATS_OK);
    CHECK_INT(natsConnection_JetStream(&n->js, n->nc, NULL), NATS_OK);
}

static __attribute__((unused)) void rh_nats_close(rh_nats *n)
{
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
}

/* Publishes and waits for the PubAck (a publish counts only then). */
static __attribute__((unused)) void rh_publish(rh_nats *n, const char *subject, const char *body)
{
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&pa, n->js, subject, body, (int)strlen(body), NULL, &jerr);
    CHECK_MSG(s == NATS_OK, "publish: %s (%d)", natsStatus_GetText(s), (int)jerr);
    jsPubAck_Destroy(pa);
}

/* The same with headers: hdrs is {name, value, name, value, ..., NULL}. */
static __attribute__((unused)) void rh_publish_headers(rh_nats *n, const char *subject,
                                                       const char *body, const char *const *hdrs)
{
    natsMsg *m = NULL;
    CHECK_INT(natsMsg_Create(&m, subject, NULL, body, (int)strlen(body)), NATS_OK);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        CHECK_INT(natsMsgHeader_Set(m, hdrs[i], hdrs[i + 1]), NATS_OK);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PublishMsg(&pa, n->js, m, NULL, &jerr);
    CHECK_MSG(s == NATS_OK, "publish: %s (%d)", natsStatus_GetText(s), (int)jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

/* One integer from a query on conninfo (no parameters); -1 when the query
 * fails and 'strict' is false. */
static __attribute__((unused)) long rh_query(const char *conninfo, const char *sql, bool strict)
{
    PGconn *c = PQconnectdb(conninfo);
    CHECK_MSG(!strict || PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    CHECK_MSG(!strict || ok, "%s: %s", sql, PQerrorMessage(c));
    long v = ok ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static __attribute__((unused)) long rh_count(const char *conninfo, const char *sql)
{
    return rh_query(conninfo, sql, true);
}

/* Polls until rh_count(sql) == want or timeout; returns the last value. */
static __attribute__((unused)) long rh_wait_count(const char *conninfo, const char *sql, long want, int timeout_ms)
{
    long v = -1;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        v = rh_query(conninfo, sql, false);
        if (v == want)
            return v;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return v;
}

/* `switchyard serve --config config` as a child that dies with the test. */
static __attribute__((unused)) pid_t rh_spawn_serve(const char *config)
{
    pid_t pid = fixture_fork();
    if (pid == 0) {
        execl(fixture_switchyard_bin(), "switchyard", "serve", "--config", config, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static __attribute__((unused)) void rh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A router on the test's own stream and fresh database, started and ready,
 * with a NATS connection for publishing (rt_start: the rh_rules set). */
typedef struct rt {
    char *conninfo, *rules;
    router_config cfg;
    sy_log log;
    int log_fd; /* where the router logs (0: stderr) */
    router *r;
    rh_nats n;
} rt;

/* The database, rules file and config of a router named name; change
 * t->cfg or t->log_fd, then rt_run. */
static __attribute__((unused)) void rt_prepare(rt *t, const char *name, const char *rules)
{
    t->conninfo = fixture_pg_fresh_db(name);
    t->rules = rh_write_file(name, rules);
    rh_config(&t->cfg, name, fixture_nats_url(), t->conninfo, t->rules);
}

/* Starts the prepared router and waits until it is ready. */
static __attribute__((unused)) void rt_run(rt *t)
{
    sy_log_init(&t->log, SY_LOG_WARN, t->log_fd ? t->log_fd : 2);
    sy_error err = {0};
    CHECK_MSG(router_new(&t->cfg, &t->log, &t->r, &err) == SY_OK, "router_new: %s", err.message);
    CHECK_MSG(router_start(t->r, &err) == SY_OK, "router_start: %s", err.message);
    char why[128] = "";
    for (int i = 0; i < 400 && !router_ready(t->r, why, sizeof why); i++)
        rh_sleep_ms(50);
    CHECK_MSG(router_ready(t->r, why, sizeof why), "not ready: %s", why);
    rh_nats_open(&t->n, fixture_nats_url());
}

static __attribute__((unused)) void rt_start_rules(rt *t, const char *name, const char *rules)
{
    rt_prepare(t, name, rules);
    rt_run(t);
}

static __attribute__((unused)) void rt_start(rt *t, const char *name)
{
    rt_start_rules(t, name, rh_rules);
}

/* Rewrites the router's rules file with text and reloads it. */
static __attribute__((unused)) void rt_reload_rules(rt *t, const char *text)
{
    FILE *f = fopen(t->rules, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    sy_error err = {0};
    CHECK_MSG(router_reload(t->r, &err) == SY_OK, "reload: %s", err.message);
}

static __attribute__((unused)) void rt_stop(rt *t)
{
    router_free(t->r);
    rh_nats_close(&t->n);
    router_config_cleanup(&t->cfg);
    unlink(t->rules);
    free(t->rules);
    free(t->conninfo);
}

#endif
