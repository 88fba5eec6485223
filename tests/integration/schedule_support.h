/* schedule_support.h: helpers of the schedule integration tests: an engine
 * with two workflow types ("quick" completes at once, "waiter" runs until
 * signaled or stopped), schedule creation at a chosen "now", and queries.
 * Time is always passed in: the tests run on a fixed, made-up clock. */
#ifndef SY_SCHEDULE_SUPPORT_H
#define SY_SCHEDULE_SUPPORT_H

#include "engine.h"
#include "engine_int.h"
#include "json.h"
#include "fixture.h"
#include "schedule.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SCHED_TEST_DEFS[] =
    "{\"quick\":{\"type\":\"quick\",\"task_queue\":\"qq\",\"steps\":["
    "  {\"kind\":\"complete\",\"name\":\"done\",\"result\":{\"ok\":true}}]},"
    " \"waiter\":{\"type\":\"waiter\",\"task_queue\":\"qw\",\"steps\":["
    "  "
    "{\"kind\":\"wait\",\"name\":\"go\",\"signal\":\"go\",\"timeout_ms\":0,\"on_timeout\":\"fail\"}"
    "]}}";

typedef struct sched_fx {
    engine *eng;
    engine_session *s;
    char *conninfo;
} sched_fx;

static __attribute__((unused)) void sched_fx_open(sched_fx *fx, const char *db)
{
    memset(fx, 0, sizeof *fx);
    fx->conninfo = fixture_pg_fresh_db(db);
    cJSON *defs = cJSON_Parse(SCHED_TEST_DEFS);
    engine_opts o = {.workflows = defs};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &fx->eng, &err), SY_OK);
    cJSON_Delete(defs);
    sy_status st = engine_session_open(fx->eng, fx->conninfo, true, &fx->s, &err);
    CHECK_MSG(st == SY_OK, "open: %s", err.message);
}

static __attribute__((unused)) void sched_fx_close(sched_fx *fx)
{
    engine_session_close(fx->s);
    engine_free(fx->eng);
    free(fx->conninfo);
}

/* "YYYY-MM-DD HH:MM:SS" UTC -> ms (libc's timegm, independent of tz.c). */
static __attribute__((unused)) int64_t at(const char *s)
{
    struct tm tm = {0};
    CHECK(sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                 &tm.tm_min, &tm.tm_sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* Creates (CLI path) schedule id from JSON text members (without "id"). */
static __attribute__((unused)) void sched_create(sched_fx *fx, const char *id, const char *members,
                                                 int64_t now)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"id\":\"%s\",%s}", id, members);
    cJSON *def = cJSON_Parse(text);
    CHECK_MSG(def != NULL, "bad test JSON %s", text);
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    sy_status st = engine_schedule_upsert(fx->s, def, now, NULL, &err);
    CHECK_MSG(st == SY_OK, "upsert: %s: %s", err.path, err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    cJSON_Delete(def);
}

static __attribute__((unused)) size_t sched_run(sched_fx *fx, int64_t now)
{
    size_t fired = 0;
    sy_error err = {0};
    sy_status st = engine_schedules_run_once(fx->s, now, 1000, &fired, &err);
    CHECK_MSG(st == SY_OK, "run_once: %s", err.message);
    return fired;
}

/* One integer from a query with up to 2 text parameters. */
static __attribute__((unused)) long long sched_int(sched_fx *fx, const char *sql, const char *p1,
                                                   const char *p2)
{
    const char *p[] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(engine__conn(fx->s), sql, n, NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    CHECK_INT(PQntuples(r), 1);
    long long v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* The status of workflow wid ("" when unknown); static buffer. */
static __attribute__((unused)) const char *sched_wf_status(sched_fx *fx, const char *wid)
{
    static char status[32];
    const char *p[] = {wid};
    PGresult *r =
        PQexecParams(engine__conn(fx->s), "SELECT status FROM workflow_ids WHERE workflow_id = $1",
                     1, NULL, p, NULL, NULL, 0);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
    snprintf(status, sizeof status, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return status;
}

static __attribute__((unused)) long long sched_col(sched_fx *fx, const char *id, const char *col)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM schedules WHERE schedule_id = $1", col);
    return sched_int(fx, sql, id, NULL);
}

static __attribute__((unused)) long long sched_outbox(sched_fx *fx, const char *type)
{
    char like[128];
    snprintf(like, sizeof like, "%%\"type\":\"%s\"%%", type);
    return sched_int(fx, "SELECT count(*) FROM outbox_messages WHERE body LIKE $1", like, NULL);
}

/* Ends workflow wid at once (so that the next slot is not overlapped). */
static __attribute__((unused)) void sched_terminate(sched_fx *fx, const char *wid)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    sy_status st = engine_terminate(fx->s, wid, "test", NULL, &err);
    CHECK_MSG(st == SY_OK, "terminate %s: %s", wid, err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
}

#endif
