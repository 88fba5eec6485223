/* bench_flow.c: `switchyard bench flow [--events N] [--keys K]
 * [--batch-events M] [--batch-size B] [--rate R] [--seconds S]
 * [--pipelines P] [--batch X] [--nats URL] [--db CONNINFO]`.
 *
 * Flow control through the real router in this process (pipelines, relay
 * and timer loop running, as `serve` runs them; docs/flow-control.md):
 *   1. plain: N events, each starting a one-task workflow, timed until
 *      the router committed them all (then the relay drains their outbox);
 *   2. debounce: the same N events over K keys (debounce period 2 s),
 *      timed the same way: the cost of holding each event against (1);
 *      then until every key fired once;
 *   3. batch: M events over M / B keys (max_size B): the batch starts, how
 *      many events each holds, and how many transactions wrote them (the
 *      runs' xmin: one transaction writes one or more whole batches);
 *   4. throttle: R x S x 1.1 events on one key (limit R per 1 s): starts
 *      counted in the S seconds after the first, against R x S;
 *   5. correlation: W runs waiting (wait_event) on a keyed where
 *      (`event.payload.n == input.n`) and W on the same where that cannot
 *      be looked up by key (`... || false`, read and evaluated per row);
 *      C events of the keyed type and C / 10 (at most 100000 / W) of the
 *      other, each resuming
 *      one run, timed until routed: the keyed lookup's events/s against
 *      the scan's, in one run.
 * Self-contained (devstack, durable) unless --nats and --db are given.
 * Last stdout line: one JSON object. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "config.h"
#include "devstack.h"
#include "loops.h"
#include "router.h"

#include <libpq-fe.h>
#include <nats/nats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct flow_args {
    long events, keys, batch_events, batch_size, rate, seconds, pipelines, batch, waiting,
        corr_events;
    const char *nats, *db;
} flow_args;

#define FLOW_DEFAULTS                                                                              \
    {                                                                                              \
        .events = 100000, .keys = 1000, .batch_events = 10000, .batch_size = 100, .rate = 100,     \
        .seconds = 60, .pipelines = 2, .batch = 512, .waiting = 10000, .corr_events = 1000         \
    }

static const cliopt_opt FLOW_OPTS[] = {
    {.name = "--events",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, events),
     .min = 1,
     .max = INT64_MAX,
     .arg = "N",
     .help = "events of the plain and debounce phases (100000)"},
    {.name = "--keys",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, keys),
     .min = 1,
     .max = INT64_MAX,
     .arg = "K",
     .help = "debounce keys (1000)"},
    {.name = "--batch-events",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, batch_events),
     .min = 1,
     .max = INT64_MAX,
     .arg = "M",
     .help = "events of the batch phase (10000)"},
    {.name = "--batch-size",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, batch_size),
     .min = 1,
     .max = 10000,
     .arg = "B",
     .help = "batch max_size (100)"},
    {.name = "--rate",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, rate),
     .min = 1,
     .max = 1000000,
     .arg = "R",
     .help = "throttle limit per second (100)"},
    {.name = "--seconds",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, seconds),
     .min = 0,
     .max = 3600,
     .arg = "S",
     .help = "throttle measurement window; 0: no throttle phase (60)"},
    {.name = "--waiting",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, waiting),
     .min = 0,
     .max = 1000000,
     .arg = "W",
     .help = "runs waiting per correlation kind; 0: no correlation phase (10000)"},
    {.name = "--corr-events",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, corr_events),
     .min = 1,
     .max = 1000000,
     .arg = "C",
     .help = "events of each correlation kind (1000, at most W)"},
    {.name = "--pipelines",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, pipelines),
     .min = 1,
     .max = INT64_MAX,
     .arg = "P",
     .help = "the router's pipelines (2)"},
    {.name = "--batch",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(flow_args, batch),
     .min = 1,
     .max = INT64_MAX,
     .arg = "X",
     .help = "the router's fetch batch (512)"},
    {.name = "--nats",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(flow_args, nats),
     .arg = "URL",
     .help = "with --db: these servers, not throwaway ones"},
    {.name = "--db",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(flow_args, db),
     .arg = "CONNINFO",
     .help = "with --nats"},
};

static const cliopt_cmd FLOW_CMD = {
    .name = "bench flow",
    .synopsis = "switchyard bench flow [--events N] [--keys K] [--batch-events M] "
                "[--batch-size B] [--rate R] [--seconds S] [--waiting W] [--corr-events C] "
                "[--pipelines P] [--batch X] "
                "[--nats URL] [--db CONNINFO]",
    CLIOPT_TABLE(FLOW_OPTS),
};

static sy_status parse_args(int argc, char **argv, flow_args *out, bool *help, sy_error *err)
{
    flow_args a = *out;
    sy_status st = cliopt_parse(&FLOW_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if ((st = bench_servers_given_together(a.nats, a.db, err)) != SY_OK)
        return st;
    *out = a;
    return SY_OK;
}

sy_status bench_flow_parse(int argc, char **argv, bool *help, sy_error *err)
{
    flow_args a = FLOW_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

/* ---- events ---------------------------------------------------------------------- */

