/* worker_engine.h: end-to-end harness for the worker_e2e*.c tests: a real
 * engine on a fresh database, real `switchyard worker` processes and the
 * engine's report consumer (engine/reports.h), all on a private subject
 * prefix and stream (see worker_helpers.h).
 *
 * A "pump" thread plays the service's loops: it publishes outbox rows to
 * JetStream (as the outbox relay does, with Nats-Msg-Id = event_id, the
 * subject's "sy." replaced by the test's prefix), runs one round of the
 * report consumer and fires due timers, over and over. */
#ifndef SY_WORKER_ENGINE_H
#define SY_WORKER_ENGINE_H

#include "engine.h"
#include "engine_int.h"
#include "reports.h"
#include "worker_helpers.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct we_fx {
    wk_env wk;
    engine *eng;
    engine_session *s;   /* main thread */
    engine_session *ps;  /* pump thread */
    engine_reports *rep; /* pump thread */
    char *conninfo;
    pthread_t pump;
    bool pumping; /* false: the test runs the report consumer itself */
    atomic_bool stop;
} we_fx;

WK_FN void we_pump_outbox(we_fx *fx)
{
    PGconn *c = engine__conn(fx->ps);
    /* the test's own relay (it rewrites subjects to the test's prefix):
     * a page is deleted once all its messages are published */
    PGresult *r = PQexec(c, "SELECT page_id, event_id, subject, body FROM outbox_messages WHERE page_id"
                            " IN (SELECT id FROM outbox ORDER BY id LIMIT 20) ORDER BY page_id, n");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *subject = PQgetvalue(r, i, 2), *body = PQgetvalue(r, i, 3);
        if (strncmp(subject, "sy.task.created.", 16) == 0) {
            /* what the engine sends workers must match schemas/worker/task.created.json */
            cJSON *tc = cJSON_Parse(body);
            CHECK_MSG(tc != NULL, "task.created is not JSON: %s", body);
            wk_check_schema(&fx->wk, "task.created", tc);
            cJSON_Delete(tc);
        }
        char subj[600];
        snprintf(subj, sizeof subj, "%s%s", fx->wk.prefix,
                 strncmp(subject, "sy.", 3) == 0 ? subject + 2 : subject);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = PQgetvalue(r, i, 1);
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, fx->wk.js, subj, body, (int)strlen(body), &po, NULL) != NATS_OK)
            break;
        jsPubAck_Destroy(pa);
        const char *p[] = {PQgetvalue(r, i, 0)};
        bool page_done = i + 1 == PQntuples(r) || strcmp(PQgetvalue(r, i + 1, 0), p[0]) != 0;
        if (page_done)
            PQclear(PQexecParams(c, "DELETE FROM outbox WHERE id = $1::bigint", 1, NULL, p, NULL, NULL, 0));
    }
    PQclear(r);
}

WK_FN void *we_pump_main(void *arg)
{
    we_fx *fx = arg;
    while (!atomic_load(&fx->stop)) {
        we_pump_outbox(fx);
        sy_error err;
        size_t n = 0;
        if (engine_reports_run_once(fx->rep, &n, &err) != SY_OK)
            usleep(100 * 1000);
        size_t fired = 0;
        if (engine_timers_run_once(fx->ps, sy_clock_now_ms(NULL), 100, &fired, &err) != SY_OK)
            usleep(100 * 1000);
    }
    return NULL;
}

/* hold_ms, linger_ms: the report consumer's hold of a task.started and
 * linger of fetched reports (engine_reports_opts: 0 the defaults). */
WK_FN void we_open_reports(we_fx *fx, const char *name, const char *defs_json, int64_t hold_ms,
                           int64_t linger_ms);

/* we_open_reports without the pump thread: nothing publishes the outbox or
 * runs fx->rep unless the test does. */
