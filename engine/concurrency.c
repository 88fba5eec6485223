/* concurrency.c: a workflow's concurrency limit and priority on the batch
 * path and in the timer loop (docs/flow-control.md, "Concurrency").
 *
 * engine__conc_apply runs inside engine__batch_run after flow control
 * (a held or dropped op is left alone) and before any workflow is locked:
 *   1. every start of a workflow with `concurrency` or `priority` gets its
 *      key and priority rendered (rules_admission_render); a bad one is
 *      refused by ops.c with the reason;
 *   2. the keys' rows (concurrency_keys) are created when new and locked
 *      FOR UPDATE in key order, then the key's running runs are read
 *      (concurrency_slots JOIN runs, status running; slots of closed runs
 *      are deleted): every session that may start a run of a key holds
 *      its lock, so the count includes every committed start;
 *   3. the starts in event order: a start that finds a free slot and
 *      nobody waiting takes it (the run it creates inserts its slot after
 *      the flush, in the same transaction); the others by strategy:
 *      queued (queue, round_robin, cancel_in_progress: with the oldest
 *      running runs of the key canceled to make room and older waiting
 *      starts replaced), or dropped (cancel_newest);
 *   4. one statement updates the keys and writes the queue.
 * engine__conc_due, in the timer loop, claims the keys that have waiting
 * starts FOR UPDATE SKIP LOCKED, counts their running runs the same way
 * and starts the queue's heads (priority, then arrival; round_robin: one
 * key after the other) into the free slots, in one transaction with
 * their deletion from the queue. A run that closes frees its slot in its
 * own transaction (the count joins runs) and wakes the timer loops.
 * So a key never has more than `limit` running runs, whichever process
 * starts them, across crashes: every start is decided under the key's
 * lock in the transaction that creates the run. */
#include "batch.h"
#include "flow.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- per op ---------------------------------------------------------------------- */

void engine__conc_op_cleanup(engine__op *o)
{
    free(o->ckey);
    free(o->csub);
    free(o->cerror);
    o->ckey = o->csub = o->cerror = NULL;
    o->cerror_code[0] = 0;
    o->crun[0] = 0;
    o->cadmitted = o->cfull = o->cqueue = false;
}

void engine__conc_reset(engine_batch *b)
{
    /* a batch applied again (SY_BUSY): what the last attempt added and
     * decided starts over */
    if (b->conc_based) {
        engine__batch_truncate(b, b->conc_nops);
        for (size_t i = b->conc_nev; i < b->nev; i++)
            free(b->evs[i].event_id);
        b->nev = b->conc_nev;
    }
    for (size_t i = 0; i < b->nops; i++) {
        engine__op *o = &b->ops[i];
        if (o->cheld)
            o->held = false;
        o->cheld = false;
        o->coutcome = ENGINE_CONC_NONE;
        if (!o->cfixed)
            engine__conc_op_cleanup(o);
        else
            o->crun[0] = 0;
    }
    b->conc_based = true;
    b->conc_nops = b->nops;
    b->conc_nev = b->nev;
}

/* ---- the keys of a batch ------------------------------------------------------------ */

typedef struct ckey_e {
    const char *ckey; /* borrowed from an op */
    const char *type;
    int64_t limit;
    rules_conc_strategy strategy;
    int64_t running; /* runs holding a slot (committed, and admitted in this batch) */
    int64_t queued;  /* starts waiting */
    bool exists, drop_queue;
    const char *last_sub; /* round_robin: the key the last slot went to (borrowed) */
    struct {
        char *wid;
        bool cancel_requested;
    } * runs; /* running runs, oldest first (cancel_in_progress) */
    size_t nruns;
} ckey_e;

typedef struct cctx {
    ckey_e *e;
    size_t n;
    cJSON *queue; /* concurrency_queue rows to insert */
    uint64_t counts[ENGINE_CONC_OUTCOMES];
} cctx;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const ckey_e *)a)->ckey, ((const ckey_e *)b)->ckey);
}

static ckey_e *find(cctx *c, const char *ckey)
{
    ckey_e k = {.ckey = ckey};
    return c->n ? bsearch(&k, c->e, c->n, sizeof *c->e, cmp_key) : NULL;
}

