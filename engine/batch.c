/* batch.c: the router's path. A batch collects events and their actions,
 * then engine_batch_apply runs them in the caller's transaction with a fixed
 * number of round trips however large the batch:
 *   1. inbox rows (one INSERT .. unnest .. ON CONFLICT DO NOTHING RETURNING):
 *      duplicates are skipped with all their effects;
 *   2. (reports only) task_id -> workflow_id;
 *   3. the workflow_ids rows of every touched ID, locked FOR UPDATE in ID
 *      order, joined with their latest run;
 *   4. the histories of the runs that must be interpreted (signals, reports,
 *      timers, cancels), replayed by the reducer;
 *   5. the operations in event order, in memory (ops.c, interp.c);
 *   6. one flush statement writing every row (ws.c). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

engine_batch *engine_batch_new(void)
{
    return calloc(1, sizeof(engine_batch));
}

static void start_cleanup(engine__start *s)
{
    free(s->type);
    free(s->wid);
    free(s->queue);
    free(s->event_id);
    free(s->trace_id);
    free(s->tracestate);
    cJSON_Delete(s->input);
}

void engine__op_cleanup(engine__op *o)
{
    start_cleanup(&o->start);
    engine__conc_op_cleanup(o);
    char *strs[] = {o->wid,        o->event_id,      o->trace_id,  o->signal,     o->code,
                    o->message,    o->subject,       o->body,      o->reason,     o->task_id,
                    o->error_type, o->error_message, o->timer_id,  o->timer_kind, o->run_id,
                    o->route,      o->ev_type,       o->ev_source, o->step,       o->tracestate};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(strs[i]);
    cJSON_Delete(o->payload);
    cJSON_Delete(o->headers);
    cJSON_Delete(o->result);
    cJSON_Delete(o->timer_data);
}

void engine_batch_reset(engine_batch *b)
{
    engine__flows_reset(b);
    for (size_t i = 0; i < b->nev; i++) {
        free(b->evs[i].event_id);
        cJSON_Delete(b->evs[i].corr);
        free(b->evs[i].routes);
    }
    for (size_t i = 0; i < b->nops; i++)
        engine__op_cleanup(&b->ops[i]);
    b->nev = b->nops = 0;
    b->corr_any = b->corr_based = false;
    b->corr_base = 0;
    b->conc_based = false;
}

void engine_batch_free(engine_batch *b)
{
    if (!b)
        return;
    engine_batch_reset(b);
    engine__flows_free(b);
    free(b->evs);
    free(b->ops);
    free(b);
}

size_t engine_batch_event(engine_batch *b, const char *event_id)
{
    if (b->nev == b->capev) {
        b->capev = b->capev ? 2 * b->capev : 64;
        b->evs = realloc(b->evs, b->capev * sizeof *b->evs);
    }
    engine__bevent *e = &b->evs[b->nev];
    memset(e, 0, sizeof *e);
    e->event_id = dup(event_id);
    e->res.outcome = ENGINE_APPLIED;
    return b->nev++;
}

static engine__op *add_op(engine_batch *b, size_t ev, op_kind kind)
{
    if (b->nops == b->capops) {
        b->capops = b->capops ? 2 * b->capops : 64;
        b->ops = realloc(b->ops, b->capops * sizeof *b->ops);
    }
    engine__op *o = &b->ops[b->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->ev = ev;
    if (ev < b->nev)
        o->event_id = dup(b->evs[ev].event_id);
    return o;
}

static void copy_start(engine__start *d, const engine_start_req *r)
{
    d->type = dup(r->workflow_type);
    d->wid = dup(r->workflow_id);
    d->queue = dup(r->task_queue);
    d->event_id = dup(r->event_id);
    d->trace_id = dup(r->trace_id);
    d->tracestate = r->trace_id ? dup(r->tracestate) : NULL;
    d->input = r->input ? cJSON_Duplicate(r->input, 1) : cJSON_CreateObject();
    d->if_running = r->if_running;
    d->if_closed = r->if_closed;
}

void engine_batch_start(engine_batch *b, size_t ev, const engine_start_req *req)
{
    engine__op *o = add_op(b, ev, OP_START);
    copy_start(&o->start, req);
    o->route = dup(req->route);
    o->wid = dup(req->workflow_id);
    o->trace_id = dup(req->trace_id);
    if (req->event_id) {
        free(o->event_id);
        o->event_id = dup(req->event_id);
    }
}

void engine_batch_signal(engine_batch *b, size_t ev, const engine_signal_req *req)
{
    engine__op *o = add_op(b, ev, OP_SIGNAL);
    o->route = dup(req->route);
    o->wid = dup(req->workflow_id);
    o->signal = dup(req->signal);
    o->payload = req->payload ? cJSON_Duplicate(req->payload, 1) : cJSON_CreateNull();
    if (req->event_id) {
        free(o->event_id);
        o->event_id = dup(req->event_id);
    }
    o->trace_id = dup(req->trace_id);
    o->tracestate = req->trace_id ? dup(req->tracestate) : NULL;
    o->if_missing = req->if_missing;
    o->has_start = req->if_missing == RULES_IF_MISSING_START && req->start;
    if (o->has_start)
        copy_start(&o->start, req->start);
}

void engine_batch_dead_letter(engine_batch *b, size_t ev, const engine_dead_letter *dl)
{
    engine__op *o = add_op(b, ev, OP_DEAD_LETTER);
    /* the event's own id, or NULL when none parsed: never the inbox key */
    free(o->event_id);
    o->event_id = dup(dl->event_id);
    o->trace_id = dup(dl->trace_id);
    o->ev_type = dup(dl->type);
    o->ev_source = dup(dl->source);
    o->code = dup(dl->code ? dl->code : "dead_letter");
    o->message = dup(dl->message ? dl->message : "");
    o->subject = dup(dl->subject);
    o->body = malloc(dl->body_len + 1);
    if (dl->body_len)
        memcpy(o->body, dl->body, dl->body_len);
    o->body[dl->body_len] = 0;
    o->body_len = dl->body_len;
    o->headers = dl->headers ? cJSON_Duplicate(dl->headers, 1) : NULL;
    o->stream_seq = dl->stream_seq;
    o->route = dup(dl->route);
}

