/* Flow control through `switchyard serve` processes against real servers
 * (docs/flow-control.md): dedupe, rate_limit, debounce and throttle keep
 * their promise across two serve processes sharing one stream, and across
 * a SIGKILL of one of them mid-stream: a dedupe key passes once, a
 * debounced key starts once per quiet period with its last event, throttled
 * starts never exceed the rate and none is lost, a batch holds each event
 * once; what flow control did shows in /metrics. */
#include "serve_support.h"

#include "timefmt.h"

#include <signal.h>
#include <sys/wait.h>

#define FLOW_RULES                                                                                 \
    "version: 1\n"                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: once\n"                                                                             \
    "    match: { type: order.placed }\n"                                                          \
    "    dedupe: { key: \"{{ payload.n }}\", ttl: 1h }\n"                                          \
    "    start: { workflow: w, id: \"o-{{ event_id }}\", input: { n: \"{{ payload.n }}\" } }\n"    \
    "  - name: limited\n"                                                                          \
    "    match: { type: mail.send }\n"                                                             \
    "    rate_limit: { key: \"{{ payload.n }}\", limit: 1, period: 1h }\n"                         \
    "    start: { workflow: w, id: \"m-{{ event_id }}\" }\n"                                       \
    "  - name: quiet\n"                                                                            \
    "    match: { type: doc.edited }\n"                                                            \
    "    debounce: { key: \"{{ subject }}\", period: 4s }\n"                                       \
    "    start: { workflow: w, id: \"idx-{{ subject }}-{{ event_id }}\","                          \
    " input: { v: \"{{ payload.n }}\", round: \"{{ payload.round }}\" } }\n"                       \
    "  - name: paced\n"                                                                            \
    "    match: { type: job.queued }\n"                                                            \
    "    throttle: { key: all, limit: 20, period: 1s }\n"                                          \
    "    start: { workflow: w, id: \"j-{{ event_id }}\" }\n"                                       \
    "  - name: digest\n"                                                                           \
    "    match: { type: row.added }\n"                                                             \
    "    batch: { key: \"{{ subject }}\", max_size: 7, timeout: 1s }\n"                            \
    "    start: { workflow: w, id: \"digest-{{ event_id }}\" }\n"                                  \
    "workflows:\n"                                                                                 \
    "  w:\n"                                                                                       \
    "    steps:\n"                                                                                 \
    "      - wait: never\n"

/* An event of a subject with its own occurred_at (ms after 2026-01-01). */
static void publish_at(serve_fx *fx, const char *type, const char *id, const char *subject, int n,
                       int round, int64_t at_ms)
{
    char body[640], subj[96], ts[SY_TIME_RFC3339_MAX];
    sy_time_format_rfc3339(1767225600000LL + at_ms, ts);
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"type\":\"%s\",\"source\":\"test\",\"subject\":\"%s\","
             "\"occurred_at\":\"%s\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
             "\"schema_version\":1,\"payload\":{\"n\":%d,\"round\":%d}}",
             id, type, subject, ts, n, round);
    snprintf(subj, sizeof subj, "rt.%s.e", fx->subj);
    rh_publish(&fx->n, subj, body);
}

TEST(dedupe_passes_each_key_once_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "flow_dedupe2", FLOW_RULES, 2);
    char id[64];
    /* 100 keys, three events each, the repeats far apart in the stream */
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 100; k++) {
            snprintf(id, sizeof id, "p-%d-%d", round, k);
            publish(&fx, "order.placed", id, k);
        }
        if (round == 1) /* mid-stream: batches are in flight */
            serve_kill(&fx, 0);
    }
    serve_up(&fx, 0);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox", 300, 30000), 300);
    rh_sleep_ms(1000); /* redeliveries would double something now */
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), 100);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(DISTINCT input->>'n') FROM switchyard.runs"),
              100);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.flow_keys"), 100);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    serve_close(&fx);
}

