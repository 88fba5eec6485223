/* engine_core.c: the engine's start path against a real Postgres: a
 * one-step workflow writes its run, history, task and outbox rows; every
 * if_running / if_closed policy; tombstones; bad requests write nothing. */
#include "engine_support.h"

TEST(start_writes_run_history_task_and_outbox)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_start");
    engine_result res;
    CHECK_INT(engine_fx_start(&fx, "one", "w-1", RULES_IF_RUNNING_USE_EXISTING,
                              RULES_IF_CLOSED_ALLOW, &res), SY_OK);
    CHECK(res.started);
    CHECK_INT(strlen(res.run_id), 36);
    CHECK_STR(engine_fx_status(&fx, "w-1"), "running");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE run_id = $1", res.run_id, NULL), 2);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE run_id = $1 AND status = 'scheduled' AND queue = 'q1'", res.run_id, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE event_id LIKE $1 || ':%'", res.run_id, NULL), 2);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages WHERE subject = 'sy.task.created.q1' AND body::jsonb->'payload'->>'workflow_id' = 'w-1'", NULL, NULL), 1);
    char *eid = engine_fx_str(&fx, "SELECT event_id FROM outbox_messages WHERE subject = 'sy.workflow.started.one'", NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "%s:1", res.run_id);
    CHECK_STR(eid, want);
    free(eid);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM definitions", NULL, NULL), 1);
    engine_fx_close(&fx);
}

TEST(if_running_use_existing_returns_the_running_run)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_use_existing");
    engine_result a, b;
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_USE_EXISTING, RULES_IF_CLOSED_ALLOW, &a), SY_OK);
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_USE_EXISTING, RULES_IF_CLOSED_ALLOW, &b), SY_OK);
    CHECK(!b.started);
    CHECK_STR(b.run_id, a.run_id);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs", NULL, NULL), 1);
    engine_fx_close(&fx);
}

TEST(if_running_fail_refuses_and_writes_nothing)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_fail");
    engine_result a, b;
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &a), SY_OK);
    long long hist = engine_fx_int(&fx, "SELECT count(*) FROM history_events", NULL, NULL);
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &b), SY_CONFLICT);
    CHECK_STR(b.code, "workflow_running");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events", NULL, NULL), hist);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters", NULL, NULL), 0);
    engine_fx_close(&fx);
}

TEST(if_running_terminate_existing_replaces_the_run)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_term_existing");
    engine_result a, b;
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_TERMINATE, RULES_IF_CLOSED_ALLOW, &a), SY_OK);
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_TERMINATE, RULES_IF_CLOSED_ALLOW, &b), SY_OK);
    CHECK(b.started);
    CHECK(strcmp(a.run_id, b.run_id) != 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE run_id = $1 AND status = 'terminated'", a.run_id, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks WHERE run_id = $1 AND status = 'canceled'", a.run_id, NULL), 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE status = 'running'", NULL, NULL), 1);
    char *cur = engine_fx_str(&fx, "SELECT run_id::text FROM workflow_ids WHERE workflow_id = 'w'", NULL, NULL);
    CHECK_STR(cur, b.run_id);
    free(cur);
    engine_fx_close(&fx);
}

/* Closes workflow w by terminating it (status "terminated") or completing
 * its task (status "completed"). */
static void close_w(engine_fx *fx, const char *id, bool complete)
{
    sy_error err = {0};
    engine_result res;
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    if (complete) {
        char *task = engine_fx_str(fx, "SELECT task_id FROM tasks WHERE workflow_id = $1 AND status = 'scheduled'", id, NULL);
        cJSON *result = cJSON_CreateNumber(42);
        engine_report r = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_COMPLETED, .result = result};
        CHECK_INT(engine_task_report(fx->s, &r, &res, &err), SY_OK);
        cJSON_Delete(result);
        free(task);
    } else {
        CHECK_INT(engine_terminate(fx->s, id, "test", &res, &err), SY_OK);
    }
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
}