void engine_batch_event_replay(engine_batch *b, size_t ev, int64_t dead_letter_id, bool per_route)
{
    if (ev >= b->nev)
        return;
    b->evs[ev].replay_of = dead_letter_id;
    b->evs[ev].replay_route = per_route;
}

void engine_batch_report(engine_batch *b, size_t ev, const engine_report *r)
{
    engine__op *o = add_op(b, ev, OP_REPORT);
    o->task_id = dup(r->task_id);
    o->attempt = r->attempt;
    o->report = r->kind;
    o->result = r->result ? cJSON_Duplicate(r->result, 1) : cJSON_CreateNull();
    o->error_type = dup(r->error_type ? r->error_type : "error");
    o->error_message = dup(r->error_message ? r->error_message : "");
    o->retryable = r->retryable;
    o->started = r->started;
    o->trace_id = dup(r->trace_id);
    if (r->event_id) {
        free(o->event_id);
        o->event_id = dup(r->event_id);
    }
}

engine__op *engine__batch_add_op(engine_batch *b, size_t ev, int kind)
{
    return add_op(b, ev, (op_kind)kind);
}

void engine__batch_truncate(engine_batch *b, size_t n)
{
    while (b->nops > n)
        engine__op_cleanup(&b->ops[--b->nops]);
}

void engine__batch_op(engine_batch *b, size_t ev, int kind, const char *wid, const char *reason)
{
    engine__op *o = add_op(b, ev, (op_kind)kind);
    o->wid = dup(wid);
    o->reason = dup(reason);
}

