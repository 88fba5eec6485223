/* bench_ui.c: `switchyard bench ui [--runs N] [--requests R] [--clients C]
 * [--events E] [--nats URL --db CONNINFO]`.
 *
 * The web UI's server side, as `serve` runs it: the router, its loops and
 * the admin HTTP server in this process, on a database holding N runs
 * (default 1 000 000, written in bulk by engine_runs_create_many).
 *   1. The API's list page over HTTP: the first page, a keyset walk deep
 *      into the runs, a type filter, status=running (1 run in 100), the
 *      query box, the bounded counts: p50 and p99 of R requests each.
 *   2. Live latency: a start committed by another session, until its
 *      "changes" message arrives on an SSE stream (the NOTIFY in the
 *      batch's statement, the one listener, the fan-out): p50 / p99.
 *   3. The CPU that C open SSE clients add to ingest: E events routed
 *      without clients, then E more with C clients reading the stream (in
 *      a child process, so that their own reading is not counted); this
 *      process's CPU per event both ways.
 * Self-contained (devstack, durable) unless --nats and --db are given. */
#include "bench.h"
#include "admin.h"
#include "cliopt.h"
#include "clock.h"
#include "config.h"
#include "devstack.h"
#include "engine.h"
#include "loops.h"
#include "router.h"

#include <nats/nats.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct ui_args {
    long runs, requests, clients, events;
    const char *nats, *db;
} ui_args;

#define UI_DEFAULTS                                                                                \
    {                                                                                              \
        .runs = 1000000, .requests = 200, .clients = 100, .events = 20000                          \
    }

static const cliopt_opt UI_OPTS[] = {
    {.name = "--runs",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(ui_args, runs),
     .min = 1000,
     .max = 100000000,
     .arg = "N",
     .help = "runs in the database (default 1000000)"},
    {.name = "--requests",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(ui_args, requests),
     .min = 10,
     .max = 100000,
     .arg = "R",
     .help = "requests per list query (default 200)"},
    {.name = "--clients",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(ui_args, clients),
     .min = 1,
     .max = 1000,
     .arg = "C",
     .help = "open SSE clients during ingest (default 100)"},
    {.name = "--events",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(ui_args, events),
     .min = 1000,
     .max = 10000000,
     .arg = "E",
     .help = "events ingested per CPU phase (default 20000)"},
    {.name = "--nats",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(ui_args, nats),
     .arg = "URL",
     .help = "with --db: these servers, not throwaway ones"},
    {.name = "--db",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(ui_args, db),
     .arg = "CONNINFO",
     .help = "with --nats"},
};

static const cliopt_cmd UI_CMD = {
    .name = "bench ui",
    .synopsis = "switchyard bench ui [--runs N] [--requests R] [--clients C] [--events E] "
                "[--nats URL --db CONNINFO]",
    CLIOPT_TABLE(UI_OPTS),
};

