/* engine_query.c: reading the store (describe, list with filters and
 * pagination, history), dead letters for `switchyard dlq`, LISTEN/NOTIFY
 * wake-ups, concurrent migrations, heartbeat timeouts. Real Postgres. */
#include "engine_support.h"

#include <pthread.h>
#include <unistd.h>

TEST(list_filters_and_paginates)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_list");
    engine_result r;
    const char *ids[] = {"a-1", "a-2", "a-3", "b-1", "b-2"};
    for (int i = 0; i < 5; i++)
        CHECK_INT(engine_fx_start(&fx, i < 3 ? "one" : "waiter", ids[i], RULES_IF_RUNNING_FAIL,
                                  RULES_IF_CLOSED_ALLOW, &r),
                  SY_OK);
    sy_error err = {0};
    cJSON *out = NULL;
    engine_list_filter f = {.id_prefix = "a-", .limit = 2};
    CHECK_INT(engine_list(fx.s, &f, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 2);
    const char *tok = cJSON_GetStringValue(cJSON_GetObjectItem(out, "next_page_token"));
    CHECK(tok != NULL);
    char *token = strdup(tok);
    cJSON_Delete(out);
    f.page_token = token;
    CHECK_INT(engine_list(fx.s, &f, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(out, "next_page_token")));
    cJSON_Delete(out);
    free(token);
    engine_list_filter byType = {.workflow_type = "waiter", .status = "running"};
    CHECK_INT(engine_list(fx.s, &byType, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 2);
    cJSON_Delete(out);
    engine_list_filter future = {.started_after_ms = sy_clock_now_ms(NULL) + 3600000};
    CHECK_INT(engine_list(fx.s, &future, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 0);
    cJSON_Delete(out);
    engine_list_filter bad = {.page_token = "nonsense"};
    CHECK_INT(engine_list(fx.s, &bad, &out, &err), SY_INVALID);
    engine_fx_close(&fx);
}

/* Listing walks the runs primary key (UUIDv7 of the start time): a time
 * bound is exact to the millisecond, and newest comes first. */
TEST(list_time_range_is_exact_and_newest_first)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_range");
    engine_result r;
    CHECK_INT(
        engine_fx_start(&fx, "one", "t-old", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
        SY_OK);
    usleep(5000);
    CHECK_INT(
        engine_fx_start(&fx, "one", "t-new", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
        SY_OK);
    long long ms = engine_fx_int(&fx,
                                 "SELECT (extract(epoch FROM started_at) * 1000)::bigint FROM runs"
                                 " WHERE workflow_id = 't-new'",
                                 NULL, NULL);
    sy_error err = {0};
    cJSON *out = NULL;
    engine_list_filter from = {.started_after_ms = ms};
    CHECK_INT(engine_list(fx.s, &from, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(out, "workflows"), 0), "workflow_id")),
              "t-new");
    cJSON_Delete(out);
    engine_list_filter before = {.started_before_ms = ms};
    CHECK_INT(engine_list(fx.s, &before, &out, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "workflows")), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(out, "workflows"), 0), "workflow_id")),
              "t-old");
    cJSON_Delete(out);
    engine_list_filter all = {.started_before_ms = ms + 1};
    CHECK_INT(engine_list(fx.s, &all, &out, &err), SY_OK);
    cJSON *ws = cJSON_GetObjectItem(out, "workflows");
    CHECK_INT(cJSON_GetArraySize(ws), 2);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ws, 0), "workflow_id")),
              "t-new");
    cJSON_Delete(out);
    engine_fx_close(&fx);
}

TEST(describe_and_history_show_the_run)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_describe");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "d", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
              SY_OK);
    sy_error err = {0};
    cJSON *d = NULL;
    CHECK_INT(engine_describe(fx.s, "d", NULL, &d, &err), SY_OK);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(d, "run_id")), r.run_id);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(d, "status")), "running");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(d, "pending_tasks")), 1);
    CHECK_INT((int)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "history_length")), 2);
    cJSON_Delete(d);
    cJSON *h = NULL;
    CHECK_INT(engine_history(fx.s, "d", r.run_id, 1, 0, &h, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(h), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "type")),
              "task.scheduled");
    cJSON_Delete(h);
    CHECK_INT(engine_describe(fx.s, "nope", NULL, &d, &err), SY_NOT_FOUND);
    engine_fx_close(&fx);
}