TEST(if_closed_policies)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_if_closed");
    engine_result r;
    /* completed: allow restarts, allow_failed_only and reject refuse */
    CHECK_INT(engine_fx_start(&fx, "one", "c", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    close_w(&fx, "c", true);
    CHECK_STR(engine_fx_status(&fx, "c"), "completed");
    CHECK_INT(engine_fx_start(&fx, "one", "c", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW_FAILED_ONLY, &r), SY_CONFLICT);
    CHECK_STR(r.code, "workflow_closed");
    CHECK_INT(engine_fx_start(&fx, "one", "c", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_REJECT, &r), SY_CONFLICT);
    CHECK_INT(engine_fx_start(&fx, "one", "c", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK(r.started);
    /* terminated counts as failed: allow_failed_only restarts */
    CHECK_INT(engine_fx_start(&fx, "one", "t", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    close_w(&fx, "t", false);
    CHECK_INT(engine_fx_start(&fx, "one", "t", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_REJECT, &r), SY_CONFLICT);
    CHECK_INT(engine_fx_start(&fx, "one", "t", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW_FAILED_ONLY, &r), SY_OK);
    CHECK(r.started);
    engine_fx_close(&fx);
}

/* Retention finds closed runs by key (007_purge_by_key.sql): a closed run
 * through the primary key range, a first-release run (a random v4 id)
 * through its own index; running runs stay; and the statement can run
 * without a sequential scan of runs. */
TEST(purge_finds_closed_runs_by_key_including_first_release_ids)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_purge_keys");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "closed", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    close_w(&fx, "closed", false);
    CHECK_INT(engine_fx_start(&fx, "one", "running", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    /* a first-release run: v4 id (version nibble 4), closed a year ago */
    engine_fx_exec(&fx, "INSERT INTO runs (run_id, namespace, workflow_id, workflow_type, def_hash,"
                        " status, task_queue, trace_id, next_seq, started_at, closed_at, updated_at)"
                        " VALUES ('f3b0c5d2-1a2b-4c3d-8e4f-5a6b7c8d9e0f', 'default', 'legacy', 'one',"
                        " 'x', 'completed', 'q1', 't', 3, now() - interval '366 days',"
                        " now() - interval '365 days', now())");
    sy_error err = {0};
    engine_purge_counts pc;
    CHECK_INT(engine_purge(fx.s, sy_clock_now_ms(NULL) + 365LL * 86400000, &pc, &err), SY_OK);
    CHECK_INT(pc.runs, 2);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id IN ('closed', 'legacy')", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs WHERE workflow_id = 'running'", NULL, NULL), 1);
    /* the plan: keys only, even where the planner would rather scan */
    engine_fx_exec(&fx, "SET enable_seqscan = off");
    sy_buf sql = SY_BUF_INIT;
    sy_buf_puts(&sql, "EXPLAIN ");
    sy_buf_puts(&sql, engine__purge_runs_sql);
    const char *p[] = {"1000"};
    PGresult *res = PQexecParams(engine__conn(fx.s), sql.data, 1, NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
    bool legacy_index = false;
    for (int i = 0; i < PQntuples(res); i++) {
        CHECK_MSG(!strstr(PQgetvalue(res, i, 0), "Seq Scan on runs"), "%s", PQgetvalue(res, i, 0));
        legacy_index = legacy_index || strstr(PQgetvalue(res, i, 0), "runs_legacy_ids");
    }
    CHECK(legacy_index);
    PQclear(res);
    sy_buf_cleanup(&sql);
    engine_fx_close(&fx);
}

/* A purge is bounded and says when there is more: a backlog past the
 * bounds takes a second call, which finds the rest. */
TEST(purge_is_bounded_and_says_when_more_is_left)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_purge_bound");
    /* closed runs with v7 ids of two years ago, and old inbox rows */
    engine_fx_exec(&fx,
        "INSERT INTO runs (run_id, namespace, workflow_id, workflow_type, def_hash, status,"
        " task_queue, trace_id, next_seq, started_at, closed_at, updated_at)"
        " SELECT (overlay(overlay(lpad(to_hex(ms), 12, '0') || '7000' || lpad(to_hex(g), 16, '0')"
        " placing '-' from 9 for 0) placing '-' from 14 for 0))::uuid, 'default', 'old-' || g, 'one',"
        " 'x', 'completed', 'q1', 't', 3, to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0), now()"
        " FROM (SELECT g, (extract(epoch FROM now() - interval '730 days') * 1000)::bigint + g AS ms"
        " FROM generate_series(1, " ENGINE__STR(ENGINE_PURGE_RUNS) " + 5) g) x");
    engine_fx_exec(&fx,
        "INSERT INTO inbox (event_id, received_at) SELECT 'e-' || g, now() - interval '730 days'"
        " FROM generate_series(1, " ENGINE__STR(ENGINE_PURGE_INBOX) " + 7) g");
    sy_error err = {0};
    engine_purge_counts pc;
    int64_t now = sy_clock_now_ms(NULL);
    CHECK_INT(engine_purge(fx.s, now, &pc, &err), SY_OK);
    CHECK_INT(pc.runs, ENGINE_PURGE_RUNS);
    CHECK_INT(pc.inbox, ENGINE_PURGE_INBOX);
    CHECK(pc.more);
    CHECK_INT(engine_purge(fx.s, now, &pc, &err), SY_OK);
    CHECK_INT(pc.runs, 5);
    CHECK_INT(pc.inbox, 7);
    CHECK(!pc.more);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs", NULL, NULL), 0);
    engine_fx_close(&fx);
}

/* Retention counts a dead letter's age from its last failure or replay:
 * one recorded long ago that failed again yesterday, or whose replay was
 * asked for an hour ago, is still being worked and stays (both were purged
 * by created_at before); one untouched since it was recorded goes. */
TEST(purge_keeps_dead_letters_that_are_still_being_worked)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_purge_dl");
    engine_fx_exec(&fx,
                   "INSERT INTO dead_letters (event_id, code, message, created_at, updated_at,"
                   " replayed_at, failures) VALUES"
                   " ('untouched', 'bad_field', 'm', now() - interval '40 days', NULL, NULL, 1),"
                   " ('failing', 'not_found', 'm', now() - interval '40 days',"
                   "  now() - interval '1 day', NULL, 5),"
                   " ('replaying', 'not_found', 'm', now() - interval '40 days',"
                   "  now() - interval '35 days', now() - interval '1 hour', 2),"
                   " ('stale', 'not_found', 'm', now() - interval '50 days',"
                   "  now() - interval '45 days', now() - interval '31 days', 2)");
    sy_error err = {0};
    engine_purge_counts pc;
    CHECK_INT(engine_purge(fx.s, sy_clock_now_ms(NULL), &pc, &err), SY_OK); /* 30 days */
    CHECK_INT(pc.dead_letters, 2);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM dead_letters WHERE event_id IN ('failing',"
                            " 'replaying')",
                            NULL, NULL),
              2);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters", NULL, NULL), 2);
    engine_fx_close(&fx);
}

TEST(tombstone_keeps_reject_after_purge)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_tombstone");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "gone", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_REJECT, &r), SY_OK);
    close_w(&fx, "gone", false);
    sy_error err = {0};
    engine_purge_counts pc;
    /* far in the future: every closed run is past retention */
    CHECK_INT(engine_purge(fx.s, sy_clock_now_ms(NULL) + 365LL * 86400000, &pc, &err), SY_OK);
    CHECK_INT(pc.runs, 1);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events", NULL, NULL), 0);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks", NULL, NULL), 0); /* by task_id range */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM workflow_ids WHERE workflow_id = 'gone'", NULL, NULL), 1);
    CHECK_INT(engine_fx_start(&fx, "one", "gone", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_REJECT, &r), SY_CONFLICT);
    CHECK_STR(r.code, "workflow_closed");
    cJSON *d = NULL;
    CHECK_INT(engine_describe(fx.s, "gone", NULL, &d, &err), SY_OK);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "purged")));
    cJSON_Delete(d);
    engine_fx_close(&fx);
}

