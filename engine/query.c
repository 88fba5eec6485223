/* query.c: reading the store: describe, list (filters, keyset pagination),
 * history, and dead letters for `switchyard dlq`. Postgres builds the JSON
 * (json_build_object), so the shapes live in one place: engine/README.md. */
#include "engine_int.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

sy_status engine__json_query(engine_session *s, const char *sql, int n, const char *const *p,
                             cJSON **out, sy_error *err)
{
    PGresult *r = NULL;
    *out = NULL;
    sy_status st = engine__exec(s, sql, n, p, &r, err);
    if (st != SY_OK)
        return st;
    if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return sy_error_set(err, SY_NOT_FOUND, "not_found", NULL, "no such workflow");
    }
    *out = cJSON_Parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    return *out ? SY_OK : sy_error_set(err, SY_INTERNAL, "bad_json", NULL, "unparseable result");
}

/* The run: run_id when given, else the latest run of workflow_id (the
 * one its workflow_ids row points at): primary key lookups only. */
static const char RUN_SEL[] =
    "SELECT r.* FROM runs r WHERE r.run_id = coalesce($3::uuid, (SELECT w.run_id FROM"
    " workflow_ids w WHERE w.namespace = $1 AND w.workflow_id = $2))"
    " AND r.namespace = $1 AND r.workflow_id = $2";

/* The tasks of run r: a range of the tasks primary key ("<run_id>:<step>",
 * byte order; 004_lean_keys.sql). */
#define TASKS_OF(t, r)                                                                             \
    t ".task_id >= (" r ".run_id::text || ':') COLLATE \"C\" AND " t ".task_id < (" r              \
      ".run_id::text || ';') COLLATE \"C\" AND " t ".run_id = " r ".run_id"

const char *const engine_workflow_statuses[] = {"running",  "completed",  "failed",
                                                "canceled", "terminated", NULL};

sy_status engine_inbox_get(engine_session *s, const char *event_id, engine_inbox_entry *out,
                           sy_error *err)
{
    memset(out, 0, sizeof *out);
    /* the event's row and its per-route keys: one range of the key, whose
     * collation is "C" ('/' + 1 is '0') */
    sy_buf lo = SY_BUF_INIT, hi = SY_BUF_INIT;
    sy_buf_printf(&lo, "sy.route:%s/", event_id);
    sy_buf_printf(&hi, "sy.route:%s0", event_id);
    const char *p[] = {event_id, lo.data, hi.data};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT event_id, routes FROM inbox WHERE event_id = $1 OR"
                                " (event_id >= $2 AND event_id < $3)",
                                3, p, &r, err);
    sy_buf keys = SY_BUF_INIT;
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        if (strcmp(id, event_id) == 0) {
            out->applied = true;
            out->routes = PQgetisnull(r, i, 1) ? NULL : strdup(PQgetvalue(r, i, 1));
        } else {
            sy_buf_printf(&keys, "%s%s", keys.len ? "\n" : "", id + lo.len);
        }
    }
    PQclear(r);
    out->route_keys = keys.len ? strdup(keys.data) : NULL;
    sy_buf_cleanup(&keys);
    sy_buf_cleanup(&lo);
    sy_buf_cleanup(&hi);
    return st;
}

void engine_inbox_entry_cleanup(engine_inbox_entry *e)
{
    if (!e)
        return;
    free(e->routes);
    free(e->route_keys);
    memset(e, 0, sizeof *e);
}

/* The run's span of its trace and its parent, the span of the event that
 * started it (common/trace.h): derived, never stored. */
static void add_spans(cJSON *o)
{
    const char *run = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "run_id"));
    const char *cause = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "causation_id"));
    char span[SY_SPAN_ID_LEN + 1];
    if (!run || !cJSON_GetObjectItemCaseSensitive(o, "trace_id"))
        return;
    sy_span_id(run, span);
    cJSON_AddStringToObject(o, "span_id", span);
    if (cause)
        sy_span_id(cause, span);
    cJSON_AddItemToObject(o, "parent_span_id",
                          cause ? cJSON_CreateString(span) : cJSON_CreateNull());
}