/* The history stores no bytes its run's row or pinned definition hold
 * (migration 013), and a new run's first page is part of its row (014): workflow.started without
 * workflow_type, def_hash and task_queue, task.scheduled without the step's retry and timeouts.
 * Every reader still sees them: engine_history, the history_events view from a connection whose
 * search_path is not the engine's, and a run's replay (the step's non_retryable list decides a
 * failure: without it, bad_input would be retried). */
TEST(history_stores_no_derived_bytes_and_shows_them_all)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_derived");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "dv", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
              SY_OK);
    char *stored = engine_fx_str(
        &fx,
        "SELECT array_to_string(h_data, ' ') || coalesce((SELECT string_agg(array_to_string(data, "
        "' '), ' ')"
        " FROM history h WHERE h.run_id = r.run_id), '') FROM runs r WHERE run_id = $1",
        r.run_id, NULL);
    CHECK_MSG(strstr(stored, "def_hash") == NULL && strstr(stored, "maximum_attempts") == NULL &&
                  strstr(stored, "start_to_close_ms") == NULL,
              "stored: %s", stored);
    free(stored);
    /* and its first page is the run's row (014): no history row of its own */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history WHERE run_id = $1", r.run_id, NULL),
              0);
    CHECK_INT(engine_fx_int(&fx, "SELECT cardinality(h_types) FROM runs WHERE run_id = $1",
                            r.run_id, NULL),
              2);
    sy_error err = {0};
    cJSON *h = NULL;
    CHECK_INT(engine_history(fx.s, "dv", r.run_id, 0, 0, &h, &err), SY_OK);
    CHECK_INT(cJSON_GetArraySize(h), 2);
    const cJSON *started = cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "data");
    char *hash = engine_fx_str(&fx, "SELECT def_hash FROM runs WHERE run_id = $1", r.run_id, NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(started, "def_hash")), hash);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(started, "workflow_type")), "one");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(started, "task_queue")), "q1");
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(started, "input")));
    const cJSON *sched = cJSON_GetObjectItem(cJSON_GetArrayItem(h, 1), "data");
    CHECK_INT((int)cJSON_GetNumberValue(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(sched, "retry"), "maximum_attempts")),
              3);
    CHECK_INT((int)cJSON_GetNumberValue(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(sched, "timeouts"), "start_to_close_ms")),
              60000);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(sched, "name")), "work");
    char task0[64];
    snprintf(task0, sizeof task0, "%s:0", r.run_id);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(sched, "task_id")), task0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(sched, "queue")), "q1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(sched, "task")), "work");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(sched, "human")));
    CHECK_INT((int)cJSON_GetNumberValue(cJSON_GetObjectItem(sched, "attempt")), 1);
    /* the step keys of branches and foreach items name their step */
    char *path = engine_fx_str(&fx, "SELECT history_step_path('2/t/1#3')::text", NULL, NULL);
    CHECK_STR(path, "{steps,2,then,1,task}");
    free(path);
    cJSON_Delete(h);
    /* an operator's query through the view, another search_path */
    engine_exec_ok(engine__conn(fx.s), "SET search_path = public");
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM switchyard.history_events WHERE run_id = $1 AND"
                            " (data->'retry'->>'maximum_attempts')::int = 3",
                            r.run_id, NULL),
              1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM switchyard.history_events WHERE run_id = $1 AND"
                            " data->>'def_hash' = $2",
                            r.run_id, hash),
              1);
    engine_exec_ok(engine__conn(fx.s), "SET search_path = switchyard");
    free(hash);
    /* a replay from the database (no state cache): the policy is the step's */
    engine *eng2 = NULL;
    engine_session *s2 = NULL;
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts o = {.workflows = defs, .state_cache = -1};
    CHECK_INT(engine_new(&o, NULL, &eng2, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(eng2, fx.conninfo, false, &s2, &err), SY_OK);
    char task[64];
    snprintf(task, sizeof task, "%s:0", r.run_id);
    engine_report rep = {.task_id = task,
                         .attempt = 1,
                         .kind = ENGINE_REPORT_FAILED,
                         .error_type = "bad_input",
                         .error_message = "no",
                         .retryable = true};
    engine_result res;
    CHECK_INT(engine_begin(s2, &err), SY_OK);
    CHECK_MSG(engine_task_report(s2, &rep, &res, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(s2, &err), SY_OK);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM runs WHERE run_id = $1 AND status = 'failed'",
                            r.run_id, NULL),
              1);
    engine_session_close(s2);
    engine_free(eng2);
    engine_fx_close(&fx);
}

