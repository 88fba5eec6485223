/* bench_roundtrip.c: `switchyard bench roundtrip [--count N] [--nats URL]
 * [--db CONNINFO] [--batch N] [--worker-cmd CMD]` (bench/README.md).
 *
 * Workflow round trips per second through the whole service: events are
 * published to a JetStream stream, the router (in this process, as `serve`
 * runs it: pipelines, outbox relay, timers) starts one workflow per event,
 * the relay publishes task.created, a native no-op worker inside the bench
 * (bench_roundtrip_worker.c) reports task.completed (acking each task only
 * after its report's PubAck), the engine's report consumer applies the
 * reports, and the relay publishes workflow.completed, which the bench
 * counts. Self-contained (devstack, durable) unless --nats and --db are
 * given. --worker-cmd runs a worker process instead of the native one (a
 * client library's worker: clients/bench.sh measures them against the
 * native one, interleaved, on the same servers); the clock starts once it
 * has a pull open. Last stdout line: {"bench":"roundtrip",...}.
 *
 * All the events are published at once, so up to --count workflows are
 * in flight: the state cache is sized to hold them (engine.state_cache,
 * as an operator sizes it to the workflows running at a time), else a
 * workflow's report would find its state pushed out by later starts. */
#include "bench.h"
#include "cliopt.h"
#include "bench_roundtrip.h"
#include "clock.h"
#include "config.h"
#include "devstack.h"
#include "loops.h"
#include "router.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rt_args {
    long count;
    int batch, pipelines, reporters, lanes;
    long hold_ms;   /* engine.hold_started; -1: the default */
    long linger_ms; /* engine.report_linger; -1: the default */
    const char *nats, *db, *worker_cmd;
    bool worker_started;
} rt_args;

static const char RULES[] = "version: 1\n"
                            "routes:\n"
                            "  - name: rt\n"
                            "    match: { type: bench.rt }\n"
                            "    start:\n"
                            "      workflow: rt\n"
                            "      id: \"rt-{{ payload.tag }}-{{ payload.n }}\"\n"
                            "      input: { n: \"{{ payload.n }}\" }\n"
                            "workflows:\n"
                            "  rt:\n"
                            "    task_queue: rtq\n"
                            "    steps:\n"
                            "      - task: noop\n"
                            "        input: { n: \"{{ input.n }}\" }\n"
                            "        retry: { maximum_attempts: 3 }\n";

static const cliopt_opt RT_OPTS[] = {
    {.name = "--count",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, count),
     .min = 1,
     .max = INT64_MAX,
     .arg = "N",
     .help = "workflows (default 10000)"},
    {.name = "--batch",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, batch),
     .min = 1,
     .max = INT32_MAX,
     .arg = "N",
     .help = "the router's and the worker's batch size (default 256)"},
    {.name = "--pipelines",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, pipelines),
     .min = 1,
     .max = 64,
     .arg = "N",
     .help = "the router's pipelines (consumer.pipelines, default 2)"},
    {.name = "--report-consumers",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, reporters),
     .min = 1,
     .max = 16,
     .arg = "N",
     .help = "the engine's report consumers (engine.report_consumers, default 2)"},
    {.name = "--hold-started-ms",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, hold_ms),
     .min = 0,
     .max = 10000,
     .arg = "MS",
     .help = "how long the engine holds a claimed task.started (engine.hold_started, default "
             "250; 0: none)"},
    {.name = "--linger-ms",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, linger_ms),
     .min = 0,
     .max = 1000,
     .arg = "MS",
     .help = "how long fetched reports wait for more before one transaction (engine.report_linger, "
             "default 10; 0: none)"},
    {.name = "--worker-lanes",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(rt_args, lanes),
     .min = 1,
     .max = 64,
     .arg = "N",
     .help = "the native worker's fetch loops, each on its own connection (default 1)"},
    {.name = "--nats",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(rt_args, nats),
     .arg = "URL",
     .help = "NATS (default: a throwaway one)"},
    {.name = "--db",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(rt_args, db),
     .arg = "CONNINFO",
     .help = "Postgres (default: a throwaway durable one)"},
    {.name = "--worker-cmd",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(rt_args, worker_cmd),
     .arg = "CMD",
     .help = "run this worker (sh -c; $SY_NATS_URL, $SY_QUEUE) instead of the native one"},
    {.name = "--worker-started",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(rt_args, worker_started),
     .help = "the native worker sends task.started too (as the client libraries do)"},
};