TEST(what_flow_control_dropped_or_holds_shows_in_metrics_by_reason)
{
    serve_fx fx;
    serve_open(&fx, "flow_metrics", FLOW_RULES, 1);
    publish(&fx, "order.placed", "a1", 1);
    publish(&fx, "order.placed", "a2", 1);
    publish(&fx, "order.placed", "a3", 1);
    publish(&fx, "mail.send", "m1", 1);
    publish(&fx, "mail.send", "m2", 1);
    publish_at(&fx, "doc.edited", "h1", "s", 1, 0, 0); /* held for the 4 s quiet period */
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox", 6, 20000), 6);
    long acked = -1; /* acked after its commit: the counters are final then */
    for (int i = 0; i < 100 && acked != 6; i++, rh_sleep_ms(50))
        acked = metric(&fx, 0, "switchyard_messages_acked_total ");
    CHECK_INT(metric(&fx, 0, "switchyard_flow_actions_total{outcome=\"passed\"} "), 2);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_actions_total{outcome=\"deduped\"} "), 2);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_actions_total{outcome=\"rate_limited\"} "), 1);
    CHECK_INT(metric(&fx, 0, "switchyard_workflows_started_total "), 2);
    CHECK_INT(metric(&fx, 0, "switchyard_messages_acked_total "), 6);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_actions_total{outcome=\"debounced\"} "), 1);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_held{kind=\"debounce\"} "), 1);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_held{kind=\"throttle\"} "), 0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), 2);
    serve_close(&fx);
}

TEST(a_debounced_key_starts_once_per_quiet_period_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "flow_debounce2", FLOW_RULES, 2);
    char id[64], subject[16];
    int64_t at = 0;
    for (int round = 0; round < 2; round++) {
        for (int v = 0; v < 4; v++) {
            for (int k = 0; k < 30; k++) {
                snprintf(id, sizeof id, "e-%d-%d-%d", round, k, v);
                snprintf(subject, sizeof subject, "d%d", k);
                publish_at(&fx, "doc.edited", id, subject, v, round, at++);
            }
            if (round == 0 && v == 1) /* mid-burst: batches and held keys in flight */
                serve_kill(&fx, 0);
        }
        if (round == 0)
            serve_up(&fx, 0);
        /* quiet for longer than the period: every key fires, once */
        CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs",
                                30 * (round + 1), 30000),
                  30 * (round + 1));
        rh_sleep_ms(round == 0 ? 1500 : 5000);
    }
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox"), 240);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), 60);
    /* each key once a round, with its last event */
    CHECK_INT(rh_count(fx.conninfo,
                       "SELECT count(*) FROM (SELECT DISTINCT split_part(workflow_id, '-', 2),"
                       " input->>'round' FROM switchyard.runs) x"),
              60);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs WHERE input->>'v' = '3'"),
              60);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.flow_keys WHERE fire_at IS"
                                    " NOT NULL"),
              0);
    long fired0 = metric(&fx, 0, "switchyard_flow_fired_total ");
    long fired1 = metric(&fx, 1, "switchyard_flow_fired_total ");
    CHECK_MSG(fired0 >= 0 && fired1 >= 0 && fired0 + fired1 <= 60, "fired %ld + %ld", fired0,
              fired1);
    serve_close(&fx);
}

TEST(throttled_starts_never_exceed_the_rate_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "flow_throttle2", FLOW_RULES, 2);
    char id[64];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "j%03d", i);
        publish_at(&fx, "job.queued", id, "q", i, 0, i);
        if (i == 50)
            serve_kill(&fx, 0);
    }
    rh_sleep_ms(1000);
    serve_up(&fx, 0);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", 100, 30000), 100);
    rh_sleep_ms(500);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), 100);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.flow_items"), 0);
    /* 20 a second: in any window of w ms at most burst + (w + 100) / 50 + 1
     * (docs/flow-control.md: a queue up to 100 ms behind keeps its slots) */
    PGconn *c = PQconnectdb(fx.conninfo);
    PGresult *r = PQexec(c, "SELECT (extract(epoch FROM started_at) * 1000)::bigint FROM"
                            " switchyard.runs ORDER BY started_at");
    CHECK_INT(PQntuples(r), 100);
    long long first = atoll(PQgetvalue(r, 0, 0)), last = atoll(PQgetvalue(r, 99, 0));
    for (int i = 0; i < 100; i++)
        for (int j = i + 1; j < 100; j++) {
            long long w = atoll(PQgetvalue(r, j, 0)) - atoll(PQgetvalue(r, i, 0));
            CHECK_MSG(j - i + 1 <= 1 + (w + 100) / 50 + 1, "%d starts in %lld ms", j - i + 1, w);
        }
    PQclear(r);
    PQfinish(c);
    CHECK_MSG(last - first >= 99 * 50 - 50, "100 starts in %lld ms", last - first);
    serve_close(&fx);
}

