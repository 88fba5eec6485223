/* engine_states.c: the cache of running workflows' states (engine/states.c):
 * a second signal replays no history, a rolled-back batch leaves no state
 * behind, and a state that another process moved on is not used. Real
 * Postgres. */
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
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK); /* replayed, then kept */
    CHECK_INT(misses(fx.s), 1);
    CHECK_INT(signal_go(fx.s, "w", "e2", true), SY_OK); /* from the cache */
    CHECK_INT(hits(fx.s), 1);
    CHECK_INT(misses(fx.s), 1);
    /* taken by a batch that rolls back: gone from the cache */
    CHECK_INT(signal_go(fx.s, "w", "e3", false), SY_OK);
    CHECK_INT(hits(fx.s), 2);
    CHECK_INT(signal_go(fx.s, "w", "e4", true), SY_OK);
    CHECK_INT(misses(fx.s), 2);
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
    /* our cached state (before e2) was stale: replayed, so e3 went to the
     * third wait and the workflow completed */
    CHECK_INT(hits(fx.s), 0);
    CHECK_INT(misses(fx.s), 2);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    engine_session_close(os);
    engine_free(other);
    engine_fx_close(&fx);
}

TEST(without_a_cache_every_signal_replays)
{
    engine_fx fx;
    memset(&fx, 0, sizeof fx);
    fx.conninfo = fixture_pg_fresh_db("eng_states_off");
    cJSON *defs = cJSON_Parse(ENGINE_TEST_DEFS);
    engine_opts o = {.workflows = defs, .state_cache = -1};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx.eng, &err), SY_OK);
    cJSON_Delete(defs);
    CHECK_INT(engine_session_open(fx.eng, fx.conninfo, true, &fx.s, &err), SY_OK);
    engine_result r;
    CHECK_INT(engine_fx_start(&fx, "waiter", "w", RULES_IF_RUNNING_FAIL, RULES_IF_CLOSED_ALLOW, &r), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e1", true), SY_OK);
    CHECK_INT(signal_go(fx.s, "w", "e2", true), SY_OK); /* a hit with the cache on */
    CHECK_INT(hits(fx.s), 0);
    CHECK_INT(misses(fx.s), 2);
    CHECK_STR(engine_fx_status(&fx, "w"), "completed");
    engine_fx_close(&fx);
}
