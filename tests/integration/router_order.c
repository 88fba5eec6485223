/* Stream order per workflow across `switchyard serve` processes
 * (router/order.h, README "Guarantees"): two serve processes of two
 * pipelines each share one stream; workflows are started on one subject
 * and route and signaled on others by two routes, every signal published
 * in stream order; every workflow's history lists its signals in that
 * order, also when one process is SIGKILLed mid-stream and restarted (its
 * events come back after ack_wait while the other process carries on).
 * SY_TEST_ORDER_OFF=1 runs the same with consumer.order false, to see the
 * test fail without the guarantee. */
#include "router_helpers.h"

#include <signal.h>
#include <sys/wait.h>

#define ORDER_RULES                                                                                \
    "version: 1\n"                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: open\n"                                                                             \
    "    match: { type: acct.opened }\n"                                                           \
    "    start: { workflow: acct, id: \"acct-{{ payload.w }}\" }\n"                                \
    "  - name: even\n"                                                                             \
    "    match: { type: acct.even }\n"                                                             \
    "    signal: { id: \"acct-{{ payload.w }}\", name: tick, payload: { k: \"{{ payload.k }}\" }," \
    " if_missing: dead_letter }\n"                                                                 \
    "  - name: odd\n"                                                                              \
    "    match: { type: acct.odd }\n"                                                              \
    "    signal: { id: \"acct-{{ payload.w }}\", name: tock, payload: { k: \"{{ payload.k }}\" }," \
    " if_missing: dead_letter }\n"                                                                 \
    "workflows:\n"                                                                                 \
    "  acct:\n"                                                                                    \
    "    steps:\n"                                                                                 \
    "      - wait: never\n"

typedef struct order_fx {
    char *conninfo, *rules, *cfg[2];
    int port[2];
    pid_t pid[2];
    natsConnection *nc;
    jsCtx *js;
    char name[32];
} order_fx;

static void serve_up(order_fx *fx, int i)
{
    const char *off = getenv("SY_TEST_ORDER_OFF");
    char yaml[2048], file[48], resp[4096];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\"}\n"
             "stream: {name: RT_%s, subjects: [\"rt.%s.>\"], storage: memory,"
             " outcomes_subjects: []}\n"
             "consumer: {batch_size: 64, fetch_wait: 20ms, ack_wait: 2s, nak_delay: 100ms,"
             " max_deliver: -1, order: %s}\n"
             "engine: {outbox_relay: false}\n"
             "rules: {path: \"%s\"}\nadmin: {listen: \"127.0.0.1:%d\"}\nlog: {level: warn}\n",
             fixture_nats_url(), fx->conninfo, fx->name, fx->name,
             off && *off == '1' ? "false" : "true", fx->rules, fx->port[i]);
    snprintf(file, sizeof file, "%s-serve-%d.yaml", fx->name, i);
    if (!fx->cfg[i])
        fx->cfg[i] = rh_write_file(file, yaml);
    fx->pid[i] = rh_spawn_serve(fx->cfg[i]);
    int status = 0;
    for (int k = 0; k < 300 && status != 200; k++, rh_sleep_ms(100))
        status = rh_http(fx->port[i], "GET", "/readyz", NULL, resp, sizeof resp);
    CHECK_MSG(status == 200, "serve %d not ready: %d %s", i, status, resp);
}

static void serve_kill(order_fx *fx, int i)
{
    if (fx->pid[i] <= 0)
        return;
    kill(fx->pid[i], SIGKILL);
    int st;
    waitpid(fx->pid[i], &st, 0);
    fx->pid[i] = 0;
}

static void fx_open_rules(order_fx *fx, const char *name, const char *rules)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->name, sizeof fx->name, "%s", name);
    fx->conninfo = fixture_pg_fresh_db(name);
    fx->rules = rh_write_file("order-rules.yaml", rules);
    CHECK_INT(natsConnection_ConnectTo(&fx->nc, fixture_nats_url()), NATS_OK);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    CHECK_INT(natsConnection_JetStream(&fx->js, fx->nc, &jo), NATS_OK);
    for (int i = 0; i < 2; i++) {
        fx->port[i] = rh_free_port();
        serve_up(fx, i);
    }
}

static void fx_open(order_fx *fx, const char *name)
{
    fx_open_rules(fx, name, ORDER_RULES);
}

