/* engine_support.h: helpers shared by the engine's integration tests: an
 * engine over inline workflow definitions (the normalised shape of
 * docs/workflow-definition.md), a migrated fresh database, and small
 * queries. Header-only (static functions) so each test file stays one
 * executable. */
#ifndef SY_ENGINE_SUPPORT_H
#define SY_ENGINE_SUPPORT_H

#include "engine.h"
#include "engine_int.h"
#include "fixture.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* Normalised definitions used across the tests. */
static const char ENGINE_TEST_DEFS[] =
    "{"
    "\"one\":{\"type\":\"one\",\"task_queue\":\"q1\",\"steps\":["
    "  {\"kind\":\"task\",\"name\":\"work\",\"task\":\"work\",\"queue\":\"q1\",\"input\":{\"x\":1},"
    "   \"retry\":{\"initial_interval_ms\":1000,\"backoff\":2.0,\"maximum_interval_ms\":100000,"
    "   \"maximum_attempts\":3,\"non_retryable\":[\"bad_input\"]},"
    "   \"timeouts\":{\"schedule_to_start_ms\":0,\"start_to_close_ms\":60000,"
    "   \"schedule_to_close_ms\":0,\"heartbeat_ms\":0},\"continue_on_failure\":false}]},"
    "\"waiter\":{\"type\":\"waiter\",\"task_queue\":\"qw\",\"steps\":["
    "  "
    "{\"kind\":\"wait\",\"name\":\"go\",\"signal\":\"go\",\"timeout_ms\":60000,\"on_timeout\":"
    "\"fail\"},"
    "  "
    "{\"kind\":\"wait\",\"name\":\"go2\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":"
    "\"fail\"},"
    "  {\"kind\":\"complete\",\"name\":\"complete-3\",\"result\":{\"ok\":true}}]},"
    "\"waiter3\":{\"type\":\"waiter3\",\"task_queue\":\"qw\",\"steps\":["
    "  "
    "{\"kind\":\"wait\",\"name\":\"a\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":\"fail\"},"
    "  "
    "{\"kind\":\"wait\",\"name\":\"b\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":\"fail\"},"
    "  "
    "{\"kind\":\"wait\",\"name\":\"c\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":\"fail\"},"
    "  {\"kind\":\"complete\",\"name\":\"complete-4\",\"result\":{\"ok\":true}}]},"
    "\"sleeper\":{\"type\":\"sleeper\",\"task_queue\":\"qs\",\"steps\":["
    "  {\"kind\":\"sleep\",\"name\":\"sleep-1\",\"duration_ms\":5000},"
    "  {\"kind\":\"emit\",\"name\":\"emit-2\",\"type\":\"test.slept\",\"subject\":null,"
    "   \"payload\":{\"done\":true},\"schema_version\":1}]},"
    "\"lenient\":{\"type\":\"lenient\",\"task_queue\":\"ql\",\"steps\":["
    "  "
    "{\"kind\":\"wait\",\"name\":\"go\",\"signal\":\"go\",\"timeout_ms\":1000,\"on_timeout\":"
    "\"continue\"},"
    "  {\"kind\":\"if\",\"name\":\"if-2\",\"condition\":\"true\",\"then\":["
    "    "
    "{\"kind\":\"fail\",\"name\":\"fail-1\",\"error\":{\"type\":\"nope\",\"message\":\"no\"}}],"
    "\"else\":[]}]},"
    "\"emitter\":{\"type\":\"emitter\",\"task_queue\":\"qe\",\"steps\":["
    "  {\"kind\":\"emit\",\"name\":\"emit-1\",\"type\":\"test.counted\",\"subject\":\"{{ input.n "
    "}}\","
    "   \"nats_subject\":\"events.counted.{{ input.n }}\",\"payload\":{\"n\":\"{{ input.n }}\"},"
    "   \"schema_version\":2}]},"
    "\"human\":{\"type\":\"human\",\"task_queue\":\"qh\",\"steps\":["
    "  "
    "{\"kind\":\"human\",\"name\":\"approve\",\"task\":\"approve\",\"input\":{},\"deadline_ms\":0,"
    "   \"assignee\":null}]}"
    "}";

typedef struct engine_fx {
    engine *eng;
    engine_session *s;
    char *conninfo;
} engine_fx;

/* An engine over the definitions defs_json (normalised, as ENGINE_TEST_DEFS)
 * on a fresh, migrated database db. prefix: first token of outcome subjects
 * (NULL: "sy"), unique per test that publishes, since tests share one
 * nats-server. */
__attribute__((unused)) static void engine_fx_open_defs(engine_fx *fx, const char *db,
                                                        const char *prefix, const char *defs_json)
{
    memset(fx, 0, sizeof *fx);
    fx->conninfo = fixture_pg_fresh_db(db);
    cJSON *defs = cJSON_Parse(defs_json);
    CHECK(defs != NULL);
    engine_opts o = {.workflows = defs, .subject_prefix = prefix};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx->eng, &err), SY_OK);
    cJSON_Delete(defs);
    sy_status st = engine_session_open(fx->eng, fx->conninfo, true, &fx->s, &err);
    CHECK_MSG(st == SY_OK, "open: %s", err.message);
}

/* ENGINE_TEST_DEFS with outcome subjects under prefix. */
__attribute__((unused)) static void engine_fx_open_prefix(engine_fx *fx, const char *db,
                                                          const char *prefix)
{
    engine_fx_open_defs(fx, db, prefix, ENGINE_TEST_DEFS);
}

__attribute__((unused)) static void engine_fx_open(engine_fx *fx, const char *db)
{
    engine_fx_open_prefix(fx, db, NULL);
}

__attribute__((unused)) static void engine_fx_close(engine_fx *fx)
{
    engine_session_close(fx->s);
    engine_free(fx->eng);
    free(fx->conninfo);
}

/* One integer from a query with up to 2 text parameters. */
__attribute__((unused)) static long long engine_fx_int(engine_fx *fx, const char *sql, const char *p1, const char *p2)
{
    const char *p[] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(engine__conn(fx->s), sql, n, NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    CHECK_INT(PQntuples(r), 1);
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* One text value (owned) from a query. */
__attribute__((unused)) static char *engine_fx_str(engine_fx *fx, const char *sql, const char *p1, const char *p2)
{
    const char *p[] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(engine__conn(fx->s), sql, n, NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    CHECK_INT(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Runs one statement that must succeed. */
__attribute__((unused)) static void engine_exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

/* ... on the fixture's session. */
__attribute__((unused)) static void engine_fx_exec(engine_fx *fx, const char *sql)
{
    engine_exec_ok(engine__conn(fx->s), sql);
}

/* Starts (in its own transaction); returns the status, fills res. */
__attribute__((unused)) static sy_status engine_fx_start(engine_fx *fx, const char *type, const char *id,
                                 rules_if_running ir, rules_if_closed ic, engine_result *res)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    engine_start_req req = {.workflow_type = type, .workflow_id = id, .if_running = ir,
                            .if_closed = ic};
    sy_status st = engine_start(fx->s, &req, res, &err);
    if (st == SY_OK)
        CHECK_MSG(engine_commit(fx->s, &err) == SY_OK, "commit: %s", err.message);
    else
        engine_rollback(fx->s);
    return st;
}

__attribute__((unused)) static const char *engine_fx_status(engine_fx *fx, const char *id)
{
    static char buf[32];
    char *s = engine_fx_str(fx, "SELECT status FROM workflow_ids WHERE workflow_id = $1", id, NULL);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

#endif