sy_status engine_describe(engine_session *s, const char *workflow_id, const char *run_id,
                          cJSON **out, sy_error *err)
{
    sy_buf q = SY_BUF_INIT;
    sy_buf_printf(&q,
                  "WITH run AS (%s) SELECT json_build_object('workflow_id', workflow_id, 'run_id',"
                  " run_id, 'workflow_type', workflow_type, 'status', status, 'task_queue',"
                  " task_queue, 'trace_id', trace_id, 'causation_id', causation_id, 'input', input,"
                  " 'result', result, 'error', error, 'started_at', started_at, 'closed_at',"
                  " closed_at, 'cancel_requested', cancel_requested, 'definition_hash', def_hash,"
                  " 'history_length', next_seq - 1, 'pending_tasks', (SELECT coalesce(json_agg("
                  "json_build_object('task_id', t.task_id, 'name', t.name, 'queue', t.queue,"
                  " 'attempt', t.attempt, 'status', t.status, 'human', t.human) ORDER BY"
                  " t.scheduled_at), '[]') FROM tasks t WHERE " TASKS_OF(
                      "t", "run") " AND t.status"
                                  " IN ('scheduled', 'started', 'backoff'))) FROM run",
                  RUN_SEL);
    const char *p[] = {s->eng->ns, workflow_id, run_id};
    sy_status st = engine__json_query(s, q.data, 3, p, out, err);
    sy_buf_cleanup(&q);
    if (st == SY_OK)
        add_spans(*out);
    if (st == SY_OK) /* a task held or released by its queue's max_in_flight (dispatch.c) */
        st = engine__dispatch_describe(s, JGET(*out, "pending_tasks"), err);
    if (st == SY_NOT_FOUND) {
        /* a tombstone: the ID is known but its runs were purged */
        st = engine__json_query(
            s,
            "SELECT json_build_object('workflow_id', workflow_id, 'run_id', run_id,"
            " 'status', status, 'closed_at', closed_at, 'purged', true) FROM"
            " workflow_ids WHERE namespace = $1 AND workflow_id = $2",
            2, p, out, err);
    }
    if (st == SY_OK) /* the events it waits for (corr.c) */
        st = engine__corr_describe(s, *out, err);
    if (!run_id) /* what flow control holds for the ID (flow.c) */
        st = engine__flow_describe(s, workflow_id, st, out, err);
    if (!run_id) /* a start waiting behind, or a run under, a concurrency key */
        st = engine__conc_describe(s, workflow_id, st, out, err);
    if (!run_id) /* the partial join that would start it (join.c) */
        st = engine__join_describe(s, workflow_id, st, out, err);
    return st;
}

/* The run's fields as describe gives them (inside json_build_object). */
#define RUN_FIELDS                                                                                 \
    "'workflow_id', workflow_id, 'run_id', run_id, 'workflow_type', workflow_type, 'status',"      \
    " status, 'task_queue', task_queue, 'trace_id', trace_id, 'causation_id', causation_id,"       \
    " 'input', input, 'result', result, 'error', error, 'started_at', started_at, 'closed_at',"    \
    " closed_at, 'cancel_requested', cancel_requested, 'definition_hash', def_hash,"               \
    " 'history_length', next_seq - 1"

/* A timer of the run that still matters (timer tm, history h): the engine
 * leaves a timer that stopped mattering in place until it fires and is
 * dropped (engine/README.md), so the detail shows only live ones: a sleep
 * or wait timeout whose step has not moved on since it was started
 * ("<run_id>:<seq>"), a task timeout or retry whose task still waits in
 * the state it guards (ops.c's timer_due). */