static const cliopt_cmd RT_CMD = {
    .name = "bench roundtrip",
    .synopsis = "switchyard bench roundtrip [--count N] [--batch N] [--nats URL] [--db CONNINFO]\n"
                "         [--pipelines N] [--report-consumers N] [--worker-lanes N]\n"
                "         [--worker-cmd CMD | --worker-started]",
    CLIOPT_TABLE(RT_OPTS),
};

sy_status bench_roundtrip_parse(int argc, char **argv, bool *help, sy_error *err)
{
    rt_args a = {.count = 10000, .batch = 256};
    return cliopt_parse(&RT_CMD, argc, argv, &a, help, err);
}

/* Writes the rules file into dir; returns the router configuration text. */
static char *write_config(const char *dir, const rt_args *a, sy_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rules.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(RULES, f) < 0) {
        if (f)
            fclose(f);
        sy_error_set(err, SY_IO, NULL, NULL, "could not write %s", path);
        return NULL;
    }
    fclose(f);
    char engine_extra[96] = ""; /* the engine options given */
    if (a->hold_ms >= 0)
        snprintf(engine_extra, sizeof engine_extra, ", hold_started: %ldms", a->hold_ms);
    if (a->linger_ms >= 0)
        snprintf(engine_extra + strlen(engine_extra), sizeof engine_extra - strlen(engine_extra),
                 ", report_linger: %ldms", a->linger_ms);
    sy_buf b = SY_BUF_INIT;
    sy_buf_printf(&b,
                  "nats: { urls: [\"%s\"] }\n"
                  "postgres: { conninfo: \"%s\", migrate: true }\n"
                  "stream: { name: BENCH_RT, subjects: [bench.rt.>], storage: file }\n"
                  "consumer: { name: bench-rt, pipelines: %d, batch_size: %d, fetch_wait: 20ms }\n"
                  "limits: { max_ack_pending: 50000 }\n"
                  "engine: { state_cache: %ld, report_consumers: %d%s }\n"
                  "rules: { path: \"%s\" }\n"
                  "log: { level: warn }\n",
                  a->nats, a->db, a->pipelines, a->batch, a->count > 4096 ? a->count : 4096L,
                  a->reporters, engine_extra, path);
    return sy_buf_take(&b);
}

/* The stream covering sy.> that the relay publishes outcome events into. */
static sy_status ensure_sy_stream(jsCtx *js, sy_error *err)
{
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {"sy.>"};
    sc.Name = "SY";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = (int64_t)120 * 1000 * 1000000;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK || jerr == JSStreamNameExistErr)
        return SY_OK;
    return sy_error_set(err, SY_NATS, "nats", NULL, "could not create stream SY: %s (%d)",
                        natsStatus_GetText(s), (int)jerr);
}

static void on_completed(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    atomic_fetch_add((_Atomic long *)closure, 1);
    natsMsg_Destroy(msg);
}

/* Publishes the events (async, then waits for every PubAck). */
static sy_status publish_events(jsCtx *js, long count, const char *tag, sy_error *err)
{
    char body[512], subject[64];
    for (long i = 0; i < count; i++) {
        snprintf(subject, sizeof subject, "bench.rt.%ld", i % 16);
        int n = snprintf(body, sizeof body,
                         "{\"event_id\":\"rt-%s-%ld\",\"type\":\"bench.rt\",\"source\":\"bench\","
                         "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"trace_id\":"
                         "\"%032lx\",\"schema_version\":1,\"payload\":{\"tag\":\"%s\",\"n\":%ld}}",
                         tag, i, i + 1, tag, i);
        if (js_PublishAsync(js, subject, body, n, NULL) != NATS_OK)
            return sy_error_set(err, SY_NATS, "nats", NULL, "could not publish event %ld", i);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "events not acknowledged in time");
    return SY_OK;
}

