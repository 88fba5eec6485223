/* engine_session.c: integration tests of the engine's session plumbing:
 * the migration runner (every unrecorded migration runs, whatever the
 * highest recorded number), Postgres notices routed to the logger, and the
 * status of a concurrent first start of one workflow ID (SY_BUSY, a
 * transient conflict, not SY_DB_DOWN). */
#include "engine_support.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static long long query_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

TEST(migrations_below_the_highest_recorded_still_run)
{
    char *conninfo = fixture_pg_fresh_db("eng_session_mig_gap");
    /* a later migration (number 999) is recorded before any of the embedded
     * ones ran, as when a lower-numbered engine migration is added after a
     * higher-numbered one was applied */
    PGconn *c = PQconnectdb(conninfo);
    CHECK(PQstatus(c) == CONNECTION_OK);
    engine_exec_ok(c, "CREATE SCHEMA mig_gap; CREATE TABLE mig_gap.schema_migrations (version int PRIMARY"
               " KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
               " INSERT INTO mig_gap.schema_migrations (version, name) VALUES (999, 'later')");
    engine *eng = NULL;
    sy_error err = {0};
    engine_opts o = {.schema = "mig_gap"};
    CHECK_INT(engine_new(&o, NULL, &eng, &err), SY_OK);
    int applied = -1, count = 0;
    CHECK_MSG(engine_migrate(eng, conninfo, &applied, &err) == SY_OK, "%s", err.message);
    for (const engine__migration *m = engine__migrations; m->sql; m++)
        count++;
    CHECK_INT(applied, count);
    CHECK_INT(query_int(c, "SELECT count(*) FROM information_schema.tables WHERE table_schema ="
                           " 'mig_gap' AND table_name = 'inbox'"), 1);
    CHECK_INT(query_int(c, "SELECT count(*) FROM mig_gap.schema_migrations"), count + 1);
    int again = -1;
    CHECK_INT(engine_migrate(eng, conninfo, &again, &err), SY_OK);
    CHECK_INT(again, 0);
    PQfinish(c);
    engine_free(eng);
    free(conninfo);
}

/* A database made by the first release (migration 001 only) with work in
 * flight: its unpublished outbox rows and its histories come through the
 * page migrations (002, 003) intact and in order, and its keys through the
 * collation change (004). */
TEST(upgrade_keeps_unpublished_outbox_rows_and_histories)
{
    char *conninfo = fixture_pg_fresh_db("eng_session_upgrade");
    PGconn *c = PQconnectdb(conninfo);
    CHECK(PQstatus(c) == CONNECTION_OK);
    engine_exec_ok(c, "CREATE SCHEMA mig_up; SET search_path = mig_up; CREATE TABLE schema_migrations"
               " (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL"
               " DEFAULT now()); INSERT INTO schema_migrations (version, name) VALUES (1, 'core')");
    CHECK_INT(engine__migrations[0].version, 1);
    engine_exec_ok(c, engine__migrations[0].sql);
    engine_exec_ok(c, "INSERT INTO outbox (event_id, run_id, subject, body) VALUES"
               " ('e-1', NULL, 'sy.a', '{\"n\":1}'), ('e-2', NULL, 'sy.b', '{\"n\":2}'),"
               " ('e-3', NULL, 'sy.c', '{\"n\":3}');"
               " INSERT INTO history (run_id, seq, type, data, created_at) VALUES"
               " ('01a00000-0000-7000-8000-000000000001', 1, 'workflow.started', '{\"input\":{}}', now()),"
               " ('01a00000-0000-7000-8000-000000000001', 2, 'task.scheduled', '{\"step\":\"0\"}', now());"
               " INSERT INTO inbox (event_id) VALUES ('evt-old');"
               " INSERT INTO tasks (task_id, run_id, namespace, workflow_id, step, name, queue,"
               " attempt, status, scheduled_at, updated_at) VALUES"
               " ('01a00000-0000-7000-8000-000000000001:0', '01a00000-0000-7000-8000-000000000001',"
               " 'default', 'w', '0', 'work', 'q', 1, 'scheduled', now(), now())");
    engine *eng = NULL;
    sy_error err = {0};
    engine_opts o = {.schema = "mig_up"};
    CHECK_INT(engine_new(&o, NULL, &eng, &err), SY_OK);
    int applied = -1;
    CHECK_MSG(engine_migrate(eng, conninfo, &applied, &err) == SY_OK, "%s", err.message);
    CHECK(applied >= 4);
    PGresult *r = PQexec(c, "SELECT string_agg(event_id || '>' || subject || '>' || body, ' ' ORDER BY"
                            " page_id, n) FROM mig_up.outbox_messages");
    CHECK_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    CHECK_STR(PQgetvalue(r, 0, 0), "e-1>sy.a>{\"n\":1} e-2>sy.b>{\"n\":2} e-3>sy.c>{\"n\":3}");
    PQclear(r);
    CHECK_INT(query_int(c, "SELECT sum(n) FROM mig_up.outbox"), 3);
    r = PQexec(c, "SELECT string_agg(seq || ':' || type || ':' || coalesce(data->>'step', ''), ',' ORDER BY seq)"
                  " FROM mig_up.history_events");
    CHECK_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    CHECK_STR(PQgetvalue(r, 0, 0), "1:workflow.started:,2:task.scheduled:0");
    PQclear(r);
    CHECK_INT(query_int(c, "SELECT count(*) FROM mig_up.inbox WHERE event_id = 'evt-old'"), 1);
    CHECK_INT(query_int(c, "SELECT count(*) FROM mig_up.tasks WHERE task_id >= ("
                           "'01a00000-0000-7000-8000-000000000001' || ':') COLLATE \"C\""
                           " AND task_id < ('01a00000-0000-7000-8000-000000000001' || ';') COLLATE \"C\""), 1);
    PQfinish(c);
    engine_free(eng);
    free(conninfo);
}

