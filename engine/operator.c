/* operator.c: what the operator's HTTP API and web UI need from the store
 * beyond describe/list/history (query.c): retrying a task in backoff now,
 * the task queues with the workers seen on them, the workers table the
 * report consumer keeps (008_ui.sql), and what became of a replayed dead
 * letter. Postgres builds the JSON; the shapes are in docs/http-api.md. */
#include "engine_int.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sy_status engine_task_retry_now(engine_session *s, const char *task_id, sy_error *err)
{
    /* the retry timer's id is "<task_id>@<attempt>:retry" (effects.c); the
     * task must still wait in backoff, or the timer would only be stale */
    const char *p[] = {task_id, s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "UPDATE timers SET fire_at = now() WHERE kind = 'retry' AND left(timer_id, length($1) + 1)"
        " = $1 || '@' AND EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = $1 AND t.namespace = $2"
        " AND t.status = 'backoff')",
        2, p, &r, err);
    if (st == SY_OK && atoi(PQcmdTuples(r)) == 0)
        st = sy_error_set(err, SY_NOT_FOUND, "not_in_backoff", "task_id",
                          "task \"%.200s\" is not waiting for a retry", task_id);
    PQclear(r);
    if (st == SY_OK) /* wake a timer loop now instead of at its next poll */
        st = engine__exec(s, "SELECT pg_notify('switchyard_timers', '')", 0, NULL, NULL, err);
    return st;
}

sy_status engine_task_queues(engine_session *s, int64_t now_ms, cJSON **out, sy_error *err)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *p[] = {now, s->eng->ns};
    /* open tasks are read from the tasks table as it is (no index on
     * status: it would make every task's updates non-HOT); the workers are
     * the small table the report consumer keeps */
    return engine__json_query(
        s,
        "WITH o AS (SELECT queue, count(*) FILTER (WHERE status = 'scheduled') AS scheduled,"
        " count(*) FILTER (WHERE status = 'started') AS started, count(*) FILTER (WHERE status ="
        " 'backoff') AS backoff, min(scheduled_at) FILTER (WHERE status = 'scheduled') AS oldest"
        " FROM tasks WHERE namespace = $2 AND status IN ('scheduled', 'started', 'backoff') GROUP"
        " BY queue), w AS (SELECT queue, json_agg(json_build_object('worker', worker,"
        " 'first_seen_at', first_seen_at, 'last_seen_at', last_seen_at, 'reports', reports,"
        " 'completed', completed, 'failed', failed) ORDER BY last_seen_at DESC) AS workers,"
        " sum(completed) AS completed, sum(failed) AS failed, max(last_seen_at) AS last_seen FROM"
        " workers GROUP BY queue), q AS (SELECT coalesce(o.queue, w.queue) AS queue,"
        " coalesce(o.scheduled, 0) AS scheduled, coalesce(o.started, 0) AS started,"
        " coalesce(o.backoff, 0) AS backoff, o.oldest, coalesce(w.workers, '[]') AS workers,"
        " coalesce(w.completed, 0) AS completed, coalesce(w.failed, 0) AS failed, w.last_seen FROM"
        " o FULL JOIN w ON o.queue = w.queue) SELECT json_build_object('queues',"
        " coalesce(json_agg(json_build_object('queue', queue, 'scheduled', scheduled, 'started',"
        " started, 'backoff', backoff, 'oldest_scheduled_at', oldest, 'oldest_age_ms', CASE WHEN"
        " oldest IS NULL THEN 0 ELSE greatest(0, $1::bigint - (extract(epoch FROM oldest) *"
        " 1000)::bigint) END, 'workers', workers, 'last_seen_at', last_seen, 'completed',"
        " completed, 'failed', failed, 'failure_rate', CASE WHEN completed + failed > 0 THEN"
        " round(failed::numeric / (completed + failed), 4) END) ORDER BY queue), '[]')) FROM q",
        2, p, out, err);
}

const char *const engine_task_status_filters[] = {
    "pending", "scheduled", "started", "backoff", "completed", "failed", "canceled", "all", NULL};

/* The statuses a filter value stands for, comma-separated (NULL: any);
 * false when the value is not a filter. */
static bool task_statuses(const char *status, const char **out)
{
    if (!status || !strcmp(status, "pending")) {
        *out = "scheduled,started,backoff";
        return true;
    }
    *out = NULL;
    if (!strcmp(status, "all"))
        return true;
    for (size_t i = 0; engine_task_status_filters[i]; i++)
        if (!strcmp(status, engine_task_status_filters[i]))
            return (*out = status), true;
    return false;
}

/* A human task's assignee is not a column of tasks (the batch's hot
 * statement writes those): it is read from the task's latest
 * task.scheduled event, for human tasks only, which are few. Keyset on
 * task_id, one row more than the page to know whether another follows. */