void engine__batch_timer(engine_batch *b, const char *run_id, const char *wid, const char *timer_id,
                         const char *kind, const cJSON *data)
{
    size_t ev = engine_batch_event(b, NULL);
    engine__op *o = add_op(b, ev, OP_TIMER);
    o->run_id = dup(run_id);
    o->wid = dup(wid);
    o->timer_id = dup(timer_id);
    o->timer_kind = dup(kind);
    o->timer_data = cJSON_Duplicate(data, 1);
}

void engine_batch_event_routes(engine_batch *b, size_t ev, const char *routes)
{
    if (ev >= b->nev)
        return;
    free(b->evs[ev].routes);
    b->evs[ev].routes = dup(routes);
}

void engine_batch_event_source(engine_batch *b, size_t ev, const engine_dead_letter *orig)
{
    if (ev >= b->nev || !orig)
        return;
    b->evs[ev].source = *orig;
    b->evs[ev].has_source = true;
}

engine_outcome engine_batch_outcome(const engine_batch *b, size_t ev)
{
    return b->evs[ev].res.outcome;
}

const engine_result *engine_batch_result(const engine_batch *b, size_t ev)
{
    return &b->evs[ev].res;
}

/* ---- loading ------------------------------------------------------------------------- */

enum { Q_INBOX, Q_TASKS, Q_LOCK, Q_LOAD, Q_HISTORY, Q_FORGET, Q_CLAIMS };
static const char *const Q_NAMES[] = {"sy_inbox",  "sy_tasks",  "sy_lock", "sy_load",
                                      "sy_history", "sy_forget", "sy_claims"};

/* Runs one of the batch path's statements, prepared once per session: a
 * batch of a few dozen events (the router's usual) pays parse and plan of
 * each statement otherwise. Their plans are index probes whatever the
 * parameters (LATERAL lookups), so a generic plan is as good. */
static sy_status exec_cached_bin(engine_session *s, int q, const char *sql, int n,
                                 const char *const *p, const int *len, const int *fmt,
                                 PGresult **out, sy_error *err);

static sy_status exec_cached(engine_session *s, int q, const char *sql, int n, const char *const *p,
                             PGresult **out, sy_error *err)
{
    return exec_cached_bin(s, q, sql, n, p, NULL, NULL, out, err);
}

sy_status engine__exec_claims(engine_session *s, const char *sql, int n, const char *const *p,
                              PGresult **out, sy_error *err)
{
    return exec_cached(s, Q_CLAIMS, sql, n, p, out, err);
}

/* exec_cached with parameter lengths and formats (NULL: all text). */
static sy_status exec_cached_bin(engine_session *s, int q, const char *sql, int n,
                                 const char *const *p, const int *len, const int *fmt,
                                 PGresult **out, sy_error *err)
{
    if (!(s->prepared_mask & (1u << q))) {
        PGresult *r = PQprepare(s->conn, Q_NAMES[q], sql, 0, NULL);
        sy_status st = engine__result_status(s->conn, r, "prepare", err);
        PQclear(r);
        if (st != SY_OK)
            return st;
        s->prepared_mask |= 1u << q;
    }
    if (out)
        *out = NULL;
    PGresult *r = PQexecPrepared(s->conn, Q_NAMES[q], n, p, len, fmt, 0);
    sy_status st = engine__result_status(s->conn, r, Q_NAMES[q], err);
    if (st != SY_OK || !out)
        PQclear(r);
    else
        *out = r;
    return st;
}

/* Appends s to a Postgres array literal being built in b. */
void engine__array_item(sy_buf *b, const char *s)
{
    sy_buf_putc(b, b->len ? ',' : '{');
    sy_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sy_buf_putc(b, '\\');
        sy_buf_putc(b, *s);
    }
    sy_buf_putc(b, '"');
}