#define LIVE_TIMER                                                                                 \
    "(CASE WHEN tm.kind IN ('sleep', 'wait_timeout') THEN NOT EXISTS (SELECT 1 FROM h c WHERE"     \
    " c.seq > split_part(tm.timer_id, ':', 2)::int AND c.data->>'step' = tm.data->>'step' AND"     \
    " c.type IN ('signal.consumed', 'timer.fired')) ELSE EXISTS (SELECT 1 FROM tasks t WHERE"      \
    " t.task_id = tm.data->>'task_id' AND CASE tm.kind WHEN 'schedule_to_close' THEN"              \
    " t.status IN ('scheduled', 'started', 'backoff') WHEN 'deadline' THEN t.status IN"            \
    " ('scheduled', 'started', 'backoff') WHEN 'schedule_to_start' THEN t.status = 'scheduled' "   \
    "AND"                                                                                          \
    " t.attempt = (tm.data->>'attempt')::int WHEN 'retry' THEN t.status = 'backoff' AND t.attempt" \
    " = (tm.data->>'attempt')::int ELSE t.status = 'started' AND t.attempt ="                      \
    " (tm.data->>'attempt')::int END) END)"

sy_status engine_workflow_detail(engine_session *s, const char *workflow_id, const char *run_id,
                                 cJSON **out, sy_error *err)
{
    sy_buf q = SY_BUF_INIT;
    /* every part is read by key: the run's tasks are a range of the tasks
     * key, its timers' ids begin with its run id, its history is a range
     * of the history key */
    sy_buf_printf(
        &q,
        "WITH run AS (%s), h AS (SELECT e.* FROM run, history_events e WHERE e.run_id = run.run_id)"
        " SELECT json_build_object(" RUN_FIELDS ", 'tasks', (SELECT coalesce(json_agg("
        "json_build_object('task_id', t.task_id, 'name', t.name, 'step', t.step, 'queue', t.queue,"
        " 'human', t.human, 'attempt', t.attempt, 'status', t.status, 'input', t.input, 'result',"
        " t.result, 'error', t.error, 'scheduled_at', t.scheduled_at, 'started_at', t.started_at,"
        " 'heartbeat_at', t.heartbeat_at, 'updated_at', t.updated_at) ORDER BY t.scheduled_at),"
        " '[]') FROM tasks t WHERE " TASKS_OF(
            "t",
            "run") "), 'timers', (SELECT coalesce(json_agg("
                   "json_build_object('timer_id', tm.timer_id, 'kind', tm.kind, 'fire_at', "
                   "tm.fire_at, 'data',"
                   " tm.data) ORDER BY tm.fire_at), '[]') FROM timers tm WHERE run.status = "
                   "'running' AND"
                   " tm.timer_id LIKE (run.run_id::text || ':%%') AND tm.run_id = run.run_id "
                   "AND " LIVE_TIMER "), 'buffered_signals', (SELECT"
                   " coalesce(json_agg(json_build_object('seq', g.seq, 'signal', g.data->>'signal',"
                   " 'payload', g.data->'payload', 'created_at', g.created_at) ORDER BY g.seq), "
                   "'[]') FROM h g"
                   " WHERE g.type = 'workflow.signaled' AND NOT EXISTS (SELECT 1 FROM h c WHERE "
                   "c.type ="
                   " 'signal.consumed' AND (c.data->>'signal_seq')::int = g.seq)), 'current_step', "
                   "CASE WHEN"
                   " status = 'running' THEN (SELECT json_build_object('step', c.data->>'step', "
                   "'event',"
                   " c.type, 'seq', c.seq) FROM h c WHERE c.data->>'step' IS NOT NULL ORDER BY "
                   "c.seq DESC"
                   " LIMIT 1) END) FROM run",
        RUN_SEL);
    const char *p[] = {s->eng->ns, workflow_id, run_id};
    sy_status st = engine__json_query(s, q.data, 3, p, out, err);
    sy_buf_cleanup(&q);
    if (st == SY_OK)
        add_spans(*out);
    return st;
}

