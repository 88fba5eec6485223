/* bench_ingest.c: `switchyard bench ingest [--events N] [--rate R]
 * [--pipelines P] [--batch B] [--nats URL] [--db CONNINFO]`.
 *
 * Events routed durably per second and publish->commit latency, through the
 * real router in this process (pipelines, outbox relay and timers running,
 * as `serve` runs them). Each event starts a one-task workflow, so every
 * event writes its inbox row, a run, its history, a task and an outbox row.
 * Phase 1 publishes N events as fast as a native async publisher can and
 * times until the router has committed and acked all of them; then waits
 * for the relay to publish their outcome events. Phase 2 offers R events/s
 * for 5 s and reads the publish (stream timestamp) -> commit latency from
 * the router's histogram (bucket upper bounds: conservative).
 * Self-contained (devstack, durable: fsync and synchronous_commit on)
 * unless --nats and --db are given. Last stdout line: one JSON object. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "config.h"
#include "devstack.h"
#include "engine.h"
#include "loops.h"
#include "router.h"

#include <nats/nats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct ingest_args {
    long events, rate, pipelines, batch;
    const char *nats, *db;
} ingest_args;

static const char ingest_rules[] = "version: 1\n"
                                   "routes:\n"
                                   "  - name: bench\n"
                                   "    match: { type: bench.ingest }\n"
                                   "    start:\n"
                                   "      workflow: one-task\n"
                                   "      id: \"bench-{{ event_id }}\"\n"
                                   "      input: { n: \"{{ payload.n }}\" }\n"
                                   "workflows:\n"
                                   "  one-task:\n"
                                   "    task_queue: bench\n"
                                   "    steps:\n"
                                   "      - task: work\n";

#define INGEST_DEFAULTS                                                                            \
    {                                                                                              \
        .events = 50000, .rate = 5000, .pipelines = 2, .batch = 512                                \
    }

static const cliopt_opt INGEST_OPTS[] = {
    {.name = "--events", .kind = CLIOPT_INT, CLIOPT_FIELD(ingest_args, events), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "events of phase 1 (default 50000)"},
    {.name = "--rate", .kind = CLIOPT_INT, CLIOPT_FIELD(ingest_args, rate), .min = 0,
     .max = INT64_MAX, .arg = "R",
     .help = "events/s offered in phase 2; 0: no phase 2 (default 5000)"},
    {.name = "--pipelines", .kind = CLIOPT_INT, CLIOPT_FIELD(ingest_args, pipelines), .min = 1,
     .max = INT64_MAX, .arg = "P", .help = "the router's pipelines (default 2)"},
    {.name = "--batch", .kind = CLIOPT_INT, CLIOPT_FIELD(ingest_args, batch), .min = 1,
     .max = INT64_MAX, .arg = "B", .help = "the router's batch size (default 512)"},
    {.name = "--nats", .kind = CLIOPT_STRING, CLIOPT_FIELD(ingest_args, nats), .arg = "URL",
     .help = "with --db: these servers, not throwaway ones"},
    {.name = "--db", .kind = CLIOPT_STRING, CLIOPT_FIELD(ingest_args, db), .arg = "CONNINFO",
     .help = "with --nats"},
};

static const cliopt_cmd INGEST_CMD = {
    .name = "bench ingest",
    .synopsis = "switchyard bench ingest [--events N] [--rate R] [--pipelines P] [--batch B] "
                "[--nats URL] [--db CONNINFO]",
    CLIOPT_TABLE(INGEST_OPTS),
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, ingest_args *out, bool *help, sy_error *err)
{
    ingest_args a = *out;
    sy_status st = cliopt_parse(&INGEST_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if ((st = bench_servers_given_together(a.nats, a.db, err)) != SY_OK)
        return st;
    *out = a;
    return SY_OK;
}

sy_status bench_ingest_parse(int argc, char **argv, bool *help, sy_error *err)
{
    ingest_args a = INGEST_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

static void set_str(char **f, const char *v)
{
    free(*f);
    *f = strdup(v);
}

static void ingest_config(router_config *c, const ingest_args *a, const char *nats,
                          const char *db, const char *rules)
{
    router_config_init(c);
    set_str(&c->nats_urls.items[0], nats);
    set_str(&c->pg_conninfo, db);
    set_str(&c->rules_path, rules);
    set_str(&c->stream_name, "BENCH_INGEST");
    set_str(&c->stream_subjects.items[0], "bench.ingest.>");
    set_str(&c->consumer_name, "bench-ingest");
    c->pipelines = a->pipelines;
    c->batch_size = a->batch;
    c->max_ack_pending = a->batch * a->pipelines * 4;
    c->fetch_wait_ms = 5;
    c->reports = false; /* no worker in this benchmark */
    sy_error err = {0};
    if (router_config_apply_env(c, environ, &err) != SY_OK) /* SWITCHYARD_* knobs */
        fprintf(stderr, "bench ingest: %s (ignored)\n", err.message);
}

