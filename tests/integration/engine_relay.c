/* engine_relay.c: the outbox relay against real nats-server and Postgres:
 * every outcome event lands in a JetStream stream exactly once per
 * event_id (Nats-Msg-Id), rows are deleted only after their PubAck, a relay
 * killed mid-batch (SIGKILL) and restarted loses nothing and doubles
 * nothing, without a server nothing is deleted, and pages are stored
 * compressed. */
#include "devstack.h"
#include "engine_support.h"

#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

static jsCtx *make_stream_window(natsConnection **nc, const char *name, const char *subject,
                                 int64_t dup_window_ms)
{
    jsCtx *js = NULL;
    CHECK_INT(natsConnection_ConnectTo(nc, fixture_nats_url()), NATS_OK);
    CHECK_INT(natsConnection_JetStream(&js, *nc, NULL), NATS_OK);
    js_DeleteStream(js, name, NULL, NULL);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char *subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_MemoryStorage;
    if (dup_window_ms)
        cfg.Duplicates = dup_window_ms * 1000000;
    jsStreamInfo *si = NULL;
    CHECK_INT(js_AddStream(&si, js, &cfg, NULL, NULL), NATS_OK);
    jsStreamInfo_Destroy(si);
    return js;
}

static jsCtx *make_stream(natsConnection **nc, const char *name, const char *subject)
{
    return make_stream_window(nc, name, subject, 0);
}

static uint64_t stream_msgs(jsCtx *js, const char *name)
{
    jsStreamInfo *si = NULL;
    CHECK_INT(js_GetStreamInfo(&si, js, name, NULL, NULL), NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* Deletes the test's stream and closes its connection. */
static void drop_stream(jsCtx *js, natsConnection *nc, const char *name)
{
    js_DeleteStream(js, name, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static engine_relay *relay_new(engine_fx *fx, const char *url, size_t batch, int64_t ack_ms)
{
    engine_relay_opts o = {.conninfo = fx->conninfo, .nats_url = url, .batch = batch,
                           .ack_timeout_ms = ack_ms};
    engine_relay *r = NULL;
    sy_error err = {0};
    CHECK_MSG(engine_relay_new(fx->eng, &o, &r, &err) == SY_OK, "relay: %s", err.message);
    return r;
}

static size_t drain(engine_relay *r)
{
    size_t total = 0, n = 0;
    sy_error err = {0};
    do {
        CHECK_MSG(engine_relay_run_once(r, &n, &err) == SY_OK, "relay: %s", err.message);
        total += n;
    } while (n > 0);
    return total;
}

/* Starts n one-step workflows in batches of 256 (2 outbox rows each). */
static void start_many(engine_fx *fx, int n)
{
    engine_batch *b = engine_batch_new();
    sy_error err = {0};
    for (int i = 0; i < n;) {
        engine_batch_reset(b);
        for (int k = 0; k < 256 && i < n; k++, i++) {
            char wid[32];
            snprintf(wid, sizeof wid, "r-%d", i);
            engine_start_req req = {.workflow_type = "one", .workflow_id = wid};
            engine_batch_start(b, engine_batch_event(b, NULL), &req);
        }
        CHECK_INT(engine_begin(fx->s, &err), SY_OK);
        CHECK_MSG(engine_batch_apply(fx->s, b, &err) == SY_OK, "%s", err.message);
        CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    }
    engine_batch_free(b);
}

TEST(each_outcome_event_is_published_once_per_event_id)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_once", "rlonce");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLONCE", "rlonce.>");
    start_many(&fx, 10);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 20);
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 7, 5000);
    CHECK_INT(drain(r), 20);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 0);
    CHECK_INT(stream_msgs(js, "RLONCE"), 20);
    CHECK_INT(engine_relay_published(r), 20);
    /* a message carries its event_id as Nats-Msg-Id and in the body */
    natsMsg *msg = NULL;
    CHECK_INT(js_GetMsg(&msg, js, "RLONCE", 1, NULL, NULL), NATS_OK);
    const char *id = NULL;
    CHECK_INT(natsMsgHeader_Get(msg, "Nats-Msg-Id", &id), NATS_OK);
    cJSON *body = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(body, "event_id")), id);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(body, "type")), "switchyard.workflow.started");
    cJSON_Delete(body);
    natsMsg_Destroy(msg);
    /* re-publishing the same rows (a crash between PubAck and delete) is
     * dropped by the stream: still one message per event_id */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events", NULL, NULL), 20);
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) SELECT"
                 " array_agg(h.run_id || ':' || h.seq), array_agg('rlonce.replayed'::text),"
                 " array_agg('{}'::text), count(*) FROM history_events h");
    CHECK_INT(drain(r), 20);
    CHECK_INT(stream_msgs(js, "RLONCE"), 20);
    engine_relay_free(r);
    drop_stream(js, nc, "RLONCE");
    engine_fx_close(&fx);
}