/* The filters of engine_list and engine_workflow_counts ($1 namespace, $2
 * type, $3 status, $4 ID prefix, $5/$6 started after/before in ms, $7 task
 * queue): every one a parameter, NULL or 0 for "any". A time bound is also
 * a run_id bound (uuid_at) the primary key scan starts from. */
#define LIST_WHERE                                                                                 \
    " namespace = $1 AND ($2::text IS NULL OR workflow_type = $2) AND ($3::text IS NULL OR"        \
    " status = $3) AND ($4::text IS NULL OR left(workflow_id, length($4)) = $4)"                   \
    " AND ($5::bigint = 0 OR (run_id >= " ENGINE__UUID_AT(                                         \
        "$5::bigint") " AND started_at >= to_timestamp($5::float8 / 1000.0)))"                     \
                      " AND ($6::bigint = 0 OR (run_id < " ENGINE__UUID_AT(                        \
                          "$6::bigint") " AND started_at < to_timestamp($6::float8 / 1000.0)))"    \
                                        " AND ($7::text IS NULL OR task_queue = $7)"

sy_status engine_list(engine_session *s, const engine_list_filter *f, cJSON **out, sy_error *err)
{
    engine_list_filter z = {0};
    if (!f)
        f = &z;
    size_t limit = f->limit ? (f->limit > 1000 ? 1000 : f->limit) : 100;
    char lim[24], after[24], before[24];
    snprintf(lim, sizeof lim, "%zu", limit);
    snprintf(after, sizeof after, "%lld", (long long)f->started_after_ms);
    snprintf(before, sizeof before, "%lld", (long long)f->started_before_ms);
    /* page token: "<started_at ms>/<run_id>" of the last row (keyset pagination).
     * Runs are walked newest first down the primary key: run ids are UUIDv7
     * of the start time, so run_id order is start order. */
    char tok_ms[24] = "", tok_run[40] = "";
    if (f->page_token && sscanf(f->page_token, "%23[0-9]/%39[0-9a-f-]", tok_ms, tok_run) != 2)
        return sy_error_set(err, SY_INVALID, "bad_page_token", "page_token", "bad page token");
    const char *p[] = {s->eng->ns,
                       f->workflow_type,
                       f->status,
                       f->id_prefix,
                       after,
                       before,
                       f->task_queue,
                       lim,
                       *tok_ms ? tok_ms : NULL,
                       *tok_run ? tok_run : NULL};
    const char *sql =
        "WITH page AS (SELECT workflow_id, run_id, workflow_type, status, task_queue, started_at,"
        " closed_at, (extract(epoch FROM started_at) * 1000)::bigint AS ms FROM runs "
        "WHERE" LIST_WHERE " AND ($9::text IS NULL OR run_id < $10::uuid) ORDER BY run_id DESC"
        " LIMIT $8::int + 1)"
        " SELECT json_build_object('workflows', coalesce((SELECT json_agg(json_build_object("
        "'workflow_id', workflow_id, 'run_id', run_id, 'workflow_type', workflow_type, 'status',"
        " status, 'task_queue', task_queue, 'started_at', started_at, 'closed_at', closed_at)"
        " ORDER BY run_id DESC) FROM (SELECT * FROM page ORDER BY run_id DESC LIMIT $8::int) x),"
        " '[]'), 'next_page_token', (SELECT CASE WHEN count(*) > $8::int THEN (SELECT ms || '/' ||"
        " run_id FROM (SELECT * FROM page ORDER BY run_id DESC LIMIT $8::int) y ORDER BY run_id"
        " LIMIT 1) END FROM page))";
    return engine__json_query(s, sql, 10, p, out, err);
}

