/* bench_schedules.c: `switchyard bench schedules`. N schedules (default
 * 100000) each firing every minute: how late is each slot's workflow started
 * (committed) after its due time.
 *
 * Two shapes. By default every schedule is "* * * * *", all due at the same
 * minute boundary: the thundering herd, the worst case; the lag of a firing
 * is its round's commit time minus that due time (exact). With --spread the
 * schedules are "S * * * * *" with S = i mod 60, due at the 60 seconds of
 * the minute (N/60 at each second), as a fleet of minutely jobs with jitter
 * would be; one session fires them as they fall due, and the lag of a
 * round's firings is bounded by its commit time minus the earliest due time
 * any of them can have: the second after the claim of the last round that
 * was not full (that round fired everything due by then).
 *
 * The schedules are created ahead on a virtual clock (the real clock plus an
 * offset, like SWITCHYARD_TEST_TIME_OFFSET_MS), so the run does not wait for
 * a real minute boundary; --sessions N (default 2, one per core) threads each
 * call engine_schedules_run_once (claims of --batch rows, FOR UPDATE SKIP
 * LOCKED) back to back from the due time until every slot fired, as N serve
 * processes would. p50, p99 and max lag over all firings. Each firing starts
 * a one-task workflow (its task.created and the schedule.fired event go to
 * the outbox).
 *
 * Starts a throwaway durable Postgres unless --db CONNINFO is given; works in
 * a schema of its own, dropped at the end. Last stdout line: one JSON object. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "engine.h"
#include "schedule.h"
#include "status.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char DEFS[] =
    "{\"bench-tick\":{\"type\":\"bench-tick\",\"task_queue\":\"bench\",\"steps\":[{\"kind\":"
    "\"task\",\"name\":\"work\",\"task\":\"work\",\"queue\":\"bench\",\"input\":{},\"retry\":{"
    "\"initial_interval_ms\":1000,\"backoff\":2.0,\"maximum_interval_ms\":100000,"
    "\"maximum_attempts\":0,\"non_retryable\":[]},\"timeouts\":{\"schedule_to_start_ms\":0,"
    "\"start_to_close_ms\":0,\"schedule_to_close_ms\":0,\"heartbeat_ms\":0},"
    "\"continue_on_failure\":false}]}}";

typedef struct bench_opts {
    const char *db;
    size_t schedules, sessions, batch;
    bool spread;
} bench_opts;

#define SCHEDULES_DEFAULTS                                                                         \
    {                                                                                              \
        .schedules = 100000, .sessions = 2, .batch = 1000                                          \
    }

static const cliopt_opt SCHEDULES_OPTS[] = {
    {.name = "--db", .kind = CLIOPT_STRING, CLIOPT_FIELD(bench_opts, db), .arg = "CONNINFO",
     .help = "Postgres (default: a throwaway durable one)"},
    {.name = "--schedules", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, schedules), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "schedules due at once (default 100000)"},
    {.name = "--sessions", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, sessions), .min = 1,
     .max = 16, .arg = "N", .help = "sessions firing in parallel (default 2)"},
    {.name = "--batch", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, batch), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "schedules claimed per round (default 1000)"},
    {.name = "--spread", .kind = CLIOPT_FLAG, CLIOPT_FIELD(bench_opts, spread),
     .help = "due at the 60 seconds of the minute instead of all at once (one session)"},
};

static const cliopt_cmd SCHEDULES_CMD = {
    .name = "bench schedules",
    .synopsis = "switchyard bench schedules [--db CONNINFO] [--schedules N] [--sessions N] "
                "[--batch N] [--spread]",
    CLIOPT_TABLE(SCHEDULES_OPTS),
};

sy_status bench_schedules_parse(int argc, char **argv, bool *help, sy_error *err)
{
    bench_opts o = SCHEDULES_DEFAULTS;
    return cliopt_parse(&SCHEDULES_CMD, argc, argv, &o, help, err);
}

/* Lag samples: one per round (every firing of a round committed together). */
typedef struct sample {
    int64_t lag_ms;
    size_t count;
} sample;

typedef struct worker {
    engine_session *s;
    int64_t offset_ms, due_ms;
    bool spread;
    int64_t pending_from_ms; /* spread: no slot due before this is still unfired */
    size_t batch, *total, target;
    pthread_mutex_t *mu;
    sample *samples;
    size_t nsamples, cap;
    sy_status st;
    sy_error err;
    pthread_t th;
} worker;