typedef struct rt_run {
    rt_args a;
    router_config cfg;
    router *r;
    router_loops *loops; /* the relay, the report consumer, timers: as serve runs them */
    rt_worker *w;
    int worker_pid; /* --worker-cmd */
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *done_sub;
    _Atomic long completed;
    uint64_t cache_hits, cache_misses; /* the engine's state cache, read before stopping */
    sy_log log;
} rt_run;

static sy_status start_service(rt_run *run, const char *dir, sy_error *err)
{
    char *text = write_config(dir, &run->a, err);
    if (!text)
        return err->status;
    router_config_init(&run->cfg);
    sy_status st = router_config_parse(&run->cfg, "bench", text, strlen(text), err);
    free(text);
    if (st == SY_OK)
        st = router_config_validate(&run->cfg, err);
    if (st == SY_OK)
        st = router_new(&run->cfg, &run->log, &run->r, err);
    if (st == SY_OK)
        st = router_start(run->r, err);
    if (st == SY_OK)
        st = router_loops_start(&run->cfg, run->r, &run->log, &run->loops, err);
    if (st == SY_OK)
        st = rt_worker_consumer(run->a.nats, "rtq", err);
    if (st == SY_OK && run->a.worker_cmd)
        st = rt_worker_cmd_start(run->a.worker_cmd, run->a.nats, "rtq", &run->worker_pid, err);
    else if (st == SY_OK)
        st = rt_worker_start(run->a.nats, "rtq", run->a.batch, run->a.lanes, run->a.worker_started,
                             &run->w, err);
    return st;
}

static void stop_service(rt_run *run)
{
    rt_worker_stop(run->w);
    rt_worker_cmd_stop(run->worker_pid);
    router_stop(run->r);
    router_loops_stop(run->loops);
    router_free(run->r);
    router_config_cleanup(&run->cfg);
    natsSubscription_Destroy(run->done_sub);
    jsCtx_Destroy(run->js);
    natsConnection_Destroy(run->nc);
}

static sy_status connect_client(rt_run *run, sy_error *err)
{
    natsStatus s = natsConnection_ConnectTo(&run->nc, run->a.nats);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    /* on a loaded box 4096 PubAcks may take longer than nats.c's default
     * stall of 200 ms: the publisher waits instead of failing the run */
    jo.PublishAsync.StallWait = 30000;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&run->js, run->nc, &jo);
    if (s != NATS_OK)
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not connect to %s",
                            run->a.nats);
    sy_status st = ensure_sy_stream(run->js, err);
    if (st == SY_OK && natsConnection_Subscribe(&run->done_sub, run->nc, "sy.workflow.completed.rt",
                                                on_completed, (void *)&run->completed) != NATS_OK)
        st = sy_error_set(err, SY_NATS, "nats", NULL, "could not subscribe");
    return st;
}

/* Publishes the events and waits for every workflow.completed. */
static sy_status measure(rt_run *run, double *seconds, sy_error *err)
{
    char tag[24];
    snprintf(tag, sizeof tag, "%lx%x", (unsigned long)sy_clock_now_ms(NULL), (unsigned)getpid());
    int64_t t0 = sy_mono_ns();
    sy_status st = publish_events(run->js, run->a.count, tag, err);
    long last = -1, ticks = 0;
    int64_t last_change = sy_mono_ns();
    while (st == SY_OK && atomic_load(&run->completed) < run->a.count) {
        usleep(20 * 1000);
        long now = atomic_load(&run->completed);
        /* progress of the earlier stages, to see where a slow run waits:
         * counted in this process (subscribing to workflow.started and
         * the reports cost nats-server and this process a delivery each) */
        if (++ticks % 50 == 0) /* a --worker-cmd's reports are not counted here */
            fprintf(stderr, "  %.1f s: %llu started, %ld reported, %ld completed\n",
                    (double)(sy_mono_ns() - t0) / 1e9,
                    (unsigned long long)atomic_load(&router_get_metrics(run->r)->started),
                    run->w ? rt_worker_reported(run->w) : -1L, now);
        if (now != last) {
            last = now;
            last_change = sy_mono_ns();
        } else if (sy_mono_ns() - last_change > 30LL * 1000000000) {
            st = sy_error_set(err, SY_TIMEOUT, NULL, NULL,
                              "stalled: %ld of %ld workflows completed", now, run->a.count);
        }
    }
    *seconds = (double)(sy_mono_ns() - t0) / 1e9;
    return st;
}

