/* loops.c: the outbox relay, worker-report and timer threads next to the
 * router (loops.h).
 *
 * Both survive outages: the relay is created (and retried) inside its own
 * thread, then engine_relay_run loops until stop; the timer loop reopens its
 * session with capped backoff. The timer loop follows rules reloads (it
 * reopens its session on the router's current generation), so timers fire
 * against the workflow definitions that new starts use; it also registers the
 * rules file's schedules (per generation) and fires due schedule slots. */
#include "loops.h"

#include "clock.h"
#include "reports.h"
#include "router_int.h"
#include "schedule.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct router_loops {
    const router_config *cfg;
    router *r;
    const sy_log *log;
    sy_clock clock;
    atomic_bool stop;
    pthread_t relay_thread, timer_thread;
    bool relay_started, timer_started;
    engine_relay *relay;
    int relay_health, timer_health; /* router_health_slot */
    struct report_slot *reports;    /* cfg->report_consumers of them */
    size_t nreports;
    atomic_uint_fast64_t published_base;
};

/* Waits until the router's pipelines have migrated the database (or the
 * loops stop): a loop that ran first on a fresh database would query
 * tables that do not exist yet. False when stopping. */
static bool wait_schema(router_loops *l)
{
    struct timespec ts = {0, 50 * 1000000L};
    while (!atomic_load(&l->stop) && !router_schema_ready(l->r))
        nanosleep(&ts, NULL); /* not router__sleep: it returns at once while the router drains */
    return !atomic_load(&l->stop);
}

static void relay_health(void *arg, bool db_ok)
{
    router_loops *l = arg;
    router_health_set(l->r, l->relay_health, db_ok);
}

static void *relay_main(void *arg)
{
    router_loops *l = arg;
    if (!wait_schema(l))
        return NULL;
    router_gen *g = router__gen_acquire(l->r); /* the relay needs only the schema */
    /* a commit that writes outbox rows NOTIFYs the relay; the poll only
     * backs that up (and retries a failed page), so once a second is
     * enough and keeps an idle service idle */
    engine_relay_opts o = {.conninfo = router_conninfo(l->r),
                           .nats_options = router__nats_options_fn,
                           .nats_options_arg = (void *)l->cfg,
                           .poll_ms = 1000,
                           .health = relay_health,
                           .health_arg = l};
    int64_t backoff = 100;
    while (!atomic_load(&l->stop) && !l->relay) {
        sy_error err = {0};
        if (engine_relay_new(g->eng, &o, &l->relay, &err) == SY_OK)
            break;
        l->relay = NULL;
        if (backoff == 100)
            SY_LOG(l->log, SY_LOG_WARN, "outbox relay cannot start yet; retrying", "error",
                   err.message);
        router__sleep(l->r, backoff);
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    }
    if (l->relay) {
        SY_LOG(l->log, SY_LOG_INFO, "outbox relay running");
        engine_relay_run(l->relay, &l->stop);
    }
    router__gen_release(g);
    return NULL;
}

/* One worker-report consumer thread. Several share the durable pull
 * consumer (as the pipelines do): while one waits for its commit, another
 * applies the next batch; the engine locks workflows in ID order, so two
 * batches touching the same workflow serialise instead of deadlocking. */
typedef struct report_slot {
    router_loops *l;
    pthread_t thread;
    bool started;
    int health; /* router_health_slot */
    engine_reports *rep;
} report_slot;

static void reports_health(void *arg, bool db_ok)
{
    report_slot *slot = arg;
    router_health_set(slot->l->r, slot->health, db_ok);
}

/* A config duration (-1 not set, 0 none) as an engine option (0 the
 * engine's default, < 0 none). */
static int64_t report_opt_ms(int64_t cfg_ms)
{
    return cfg_ms < 0 ? 0 : cfg_ms == 0 ? -1 : cfg_ms;
}

