/* `switchyard dlq`: a dead letter (a workflow-ID template failure) is
 * listed, and after the rules are fixed and reloaded, `dlq replay`
 * re-injects its original bytes into the pipeline, where it now starts the
 * workflow; the row is marked replayed. A replay runs only the route that
 * failed, and one that fails again updates its dead letter. */
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
    /* the same dead letter replayed again: the route's key is in the inbox */
    CHECK_INT(system(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo,
                            "SELECT count(*) FROM switchyard.inbox WHERE event_id = "
                            "'sy.route:sig-5/pay-order'",
                            1, 20000),
              1);
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

/* One event, two routes: `ping` signals w-1 (applied), `side` starts a
 * workflow whose ID template reads a missing field (dead-lettered). The
 * dead letter names its route; replaying it runs that route only (the
 * signal is never applied twice), a replay that fails again updates the
 * same dead letter, and once the rules are fixed the replay starts the
 * workflow, once however often it is replayed. */
static const char two_routes[] = "version: 1\n"
                                 "routes:\n"
                                 "  - name: open\n"
                                 "    match: { type: m.open }\n"
                                 "    start: { workflow: w, id: \"w-{{ payload.n }}\" }\n"
                                 "  - name: ping\n"
                                 "    match: { type: m.y }\n"
                                 "    signal: { id: \"w-{{ payload.n }}\", name: ping }\n"
                                 "  - name: side\n"
                                 "    match: { type: m.y }\n"
                                 "    start: { workflow: w, id: \"my-{{ payload.BAD }}\" }\n"
                                 "workflows:\n"
                                 "  w:\n"
                                 "    steps:\n"
                                 "      - wait: ping\n"
                                 "        timeout: 1d\n"
                                 "      - wait: never\n"
                                 "        timeout: 1d\n";

static void replay_id(const char *conninfo, long id)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq replay --id %ld --nats '%s' >/dev/null",
             conninfo, fixture_switchyard_bin(), id, fixture_nats_url());
    CHECK_INT(system(cmd), 0);
}

static void wait_metric(_Atomic uint64_t *v, uint64_t want)
{
    for (int i = 0; i < 400 && atomic_load(v) < want; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(v), want);
}

TEST(replay_runs_only_the_route_that_failed)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlqroute");
    char *rules = rh_write_file("rules-route.yaml", two_routes);
    router_config cfg;
    rh_config(&cfg, "rt_dlqroute", fixture_nats_url(), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    router_metrics *m = router_get_metrics(r);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char body[512];
    rh_event(body, sizeof body, "open-1", "m.open", 1);
    rh_publish(&n, "rt.rt_dlqroute.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    rh_event(body, sizeof body, "y-1", "m.y", 1);
    rh_publish(&n, "rt.rt_dlqroute.a", body);
    static const char signaled[] =
        "SELECT count(*) FROM switchyard.history_events WHERE type = 'workflow.signaled'";
    CHECK_INT(rh_wait_count(conninfo, signaled, 1, 20000), 1);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000), 1);
    wait_metric(&m->termed, 1);
    long id = rh_count(conninfo, "SELECT id FROM switchyard.dead_letters");

    /* replayed with the rules unchanged: fails again, the same dead letter */
    replay_id(conninfo, id);
    wait_metric(&m->termed, 2);
    CHECK_INT(rh_count(conninfo, signaled), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND route = 'side' AND"
             " failures = 2 AND replayed_at IS NULL AND code = 'bad_workflow_id'",
             id);
    CHECK_INT(rh_count(conninfo, q), 1);

    /* fixed: the replay starts the workflow, and only that */
    char *fixed = strdup(two_routes);
    memcpy(strstr(fixed, "payload.BAD"), "payload.n  ", 11);
    FILE *f = fopen(rules, "w");
    fputs(fixed, f);
    fclose(f);
    CHECK_MSG(router_reload(r, &err) == SY_OK, "reload: %s", err.message);
    replay_id(conninfo, id);
    CHECK_INT(rh_wait_count(conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id = 'my-1'", 1,
                            20000),
              1);
    /* and replayed once more: a duplicate */
    replay_id(conninfo, id);
    wait_metric(&m->duplicates, 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs"), 2);
    CHECK_INT(rh_count(conninfo, signaled), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND replayed_at IS NOT"
             " NULL",
             id);
    CHECK_INT(rh_count(conninfo, q), 1);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(fixed);
    free(conninfo);
}