const char *engine__array_end(sy_buf *b)
{
    if (!b->len)
        sy_buf_putc(b, '{');
    sy_buf_putc(b, '}');
    return b->data;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A binary text[] of n strings (borrowed), sorted and deduplicated: the
 * lookups below walk it in order, so every session locks IDs in the same
 * order, and each ID is probed once. */
static void sorted_array(engine__barr *out, const char **ids, size_t n)
{
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(ids[i - 1], ids[i]) != 0)
            engine__barr_text(out, ids[i]);
}

/* The write set's key array, emptied, for elements of type oid. Reused
 * from batch to batch: growing a fresh buffer each time made glibc
 * consolidate its free lists (a tenth of the client's time). */
static engine__barr *barr_reset(engine__barr *a, uint32_t oid)
{
    sy_buf_reset(&a->data);
    a->n = 0;
    a->nulls = false;
    a->oid = oid;
    return a;
}

static engine__barr *keys(engine__ws *ws, uint32_t oid)
{
    return barr_reset(&ws->keys, oid);
}

/* Runs a prepared statement whose parameters are the text $1 (may be
 * NULL: none) and the binary array a ($1 or $2). */
static sy_status exec_array(engine__ws *ws, int q, const char *sql, const char *first,
                            const engine__barr *a, PGresult **out, sy_error *err)
{
    int len[2] = {0, 0}, fmt[2] = {0, 0}, k = first ? 1 : 0;
    sy_buf *param = &ws->params[ENGINE__WS_PARAMS - 1];
    const char *p[2] = {first, NULL};
    p[k] = engine__barr_finish_into(a, param);
    len[k] = (int)param->len;
    fmt[k] = 1;
    return exec_cached_bin(ws->s, q, sql, k + 1, p, len, fmt, out, err);
}

static sy_status insert_inbox(engine__ws *ws, engine_batch *b, sy_error *err)
{
    /* a binary text[]: no quoting here, no parsing there */
    engine__barr *ids = keys(ws, 25);
    /* the routes beside each id: a column array flush.c fills only later */
    engine__barr *routes = barr_reset(&ws->cols[ENGINE__WS_COLS - 1], 25);
    for (size_t i = 0; i < b->nev; i++)
        if (b->evs[i].event_id) {
            engine__barr_text(ids, b->evs[i].event_id);
            engine__barr_text(routes, b->evs[i].routes);
        }
    if (!ids->n)
        return SY_OK;
    PGresult *r = NULL;
    /* OFFSET 0 keeps the NOT EXISTS a probe of inbox's key per event:
     * as an anti join, the session's generic plan, made at its first batch
     * while the inbox was small (a fresh deployment, a bench), hashed a
     * seq scan of the whole inbox, and every later batch scanned it again
     * as it grew (7 days of events).
     * NOT EXISTS and a plain insert, not ON CONFLICT DO NOTHING (a
     * speculative insertion per event, half as dear again). An event_id
     * committed meanwhile by a concurrent batch makes this insert fail on
     * the key (SY_BUSY): the caller applies the batch again and finds it a
     * duplicate. */
    sy_buf *pa = &ws->params[ENGINE__WS_PARAMS - 1], *pb = &ws->params[ENGINE__WS_PARAMS - 2];
    const char *p[2] = {engine__barr_finish_into(ids, pa), engine__barr_finish_into(routes, pb)};
    int len[2] = {(int)pa->len, (int)pb->len}, fmt[2] = {1, 1};
    sy_status st = exec_cached_bin(ws->s, Q_INBOX,
                                   "INSERT INTO inbox (event_id, routes) SELECT DISTINCT ON (k.id)"
                                   " k.id, k.r FROM unnest($1::text[], $2::text[]) AS k(id, r)"
                                   " WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.event_id ="
                                   " k.id OFFSET 0) RETURNING event_id",
                                   2, p, len, fmt, &r, err);
    if (st != SY_OK)
        return st;
    /* an event is new when inserted now and not seen earlier in this batch:
     * the returned ids go into a hash table, each taken once */
    int n = PQntuples(r);
    size_t cap = 16;
    while (cap < 2 * (size_t)n + 2)
        cap *= 2;
    int *slots = calloc(cap, sizeof *slots); /* row index + 1, 0 = empty */
    char *taken = calloc((size_t)n + 1, 1);
    for (int j = 0; j < n; j++) {
        size_t i = engine__hash(PQgetvalue(r, j, 0)) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = j + 1;
    }
    for (size_t e = 0; e < b->nev; e++) {
        if (!b->evs[e].event_id)
            continue;
        bool fresh = false;
        size_t i = engine__hash(b->evs[e].event_id) & (cap - 1);
        for (; slots[i] && !fresh; i = (i + 1) & (cap - 1)) {
            int j = slots[i] - 1;
            if (!taken[j] && strcmp(PQgetvalue(r, j, 0), b->evs[e].event_id) == 0) {
                taken[j] = 1;
                fresh = true;
            }
        }
        b->evs[e].dup = !fresh;
        if (!fresh)
            b->evs[e].res.outcome = ENGINE_DUPLICATE;
    }
    free(slots);
    free(taken);
    PQclear(r);
    return SY_OK;
}