/* The worker-report consumer: engine_reports_run until stop. */
static void *reports_main(void *arg)
{
    report_slot *slot = arg;
    router_loops *l = slot->l;
    if (!wait_schema(l))
        return NULL;
    router_gen *g = router__gen_acquire(l->r);
    engine_reports_opts o = {.conninfo = router_conninfo(l->r),
                             .nats_options = router__nats_options_fn,
                             .nats_options_arg = (void *)l->cfg,
                             .prefix = l->cfg->engine_subject_prefix,
                             .stream = l->cfg->outcomes_stream,
                             .batch = 512,
                             .fetch_timeout_ms = l->cfg->fetch_wait_ms,
                             .hold_started_ms = report_opt_ms(l->cfg->hold_started_ms),
                             .linger_ms = report_opt_ms(l->cfg->report_linger_ms),
                             .health = reports_health,
                             .health_arg = slot};
    int64_t backoff = 100;
    while (!atomic_load(&l->stop) && !slot->rep) {
        sy_error err = {0};
        if (engine_reports_new(g->eng, &o, &slot->rep, &err) == SY_OK)
            break;
        slot->rep = NULL;
        if (backoff == 100)
            SY_LOG(l->log, SY_LOG_WARN, "report consumer cannot start yet; retrying", "error",
                   err.message);
        router__sleep(l->r, backoff);
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
    }
    if (slot->rep)
        engine_reports_run(slot->rep, &l->stop);
    router__gen_release(g);
    return NULL;
}

typedef struct timer_state {
    engine_session *s;
    router_gen *gen;
    int64_t backoff_ms, last_purge_ms;
} timer_state;

static void timer_close(timer_state *t)
{
    engine_session_close(t->s);
    t->s = NULL;
    router__gen_release(t->gen);
    t->gen = NULL;
}

static sy_status timer_session(router_loops *l, timer_state *t, sy_error *err)
{
    router_gen *g = router__gen_acquire(l->r);
    if (t->s && g == t->gen) {
        router__gen_release(g);
        return SY_OK;
    }
    timer_close(t);
    sy_status st = engine_session_open(g->eng, router_conninfo(l->r), false, &t->s, err);
    if (st == SY_OK) {
        /* the rules file's schedules, registered idempotently per generation */
        engine_schedule_sync_counts sc;
        const cJSON *defs = rules_set_schedules(g->rules);
        if (defs)
            st = engine_schedules_sync(t->s, defs, sy_clock_now_ms(&l->clock), &sc, err);
    }
    if (st == SY_OK)
        st = engine_listen_for(t->s, ENGINE_NOTIFY_TIMERS, err);
    if (st != SY_OK) {
        engine_session_close(t->s);
        t->s = NULL;
        router__gen_release(g);
        return st;
    }
    t->gen = g;
    return SY_OK;
}

/* One round: fire due timers, purge now and then, then wait for a hint. */
static sy_status timer_round(router_loops *l, timer_state *t, sy_error *err)
{
    size_t fired = 0;
    int64_t now = sy_clock_now_ms(&l->clock);
    sy_status st = engine_timers_run_once(t->s, now, 256, &fired, err);
    if (st != SY_OK || fired == 256)
        return st;
    size_t started = 0;
    st = engine_schedules_run_once(t->s, now, 64, &started, err);
    if (st != SY_OK || started == 64)
        return st;
    if (now - t->last_purge_ms > 600000) {
        engine_purge_counts pc;
        st = engine_purge(t->s, now, &pc, err);
        /* a purge is bounded: with more to do, the next one comes in a
         * second, not in ten minutes (a backlog would otherwise grow with
         * any load above its bound per ten minutes) */
        t->last_purge_ms = pc.more ? now - 600000 + 1000 : now;
        if (st != SY_OK)
            return st;
    }
    int64_t at = 0, due = 0;
    st = engine_next_timer(t->s, &at, err);
    if (st == SY_OK)
        st = engine_schedules_next_due(t->s, &due, err);
    if (due && (!at || due < at))
        at = due;
    int64_t wait = at == 0 ? 1000 : at - sy_clock_now_ms(&l->clock);
    wait = wait < 5 ? 5 : wait > 1000 ? 1000 : wait;
    if (st == SY_OK)
        st = engine_wait_notify(t->s, (int)wait, NULL, err);
    return st;
}