typedef struct event_kind {
    const char *tag, *type;
    long keys; /* subject k<i % keys>; 0: one subject */
} event_kind;

static int flow_event(char *buf, size_t cap, long i, const void *arg)
{
    const event_kind *k = arg;
    return snprintf(buf, cap,
                    "{\"event_id\":\"%s-%ld\",\"type\":\"%s\",\"source\":\"bench\","
                    "\"subject\":\"k%ld\",\"occurred_at\":\"2026-01-01T00:00:00Z\","
                    "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"schema_version\":1,"
                    "\"payload\":{\"n\":%ld}}",
                    k->tag, i, k->type, k->keys ? i % k->keys : 0, i);
}

static sy_status write_rules(const flow_args *a, const char *path, sy_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sy_error_set(err, SY_IO, NULL, path, "could not write the rules");
    fprintf(f,
            "version: 1\n"
            "routes:\n"
            "  - name: plain\n"
            "    match: { type: bench.plain }\n"
            "    start: { workflow: one-task, id: \"p-{{ event_id }}\" }\n"
            "  - name: debounced\n"
            "    match: { type: bench.debounce }\n"
            "    debounce: { key: \"{{ subject }}\", period: 2s }\n"
            "    start: { workflow: one-task, id: \"d-{{ subject }}-{{ event_id }}\" }\n"
            "  - name: batched\n"
            "    match: { type: bench.batch }\n"
            "    batch: { key: \"{{ subject }}\", max_size: %ld, timeout: 5m }\n"
            "    start: { workflow: one-task, id: \"b-{{ event_id }}\" }\n"
            "  - name: throttled\n"
            "    match: { type: bench.throttle }\n"
            "    throttle: { key: all, limit: %ld, period: 1s }\n"
            "    start: { workflow: one-task, id: \"t-{{ event_id }}\" }\n"
            "  - name: corr-start-k\n"
            "    match: { type: bench.cstart.k }\n"
            "    start: { workflow: corr-keyed, id: \"ck-{{ payload.n }}\", input: { n: \"{{ "
            "payload.n }}\" } }\n"
            "  - name: corr-start-s\n"
            "    match: { type: bench.cstart.s }\n"
            "    start: { workflow: corr-scan, id: \"cs-{{ payload.n }}\", input: { n: \"{{ "
            "payload.n }}\" } }\n"
            "workflows:\n"
            "  one-task:\n"
            "    task_queue: bench\n"
            "    steps:\n"
            "      - task: work\n"
            "  corr-keyed:\n"
            "    steps:\n"
            "      - wait_event: bench.cpay.k\n"
            "        where: event.payload.n == input.n\n"
            "      - complete: {}\n"
            "  corr-scan:\n"
            "    steps:\n"
            "      - wait_event: bench.cpay.s\n"
            "        where: event.payload.n == input.n || false\n"
            "      - complete: {}\n",
            a->batch_size, a->rate);
    return fclose(f) == 0 ? SY_OK : sy_error_set(err, SY_IO, NULL, path, "could not write");
}