TEST(relay_killed_mid_batch_and_restarted_loses_and_doubles_nothing)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_kill", "rlkill");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLKILL", "rlkill.>");
    start_many(&fx, 2000); /* 4000 outbox rows */
    pid_t pid = fixture_fork();
    if (pid == 0) {
        engine_relay *r = relay_new(&fx, fixture_nats_url(), 50, 5000);
        atomic_bool stop = false;
        engine_relay_run(r, &stop);
        _exit(0);
    }
    /* kill it while rows are still waiting */
    uint64_t seen = 0;
    for (int i = 0; i < 2000 && (seen = stream_msgs(js, "RLKILL")) < 400; i++)
        usleep(2000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    long long left = engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL);
    CHECK_MSG(seen > 0 && left > 0, "killed too late: %llu published, %lld left", (unsigned long long)seen, left);
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 500, 5000);
    /* the killed relay's backend holds the relay lock until it sees its
     * client gone: a round before that publishes nothing (n = 0), which
     * drain took for an empty outbox (failed now and then under load) */
    for (int i = 0; i < 250 && engine_fx_int(&fx, "SELECT count(*) FROM outbox", NULL, NULL); i++) {
        drain(r);
        usleep(20 * 1000);
    }
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 0);
    CHECK_INT(stream_msgs(js, "RLKILL"), 4000);
    engine_relay_free(r);
    drop_stream(js, nc, "RLKILL");
    engine_fx_close(&fx);
}

TEST(without_puback_rows_stay_in_the_outbox)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_down", "rldown");
    start_many(&fx, 3);
    /* no server on this port: publishes never get a PubAck */
    engine_relay *r = relay_new(&fx, "nats://127.0.0.1:1", 10, 300);
    size_t n = 99;
    sy_error err = {0};
    sy_status st = engine_relay_run_once(r, &n, &err);
    CHECK(st == SY_OK || st == SY_NATS_DOWN);
    CHECK_INT(n, 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 6);
    engine_relay_free(r);
    /* a relay that can reach NATS publishes them afterwards */
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLDOWN", "rldown.>");
    r = relay_new(&fx, fixture_nats_url(), 10, 5000);
    CHECK_INT(drain(r), 6);
    CHECK_INT(stream_msgs(js, "RLDOWN"), 6);
    engine_relay_free(r);
    drop_stream(js, nc, "RLDOWN");
    engine_fx_close(&fx);
}

/* A Postgres crash right after a round: the round's delete must survive
 * it. Lost, the round's pages are published again after the restart, and
 * later than the stream's duplicate window JetStream stores each of their
 * messages a second time. The WAL writer is slowed to 10 s so that what a
 * commit leaves unwritten is still in Postgres's buffers when it crashes. */
