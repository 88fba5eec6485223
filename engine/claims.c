/* claims.c: the claim check's read (docs/worker-protocol.md). What the
 * committed state says of a fetch's task.started reports, in one statement:
 * no transaction, no row lock, nothing written. The report consumer
 * (reports_run.c) answers the workers from it at once and holds the reports
 * it may record later, together with the task's next report. A cancel that
 * commits just after the read is no different from one that commits just
 * after a committed start: the worker hears of it as a cancel event. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

/* The code do_report (ops.c) would give the report, from its task's row:
 * the same order of checks, so that a read and an apply never disagree. */
static const char *claim_code(int64_t attempt, int64_t current, const char *task_status,
                              const char *run_status)
{
    if (strcmp(run_status, "running") != 0)
        return "workflow_closed";
    bool attempt_ok = attempt == 0 || attempt == current;
    bool done = !strcmp(task_status, "completed") || !strcmp(task_status, "failed") ||
                !strcmp(task_status, "canceled");
    if (attempt_ok && done)
        return "task_closed";
    if (attempt_ok && !strcmp(task_status, "started"))
        return "already_started";
    if (!attempt_ok || strcmp(task_status, "scheduled") != 0)
        return "stale_attempt";
    return "";
}

sy_status engine__claims_read(engine_session *s, engine__claim *c, size_t n, sy_error *err)
{
    sy_buf ids = SY_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        engine__array_item(&ids, c[i].task_id);
        c[i].code = "unknown_task"; /* unless a row says otherwise */
        c[i].start_by_ms = 0;
    }
    const char *p[] = {engine__array_end(&ids), s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec_claims(
        s,
        /* LATERAL ... OFFSET 0: an index probe per report, never a scan of
         * tasks, whatever the planner guesses of the array (batch.c too) */
        "SELECT k.n, x.attempt, x.status, x.run_status, x.start_by"
        " FROM unnest($1::text[]) WITH ORDINALITY AS k(id, n) CROSS JOIN LATERAL"
        " (SELECT t.attempt, t.status, u.status AS run_status,"
        " COALESCE((SELECT (extract(epoch FROM m.fire_at) * 1000)::int8 FROM timers m"
        " WHERE m.timer_id = t.task_id || '@' || t.attempt || ':schedule_to_start'), 0) AS start_by"
        " FROM tasks t JOIN runs u ON u.run_id = t.run_id"
        " WHERE t.task_id = k.id AND t.namespace = $2 OFFSET 0) AS x",
        2, p, &r, err);
    for (int j = 0; st == SY_OK && j < PQntuples(r); j++) {
        size_t k = (size_t)atoll(PQgetvalue(r, j, 0));
        if (k < 1 || k > n)
            continue;
        engine__claim *x = &c[k - 1];
        x->code = claim_code(x->attempt, atoll(PQgetvalue(r, j, 1)), PQgetvalue(r, j, 2),
                             PQgetvalue(r, j, 3));
        x->start_by_ms = atoll(PQgetvalue(r, j, 4));
    }
    PQclear(r);
    sy_buf_cleanup(&ids);
    return st;
}