TEST(postgres_notices_go_to_the_logger)
{
    char *conninfo = fixture_pg_fresh_db("eng_session_notice");
    int fds[2];
    CHECK(pipe(fds) == 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_DEBUG, fds[1]);
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_error err = {0};
    engine_opts o = {.log = &lg};
    CHECK_INT(engine_new(&o, NULL, &eng, &err), SY_OK);
    CHECK_MSG(engine_session_open(eng, conninfo, true, &s, &err) == SY_OK, "%s", err.message);
    engine_exec_ok(engine__conn(s), "SET client_min_messages = notice;"
                             " DO $$BEGIN RAISE NOTICE 'notice-for-the-logger'; END$$");
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = 0;
    CHECK_MSG(strstr(buf, "notice-for-the-logger") != NULL, "log: %s", buf);
    CHECK(strstr(buf, "debug") != NULL);
    engine_session_close(s);
    engine_free(eng);
    close(fds[0]);
    close(fds[1]);
    free(conninfo);
}

/* Waits (up to 5 s) until a session of this database waits on a lock. */
static void await_lock_waiter(const char *conninfo)
{
    PGconn *w = PQconnectdb(conninfo);
    CHECK(PQstatus(w) == CONNECTION_OK);
    int waited = 0;
    while (query_int(w, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()") == 0 && waited++ < 500)
        usleep(10000);
    CHECK(waited < 500);
    PQfinish(w);
}

typedef struct racer {
    engine_session *s;
    sy_status st;
    sy_error err;
} racer;

static void *start_racer(void *arg)
{
    racer *r = arg;
    engine_start_req req = {.workflow_type = "one", .workflow_id = "race-1",
                            .if_running = RULES_IF_RUNNING_FAIL,
                            .if_closed = RULES_IF_CLOSED_ALLOW};
    r->st = engine_begin(r->s, &r->err);
    if (r->st == SY_OK)
        r->st = engine_start(r->s, &req, NULL, &r->err);
    if (r->st == SY_OK)
        r->st = engine_commit(r->s, &r->err);
    else
        engine_rollback(r->s);
    return NULL;
}

TEST(concurrent_first_starts_of_one_id_are_busy_not_db_down)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_session_race");
    sy_error err = {0};
    racer b = {0};
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &b.s, &err), SY_OK);
    /* A inserts the new ID and holds its transaction open ... */
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    engine_start_req req = {.workflow_type = "one", .workflow_id = "race-1",
                            .if_running = RULES_IF_RUNNING_FAIL, .if_closed = RULES_IF_CLOSED_ALLOW};
    CHECK_INT(engine_start(fx.s, &req, NULL, &err), SY_OK);
    /* ... B starts the same ID and waits on A's uncommitted key */
    pthread_t th;
    pthread_create(&th, NULL, start_racer, &b);
    await_lock_waiter(fx.conninfo);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    pthread_join(th, NULL);
    CHECK_MSG(b.st == SY_BUSY, "status %d: %s", (int)b.st, b.err.message);
    CHECK(sy_status_retryable(b.st));
    /* retried, it sees the running run and applies the ID policy */
    racer again = {.s = b.s};
    start_racer(&again);
    CHECK_INT(again.st, SY_CONFLICT);
    engine_session_close(b.s);
    engine_fx_close(&fx);
}

typedef struct dup_racer {
    engine_session *s;
    engine_batch *b;
    sy_status st;
    sy_error err;
} dup_racer;

static void *apply_racer(void *arg)
{
    dup_racer *r = arg;
    r->st = engine_begin(r->s, &r->err);
    if (r->st == SY_OK)
        r->st = engine_batch_apply(r->s, r->b, &r->err);
    if (r->st == SY_OK)
        r->st = engine_commit(r->s, &r->err);
    else
        engine_rollback(r->s);
    return NULL;
}

