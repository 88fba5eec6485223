/* engine_states.c: the cache of running workflows' states (engine/states.c):
 * a second signal replays no history, a rolled-back batch leaves no state
 * behind, a state that another process moved on is not used, and a batch
 * that replays many runs gives each its own history. Real Postgres. */
#include "engine_support.h"

static sy_status signal_go(engine_session *s, const char *wid, const char *event_id, bool commit)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(s, &err), SY_OK);
    engine_signal_req req = {.workflow_id = wid, .signal = "go", .event_id = event_id,
                             .if_missing = RULES_IF_MISSING_DEAD_LETTER};
    engine_result res;
    sy_status st = engine_signal(s, &req, &res, &err);
    CHECK_MSG(st == SY_OK, "signal: %s", err.message);
    if (commit)
        return engine_commit(s, &err);
    engine_rollback(s);
    return SY_OK;
}

static uint64_t hits(engine_session *s)
{
    return engine_session_stat(s, ENGINE_STAT_STATE_HITS);
}

static uint64_t misses(engine_session *s)
{
    return engine_session_stat(s, ENGINE_STAT_STATE_MISSES);
}

TEST(signal_uses_the_cached_state_and_a_rollback_leaves_none)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_states_cache");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter3", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK); /* the start's log, replayed */
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(misses(fx.s), 0);
    CHECK_INT(signal_go(fx.s, "w", "e2", true), SY_OK); /* the live state */
    CHECK_INT(hits(fx.s), 2);
    CHECK_INT(misses(fx.s), 0);
    /* taken by a batch that rolls back: gone from the cache */
    CHECK_INT(signal_go(fx.s, "w", "e3", false), SY_OK);
    CHECK_INT(hits(fx.s), 3);
    CHECK_INT(signal_go(fx.s, "w", "e4", true), SY_OK);
    CHECK_INT(misses(fx.s), 1);
    /* e1, e2 and e4 count, the rolled-back e3 does not: all three waits done */
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'workflow.signaled'", NULL, NULL), 3);
    engine_fx_close(&fx);
}

TEST(a_state_moved_on_by_another_process_is_not_used)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_states_stale");
    /* another process: its own engine and cache, the same database */
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts o = {.workflows = defs};
    engine *other = NULL;
    engine_session *os = NULL;
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &other, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(other, fx.conninfo, false, &os, &err), SY_OK);
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter3", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK);  /* wait a; our cache keeps the state */
    CHECK_INT(signal_go(os, "w", "e2", true), SY_OK);    /* wait b, elsewhere */
    CHECK_INT(signal_go(fx.s, "w", "e3", true), SY_OK);  /* wait c */
    /* e1 found the start's log; our cached state (before e2) was stale:
     * replayed, so e3 went to the third wait and the workflow completed */
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(misses(fx.s), 1);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    engine_session_close(os);
    engine_free(other);
    engine_fx_close(&fx);
}

/* engine_fx_open with the state cache turned off: every signal replays. */
static void open_without_cache(engine_fx *fx, const char *db)
{
    memset(fx, 0, sizeof *fx);
    fx->conninfo = fixture_pg_fresh_db(db);
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts o = {.workflows = defs, .state_cache = -1};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx->eng, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(fx->eng, fx->conninfo, true, &fx->s, &err), SY_OK);
}

TEST(without_a_cache_every_signal_replays)
{
    engine_fx fx;
    open_without_cache(&fx, "eng_states_off");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e2", true), SY_OK); /* a hit with the cache on */
    CHECK_INT(hits(fx.s), 0);
    CHECK_INT(misses(fx.s), 2);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    engine_fx_close(&fx);
}

/* One batch in its own transaction, committed; b is freed. */
static void apply_and_free(engine_fx *fx, engine_batch *b)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx->s, b, &err) == SY_OK, "%s", err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    engine_batch_free(b);
}

/* One batch of "go" signals, to w<i> for each i in [0, n) that keep()
 * accepts, in descending order of i (not the order the runs were read). */
static void signal_batch(engine_fx *fx, int n, bool (*keep)(int), const char *tag)
{
    engine_batch *b = engine_batch_new();
    for (int i = n - 1; i >= 0; i--) {
        if (!keep(i))
            continue;
        char wid[16], eid[32];
        snprintf(wid, sizeof wid, "w%d", i);
        snprintf(eid, sizeof eid, "%s-%d", tag, i);
        engine_signal_req req = {.workflow_id = wid, .signal = "go", .event_id = eid,
                                 .if_missing = RULES_IF_MISSING_DEAD_LETTER};
        engine_batch_signal(b, engine_batch_event(b, eid), &req);
    }
    apply_and_free(fx, b);
}

static bool every(int i)
{
    (void)i;
    return true;
}

static bool even(int i)
{
    return i % 2 == 0;
}

/* Runs whose histories differ, replayed together by one batch: each must
 * get its own. A run given another's history would take a wrong number
 * of waits as done, and end up with the wrong status. */