static const char TASK_LIST_SQL[] =
    "WITH c AS (SELECT t.*, CASE WHEN t.human THEN (SELECT h.data->>'assignee' FROM"
    " history_events h WHERE h.run_id = t.run_id AND h.type = 'task.scheduled' AND"
    " h.data->>'task_id' = t.task_id ORDER BY h.seq DESC LIMIT 1) END AS assignee FROM tasks t"
    " WHERE t.namespace = $1 AND ($2::text IS NULL OR t.status = ANY (string_to_array($2,"
    " ','))) AND ($3::text IS NULL OR t.queue = $3) AND ($4::text IS NULL OR t.human) AND"
    " t.task_id > coalesce($5, '')),"
    " p AS (SELECT * FROM c WHERE $4::text IS NULL OR c.assignee = $4 ORDER BY task_id"
    " LIMIT $6::int + 1), k AS (SELECT * FROM p ORDER BY task_id LIMIT $6::int)"
    " SELECT json_build_object('tasks', coalesce((SELECT json_agg(json_build_object('task_id',"
    " k.task_id, 'workflow_id', k.workflow_id, 'run_id', k.run_id, 'workflow_type',"
    " r.workflow_type, 'name', k.name, 'step', k.step, 'queue', k.queue, 'human', k.human,"
    " 'assignee', k.assignee, 'attempt', k.attempt, 'status', k.status, 'input', k.input,"
    " 'scheduled_at', k.scheduled_at, 'started_at', k.started_at, 'heartbeat_at',"
    " k.heartbeat_at) ORDER BY k.task_id) FROM k LEFT JOIN runs r ON r.run_id = k.run_id),"
    " '[]'), 'next_page_token', CASE WHEN (SELECT count(*) FROM p) > (SELECT count(*) FROM k)"
    " THEN (SELECT max(task_id) FROM k) END)";

sy_status engine_task_list(engine_session *s, const engine_task_filter *f, cJSON **out,
                           sy_error *err)
{
    *out = NULL;
    const char *statuses = NULL;
    if (!task_statuses(f->status, &statuses))
        return sy_error_set(err, SY_INVALID, "bad_status", "status",
                            "task status \"%.40s\" is not pending, scheduled, started, backoff, "
                            "completed, failed, canceled or all",
                            f->status);
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", f->limit == 0 ? 100 : f->limit > 1000 ? 1000 : f->limit);
    const char *p[] = {s->eng->ns, statuses, f->queue, f->assignee, f->page_token, lim};
    sy_status st = engine__json_query(s, TASK_LIST_SQL, 6, p, out, err);
    if (st == SY_OK && /* held or released by a queue's max_in_flight (dispatch.c) */
        (st = engine__dispatch_describe(s, JGET(*out, "tasks"), err)) != SY_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return st;
}

/* The rows as a JSON array for json_to_recordset, sorted by key so that two
 * consumers upserting the same workers lock them in one order. */
static int seen_cmp(const void *a, const void *b)
{
    const engine_worker_seen *x = a, *y = b;
    int c = strcmp(x->queue, y->queue);
    return c ? c : strcmp(x->worker, y->worker);
}

sy_status engine_workers_seen(engine_session *s, engine_worker_seen *w, size_t n, sy_error *err)
{
    if (n == 0)
        return SY_OK;
    qsort(w, n, sizeof *w, seen_cmp);
    sy_buf b = SY_BUF_INIT;
    sy_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(&b, i ? ",{\"q\":" : "{\"q\":");
        sy_json_append_string(&b, w[i].queue);
        sy_buf_puts(&b, ",\"w\":");
        sy_json_append_string(&b, w[i].worker);
        sy_buf_printf(&b, ",\"t\":%lld,\"r\":%llu,\"c\":%llu,\"f\":%llu}",
                      (long long)w[i].last_seen_ms, (unsigned long long)w[i].reports,
                      (unsigned long long)w[i].completed, (unsigned long long)w[i].failed);
    }
    sy_buf_puts(&b, "]");
    const char *p[] = {sy_buf_str(&b)};
    /* telemetry: its own transaction, no wait for the WAL flush (a crash
     * loses at most the last second of counts, never a report) */
    sy_status st = engine__exec(s, "BEGIN", 0, NULL, NULL, err);
    if (st == SY_OK)
        st = engine__exec(s, "SET LOCAL synchronous_commit = off", 0, NULL, NULL, err);
    if (st == SY_OK)
        st = engine__exec(
            s,
            "INSERT INTO workers AS o (queue, worker, first_seen_at, last_seen_at, reports,"
            " completed, failed) SELECT q, w, to_timestamp(t / 1000.0), to_timestamp(t / 1000.0),"
            " r, c, f FROM json_to_recordset($1::json) AS x(q text, w text, t float8, r bigint, c"
            " bigint, f bigint) ON CONFLICT (queue, worker) DO UPDATE SET last_seen_at ="
            " greatest(o.last_seen_at, EXCLUDED.last_seen_at), reports = o.reports +"
            " EXCLUDED.reports, completed = o.completed + EXCLUDED.completed, failed = o.failed +"
            " EXCLUDED.failed",
            1, p, NULL, err);
    if (st == SY_OK)
        st = engine__exec(s, "COMMIT", 0, NULL, NULL, err);
    else
        (void)!engine__exec(s, "ROLLBACK", 0, NULL, NULL, NULL);
    sy_buf_cleanup(&b);
    return st;
}

