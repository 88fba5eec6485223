/* `switchyard dlq`: a dead letter (a workflow-ID template failure) is
 * listed, and after the rules are fixed and reloaded, `dlq replay`
 * re-injects its original bytes into the pipeline, where it now starts the
 * workflow; the row is marked replayed. A replay runs only the route that
 * failed, and one that fails again updates its dead letter. */
#include "router_helpers.h"

#include "loops.h"
#include "router.h"

#include <stdatomic.h>

/* `switchyard dlq replay --id id` against the test's database and NATS. */
static void replay_id(const char *conninfo, long id)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq replay --id %ld --nats '%s' >/dev/null",
             conninfo, fixture_switchyard_bin(), id, fixture_nats_url());
    CHECK_INT(system(cmd), 0);
}

TEST(replay_after_fixing_the_rules_starts_the_workflow)
{
    rt t;
    rt_start(&t, "rt_dlq");
    char body[512];
    rh_event(body, sizeof body, "dlq-7", "kg.bad", 7);
    rh_publish(&t.n, "rt.rt_dlq.a", body);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters "
                            "WHERE subject = 'rt.rt_dlq.a' AND stream_seq = 1",
                            1, 20000),
              1);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq list -o json | grep -q '\"dlq-7\"'",
             t.conninfo, fixture_switchyard_bin());
    CHECK_INT(system(cmd), 0);

    /* fix the route, reload, replay */
    char *fixed = strdup(rh_rules);
    char *at = strstr(fixed, "bad id {{");
    CHECK(at != NULL);
    memcpy(at, "fixed-{{", 8);
    memmove(at + 8, at + 9, strlen(at + 9) + 1);
    rt_reload_rules(&t, fixed);
    replay_id(t.conninfo, 1);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.runs "
                            "WHERE workflow_id = 'fixed-7'",
                            1, 20000),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                   "WHERE id = 1 AND replayed_at IS NOT NULL"),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    free(fixed);
    rt_stop(&t);
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
    rt t;
    rt_prepare(&t, "rt_dlqsig", rh_rules);
    rh_own_outcomes(&t.cfg, "rtdlqsig", "RT_DLQSIG_OUT");
    t.cfg.timers = false;
    t.cfg.reports = false;
    rh_nats pre; /* leftovers of an earlier run on these servers */
    rh_nats_open(&pre, fixture_nats_url());
    js_DeleteStream(pre.js, "RT_DLQSIG_OUT", NULL, NULL);
    js_DeleteStream(pre.js, "RT_rt_dlqsig", NULL, NULL);
    rh_nats_close(&pre);
    rt_run(&t);
    dl_count notices = {.needle = "\"sig-5\""};
    natsSubscription *sub = NULL;
    CHECK_INT(natsConnection_Subscribe(&sub, t.n.nc, "rtdlqsig.deadletter.>", on_notice, &notices),
              NATS_OK);
    CHECK_INT(natsConnection_Flush(t.n.nc), NATS_OK);
    router_loops *loops = NULL;
    sy_error err = {0};
    CHECK(router_loops_start(&t.cfg, t.r, &t.log, &loops, &err) == SY_OK);

    char body[512];
    rh_event(body, sizeof body, "sig-5", "order.paid", 5);
    const char *tenant[] = {"X-Tenant", "acme", NULL};
    rh_publish_headers(&t.n, "rt.rt_dlqsig.pay", body, tenant);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters WHERE code = "
                            "'workflow_not_found' AND event_id = 'sig-5' AND subject = "
                            "'rt.rt_dlqsig.pay' AND stream_seq = 1 AND length(body) > 0 AND "
                            "headers->>'X-Tenant' = 'acme'",
                            1, 20000),
              1);
    long dl_id =
        rh_count(t.conninfo, "SELECT id FROM switchyard.dead_letters WHERE event_id = 'sig-5'");

    rh_event(body, sizeof body, "start-5", "order.created", 5);
    rh_publish(&t.n, "rt.rt_dlqsig.new", body);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id = 'order-5'", 1,
                            20000),
              1);
    replay_id(t.conninfo, dl_id);
    static const char signaled[] = "SELECT count(*) FROM switchyard.history_events h JOIN "
                                   "switchyard.runs r USING (run_id) WHERE "
                                   "r.workflow_id = 'order-5' AND h.type = 'workflow.signaled'";
    CHECK_INT(rh_wait_count(t.conninfo, signaled, 1, 20000), 1);
    CHECK_INT(
        rh_count(t.conninfo,
                 "SELECT count(*) FROM switchyard.dead_letters WHERE replayed_at IS NOT NULL"),
        1);
    /* the same dead letter replayed again: the route's key is in the inbox */
    replay_id(t.conninfo, dl_id);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.inbox WHERE event_id = "
                            "'sy.route:sig-5/pay-order'",
                            1, 20000),
              1);
    rh_sleep_ms(500); /* a second signal would have landed by now */
    CHECK_INT(rh_count(t.conninfo, signaled), 1);
    /* the notice: published by the relay once, never by the router (its
     * wait is bounded generously: the relay's round may be slow on a
     * loaded machine) */
    CHECK_INT(
        rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.outbox_messages", 0, 20000), 0);
    for (int i = 0; i < 400 && atomic_load(&notices.n) < 1; i++)
        rh_sleep_ms(50);
    rh_sleep_ms(300);
    CHECK_INT(atomic_load(&notices.n), 1);

    router_stop(t.r);
    router_loops_stop(loops);
    natsSubscription_Destroy(sub);
    js_DeleteStream(t.n.js, "RT_DLQSIG_OUT", NULL, NULL);
    rt_stop(&t);
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

static void wait_metric(_Atomic uint64_t *v, uint64_t want)
{
    for (int i = 0; i < 400 && atomic_load(v) < want; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(v), want);
}

static const char signaled_sql[] =
    "SELECT count(*) FROM switchyard.history_events WHERE type = 'workflow.signaled'";

/* A router on two_routes; open-1 starts w-1, y-1 signals it and is the
 * `side` route's dead letter; returns that dead letter's id. y_body: y-1's
 * bytes (or NULL), for publishing it again. */
static long two_routes_dead_letter(rt *t, const char *name, char *y_body, size_t y_len)
{
    rt_start_rules(t, name, two_routes);
    char subject[64], body[512];
    snprintf(subject, sizeof subject, "rt.%s.a", name);
    rh_event(body, sizeof body, "open-1", "m.open", 1);
    rh_publish(&t->n, subject, body);
    CHECK_INT(rh_wait_count(t->conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    rh_event(body, sizeof body, "y-1", "m.y", 1);
    rh_publish(&t->n, subject, body);
    if (y_body)
        snprintf(y_body, y_len, "%s", body);
    CHECK_INT(rh_wait_count(t->conninfo, signaled_sql, 1, 20000), 1);
    CHECK_INT(rh_wait_count(t->conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000),
              1);
    wait_metric(&router_get_metrics(t->r)->termed, 1);
    return rh_count(t->conninfo, "SELECT id FROM switchyard.dead_letters");
}

TEST(replay_runs_only_the_route_that_failed)
{
    rt t;
    long id = two_routes_dead_letter(&t, "rt_dlqroute", NULL, 0);
    router_metrics *m = router_get_metrics(t.r);

    /* replayed with the rules unchanged: fails again, the same dead letter */
    replay_id(t.conninfo, id);
    wait_metric(&m->termed, 2);
    CHECK_INT(rh_count(t.conninfo, signaled_sql), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND route = 'side' AND"
             " failures = 2 AND replayed_at IS NULL AND code = 'bad_workflow_id'",
             id);
    CHECK_INT(rh_count(t.conninfo, q), 1);

    /* fixed: the replay starts the workflow, and only that */
    char *fixed = strdup(two_routes);
    memcpy(strstr(fixed, "payload.BAD"), "payload.n  ", 11);
    rt_reload_rules(&t, fixed);
    free(fixed);
    replay_id(t.conninfo, id);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id = 'my-1'", 1,
                            20000),
              1);
    /* and replayed once more: a duplicate */
    replay_id(t.conninfo, id);
    wait_metric(&m->duplicates, 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs"), 2);
    CHECK_INT(rh_count(t.conninfo, signaled_sql), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND replayed_at IS NOT"
             " NULL",
             id);
    CHECK_INT(rh_count(t.conninfo, q), 1);
    rt_stop(&t);
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
    rt t;
    char y_body[512], open_body[512], id[24];
    snprintf(id, sizeof id, "%ld",
             two_routes_dead_letter(&t, "rt_dlqforge", y_body, sizeof y_body));
    rh_event(open_body, sizeof open_body, "open-1", "m.open", 1);
    router_metrics *m = router_get_metrics(t.r);

    const char *other_route[] = {"Sy-Replay-Of", id, "Sy-Replay-Route", "ping", NULL};
    rh_publish_headers(&t.n, "rt.rt_dlqforge.a", y_body, other_route);
    const char *no_letter[] = {"Sy-Replay-Of", "999", "Sy-Replay-Route", "ping", NULL};
    rh_publish_headers(&t.n, "rt.rt_dlqforge.a", y_body, no_letter);
    const char *whole[] = {"Sy-Replay-Of", "999", NULL};
    rh_publish_headers(&t.n, "rt.rt_dlqforge.a", y_body, whole);
    const char *not_its[] = {"Sy-Replay-Of", id, "Sy-Replay-Route", "side", NULL};
    rh_publish_headers(&t.n, "rt.rt_dlqforge.a", open_body, not_its);
    wait_metric(&m->duplicates, 4);
    CHECK_INT(rh_count(t.conninfo, signaled_sql), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs"), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    CHECK_INT(rh_count(t.conninfo,
                       "SELECT count(*) FROM switchyard.dead_letters WHERE failures = 1 "
                       "AND route = 'side' AND replayed_at IS NULL"),
              1);
    rt_stop(&t);
}

/* An invalid event is a whole event's dead letter (no route): replayed
 * while still invalid, it updates that dead letter, never adds one. */
TEST(replay_of_a_still_invalid_event_updates_its_dead_letter)
{
    rt t;
    rt_start(&t, "rt_dlqinv");
    rh_publish(&t.n, "rt.rt_dlqinv.a", "{\"event_id\":\"inv-1\",\"type\":\"order.created\"}");
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000),
              1);
    long id = rh_count(t.conninfo, "SELECT id FROM switchyard.dead_letters WHERE route IS NULL");
    replay_id(t.conninfo, id);
    replay_id(t.conninfo, id);
    char q[200];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM switchyard.dead_letters WHERE id = %ld AND failures = 3 AND"
             " replayed_at IS NULL",
             id);
    CHECK_INT(rh_wait_count(t.conninfo, q, 1, 20000), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    rt_stop(&t);
}