static int64_t vnow(const worker *w)
{
    sy_clock c = {.offset_ms = w->offset_ms};
    return sy_clock_now_ms(&c);
}

static void *work(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_mutex_lock(w->mu);
        bool done = *w->total >= w->target;
        pthread_mutex_unlock(w->mu);
        if (done)
            return NULL;
        size_t fired = 0;
        int64_t claim = vnow(w);
        w->st = engine_schedules_run_once(w->s, claim, w->batch, &fired, &w->err);
        if (w->st != SY_OK)
            return NULL;
        int64_t lag = vnow(w) - w->due_ms;
        if (w->spread) {
            /* every slot of this round was due at pending_from or later; a
             * round that was not full fired all that was due at its claim,
             * so what is left falls due at the next second or later */
            lag = vnow(w) - w->pending_from_ms;
            if (fired < w->batch && claim >= w->due_ms)
                w->pending_from_ms = w->due_ms + ((claim - w->due_ms) / 1000 + 1) * 1000;
        }
        pthread_mutex_lock(w->mu);
        *w->total += fired;
        pthread_mutex_unlock(w->mu);
        if (fired && w->nsamples == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 256;
            w->samples = realloc(w->samples, w->cap * sizeof *w->samples);
        }
        if (fired)
            w->samples[w->nsamples++] = (sample){lag, fired};
        else
            usleep(2000); /* the rest is claimed by others: leave them the CPU */
    }
}

static int by_lag(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    return (x->lag_ms > y->lag_ms) - (x->lag_ms < y->lag_ms);
}

/* The lag at quantile q of all firings (weighted by count). */
static int64_t quantile(const sample *s, size_t n, size_t total, double q)
{
    size_t want = (size_t)(q * (double)total), seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen += s[i].count;
        if (seen > want)
            return s[i].lag_ms;
    }
    return n ? s[n - 1].lag_ms : 0;
}

/* The schema drop's "drop cascades to ..." NOTICE is expected: not shown. */
static void no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static sy_status exec_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PQsetNoticeProcessor(c, no_notices, NULL);
    PGresult *r = PQexec(c, sql);
    sy_status st = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
                       ? SY_OK
                       : SY_DB;
    if (st != SY_OK)
        fprintf(stderr, "bench schedules: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return st;
}

/* Creates the schedules with their first slot at the virtual minute due_ms. */
static sy_status seed(engine_session *s, const char *conninfo, const char *schema, size_t n,
                      bool spread, int64_t due_ms, sy_error *err)
{
    sy_status st = engine_begin(s, err);
    /* spread: n/60 schedules at each second S of the minute, "S * * * * *" */
    for (int sec = 0; st == SY_OK && sec < (spread ? 60 : 1); sec++) {
        char cron[32], json[160], prefix[32];
        snprintf(cron, sizeof cron, spread ? "%d * * * * *" : "* * * * *", sec);
        snprintf(json, sizeof json,
                 "{\"cron\":\"%s\",\"workflow\":\"bench-tick\",\"overlap\":\"allow_all\"}", cron);
        snprintf(prefix, sizeof prefix, "tick-%d-", sec);
        size_t k = spread ? n / 60 + ((size_t)sec < n % 60) : n;
        cJSON *def = cJSON_Parse(json);
        if (k)
            /* created just before the due minute: the first slot of each
             * is in it (second 0 at due_ms, second 59 at due_ms + 59 s) */
            st = engine_schedules_create_many(s, prefix, k, def, due_ms - (spread ? 1 : 30000), err);
        cJSON_Delete(def);
    }
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    char sql[128];
    snprintf(sql, sizeof sql, "ANALYZE %s.schedules", schema);
    return st == SY_OK ? exec_sql(conninfo, sql) : st;
}