TEST(dead_letters_are_listed_fetched_and_marked_replayed)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_dlq");
    engine_batch *b = engine_batch_new();
    cJSON *hdr = cJSON_CreateObject();
    cJSON_AddStringToObject(hdr, "Nats-Msg-Id", "bad-1");
    const char body[] = "{\"not\":\"valid\0binary";
    engine_dead_letter dl = {.event_id = "bad-1",
                             .code = "bad_json",
                             .message = "bad json at 1:2",
                             .subject = "events.x",
                             .body = body,
                             .body_len = sizeof body - 1,
                             .headers = hdr,
                             .stream_seq = 42};
    engine_batch_dead_letter(b, engine_batch_event(b, "bad-1"), &dl);
    engine_dead_letter dl2 = {.code = "too_large", .message = "big", .body = "x", .body_len = 1};
    engine_batch_dead_letter(b, engine_batch_event(b, NULL), &dl2);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx.s, b, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(engine_batch_outcome(b, 0), ENGINE_DEAD_LETTERED);
    engine_batch_free(b);
    cJSON_Delete(hdr);
    engine_dead_letter_list l = {0};
    engine_dlq_filter f = {.code = "bad_json"};
    CHECK_INT(engine_dead_letters_list(fx.s, &f, &l, &err), SY_OK);
    CHECK_INT(l.len, 1);
    int64_t id = l.items[0].id;
    CHECK_INT(l.items[0].body_len, sizeof body - 1);
    CHECK(memcmp(l.items[0].body, body, sizeof body - 1) == 0);
    CHECK_INT(l.items[0].stream_seq, 42);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(l.items[0].headers, "Nats-Msg-Id")),
              "bad-1");
    engine_dead_letter_list_cleanup(&l);
    engine_dead_letter_row row;
    CHECK_INT(engine_dead_letter_get(fx.s, id, &row, &err), SY_OK);
    CHECK_STR(row.subject, "events.x");
    CHECK_INT(row.replayed_at_ms, 0);
    engine_dead_letter_row_cleanup(&row);
    CHECK_INT(engine_dead_letter_replayed(fx.s, id, &err), SY_OK);
    CHECK_INT(engine_dead_letters_list(fx.s, NULL, &l, &err), SY_OK);
    CHECK_INT(l.len, 1); /* the replayed one is hidden by default */
    engine_dead_letter_list_cleanup(&l);
    CHECK_INT(engine_dead_letter_get(fx.s, 999999, &row, &err), SY_NOT_FOUND);
    CHECK_INT(engine_dead_letter_replayed(fx.s, 999999, &err), SY_NOT_FOUND);
    engine_fx_close(&fx);
}

TEST(listen_wakes_up_on_new_timers)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_notify");
    engine_session *l = NULL;
    sy_error err = {0};
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &l, &err), SY_OK);
    CHECK_INT(engine_listen(l, &err), SY_OK);
    bool got = true;
    CHECK_INT(engine_wait_notify(l, 50, &got, &err), SY_OK);
    CHECK(!got);
    engine_result r;
    CHECK_INT(
        engine_fx_start(&fx, "sleeper", "zz", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
        SY_OK);
    CHECK_INT(engine_wait_notify(l, 5000, &got, &err), SY_OK);
    CHECK(got);
    int64_t at = 0;
    CHECK_INT(engine_next_timer(l, &at, &err), SY_OK);
    CHECK(at > sy_clock_now_ms(NULL));
    engine_session_close(l);
    engine_fx_close(&fx);
}

