/* The router and the envelope's forms and refusals, against real servers:
 * a signature nobody can check is dead-lettered (unknown_key), never taken
 * for a signed event; a dead letter keeps every field that parsed;
 * CloudEvents in binary and structured mode start workflows. */
#include "router_helpers.h"

/* The dead letters of a test matching 'where', once there are 'want'. */
static long dead_letters(const rt *t, const char *where, long want)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM switchyard.dead_letters WHERE %s", where);
    return rh_wait_count(t->conninfo, sql, want, 20000);
}

/* issue 19 item 2: with no keyring configured the signature headers were
 * ignored and the event started its workflow as if it were signed */
TEST(a_signature_with_no_keyring_is_dead_lettered_unknown_key)
{
    rt t = {0};
    rt_start(&t, "rt_env_sig");
    char body[512];
    rh_event(body, sizeof body, "signed-1", "order.created", 1);
    const char *const hdrs[] = {"Sy-Key-Id", "k1", "Sy-Signature", "AAAA", NULL};
    rh_publish_headers(&t.n, "rt.rt_env_sig.a", body, hdrs);
    rh_event(body, sizeof body, "plain-2", "order.created", 2);
    rh_publish(&t.n, "rt.rt_env_sig.a", body);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    CHECK_INT(dead_letters(&t,
                           "code = 'unknown_key' AND stream_seq = 1 AND message = 'Sy-Key-Id: "
                           "no keyring is configured to verify key \"k1\"' AND "
                           "headers->>'Sy-Key-Id' = 'k1'",
                           1),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs WHERE workflow_id = "
                                   "'order-1'"),
              0);
    router_metrics *m = router_get_metrics(t.r);
    for (int i = 0; i < 100 && atomic_load(&m->termed) < 1; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(&m->termed), 1);
    rt_stop(&t);
}

/* A row's column, or "NULL" (static buffer). */
static const char *dl_col(const rt *t, const char *col, long seq)
{
    static char v[256];
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(%s, 'NULL') FROM switchyard.dead_letters WHERE stream_seq = %ld", col,
             seq);
    PGconn *c = PQconnectdb(t->conninfo);
    PGresult *r = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
              PQerrorMessage(c));
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* issue 19 item 12: a schema failure's dead letter had event_id
 * "sy.dl:<stream>:<seq>" and no trace_id, in its row and its log line */
TEST(a_dead_letter_keeps_every_field_that_parsed)
{
    rt t = {0};
    rt_prepare(&t, "rt_env_fields", rh_rules);
    rh_set(&t.cfg.schemas_dir, fixture_source_path("schemas"));
    char log_path[128];
    snprintf(log_path, sizeof log_path, "/tmp/sy-rt-env-fields-%d.log", (int)getpid());
    FILE *log = fopen(log_path, "w+");
    CHECK(log != NULL);
    t.log_fd = fileno(log);
    rt_run(&t);
    char body[512];
    rh_event(body, sizeof body, "rv-1", "review.approved", 1); /* no reviewer: schema */
    rh_publish(&t.n, "rt.rt_env_fields.a", body);
    rh_publish(&t.n, "rt.rt_env_fields.a", /* a bad time, the rest fine */
               "{\"event_id\":\"tm-2\",\"type\":\"order.created\",\"source\":\"test\","
               "\"occurred_at\":\"2026-13-02T03:04:05Z\",\"trace_id\":"
               "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,\"payload\":{}}");
    rh_publish(&t.n, "rt.rt_env_fields.a", /* a bad trace id and type: those stay unknown */
               "{\"event_id\":\"tr-3\",\"type\":\"a..b\",\"source\":\"test\","
               "\"occurred_at\":\"2026-01-02T03:04:05Z\",\"trace_id\":\"nope\","
               "\"schema_version\":1,\"payload\":{}}");
    rh_publish(&t.n, "rt.rt_env_fields.a", "{not json");
    rh_event(body, sizeof body, "pay-5", "order.paid", 5); /* valid, refused by the engine */
    rh_publish(&t.n, "rt.rt_env_fields.a", body);
    CHECK_INT(dead_letters(&t, "true", 5), 5);
    CHECK_STR(dl_col(&t, "code", 1), "schema_mismatch");
    CHECK_STR(dl_col(&t, "message", 1), "payload.reviewer: required property is missing");
    const char *cols[] = {"event_id", "trace_id", "type", "source"};
    const char *want[][4] = {
        {"rv-1", "4bf92f3577b34da6a3ce929d0e0e4736", "review.approved", "test"},
        {"tm-2", "4bf92f3577b34da6a3ce929d0e0e4736", "order.created", "test"},
        {"tr-3", "NULL", "NULL", "test"},
        {"NULL", "NULL", "NULL", "NULL"},
        {"pay-5", "4bf92f3577b34da6a3ce929d0e0e4736", "order.paid", "test"},
    };
    CHECK_STR(dl_col(&t, "code", 5), "workflow_not_found");
    for (long seq = 1; seq <= 5; seq++)
        for (int c = 0; c < 4; c++)
            CHECK_MSG(strcmp(dl_col(&t, cols[c], seq), want[seq - 1][c]) == 0,
                      "seq %ld: %s is %s, expected %s", seq, cols[c], dl_col(&t, cols[c], seq),
                      want[seq - 1][c]);
    /* dlq show says the same */
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq list -o json | grep '\"stream_seq\":1,'",
             t.conninfo, fixture_switchyard_bin());
    CHECK_INT(fixture_run(cmd, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"event_id\":\"rv-1\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                          "\"type\":\"review.approved\",\"source\":\"test\",") != NULL,
              "dlq list printed %s", out);
    /* and the log line */
    rt_stop(&t);
    char text[16384];
    rewind(log);
    size_t n = fread(text, 1, sizeof text - 1, log);
    text[n] = '\0';
    fclose(log);
    unlink(log_path);
    char *line = strstr(text, "\"stream_seq\":\"1\"");
    CHECK_MSG(line != NULL, "no dead-letter line for seq 1 in %s", text);
    while (line > text && line[-1] != '\n')
        line--;
    *strchrnul(line, '\n') = '\0';
    CHECK_MSG(strstr(line, "\"event_id\":\"rv-1\"") &&
                  strstr(line, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") &&
                  strstr(line, "\"type\":\"review.approved\"") &&
                  strstr(line, "\"source\":\"test\""),
              "the log line lacks what parsed: %s", line);
}