TEST(a_batch_holds_each_event_once_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "flow_batch2", FLOW_RULES, 2);
    char id[64], subject[16];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "r%03d", i);
        snprintf(subject, sizeof subject, "t%d", i % 10);
        publish_at(&fx, "row.added", id, subject, i, 0, i);
        if (i == 90) /* mid-stream: batches, held items and firings in flight */
            serve_kill(&fx, 0);
    }
    serve_up(&fx, 0);
    const char *in_runs =
        "SELECT count(*) FROM switchyard.runs, json_array_elements(input->'events')";
    CHECK_INT(rh_wait_count(fx.conninfo, in_runs, 200, 30000), 200);
    rh_sleep_ms(1500); /* a redelivery or a second firing would add to it now */
    CHECK_INT(rh_count(fx.conninfo, in_runs), 200);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(DISTINCT e->>'event_id') FROM switchyard.runs,"
                                    " json_array_elements(input->'events') AS e"),
              200);
    CHECK_INT(rh_count(fx.conninfo, "SELECT max(json_array_length(input->'events')) FROM"
                                    " switchyard.runs"),
              7);
    /* every event of a batch is of its key */
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs r WHERE (SELECT"
                                    " count(DISTINCT e->>'subject') FROM json_array_elements("
                                    "r.input->'events') AS e) <> 1"),
              0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.flow_items"), 0);
    serve_close(&fx);
}

/* ---- concurrency ------------------------------------------------------------------ */

#define CONC_RULES                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: job\n"                                                                              \
    "    match: { type: job.limited }\n"                                                           \
    "    start: { workflow: limited, id: \"c-{{ event_id }}\", input: { c: \"{{ subject }}\","     \
    " p: \"{{ payload.n }}\" } }\n"                                                                \
    "workflows:\n"                                                                                 \
    "  limited:\n"                                                                                 \
    "    concurrency: { key: \"{{ input.c }}\", limit: 2 }\n"                                      \
    "    priority: \"{{ input.p }}\"\n"                                                            \
    "    steps:\n"                                                                                 \
    "      - sleep: 150ms\n"

/* Records, in every transaction that inserts a run, how many runs of its
 * key are running then, itself included (that transaction holds the key's
 * lock: it sees every other start of the key that committed). */
static const char CONC_OVERLAP[] =
    "CREATE TABLE switchyard.overlap (c text, n bigint);"
    " CREATE FUNCTION switchyard.record_overlap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO switchyard.overlap SELECT NEW.input->>'c', count(*) FROM switchyard.runs"
    " WHERE status = 'running' AND input->>'c' = NEW.input->>'c'; RETURN NULL; END $$;"
    " CREATE TRIGGER record_overlap AFTER INSERT ON switchyard.runs FOR EACH ROW EXECUTE"
    " FUNCTION switchyard.record_overlap()";

TEST(a_concurrency_limit_is_never_exceeded_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "flow_conc2", CONC_RULES, 2);
    PGconn *c = PQconnectdb(fx.conninfo);
    PGresult *r = PQexec(c, CONC_OVERLAP);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    char id[64], subject[16];
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof id, "j%03d", i);
        snprintf(subject, sizeof subject, "k%d", i % 3);
        publish_at(&fx, "job.limited", id, subject, i, 0, i);
        if (i == 25) /* mid-stream: starts waiting, slots taken and freed in flight */
            serve_kill(&fx, 0);
    }
    serve_up(&fx, 0);
    /* sampled too: the most runs of one key running at once, over time */
    long most = 0, done = 0;
    for (int k = 0; k < 600 && done < 60; k++, rh_sleep_ms(50)) {
        long n = rh_count(fx.conninfo, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM"
                                       " switchyard.runs WHERE status = 'running' GROUP BY"
                                       " input->>'c') x");
        most = n > most ? n : most;
        done = rh_count(fx.conninfo,
                        "SELECT count(*) FROM switchyard.runs WHERE status = 'completed'");
    }
    CHECK_INT(done, 60);
    CHECK_MSG(most <= 2, "%ld runs of one key at once (limit 2)", most);
    CHECK_INT(rh_count(fx.conninfo, "SELECT max(n) FROM switchyard.overlap"), 2);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.overlap"), 60);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(DISTINCT workflow_id) FROM switchyard.runs"), 60);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.concurrency_queue"), 0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT coalesce(sum(queued), 0) FROM"
                                    " switchyard.concurrency_keys"),
              0);
    CHECK_MSG(metric(&fx, 0, "switchyard_concurrency_starts_total{outcome=\"queued\"} ") +
                      metric(&fx, 1, "switchyard_concurrency_starts_total{outcome=\"queued\"} ") >
                  0,
              "no start waited");
    CHECK_INT(metric(&fx, 1, "switchyard_concurrency_waiting "), 0);
    PQfinish(c);
    serve_close(&fx);
}