/* Reports name a task: find the workflow it belongs to. Rows come back
 * with their position in the request, so each goes straight to its op. */
static sy_status resolve_tasks(engine_session *s, engine_batch *b, sy_error *err)
{
    sy_buf ids = SY_BUF_INIT;
    size_t *op_of = malloc((b->nops ? b->nops : 1) * sizeof *op_of), n = 0;
    for (size_t i = 0; i < b->nops; i++)
        if (b->ops[i].kind == OP_REPORT && !b->evs[b->ops[i].ev].dup) {
            engine__array_item(&ids, b->ops[i].task_id);
            op_of[n++] = i;
        }
    sy_status st = SY_OK;
    PGresult *r = NULL;
    if (n) {
        const char *p[] = {engine__array_end(&ids), s->eng->ns};
        st = exec_cached(s, Q_TASKS,
                         "SELECT k.n, x.workflow_id FROM unnest($1::text[]) WITH ORDINALITY"
                         " AS k(id, n) CROSS JOIN LATERAL (SELECT workflow_id FROM tasks WHERE"
                         " task_id = k.id AND namespace = $2 OFFSET 0) AS x",
                         2, p, &r, err);
    }
    for (int j = 0; st == SY_OK && j < PQntuples(r); j++) {
        size_t k = (size_t)atoll(PQgetvalue(r, j, 0));
        engine__op *o = k >= 1 && k <= n ? &b->ops[op_of[k - 1]] : NULL;
        if (o && !o->wid)
            o->wid = strdup(PQgetvalue(r, j, 1));
    }
    PQclear(r);
    sy_buf_cleanup(&ids);
    free(op_of);
    return st;
}

static void run_from_row(engine__run *run, PGresult *r, int i)
{
    sy_strlcpy(run->workflow_id, sizeof run->workflow_id, PQgetvalue(r, i, 0));
    sy_strlcpy(run->run_id, sizeof run->run_id, PQgetvalue(r, i, 1));
    sy_strlcpy(run->status, sizeof run->status, PQgetvalue(r, i, 2));
    run->closed_at = atoll(PQgetvalue(r, i, 3));
    sy_strlcpy(run->type, sizeof run->type, PQgetvalue(r, i, 4));
    sy_strlcpy(run->def_hash, sizeof run->def_hash, PQgetvalue(r, i, 5));
    run->next_seq = atoll(PQgetvalue(r, i, 6));
    sy_strlcpy(run->trace_id, sizeof run->trace_id, PQgetvalue(r, i, 7));
    sy_strlcpy(run->task_queue, sizeof run->task_queue, PQgetvalue(r, i, 8));
    run->causation_id = PQgetisnull(r, i, 9) ? NULL : strdup(PQgetvalue(r, i, 9));
    run->started_at = atoll(PQgetvalue(r, i, 10));
    run->exists_id = run->current = true;
}