/* Event i of the run tagged tag. */
static int ingest_event(char *buf, size_t cap, long i, const void *tag)
{
    return snprintf(buf, cap,
                    "{\"event_id\":\"%s-%ld\",\"type\":\"bench.ingest\",\"source\":\"bench\","
                    "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"trace_id\":"
                    "\"0af7651916cd43dd8448eb211c80319c\",\"schema_version\":1,"
                    "\"payload\":{\"n\":%ld}}",
                    (const char *)tag, i, i);
}

static sy_status publish_range(jsCtx *js, const char *tag, long from, long to, long rate,
                               sy_error *err)
{
    return bench_publish(js, "bench.ingest.e", ingest_event, tag, from, to, rate, err);
}

/* Waits until the router has routed 'want' events; false on timeout. */
static bool wait_routed(router *r, uint64_t want, int64_t timeout_ms)
{
    return bench_wait_count(&router_get_metrics(r)->routed, want, timeout_ms);
}

/* Waits until the relay has published 'want' outbox messages; false on
 * timeout. Phase 2 measures latency at a steady rate, not while the relay
 * still publishes phase 1's backlog on the same two cores. */
static bool wait_relayed(router_loops *loops, uint64_t want, int64_t timeout_ms)
{
    int64_t end = sy_mono_ms() + timeout_ms;
    while (router_loops_published(loops) < want) {
        if (sy_mono_ms() > end)
            return false;
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* Quantile of the histogram's growth since 'before' (bucket upper bound, ms). */
static double delta_quantile(const router_hist *h, const uint64_t *before, double q)
{
    uint64_t d[ROUTER_HIST_MAX + 1], total = 0, seen = 0;
    for (int i = 0; i <= h->nbounds; i++)
        total += d[i] = atomic_load(&h->buckets[i]) - before[i];
    for (int i = 0; total && i <= h->nbounds; i++) {
        seen += d[i];
        if ((double)seen >= q * (double)total)
            return 1000.0 * (i < h->nbounds ? h->bounds[i] : h->bounds[h->nbounds - 1] * 10);
    }
    return 0;
}

typedef struct ingest_result {
    double seconds, events_per_s, p50_ms, p99_ms, rss_mib;
    double drained_s; /* until the relay had published phase 1's outbox */
    double txn_ms_mean, batch_mean; /* where the time goes: per batch */
    double wal_per_event, wal_per_event_drained; /* bytes of WAL (engine_wal_stats) */
    double fpi_per_event; /* full-page images among them (pg_stat_wal, lags) */
    long latency_events;
    uint64_t published;
} ingest_result;

/* The server's WAL counters (engine_wal_stats); a bench without them
 * reports 0 rather than failing. */
typedef struct wal_mark {
    uint64_t bytes, fpi;
} wal_mark;

static wal_mark wal_now(engine_session *s)
{
    wal_mark m = {0, 0};
    sy_error err = {0};
    if (s && engine_wal_stats(s, &m.bytes, &m.fpi, &err) != SY_OK)
        fprintf(stderr, "bench ingest: WAL counters: %s\n", err.message);
    return m;
}

static sy_status run_phases(const ingest_args *a, router *r, router_loops *loops, jsCtx *js,
                            engine_session *db, ingest_result *res, sy_error *err)
{
    char tag[32];
    snprintf(tag, sizeof tag, "b%lld", (long long)sy_clock_now_ms(NULL));
    wal_mark w0 = wal_now(db);
    int64_t t0 = sy_mono_ns();
    sy_status st = publish_range(js, tag, 0, a->events, 0, err);
    int64_t limit = 60000 + a->events / 2;
    if (st == SY_OK && !wait_routed(r, (uint64_t)a->events, limit))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "the router did not route every event");
    res->seconds = (double)(sy_mono_ns() - t0) / 1e9;
    res->events_per_s = (double)a->events / res->seconds;
    wal_mark w1 = wal_now(db);
    res->wal_per_event = (double)(w1.bytes - w0.bytes) / (double)a->events;
    res->fpi_per_event = (double)(w1.fpi - w0.fpi) / (double)a->events;
    /* two outcome events per start: workflow.started, task.created */
    if (st == SY_OK && !wait_relayed(loops, 2 * (uint64_t)a->events, limit))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "the relay did not publish the outbox");
    res->drained_s = (double)(sy_mono_ns() - t0) / 1e9;
    res->wal_per_event_drained = (double)(wal_now(db).bytes - w0.bytes) / (double)a->events;
    router_hist *h = &router_get_metrics(r)->e2e_seconds;
    uint64_t before[ROUTER_HIST_MAX + 1];
    for (int i = 0; i <= h->nbounds; i++)
        before[i] = atomic_load(&h->buckets[i]);
    res->latency_events = a->rate * 5;
    if (st == SY_OK && a->rate > 0)
        st = publish_range(js, tag, a->events, a->events + res->latency_events, a->rate, err);
    if (st == SY_OK && !wait_routed(r, (uint64_t)(a->events + res->latency_events), limit))
        st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "the router did not route every event");
    res->p50_ms = delta_quantile(h, before, 0.50);
    res->p99_ms = delta_quantile(h, before, 0.99);
    res->rss_mib = bench_rss_mib();
    router_metrics *m = router_get_metrics(r);
    double nb = (double)atomic_load(&m->commit_seconds.count);
    res->txn_ms_mean = nb ? (double)atomic_load(&m->commit_seconds.sum_micro) / 1000.0 / nb : 0;
    res->batch_mean = nb ? (double)atomic_load(&m->received) / nb : 0;
    res->published = router_loops_published(loops);
    return st;
}