/* Two pipelines get the same event_id at once (a re-publish outside the
 * stream's duplicate window): the later one fails on the inbox key, is
 * applied again as it is (what the router does on SY_BUSY) and finds the
 * event a duplicate: one effect. */
TEST(concurrent_duplicate_event_is_busy_then_a_duplicate)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_session_dup_race");
    sy_error err = {0};
    dup_racer b = {.b = engine_batch_new()};
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &b.s, &err), SY_OK);
    engine_batch *a = engine_batch_new();
    engine_start_req ra = {.workflow_type = "one", .workflow_id = "dup-a"};
    engine_batch_start(a, engine_batch_event(a, "evt-dup-1"), &ra);
    engine_start_req rb = {.workflow_type = "one", .workflow_id = "dup-b"};
    engine_batch_start(b.b, engine_batch_event(b.b, "evt-dup-1"), &rb);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_apply(fx.s, a, &err), SY_OK);
    pthread_t th;
    pthread_create(&th, NULL, apply_racer, &b);
    await_lock_waiter(fx.conninfo);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    pthread_join(th, NULL);
    CHECK_MSG(b.st == SY_BUSY, "status %d: %s", (int)b.st, b.err.message);
    apply_racer(&b); /* the same batch object, applied again */
    CHECK_MSG(b.st == SY_OK, "status %d: %s", (int)b.st, b.err.message);
    CHECK_INT(engine_batch_outcome(b.b, 0), ENGINE_DUPLICATE);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id = 'dup-b'", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id = 'dup-a'", NULL, NULL), 1);
    engine_batch_free(a);
    engine_batch_free(b.b);
    engine_session_close(b.s);
    engine_fx_close(&fx);
}

/* The plan of the session's prepared inbox statement (sy_inbox) for an
 * array of 200 new event ids, as text (owned). */
static char *inbox_plan(engine_fx *fx)
{
    sy_buf sql = SY_BUF_INIT;
    sy_buf_puts(&sql, "EXPLAIN EXECUTE sy_inbox('{");
    for (int i = 0; i < 200; i++)
        sy_buf_printf(&sql, "%snew-%d", i ? "," : "", i);
    sy_buf_puts(&sql, "}', '{}')"); /* ids, and no routes beside them */
    PGresult *r = PQexec(engine__conn(fx->s), sql.data);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    sy_buf plan = SY_BUF_INIT;
    for (int i = 0; i < PQntuples(r); i++) {
        sy_buf_puts(&plan, PQgetvalue(r, i, 0));
        sy_buf_putc(&plan, '\n');
    }
    PQclear(r);
    sy_buf_cleanup(&sql);
    return sy_buf_take(&plan);
}

/* A session prepares the inbox check at its first batch and keeps that
 * generic plan: prepared on a small inbox (a fresh deployment, a bench),
 * it was a hashed seq scan of the whole inbox, repeated by every later
 * batch as the inbox grew (until an autoanalyze invalidated the plan).
 * It must probe the key whatever the table held then. */
TEST(the_inbox_check_probes_its_key_when_prepared_on_a_small_inbox)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_session_inbox_plan");
    /* a few pages: an empty table is assumed to be 10 pages, a small one
     * is what it is (the bad plan needs one) */
    engine_fx_exec(&fx, "INSERT INTO inbox (event_id) SELECT 'older-' || g FROM"
                        " generate_series(1, 500) g");
    engine_batch *b = engine_batch_new();
    engine_start_req req = {.workflow_type = "one", .workflow_id = "plan-1"};
    engine_batch_start(b, engine_batch_event(b, "evt-plan-1"), &req);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_apply(fx.s, b, &err), SY_OK); /* sy_inbox prepared now */
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    engine_batch_free(b);
    engine_fx_exec(&fx, "INSERT INTO inbox (event_id) SELECT 'old-' || g FROM"
                        " generate_series(1, 20000) g");
    char *plan = inbox_plan(&fx);
    CHECK_MSG(strstr(plan, "inbox_pkey") && !strstr(plan, "Seq Scan on inbox"),
              "the inbox check does not probe inbox_pkey:\n%s", plan);
    free(plan);
    engine_fx_close(&fx);
}

TEST(listen_for_timers_only_ignores_the_outbox_channel)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_session_listen_for");
    sy_error err = {0};
    engine_session *l = NULL;
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &l, &err), SY_OK);
    CHECK_INT(engine_listen_for(l, ENGINE_NOTIFY_TIMERS, &err), SY_OK);
    bool got = true;
    engine_exec_ok(engine__conn(fx.s), "SELECT pg_notify('switchyard_outbox', '')");
    CHECK_INT(engine_wait_notify(l, 200, &got, &err), SY_OK);
    CHECK(!got);
    engine_exec_ok(engine__conn(fx.s), "SELECT pg_notify('switchyard_timers', '')");
    CHECK_INT(engine_wait_notify(l, 5000, &got, &err), SY_OK);
    CHECK(got);
    engine_session_close(l);
    engine_fx_close(&fx);
}
