/* bench_faults_run.c: one `bench faults` scenario from start to verdict
 * (bench_faults.h): durable throwaway servers (devstack), two `switchyard
 * serve` processes and one `switchyard worker` as children, the traffic on
 * this thread and the faults on another, then quiescence (every started
 * workflow completed, the outbox empty, the events consumer with nothing
 * pending or unacked: nothing left that could still double), then the
 * check. The scenario's directory (configs, rules, keys, logs) is removed
 * unless something was wrong or --keep was given. */
#include "bench_faults.h"

#include "clock.h"
#include "devstack.h"

#include <libpq-fe.h>
#include <nats/nats.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FX_STREAM "FX"
#define FX_CONSUMER "faults"
#define FX_OUTCOMES "SY"
#define FX_QUEUE "fq"

/* Workflow ft-<tag>-<n>: one task for the worker, then a wait for signal
 * "go", then complete. */
static const char RULES[] = "version: 1\n"
                            "routes:\n"
                            "  - name: start\n"
                            "    match: { type: fault.start }\n"
                            "    start:\n"
                            "      workflow: ft\n"
                            "      id: \"ft-{{ payload.tag }}-{{ payload.n }}\"\n"
                            "      input: { n: \"{{ payload.n }}\" }\n"
                            "  - name: signal\n"
                            "    match: { type: fault.signal }\n"
                            "    signal:\n"
                            "      id: \"{{ subject }}\"\n"
                            "      name: go\n"
                            "      payload: \"{{ payload }}\"\n"
                            "      if_missing: dead_letter\n"
                            "workflows:\n"
                            "  ft:\n"
                            "    task_queue: " FX_QUEUE "\n"
                            "    steps:\n"
                            "      - task: work\n"
                            "        input: { n: \"{{ input.n }}\" }\n"
                            "      - wait: go\n"
                            "        timeout: 1h\n"
                            "      - complete: { n: \"{{ input.n }}\" }\n";

const char *const fx_scenario_names[] = {"serve-kill", "postgres",      "nats", "duplicates",
                                         "bad-input",  "forged-replay", NULL};

bool fx_result_ok(const fx_result *r)
{
    return r->lost == 0 && r->doubled_starts == 0 && r->doubled_signals == 0 &&
           r->doubled_outcomes == 0 && r->dl_right == r->bad_offered && r->dl_missing == 0 &&
           r->dl_doubled == 0 && r->dl_wrong_code == 0 && r->dl_unexpected == 0 &&
           r->outcomes_missing == 0 && r->incomplete == 0 && r->bad_exits == 0;
}

static sy_status write_text(const char *path, const char *text, sy_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        if (f)
            fclose(f);
        return sy_error_set(err, SY_IO, NULL, NULL, "could not write %s", path);
    }
    return fclose(f) == 0 ? SY_OK
                          : sy_error_set(err, SY_IO, NULL, NULL, "could not write %s", path);
}

/* serve<i>.yaml: the service as an operator would run it, except ack_wait
 * (5 s: a killed process's messages come back soon) and a small event
 * limit (the oversized bad inputs). */
static sy_status write_configs(fx_ctx *c, sy_error *err)
{
    char rules[600];
    snprintf(rules, sizeof rules, "%s/rules.yaml", c->dir);
    sy_status st = write_text(rules, RULES, err);
    for (int i = 0; st == SY_OK && i < FX_SERVES; i++) {
        snprintf(c->config[i], sizeof c->config[i], "%s/serve%d.yaml", c->dir, i);
        c->serve[i].admin_port = devstack_free_port();
        sy_buf b = SY_BUF_INIT;
        sy_buf_printf(&b,
                      "nats: { urls: [\"%s\"], name: serve%d }\n"
                      "postgres: { conninfo: \"%s\", migrate: true }\n"
                      "stream: { name: " FX_STREAM ", subjects: [\"fx.>\"], storage: file, "
                      "duplicate_window: %s }\n"
                      "consumer: { name: " FX_CONSUMER ", ack_wait: 5s }\n"
                      "limits: { max_event_bytes: 64KiB }\n"
                      "envelope: { keyring: \"%s\" }\n"
                      "rules: { path: \"%s\" }\n"
                      "engine: { state_cache: 8192 }\n"
                      "admin: { listen: \"127.0.0.1:%d\" }\n"
                      "log: { level: warn }\n",
                      devstack_nats_url(c->ds), i, devstack_pg_conninfo(c->ds),
                      c->p->scen == FX_DUPLICATES ? "1s" : "2m", c->keys.keyring, rules,
                      c->serve[i].admin_port);
        st = write_text(c->config[i], sy_buf_str(&b), err);
        sy_buf_cleanup(&b);
    }
    return st;
}