static void cctx_cleanup(cctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = 0; j < c->e[i].nruns; j++)
            free(c->e[i].runs[j].wid);
        free(c->e[i].runs);
    }
    free(c->e);
    cJSON_Delete(c->queue);
}

/* The start an op would make (its own, or a signal's with_start). */
static const engine__start *op_start(const engine__op *o)
{
    if (o->kind == OP_START)
        return &o->start;
    return o->kind == OP_SIGNAL && o->has_start ? &o->start : NULL;
}

char *engine__conc_ckey(const char *type, rules_conc_strategy s, const char *key)
{
    size_t n = strlen(type) + strlen(key) + 2;
    char *k = malloc(n);
    snprintf(k, n, "%s\n%s", type, s == RULES_CONC_ROUND_ROBIN ? "" : key);
    return k;
}

/* Renders the key and priority of every start that has them. */
static void render(engine__ws *ws, engine_batch *b, cctx *c)
{
    size_t cap = 0;
    for (size_t i = 0; i < b->nops; i++) {
        engine__op *o = &b->ops[i];
        const engine__start *st = op_start(o);
        if (!st || o->held || b->evs[o->ev].dup || o->cfixed)
            continue;
        const engine__def *def = st->type ? engine__def_by_type(ws->eng, st->type) : NULL;
        if (!def || (!JGET(def->body, "concurrency") && !JGET(def->body, "priority")))
            continue;
        rules_admission a;
        sy_error e = {0};
        if (rules_admission_render(def->body, st->wid, st->input, &a, &e) != SY_OK) {
            o->cerror = strdup(e.message);
            snprintf(o->cerror_code, sizeof o->cerror_code, "%s", e.code);
            continue;
        }
        o->cprio = a.priority;
        if (a.has_concurrency) {
            o->ckey = engine__conc_ckey(st->type, a.strategy, a.key);
            o->csub = strdup(a.key);
            if (c->n == cap) {
                cap = cap ? 2 * cap : 8;
                c->e = realloc(c->e, cap * sizeof *c->e);
            }
            c->e[c->n++] = (ckey_e){
                .ckey = o->ckey, .type = st->type, .limit = a.limit, .strategy = a.strategy};
        }
        rules_admission_cleanup(&a);
    }
    if (c->n > 1) /* qsort(NULL, 0) is undefined: most batches have no keys */
        qsort(c->e, c->n, sizeof *c->e, cmp_key);
    size_t u = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!u || strcmp(c->e[u - 1].ckey, c->e[i].ckey))
            c->e[u++] = c->e[i];
    c->n = u;
}

static char *keys_json(const cctx *c, bool with_params)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < c->n; i++) {
        if (!with_params) {
            cJSON_AddItemToArray(a, cJSON_CreateString(c->e[i].ckey));
            continue;
        }
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "k", c->e[i].ckey);
        cJSON_AddStringToObject(k, "t", c->e[i].type);
        cJSON_AddNumberToObject(k, "l", (double)c->e[i].limit);
        cJSON_AddStringToObject(k, "s", rules_conc_strategy_name(c->e[i].strategy));
        cJSON_AddNumberToObject(k, "q", (double)c->e[i].queued);
        cJSON_AddBoolToObject(k, "d", c->e[i].drop_queue);
        if (c->e[i].last_sub)
            cJSON_AddStringToObject(k, "r", c->e[i].last_sub);
        cJSON_AddItemToArray(a, k);
    }
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

/* Creates the keys that are new (in key order: two sessions creating the
 * same keys wait for each other, never deadlock), then locks them all. */