/* The lookups by key go through LATERAL subqueries, one index probe per
 * key in array order: a plain "= ANY($2)" lets the planner, misled by
 * stale statistics on a fast-growing table, scan the whole namespace
 * (seen: 7 ms per batch at 50k IDs, growing with the table). */
static const char LOCK_IDS_SQL[] =
    "SELECT x.workflow_id FROM unnest($2::text[]) AS k(wid) CROSS JOIN LATERAL (SELECT"
    " workflow_id FROM workflow_ids WHERE namespace = $1 AND workflow_id = k.wid FOR UPDATE) AS x";
static const char LOAD_IDS_SQL[] =
    "SELECT x.* FROM unnest($2::text[]) AS k(wid) CROSS JOIN LATERAL (SELECT w.workflow_id,"
    " w.run_id, w.status, coalesce((extract(epoch FROM w.closed_at) * 1000)::bigint, 0),"
    " r.workflow_type, r.def_hash, r.next_seq, r.trace_id, r.task_queue, r.causation_id,"
    " coalesce((extract(epoch FROM r.started_at) * 1000)::bigint, 0) FROM workflow_ids w"
    " LEFT JOIN runs r ON r.run_id = w.run_id WHERE w.namespace = $1 AND w.workflow_id = k.wid"
    " OFFSET 0) AS x";

static sy_status load_ids(engine__ws *ws, engine_batch *b, sy_error *err)
{
    const char **wids = malloc((b->nops ? b->nops : 1) * sizeof *wids);
    size_t n = 0;
    for (size_t i = 0; i < b->nops; i++)
        if (b->ops[i].wid && !b->evs[b->ops[i].ev].dup && !b->ops[i].held)
            wids[n++] = b->ops[i].wid;
    engine__barr *ids = keys(ws, 25);
    sorted_array(ids, wids, n);
    free(wids);
    if (!ids->n)
        return SY_OK;
    /* Lock first, read after: in READ COMMITTED a FOR UPDATE that waited
     * re-reads only the locked row, while a joined runs row would stay as
     * of the statement's snapshot (a stale next_seq). The second statement
     * takes a new snapshot, after every lock is held. */
    PGresult *locked = NULL, *r = NULL;
    sy_status st = exec_array(ws, Q_LOCK, LOCK_IDS_SQL, ws->eng->ns, ids, &locked, err);
    ids = keys(ws, 25);
    /* only the IDs that exist are read back (none: all new, no second trip) */
    for (int i = 0; st == SY_OK && i < PQntuples(locked); i++)
        engine__barr_text(ids, PQgetvalue(locked, i, 0));
    PQclear(locked);
    if (st == SY_OK && ids->n)
        st = exec_array(ws, Q_LOAD, LOAD_IDS_SQL, ws->eng->ns, ids, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        engine__run *run = calloc(1, sizeof *run);
        run_from_row(run, r, i);
        engine__ws_add_run(ws, run);
    }
    PQclear(r);
    return st;
}

/* Starts run's state for a replay from its first event. */
static sy_status replay_begin(engine__ws *ws, engine__run *run, sy_error *err)
{
    sy_status st = engine__def_by_hash(ws->s, run->def_hash, &run->def, err);
    if (st == SY_OK)
        run->state = engine__state_new(run->workflow_id, run->run_id, run->type);
    run->loaded = true;
    return st;
}

static void replay_event(engine__run *run, int64_t seq, const char *type, const char *data)
{
    cJSON *d = cJSON_Parse(data);
    engine__task_origin o = {run->def ? run->def->body : NULL, run->run_id, run->task_queue, "",
                             NULL};
    engine__history_expand(&o, type, d);
    engine__reduce(run->state, seq, type, d);
    cJSON_Delete(d);
}