/* issue 19 item 19: a binary-mode CloudEvent was dead-lettered unknown_field
 * id (its body read as an envelope), and a minimal structured one
 * missing_field time */
TEST(cloudevents_in_both_modes_start_workflows)
{
    rt t = {0};
    rt_start(&t, "rt_env_ce");
    const char *const bin[] = {"ce-specversion",
                               "1.0",
                               "ce-id",
                               "ce-bin-3",
                               "ce-type",
                               "order.created",
                               "ce-source",
                               "/shop/orders",
                               "ce-datacontenttype",
                               "application/json",
                               NULL};
    rh_publish_headers(&t.n, "rt.rt_env_ce.a", "{\"n\":3}", bin);
    const char *const structured[] = {"Content-Type", "application/cloudevents+json", NULL};
    rh_publish_headers(&t.n, "rt.rt_env_ce.a",
                       "{\"specversion\":\"1.0\",\"id\":\"ce-st-4\",\"type\":\"order.created\","
                       "\"source\":\"/shop/orders\",\"data\":{\"n\":4}}",
                       structured);
    const char *const bad[] = {"ce-specversion", "1.0",           "ce-id",     "ce-bad-5",
                               "ce-type",        "order.created", "ce-source", "/shop/orders",
                               "ce-time",        "yesterday",     NULL};
    rh_publish_headers(&t.n, "rt.rt_env_ce.a", "{\"n\":5}", bad);
    /* an attribute header given twice: refused, never one of them taken */
    natsMsg *twice = NULL;
    CHECK_INT(natsMsg_Create(&twice, "rt.rt_env_ce.a", NULL, "{\"n\":6}", 7), NATS_OK);
    for (size_t i = 0; bin[i]; i += 2)
        CHECK_INT(
            natsMsgHeader_Set(twice, bin[i], strcmp(bin[i], "ce-id") ? bin[i + 1] : "ce-2x-6"),
            NATS_OK);
    CHECK_INT(natsMsgHeader_Add(twice, "ce-id", "ce-2x-7"), NATS_OK);
    jsPubAck *pa = NULL;
    CHECK_INT(js_PublishMsg(&pa, t.n.js, twice, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(twice);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id IN "
                            "('order-3', 'order-4') AND length(trace_id) = 32",
                            2, 20000),
              2);
    /* the defaults: its time is when the stream received it, its trace id
     * derived from source and id (the same on every delivery) */
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs r, switchyard.inbox i "
                                   "WHERE r.workflow_id = 'order-3' AND i.event_id = 'ce-bin-3'"),
              1);
    CHECK_INT(dead_letters(&t,
                           "code = 'bad_timestamp' AND event_id = 'ce-bad-5' AND type = "
                           "'order.created' AND source = '/shop/orders' AND message LIKE "
                           "'%ce-time%' AND headers->>'ce-time' = 'yesterday'",
                           1),
              1);
    CHECK_INT(dead_letters(&t, "code = 'duplicate_key' AND message LIKE '%ce-id%'", 1), 1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 2);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs WHERE workflow_id = "
                                   "'order-6'"),
              0);
    rt_stop(&t);
}
