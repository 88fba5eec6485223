/* bench_faults_inject.c: the fault thread of `bench faults` (bench_faults.h).
 *
 * While the traffic runs it injects the scenario's fault every
 * gap_min..gap_max ms, at least p->faults times and, for serve-kill, for as
 * long as the traffic lasts: SIGKILL of one of the two serve processes
 * (restarted at once); Postgres shut down "immediate" (SIGQUIT: a crash,
 * recovered at the next start) and started 2 s later, alternating with
 * pg_terminate_backend of every connection of the service; nats-server
 * SIGKILLed and started 2 s later on its store. After each it measures the
 * reconnect time: from the fault's end (the process or the server back)
 * until every serve process answers /readyz 200. */
#include "bench_faults.h"

#include "bench.h"
#include "clock.h"
#include "devstack.h"

#include <libpq-fe.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FX_DOWN_MS 2000 /* how long a server stays down */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool fx_all_ready(fx_ctx *c, int timeout_ms)
{
    for (int64_t until = sy_mono_ms() + timeout_ms;;) {
        bool all = true;
        for (int i = 0; i < FX_SERVES && all; i++)
            all = c->serve[i].pid > 0 && fx_ready(c->serve[i].admin_port);
        if (all)
            return true;
        if (sy_mono_ms() >= until)
            return false;
        sleep_ms(20);
    }
}

double fx_serve_rss(const fx_ctx *c)
{
    double max = 0;
    for (int i = 0; i < FX_SERVES; i++) {
        double m = c->serve[i].pid > 0 ? bench_rss_mib_of(c->serve[i].pid) : 0;
        max = m > max ? m : max;
    }
    return max;
}

static void recovered(fx_ctx *c, int64_t since_ms)
{
    bool ok = fx_all_ready(c, 120000);
    double ms = (double)(sy_mono_ms() - since_ms);
    if (!ok && !c->r->example[0])
        snprintf(c->r->example, sizeof c->r->example,
                 "a serve process was not ready 120 s after fault %d", c->r->faults);
    c->reconnect_sum += ms;
    c->reconnects++;
    if (ms > c->r->reconnect_max_ms)
        c->r->reconnect_max_ms = ms;
}

static void kill_serve(fx_ctx *c, int k)
{
    fx_proc *victim = &c->serve[k % FX_SERVES];
    fx_proc_end(victim, SIGKILL, 0);
    sy_error err = {0};
    char log[600];
    snprintf(log, sizeof log, "%s", victim->log);
    int64_t t0 = sy_mono_ms();
    if (fx_proc_serve(victim, c->exe, c->config[k % FX_SERVES], victim->admin_port, log, &err) !=
        SY_OK)
        fprintf(stderr, "bench faults: could not restart serve: %s\n", err.message);
    recovered(c, t0);
}

/* Ends every backend of the service's database but our own. */
static void terminate_backends(fx_ctx *c)
{
    PGconn *pg = PQconnectdb(devstack_pg_conninfo(c->ds));
    PGresult *res = PQexec(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                               "AND backend_type = 'client backend'");
    PQclear(res);
    PQfinish(pg);
    recovered(c, sy_mono_ms());
}

static void crash_postgres(fx_ctx *c)
{
    sy_error err = {0};
    if (devstack_pg_crash(c->ds, &err) != SY_OK)
        fprintf(stderr, "bench faults: %s\n", err.message);
    sleep_ms(FX_DOWN_MS);
    if (devstack_pg_start(c->ds, &err) != SY_OK)
        fprintf(stderr, "bench faults: postgres did not come back: %s\n", err.message);
    recovered(c, sy_mono_ms());
}

static void kill_nats(fx_ctx *c)
{
    sy_error err = {0};
    if (devstack_nats_kill(c->ds, &err) != SY_OK)
        fprintf(stderr, "bench faults: %s\n", err.message);
    sleep_ms(FX_DOWN_MS);
    if (devstack_nats_start(c->ds, &err) != SY_OK)
        fprintf(stderr, "bench faults: nats-server did not come back: %s\n", err.message);
    recovered(c, sy_mono_ms());
}

/* The scenario's k-th fault; false for a scenario without server faults. */
static bool inject(fx_ctx *c, int k)
{
    switch (c->p->scen) {
    case FX_SERVE_KILL:
        kill_serve(c, k);
        return true;
    case FX_POSTGRES:
        if (k % 2 == 0)
            crash_postgres(c);
        else
            terminate_backends(c);
        return true;
    case FX_NATS:
        kill_nats(c);
        return true;
    default:
        return false;
    }
}

/* The faults wanted: serve-kill goes on while the traffic lasts; postgres
 * counts crashes and terminations (p->faults of each). */
static bool more(fx_ctx *c, int done)
{
    int want = c->p->scen == FX_POSTGRES ? 2 * c->p->faults : c->p->faults;
    if (done < want)
        return true;
    return c->p->scen == FX_SERVE_KILL && !atomic_load(&c->traffic_done);
}

/* Sleeps a random gap; returns early (false) when the traffic is done and
 * no more faults are wanted. */
static bool gap(fx_ctx *c, int done)
{
    int span = c->p->gap_max_ms - c->p->gap_min_ms;
    int64_t until = sy_mono_ms() + c->p->gap_min_ms + (span > 0 ? rand_r(&c->rng) % span : 0);
    while (sy_mono_ms() < until) {
        if (!more(c, done))
            return false;
        sleep_ms(20);
    }
    return more(c, done);
}

void *fx_inject(void *arg)
{
    fx_ctx *c = arg;
    bool faults = c->p->scen == FX_SERVE_KILL || c->p->scen == FX_POSTGRES || c->p->scen == FX_NATS;
    if (!faults) { /* the RSS "before": a tenth of the traffic in */
        while (!atomic_load(&c->traffic_done) && atomic_load(&c->starts_sent) < c->p->events / 10)
            sleep_ms(20);
        c->r->rss_before_mib = fx_serve_rss(c);
    }
    for (int k = 0; faults && gap(c, k); k++) {
        if (k == 0)
            c->r->rss_before_mib = fx_serve_rss(c);
        inject(c, k);
        c->r->faults++;
    }
    atomic_store(&c->faults_done, true);
    while (!atomic_load(&c->finished)) /* our children die with this thread */
        sleep_ms(50);
    return NULL;
}