/* dlq replay's headers on a message that is no replay (any publisher can
 * set them): the signal route of an event already applied, named as the
 * route of a dead letter of that event that is another route's, and of no
 * dead letter at all; the start event naming the signal event's dead
 * letter. Each is a duplicate: the signal stays single, the dead letter
 * untouched (before, each forged route replay applied its route again:
 * the faults bench's forged-replay scenario doubled 6391 signals). */
TEST(forged_replay_headers_never_apply_an_event_twice)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlqforge");
    char *rules = rh_write_file("rules-forge.yaml", two_routes);
    router_config cfg;
    rh_config(&cfg, "rt_dlqforge", fixture_nats_url(), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    router_metrics *m = router_get_metrics(r);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char open_body[512], y_body[512];
    rh_event(open_body, sizeof open_body, "open-1", "m.open", 1);
    rh_publish(&n, "rt.rt_dlqforge.a", open_body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    rh_event(y_body, sizeof y_body, "y-1", "m.y", 1);
    rh_publish(&n, "rt.rt_dlqforge.a", y_body);
    static const char signaled[] =
        "SELECT count(*) FROM switchyard.history_events WHERE type = 'workflow.signaled'";
    CHECK_INT(rh_wait_count(conninfo, signaled, 1, 20000), 1);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000), 1);
    wait_metric(&m->termed, 1);
    char id[24];
    snprintf(id, sizeof id, "%ld", rh_count(conninfo, "SELECT id FROM switchyard.dead_letters"));

    const char *other_route[] = {"Sy-Replay-Of", id, "Sy-Replay-Route", "ping", NULL};
    rh_publish_headers(&n, "rt.rt_dlqforge.a", y_body, other_route);
    const char *no_letter[] = {"Sy-Replay-Of", "999", "Sy-Replay-Route", "ping", NULL};
    rh_publish_headers(&n, "rt.rt_dlqforge.a", y_body, no_letter);
    const char *whole[] = {"Sy-Replay-Of", "999", NULL};
    rh_publish_headers(&n, "rt.rt_dlqforge.a", y_body, whole);
    const char *not_its[] = {"Sy-Replay-Of", id, "Sy-Replay-Route", "side", NULL};
    rh_publish_headers(&n, "rt.rt_dlqforge.a", open_body, not_its);
    wait_metric(&m->duplicates, 4);
    CHECK_INT(rh_count(conninfo, signaled), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs"), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters WHERE failures = 1 "
                                 "AND route = 'side' AND replayed_at IS NULL"),
              1);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(conninfo);
}

/* An invalid event is a whole event's dead letter (no route): replayed
 * while still invalid, it updates that dead letter, never adds one. */
TEST(replay_of_a_still_invalid_event_updates_its_dead_letter)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlqinv");
    char *rules = rh_write_file("rules-inv.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "rt_dlqinv", fixture_nats_url(), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    rh_publish(&n, "rt.rt_dlqinv.a", "{\"event_id\":\"inv-1\",\"type\":\"order.created\"}");
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000), 1);
    long id = rh_count(conninfo, "SELECT id FROM switchyard.dead_letters WHERE route IS NULL");
    replay_id(conninfo, id);
    replay_id(conninfo, id);
    char q[200];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND failures = 3 AND"
             " replayed_at IS NULL",
             id);
    CHECK_INT(rh_wait_count(conninfo, q, 1, 20000), 1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(conninfo);
}