TEST(a_postgres_crash_after_a_round_stores_no_outcome_twice)
{
    devstack *ds = NULL;
    devstack_opts dopts = {.durable = true, .quiet = true};
    sy_error err = {0};
    CHECK_MSG(devstack_start(&dopts, &ds, &err) == SY_OK, "devstack: %s", err.message);
    engine_fx fx = {.conninfo = strdup(devstack_pg_conninfo(ds))};
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts eo = {.workflows = defs, .subject_prefix = "rlcrash"};
    CHECK_INT(engine_new(&eo, NULL, &fx.eng, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_MSG(engine_session_open(fx.eng, fx.conninfo, true, &fx.s, &err) == SY_OK, "open: %s",
              err.message);
    engine_fx_exec(&fx, "ALTER SYSTEM SET wal_writer_delay = '10s'");
    engine_fx_exec(&fx, "SELECT pg_reload_conf()");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream_window(&nc, "RLCRASH", "rlcrash.>", 1000);
    start_many(&fx, 10);
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 2048, 5000);
    size_t n = 0;
    CHECK_MSG(engine_relay_run_once(r, &n, &err) == SY_OK, "relay: %s", err.message);
    CHECK_INT(n, 20);
    CHECK_INT(stream_msgs(js, "RLCRASH"), 20);
    engine_session_close(fx.s);
    fx.s = NULL;
    CHECK_MSG(devstack_pg_crash(ds, &err) == SY_OK, "crash: %s", err.message);
    usleep(1500 * 1000); /* past the duplicate window */
    CHECK_MSG(devstack_pg_start(ds, &err) == SY_OK, "restart: %s", err.message);
    /* the relay reconnects after a failed round or two */
    sy_status st = SY_DB_DOWN;
    for (int i = 0; i < 100 && st != SY_OK; i++) {
        st = engine_relay_run_once(r, &n, &err);
        if (st != SY_OK)
            usleep(100 * 1000);
    }
    CHECK_MSG(st == SY_OK, "relay after the restart: %s", err.message);
    drain(r);
    CHECK_INT(stream_msgs(js, "RLCRASH"), 20);
    CHECK_MSG(engine_session_open(fx.eng, fx.conninfo, false, &fx.s, &err) == SY_OK, "open: %s",
              err.message);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 0);
    engine_relay_free(r);
    drop_stream(js, nc, "RLCRASH");
    engine_session_close(fx.s);
    engine_free(fx.eng);
    free(fx.conninfo);
    devstack_stop(ds);
}

/* Messages that can never be published (no stream holds the subject, a
 * subject that is no subject, a body over the server's max_payload) move
 * to dead letters of their own, with their reason, counted; the other
 * messages of their pages and the pages after them are published in the
 * same round, and nothing stays behind. */
TEST(unpublishable_messages_become_dead_letters_and_hold_nothing_back)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_poison", "rlpoison");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLPOISON", "rlpoison.>");
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) VALUES"
                        " (ARRAY['ok-1', 'gone-1', 'ok-2'],"
                        "  ARRAY['rlpoison.a', 'rlnostream.all-1', 'rlpoison.b'],"
                        "  ARRAY['{\"n\":1}', '{\"lost\":true}', '{\"n\":2}'], 3),"
                        " (ARRAY['bad-1'], ARRAY['rlpoison.a b'], ARRAY['{}'], 1),"
                        " (ARRAY['big-1', 'ok-3'], ARRAY['rlpoison.big', 'rlpoison.c'],"
                        "  ARRAY[repeat('x', 2 * 1024 * 1024), '{\"n\":3}'], 2),"
                        " (ARRAY['ok-4'], ARRAY['rlpoison.d'], ARRAY['{\"n\":4}'], 1)");
    _Atomic uint64_t totals[ENGINE_STAT_COUNT] = {0};
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts eo = {.workflows = defs, .subject_prefix = "rlpoison", .totals = totals};
    engine *eng = NULL;
    sy_error err = {0};
    CHECK_INT(engine_new(&eo, NULL, &eng, &err), SY_OK);
    cJSON_Delete(defs);
    engine_relay_opts o = {
        .conninfo = fx.conninfo, .nats_url = fixture_nats_url(), .ack_timeout_ms = 2000};
    engine_relay *r = NULL;
    CHECK_MSG(engine_relay_new(eng, &o, &r, &err) == SY_OK, "relay: %s", err.message);
    size_t n = 0;
    CHECK_MSG(engine_relay_run_once(r, &n, &err) == SY_OK, "relay: %s", err.message);
    CHECK_INT(n, 4); /* one round: every good message, nothing left */
    CHECK_INT(stream_msgs(js, "RLPOISON"), 4);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters", NULL, NULL), 3);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM dead_letters WHERE event_id = 'gone-1' AND"
                            " code = 'outbox_no_stream' AND subject = 'rlnostream.all-1' AND"
                            " body = convert_to('{\"lost\":true}', 'UTF8') AND"
                            " headers->>'Nats-Msg-Id' = 'gone-1' AND message LIKE '%rlnostream%'",
                            NULL, NULL),
              1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM dead_letters WHERE event_id = 'bad-1' AND"
                            " code = 'outbox_bad_subject' AND message LIKE '%whitespace%'",
                            NULL, NULL),
              1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM dead_letters WHERE event_id = 'big-1' AND"
                            " code = 'outbox_too_large' AND length(body) = 2 * 1024 * 1024",
                            NULL, NULL),
              1);
    CHECK_INT(atomic_load(&totals[ENGINE_STAT_OUTBOX_DEAD_LETTERS]), 3);
    /* the connection survived the bad subject: later rows still go out */
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) VALUES"
                        " (ARRAY['ok-5'], ARRAY['rlpoison.e'], ARRAY['{}'], 1)");
    CHECK_INT(drain(r), 1);
    CHECK_INT(stream_msgs(js, "RLPOISON"), 5);
    engine_relay_free(r);
    engine_free(eng);
    drop_stream(js, nc, "RLPOISON");
    engine_fx_close(&fx);
}