static sy_status lock_keys(engine_session *s, cctx *c, sy_error *err)
{
    char *rows = keys_json(c, true);
    const char *p[] = {s->eng->ns, rows};
    sy_status st = engine__exec(
        s,
        "INSERT INTO concurrency_keys (namespace, ckey, workflow_type, lim, strategy, updated_at)"
        " SELECT $1, x.k, x.t, x.l, x.s, now() FROM json_to_recordset($2::json) AS x(k text,"
        " t text, l int, s text) ORDER BY x.k ON CONFLICT DO NOTHING",
        2, p, NULL, err);
    PGresult *r = NULL;
    if (st == SY_OK)
        st = engine__exec(s,
                          "SELECT k.n, x.queued FROM json_array_elements($2::json) WITH ORDINALITY"
                          " AS k(j, n) CROSS JOIN LATERAL (SELECT queued FROM concurrency_keys"
                          " WHERE namespace = $1 AND ckey = k.j->>'k' FOR UPDATE) AS x"
                          " ORDER BY k.n",
                          2, p, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        size_t n = (size_t)atoll(PQgetvalue(r, i, 0));
        if (n >= 1 && n <= c->n) {
            c->e[n - 1].queued = atoll(PQgetvalue(r, i, 1));
            c->e[n - 1].exists = true;
        }
    }
    PQclear(r);
    free(rows);
    return st;
}

/* The running runs of the locked keys, oldest first; the slots of closed
 * or purged runs are deleted on the way (the SELECT's snapshot is the
 * DELETE's: it filters them by the same join). */
static const char RUNNING_SQL[] =
    "WITH gone AS (DELETE FROM concurrency_slots s WHERE s.namespace = $1 AND s.ckey ="
    " ANY(ARRAY(SELECT json_array_elements_text($2::json))) AND NOT EXISTS (SELECT 1 FROM runs r"
    " WHERE r.run_id = s.run_id AND r.status = 'running'))"
    " SELECT s.ckey, s.workflow_id, r.cancel_requested FROM concurrency_slots s JOIN runs r ON"
    " r.run_id = s.run_id AND r.status = 'running' WHERE s.namespace = $1 AND s.ckey ="
    " ANY(ARRAY(SELECT json_array_elements_text($2::json))) ORDER BY s.ckey, s.started_at,"
    " s.run_id";

sy_status engine__conc_running(engine_session *s, const char *keys_js,
                               void (*row)(void *arg, const char *ckey, const char *wid, bool cr),
                               void *arg, sy_error *err)
{
    const char *p[] = {s->eng->ns, keys_js};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, RUNNING_SQL, 2, p, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++)
        row(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)[0] == 't');
    PQclear(r);
    return st;
}

static void running_row(void *arg, const char *ckey, const char *wid, bool cr)
{
    ckey_e *e = find(arg, ckey);
    if (!e)
        return;
    e->running++;
    e->runs = realloc(e->runs, (e->nruns + 1) * sizeof *e->runs);
    e->runs[e->nruns].wid = strdup(wid);
    e->runs[e->nruns++].cancel_requested = cr;
}

/* ---- deciding ----------------------------------------------------------------------- */

static void enqueue(cctx *c, engine__op *o)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "k", o->ckey);
    cJSON_AddStringToObject(it, "s", o->csub);
    cJSON_AddNumberToObject(it, "p", (double)o->cprio);
    cJSON_AddStringToObject(it, "w", o->start.wid ? o->start.wid : "");
    cJSON_AddItemToObject(it, "r", engine__op_request(o, o->route, NULL));
    if (!c->queue)
        c->queue = cJSON_CreateArray();
    cJSON_AddItemToArray(c->queue, it);
}

/* cancel_in_progress: older waiting starts of the key are replaced by
 * this one, and the oldest running runs not yet asked to cancel are, so
 * that the runs left and this start fit the limit. */
static void make_room(cctx *c, engine_batch *b, ckey_e *e)
{
    cJSON *it, *next;
    for (it = c->queue ? c->queue->child : NULL; it; it = next) {
        next = it->next;
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "k")), e->ckey))
            cJSON_Delete(cJSON_DetachItemViaPointer(c->queue, it));
    }
    c->counts[ENGINE_CONC_REPLACED] += (uint64_t)e->queued; /* stored and of this batch */
    e->drop_queue = true;
    e->queued = 0;
    int64_t live = 0;
    for (size_t i = 0; i < e->nruns; i++)
        live += !e->runs[i].cancel_requested;
    for (size_t i = 0; i < e->nruns && live + 1 > e->limit; i++) {
        if (e->runs[i].cancel_requested)
            continue;
        e->runs[i].cancel_requested = true;
        live--;
        size_t ev = engine_batch_event(b, NULL);
        engine__batch_op(b, ev, OP_CANCEL, e->runs[i].wid,
                         "canceled by a newer start (concurrency: cancel_in_progress)");
        b->ops[b->nops - 1].cquiet = true;
        c->counts[ENGINE_CONC_CANCELED]++;
    }
}

