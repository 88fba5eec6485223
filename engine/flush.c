/* flush.c: writes a batch's write set (ws.h) with ONE statement. The bulk
 * tables (workflow_ids, runs, history, tasks) travel as binary
 * Postgres arrays, one per column, expanded by unnest(): nothing is quoted
 * on our side or parsed on the server's. The rare ones (definitions,
 * timers, dead letters) travel as JSON arrays (json_to_recordset). Rows are
 * unique per key within the statement (a statement may not touch a row
 * twice): runs and tasks are kept in their latest version by the write set.
 * The batch's outcome events are ONE outbox page (002_outbox_pages.sql):
 * its three arrays are the parameters themselves, nothing to unnest. */
#include "engine_int.h"
#include "json.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

enum { OID_TEXT = 25, OID_INT4 = 23, OID_BOOL = 16, OID_UUID = 2950, OID_TSTZ = 1184 };

/* Binary array parameters, in statement order from $8. Times travel as
 * binary timestamptz (no per-row to_timestamp(numeric) on the server). */
enum {
    I_W,
    I_R,
    I_ST,
    I_CL,
    I_EX, /* workflow_ids */
    R_R,
    R_W,
    R_T,
    R_H,
    R_ST,
    R_Q,
    R_I,
    R_RES,
    R_ERR,
    R_TR,
    R_CA,
    R_CR,
    R_NS,
    R_SA,
    R_CL, /* runs */
    R_NEW,
    T_ID,
    T_R,
    T_W,
    T_STEP,
    T_NAME,
    T_Q,
    T_HUMAN,
    T_ATT,
    T_ST,
    T_IN,
    T_RES,
    T_ERR,
    T_STA,
    T_HB,
    T_NEW,
    NCOLS,
    /* runs again: a new run's first history page (014), after the rest
     * ($58, $59) so that the numbers above stay as they were */
    R_HT = NCOLS,
    R_HD,
    NALLCOLS
};

static const int COL_OID[NCOLS] = {
    OID_TEXT, OID_UUID, OID_TEXT, OID_TSTZ, OID_BOOL, OID_UUID, OID_TEXT, OID_TEXT, OID_TEXT,
    OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_BOOL, OID_INT4,
    OID_TSTZ, OID_TSTZ, OID_BOOL, OID_TEXT, OID_UUID, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT,
    OID_BOOL, OID_INT4, OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_TSTZ, OID_TSTZ, OID_BOOL,
};

#define WIDS_FROM                                                                                  \
    " FROM unnest($8::text[], $9::uuid[], $10::text[], $11::timestamptz[], $12::bool[])"           \
    " AS x(w, r, st, cl, ex)"
#define RUNS_FROM                                                                                  \
    " FROM unnest($13::uuid[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],"   \
    " $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::bool[], $25::int4[],"  \
    " $26::timestamptz[], $27::timestamptz[], $28::bool[], $58::text[], $59::text[])"              \
    " AS x(r, w, t, h, st, q, i, res, err, tr, ca, cr, ns, sa, cl, nw, ht, hd)"
#define RUNS_INSERT                                                                                \
    " INSERT INTO runs (run_id, namespace, workflow_id, workflow_type, def_hash, status,"          \
    " task_queue, input, result, error, trace_id, causation_id, cancel_requested, next_seq,"       \
    " started_at, closed_at, updated_at, h_types, h_data)"                                         \
    " SELECT r, $7, w, t, h, st, q, i::json, res::json, err::json, tr, ca, cr, ns, sa, cl,"        \
    " $6::timestamptz, ht::text[], hd::text[]" RUNS_FROM
#define TASKS_FROM                                                                                 \
    " FROM unnest($29::text[], $30::uuid[], $31::text[], $32::text[], $33::text[], $34::text[],"   \
    " $35::bool[], $36::int4[], $37::text[], $38::text[], $39::text[], $40::text[],"               \
    " $41::timestamptz[], $42::timestamptz[], $43::bool[])"                                        \
    " AS x(id, r, w, step, name, q, human, att, st, i, res, err, sta, hb, nw)"