/* A subject over RULES_SUBJECT_MAX bytes is a dead letter of its own (it
 * was published, cut or whole, and one near nats-server's 4 KiB protocol
 * line closes the connection); one just under the limit goes out whole. */
TEST(an_overlong_subject_is_a_dead_letter)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_long", "rllong");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLLONG", "rllong.>");
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) VALUES"
                        " (ARRAY['long-1', 'ok-1'],"
                        "  ARRAY['rllong.' || repeat('x', 1100), 'rllong.' || repeat('y', 1017)],"
                        "  ARRAY['{}', '{}'], 2)");
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 100, 2000);
    CHECK_INT(drain(r), 1);
    CHECK_INT(stream_msgs(js, "RLLONG"), 1); /* the 1024-byte one, whole */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM dead_letters WHERE event_id = 'long-1' AND"
                            " code = 'outbox_bad_subject' AND length(subject) = 1107 AND"
                            " message LIKE '%longer than 1024 bytes%'",
                            NULL, NULL),
              1);
    engine_relay_free(r);
    drop_stream(js, nc, "RLLONG");
    engine_fx_close(&fx);
}

/* While no stream holds any of the engine's own subjects (<prefix>.>: the
 * outcomes stream is not created yet), its outcome events wait in the
 * outbox rather than becoming dead letters, and go out once it exists. */
TEST(outcome_events_wait_for_a_missing_outcomes_stream)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_nostream", "rlwait");
    start_many(&fx, 2);
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 100, 2000);
    size_t n = 9;
    sy_error err = {0};
    CHECK_MSG(engine_relay_run_once(r, &n, &err) == SY_OK, "relay: %s", err.message);
    CHECK_INT(n, 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 4);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters", NULL, NULL), 0);
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLWAIT", "rlwait.>");
    CHECK_INT(drain(r), 4);
    CHECK_INT(stream_msgs(js, "RLWAIT"), 4);
    engine_relay_free(r);
    drop_stream(js, nc, "RLWAIT");
    engine_fx_close(&fx);
}

typedef struct loop_arg {
    engine_relay *r;
    atomic_bool stop;
} loop_arg;

static void *relay_loop(void *arg)
{
    loop_arg *a = arg;
    engine_relay_run(a->r, &a->stop);
    return NULL;
}

/* A backlog of small pages (single API calls, a NATS outage) drains without
 * waiting for a NOTIFY or the poll interval between rounds. */