static void decide(cctx *c, engine_batch *b, size_t i)
{
    engine__op *o = &b->ops[i];
    ckey_e *e = find(c, o->ckey);
    if (!e)
        return;
    if (e->queued == 0 && e->running < e->limit) {
        e->running++;
        e->last_sub = o->csub;
        o->cadmitted = true;
        o->coutcome = ENGINE_CONC_PASSED;
        c->counts[ENGINE_CONC_PASSED]++;
        return;
    }
    if (o->kind == OP_SIGNAL) { /* its start, if it needs one, waits or is refused */
        o->cfull = true;
        o->cqueue = e->strategy == RULES_CONC_QUEUE || e->strategy == RULES_CONC_ROUND_ROBIN;
        return;
    }
    o->held = o->cheld = true;
    engine_result *res = &b->evs[o->ev].res; /* said to the caller (CLI, Events page) */
    snprintf(res->message, sizeof res->message,
             "concurrency key \"%.100s\" of %.60s is at its limit of %lld (%lld running)", o->csub,
             e->type, (long long)e->limit, (long long)e->running);
    if (e->strategy == RULES_CONC_CANCEL_NEWEST) {
        snprintf(res->code, sizeof res->code, "concurrency_dropped");
        o->coutcome = ENGINE_CONC_DROPPED;
        c->counts[ENGINE_CONC_DROPPED]++;
        return;
    }
    snprintf(res->code, sizeof res->code, "concurrency_queued");
    if (e->strategy == RULES_CONC_CANCEL_IN_PROGRESS)
        make_room(c, b, e);
    o->coutcome = ENGINE_CONC_QUEUED;
    c->counts[ENGINE_CONC_QUEUED]++;
    e->queued++;
    enqueue(c, o);
}

/* Only a signal whose workflow is not running needs a slot, and that is
 * known once the ops are applied under the workflows' locks: then it is
 * queued behind the starts its batch queued (the key's row is still
 * locked by this batch; engine__conc_apply wrote its count already). */
static const char QUEUE_SIGNAL_SQL[] =
    "WITH k AS (UPDATE concurrency_keys SET queued = queued + 1, updated_at = now()"
    " WHERE namespace = $1 AND ckey = $2)"
    " INSERT INTO concurrency_queue (namespace, ckey, sub, priority, workflow_id, request,"
    " queued_at) VALUES ($1, $2, $3, $4::int, $5, $6::json, now())";

sy_status engine__conc_queue_signal(engine__ws *ws, engine_batch *b, engine__op *o, sy_error *err)
{
    cJSON *r = engine__op_request(o, o->route, NULL);
    char *req = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    char prio[24];
    const char *p[] = {ws->eng->ns, o->ckey, o->csub, sy_i64(prio, o->cprio), o->wid, req};
    sy_status st = engine__exec(ws->s, QUEUE_SIGNAL_SQL, 6, p, NULL, err);
    free(req);
    if (st != SY_OK)
        return st;
    engine_result *res = &b->evs[o->ev].res;
    snprintf(res->code, sizeof res->code, "concurrency_queued");
    snprintf(res->message, sizeof res->message,
             "concurrency key \"%.100s\" of %.60s is at its limit: the start of \"%.100s\" and"
             " its signal wait",
             o->csub, o->start.type ? o->start.type : "", o->wid);
    o->coutcome = ENGINE_CONC_QUEUED;
    b->conc_counts[ENGINE_CONC_QUEUED]++;
    return SY_OK;
}

static const char WRITE_SQL[] =
    "WITH up AS (UPDATE concurrency_keys k SET queued = x.q, lim = x.l, strategy = x.s,"
    " rr_last = coalesce(x.r, k.rr_last), updated_at = now() FROM json_to_recordset($2::json)"
    " AS x(k text, l int, s text, q int, d bool, r text) WHERE k.namespace = $1 AND"
    " k.ckey = x.k),"
    " del AS (DELETE FROM concurrency_queue q USING json_to_recordset($2::json) AS x(k text,"
    " d bool) WHERE x.d AND q.namespace = $1 AND q.ckey = x.k),"
    " ins AS (INSERT INTO concurrency_queue (namespace, ckey, sub, priority, workflow_id, request,"
    " queued_at) SELECT $1, x.j->>'k', x.j->>'s', (x.j->>'p')::int, x.j->>'w', x.j->'r', now()"
    " FROM json_array_elements($3::json) WITH ORDINALITY AS x(j, n) ORDER BY x.n)"
    " SELECT CASE WHEN $4::bool THEN pg_notify('switchyard_timers', '') END";