static void *timer_main(void *arg)
{
    router_loops *l = arg;
    if (!wait_schema(l))
        return NULL;
    timer_state t = {.backoff_ms = 100};
    while (!atomic_load(&l->stop)) {
        sy_error err = {0};
        sy_status st = timer_session(l, &t, &err);
        if (st == SY_OK)
            st = timer_round(l, &t, &err);
        if (st == SY_OK || st == SY_DB_DOWN) /* readiness */
            router_health_set(l->r, l->timer_health, st == SY_OK);
        if (st == SY_OK) {
            t.backoff_ms = 100;
            continue;
        }
        if (t.backoff_ms == 100)
            SY_LOG(l->log, SY_LOG_WARN, "timer loop failed; retrying", "error", err.message);
        timer_close(&t);
        router__sleep(l->r, t.backoff_ms);
        t.backoff_ms = t.backoff_ms * 2 > 10000 ? 10000 : t.backoff_ms * 2;
    }
    timer_close(&t);
    return NULL;
}

sy_status router_loops_start(const router_config *cfg, router *r, const sy_log *log,
                             router_loops **out, sy_error *err)
{
    *out = NULL;
    router_loops *l = calloc(1, sizeof *l);
    if (!l)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    l->cfg = cfg;
    l->r = r;
    l->log = log;
    sy_clock_init(&l->clock);
    atomic_init(&l->stop, false);
    l->relay_health = l->timer_health = -1;
    if (cfg->outbox_relay) {
        l->relay_health = router_health_slot(r, "outbox relay");
        if (pthread_create(&l->relay_thread, NULL, relay_main, l) != 0) {
            router_loops_stop(l);
            return sy_error_set(err, SY_NOMEM, NULL, NULL, "could not start the relay thread");
        }
        l->relay_started = true;
    }
    if (cfg->reports) {
        l->nreports = cfg->report_consumers > 0 ? (size_t)cfg->report_consumers : 1;
        l->reports = calloc(l->nreports, sizeof *l->reports);
        for (size_t i = 0; l->reports && i < l->nreports; i++) {
            l->reports[i].l = l;
            l->reports[i].health = router_health_slot(r, "report consumer");
            if (pthread_create(&l->reports[i].thread, NULL, reports_main, &l->reports[i]) != 0) {
                router_loops_stop(l);
                return sy_error_set(err, SY_NOMEM, NULL, NULL, "could not start a reports thread");
            }
            l->reports[i].started = true;
        }
    }
    if (cfg->timers) {
        l->timer_health = router_health_slot(r, "timer loop");
        if (pthread_create(&l->timer_thread, NULL, timer_main, l) != 0) {
            router_loops_stop(l);
            return sy_error_set(err, SY_NOMEM, NULL, NULL, "could not start the timer thread");
        }
        l->timer_started = true;
    }
    *out = l;
    return SY_OK;
}

uint64_t router_loops_published(const router_loops *l)
{
    return l && l->relay ? engine_relay_published(l->relay) : 0;
}

void router_loops_stop(router_loops *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    if (l->relay_started)
        pthread_join(l->relay_thread, NULL);
    if (l->timer_started)
        pthread_join(l->timer_thread, NULL);
    for (size_t i = 0; l->reports && i < l->nreports; i++) {
        if (l->reports[i].started)
            pthread_join(l->reports[i].thread, NULL);
        engine_reports_free(l->reports[i].rep);
    }
    free(l->reports);
    engine_relay_free(l->relay);
    free(l);
}