typedef struct mig {
    engine *eng;
    const char *conninfo;
    sy_status st;
    int applied;
} mig;

static void *migrate_thread(void *arg)
{
    mig *m = arg;
    sy_error err = {0};
    m->st = engine_migrate(m->eng, m->conninfo, &m->applied, &err);
    return NULL;
}

TEST(concurrent_migrations_apply_each_step_once)
{
    char *conninfo = fixture_pg_fresh_db("eng_query_migrate");
    engine *eng = NULL;
    sy_error err = {0};
    engine_opts o = {.schema = "mig_test"};
    CHECK_INT(engine_new(&o, NULL, &eng, &err), SY_OK);
    mig m[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (mig){.eng = eng, .conninfo = conninfo};
        pthread_create(&th[i], NULL, migrate_thread, &m[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(m[i].st, SY_OK);
        total += m[i].applied;
    }
    int count = 0;
    for (const engine__migration *mm = engine__migrations; mm->sql; mm++)
        count++;
    CHECK_INT(total, count); /* each applied by exactly one of them */
    int again = -1;
    CHECK_INT(engine_migrate(eng, conninfo, &again, &err), SY_OK);
    CHECK_INT(again, 0);
    engine_free(eng);
    free(conninfo);
}

TEST(heartbeat_timeout_retries_unless_heartbeats_arrive)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_query_heartbeat");
    PGresult *res = NULL;
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "hb", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r),
              SY_OK);
    char *task = engine_fx_str(&fx, "SELECT task_id FROM tasks", NULL, NULL);
    sy_error err = {0};
    engine_report rep = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_STARTED};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_task_report(fx.s, &rep, &r, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    /* a heartbeat timer (heartbeat_ms 5000) armed as if the task started 3 s ago */
    int64_t t0 = sy_clock_now_ms(NULL);
    char id[512], at[32];
    snprintf(id, sizeof id, "%s@1:heartbeat", task);
    snprintf(at, sizeof at, "%lld", (long long)(t0 + 2000));
    const char *p[] = {id, r.run_id, at, task};
    res = PQexecParams(
        engine__conn(fx.s),
        "INSERT INTO timers VALUES ($1, $2::uuid, to_timestamp($3::float8 / 1000),"
        " 'heartbeat', json_build_object('task_id', $4::text, 'attempt', 1, 'after_ms', 5000))",
        4, NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
    PQclear(res);
    /* a heartbeat now: when the timer comes due it is re-armed, not fired */
    rep.kind = ENGINE_REPORT_HEARTBEAT;
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_INT(engine_task_report(fx.s, &rep, &r, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    size_t n = 0;
    CHECK_INT(engine_timers_run_once(fx.s, t0 + 2001, 10, &n, &err), SY_OK);
    CHECK_INT(n, 1);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM history_events WHERE type = 'task.timed_out'",
                            NULL, NULL),
              0);
    CHECK_INT(
        engine_fx_int(&fx, "SELECT count(*) FROM timers WHERE kind = 'heartbeat'", NULL, NULL), 1);
    /* no more heartbeats: it fires, the attempt times out and is retried */
    CHECK_INT(engine_timers_run_once(fx.s, t0 + 20000, 10, &n, &err), SY_OK);
    CHECK_INT(engine_fx_int(&fx,
                            "SELECT count(*) FROM history_events WHERE type = 'task.timed_out' AND "
                            "data->'error'->>'kind' = 'heartbeat'",
                            NULL, NULL),
              1);
    CHECK_INT(engine_timers_run_once(fx.s, t0 + 30000, 10, &n, &err), SY_OK);
    CHECK_INT(engine_fx_int(&fx, "SELECT attempt FROM tasks", NULL, NULL), 2);
    free(task);
    engine_fx_close(&fx);
}