static sy_status write_keys(engine_session *s, cctx *c, sy_error *err)
{
    char *k = keys_json(c, true);
    char *q = c->queue ? cJSON_PrintUnformatted(c->queue) : strdup("[]");
    const char *p[] = {s->eng->ns, k, q, cJSON_GetArraySize(c->queue) ? "true" : "false"};
    sy_status st = engine__exec(s, WRITE_SQL, 4, p, NULL, err);
    free(k);
    free(q);
    return st;
}

sy_status engine__conc_apply(engine__ws *ws, engine_batch *b, sy_error *err)
{
    cctx c = {0};
    render(ws, b, &c);
    sy_status st = SY_OK;
    if (c.n) {
        st = lock_keys(ws->s, &c, err);
        char *keys = keys_json(&c, false);
        if (st == SY_OK)
            st = engine__conc_running(ws->s, keys, running_row, &c, err);
        free(keys);
        size_t nops = b->nops; /* make_room adds cancels after them */
        for (size_t i = 0; st == SY_OK && i < nops; i++)
            if (b->ops[i].ckey && !b->ops[i].cfixed && !b->ops[i].held && !b->evs[b->ops[i].ev].dup)
                decide(&c, b, i);
        if (st == SY_OK)
            st = write_keys(ws->s, &c, err);
    }
    for (int i = 0; st == SY_OK && i < ENGINE_CONC_OUTCOMES; i++)
        b->conc_counts[i] = c.counts[i];
    cctx_cleanup(&c);
    return st;
}

/* After the flush: the runs admitted starts created take their slots (a
 * run already closed in its first batch takes none). A run of a workflow
 * with concurrency that closed wakes the timer loops (set before the
 * flush, in engine__conc_closing). */
sy_status engine__conc_slots(engine__ws *ws, engine_batch *b, sy_error *err)
{
    cJSON *rows = NULL;
    for (size_t i = 0; i < b->nops; i++) {
        const engine__op *o = &b->ops[i];
        if (!o->ckey || !o->cadmitted || !o->crun[0])
            continue;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "k", o->ckey);
        cJSON_AddStringToObject(r, "r", o->crun);
        cJSON_AddStringToObject(r, "w", o->start.wid ? o->start.wid : "");
        cJSON_AddStringToObject(r, "s", o->csub);
        cJSON_AddNumberToObject(r, "p", (double)o->cprio);
        if (!rows)
            rows = cJSON_CreateArray();
        cJSON_AddItemToArray(rows, r);
    }
    if (!rows)
        return SY_OK;
    char *js = cJSON_PrintUnformatted(rows);
    cJSON_Delete(rows);
    const char *p[] = {ws->eng->ns, js};
    sy_status st = engine__exec(
        ws->s,
        "INSERT INTO concurrency_slots (namespace, ckey, run_id, workflow_id, sub, priority,"
        " started_at) SELECT $1, x.k, x.r::uuid, x.w, x.s, x.p, now() FROM json_to_recordset("
        "$2::json) AS x(k text, r text, w text, s text, p int) JOIN runs r ON r.run_id = x.r::uuid"
        " AND r.status = 'running' ON CONFLICT DO NOTHING",
        2, p, NULL, err);
    free(js);
    return st;
}

void engine__conc_closing(engine__ws *ws)
{
    for (size_t i = 0; i < ws->nruns && !ws->notify_timers; i++) {
        const engine__run *r = ws->runs[i];
        if (r->dirty && r->def && strcmp(r->status, "running") != 0 &&
            JGET(r->def->body, "concurrency"))
            ws->notify_timers = true;
    }
}