TEST(bad_requests_are_rejected_and_write_nothing)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_bad");
    engine_result r;
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    engine_start_req bad_id = {.workflow_type = "one", .workflow_id = "has space"};
    CHECK_INT(engine_start(fx.s, &bad_id, &r, &err), SY_INVALID);
    CHECK_STR(err.code, "bad_workflow_id");
    engine_start_req bad_type = {.workflow_type = "nope", .workflow_id = "x", .event_id = "e1"};
    CHECK_INT(engine_start(fx.s, &bad_type, &r, &err), SY_INVALID);
    CHECK_STR(err.code, "unknown_workflow_type");
    cJSON *big = cJSON_CreateObject();
    char *s = malloc(300 * 1024);
    memset(s, 'a', 300 * 1024 - 1);
    s[300 * 1024 - 1] = 0;
    cJSON_AddStringToObject(big, "blob", s);
    free(s);
    engine_start_req too_big = {.workflow_type = "one", .workflow_id = "x", .input = big};
    CHECK_INT(engine_start(fx.s, &too_big, &r, &err), SY_INVALID);
    CHECK_STR(err.code, "input_too_large");
    cJSON_Delete(big);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    const char *tables[] = {"inbox", "runs", "history", "tasks", "outbox", "workflow_ids", "dead_letters"};
    for (size_t i = 0; i < 7; i++) {
        char q[64];
        snprintf(q, sizeof q, "SELECT count(*) FROM %s", tables[i]);
        CHECK_INT(engine_fx_int(&fx, q, NULL, NULL), 0);
    }
    engine_fx_close(&fx);
}