TEST(a_batch_replays_each_run_from_its_own_history)
{
    enum { N = 40 };
    engine_fx fx;
    open_without_cache(&fx, "eng_states_many");
    for (int i = 0; i < N; i++) {
        char wid[16];
        snprintf(wid, sizeof wid, "w%d", i);
        engine_result r;
        CHECK_INT(engine_fx_start(&fx, "waiter3", wid, RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    }
    signal_batch(&fx, N, even, "a"); /* even runs: one wait done */
    signal_batch(&fx, N, every, "b"); /* even: two, odd: one */
    signal_batch(&fx, N, even, "c");  /* even: three (completed), odd: one */
    CHECK_INT(misses(fx.s), N / 2 + N + N / 2);
    for (int i = 0; i < N; i++) {
        char wid[16];
        snprintf(wid, sizeof wid, "w%d", i);
        CHECK_STR(engine_fx_status(&fx, wid), i % 2 == 0 ? "completed" : "running");
    }
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'signal.consumed'", NULL, NULL),
              3 * N / 2 + N / 2);
    engine_fx_close(&fx);
}

/* One batch of completion reports, in descending order, each carrying its
 * workflow's number: every report must reach its own task's workflow. */
TEST(a_batch_of_reports_finds_each_task_s_workflow)
{
    enum { N = 30 };
    engine_fx fx;
    engine_fx_open(&fx, "eng_states_reports");
    char *tasks[N];
    for (int i = 0; i < N; i++) {
        char wid[16];
        snprintf(wid, sizeof wid, "w%d", i);
        engine_result r;
        CHECK_INT(engine_fx_start(&fx, "one", wid, RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
        tasks[i] = engine_fx_str(&fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", wid, NULL);
    }
    engine_batch *b = engine_batch_new();
    for (int i = N - 1; i >= 0; i--) {
        char eid[16];
        snprintf(eid, sizeof eid, "r-%d", i);
        cJSON *result = cJSON_CreateNumber(i);
        engine_report rep = {.task_id = tasks[i], .attempt = 1, .kind = ENGINE_REPORT_COMPLETED,
                             .result = result, .event_id = eid};
        engine_batch_report(b, engine_batch_event(b, eid), &rep);
        cJSON_Delete(result);
    }
    apply_and_free(&fx, b);
    for (int i = 0; i < N; i++) {
        char wid[16], want[16];
        snprintf(wid, sizeof wid, "w%d", i);
        snprintf(want, sizeof want, "%d", i);
        CHECK_STR(engine_fx_status(&fx, wid), "completed");
        char *got = engine_fx_str(&fx, "SELECT result::text FROM tasks WHERE task_id = $1", tasks[i], NULL);
        CHECK_STR(got, want);
        free(got);
        free(tasks[i]);
    }
    engine_fx_close(&fx);
}

/* A run its batch started is kept as that batch's log: signaled in the
 * same batch, its log holds the signal too. Replaying a log that missed an
 * event would leave a wait pending, and the run would not complete. */
TEST(a_run_started_by_a_batch_is_replayed_from_its_log)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_states_log");
    engine_batch *b = engine_batch_new();
    engine_start_req start = {.workflow_type = "waiter3", .workflow_id = "w", .event_id = "s1"};
    engine_batch_start(b, engine_batch_event(b, "s1"), &start);
    engine_signal_req sig = {.workflow_id = "w", .signal = "go", .event_id = "e1",
                             .if_missing = RULES_IF_MISSING_DEAD_LETTER};
    engine_batch_signal(b, engine_batch_event(b, "e1"), &sig);
    apply_and_free(&fx, b);
    CHECK_INT(signal_go(fx.s, "w", "e2", true), SY_OK); /* the log: start and e1 */
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(misses(fx.s), 0);
    CHECK_STR(engine_fx_status(&fx, "w"), "running");
    CHECK_INT(signal_go(fx.s, "w", "e3", true), SY_OK);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM history_events WHERE type = 'signal.consumed'", NULL, NULL), 3);
    engine_fx_close(&fx);
}

/* A new run's first report (the round trip's) replays the log in memory:
 * a hit, and the task's result completes the workflow. */
TEST(a_new_run_s_first_report_is_a_cache_hit)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_states_report");
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "one", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    char *task = engine_fx_str(&fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", "w", NULL);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    cJSON *result = cJSON_CreateString("done");
    engine_report rep = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_COMPLETED, .result = result};
    CHECK_INT(engine_task_report(fx.s, &rep, &r, &err), SY_OK);
    cJSON_Delete(result);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(misses(fx.s), 0);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    char *got = engine_fx_str(&fx, "SELECT result::text FROM tasks WHERE task_id = $1", task, NULL);
    CHECK_STR(got, "\"done\"");
    free(got);
    free(task);
    engine_fx_close(&fx);
}

/* engine_opts.totals: every session of the engine adds its counts there
 * (what /metrics shows), the per-session counters stay per session. */
TEST(the_engine_s_totals_sum_its_sessions)
{
    _Atomic uint64_t totals[ENGINE_STAT_COUNT] = {0};
    engine_fx fx;
    memset(&fx, 0, sizeof fx);
    fx.conninfo = fixture_pg_fresh_db("eng_states_totals");
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts o = {.workflows = defs, .totals = totals};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx.eng, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, true, &fx.s, &err), SY_OK);
    engine_session *other = NULL;
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, false, &other, &err), SY_OK);
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter3", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK); /* a hit here */
    CHECK_INT(signal_go(other, "w", "e2", true), SY_OK); /* and one there */
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(hits(other), 1);
    CHECK_INT(atomic_load(&totals[ENGINE_STAT_STATE_HITS]), 2);
    CHECK_INT(atomic_load(&totals[ENGINE_STAT_STATE_MISSES]), 0);
    engine_session_close(other);
    engine_fx_close(&fx);
}