static void fx_close(order_fx *fx)
{
    serve_kill(fx, 0);
    serve_kill(fx, 1);
    jsCtx_Destroy(fx->js);
    natsConnection_Destroy(fx->nc);
    unlink(fx->rules);
    free(fx->rules);
    for (int i = 0; i < 2; i++) {
        if (fx->cfg[i])
            unlink(fx->cfg[i]);
        free(fx->cfg[i]);
    }
    free(fx->conninfo);
}

/* One event, published asynchronously on the one connection: the stream
 * keeps the order of publishes (the PubAcks are awaited in flush). */
static void publish(order_fx *fx, const char *subject, const char *id, const char *type, int w,
                    int k)
{
    char body[512], subj[96];
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"type\":\"%s\",\"source\":\"test\","
             "\"occurred_at\":\"2026-01-02T03:04:05Z\",\"trace_id\":"
             "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"
             "\"payload\":{\"w\":%d,\"k\":%d}}",
             id, type, w, k);
    snprintf(subj, sizeof subj, "rt.%s.%s", fx->name, subject);
    natsStatus s = js_PublishAsync(fx->js, subj, body, (int)strlen(body), NULL);
    CHECK_MSG(s == NATS_OK, "publish: %s", natsStatus_GetText(s));
}

static void flush(order_fx *fx)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    CHECK_INT(js_PublishAsyncComplete(fx->js, &po), NATS_OK);
    natsMsgList pending = {0};
    CHECK_INT(js_PublishAsyncGetPendingList(&pending, fx->js), NATS_NOT_FOUND);
}

/* Starts of workflows [0, nw), then signal rounds [k0, k1) (round k
 * signals every workflow once), on subjects and routes of their own. */
static void publish_starts(order_fx *fx, int nw)
{
    char id[64];
    for (int w = 0; w < nw; w++) {
        snprintf(id, sizeof id, "open-%d", w);
        publish(fx, "open", id, "acct.opened", w, 0);
    }
    flush(fx);
}

/* Signal rounds [k0, k1) of workflows [0, nw): in blocks of 25 workflows,
 * round by round (round k signals each workflow of the block once), so
 * that one workflow's signals are 25 events apart: closer than what the
 * four pipelines hold at once, and farther than one batch. */
static void publish_rounds(order_fx *fx, int nw, int k0, int k1)
{
    char id[64], subj[32];
    for (int b = 0; b < nw; b += 25) {
        for (int k = k0; k < k1; k++)
            for (int w = b; w < b + 25 && w < nw; w++) {
                snprintf(id, sizeof id, "sig-%d-%d", w, k);
                snprintf(subj, sizeof subj, "sig.%d", w % 4);
                publish(fx, subj, id, k % 2 ? "acct.odd" : "acct.even", w, k);
            }
        if (b % 200 == 175)
            flush(fx);
    }
    flush(fx);
}

/* Process i's counter name (with its leading newline and trailing space),
 * -1 when unreadable. */
static long metric(order_fx *fx, int i, const char *name)
{
    static char resp[262144];
    if (fx->pid[i] <= 0 || rh_http(fx->port[i], "GET", "/metrics", NULL, resp, sizeof resp) != 200)
        return -1;
    const char *at = strstr(resp, name);
    return at ? atol(at + strlen(name)) : -1L;
}

/* What stream order held in process i (diagnostics on stderr). */
static void print_held(order_fx *fx, int i)
{
    const char *names[] = {"\nswitchyard_order_held_total ", "\nswitchyard_order_forced_total ",
                           "\nswitchyard_events_received_total "};
    for (size_t k = 0; k < 3; k++)
        fprintf(stderr, "serve %d:%s%ld\n", i, names[k], metric(fx, i, names[k]));
}

/* Every workflow's signals as in stream order: 0..nk-1, each once. */
static void check_histories(order_fx *fx, int nw, int nk)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM switchyard.history_events WHERE type = "
             "'workflow.signaled'");
    long got = rh_wait_count(fx->conninfo, sql, (long)nw * nk, 40000);
    print_held(fx, 0);
    print_held(fx, 1);
    CHECK_MSG(got == (long)nw * nk, "signals applied: %ld of %d", got, nw * nk);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT r.workflow_id, array_agg((h.data->'payload'->>'k')::int "
             "ORDER BY h.seq) AS ks FROM switchyard.history_events h JOIN switchyard.runs r "
             "USING (run_id) WHERE h.type = 'workflow.signaled' GROUP BY r.workflow_id) x "
             "WHERE ks = (SELECT array_agg(g ORDER BY g) FROM generate_series(0, %d) g)",
             nk - 1);
    long in_order = rh_count(fx->conninfo, sql);
    CHECK_MSG(in_order == nw,
              "workflows whose history lists the signals in stream order: %ld of %d", in_order, nw);
    CHECK_INT(rh_count(fx->conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    CHECK_INT(rh_count(fx->conninfo, "SELECT count(*) FROM switchyard.runs"), nw);
}

TEST(signals_of_one_workflow_apply_in_stream_order_across_two_serves)
{
    order_fx fx;
    fx_open(&fx, "order_two");
    publish_starts(&fx, 1000);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", 1000, 30000),
              1000);
    publish_rounds(&fx, 1000, 0, 20);
    check_histories(&fx, 1000, 20);
    fx_close(&fx);
}

