/* bench_engine.c: `switchyard bench engine`. Workflow starts per second for
 * one-step workflows (each start writes its inbox row, workflow_ids and run
 * rows, one history page, a task, and two messages of its batch's outbox
 * page), applied through engine_batch_apply in batches of 256 events per
 * transaction, as the router applies them; then signals per second to
 * running workflows (each signal appends and publishes one event; a
 * signaled run's state comes from the engine's cache after its first).
 *
 * --sessions N (default 2, one per core) applies batches from N sessions in
 * parallel threads, as a router with N pipeline workers does: one session
 * leaves a core idle while it waits for its round trips.
 *
 * Starts a throwaway durable Postgres (fsync and synchronous_commit on)
 * through devstack unless --db CONNINFO is given; works in a schema of its
 * own, dropped at the end. Last stdout line: one JSON object. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "engine.h"
#include "status.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char DEFS[] =
    "{\"bench-one\":{\"type\":\"bench-one\",\"task_queue\":\"bench\",\"steps\":[{\"kind\":\"task\","
    "\"name\":\"work\",\"task\":\"work\",\"queue\":\"bench\",\"input\":{\"n\":1},\"retry\":{"
    "\"initial_interval_ms\":1000,\"backoff\":2.0,\"maximum_interval_ms\":100000,"
    "\"maximum_attempts\":0,\"non_retryable\":[]},\"timeouts\":{\"schedule_to_start_ms\":0,"
    "\"start_to_close_ms\":0,\"schedule_to_close_ms\":0,\"heartbeat_ms\":0},"
    "\"continue_on_failure\":false}]},"
    "\"bench-wait\":{\"type\":\"bench-wait\",\"task_queue\":\"bench\",\"steps\":[{\"kind\":\"wait\","
    "\"name\":\"never\",\"signal\":\"never\",\"timeout_ms\":0,\"on_timeout\":\"fail\"}]}}";

typedef struct bench_opts {
    const char *db;
    size_t starts, signals, batch, sessions;
} bench_opts;

#define ENGINE_DEFAULTS                                                                            \
    {                                                                                              \
        .starts = 51200, .signals = 10240, .batch = 256, .sessions = 2                             \
    }

static const cliopt_opt ENGINE_OPTS[] = {
    {.name = "--db", .kind = CLIOPT_STRING, CLIOPT_FIELD(bench_opts, db), .arg = "CONNINFO",
     .help = "Postgres (default: a throwaway durable one)"},
    {.name = "--starts", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, starts), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "workflow starts (default 51200)"},
    {.name = "--signals", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, signals), .min = 0,
     .max = INT64_MAX, .arg = "N", .help = "signals (default 10240)"},
    {.name = "--batch", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, batch), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "events per transaction (default 256)"},
    {.name = "--sessions", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, sessions), .min = 1,
     .max = 16, .arg = "N", .help = "sessions applying batches in parallel (default 2)"},
};

static const cliopt_cmd ENGINE_CMD = {
    .name = "bench engine",
    .synopsis = "switchyard bench engine [--db CONNINFO] [--starts N] [--signals N] [--batch N] "
                "[--sessions N]",
    CLIOPT_TABLE(ENGINE_OPTS),
};

sy_status bench_engine_parse(int argc, char **argv, bool *help, sy_error *err)
{
    bench_opts o = ENGINE_DEFAULTS;
    return cliopt_parse(&ENGINE_CMD, argc, argv, &o, help, err);
}

/* Applies one batch in one transaction. */
static sy_status apply(engine_session *s, engine_batch *b, sy_error *err)
{
    sy_status st = engine_begin(s, err);
    if (st == SY_OK)
        st = engine_batch_apply(s, b, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    return st;
}

/* One session's share of a phase: items [from, to) of kind start or signal. */
typedef struct worker {
    const bench_opts *o;
    engine_session *s;
    const char *type, *prefix;
    bool signals;
    size_t from, to, targets;
    sy_status st;
    sy_error err;
    pthread_t th;
} worker;

static void add_item(worker *w, engine_batch *b, size_t i)
{
    char eid[64], wid[64];
    if (w->signals) {
        snprintf(eid, sizeof eid, "sig-ev-%zu", i);
        snprintf(wid, sizeof wid, "w-%zu", i % w->targets);
        engine_signal_req req = {.workflow_id = wid, .signal = "poke", .event_id = eid};
        engine_batch_signal(b, engine_batch_event(b, eid), &req);
    } else {
        snprintf(eid, sizeof eid, "%s-ev-%zu", w->prefix, i);
        snprintf(wid, sizeof wid, "%s-%zu", w->prefix, i);
        engine_start_req req = {.workflow_type = w->type, .workflow_id = wid, .event_id = eid};
        engine_batch_start(b, engine_batch_event(b, eid), &req);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    engine_batch *b = engine_batch_new();
    w->st = SY_OK;
    for (size_t i = w->from; i < w->to && w->st == SY_OK;) {
        engine_batch_reset(b);
        for (size_t k = 0; k < w->o->batch && i < w->to; k++, i++)
            add_item(w, b, i);
        w->st = apply(w->s, b, &w->err);
    }
    engine_batch_free(b);
    return NULL;
}

/* Runs n items split over the sessions, one thread each; returns seconds
 * (< 0 on error, *err set). Signals go to targets workflows w-<i>; a
 * signal's target is in the same session's share when n is a multiple. */
static double run_phase(engine_session **ss, const bench_opts *o, const char *type,
                        const char *prefix, bool signals, size_t n, size_t targets, sy_error *err)
{
    worker w[16];
    int64_t t0 = sy_mono_ns();
    for (size_t k = 0; k < o->sessions; k++) {
        w[k] = (worker){.o = o, .s = ss[k], .type = type, .prefix = prefix, .signals = signals,
                        .from = n * k / o->sessions, .to = n * (k + 1) / o->sessions,
                        .targets = targets};
        pthread_create(&w[k].th, NULL, work, &w[k]);
    }
    sy_status st = SY_OK;
    for (size_t k = 0; k < o->sessions; k++) {
        pthread_join(w[k].th, NULL);
        if (w[k].st != SY_OK && st == SY_OK) {
            st = w[k].st;
            *err = w[k].err;
        }
    }
    return st == SY_OK ? (double)(sy_mono_ns() - t0) / 1e9 : -1;
}

/* "drop cascades to table ..." notices are expected: not for stderr */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void drop_schema(const char *conninfo, const char *schema)
{
    PGconn *c = PQconnectdb(conninfo);
    PQsetNoticeProcessor(c, quiet, NULL);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

static int measure(const void *opts, const char *conninfo)
{
    const bench_opts *o = opts;
    char schema[64];
    snprintf(schema, sizeof schema, "sy_bench_%d", (int)getpid());
    cJSON *defs = cJSON_Parse(DEFS);
    engine_opts eo = {.schema = schema, .workflows = defs};
    engine *eng = NULL;
    engine_session *ss[16] = {0};
    sy_error err = {0};
    sy_status st = engine_new(&eo, NULL, &eng, &err);
    cJSON_Delete(defs);
    for (size_t k = 0; st == SY_OK && k < o->sessions; k++)
        st = engine_session_open(eng, conninfo, k == 0, &ss[k], &err);
    double t_start = -1, t_sig = -1;
    /* signal targets: one per signal, up to 1024 per session, evenly split */
    size_t targets = o->signals < 1024 * o->sessions ? o->signals : 1024 * o->sessions;
    if (st == SY_OK &&
        (t_start = run_phase(ss, o, "bench-one", "s", false, o->starts, 0, &err)) < 0)
        st = err.status;
    if (st == SY_OK && targets && run_phase(ss, o, "bench-wait", "w", false, targets, 0, &err) < 0)
        st = err.status;
    if (st == SY_OK && (t_sig = run_phase(ss, o, NULL, NULL, true, o->signals, targets, &err)) < 0)
        st = err.status;
    for (size_t k = 0; k < o->sessions; k++)
        engine_session_close(ss[k]);
    engine_free(eng);
    drop_schema(conninfo, schema);
    if (st != SY_OK) {
        fprintf(stderr, "bench engine: %s\n", err.message);
        return sy_status_exit_code(st);
    }
    double sps = o->starts / t_start, gps = o->signals / t_sig;
    printf("engine: %zu one-step starts in %.2f s (%.0f starts/s), %zu signals in %.2f s "
           "(%.0f signals/s), batch %zu, %zu sessions\n",
           o->starts, t_start, sps, o->signals, t_sig, gps, o->batch, o->sessions);
    printf("{\"bench\":\"engine\",\"starts\":%zu,\"signals\":%zu,\"batch\":%zu,\"sessions\":%zu,"
           "\"seconds\":%.3f,\"starts_per_s\":%.0f,\"signal_seconds\":%.3f,\"signals_per_s\":%.0f,"
           "\"rss_mib\":%.1f}\n",
           o->starts, o->signals, o->batch, o->sessions, t_start, sps, t_sig, gps, bench_rss_mib());
    return SY_EXIT_OK;
}

int bench_engine(int argc, char **argv)
{
    bench_opts o = ENGINE_DEFAULTS;
    bool help = false;
    sy_error err;
    sy_status st = cliopt_parse(&ENGINE_CMD, argc, argv, &o, &help, &err);
    if (st != SY_OK || help)
        return cliopt_usage_exit(&ENGINE_CMD, st, &err);
    return bench_with_db("engine", o.db, measure, &o);
}