TEST(a_backlog_of_small_pages_drains_round_after_round)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_backlog", "rlback");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLBACK", "rlback.>");
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) SELECT"
                 " ARRAY['back-' || g], ARRAY['rlback.x'], ARRAY['{}'], 1"
                 " FROM generate_series(1, 2000) g");
    engine_relay_opts o = {.conninfo = fx.conninfo, .nats_url = fixture_nats_url(),
                           .poll_ms = 10000};
    loop_arg a = {0};
    sy_error err = {0};
    CHECK_INT(engine_relay_new(fx.eng, &o, &a.r, &err), SY_OK);
    atomic_init(&a.stop, false);
    pthread_t th;
    pthread_create(&th, NULL, relay_loop, &a);
    /* 8 rounds of 256 pages; one poll interval alone would be 10 s */
    int waited = 0;
    while (stream_msgs(js, "RLBACK") < 2000 && waited++ < 500)
        usleep(10000);
    CHECK_MSG(waited < 500, "%llu of 2000 published in 5 s", (unsigned long long)stream_msgs(js, "RLBACK"));
    atomic_store(&a.stop, true);
    engine_fx_exec(&fx, "SELECT pg_notify('switchyard_outbox', '')"); /* wake it */
    pthread_join(th, NULL);
    /* once stopped, the loop has deleted every page it published (a
     * restart past the duplicate window would store one twice) */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox", NULL, NULL), 0);
    CHECK_INT(stream_msgs(js, "RLBACK"), 2000);
    engine_relay_free(a.r);
    drop_stream(js, nc, "RLBACK");
    engine_fx_close(&fx);
}

/* A page larger than nats.c's MaxPending (4 096 async publishes in flight):
 * publishing waits for PubAcks instead of failing, and the page is
 * published and deleted in one round. */
TEST(a_page_larger_than_max_pending_is_published_whole)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_bigpage", "rlbig");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLBIG", "rlbig.>");
    engine_fx_exec(&fx, "INSERT INTO outbox (event_ids, subjects, bodies, n) SELECT"
                 " array_agg('big-' || g ORDER BY g), array_agg('rlbig.x'::text),"
                 " array_agg('{}'::text), count(*) FROM generate_series(1, 10000) g");
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 2048, 10000);
    size_t n = 0;
    sy_error err = {0};
    CHECK_MSG(engine_relay_run_once(r, &n, &err) == SY_OK, "relay: %s", err.message);
    CHECK_INT(n, 10000);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox", NULL, NULL), 0);
    CHECK_INT(stream_msgs(js, "RLBIG"), 10000);
    engine_relay_free(r);
    drop_stream(js, nc, "RLBIG");
    engine_fx_close(&fx);
}

/* A batch's page is stored lz4-compressed (006_outbox_lz4.sql) and its
 * messages come out of the stream byte for byte as the engine wrote them. */
TEST(pages_are_stored_compressed_and_published_intact)
{
    engine_fx fx;
    engine_fx_open_prefix(&fx, "eng_relay_lz4", "rllz4");
    natsConnection *nc = NULL;
    jsCtx *js = make_stream(&nc, "RLLZ4", "rllz4.>");
    start_many(&fx, 256); /* one page of 512 messages */
    char *how = engine_fx_str(&fx, "SELECT coalesce(pg_column_compression(bodies), 'none') FROM outbox", NULL, NULL);
    CHECK_STR(how, "lz4");
    free(how);
    /* stored in under a third of the text's size */
    CHECK(engine_fx_int(&fx, "SELECT (3 * pg_column_size(bodies) < (SELECT sum(octet_length(body))"
                             " FROM outbox_messages))::int FROM outbox", NULL, NULL) == 1);
    char *last = engine_fx_str(&fx, "SELECT body FROM outbox_messages ORDER BY n DESC LIMIT 1", NULL, NULL);
    engine_relay *r = relay_new(&fx, fixture_nats_url(), 2048, 5000);
    CHECK_INT(drain(r), 512);
    CHECK_INT(stream_msgs(js, "RLLZ4"), 512);
    natsMsg *msg = NULL;
    CHECK_INT(js_GetMsg(&msg, js, "RLLZ4", 512, NULL, NULL), NATS_OK);
    CHECK_INT(natsMsg_GetDataLength(msg), (int)strlen(last));
    CHECK(memcmp(natsMsg_GetData(msg), last, strlen(last)) == 0);
    natsMsg_Destroy(msg);
    free(last);
    engine_relay_free(r);
    drop_stream(js, nc, "RLLZ4");
    engine_fx_close(&fx);
}