/* The serve processes one after the other (the first migrates), then the
 * worker; all ready. */
static sy_status start_processes(fx_ctx *c, sy_error *err)
{
    sy_status st = SY_OK;
    for (int i = 0; st == SY_OK && i < FX_SERVES; i++) {
        char log[600];
        snprintf(log, sizeof log, "%s/serve%d.log", c->dir, i);
        st = fx_proc_serve(&c->serve[i], c->exe, c->config[i], c->serve[i].admin_port, log, err);
        for (int w = 0; st == SY_OK && w < 3000 && !fx_ready(c->serve[i].admin_port); w++)
            nats_Sleep(20);
        if (st == SY_OK && !fx_ready(c->serve[i].admin_port))
            st = sy_error_set(err, SY_TIMEOUT, NULL, NULL, "serve%d not ready after 60 s (see %s)",
                              i, log);
    }
    char log[600];
    snprintf(log, sizeof log, "%s/worker.log", c->dir);
    if (st == SY_OK)
        st = fx_proc_worker(&c->worker, c->exe, devstack_nats_url(c->ds), FX_QUEUE, 64, log, err);
    return st;
}

static long count(PGconn *pg, const char *sql)
{
    if (PQstatus(pg) != CONNECTION_OK)
        PQreset(pg);
    PGresult *res = PQexec(pg, sql);
    long n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                 ? atol(PQgetvalue(res, 0, 0))
                 : -1;
    PQclear(res);
    return n;
}

/* Until every acknowledged start's workflow completed, the outbox is empty
 * and the consumer has nothing left to (re)deliver; gives up after settle_s
 * without progress. */
static void quiesce(fx_ctx *c)
{
    long want = 0;
    for (long i = 0; i < c->p->events; i++)
        want += c->start_acked[i];
    PGconn *pg = (PGconn *)c->pg;
    long last = -2;
    int64_t progress = sy_mono_ms();
    for (;;) {
        long done = count(pg, "SELECT count(*) FROM switchyard.runs WHERE status = 'completed'");
        long outbox = count(pg, "SELECT count(*) FROM switchyard.outbox");
        if (done >= want && outbox == 0 && fx_pub_consumer_idle(c->pub, FX_STREAM, FX_CONSUMER))
            return;
        if (done != last || outbox > 0) {
            if (done != last)
                progress = sy_mono_ms();
            last = done;
        }
        if (sy_mono_ms() - progress > (int64_t)c->p->settle_s * 1000) {
            fprintf(stderr,
                    "bench faults: %s: %ld of %ld workflows completed, %ld outbox pages "
                    "left after %d s without progress\n",
                    fx_scenario_names[c->p->scen], done, want, outbox, c->p->settle_s);
            return;
        }
        nats_Sleep(200);
    }
}

/* SIGTERM to each: serve drains and exits 0, the worker hands back and
 * exits 0; anything else is counted and named. */
static void stop_one(fx_ctx *c, fx_proc *p, const char *name)
{
    int64_t t0 = sy_mono_ms();
    if (fx_proc_end(p, SIGTERM, 30000))
        return;
    c->r->bad_exits++;
    char what[200];
    int st = p->exit_status;
    snprintf(what, sizeof what, "%s did not exit 0 on SIGTERM (%s %d after %lld ms; log %s)", name,
             st >= 0 && WIFSIGNALED(st) ? "signal" : "exit",
             st < 0            ? -1
             : WIFSIGNALED(st) ? WTERMSIG(st)
                               : WEXITSTATUS(st),
             (long long)(sy_mono_ms() - t0), p->log);
    fprintf(stderr, "bench faults: %s\n", what);
    if (!c->r->example[0])
        snprintf(c->r->example, sizeof c->r->example, "%s", what);
}

static void stop_processes(fx_ctx *c)
{
    stop_one(c, &c->worker, "worker");
    for (int i = 0; i < FX_SERVES; i++)
        stop_one(c, &c->serve[i], i ? "serve1" : "serve0");
}

