/* router_backlog.c: the outbox backlog. engine_outbox_backlog counts the
 * unpublished outbox rows and the age of the oldest; /metrics shows them as
 * switchyard_outbox_backlog and switchyard_outbox_oldest_age_seconds, and
 * both drop to zero once the relay has published the rows. */
#include "router_helpers.h"

#include "admin.h"
#include "clock.h"
#include "engine.h"
#include "loops.h"
#include "router.h"


/* The value of a metric line "name value", or -1 when absent. */
static double metric(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(text, key);
    return at ? atof(at + strlen(key)) : -1;
}

TEST(outbox_backlog_is_counted_and_exposed)
{
    char *conninfo = fixture_pg_fresh_db("rt_backlog");
    char *rules = rh_write_file("rules-backlog.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "rt_backlog", fixture_nats_url(), conninfo, rules);
    rh_own_outcomes(&cfg, "rtbacklog", "RT_BACKLOG_OUT");
    cfg.timers = false;
    cfg.reports = false;
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    js_DeleteStream(n.js, "RT_BACKLOG_OUT", NULL, NULL);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    admin_server *adm = NULL;
    CHECK(admin_start("127.0.0.1:0", NULL, r, &lg, &adm, &err) == SY_OK);

    /* no relay yet: the rows of three starts wait in the outbox */
    for (int i = 1; i <= 3; i++) {
        char body[512], id[32];
        snprintf(id, sizeof id, "bl-%d", i);
        rh_event(body, sizeof body, id, "order.created", i);
        rh_publish(&n, "rt.rt_backlog.new", body);
    }
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 3, 20000), 3);
    long rows = rh_count(conninfo, "SELECT count(*) FROM switchyard.outbox_messages");
    CHECK(rows >= 3);
    rh_sleep_ms(1100);
    engine *eng = NULL;
    engine_session *s = NULL;
    CHECK(engine_new(NULL, NULL, &eng, &err) == SY_OK);
    CHECK_MSG(engine_session_open(eng, conninfo, false, &s, &err) == SY_OK, "%s", err.message);
    uint64_t n_rows = 0;
    int64_t age = 0;
    CHECK_MSG(engine_outbox_backlog(s, sy_clock_now_ms(NULL), &n_rows, &age, &err) == SY_OK, "%s",
              err.message);
    CHECK_INT((long)n_rows, rows);
    CHECK(age >= 1000 && age < 60000);
    char resp[65536];
    rh_http(admin_port(adm), "GET", "/metrics", NULL, resp, sizeof resp);
    CHECK_MSG(metric(resp, "switchyard_outbox_backlog") == (double)rows, "%s", resp);
    CHECK(metric(resp, "switchyard_outbox_oldest_age_seconds") >= 1.0);

    /* the relay drains it */
    router_loops *loops = NULL;
    CHECK(router_loops_start(&cfg, r, &lg, &loops, &err) == SY_OK);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.outbox_messages", 0, 20000), 0);
    CHECK(engine_outbox_backlog(s, sy_clock_now_ms(NULL), &n_rows, &age, &err) == SY_OK);
    CHECK_INT((long)n_rows, 0);
    CHECK_INT((long)age, 0);
    rh_http(admin_port(adm), "GET", "/metrics", NULL, resp, sizeof resp);
    CHECK_MSG(metric(resp, "switchyard_outbox_backlog") == 0, "%s", resp);
    CHECK(metric(resp, "switchyard_outbox_oldest_age_seconds") == 0);

    admin_stop(adm);
    router_stop(r);
    router_loops_stop(loops);
    router_free(r);
    engine_session_close(s);
    engine_free(eng);
    js_DeleteStream(n.js, "RT_BACKLOG_OUT", NULL, NULL);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(conninfo);
}