TEST(stream_order_holds_across_a_sigkill_and_redelivery)
{
    order_fx fx;
    fx_open(&fx, "order_kill");
    publish_starts(&fx, 400);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", 400, 30000), 400);
    publish_rounds(&fx, 400, 0, 10);
    /* mid-stream: process 0 has batches in flight; their events come back
     * after ack_wait (2 s) while process 1 goes on with later rounds */
    serve_kill(&fx, 0);
    long at_kill = rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.history_events "
                                         "WHERE type = 'workflow.signaled'");
    publish_rounds(&fx, 400, 10, 20);
    serve_up(&fx, 0);
    check_histories(&fx, 400, 20);
    CHECK_MSG(at_kill < 400 * 20, "the kill happened mid-stream (%ld signals applied)", at_kill);
    fx_close(&fx);
}

/* Rules under which no two events name one workflow (every ID is
 * "n-{{ event_id }}") leave stream order nothing to fence: the pipelines
 * of two processes write no lane and hold nothing, and every event starts
 * its run once. */
#define ORDER_FREE_RULES                                                                           \
    "version: 1\n"                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: open\n"                                                                             \
    "    match: { type: acct.opened }\n"                                                           \
    "    start: { workflow: acct, id: \"n-{{ event_id }}\" }\n"                                    \
    "workflows:\n"                                                                                 \
    "  acct:\n"                                                                                    \
    "    steps:\n"                                                                                 \
    "      - wait: never\n"

TEST(rules_where_no_two_events_name_one_workflow_write_no_lane)
{
    order_fx fx;
    fx_open_rules(&fx, "order_free", ORDER_FREE_RULES);
    publish_starts(&fx, 2000);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", 2000, 30000),
              2000);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.order_lanes"), 0);
    for (int i = 0; i < 2; i++)
        CHECK_INT(metric(&fx, i, "\nswitchyard_order_held_total "), 0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox"), 2000);
    fx_close(&fx);
}

/* The web UI's recent events (GET /api/v1/events, the Events page) list
 * an event stream order held once, as it ended: a held event was pushed
 * into the ring when it was held and again when it committed, and showed
 * twice (held, then applied). */
TEST(the_recent_events_show_a_held_event_once)
{
    order_fx fx;
    fx_open(&fx, "order_recent");
    publish_starts(&fx, 100);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", 100, 30000), 100);
    publish_rounds(&fx, 100, 0, 6);
    check_histories(&fx, 100, 6);
    static char resp[1 << 20];
    long held = 0, listed = 0, twice = 0, still_held = 0;
    for (int i = 0; i < 2; i++) {
        held += metric(&fx, i, "\nswitchyard_order_held_total ");
        CHECK_INT(rh_http(fx.port[i], "GET", "/api/v1/events?limit=512", NULL, resp, sizeof resp),
                  200);
        const char *body = strstr(resp, "\r\n\r\n");
        cJSON *j = body ? cJSON_Parse(body + 4) : NULL;
        CHECK_MSG(j, "not JSON: %.200s", resp);
        const cJSON *e;
        char *seen = calloc(4096, 1);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "events"))
        {
            int seq = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "stream_seq"));
            CHECK(seq > 0 && seq < 4096);
            twice += seen[seq]++ > 0;
            still_held +=
                strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "outcome")), "held") == 0;
            listed++;
        }
        free(seen);
        cJSON_Delete(j);
    }
    CHECK_MSG(held > 0, "stream order held no event (%ld): nothing was tested", held);
    CHECK_MSG(twice == 0, "%ld of %ld recent events listed twice (%ld held)", twice, listed, held);
    CHECK_MSG(still_held == 0, "%ld events still listed as held", still_held);
    CHECK_MSG(listed > 0, "no recent events listed");
    fx_close(&fx);
}