static void flow_config(router_config *c, const flow_args *a, const char *nats, const char *db,
                        const char *rules)
{
    router_config_init(c);
    free(c->nats_urls.items[0]);
    c->nats_urls.items[0] = strdup(nats);
    free(c->pg_conninfo);
    c->pg_conninfo = strdup(db);
    free(c->rules_path);
    c->rules_path = strdup(rules);
    free(c->stream_name);
    c->stream_name = strdup("BENCH_FLOW");
    free(c->stream_subjects.items[0]);
    c->stream_subjects.items[0] = strdup("bench.flow.>");
    free(c->consumer_name);
    c->consumer_name = strdup("bench-flow");
    c->pipelines = a->pipelines;
    c->batch_size = a->batch;
    c->max_ack_pending = a->batch * a->pipelines * 4;
    c->fetch_wait_ms = 5;
    c->reports = false; /* no worker in this benchmark */
    sy_error err = {0};
    if (router_config_apply_env(c, environ, &err) != SY_OK)
        fprintf(stderr, "bench flow: %s (ignored)\n", err.message);
}

/* ---- phases ------------------------------------------------------------------------- */

typedef struct flow_ctx {
    const flow_args *a;
    router *r;
    router_loops *loops;
    jsCtx *js;
    PGconn *pg;
    char tag[32];
    uint64_t routed; /* events routed so far */
} flow_ctx;

typedef struct flow_result {
    double plain_s, debounce_s, debounce_fired_s;
    long debounce_fired;
    long batches, batch_min, batch_max, batch_events_in, batch_txns;
    double batch_fired_s;
    long throttle_starts;
    double throttle_per_s, throttle_error_pct;
    double corr_keyed_s, corr_scan_s;
    long corr_keyed_left, corr_scan_left; /* waits not resumed */
    double rss_mib;
} flow_result;

static uint64_t fired(const flow_ctx *c)
{
    return atomic_load(&router_get_metrics(c->r)->engine[ENGINE_STAT_FLOW_FIRED]);
}

/* Publishes n events of kind k and waits until the router committed them;
 * the seconds from the first publish. */
static sy_status publish_routed(flow_ctx *c, const char *type, long n, long keys, double *secs,
                                sy_error *err)
{
    char tag[64];
    snprintf(tag, sizeof tag, "%s-%s", c->tag, type);
    event_kind k = {.tag = tag, .type = type, .keys = keys};
    int64_t t0 = sy_mono_ns();
    sy_status st = bench_publish(c->js, "bench.flow.e", flow_event, &k, 0, n, 0, err);
    c->routed += (uint64_t)n;
    if (st == SY_OK && !bench_wait_count(&router_get_metrics(c->r)->routed, c->routed, 120000 + n))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "the router did not route every event");
    *secs = (double)(sy_mono_ns() - t0) / 1e9;
    return st;
}

static bool wait_fired(const flow_ctx *c, uint64_t want, int64_t timeout_ms)
{
    return bench_wait_count(&router_get_metrics(c->r)->engine[ENGINE_STAT_FLOW_FIRED], want,
                            timeout_ms);
}

/* The first row's columns of a query into out[0..n); false on failure. */
static bool query_longs(PGconn *pg, const char *sql, long *out, int n)
{
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= n;
    for (int i = 0; i < n; i++)
        out[i] = ok ? atol(PQgetvalue(r, 0, i)) : -1;
    PQclear(r);
    return ok;
}