void engine__conc_count(engine_session *s, const engine_batch *b)
{
    static const int stat[ENGINE_CONC_OUTCOMES] = {
        [ENGINE_CONC_PASSED] = ENGINE_STAT_CONC_PASSED,
        [ENGINE_CONC_QUEUED] = ENGINE_STAT_CONC_QUEUED,
        [ENGINE_CONC_DROPPED] = ENGINE_STAT_CONC_DROPPED,
        [ENGINE_CONC_CANCELED] = ENGINE_STAT_CONC_CANCELED,
        [ENGINE_CONC_REPLACED] = ENGINE_STAT_CONC_REPLACED,
    };
    for (int i = ENGINE_CONC_PASSED; i < ENGINE_CONC_RELEASED; i++)
        for (uint64_t n = 0; n < b->conc_counts[i]; n++)
            engine__count(s, stat[i]);
}

engine_conc_outcome engine_batch_conc_outcome(const engine_batch *b, size_t ev)
{
    for (size_t i = 0; i < b->nops; i++)
        if (b->ops[i].ev == ev && b->ops[i].coutcome != ENGINE_CONC_NONE)
            return b->ops[i].coutcome;
    return ENGINE_CONC_NONE;
}

/* ---- describe ------------------------------------------------------------------------- */

/* A workflow ID's place under its concurrency key: a start waiting in the
 * queue (its position: the starts taken before it, by priority then
 * arrival) or a run holding a slot, with the key's limit, strategy and
 * how many hold its slots now. */
static const char CONC_DESCRIBE_SQL[] =
    "SELECT row_to_json(x) FROM (SELECT q.sub AS key, k.lim AS limit, k.strategy,"
    " q.priority, 'queued' AS outcome, q.queued_at, (SELECT count(*) FROM concurrency_queue j"
    " WHERE j.namespace = q.namespace AND j.ckey = q.ckey AND (j.priority > q.priority OR"
    " (j.priority = q.priority AND j.seq <= q.seq))) AS position, (SELECT count(*) FROM"
    " concurrency_slots s JOIN runs r ON r.run_id = s.run_id AND r.status = 'running' WHERE"
    " s.namespace = q.namespace AND s.ckey = q.ckey) AS running FROM concurrency_queue q JOIN"
    " concurrency_keys k ON k.namespace = q.namespace AND k.ckey = q.ckey WHERE q.namespace = $1"
    " AND q.workflow_id = $2"
    " UNION ALL SELECT s.sub, k.lim, k.strategy, s.priority, 'running', NULL, NULL, (SELECT"
    " count(*) FROM concurrency_slots t JOIN runs u ON u.run_id = t.run_id AND u.status ="
    " 'running' WHERE t.namespace = s.namespace AND t.ckey = s.ckey) FROM concurrency_slots s"
    " JOIN runs r ON r.run_id = s.run_id AND r.status = 'running' JOIN concurrency_keys k ON"
    " k.namespace = s.namespace AND k.ckey = s.ckey WHERE s.namespace = $1 AND s.workflow_id ="
    " $2 LIMIT 1) x";

sy_status engine__conc_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err)
{
    if (st != SY_OK && st != SY_NOT_FOUND)
        return st;
    const char *p[] = {s->eng->ns, workflow_id};
    cJSON *c = NULL;
    sy_error cerr = {0};
    sy_status cs = engine__json_query(s, CONC_DESCRIBE_SQL, 2, p, &c, &cerr);
    if (cs == SY_NOT_FOUND)
        return st;
    if (cs != SY_OK) {
        *err = cerr;
        return cs;
    }
    if (st == SY_NOT_FOUND) { /* no run yet: a start waiting for a slot */
        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "workflow_id", workflow_id);
        cJSON_AddStringToObject(*out, "status", "pending");
        sy_error_clear(err);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(*out, "concurrency");
    cJSON_AddItemToObject(*out, "concurrency", c);
    return SY_OK;
}

sy_status engine_conc_waiting(engine_session *s, int64_t *waiting, sy_error *err)
{
    *waiting = 0;
    const char *p[] = {s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT coalesce(sum(queued), 0) FROM concurrency_keys WHERE"
                                " namespace = $1 AND queued > 0",
                                1, p, &r, err);
    if (st == SY_OK)
        *waiting = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}