sy_status engine_workflow_counts(engine_session *s, const engine_list_filter *f, size_t bound,
                                 cJSON **out, sy_error *err)
{
    engine_list_filter z = {0};
    if (!f)
        f = &z;
    char lim[24], after[24], before[24];
    snprintf(lim, sizeof lim, "%zu", bound ? bound : 100000);
    snprintf(after, sizeof after, "%lld", (long long)f->started_after_ms);
    snprintf(before, sizeof before, "%lld", (long long)f->started_before_ms);
    /* the status filter is not applied: the counts are what it chooses from */
    const char *p[] = {s->eng->ns, f->workflow_type, NULL,          f->id_prefix,
                       after,      before,           f->task_queue, lim};
    const char *sql =
        "WITH x AS (SELECT status FROM runs WHERE" LIST_WHERE
        " ORDER BY run_id DESC LIMIT $8::int), c AS (SELECT status, count(*) AS n FROM x GROUP BY"
        " status) SELECT json_build_object('counts', coalesce((SELECT json_object_agg(status, n)"
        " FROM c), '{}'), 'total', (SELECT coalesce(sum(n), 0) FROM c), 'bounded', (SELECT"
        " coalesce(sum(n), 0) FROM c) >= $8::int, 'bound', $8::int)";
    return engine__json_query(s, sql, 8, p, out, err);
}

sy_status engine_history(engine_session *s, const char *workflow_id, const char *run_id,
                         int64_t after_seq, size_t limit, cJSON **out, sy_error *err)
{
    char aft[24], lim[24];
    snprintf(aft, sizeof aft, "%lld", (long long)after_seq);
    snprintf(lim, sizeof lim, "%zu", limit ? limit : 1000);
    sy_buf q = SY_BUF_INIT;
    sy_buf_printf(
        &q,
        "WITH run AS (%s) SELECT (SELECT coalesce(json_agg(json_build_object('seq', seq,"
        " 'type', type, 'data', data, 'created_at', created_at) ORDER BY seq), '[]') FROM"
        " (SELECT * FROM history_events h WHERE h.run_id = run.run_id AND h.seq > $4::int ORDER"
        " BY seq LIMIT $5::int) x) FROM run",
        RUN_SEL);
    const char *p[] = {s->eng->ns, workflow_id, run_id, aft, lim};
    sy_status st = engine__json_query(s, q.data, 5, p, out, err);
    sy_buf_cleanup(&q);
    return st;
}

/* ---- dead letters ---------------------------------------------------------------------- */

static const char DL_COLS[] =
    "id, event_id, code, message, subject, body, headers::text, coalesce(stream_seq, 0),"
    " (extract(epoch FROM created_at) * 1000)::bigint,"
    " coalesce((extract(epoch FROM replayed_at) * 1000)::bigint, 0), route, failures,"
    " (extract(epoch FROM coalesce(updated_at, created_at)) * 1000)::bigint, trace_id, type,"
    " source";

static char *opt(PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? NULL : strdup(PQgetvalue(r, i, c));
}

static void dl_row(PGresult *r, int i, engine_dead_letter_row *o)
{
    memset(o, 0, sizeof *o);
    o->id = atoll(PQgetvalue(r, i, 0));
    o->event_id = opt(r, i, 1);
    o->code = opt(r, i, 2);
    o->message = opt(r, i, 3);
    o->subject = opt(r, i, 4);
    size_t n = 0;
    unsigned char *raw = PQgetisnull(r, i, 5)
                             ? NULL
                             : PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 5), &n);
    o->body = malloc(n + 1);
    if (raw)
        memcpy(o->body, raw, n);
    o->body[n] = 0;
    o->body_len = n;
    PQfreemem(raw);
    o->headers = PQgetisnull(r, i, 6) ? NULL : cJSON_Parse(PQgetvalue(r, i, 6));
    o->stream_seq = strtoull(PQgetvalue(r, i, 7), NULL, 10);
    o->created_at_ms = atoll(PQgetvalue(r, i, 8));
    o->replayed_at_ms = atoll(PQgetvalue(r, i, 9));
    o->route = opt(r, i, 10);
    o->failures = atoll(PQgetvalue(r, i, 11));
    o->updated_at_ms = atoll(PQgetvalue(r, i, 12));
    o->trace_id = opt(r, i, 13);
    o->type = opt(r, i, 14);
    o->source = opt(r, i, 15);
}