static sy_status phase_debounce(flow_ctx *c, flow_result *res, sy_error *err)
{
    const flow_args *a = c->a;
    sy_status st = publish_routed(c, "bench.plain", a->events, 0, &res->plain_s, err);
    /* the relay publishes the plain starts' outcome events first: they
     * must not share the cores with the debounce phase */
    int64_t end = sy_mono_ms() + 120000;
    while (st == SY_OK && router_loops_published(c->loops) < 2 * (uint64_t)a->events &&
           sy_mono_ms() < end)
        usleep(5000);
    uint64_t f0 = fired(c);
    if (st == SY_OK)
        st = publish_routed(c, "bench.debounce", a->events, a->keys, &res->debounce_s, err);
    int64_t t0 = sy_mono_ns();
    if (st == SY_OK && !wait_fired(c, f0 + (uint64_t)a->keys, 60000))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "not every debounced key fired");
    res->debounce_fired = (long)(fired(c) - f0);
    res->debounce_fired_s = (double)(sy_mono_ns() - t0) / 1e9;
    return st;
}

static sy_status phase_batch(flow_ctx *c, flow_result *res, sy_error *err)
{
    const flow_args *a = c->a;
    long keys = (a->batch_events + a->batch_size - 1) / a->batch_size;
    uint64_t f0 = fired(c);
    double secs = 0;
    sy_status st = publish_routed(c, "bench.batch", a->batch_events, keys, &secs, err);
    int64_t t0 = sy_mono_ns();
    long full = a->batch_events / a->batch_size;
    if (st == SY_OK && !wait_fired(c, f0 + (uint64_t)full, 60000))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "not every full batch fired");
    res->batch_fired_s = (double)(sy_mono_ns() - t0) / 1e9;
    /* a run's xmin is the transaction that inserted it */
    const char *sql = "SELECT count(*), coalesce(min(json_array_length(input->'events')), 0),"
                      " coalesce(max(json_array_length(input->'events')), 0),"
                      " coalesce(sum(json_array_length(input->'events')), 0),"
                      " count(DISTINCT xmin::text) FROM switchyard.runs WHERE"
                      " workflow_id LIKE 'b-%'";
    long v[5];
    query_longs(c->pg, sql, v, 5);
    res->batches = v[0];
    res->batch_min = v[1];
    res->batch_max = v[2];
    res->batch_events_in = v[3];
    res->batch_txns = v[4];
    return st;
}

static sy_status phase_throttle(flow_ctx *c, flow_result *res, sy_error *err)
{
    const flow_args *a = c->a;
    if (!a->seconds)
        return SY_OK;
    long n = a->rate * a->seconds + a->rate * a->seconds / 10 + a->rate;
    double secs = 0;
    sy_status st = publish_routed(c, "bench.throttle", n, 0, &secs, err);
    sleep((unsigned)a->seconds + 2);
    /* starts in the S seconds from the first */
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH t AS (SELECT started_at FROM switchyard.runs WHERE workflow_id LIKE 't-%%')"
             " SELECT count(*) FROM t WHERE started_at < (SELECT min(started_at) FROM t) +"
             " interval '%ld seconds'",
             a->seconds);
    query_longs(c->pg, sql, &res->throttle_starts, 1);
    res->throttle_per_s = (double)res->throttle_starts / (double)a->seconds;
    res->throttle_error_pct = 100.0 * (res->throttle_per_s - (double)a->rate) / (double)a->rate;
    return st;
}

/* Waits until no event_scan timer (a starting wait's lookback) is due. */
static void wait_scans(flow_ctx *c)
{
    long n = 1;
    int64_t end = sy_mono_ms() + 300000;
    while (n > 0 && sy_mono_ms() < end) {
        query_longs(c->pg, "SELECT count(*) FROM switchyard.timers WHERE kind = 'event_scan'", &n,
                    1);
        if (n > 0)
            usleep(100000);
    }
}