static void print_result(const rt_run *run, double secs)
{
    double rate = (double)run->a.count / secs;
    printf("roundtrip: %ld workflows (event -> task.created -> worker -> task.completed -> "
           "workflow.completed) in %.2f s: %.0f workflows/s; state cache %llu hits, %llu misses\n",
           run->a.count, secs, rate, (unsigned long long)run->cache_hits,
           (unsigned long long)run->cache_misses);
    cJSON *worker = cJSON_CreateString(run->a.worker_cmd       ? run->a.worker_cmd
                                       : run->a.worker_started ? "native-started"
                                                               : "native");
    char *w = cJSON_PrintUnformatted(worker);
    printf("{\"bench\":\"roundtrip\",\"worker\":%s,\"workflows\":%ld,\"seconds\":%.3f,"
           "\"workflows_per_s\":%.1f,\"state_cache_hits\":%llu,\"state_cache_misses\":%llu,"
           "\"rss_mib\":%.1f}\n",
           w ? w : "null", run->a.count, secs, rate, (unsigned long long)run->cache_hits,
           (unsigned long long)run->cache_misses, bench_rss_mib());
    free(w);
    cJSON_Delete(worker);
}

int bench_roundtrip(int argc, char **argv)
{
    rt_run run;
    memset(&run, 0, sizeof run);
    run.a = (rt_args){.count = 10000,
                      .batch = 256,
                      .pipelines = 2,
                      .reporters = 2,
                      .lanes = 1,
                      .hold_ms = -1,
                      .linger_ms = -1};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&RT_CMD, argc, argv, &run.a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&RT_CMD, pst, &perr);
    signal(SIGPIPE, SIG_IGN);
    sy_log_init(&run.log, SY_LOG_WARN, 2);
    sy_error err;
    sy_error_clear(&err);
    devstack *ds = NULL;
    if (!run.a.nats || !run.a.db) {
        devstack_opts o = {.durable = true, .quiet = true};
        if (devstack_start(&o, &ds, &err) != SY_OK) {
            fprintf(stderr, "bench roundtrip: %s\n", err.message);
            return sy_status_exit_code(err.status);
        }
        run.a.nats = run.a.nats ? run.a.nats : devstack_nats_url(ds);
        run.a.db = run.a.db ? run.a.db : devstack_pg_conninfo(ds);
    }
    char dir[] = "/tmp/sy-bench-rt-XXXXXX";
    sy_status st = mkdtemp(dir) ? SY_OK : SY_IO;
    if (st != SY_OK)
        sy_error_set(&err, SY_IO, NULL, NULL, "could not create a temporary directory");
    if (st == SY_OK)
        st = connect_client(&run, &err);
    if (st == SY_OK)
        st = start_service(&run, dir, &err);
    double secs = 0;
    if (st == SY_OK)
        st = measure(&run, &secs, &err);
    if (run.r) {
        const router_metrics *m = router_get_metrics(run.r);
        run.cache_hits = atomic_load(&m->engine[ENGINE_STAT_STATE_HITS]);
        run.cache_misses = atomic_load(&m->engine[ENGINE_STAT_STATE_MISSES]);
    }
    stop_service(&run);
    char path[600];
    snprintf(path, sizeof path, "%s/rules.yaml", dir);
    unlink(path);
    rmdir(dir);
    if (st == SY_OK)
        print_result(&run, secs);
    else
        fprintf(stderr, "bench roundtrip: %s\n", err.message);
    devstack_stop(ds);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