void engine_dead_letter_row_cleanup(engine_dead_letter_row *row)
{
    if (!row)
        return;
    free(row->event_id);
    free(row->code);
    free(row->message);
    free(row->subject);
    free(row->body);
    free(row->route);
    free(row->trace_id);
    free(row->type);
    free(row->source);
    cJSON_Delete(row->headers);
    memset(row, 0, sizeof *row);
}

void engine_dead_letter_list_cleanup(engine_dead_letter_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->len; i++)
        engine_dead_letter_row_cleanup(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

sy_status engine_dead_letters_list(engine_session *s, const engine_dlq_filter *f,
                                   engine_dead_letter_list *out, sy_error *err)
{
    engine_dlq_filter z = {0};
    if (!f)
        f = &z;
    memset(out, 0, sizeof *out);
    char after[24], lim[24], before[24], since[24], until[24];
    snprintf(after, sizeof after, "%lld", (long long)f->after_id);
    snprintf(before, sizeof before, "%lld", (long long)f->before_id);
    snprintf(since, sizeof since, "%lld", (long long)f->since_ms);
    snprintf(until, sizeof until, "%lld", (long long)f->until_ms);
    snprintf(lim, sizeof lim, "%zu", f->limit ? f->limit : 100);
    const char *p[] = {f->code,   after,   lim,   f->include_replayed ? "true" : "false",
                       f->source, f->type, since, until,
                       before};
    sy_buf q = SY_BUF_INIT;
    /* source and type: the columns (011), else read from the body only when
     * asked for (dl_member, 008_ui.sql): dead letters are few, and their
     * bodies may be anything */
    sy_buf_printf(&q,
                  "SELECT %s FROM dead_letters WHERE ($1::text IS NULL OR code = $1) AND id > $2"
                  " AND ($4::bool OR replayed_at IS NULL)"
                  " AND ($5::text IS NULL OR coalesce(source, dl_member(body, 'source')) = $5)"
                  " AND ($6::text IS NULL OR coalesce(type, dl_member(body, 'type')) = $6)"
                  " AND ($7::bigint = 0 OR created_at >= to_timestamp($7::float8 / 1000.0))"
                  " AND ($8::bigint = 0 OR created_at < to_timestamp($8::float8 / 1000.0))"
                  " AND ($9::bigint = 0 OR id < $9) ORDER BY id %s LIMIT $3",
                  DL_COLS, f->newest_first ? "DESC" : "");
    PGresult *r = NULL;
    sy_status st = engine__exec(s, q.data, 9, p, &r, err);
    sy_buf_cleanup(&q);
    if (st != SY_OK)
        return st;
    out->len = (size_t)PQntuples(r);
    out->items = calloc(out->len ? out->len : 1, sizeof *out->items);
    for (size_t i = 0; i < out->len; i++)
        dl_row(r, (int)i, &out->items[i]);
    PQclear(r);
    return SY_OK;
}

sy_status engine_dead_letter_get(engine_session *s, int64_t id, engine_dead_letter_row *out,
                                 sy_error *err)
{
    memset(out, 0, sizeof *out);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    sy_buf q = SY_BUF_INIT;
    sy_buf_printf(&q, "SELECT %s FROM dead_letters WHERE id = $1", DL_COLS);
    PGresult *r = NULL;
    sy_status st = engine__exec(s, q.data, 1, p, &r, err);
    sy_buf_cleanup(&q);
    if (st == SY_OK && PQntuples(r) != 1)
        st = sy_error_set(err, SY_NOT_FOUND, "not_found", NULL, "no dead letter %lld",
                          (long long)id);
    if (st == SY_OK)
        dl_row(r, 0, out);
    PQclear(r);
    return st;
}

sy_status engine_dead_letter_replayed(engine_session *s, int64_t id, sy_error *err)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGresult *r = NULL;
    sy_status st =
        engine__exec(s, "UPDATE dead_letters SET replayed_at = now() WHERE id = $1", 1, p, &r, err);
    if (st == SY_OK && atoi(PQcmdTuples(r)) != 1)
        st = sy_error_set(err, SY_NOT_FOUND, "not_found", NULL, "no dead letter %lld",
                          (long long)id);
    PQclear(r);
    return st;
}