#define TASKS_INSERT                                                                               \
    " INSERT INTO tasks (task_id, run_id, namespace, workflow_id, step, name, queue, human,"       \
    " attempt, status, input, result, error, scheduled_at, started_at, heartbeat_at, updated_at)"  \
    " SELECT id, r, $7, w, step, name, q, human, att, st, i::json, res::json, err::json,"          \
    " $6::timestamptz, sta, hb, $6::timestamptz" TASKS_FROM

/* $1 defs, $2 timers, $3 dead letters (json); $4, $5 notify flags; $6 now
 * (binary timestamptz); $7 namespace; $8.. the columns above ($43 last);
 * then the history pages $44-$47 (run, first seq, and array literals of
 * their types and data, 003_history_pages.sql; a new run's first page is
 * in its runs row instead, $58-$59, 014) and the outbox page $48-$50; $51-$56 whether there are
 * rows for each of the six CTEs below that split new rows from existing
 * ones (a constant false skips the scan of its arrays altogether).
 *
 * Rows that cannot exist yet (a new ID, a run or task started by this
 * batch) are plain INSERTs: no speculative insertion, and a concurrent
 * first start of the same ID fails on the primary key (SY_BUSY, retried)
 * instead of overwriting the other run. Rows that exist (their IDs were
 * locked by load_ids) are UPDATE .. FROM unnest, one primary-key probe
 * each: an upsert cost three times as much per row (a speculative insert
 * that conflicts, then the update, building the whole new row first).
 * Tasks of a run that existed may be new (the next step's task): those the
 * UPDATE did not find are inserted. */
/* The statement, in parts (C limits one string literal): joined once,
 * when the session prepares it. */
static const char *const FLUSH_SQL[] = {
    "WITH d AS (INSERT INTO definitions (hash, workflow_type, body)"
    " SELECT hash, type, body FROM json_to_recordset($1::json) AS x(hash text, type text, body "
    "jsonb)"
    " ON CONFLICT DO NOTHING),",
    "w AS (INSERT INTO workflow_ids (namespace, workflow_id, run_id, status, closed_at)"
    " SELECT $7, w, r, st, cl" WIDS_FROM " WHERE $51::bool AND NOT ex),",
    "wu AS (UPDATE workflow_ids u SET run_id = x.r, status = x.st, closed_at = x.cl" WIDS_FROM
    " WHERE $52::bool AND x.ex AND u.namespace = $7 AND u.workflow_id = x.w),",
    "r AS (" RUNS_INSERT " WHERE $53::bool AND nw),",
    "ru AS (UPDATE runs u SET status = x.st, result = x.res::json, error = x.err::json,"
    " cancel_requested = x.cr, next_seq = x.ns, closed_at = x.cl, updated_at = "
    "$6::timestamptz" RUNS_FROM " WHERE $54::bool AND NOT x.nw AND u.run_id = x.r),",
    "t AS (" TASKS_INSERT " WHERE $55::bool AND nw),",
    "tu AS (UPDATE tasks u SET attempt = x.att, status = x.st, result = x.res::json,"
    " error = x.err::json,"
    " scheduled_at = CASE WHEN x.att <> u.attempt THEN $6::timestamptz ELSE u.scheduled_at END,"
    " started_at = coalesce(x.sta, CASE WHEN x.att = u.attempt THEN u.started_at END),"
    " heartbeat_at = coalesce(x.hb, CASE WHEN x.att = u.attempt THEN u.heartbeat_at END),"
    " updated_at = $6::timestamptz" TASKS_FROM
    " WHERE $56::bool AND NOT x.nw AND u.task_id = x.id RETURNING u.task_id),",
    "tn AS (" TASKS_INSERT " WHERE $56::bool AND NOT nw AND id NOT IN (SELECT task_id FROM tu)),",
    "h AS (INSERT INTO history (run_id, seq, types, data, created_at)"
    " SELECT r, s, t::text[], d::text[], $6::timestamptz FROM unnest($44::uuid[], $45::int4[],"
    " $46::text[], $47::text[]) AS x(r, s, t, d)),",
    "o AS (INSERT INTO outbox (event_ids, subjects, bodies, n)"
    " SELECT $48::text[], $49::text[], $50::text[], cardinality($48::text[]) WHERE $5::bool),",
    "tm AS (INSERT INTO timers (timer_id, run_id, fire_at, kind, data)"
    " SELECT id, r, to_timestamp(f / 1000.0), k, d FROM json_to_recordset($2::json)"
    " AS x(id text, r uuid, f float8, k text, d json)"
    " ON CONFLICT (timer_id) DO UPDATE SET fire_at = EXCLUDED.fire_at, kind = EXCLUDED.kind,"
    " data = EXCLUDED.data),",
    /* a replay that failed again updates the dead letter it replays (rp);
     * one that is gone meanwhile (retention) is written anew */
    "dlu AS (UPDATE dead_letters u SET code = x.c, message = x.m, route = x.r,"
    " failures = u.failures + 1, replayed_at = NULL, updated_at = $6::timestamptz"
    " FROM json_to_recordset($3::json) AS x(c text, m text, r text, rp bigint)"
    " WHERE x.rp > 0 AND u.id = x.rp RETURNING u.id),",
    "dl AS (INSERT INTO dead_letters (event_id, code, message, subject, body, headers, stream_seq,"
    " route, trace_id, type, source) SELECT e, c, m, s, decode(b, 'hex'), h, nullif(q, 0), r,"
    " t, y, o FROM json_to_recordset($3::json)"
    " AS x(e text, c text, m text, s text, b text, h jsonb, q bigint, r text, rp bigint,"
    " t text, y text, o text)"
    " WHERE rp = 0 OR rp NOT IN (SELECT id FROM dlu))",
    "SELECT CASE WHEN $4::bool THEN pg_notify('switchyard_timers', '') END,"
    " CASE WHEN $5::bool THEN pg_notify('switchyard_outbox', '') END,"
    " CASE WHEN $57::text IS NOT NULL THEN pg_notify('" ENGINE_NOTIFY_CHANGES_CHANNEL "', $57) END",
    NULL,
};