static sy_status parse_args(int argc, char **argv, ui_args *out, bool *help, sy_error *err)
{
    ui_args a = *out;
    sy_status st = cliopt_parse(&UI_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if ((st = bench_servers_given_together(a.nats, a.db, err)) != SY_OK)
        return st;
    *out = a;
    return SY_OK;
}

sy_status bench_ui_parse(int argc, char **argv, bool *help, sy_error *err)
{
    ui_args a = UI_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

static const char ui_rules[] = "version: 1\n"
                               "routes:\n"
                               "  - name: bench\n"
                               "    match: { type: bench.ui }\n"
                               "    start: { workflow: one-task, id: \"ui-{{ event_id }}\" }\n"
                               "workflows:\n"
                               "  one-task:\n"
                               "    task_queue: bench\n"
                               "    steps:\n"
                               "      - task: work\n";

/* The definition engine_start uses for the live-latency starts. */
static const char LIVE_DEFS[] =
    "{\"bench-live\":{\"type\":\"bench-live\",\"task_queue\":\"bench\",\"steps\":[{\"kind\":"
    "\"wait\",\"name\":\"never\",\"signal\":\"never\",\"timeout_ms\":0,\"on_timeout\":\"fail\"}]}}";

/* ---- HTTP ------------------------------------------------------------------------------ */

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* GET path; the body into *body (owned, may be NULL). Returns the status. */
static int http_get(int port, const char *path, char **body)
{
    *body = NULL;
    int fd = connect_port(port);
    if (fd < 0)
        return 0;
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    close(fd);
    if (!buf)
        return 0;
    buf[len] = 0;
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    *body = b ? strdup(b + 4) : NULL;
    free(buf);
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return n ? v[i] : 0;
}

typedef struct lat {
    const char *name;
    double p50, p99;
    int failures;
} lat;

/* requests GETs of path (page_walk: follow next_page_token instead). */
static lat measure_list(int port, const char *name, const char *path, long requests, bool page_walk)
{
    lat l = {.name = name};
    double *ms = calloc((size_t)requests, sizeof *ms);
    char token[128] = "", url[512];
    for (long i = 0; i < requests; i++) {
        if (page_walk && *token)
            snprintf(url, sizeof url, "%s&page_token=%s", path, token);
        else
            snprintf(url, sizeof url, "%s", path);
        int64_t t0 = sy_mono_ns();
        char *body = NULL;
        int st = http_get(port, url, &body);
        ms[i] = (double)(sy_mono_ns() - t0) / 1e6;
        l.failures += st != 200;
        cJSON *j = page_walk && body ? cJSON_Parse(body) : NULL;
        const char *next =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "next_page_token"));
        snprintf(token, sizeof token, "%s", next ? next : "");
        cJSON_Delete(j);
        free(body);
    }
    l.p50 = pct(ms, (size_t)requests, 0.50);
    l.p99 = pct(ms, (size_t)requests, 0.99);
    free(ms);
    return l;
}

/* ---- SSE ------------------------------------------------------------------------------- */