/* The scanned kind reads and evaluates every waiting row per event (W x
 * the router's batch per transaction): a tenth of the events, at most
 * 100000 / W (some 10 s), at least 1. */
static long corr_scan_events(const flow_args *a)
{
    long n = a->corr_events < a->waiting ? a->corr_events : a->waiting;
    n /= 10;
    if (n > 100000 / a->waiting)
        n = 100000 / a->waiting;
    return n > 0 ? n : 1;
}

static sy_status phase_corr(flow_ctx *c, flow_result *res, sy_error *err)
{
    const flow_args *a = c->a;
    if (!a->waiting)
        return SY_OK;
    long n = a->corr_events < a->waiting ? a->corr_events : a->waiting;
    double secs = 0;
    sy_status st = publish_routed(c, "bench.cstart.k", a->waiting, 0, &secs, err);
    if (st == SY_OK)
        st = publish_routed(c, "bench.cstart.s", a->waiting, 0, &secs, err);
    wait_scans(c);
    if (st == SY_OK)
        st = publish_routed(c, "bench.cpay.k", n, 0, &res->corr_keyed_s, err);
    if (st == SY_OK)
        st = publish_routed(c, "bench.cpay.s", corr_scan_events(a), 0, &res->corr_scan_s, err);
    query_longs(c->pg,
                "SELECT count(*) FILTER (WHERE type = 'bench.cpay.k'), count(*) FILTER"
                " (WHERE type = 'bench.cpay.s') FROM switchyard.event_subs",
                &res->corr_keyed_left, 2);
    return st;
}

static void report(const flow_args *a, const flow_result *r)
{
    double ratio = r->plain_s > 0 ? r->debounce_s / r->plain_s : 0;
    printf("plain: %ld events routed (each a start) in %.2f s = %.0f events/s\n", a->events,
           r->plain_s, (double)a->events / r->plain_s);
    printf("debounce: %ld events over %ld keys routed in %.2f s = %.0f events/s: %.2fx the "
           "plain cost; %ld keys fired %.2f s later (period 2 s)\n",
           a->events, a->keys, r->debounce_s, (double)a->events / r->debounce_s, ratio,
           r->debounce_fired, r->debounce_fired_s);
    printf("batch: %ld events, max_size %ld: %ld starts holding %ld events (%ld..%ld each), "
           "written by %ld transactions, %.2f s after the last event was routed\n",
           a->batch_events, a->batch_size, r->batches, r->batch_events_in, r->batch_min,
           r->batch_max, r->batch_txns, r->batch_fired_s);
    if (a->seconds)
        printf("throttle: limit %ld/s: %ld starts in the %ld s after the first = %.2f/s "
               "(%+.2f%%)\n",
               a->rate, r->throttle_starts, a->seconds, r->throttle_per_s, r->throttle_error_pct);
    long cn = a->corr_events < a->waiting ? a->corr_events : a->waiting;
    double keyed_eps = r->corr_keyed_s > 0 ? (double)cn / r->corr_keyed_s : 0,
           scan_eps = r->corr_scan_s > 0 ? (double)corr_scan_events(a) / r->corr_scan_s : 0;
    if (a->waiting)
        printf("correlation: %ld runs waiting per kind, events each resuming one: keyed "
               "where %ld events at %.0f events/s, scanned where %ld events at %.1f events/s "
               "(keyed %.1fx); waits left %ld / %ld\n",
               a->waiting, cn, keyed_eps, corr_scan_events(a), scan_eps,
               scan_eps > 0 ? keyed_eps / scan_eps : 0, r->corr_keyed_left, r->corr_scan_left);
    printf("{\"bench\":\"flow\",\"events\":%ld,\"keys\":%ld,\"plain_s\":%.3f,"
           "\"plain_events_per_s\":%.0f,\"debounce_s\":%.3f,\"debounce_events_per_s\":%.0f,"
           "\"debounce_cost_ratio\":%.3f,\"debounce_fired\":%ld,\"batch_events\":%ld,"
           "\"batch_size\":%ld,\"batches\":%ld,\"batch_min\":%ld,\"batch_max\":%ld,"
           "\"batch_transactions\":%ld,\"throttle_rate\":%ld,\"throttle_seconds\":%ld,"
           "\"throttle_starts\":%ld,\"throttle_starts_per_s\":%.3f,\"throttle_error_pct\":%.3f,"
           "\"waiting\":%ld,\"corr_events\":%ld,\"corr_keyed_events_per_s\":%.0f,"
           "\"corr_scan_events_per_s\":%.1f,\"rss_mib\":%.1f}\n",
           a->events, a->keys, r->plain_s, (double)a->events / r->plain_s, r->debounce_s,
           (double)a->events / r->debounce_s, ratio, r->debounce_fired, a->batch_events,
           a->batch_size, r->batches, r->batch_min, r->batch_max, r->batch_txns, a->rate,
           a->seconds, r->throttle_starts, r->throttle_per_s, r->throttle_error_pct, a->waiting, cn,
           keyed_eps, scan_eps, r->rss_mib);
}