static sy_status setup(fx_ctx *c, sy_error *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/sy-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir) || chmod(c->dir, 0755) != 0) /* Postgres' user goes through it */
        return sy_error_set(err, SY_IO, NULL, NULL, "could not create %s: %s", c->dir,
                            strerror(errno));
    snprintf(c->tag, sizeof c->tag, "%s%lx", c->p->scen == FX_SERVE_KILL ? "k" : "x",
             (unsigned long)sy_clock_now_ms(NULL) % 0xfffffff);
    c->rng = (unsigned)sy_clock_now_ms(NULL) ^ (unsigned)getpid();
    long n = c->p->events;
    c->start_acked = calloc((size_t)n + 1, sizeof(bool));
    c->signal_acked = calloc((size_t)n + 1, sizeof(bool));
    c->pending = calloc((size_t)n + 1, sizeof(long));
    c->bad = calloc((size_t)c->p->bad + 1, sizeof *c->bad);
    if (!c->start_acked || !c->signal_acked || !c->pending || !c->bad)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    char stack[600]; /* inside the scenario's directory: kept with it */
    snprintf(stack, sizeof stack, "%s/stack", c->dir);
    devstack_opts o = {.dir = stack, .durable = true, .quiet = true};
    sy_status st = devstack_start(&o, &c->ds, err);
    if (st == SY_OK)
        st = fx_keys_make(&c->keys, c->dir, err);
    if (st == SY_OK)
        st = write_configs(c, err);
    if (st == SY_OK)
        st = start_processes(c, err);
    if (st == SY_OK)
        st = fx_pub_new(devstack_nats_url(c->ds), &c->pub, err);
    if (st == SY_OK) {
        c->pg = (struct pg_conn *)PQconnectdb(devstack_pg_conninfo(c->ds));
        if (PQstatus((PGconn *)c->pg) != CONNECTION_OK)
            st = sy_error_set(err, SY_DB_DOWN, NULL, NULL, "postgres: %s",
                              PQerrorMessage((PGconn *)c->pg));
    }
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* keep: leave the directory for a look; failed: the scenario could not
 * run, so the servers' logs go to stderr too. */
static void teardown(fx_ctx *c, bool keep, bool failed)
{
    for (int i = 0; i < FX_SERVES; i++)
        fx_proc_end(&c->serve[i], SIGKILL, 0);
    fx_proc_end(&c->worker, SIGKILL, 0);
    fx_pub_free(c->pub);
    PQfinish((PGconn *)c->pg);
    if (c->ds && failed)
        devstack_print_logs(c->ds, stderr, 20);
    devstack_stop(c->ds);
    atomic_store(&c->finished, true);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    if (keep)
        fprintf(stderr, "bench faults: %s: configs and logs kept in %s\n",
                fx_scenario_names[c->p->scen], c->dir);
    else if (c->dir[0])
        nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(c->start_acked);
    free(c->signal_acked);
    free(c->pending);
    free(c->bad);
}

/* Traffic and faults, then quiescence and the check. */
static sy_status measure(fx_ctx *c, sy_error *err)
{
    if (pthread_create(&c->thread, NULL, fx_inject, c) != 0)
        return sy_error_set(err, SY_INTERNAL, NULL, NULL, "could not start the fault thread");
    c->thread_started = true;
    int64_t t0 = sy_mono_ms();
    fx_traffic(c);
    while (!atomic_load(&c->faults_done))
        nats_Sleep(20);
    int64_t t1 = sy_mono_ms();
    fx_all_ready(c, 60000);
    quiesce(c);
    fprintf(stderr, "bench faults: %s: traffic and faults %.1f s, quiescence %.1f s\n",
            fx_scenario_names[c->p->scen], (double)(t1 - t0) / 1000.0,
            (double)(sy_mono_ms() - t1) / 1000.0);
    if (c->p->scen == FX_DUPLICATES) {
        fx_late_duplicates(c);
        quiesce(c);
    }
    c->r->rss_after_mib = fx_serve_rss(c);
    stop_processes(c);
    if (c->reconnects)
        c->r->reconnect_mean_ms = c->reconnect_sum / c->reconnects;
    fx_sent sent = {c->tag, c->p->events, c->start_acked, c->signal_acked, c->bad, c->nbad};
    return fx_check(devstack_pg_conninfo(c->ds), devstack_nats_url(c->ds), FX_OUTCOMES, &sent, c->r,
                    err);
}

sy_status fx_run(const fx_params *p, const char *exe, fx_result *out, sy_error *err)
{
    memset(out, 0, sizeof *out);
    out->example_index = -1;
    fx_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.exe = exe;
    c.r = out;
    atomic_init(&c.starts_sent, 0);
    atomic_init(&c.traffic_done, false);
    atomic_init(&c.faults_done, false);
    atomic_init(&c.finished, false);
    int64_t t0 = sy_mono_ms();
    sy_status st = setup(&c, err);
    if (st == SY_OK)
        st = measure(&c, err);
    out->seconds = (double)(sy_mono_ms() - t0) / 1000.0;
    teardown(&c, p->keep || st != SY_OK || !fx_result_ok(out), st != SY_OK);
    return st;
}