#define NPARAMS (7 + NCOLS + 7 + 6 + 1 + 2)
#define P_CHANGES (7 + NCOLS + 7 + 6) /* $57 */
#define P_FIRST_PAGE (P_CHANGES + 1)  /* $58, $59 */

/* The payload of the changes notification (engine.h, ENGINE_NOTIFY_CHANGES):
 * the runs this batch changed, as many as fit in a NOTIFY (Postgres allows
 * 8000 bytes), and how many did not fit; NULL when no run changed and no
 * dead letter was written. Owned. */
static char *changes_payload(const engine__ws *ws)
{
    size_t more = 0;
    bool any = false;
    sy_buf b = SY_BUF_INIT;
    sy_buf_puts(&b, "{\"s\":");
    sy_json_append_string(&b, ws->eng->schema);
    sy_buf_puts(&b, ",\"n\":");
    sy_json_append_string(&b, ws->eng->ns);
    sy_buf_puts(&b, ",\"r\":[");
    size_t mark = b.len;
    for (size_t i = 0; i < ws->nruns; i++) {
        const engine__run *r = ws->runs[i];
        if (!r->dirty)
            continue;
        any = true;
        if (b.len > 7000) { /* the rest is counted: listeners re-read what they show */
            more++;
            continue;
        }
        sy_buf_puts(&b, b.len > mark ? ",[" : "[");
        sy_json_append_string(&b, r->workflow_id);
        sy_buf_printf(&b, ",\"%s\",", r->run_id);
        sy_json_append_string(&b, cJSON_GetStringValue(JGET(r->state, "status")));
        sy_buf_putc(&b, ',');
        sy_json_append_string(&b, r->type);
        sy_buf_printf(&b, ",%lld]", (long long)r->next_seq);
    }
    sy_buf_printf(&b, "],\"m\":%zu,\"d\":%zu}", more, ws->ndls);
    if (!any && !ws->ndls) {
        sy_buf_cleanup(&b);
        return NULL;
    }
    return sy_buf_take(&b);
}