/* A start's input of {"blob":"..."} as compact JSON, len characters c. */
static cJSON *blob_input(size_t len, char c)
{
    cJSON *in = cJSON_CreateObject();
    char *s = malloc(len + 1);
    memset(s, c, len);
    s[len] = 0;
    cJSON_AddStringToObject(in, "blob", s);
    free(s);
    return in;
}

/* The input limit (256 KiB by default) counts the bytes as printed, escapes
 * included, whatever shortcut decides the inputs far below it. */
TEST(the_input_limit_counts_the_bytes_as_printed)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_limit");
    const size_t limit = 256 * 1024, frame = sizeof "{\"blob\":\"\"}" - 1;
    struct {
        size_t len;
        char c;
        bool ok;
    } cases[] = {{limit - frame, 'a', true},
                 {limit - frame + 1, 'a', false},
                 {(limit - frame) / 2, '"', true}, /* each printed as \" */
                 {(limit - frame) / 2 + 1, '"', false},
                 {100, 'a', true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_error err = {0};
        engine_result r;
        char wid[32];
        snprintf(wid, sizeof wid, "lim-%zu", i);
        cJSON *in = blob_input(cases[i].len, cases[i].c);
        engine_start_req req = {.workflow_type = "one", .workflow_id = wid, .input = in};
        CHECK_INT(engine_begin(fx.s, &err), SY_OK);
        sy_status st = engine_start(fx.s, &req, &r, &err);
        CHECK_MSG((st == SY_OK) == cases[i].ok, "case %zu: %s", i, err.message);
        if (!cases[i].ok)
            CHECK_STR(err.code, "input_too_large");
        CHECK_INT(engine_commit(fx.s, &err), SY_OK);
        cJSON_Delete(in);
    }
    engine_fx_close(&fx);
}

TEST(batch_applies_many_starts_and_skips_duplicate_events)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_core_batch");
    sy_error err = {0};
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < 300; i++) {
        char eid[32], wid[32];
        snprintf(eid, sizeof eid, "ev-%d", i % 250); /* 50 duplicates of earlier events */
        snprintf(wid, sizeof wid, "wf-%d", i);
        size_t ev = engine_batch_event(b, eid);
        engine_start_req req = {.workflow_type = "one", .workflow_id = wid, .event_id = eid};
        engine_batch_start(b, ev, &req);
    }
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx.s, b, &err) == SY_OK, "apply: %s", err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_outcome(b, 0), ENGINE_APPLIED);
    CHECK_INT(engine_batch_outcome(b, 260), ENGINE_DUPLICATE);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs", NULL, NULL), 250);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM tasks", NULL, NULL), 250);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM outbox_messages", NULL, NULL), 500);
    /* the same batch again: every event is a duplicate */
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_apply(fx.s, b, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_outcome(b, 0), ENGINE_DUPLICATE);
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM runs", NULL, NULL), 250);
    engine_batch_free(b);
    engine_fx_close(&fx);
}
