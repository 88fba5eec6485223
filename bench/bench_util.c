/* bench_util.c: what every benchmark shares (bench.h): throwaway servers
 * when no --db is given, the process's resident memory, and for the
 * benchmarks that run the service in process a paced publisher and waits. */
#include "bench.h"
#include "clock.h"
#include "devstack.h"
#include "router.h"

#include <nats/nats.h>

#include <time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_with_db(const char *name, const char *db,
                  int (*measure)(const void *opts, const char *conninfo), const void *opts)
{
    if (db)
        return measure(opts, db);
    devstack *ds = NULL;
    devstack_opts dso = {.durable = true, .quiet = true};
    sy_error err = {0};
    if (devstack_start(&dso, &ds, &err) != SY_OK) {
        fprintf(stderr, "bench %s: %s\n", name, err.message);
        return SY_EXIT_UNAVAILABLE;
    }
    int rc = measure(opts, devstack_pg_conninfo(ds));
    devstack_stop(ds);
    return rc;
}

double bench_rss_mib_of(int pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    double mib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            mib = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    return mib;
}

double bench_rss_mib(void)
{
    return bench_rss_mib_of(0);
}

sy_status bench_open_publisher(const char *url, natsConnection **nc, jsCtx **js, sy_error *err)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 8192;
    /* a loaded box (the server slow to PubAck) stalls the publisher for
     * longer than nats.c's 200 ms default: wait, do not fail the run */
    jo.PublishAsync.StallWait = 30000;
    natsStatus s = natsConnection_ConnectTo(nc, url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(js, *nc, &jo);
    return s == NATS_OK ? SY_OK
                        : sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "publisher: %s",
                                       natsStatus_GetText(s));
}

sy_status bench_publish(jsCtx *js, const char *subject, bench_event_fn body, const void *arg,
                        long from, long to, long rate, sy_error *err)
{
    char buf[1024];
    int64_t t0 = sy_mono_ns();
    for (long i = from; i < to; i++) {
        if (rate > 0) {
            int64_t due = t0 + (int64_t)((double)(i - from) * 1e9 / (double)rate);
            int64_t now = sy_mono_ns();
            if (due > now + 200000) {
                struct timespec ts = {0, (long)(due - now)};
                nanosleep(&ts, NULL);
            }
        }
        int n = body(buf, sizeof buf, i, arg);
        natsStatus s = js_PublishAsync(js, subject, buf, n, NULL);
        if (s != NATS_OK)
            return sy_error_set(err, SY_NATS, "nats", NULL, "publish: %s", natsStatus_GetText(s));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    return s == NATS_OK
               ? SY_OK
               : sy_error_set(err, SY_NATS, "nats", NULL, "PubAcks: %s", natsStatus_GetText(s));
}

sy_status bench_wait_ready(router *r, sy_error *err)
{
    char why[128] = "";
    for (int i = 0; i < 600; i++) {
        if (router_ready(r, why, sizeof why))
            return SY_OK;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return sy_error_set(err, SY_TIMEOUT, NULL, NULL, "router not ready: %s", why);
}

bool bench_wait_count(const _Atomic uint64_t *counter, uint64_t want, long long timeout_ms)
{
    int64_t end = sy_mono_ms() + timeout_ms;
    while (atomic_load(counter) < want) {
        if (sy_mono_ms() > end)
            return false;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

sy_status bench_servers_given_together(const char *nats, const char *db, sy_error *err)
{
    if (!nats != !db)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "--nats and --db go together");
    return SY_OK;
}