static void report(const ingest_args *a, const ingest_result *res)
{
    printf("ingest: %ld events in %.2f s = %.0f events/s routed durably (pipelines %ld, batch %ld)\n",
           a->events, res->seconds, res->events_per_s, a->pipelines, a->batch);
    printf("latency at %ld events/s offered (%ld events): p50 <= %.1f ms, p99 <= %.1f ms "
           "(publish -> commit)\n",
           a->rate, res->latency_events, res->p50_ms, res->p99_ms);
    printf("batches: %.1f events each, transaction (begin..commit) %.2f ms mean\n",
           res->batch_mean, res->txn_ms_mean);
    printf("outbox messages published by the relay: %llu (phase 1's all out after %.2f s); "
           "rss %.1f MiB\n",
           (unsigned long long)res->published, res->drained_s, res->rss_mib);
    printf("WAL per event (the server's insert position): %.0f bytes until routed (%.2f "
           "full-page images), %.0f until the relay had published them\n",
           res->wal_per_event, res->fpi_per_event, res->wal_per_event_drained);
    printf("{\"bench\":\"ingest\",\"events\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f,"
           "\"rate\":%ld,\"latency_events\":%ld,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
           "\"outbox_published\":%llu,\"relay_drained_s\":%.3f,\"pipelines\":%ld,\"batch\":%ld,"
           "\"wal_bytes_per_event\":%.0f,\"wal_fpi_per_event\":%.3f,"
           "\"wal_bytes_per_event_drained\":%.0f,\"rss_mib\":%.1f}\n",
           a->events, res->seconds, res->events_per_s, a->rate, res->latency_events, res->p50_ms,
           res->p99_ms, (unsigned long long)res->published, res->drained_s, a->pipelines, a->batch,
           res->wal_per_event, res->fpi_per_event, res->wal_per_event_drained, res->rss_mib);
}

int bench_ingest(int argc, char **argv)
{
    ingest_args a = INGEST_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&INGEST_CMD, pst, &perr);
    devstack *ds = NULL;
    sy_error err = {0};
    sy_status st = SY_OK;
    if (!a.nats) {
        devstack_opts o = {.durable = true, .quiet = true};
        st = devstack_start(&o, &ds, &err);
    }
    char rules[64];
    snprintf(rules, sizeof rules, "/tmp/sy-bench-ingest-%d.yaml", (int)getpid());
    FILE *f = st == SY_OK ? fopen(rules, "w") : NULL;
    if (f) {
        fputs(ingest_rules, f);
        fclose(f);
    }
    router_config cfg;
    ingest_config(&cfg, &a, ds ? devstack_nats_url(ds) : a.nats,
                  ds ? devstack_pg_conninfo(ds) : a.db, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    router_loops *loops = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    ingest_result res = {0};
    if (st == SY_OK)
        st = router_new(&cfg, &lg, &r, &err);
    if (st == SY_OK)
        st = router_start(r, &err);
    if (st == SY_OK)
        st = router_loops_start(&cfg, r, &lg, &loops, &err);
    if (st == SY_OK)
        st = bench_wait_ready(r, &err);
    if (st == SY_OK)
        st = bench_open_publisher(cfg.nats_urls.items[0], &nc, &js, &err);
    /* a session of its own for the server's WAL counters */
    engine_opts eo = {.state_cache = -1};
    engine *eng = NULL;
    engine_session *db = NULL;
    if (st == SY_OK)
        st = engine_new(&eo, NULL, &eng, &err);
    if (st == SY_OK)
        st = engine_session_open(eng, cfg.pg_conninfo, false, &db, &err);
    if (st == SY_OK)
        st = run_phases(&a, r, loops, js, db, &res, &err);
    if (st == SY_OK)
        report(&a, &res);
    else
        fprintf(stderr, "bench ingest: %s\n", err.message);
    engine_session_close(db);
    engine_free(eng);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    router_stop(r);
    router_loops_stop(loops);
    router_free(r);
    router_config_cleanup(&cfg);
    unlink(rules);
    devstack_stop(ds);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