WK_FN void we_open_still(we_fx *fx, const char *name, const char *defs_json, int64_t hold_ms,
                         int64_t linger_ms)
{
    memset(fx, 0, sizeof *fx);
    wk_setup(&fx->wk, name);
    fx->wk.no_claim = false; /* a real engine answers the claim check */
    fx->conninfo = fixture_pg_fresh_db(name);
    cJSON *defs = cJSON_Parse(defs_json);
    CHECK_MSG(defs != NULL, "bad test definitions");
    engine_opts o = {.workflows = defs};
    sy_error err;
    sy_error_clear(&err);
    CHECK_INT(engine_new(&o, NULL, &fx->eng, &err), SY_OK);
    cJSON_Delete(defs);
    sy_status st = engine_session_open(fx->eng, fx->conninfo, true, &fx->s, &err);
    CHECK_MSG(st == SY_OK, "open: %s", err.message);
    CHECK_INT(engine_session_open(fx->eng, fx->conninfo, false, &fx->ps, &err), SY_OK);
    engine_reports_opts ro = {.conninfo = fx->conninfo,
                              .nats_url = fixture_nats_url(),
                              .prefix = fx->wk.prefix,
                              .fetch_timeout_ms = 100,
                              .hold_started_ms = hold_ms,
                              .linger_ms = linger_ms};
    CHECK_INT(engine_reports_new(fx->eng, &ro, &fx->rep, &err), SY_OK);
    atomic_init(&fx->stop, false);
}

WK_FN void we_open_reports(we_fx *fx, const char *name, const char *defs_json, int64_t hold_ms,
                           int64_t linger_ms)
{
    we_open_still(fx, name, defs_json, hold_ms, linger_ms);
    CHECK_INT(pthread_create(&fx->pump, NULL, we_pump_main, fx), 0);
    fx->pumping = true;
}

WK_FN void we_open(we_fx *fx, const char *name, const char *defs_json)
{
    we_open_reports(fx, name, defs_json, 0, 0);
}

WK_FN void we_close(we_fx *fx)
{
    atomic_store(&fx->stop, true);
    if (fx->pumping)
        pthread_join(fx->pump, NULL);
    wk_teardown(&fx->wk);
    engine_reports_free(fx->rep);
    engine_session_close(fx->ps);
    engine_session_close(fx->s);
    engine_free(fx->eng);
    free(fx->conninfo);
}

WK_FN void we_start(we_fx *fx, const char *type, const char *id, const char *input_json)
{
    sy_error err;
    sy_error_clear(&err);
    cJSON *input = input_json ? cJSON_Parse(input_json) : NULL;
    engine_start_req req = {.workflow_type = type, .workflow_id = id, .input = input};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    sy_status st = engine_start(fx->s, &req, NULL, &err);
    CHECK_MSG(st == SY_OK, "start %s: %s", id, err.message);
    CHECK_MSG(engine_commit(fx->s, &err) == SY_OK, "commit: %s", err.message);
    cJSON_Delete(input);
}

/* One text value (owned; NULL when no row) of a query with up to 2 params. */
WK_FN char *we_query(we_fx *fx, const char *sql, const char *p1, const char *p2)
{
    const char *p[] = {p1, p2};
    PGresult *r = PQexecParams(engine__conn(fx->s), sql,
                               p2   ? 2
                               : p1 ? 1
                                    : 0,
                               NULL, p, NULL, NULL, 0);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    char *v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

WK_FN long we_count(we_fx *fx, const char *sql, const char *p1, const char *p2)
{
    char *v = we_query(fx, sql, p1, p2);
    long n = v ? atol(v) : -1;
    free(v);
    return n;
}

/* Waits until the workflow's status is not "running"; returns it (static). */
WK_FN const char *we_wait_closed(we_fx *fx, const char *id, int timeout_ms)
{
    static char status[32];
    snprintf(status, sizeof status, "(none)");
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        char *s = we_query(fx, "SELECT status FROM workflow_ids WHERE workflow_id = $1", id, NULL);
        if (s)
            snprintf(status, sizeof status, "%s", s);
        free(s);
        if (strcmp(status, "running") != 0 && strcmp(status, "(none)") != 0)
            break;
        usleep(100 * 1000);
    }
    return status;
}

/* Waits until the workflow's task named 'name' has status 'status'. */
WK_FN bool we_wait_task(we_fx *fx, const char *id, const char *status, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        long n = we_count(fx, "SELECT count(*) FROM tasks WHERE workflow_id = $1 AND status = $2",
                          id, status);
        if (n > 0)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

WK_FN long we_history_count(we_fx *fx, const char *id, const char *type)
{
    return we_count(fx,
                    "SELECT count(*) FROM history_events h JOIN runs r USING (run_id) "
                    "WHERE r.workflow_id = $1 AND h.type = $2",
                    id, type);
}

#endif