/* Runs the workers from due_ms until n slots fired; fills the samples. */
static sy_status fire_all(engine_session **ss, const bench_opts *o, int64_t due_ms, worker *w,
                          double *seconds, sy_error *err)
{
    /* jump the virtual clock to 100 ms before the due minute */
    int64_t offset = (due_ms - 100) - sy_clock_now_ms(NULL);
    usleep(100000);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    size_t total = 0;
    int64_t t0 = sy_mono_ns();
    for (size_t k = 0; k < o->sessions; k++) {
        w[k] = (worker){.s = ss[k],
                        .offset_ms = offset,
                        .due_ms = due_ms,
                        .spread = o->spread,
                        .pending_from_ms = due_ms,
                        .batch = o->batch,
                        .total = &total,
                        .target = o->schedules,
                        .mu = &mu};
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
    *seconds = (double)(sy_mono_ns() - t0) / 1e9;
    return st;
}

static void report(const bench_opts *o, worker *w, double seconds)
{
    size_t n = 0, total = 0;
    for (size_t k = 0; k < o->sessions; k++)
        n += w[k].nsamples;
    sample *all = calloc(n ? n : 1, sizeof *all);
    n = 0;
    for (size_t k = 0; k < o->sessions; k++)
        for (size_t i = 0; i < w[k].nsamples; i++) {
            all[n++] = w[k].samples[i];
            total += w[k].samples[i].count;
        }
    qsort(all, n, sizeof *all, by_lag);
    int64_t p50 = quantile(all, n, total, 0.50), p99 = quantile(all, n, total, 0.99);
    int64_t max = n ? all[n - 1].lag_ms : 0;
    double rate = seconds > 0 ? (double)total / seconds : 0;
    printf("schedules: %zu schedules due %s, %zu fired in %.2f s "
           "(%.0f fires/s); lag after due time p50 %lld ms, p99 %lld ms, max %lld ms; "
           "%zu sessions, claims of %zu\n",
           o->schedules, o->spread ? "over the 60 seconds of a minute" : "at one minute boundary",
           total, seconds, rate, (long long)p50, (long long)p99, (long long)max, o->sessions,
           o->batch);
    printf("{\"bench\":\"schedules\",\"schedules\":%zu,\"spread\":%s,\"fired\":%zu,"
           "\"sessions\":%zu,\"batch\":%zu,\"seconds\":%.3f,\"fires_per_s\":%.0f,\"p50_ms\":%lld,"
           "\"p99_ms\":%lld,\"max_ms\":%lld,\"within_1s\":%s,\"rss_mib\":%.1f}\n",
           o->schedules, o->spread ? "true" : "false", total, o->sessions, o->batch, seconds,
           rate, (long long)p50, (long long)p99, (long long)max,
           max <= 1000 ? "true" : "false", bench_rss_mib());
    free(all);
}

static int measure(const void *opts, const char *conninfo)
{
    const bench_opts *o = opts;
    char schema[64], sql[128];
    snprintf(schema, sizeof schema, "sy_bench_sched_%d", (int)getpid());
    cJSON *defs = cJSON_Parse(DEFS);
    engine_opts eo = {.schema = schema, .workflows = defs};
    engine *eng = NULL;
    engine_session *ss[16] = {0};
    worker w[16];
    memset(w, 0, sizeof w);
    sy_error err = {0};
    sy_status st = engine_new(&eo, NULL, &eng, &err);
    cJSON_Delete(defs);
    for (size_t k = 0; st == SY_OK && k < o->sessions; k++)
        st = engine_session_open(eng, conninfo, k == 0, &ss[k], &err);
    int64_t due = (sy_clock_now_ms(NULL) / 60000 + 2) * 60000;
    double seconds = 0;
    if (st == SY_OK)
        st = seed(ss[0], conninfo, schema, o->schedules, o->spread, due, &err);
    if (st == SY_OK)
        st = fire_all(ss, o, due, w, &seconds, &err);
    if (st == SY_OK)
        report(o, w, seconds);
    for (size_t k = 0; k < o->sessions; k++) {
        engine_session_close(ss[k]);
        free(w[k].samples);
    }
    engine_free(eng);
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    (void)exec_sql(conninfo, sql);
    if (st != SY_OK) {
        fprintf(stderr, "bench schedules: %s\n", err.message);
        return sy_status_exit_code(st);
    }
    return SY_EXIT_OK;
}

int bench_schedules(int argc, char **argv)
{
    bench_opts o = SCHEDULES_DEFAULTS;
    bool help = false;
    sy_error err;
    sy_status st = cliopt_parse(&SCHEDULES_CMD, argc, argv, &o, &help, &err);
    if (st != SY_OK || help)
        return cliopt_usage_exit(&SCHEDULES_CMD, st, &err);
    if (o.spread)
        o.sessions = 1; /* the lag bound needs claims one after another */
    return bench_with_db("schedules", o.db, measure, &o);
}