static int sse_open(int port)
{
    int fd = connect_port(port);
    const char *req = "GET /api/v1/live HTTP/1.1\r\nHost: bench\r\n\r\n";
    if (fd >= 0 && write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Reads fd until want appears (kept across calls in buf); false on timeout. */
static bool sse_wait(int fd, sy_buf *buf, const char *want, int timeout_ms)
{
    int64_t end = sy_mono_ms() + timeout_ms;
    while (!strstr(sy_buf_str(buf), want)) {
        int left = (int)(end - sy_mono_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        char chunk[8192];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r <= 0)
            return false;
        sy_buf_append(buf, chunk, (size_t)r);
    }
    return true;
}

/* n starts committed one by one; each until its message on the stream. */
static lat measure_live(engine_session *s, int port, int n, sy_error *err)
{
    lat l = {.name = "sse_after_commit"};
    int fd = sse_open(port);
    sy_buf buf = SY_BUF_INIT;
    if (fd < 0 || !sse_wait(fd, &buf, "event: hello", 5000)) {
        sy_error_set(err, SY_IO, NULL, NULL, "no live stream");
        l.failures = n;
        return l;
    }
    double *ms = calloc((size_t)n, sizeof *ms);
    char tag[32];
    snprintf(tag, sizeof tag, "live-%lld", (long long)sy_clock_now_ms(NULL));
    for (int i = 0; i < n; i++) {
        char wid[96], want[128];
        snprintf(wid, sizeof wid, "%s-%d", tag, i);
        snprintf(want, sizeof want, "\"workflow_id\":\"%s\"", wid);
        engine_start_req req = {.workflow_type = "bench-live", .workflow_id = wid};
        sy_status st = engine_begin(s, err);
        if (st == SY_OK)
            st = engine_start(s, &req, NULL, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        else
            engine_rollback(s);
        int64_t t0 = sy_mono_ns();
        if (st != SY_OK || !sse_wait(fd, &buf, want, 5000)) {
            l.failures++;
            ms[i] = 5000;
        } else {
            ms[i] = (double)(sy_mono_ns() - t0) / 1e6;
        }
        sy_buf_reset(&buf);
        struct timespec ts = {0, 20000000L}; /* commits apart: one message each */
        nanosleep(&ts, NULL);
    }
    l.p50 = pct(ms, (size_t)n, 0.50);
    l.p99 = pct(ms, (size_t)n, 0.99);
    free(ms);
    sy_buf_cleanup(&buf);
    close(fd);
    return l;
}

/* A child holding n SSE streams open and reading them until killed. */
static pid_t sse_clients(int port, int n)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = sse_open(port), .events = POLLIN};
    char chunk[16384];
    for (;;) {
        if (poll(p, (nfds_t)n, 1000) < 0)
            _exit(1);
        for (int i = 0; i < n; i++)
            if (p[i].revents & POLLIN && read(p[i].fd, chunk, sizeof chunk) <= 0)
                p[i].fd = -1;
    }
}

/* ---- ingest with and without clients -------------------------------------------------- */

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct ingest_phase {
    double seconds, cpu_s, admin_cpu_s, events_per_s;
} ingest_phase;

static sy_status ingest(jsCtx *js, router *r, admin_server *adm, const char *tag, long events,
                        ingest_phase *out, sy_error *err)
{
    router_metrics *m = router_get_metrics(r);
    uint64_t base = atomic_load(&m->routed);
    double c0 = cpu_s(), a0 = admin_cpu_seconds(adm);
    int64_t t0 = sy_mono_ns();
    char body[384];
    for (long i = 0; i < events; i++) {
        int n = snprintf(body, sizeof body,
                         "{\"event_id\":\"%s-%ld\",\"type\":\"bench.ui\",\"source\":\"bench\","
                         "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"trace_id\":"
                         "\"0af7651916cd43dd8448eb211c80319c\",\"schema_version\":1,"
                         "\"payload\":{}}",
                         tag, i);
        natsStatus s = js_PublishAsync(js, "bench.ui.e", body, n, NULL);
        if (s != NATS_OK)
            return sy_error_set(err, SY_NATS, "nats", NULL, "publish: %s", natsStatus_GetText(s));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "PubAcks missing");
    int64_t end = sy_mono_ms() + 120000;
    while (atomic_load(&m->routed) < base + (uint64_t)events) {
        if (sy_mono_ms() > end)
            return sy_error_set(err, SY_TIMEOUT, NULL, NULL, "not every event was routed");
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    out->seconds = (double)(sy_mono_ns() - t0) / 1e9;
    out->cpu_s = cpu_s() - c0;
    out->admin_cpu_s = admin_cpu_seconds(adm) - a0;
    out->events_per_s = (double)events / out->seconds;
    return SY_OK;
}

/* ---- setup ------------------------------------------------------------------------------- */

static void set_str(char **f, const char *v)
{
    free(*f);
    *f = strdup(v);
}

static void ui_config(router_config *c, const char *nats, const char *db, const char *rules)
{
    router_config_init(c);
    set_str(&c->nats_urls.items[0], nats);
    set_str(&c->pg_conninfo, db);
    set_str(&c->rules_path, rules);
    set_str(&c->stream_name, "BENCH_UI");
    set_str(&c->stream_subjects.items[0], "bench.ui.>");
    set_str(&c->consumer_name, "bench-ui");
    set_str(&c->admin_listen, "127.0.0.1:0");
    c->batch_size = 512;
    c->max_ack_pending = 4096;
    c->fetch_wait_ms = 5;
    c->reports = false;
}

static sy_status fill(engine_session *s, long runs, sy_error *err)
{
    int64_t now = sy_clock_now_ms(NULL), step = 2000; /* 1M runs over 23 days */
    int64_t first = now - (int64_t)runs * step - 60000;
    for (long done = 0; done < runs;) {
        long n = runs - done > 100000 ? 100000 : runs - done;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "bench-%ld-", done / 100000);
        sy_status st = engine_begin(s, err);
        if (st == SY_OK)
            st = engine_runs_create_many(s, prefix, (size_t)n, "bench-list", first + done * step,
                                         step, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        else
            engine_rollback(s);
        if (st != SY_OK)
            return st;
        done += n;
        fprintf(stderr, "\rbench ui: %ld runs written", done);
    }
    fputc('\n', stderr);
    return SY_OK;
}

enum { ROUNDS = 3 }; /* ingest without and with clients, interleaved */

typedef struct ui_result {
    lat list[8];
    size_t nlist;
    lat live;
    ingest_phase bare, with; /* medians of ROUNDS (CPU summed for the admin thread) */
    double fill_s;
} ui_result;

static int cmp_phase(const void *a, const void *b)
{
    const ingest_phase *x = a, *y = b;
    return x->cpu_s < y->cpu_s ? -1 : x->cpu_s > y->cpu_s;
}

/* The median round by CPU; the admin thread's CPU as the mean of all. */
static ingest_phase median(ingest_phase *p, size_t n)
{
    double admin = 0;
    for (size_t i = 0; i < n; i++)
        admin += p[i].admin_cpu_s;
    qsort(p, n, sizeof *p, cmp_phase);
    ingest_phase m = p[n / 2];
    m.admin_cpu_s = admin / (double)n;
    return m;
}

static void report(const ui_args *a, const ui_result *res)
{
    printf("bench ui: %ld runs in the database (written in %.1f s)\n", a->runs, res->fill_s);
    for (size_t i = 0; i < res->nlist; i++)
        printf("  %-22s p50 %6.1f ms  p99 %6.1f ms  (%ld requests, %d failed)\n", res->list[i].name,
               res->list[i].p50, res->list[i].p99, a->requests, res->list[i].failures);
    printf("  %-22s p50 %6.1f ms  p99 %6.1f ms  (50 commits, %d missed)\n", res->live.name,
           res->live.p50, res->live.p99, res->live.failures);
    double per_bare = res->bare.cpu_s / (double)a->events * 1e6;
    double per_with = res->with.cpu_s / (double)a->events * 1e6;
    /* what the clients cost: the admin thread's extra CPU against the whole
     * process's CPU for the same events without clients */
    double added = (res->with.admin_cpu_s - res->bare.admin_cpu_s) / res->bare.cpu_s * 100;
    printf("  ingest, no client:     %.0f events/s, %.1f us CPU/event in this process "
           "(admin thread %.3f s)\n",
           res->bare.events_per_s, per_bare, res->bare.admin_cpu_s);
    printf("  ingest, %ld clients:   %.0f events/s, %.1f us CPU/event (admin thread %.3f s):"
           " %+.1f%% CPU added by the clients (medians of %d rounds each)\n",
           a->clients, res->with.events_per_s, per_with, res->with.admin_cpu_s, added, ROUNDS);
    printf("{\"bench\":\"ui\",\"runs\":%ld,\"requests\":%ld", a->runs, a->requests);
    for (size_t i = 0; i < res->nlist; i++)
        printf(",\"%s_p50_ms\":%.2f,\"%s_p99_ms\":%.2f", res->list[i].name, res->list[i].p50,
               res->list[i].name, res->list[i].p99);
    printf(",\"sse_p50_ms\":%.2f,\"sse_p99_ms\":%.2f,\"events\":%ld,\"clients\":%ld,"
           "\"ingest_events_per_s\":%.0f,\"ingest_events_per_s_with_clients\":%.0f,"
           "\"cpu_us_per_event\":%.2f,\"cpu_us_per_event_with_clients\":%.2f,"
           "\"admin_cpu_s\":%.3f,\"admin_cpu_s_with_clients\":%.3f,\"cpu_added_pct\":%.2f,"
           "\"rss_mib\":%.1f}\n",
           res->live.p50, res->live.p99, a->events, a->clients, res->bare.events_per_s,
           res->with.events_per_s, per_bare, per_with, res->bare.admin_cpu_s, res->with.admin_cpu_s,
           added, bench_rss_mib());
}

static sy_status run_all(const ui_args *a, router *r, admin_server *adm, engine_session *s,
                         jsCtx *js, ui_result *res, sy_error *err)
{
    int port = admin_port(adm);
    int64_t t0 = sy_mono_ns();
    sy_status st = fill(s, a->runs, err);
    res->fill_s = (double)(sy_mono_ns() - t0) / 1e9;
    static const struct {
        const char *name, *path;
        bool walk;
    } q[] = {
        {"list_first_page", "/api/v1/workflows?limit=50", false},
        {"list_keyset_walk", "/api/v1/workflows?limit=50&type=bench-list", true},
        {"list_type_filter", "/api/v1/workflows?limit=50&type=bench-list", false},
        {"list_status_running", "/api/v1/workflows?limit=50&status=running", false},
        {"list_query_box",
         "/api/v1/workflows?limit=50&q=status%20%3D%20failed%20AND%20type%20%3D%20bench-list",
         false},
        {"list_old_id_prefix", "/api/v1/workflows?limit=50&q=id%20%5E%3D%20bench-3-", false},
        {"counts_bounded", "/api/v1/workflows/counts", false},
    };
    for (size_t i = 0; st == SY_OK && i < sizeof q / sizeof q[0]; i++)
        res->list[res->nlist++] = measure_list(port, q[i].name, q[i].path, a->requests, q[i].walk);
    if (st == SY_OK)
        res->live = measure_live(s, port, 50, err);
    pid_t kids = -1;
    ingest_phase bare[ROUNDS], with[ROUNDS];
    for (int i = 0; st == SY_OK && i < 2 * ROUNDS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "r%d", i);
        bool clients = i % 2 == 1;
        if (clients) {
            kids = sse_clients(port, (int)a->clients);
            struct timespec ts = {1, 0}; /* let them connect */
            nanosleep(&ts, NULL);
        }
        st = ingest(js, r, adm, tag, a->events, clients ? &with[i / 2] : &bare[i / 2], err);
        if (clients) {
            kill(kids, SIGKILL);
            waitpid(kids, NULL, 0);
            struct timespec ts = {0, 300000000L}; /* their streams closed */
            nanosleep(&ts, NULL);
        }
    }
    if (st == SY_OK) {
        res->bare = median(bare, ROUNDS);
        res->with = median(with, ROUNDS);
    }
    return st;
}

int bench_ui(int argc, char **argv)
{
    ui_args a = UI_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&UI_CMD, pst, &perr);
    signal(SIGPIPE, SIG_IGN);
    devstack *ds = NULL;
    sy_error err = {0};
    sy_status st = SY_OK;
    if (!a.nats) {
        devstack_opts o = {.durable = true, .quiet = true};
        st = devstack_start(&o, &ds, &err);
    }
    char rules[64];
    snprintf(rules, sizeof rules, "/tmp/sy-bench-ui-%d.yaml", (int)getpid());
    FILE *f = st == SY_OK ? fopen(rules, "w") : NULL;
    if (f) {
        fputs(ui_rules, f);
        fclose(f);
    }
    router_config cfg;
    ui_config(&cfg, ds ? devstack_nats_url(ds) : a.nats, ds ? devstack_pg_conninfo(ds) : a.db,
              rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    router_loops *loops = NULL;
    admin_server *adm = NULL;
    engine *eng = NULL;
    engine_session *s = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    ui_result res = {0};
    cJSON *defs = cJSON_Parse(LIVE_DEFS);
    engine_opts eo = {.workflows = defs};
    if (st == SY_OK)
        st = router_new(&cfg, &lg, &r, &err);
    if (st == SY_OK)
        st = router_start(r, &err);
    if (st == SY_OK)
        st = router_loops_start(&cfg, r, &lg, &loops, &err);
    if (st == SY_OK)
        st = admin_start(cfg.admin_listen, NULL, r, &lg, &adm, &err);
    if (st == SY_OK)
        st = engine_new(&eo, NULL, &eng, &err);
    if (st == SY_OK)
        st = engine_session_open(eng, cfg.pg_conninfo, true, &s, &err);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 8192;
    if (st == SY_OK && (natsConnection_ConnectTo(&nc, cfg.nats_urls.items[0]) != NATS_OK ||
                        natsConnection_JetStream(&js, nc, &jo) != NATS_OK))
        st = sy_error_set(&err, SY_NATS_DOWN, "nats", NULL, "publisher could not connect");
    if (st == SY_OK)
        st = run_all(&a, r, adm, s, js, &res, &err);
    if (st == SY_OK)
        report(&a, &res);
    else
        fprintf(stderr, "bench ui: %s\n", err.message);
    cJSON_Delete(defs);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    engine_session_close(s);
    engine_free(eng);
    router_stop(r);
    admin_stop(adm);
    router_loops_stop(loops);
    router_free(r);
    router_config_cleanup(&cfg);
    unlink(rules);
    devstack_stop(ds);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