static sy_status run_phases(flow_ctx *c, flow_result *res, sy_error *err)
{
    snprintf(c->tag, sizeof c->tag, "f%lld", (long long)sy_clock_now_ms(NULL));
    sy_status st = phase_debounce(c, res, err);
    if (st == SY_OK)
        st = phase_batch(c, res, err);
    if (st == SY_OK)
        st = phase_throttle(c, res, err);
    if (st == SY_OK)
        st = phase_corr(c, res, err);
    res->rss_mib = bench_rss_mib();
    return st;
}

int bench_flow(int argc, char **argv)
{
    flow_args a = FLOW_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&FLOW_CMD, pst, &perr);
    devstack *ds = NULL;
    sy_error err = {0};
    sy_status st = SY_OK;
    if (!a.nats) {
        devstack_opts o = {.durable = true, .quiet = true};
        st = devstack_start(&o, &ds, &err);
    }
    char rules[64];
    snprintf(rules, sizeof rules, "/tmp/sy-bench-flow-%d.yaml", (int)getpid());
    if (st == SY_OK)
        st = write_rules(&a, rules, &err);
    router_config cfg;
    flow_config(&cfg, &a, ds ? devstack_nats_url(ds) : a.nats, ds ? devstack_pg_conninfo(ds) : a.db,
                rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    flow_ctx c = {.a = &a};
    natsConnection *nc = NULL;
    flow_result res = {0};
    if (st == SY_OK)
        st = router_new(&cfg, &lg, &c.r, &err);
    if (st == SY_OK)
        st = router_start(c.r, &err);
    if (st == SY_OK)
        st = router_loops_start(&cfg, c.r, &lg, &c.loops, &err);
    if (st == SY_OK)
        st = bench_wait_ready(c.r, &err);
    if (st == SY_OK)
        st = bench_open_publisher(cfg.nats_urls.items[0], &nc, &c.js, &err);
    if (st == SY_OK && PQstatus(c.pg = PQconnectdb(cfg.pg_conninfo)) != CONNECTION_OK)
        st = sy_error_set(&err, SY_DB_DOWN, NULL, NULL, "postgres: %s", PQerrorMessage(c.pg));
    if (st == SY_OK)
        st = run_phases(&c, &res, &err);
    if (st == SY_OK)
        report(&a, &res);
    else
        fprintf(stderr, "bench flow: %s\n", err.message);
    PQfinish(c.pg);
    jsCtx_Destroy(c.js);
    natsConnection_Destroy(nc);
    router_stop(c.r);
    router_loops_stop(c.loops);
    router_free(c.r);
    router_config_cleanup(&cfg);
    unlink(rules);
    devstack_stop(ds);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