/* Replays the histories read in load_histories: column 0 is the run's
 * position in the request (1-based), which order[] maps back to the run
 * (a search by run_id per run was quadratic in the batch). */
static sy_status replay(engine__ws *ws, PGresult *r, engine__run **order, size_t n, sy_error *err)
{
    engine__run *run = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t k = (size_t)atoll(PQgetvalue(r, i, 0));
        if (k < 1 || k > n)
            return sy_error_set(err, SY_INTERNAL, NULL, NULL, "history of an unknown run");
        if (run != order[k - 1]) {
            run = order[k - 1];
            sy_status st = replay_begin(ws, run, err);
            if (st != SY_OK)
                return st;
        }
        replay_event(run, atoll(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    }
    return SY_OK;
}

/* The state of a running run from the cache (states.c): the live state,
 * or the replay of the log its starting batch kept; false: a miss. */
static bool cached_state(engine__ws *ws, engine__run *run, sy_status *st, sy_error *err)
{
    engine__cached v;
    bool hit =
        engine__states_take(ws->eng->states, run->run_id, run->next_seq, &v, &ws->cached_log);
    engine__count(ws->s, hit ? ENGINE_STAT_STATE_HITS : ENGINE_STAT_STATE_MISSES);
    if (!hit)
        return false;
    if (v.state) {
        run->state = v.state;
        *st = engine__def_by_hash(ws->s, run->def_hash, &run->def, err);
    } else {
        *st = replay_begin(ws, run, err);
        int64_t seq = v.log_first;
        for (size_t at = 0; *st == SY_OK && at < v.log_len; seq++) {
            const char *type = v.log + at, *data = type + strlen(type) + 1;
            replay_event(run, seq, type, data);
            at = (size_t)(data - v.log) + strlen(data) + 1;
        }
    }
    return true;
}

static sy_status load_histories(engine__ws *ws, engine_batch *b, sy_error *err)
{
    engine__barr *ids = keys(ws, 2950);
    engine__run **order = malloc((ws->nruns ? ws->nruns : 1) * sizeof *order);
    size_t n = 0;
    sy_status st = SY_OK;
    for (size_t i = 0; st == SY_OK && i < b->nops; i++) {
        engine__op *o = &b->ops[i];
        if (b->evs[o->ev].dup || o->held || !o->wid || !engine__op_needs_history(o))
            continue;
        engine__run *run = engine__ws_find(ws, o->wid);
        if (!run || run->loaded || strcmp(run->status, "running") != 0)
            continue;
        run->loaded = true; /* listed once */
        if (!cached_state(ws, run, &st, err)) {
            engine__barr_uuid(ids, run->run_id);
            order[n++] = run;
        }
    }
    if (st == SY_OK && n) {
        for (size_t i = 0; i < n; i++)
            order[i]->loaded = false; /* replay() marks those it finds */
        PGresult *r = NULL;
        st = exec_array(ws, Q_HISTORY,
                        "SELECT k.n, h.seq + x.n::int - 1, x.t, x.d FROM unnest($1::uuid[])"
                        " WITH ORDINALITY AS k(r, n) CROSS JOIN LATERAL (SELECT 1 AS seq,"
                        " h_types AS types, h_data AS data FROM runs WHERE run_id = k.r AND"
                        " h_types IS NOT NULL UNION ALL SELECT seq, types, data FROM history"
                        " WHERE run_id = k.r OFFSET 0) AS h"
                        " CROSS JOIN LATERAL unnest(h.types, h.data) WITH ORDINALITY"
                        " AS x(t, d, n) ORDER BY k.n, h.seq, x.n",
                        NULL, ids, &r, err);
        if (st == SY_OK)
            st = replay(ws, r, order, n, err);
        PQclear(r);
    }
    free(order);
    return st;
}

/* What the runs still running after this batch leave to the session's
 * stash (the cache once the transaction commits): the live state of a run
 * that was loaded (signaled, reported to: likely to be again), the log of
 * a run this batch started (engine__cached says why not its state). */
static void stash_states(engine__ws *ws)
{
    for (size_t i = 0; i < ws->nruns; i++) {
        engine__run *run = ws->runs[i];
        const char *status = cJSON_GetStringValue(JGET(run->state, "status"));
        if (!run->state || !status || strcmp(status, "running") != 0)
            continue;
        engine__cached v = {0};
        if (run->new_run && (run->log_first != 1 || !run->log.len))
            continue; /* not the whole history: nothing to keep */
        if (run->new_run) {
            v.log = run->log.data;
            v.log_len = run->log.len;
            v.log_first = run->log_first;
        } else {
            v.state = run->state;
            run->state = NULL; /* taken */
        }
        engine__stash(ws->s, run->run_id, run->next_seq, &v);
    }
}

/* A replay of one route that failed again leaves no inbox row: its dead
 * letter is pending again, and the next replay must run the route (replays
 * are rare: one statement, only when there is one). */
static sy_status forget_failed_replays(engine__ws *ws, engine_batch *b, sy_error *err)
{
    engine__barr *ids = keys(ws, 25);
    for (size_t i = 0; i < b->nev; i++)
        if (b->evs[i].replay_route && !b->evs[i].dup && b->evs[i].event_id &&
            b->evs[i].res.outcome == ENGINE_DEAD_LETTERED)
            engine__barr_text(ids, b->evs[i].event_id);
    if (!ids->n)
        return SY_OK;
    return exec_array(ws, Q_FORGET, "DELETE FROM inbox WHERE event_id = ANY($1::text[])", NULL, ids,
                      NULL, err);
}

sy_status engine__batch_run(engine_session *s, engine_batch *b, int64_t now, sy_error *err)
{
    /* a batch may be applied again after an attempt that was rolled back
     * (SY_BUSY): what that attempt learned about its events starts over */
    for (size_t i = 0; i < b->nev; i++) {
        b->evs[i].dup = false;
        b->evs[i].replay_taken = false;
        b->evs[i].res = (engine_result){.outcome = ENGINE_APPLIED};
    }
    engine__conc_reset(b);
    engine__ws *ws = engine__ws_new(s, now);
    sy_status st = insert_inbox(ws, b, err);
    if (st == SY_OK && b->flows)
        st = engine__flow_apply(ws, b, err);
    if (st == SY_OK && engine__corr_needed(b))
        st = engine__corr_apply(ws, b, err);
    if (st == SY_OK)
        st = engine__conc_apply(ws, b, err);
    if (st == SY_OK)
        st = resolve_tasks(s, b, err);
    if (st == SY_OK)
        st = load_ids(ws, b, err);
    if (st == SY_OK)
        st = load_histories(ws, b, err);
    for (size_t i = 0; st == SY_OK && i < b->nops; i++)
        if (!b->evs[b->ops[i].ev].dup && !b->ops[i].held)
            st = engine__apply_op(ws, b, &b->ops[i], err);
    if (st == SY_OK)
        engine__conc_closing(ws);
    if (st == SY_OK)
        st = engine__ws_flush(ws, err);
    if (st == SY_OK)
        st = engine__corr_write(ws, err);
    if (st == SY_OK)
        st = engine__conc_slots(ws, b, err);
    if (st == SY_OK)
        st = engine__dispatch_apply(ws, err);
    if (st == SY_OK)
        st = forget_failed_replays(ws, b, err);
    if (st == SY_OK)
        engine__conc_count(s, b);
    if (st == SY_OK)
        stash_states(ws);
    engine__ws_free(ws);
    return st;
}

sy_status engine_batch_apply(engine_session *s, engine_batch *b, sy_error *err)
{
    return engine__batch_run(s, b, engine__now(s->eng), err);
}