sy_status engine_dead_letter_names(engine_session *s, int64_t id, const char *event_id,
                                   const char *route, bool *out, sy_error *err)
{
    *out = false;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, event_id, route};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT 1 FROM dead_letters WHERE id = $1::bigint AND "
                                "(event_id = $2 OR ($3::text IS NULL AND event_id IS NULL)) AND "
                                "route IS NOT DISTINCT FROM $3::text",
                                3, p, &r, err);
    if (st == SY_OK)
        *out = PQntuples(r) == 1;
    PQclear(r);
    return st;
}

/* The count of messages is exact (a scan of the page counts of the small
 * table the relay keeps emptying; the arrays are not read); the oldest page
 * is the lowest id, found through the primary key. */
sy_status engine_outbox_backlog(engine_session *s, int64_t now_ms, uint64_t *rows,
                                int64_t *oldest_age_ms, sy_error *err)
{
    *rows = 0;
    *oldest_age_ms = 0;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *p[] = {now};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "SELECT (SELECT coalesce(sum(n), 0) FROM outbox), COALESCE((SELECT GREATEST(0, $1::bigint -"
        " (extract(epoch FROM created_at) * 1000)::bigint) FROM outbox ORDER BY id LIMIT 1), 0)",
        1, p, &r, err);
    if (st == SY_OK && PQntuples(r) == 1) {
        *rows = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *oldest_age_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    return st;
}

sy_status engine_wal_stats(engine_session *s, uint64_t *bytes, uint64_t *fpi, sy_error *err)
{
    *bytes = *fpi = 0;
    PGresult *r = NULL;
    /* bytes: the insert position, exact at once; pg_stat_wal's wal_bytes
     * lags by up to a second (backends flush their counters at most once
     * a second), a third of a short run */
    sy_status st = engine__exec(s,
                                "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn, wal_fpi"
                                " FROM pg_stat_wal",
                                0, NULL, &r, err);
    if (st == SY_OK && PQntuples(r) == 1) {
        *bytes = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *fpi = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    return st;
}

/* Open tasks only (no index on status: it would make every task update
 * non-HOT, engine/README.md), and the small workers table for the queues
 * that are idle now. */
sy_status engine_task_queue_backlog(engine_session *s, int64_t now_ms, engine_queue_backlog *out,
                                    size_t max, size_t *n, sy_error *err)
{
    *n = 0;
    char now[24], lim[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {now, s->eng->ns, lim};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "SELECT queue, count(*) FILTER (WHERE pending), coalesce(greatest(0, $1::bigint -"
        " (extract(epoch FROM min(scheduled_at) FILTER (WHERE pending)) * 1000)::bigint), 0),"
        " count(*) FILTER (WHERE held)"
        " FROM (SELECT queue COLLATE \"C\" AS queue, status = 'scheduled' AND NOT human AS pending,"
        " scheduled_at, false AS held FROM tasks WHERE namespace = $2 AND status IN ('scheduled',"
        " 'started', 'backoff') UNION ALL SELECT queue, false, NULL, false FROM workers"
        " UNION ALL SELECT queue, false, NULL, true FROM dispatch_pending WHERE namespace = $2) q"
        " GROUP BY queue ORDER BY queue LIMIT $3::bigint",
        3, p, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r) && (size_t)i < max; i++) {
        engine_queue_backlog *q = &out[(*n)++];
        sy_strlcpy(q->queue, sizeof q->queue, PQgetvalue(r, i, 0));
        q->tasks = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        q->oldest_age_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        q->held = strtoull(PQgetvalue(r, i, 3), NULL, 10);
    }
    PQclear(r);
    return st;
}