sy_status engine_dead_letter_replay_outcome(engine_session *s, int64_t id, const char *inbox_key,
                                            const char *header, cJSON **out, sy_error *err)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, inbox_key, header};
    /* dead-lettered again: a newer dead letter carries the replay header
     * with this id (a refused action's event has its inbox row all the
     * same, so this is asked first); applied: the replay's inbox row */
    return engine__json_query(
        s,
        "SELECT coalesce((SELECT json_build_object('status', 'dead_lettered', 'dead_letter_id', id,"
        " 'code', code, 'message', message, 'at', created_at) FROM dead_letters WHERE id >"
        " $1::bigint AND headers ->> $3 = $1::text ORDER BY id DESC LIMIT 1), (SELECT"
        " json_build_object('status', 'applied', 'at', received_at) FROM inbox WHERE event_id ="
        " $2), json_build_object('status', 'pending'))",
        3, p, out, err);
}

int engine_session_socket(engine_session *s)
{
    return s && s->conn ? PQsocket(s->conn) : -1;
}

sy_status engine_read_notifications(engine_session *s, engine_notify_fn fn, void *arg,
                                    sy_error *err)
{
    if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK)
        return sy_error_set(err, SY_DB_DOWN, "db_connect", NULL, "connection to postgres lost: %s",
                            PQerrorMessage(s->conn));
    PGnotify *n;
    while ((n = PQnotifies(s->conn)) != NULL) {
        fn(arg, n->relname, n->extra);
        PQfreemem(n);
    }
    return SY_OK;
}

sy_status engine_runs_create_many(engine_session *s, const char *prefix, size_t n,
                                  const char *workflow_type, int64_t first_ms, int64_t step_ms,
                                  sy_error *err)
{
    char ns[24], first[24], step[24];
    snprintf(ns, sizeof ns, "%zu", n);
    snprintf(first, sizeof first, "%lld", (long long)first_ms);
    snprintf(step, sizeof step, "%lld", (long long)(step_ms > 0 ? step_ms : 1));
    const char *p[] = {prefix, ns, first, step, s->eng->ns, workflow_type};
    sy_status st;
    /* run ids are UUIDv7 of their start (as engine__uuid7 makes them, the
     * random bits from md5); 1 run in 100 is running, 4 failed, the rest
     * completed a second after they started */
    st = engine__exec(
        s,
        "WITH g AS (SELECT i, $3::bigint + i * $4::bigint AS ms, md5($1 || i) AS r,"
        " CASE WHEN i % 100 = 0 THEN 'running' WHEN i % 25 = 0 THEN 'failed' ELSE 'completed' END"
        " AS st FROM generate_series(0, $2::int - 1) AS i), u AS (SELECT i, ms, st,"
        " (substr(lpad(to_hex(ms), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(ms), 12, '0'), 9,"
        " 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, "
        "12))::uuid"
        " AS run_id, r FROM g), w AS (INSERT INTO workflow_ids (namespace, workflow_id, run_id,"
        " status, closed_at) SELECT $5, $1 || i, run_id, st, CASE WHEN st <> 'running' THEN"
        " to_timestamp(ms / 1000.0 + 1) END FROM u) INSERT INTO runs (run_id, namespace,"
        " workflow_id, workflow_type, def_hash, status, task_queue, input, result, error, trace_id,"
        " causation_id, cancel_requested, next_seq, started_at, closed_at, updated_at) SELECT"
        " run_id, $5, $1 || i, $6, 'bench', st, $6, json_build_object('n', i), CASE WHEN st ="
        " 'completed' THEN '{\"ok\":true}'::json END, CASE WHEN st = 'failed' THEN"
        " '{\"type\":\"bench\"}'::json END, r, NULL, false, 4, to_timestamp(ms / 1000.0), CASE"
        " WHEN st <> 'running' THEN to_timestamp(ms / 1000.0 + 1) END, now() FROM u",
        6, p, NULL, err);
    /* the planner sees the new rows at once, as it would a table grown slowly */
    if (st == SY_OK)
        st = engine__exec(s, "ANALYZE runs, workflow_ids", 0, NULL, NULL, err);
    return st;
}