static void run_columns(engine__ws *ws, engine__barr *c, bool *any)
{
    for (size_t i = 0; i < ws->nruns; i++) {
        engine__run *r = ws->runs[i];
        if (!r->dirty)
            continue;
        const char *status = cJSON_GetStringValue(JGET(r->state, "status"));
        bool closed = status && strcmp(status, "running") != 0;
        if (closed && !r->closed_at)
            r->closed_at = ws->now;
        /* the ID's row changes when a run starts or closes; a signal or a
         * report to a running run leaves it as it is */
        if (r->current && (r->new_run || !r->exists_id || closed)) {
            engine__barr_text(&c[I_W], r->workflow_id);
            engine__barr_uuid(&c[I_R], r->run_id);
            engine__barr_text(&c[I_ST], status);
            engine__barr_ts(&c[I_CL], closed ? r->closed_at : 0);
            engine__barr_bool(&c[I_EX], r->exists_id);
            any[r->exists_id ? 1 : 0] = true;
        }
        engine__barr_uuid(&c[R_R], r->run_id);
        engine__barr_text(&c[R_W], r->workflow_id);
        engine__barr_text(&c[R_T], r->type);
        engine__barr_text(&c[R_H], r->def_hash);
        engine__barr_text(&c[R_ST], status);
        engine__barr_text(&c[R_Q], r->task_queue);
        engine__barr_json(&c[R_I], r->new_run ? r->input : NULL);
        engine__barr_json(&c[R_RES], JGET(r->state, "result"));
        engine__barr_json(&c[R_ERR], JGET(r->state, "error"));
        engine__barr_text(&c[R_TR], r->trace_id);
        engine__barr_text(&c[R_CA], r->causation_id);
        engine__barr_bool(&c[R_CR], cJSON_IsTrue(JGET(r->state, "cancel_requested")));
        engine__barr_int4(&c[R_NS], r->next_seq);
        engine__barr_ts(&c[R_SA], r->started_at);
        engine__barr_ts(&c[R_CL], closed ? r->closed_at : 0);
        engine__barr_bool(&c[R_NEW], r->new_run);
        bool page = r->new_run && r->first_types.len;
        engine__barr_text(&c[R_HT], page ? r->first_types.data : NULL);
        engine__barr_text(&c[R_HD], page ? r->first_data.data : NULL);
        any[r->new_run ? 2 : 3] = true;
    }
}

static void task_columns(engine__ws *ws, engine__barr *c, bool *any)
{
    for (size_t i = 0; i < ws->tasks.len; i++) {
        const engine__task_row *t = ws->tasks.items[i].row;
        engine__barr_text(&c[T_ID], t->id);
        engine__barr_uuid(&c[T_R], t->run);
        engine__barr_text(&c[T_W], t->wid);
        engine__barr_text(&c[T_STEP], t->step);
        engine__barr_text(&c[T_NAME], t->name);
        engine__barr_text(&c[T_Q], t->queue);
        engine__barr_bool(&c[T_HUMAN], t->human);
        engine__barr_int4(&c[T_ATT], t->attempt);
        engine__barr_text(&c[T_ST], t->status);
        engine__barr_text(&c[T_IN], t->input);
        engine__barr_text(&c[T_RES], t->result);
        engine__barr_text(&c[T_ERR], t->error);
        engine__barr_ts(&c[T_STA], t->started);
        engine__barr_ts(&c[T_HB], t->hb);
        engine__barr_bool(&c[T_NEW], t->fresh);
        any[t->fresh ? 4 : 5] = true;
    }
}

static char *json_array(const sy_buf *members)
{
    sy_buf o = SY_BUF_INIT;
    sy_buf_putc(&o, '[');
    sy_buf_append(&o, members->data ? members->data : "", members->len);
    sy_buf_putc(&o, ']');
    return sy_buf_take(&o);
}

static char *timers_json(const engine__keyed *k)
{
    sy_buf out = SY_BUF_INIT;
    sy_buf_putc(&out, '[');
    for (size_t i = 0; i < k->len; i++) {
        sy_buf_puts(&out, i ? ",{" : "{");
        sy_buf_puts(&out, k->items[i].row);
        sy_buf_putc(&out, '}');
    }
    sy_buf_putc(&out, ']');
    return sy_buf_take(&out);
}

