/* Readiness against a Postgres crash that lands between batches (each test
 * on its own devstack, so that crashing Postgres touches no other test):
 * the router goes unready as soon as a pipeline or a loop next to it (relay,
 * report consumers, timers) sees the connection gone, not at the next batch,
 * and ready again once every one of them has reconnected. */
#include "router_helpers.h"

#include "devstack.h"
#include "loops.h"
#include "router.h"

static bool wait_ready_is(router *r, bool want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (router_ready(r, NULL, 0) == want)
            return true;
        rh_sleep_ms(20);
    }
    return false;
}

typedef struct stack {
    devstack *ds;
    char *rules;
    router_config cfg;
    sy_log log;
    router *r;
    router_loops *loops;
    rh_nats n;
} stack;

/* A devstack, a router on it (fetch_wait as given), its loops when asked,
 * ready and idle after one routed event. */
static void stack_start(stack *s, const char *name, int64_t fetch_wait_ms, bool loops)
{
    memset(s, 0, sizeof *s);
    /* durable: with synchronous_commit off a crash loses commits the router
     * already acked (ready-1's run), which this test would read as loss */
    devstack_opts o = {.durable = true, .quiet = true};
    sy_error err = {0};
    CHECK_MSG(devstack_start(&o, &s->ds, &err) == SY_OK, "devstack: %s", err.message);
    s->rules = rh_write_file("rules.yaml", rh_rules);
    rh_config(&s->cfg, name, devstack_nats_url(s->ds), devstack_pg_conninfo(s->ds), s->rules);
    rh_own_outcomes(&s->cfg, "rdy", "RDY");
    s->cfg.fetch_wait_ms = fetch_wait_ms;
    s->cfg.outbox_relay = s->cfg.timers = s->cfg.reports = loops;
    sy_log_init(&s->log, SY_LOG_ERROR, 2);
    CHECK(router_new(&s->cfg, &s->log, &s->r, &err) == SY_OK);
    CHECK(router_start(s->r, &err) == SY_OK);
    if (loops)
        CHECK(router_loops_start(&s->cfg, s->r, &s->log, &s->loops, &err) == SY_OK);
    CHECK(wait_ready_is(s->r, true, 20000));
    rh_nats_open(&s->n, devstack_nats_url(s->ds));
    char subj[64], body[512];
    snprintf(subj, sizeof subj, "rt.%s.a", name);
    rh_event(body, sizeof body, "ready-1", "order.created", 1);
    rh_publish(&s->n, subj, body);
    CHECK_INT(rh_wait_count(devstack_pg_conninfo(s->ds), "SELECT count(*) FROM switchyard.runs", 1,
                            20000),
              1);
    rh_sleep_ms(300); /* idle: the crash lands between batches */
}

static void stack_stop(stack *s)
{
    router_stop(s->r);
    router_loops_stop(s->loops);
    router_free(s->r);
    rh_nats_close(&s->n);
    router_config_cleanup(&s->cfg);
    unlink(s->rules);
    free(s->rules);
    devstack_stop(s->ds);
}

/* Crashes Postgres, checks readiness goes false within ms, restarts it and
 * checks readiness comes back and an event published meanwhile is routed. */
static void crash_and_recover(stack *s, const char *name, int within_ms)
{
    sy_error err = {0};
    CHECK_MSG(devstack_pg_crash(s->ds, &err) == SY_OK, "crash: %s", err.message);
    char why[128] = "";
    bool fell = wait_ready_is(s->r, false, within_ms);
    router_ready(s->r, why, sizeof why);
    CHECK_MSG(fell, "still ready %d ms after the crash", within_ms);
    CHECK_MSG(strstr(why, "Postgres") != NULL, "reason: %s", why);
    char subj[64], body[512];
    snprintf(subj, sizeof subj, "rt.%s.a", name);
    rh_event(body, sizeof body, "ready-2", "order.created", 2);
    rh_publish(&s->n, subj, body);
    CHECK_MSG(devstack_pg_start(s->ds, &err) == SY_OK, "restart: %s", err.message);
    CHECK_MSG(wait_ready_is(s->r, true, 30000), "not ready 30 s after the restart");
    CHECK_INT(rh_wait_count(devstack_pg_conninfo(s->ds), "SELECT count(*) FROM switchyard.runs", 2,
                            30000),
              2);
}

/* The pipelines long-poll for 5 s here, so it is the loops (the timer
 * loop's LISTEN, the relay's) that notice first. */
TEST(readiness_goes_false_when_a_loop_sees_postgres_crash_between_batches)
{
    stack s;
    stack_start(&s, "rdyloops", 5000, true);
    crash_and_recover(&s, "rdyloops", 1500);
    stack_stop(&s);
}

/* No loops: an idle pipeline checks its connection every fetch round. */
TEST(readiness_goes_false_when_an_idle_pipeline_sees_postgres_crash)
{
    stack s;
    stack_start(&s, "rdypipes", 300, false);
    crash_and_recover(&s, "rdypipes", 1500);
    stack_stop(&s);
}
