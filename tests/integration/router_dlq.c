/* `switchyard dlq`: a dead letter (a workflow-ID template failure) is
 * listed, and after the rules are fixed and reloaded, `dlq replay`
 * re-injects its original bytes into the pipeline, where it now starts the
 * workflow; the row is marked replayed. */
#include "router_helpers.h"

#include "loops.h"
#include "router.h"

#include <stdatomic.h>

TEST(replay_after_fixing_the_rules_starts_the_workflow)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlq");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "rt_dlq", fixture_nats_url(), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK(router_start(r, &err) == SY_OK);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char body[512];
    rh_event(body, sizeof body, "dlq-7", "kg.bad", 7);
    rh_publish(&n, "rt.rt_dlq.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                      "WHERE subject = 'rt.rt_dlq.a' AND stream_seq = 1",
                            1, 20000),
              1);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq list -o json | grep -q '\"dlq-7\"'",
             conninfo, fixture_switchyard_bin());
    CHECK_INT(system(cmd), 0);

    /* fix the route, reload, replay */
    char *fixed = strdup(rh_rules);
    char *at = strstr(fixed, "bad id {{");
    CHECK(at != NULL);
    memcpy(at, "fixed-{{", 8);
    memmove(at + 8, at + 9, strlen(at + 9) + 1);
    FILE *f = fopen(rules, "w");
    fputs(fixed, f);
    fclose(f);
    CHECK_MSG(router_reload(r, &err) == SY_OK, "reload: %s", err.message);
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq replay --id 1 --nats '%s' >/dev/null",
             conninfo, fixture_switchyard_bin(), fixture_nats_url());
    CHECK_INT(system(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs "
                                      "WHERE workflow_id = 'fixed-7'",
                            1, 20000),
              1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                 "WHERE id = 1 AND replayed_at IS NOT NULL"),
              1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(fixed);
    free(conninfo);
}

typedef struct dl_count {
    const char *needle;
    _Atomic int n;
} dl_count;

static void on_notice(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    dl_count *c = closure;
    if (strstr(natsMsg_GetData(msg), c->needle))
        atomic_fetch_add(&c->n, 1);
    natsMsg_Destroy(msg);
}

/* A signal to a missing workflow (if_missing: dead_letter) is refused by the
 * engine: its dead letter carries the original subject, bytes, headers and
 * stream sequence, its sy.deadletter.<code> notice is published once (by
 * the outbox, not by the router), and after the workflow is started,
 * `dlq replay` re-injects it and the signal lands; a second replay of the
 * same dead letter does not signal twice. */
TEST(engine_refused_signal_is_replayable)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlqsig");
    char *rules = rh_write_file("rules-sig.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "rt_dlqsig", fixture_nats_url(), conninfo, rules);
    rh_own_outcomes(&cfg, "rtdlqsig", "RT_DLQSIG_OUT");
    cfg.timers = false;
    cfg.reports = false;
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    js_DeleteStream(n.js, "RT_DLQSIG_OUT", NULL, NULL); /* leftovers of an earlier run */
    js_DeleteStream(n.js, "RT_rt_dlqsig", NULL, NULL);
    dl_count notices = {.needle = "\"sig-5\""};
    natsSubscription *sub = NULL;
    CHECK_INT(natsConnection_Subscribe(&sub, n.nc, "rtdlqsig.deadletter.>", on_notice, &notices),
              NATS_OK);
    CHECK_INT(natsConnection_Flush(n.nc), NATS_OK);
    router *r = NULL;
    router_loops *loops = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    CHECK(router_loops_start(&cfg, r, &lg, &loops, &err) == SY_OK);

    char body[512];
    rh_event(body, sizeof body, "sig-5", "order.paid", 5);
    natsMsg *m = NULL;
    CHECK_INT(natsMsg_Create(&m, "rt.rt_dlqsig.pay", NULL, body, (int)strlen(body)), NATS_OK);
    natsMsgHeader_Set(m, "X-Tenant", "acme");
    jsPubAck *pa = NULL;
    CHECK_INT(js_PublishMsg(&pa, n.js, m, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    CHECK_INT(rh_wait_count(conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters WHERE code = "
                            "'workflow_not_found' AND event_id = 'sig-5' AND subject = "
                            "'rt.rt_dlqsig.pay' AND stream_seq = 1 AND length(body) > 0 AND "
                            "headers->>'X-Tenant' = 'acme'",
                            1, 20000),
              1);
    long dl_id = rh_count(conninfo, "SELECT id FROM switchyard.dead_letters WHERE event_id = 'sig-5'");

    rh_event(body, sizeof body, "start-5", "order.created", 5);
    rh_publish(&n, "rt.rt_dlqsig.new", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs WHERE workflow_id = "
                                      "'order-5'", 1, 20000), 1);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq replay --id %ld --nats '%s' >/dev/null",
             conninfo, fixture_switchyard_bin(), dl_id, fixture_nats_url());
    CHECK_INT(system(cmd), 0);
    static const char signaled[] =
        "SELECT count(*) FROM switchyard.history_events h JOIN switchyard.runs r USING (run_id) WHERE "
        "r.workflow_id = 'order-5' AND h.type = 'workflow.signaled'";
    CHECK_INT(rh_wait_count(conninfo, signaled, 1, 20000), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters WHERE replayed_at "
                                 "IS NOT NULL"), 1);
    /* the same dead letter replayed again: its replay key is in the inbox */
    CHECK_INT(system(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo,
                            "SELECT count(*) FROM switchyard.inbox WHERE event_id LIKE "
                            "'sy.replay:%'", 1, 20000), 1);
    rh_sleep_ms(500);
    CHECK_INT(rh_count(conninfo, signaled), 1);
    /* the notice: published by the relay once, never by the router */
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.outbox_messages", 0, 20000), 0);
    for (int i = 0; i < 20 && atomic_load(&notices.n) < 1; i++)
        rh_sleep_ms(100);
    rh_sleep_ms(300);
    CHECK_INT(atomic_load(&notices.n), 1);

    router_stop(r);
    router_loops_stop(loops);
    router_free(r);
    natsSubscription_Destroy(sub);
    js_DeleteStream(n.js, "RT_DLQSIG_OUT", NULL, NULL);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(conninfo);
}