static sy_status exec_flush(engine__ws *ws, char **p, const int *len, const int *fmt, sy_error *err)
{
    sy_status st = SY_OK;
    if (!ws->s->prepared) {
        sy_buf sql = SY_BUF_INIT;
        for (const char *const *part = FLUSH_SQL; *part; part++)
            sy_buf_puts(&sql, *part);
        PGresult *r = PQprepare(ws->s->conn, "sy_flush", sql.data, 0, NULL);
        sy_buf_cleanup(&sql);
        st = engine__result_status(ws->s->conn, r, "prepare flush", err);
        PQclear(r);
        ws->s->prepared = st == SY_OK;
    }
    if (st == SY_OK) {
        size_t bytes = 0;
        for (int i = 0; i < NPARAMS; i++)
            bytes += fmt[i] ? (size_t)len[i] : p[i] ? strlen(p[i]) : 0; /* NULL: SQL null */
        engine__note_statement(ws->s, bytes);
        PGresult *r =
            PQexecPrepared(ws->s->conn, "sy_flush", NPARAMS, (const char *const *)p, len, fmt, 0);
        st = engine__result_status(ws->s->conn, r, "write batch", err);
        PQclear(r);
    }
    return st;
}

_Static_assert(NALLCOLS <= ENGINE__WS_COLS && NCOLS + 7 + 2 < ENGINE__WS_PARAMS,
               "the write set has room for every column (and batch.c's keys parameter, the last)");

sy_status engine__ws_flush(engine__ws *ws, sy_error *err)
{
    engine__ws_close_page(ws);
    engine__barr *c = ws->cols; /* emptied by engine__ws_free, buffers reused */
    for (int i = 0; i < NCOLS; i++)
        c[i].oid = (uint32_t)COL_OID[i];
    c[R_HT].oid = c[R_HD].oid = OID_TEXT;
    bool any[6] = {false}; /* new IDs, old IDs, new runs, old runs, new tasks, old tasks */
    run_columns(ws, c, any);
    task_columns(ws, c, any);
    if (!ws->nhist && !ws->ndefs && !ws->ndls && !ws->nout && !c[R_R].n && !c[T_ID].n &&
        !ws->timers.len)
        return SY_OK;
    char now[8];
    engine__ts_bin(ws->now, now);
    char *p[NPARAMS] = {json_array(&ws->defs),       timers_json(&ws->timers),
                        json_array(&ws->dls),        ws->notify_timers ? "true" : "false",
                        ws->nout ? "true" : "false", now,
                        (char *)ws->eng->ns};
    int len[NPARAMS] = {0}, fmt[NPARAMS] = {0};
    len[5] = 8;
    fmt[5] = 1;
    const engine__barr *tail[] = {&ws->h_run,   &ws->h_seq,     &ws->h_type, &ws->h_data,
                                  &ws->o_event, &ws->o_subject, &ws->o_body};
    for (int i = 0; i < NCOLS + 7; i++) {
        const engine__barr *arr = i < NCOLS ? &c[i] : tail[i - NCOLS];
        p[7 + i] = engine__barr_finish_into(arr, &ws->params[i]);
        len[7 + i] = (int)ws->params[i].len;
        fmt[7 + i] = 1; /* binary */
    }
    for (int i = 0; i < 6; i++)
        p[7 + NCOLS + 7 + i] = any[i] ? "true" : "false";
    for (int i = 0; i < 2; i++) {
        sy_buf *out = &ws->params[NCOLS + 7 + i];
        p[P_FIRST_PAGE + i] = engine__barr_finish_into(&c[R_HT + i], out);
        len[P_FIRST_PAGE + i] = (int)out->len;
        fmt[P_FIRST_PAGE + i] = 1;
    }
    p[P_CHANGES] = changes_payload(ws);
    sy_status st = exec_flush(ws, p, len, fmt, err);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    free(p[P_CHANGES]);
    return st;
}
