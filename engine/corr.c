/* corr.c: correlation of later events with running workflows
 * (docs/flow-control.md, "Correlation"): `cancel_on` and `wait_event`.
 *
 * A run that waits for an event has a row in event_subs (written after the
 * batch's flush, in its transaction: engine__corr_write): one per cancel_on
 * entry from its start, one per wait_event step while it waits. The
 * router hands every event of a correlated type to its batch
 * (engine_batch_correlate); engine__corr_apply, before anything else is
 * locked, stores it in corr_events (the lookback) and matches it against
 * the rows of its type: each match becomes an op of the batch (OP_CANCEL
 * of that run, OP_EVENT to that wait), applied under the workflow's lock
 * like any other, so it takes effect once with the event's inbox row.
 *
 * A wait that begins looks back: its batch arms a timer (event_scan, due
 * at once) that the timer loop fires after the wait's row committed; the
 * scan matches the stored events since created_at - lookback. An event
 * and a wait that begin at the same time in two processes cannot both miss
 * each other: an event's batch holds a shared advisory lock on its type
 * from before it reads event_subs until it commits, a scan an exclusive
 * one before it reads corr_events, so the scan sees the event or the event
 * sees the wait (both seeing it is harmless: a wait takes one event, a
 * second cancel request changes nothing). Whether an event counts is
 * decided by times: it counts for a wait when it came at or after
 * created_at - lookback - CORR_GRACE_MS (and before the wait's timeout),
 * for a cancel_on at or after the run's start - CORR_GRACE_MS (and within
 * `within`); never the event that started the run. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

/* Events of a correlated type are kept at least this long, so that a wait
 * beginning in the same instant (another process, the same batch) finds
 * them; longer when a wait_event step looks back further. */
#define CORR_KEEP_MIN_MS 60000
#define CORR_SCAN_MAX 1000 /* stored events one scan reads */
/* An event counts for a subscription from created_at - lookback - this:
 * two processes may route an event and begin the wait (or the start)
 * that needs it at the same time, each batch's clock read when it began,
 * so the event's time may be a batch's duration before the wait's even
 * though it was routed after the wait had committed. */
#define CORR_GRACE_MS 30000

/* ---- what a batch writes (engine__corr_effects -> engine__corr_write) ---------------- */

typedef struct csub_row {
    char *sub_id, *run_id;
    char *json; /* the row for json_to_recordset, owned */
    bool dropped;
} csub_row;

struct engine__corr_ws {
    csub_row *ins;
    size_t nins, capins;
    sy_buf del, del_runs; /* JSON array members: sub ids, run ids */
    size_t ndel, ndel_runs;
};

static struct engine__corr_ws *cws(engine__ws *ws)
{
    if (!ws->corr)
        ws->corr = calloc(1, sizeof *ws->corr);
    return ws->corr;
}

void engine__corr_ws_clear(engine__ws *ws)
{
    struct engine__corr_ws *c = ws->corr;
    if (!c)
        return;
    for (size_t i = 0; i < c->nins; i++) {
        free(c->ins[i].sub_id);
        free(c->ins[i].run_id);
        free(c->ins[i].json);
    }
    c->nins = c->ndel = c->ndel_runs = 0;
    sy_buf_reset(&c->del);
    sy_buf_reset(&c->del_runs);
}

void engine__corr_ws_free(engine__ws *ws)
{
    engine__corr_ws_clear(ws);
    if (!ws->corr)
        return;
    free(ws->corr->ins);
    sy_buf_cleanup(&ws->corr->del);
    sy_buf_cleanup(&ws->corr->del_runs);
    free(ws->corr);
    ws->corr = NULL;
}

static void list_add(sy_buf *b, size_t *n, const char *s)
{
    if ((*n)++)
        sy_buf_putc(b, ',');
    engine__json_str(b, s);
}

static void sub_insert(engine__ws *ws, engine__run *run, const char *sub_id, const char *kind,
                       const char *type, const char *step, cJSON *data, int64_t expires_at)
{
    struct engine__corr_ws *c = cws(ws);
    cJSON *row = cJSON_CreateObject();
    JADD(row, "s", cJSON_CreateString(sub_id));
    JADD(row, "r", cJSON_CreateString(run->run_id));
    JADD(row, "w", cJSON_CreateString(run->workflow_id));
    JADD(row, "k", cJSON_CreateString(kind));
    JADD(row, "t", cJSON_CreateString(type));
    JADD(row, "p", step ? cJSON_CreateString(step) : cJSON_CreateNull());
    /* a run never correlates the event that started it */
    JADD(data, "cause", cJSON_CreateString(run->causation_id ? run->causation_id : ""));
    /* a `where` with an equality on the event is looked up by its key */
    char *kpath = NULL, *kval = NULL;
    rules_corr_key(engine__str(data, "where"), JGET(data, "ctx"), &kpath, &kval);
    JADD(row, "kp", kpath ? cJSON_CreateString(kpath) : cJSON_CreateNull());
    JADD(row, "kv", kval ? cJSON_CreateString(kval) : cJSON_CreateNull());
    free(kpath);
    free(kval);
    JADD(row, "d", data);
    JADD(row, "c", cJSON_CreateNumber((double)ws->now));
    JADD(row, "x", expires_at ? cJSON_CreateNumber((double)expires_at) : cJSON_CreateNull());
    if (c->nins == c->capins) {
        c->capins = c->capins ? 2 * c->capins : 8;
        c->ins = realloc(c->ins, c->capins * sizeof *c->ins);
    }
    c->ins[c->nins++] =
        (csub_row){strdup(sub_id), strdup(run->run_id), cJSON_PrintUnformatted(row), false};
    cJSON_Delete(row);
    /* the timer loop looks back for it once this batch committed */
    char id[400];
    sy_concat(id, sizeof id, sub_id, ":scan");
    cJSON *td = cJSON_CreateObject();
    JADD(td, "sub_id", cJSON_CreateString(sub_id));
    engine__ws_timer(ws, run, id, ws->now, "event_scan", td);
}

static void sub_delete(engine__ws *ws, const char *sub_id)
{
    struct engine__corr_ws *c = cws(ws);
    bool pending = false;
    for (size_t i = 0; i < c->nins; i++)
        if (!c->ins[i].dropped && !strcmp(c->ins[i].sub_id, sub_id))
            c->ins[i].dropped = pending = true;
    if (!pending)
        list_add(&c->del, &c->ndel, sub_id);
}

static void subs_delete_run(engine__ws *ws, const char *run_id)
{
    struct engine__corr_ws *c = cws(ws);
    for (size_t i = 0; i < c->nins; i++)
        if (!strcmp(c->ins[i].run_id, run_id))
            c->ins[i].dropped = true;
    list_add(&c->del_runs, &c->ndel_runs, run_id);
}

static void sub_id_of(const engine__run *run, const char *key, char *out, size_t n)
{
    sy_concat(out, n, run->run_id, ":", key);
}

static void armed_cancel(engine__ws *ws, engine__run *run, const cJSON *data)
{
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, JGET(data, "subs"))
    {
        char key[32], id[96], n[21];
        sy_concat(key, sizeof key, "cancel:", sy_i64(n, i++));
        sub_id_of(run, key, id, sizeof id);
        cJSON *d = cJSON_CreateObject();
        JADD(d, "where", cJSON_CreateString(engine__str(c, "where")));
        JADD(d, "ctx", cJSON_Duplicate(JGET(data, "ctx"), 1));
        int64_t within = engine__num(c, "within_ms");
        sub_insert(ws, run, id, "cancel", engine__str(c, "event_type"), NULL, d,
                   within > 0 ? ws->now + within : 0);
    }
}

static void wait_started(engine__ws *ws, engine__run *run, const cJSON *data)
{
    char id[400];
    const char *step = engine__str(data, "step");
    sub_id_of(run, step, id, sizeof id);
    cJSON *d = cJSON_CreateObject();
    JADD(d, "where", cJSON_CreateString(engine__str(data, "where")));
    JADD(d, "ctx", cJSON_Duplicate(JGET(data, "ctx"), 1));
    JADD(d, "lookback_ms", cJSON_CreateNumber((double)engine__num(data, "lookback_ms")));
    JADD(d, "name", cJSON_CreateString(engine__str(data, "name")));
    int64_t timeout = engine__num(data, "timeout_ms");
    sub_insert(ws, run, id, "wait", engine__str(data, "event_type"), step, d,
               timeout > 0 ? ws->now + timeout : 0);
}

static bool closes(const char *type)
{
    return !strcmp(type, "workflow.completed") || !strcmp(type, "workflow.failed") ||
           !strcmp(type, "workflow.canceled") || !strcmp(type, "workflow.terminated");
}

void engine__corr_effects(engine__ws *ws, engine__run *run, const char *type, const cJSON *data)
{
    if (type[0] != 'e' && type[0] != 'c' && type[0] != 't' && type[0] != 'w')
        return;
    char id[400];
    if (!strcmp(type, "event_wait.started")) {
        wait_started(ws, run, data);
    } else if (!strcmp(type, "cancel_on.armed")) {
        armed_cancel(ws, run, data);
    } else if (!strcmp(type, "event.received")) {
        sub_id_of(run, engine__str(data, "step"), id, sizeof id);
        sub_delete(ws, id);
    } else if (!strcmp(type, "timer.fired")) {
        const cJSON *k = JGET(JGET(run->state, "keys"), engine__str(data, "step"));
        if (*engine__str(k, "event_type")) { /* a wait_event step timed out */
            sub_id_of(run, engine__str(data, "step"), id, sizeof id);
            sub_delete(ws, id);
        }
    } else if (closes(type)) {
        const cJSON *subs = JGET(run->state, "esubs");
        if (subs && subs->child)
            subs_delete_run(ws, run->run_id);
    }
}

/* The deletes probe their keys: an IN over a JSON set was planned as a
 * join that, with the plan made on a small table (a fresh deployment's),
 * read every waiting row once per statement; sub_id = ANY(...) filtered
 * the namespace's rows. Each sub id is looked up on its own (a lateral
 * subquery OFFSET 0 keeps unflattened) and the rows deleted by ctid (a
 * run's rows change only under its workflow's lock, which the batch holds). */
static const char WRITE_SQL[] =
    "WITH d AS (DELETE FROM event_subs WHERE ctid = ANY(ARRAY(SELECT s.ctid"
    " FROM json_array_elements_text($2::json) AS k(id) CROSS JOIN LATERAL (SELECT ctid"
    " FROM event_subs WHERE namespace = $1 AND sub_id = k.id OFFSET 0) AS s))),"
    " dr AS (DELETE FROM event_subs WHERE run_id = ANY(ARRAY("
    "SELECT json_array_elements_text($3::json)::uuid)))"
    " INSERT INTO event_subs (namespace, sub_id, run_id, workflow_id, kind, type, step, data,"
    " created_at, expires_at, kpath, kval) SELECT $1, s, r, w, k, t, p, d,"
    " to_timestamp(c / 1000.0), to_timestamp(x / 1000.0), kp, kv FROM json_to_recordset($4::json)"
    " AS x(s text, r uuid, w text, k text, t text, p text, d json, c float8, x float8, kp text,"
    " kv text)"
    " ON CONFLICT (namespace, sub_id) DO UPDATE SET run_id = EXCLUDED.run_id, data = EXCLUDED.data,"
    " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, kpath = EXCLUDED.kpath,"
    " kval = EXCLUDED.kval";

sy_status engine__corr_write(engine__ws *ws, sy_error *err)
{
    struct engine__corr_ws *c = ws->corr;
    if (!c || (!c->nins && !c->ndel && !c->ndel_runs))
        return SY_OK;
    sy_buf ins = SY_BUF_INIT, del = SY_BUF_INIT, runs = SY_BUF_INIT;
    sy_buf_putc(&ins, '[');
    size_t n = 0;
    for (size_t i = 0; i < c->nins; i++)
        if (!c->ins[i].dropped) {
            if (n++)
                sy_buf_putc(&ins, ',');
            sy_buf_puts(&ins, c->ins[i].json);
        }
    sy_buf_putc(&ins, ']');
    sy_buf_printf(&del, "[%s]", c->del.len ? c->del.data : "");
    sy_buf_printf(&runs, "[%s]", c->del_runs.len ? c->del_runs.data : "");
    const char *p[] = {ws->eng->ns, del.data, runs.data, ins.data};
    sy_status st = engine__exec(ws->s, WRITE_SQL, 4, p, NULL, err);
    sy_buf_cleanup(&ins);
    sy_buf_cleanup(&del);
    sy_buf_cleanup(&runs);
    return st;
}

/* ---- matching (engine__corr_apply) -------------------------------------------------- */

typedef struct csub {
    char *sub_id, *run_id, *wid, *kind, *type, *step;
    cJSON *data;              /* owned: {where, ctx, lookback_ms, name} */
    int64_t created, expires; /* expires 0: never */
} csub;

static void csubs_free(csub *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].sub_id);
        free(s[i].run_id);
        free(s[i].wid);
        free(s[i].kind);
        free(s[i].type);
        free(s[i].step);
        cJSON_Delete(s[i].data);
    }
    free(s);
}

#define SUB_COLS                                                                                   \
    "sub_id, run_id, workflow_id, kind, type, step, data::text,"                                   \
    " (extract(epoch FROM created_at) * 1000)::bigint,"                                            \
    " coalesce((extract(epoch FROM expires_at) * 1000)::bigint, 0)"

static char *col(PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? NULL : strdup(PQgetvalue(r, i, c));
}

static sy_status read_subs(engine_session *s, const char *sql, int n, const char *const *p,
                           csub **out, size_t *nout, sy_error *err)
{
    PGresult *r = NULL;
    *out = NULL;
    *nout = 0;
    sy_status st = engine__exec(s, sql, n, p, &r, err);
    if (st != SY_OK)
        return st;
    int rows = PQntuples(r);
    csub *subs = calloc(rows ? (size_t)rows : 1, sizeof *subs);
    for (int i = 0; i < rows; i++) {
        csub *x = &subs[i];
        x->sub_id = col(r, i, 0);
        x->run_id = col(r, i, 1);
        x->wid = col(r, i, 2);
        x->kind = col(r, i, 3);
        x->type = col(r, i, 4);
        x->step = col(r, i, 5);
        x->data = cJSON_Parse(PQgetvalue(r, i, 6));
        x->created = atoll(PQgetvalue(r, i, 7));
        x->expires = atoll(PQgetvalue(r, i, 8));
    }
    PQclear(r);
    *out = subs;
    *nout = (size_t)rows;
    return SY_OK;
}

/* Whether event ev (envelope JSON) that came at 'at' is one sub waits for. */
static int64_t sub_from(const csub *sub)
{
    int64_t from = sub->created - CORR_GRACE_MS;
    if (!strcmp(sub->kind, "wait"))
        from -= engine__num(sub->data, "lookback_ms");
    return from;
}

static bool sub_matches(const csub *sub, const cJSON *ev, int64_t at)
{
    int64_t from = sub_from(sub);
    if (at < from || (sub->expires && at >= sub->expires) ||
        !strcmp(engine__str(sub->data, "cause"), engine__str(ev, "event_id")))
        return false;
    cJSON *ctx = JGET(sub->data, "ctx");
    if (!cJSON_IsObject(ctx))
        return false;
    cJSON_AddItemReferenceToObject(ctx, "event", (cJSON *)ev);
    bool yes = false;
    sy_error e = {0};
    if (engine__eval(engine__str(sub->data, "where"), ctx, &yes, &e) != SY_OK)
        yes = false; /* checked at load: only a definition changed under a run gets here */
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "event");
    return yes;
}

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The op that a match of sub by event ev asks for, on event index bev. */
static void add_match(engine_batch *b, size_t bev, const csub *sub, const cJSON *ev)
{
    bool cancel = !strcmp(sub->kind, "cancel");
    engine__op *o = engine__batch_add_op(b, bev, cancel ? OP_CANCEL : OP_EVENT);
    const char *event_id = engine__str(ev, "event_id"), *trace = engine__str(ev, "trace_id");
    free(o->event_id);
    o->event_id = dup(event_id);
    o->trace_id = *trace ? dup(trace) : NULL;
    o->wid = dup(sub->wid);
    o->run_id = dup(sub->run_id);
    o->corr = true;
    if (cancel) {
        char why[400];
        snprintf(why, sizeof why, "cancel_on: %.120s event %.200s", sub->type, event_id);
        o->reason = strdup(why);
    } else {
        o->step = dup(sub->step);
        o->payload = cJSON_Duplicate(ev, 1);
    }
}

/* 64-bit advisory lock keys of (namespace, type), sorted, each with
 * whether this batch takes it exclusively. */
typedef struct lockkey {
    int64_t key;
    bool excl;
} lockkey;

static int cmp_lock(const void *a, const void *b)
{
    int64_t x = ((const lockkey *)a)->key, y = ((const lockkey *)b)->key;
    return x < y ? -1 : x > y;
}

static int64_t type_key(const engine *eng, const char *type)
{
    char buf[512];
    sy_concat(buf, sizeof buf, "sy.corr\n", eng->ns, "\n", type);
    return (int64_t)engine__hash(buf);
}

static sy_status take_locks(engine_session *s, lockkey *k, size_t n, sy_error *err)
{
    if (!n)
        return SY_OK;
    qsort(k, n, sizeof *k, cmp_lock);
    sy_buf keys = SY_BUF_INIT, excl = SY_BUF_INIT;
    sy_buf_putc(&keys, '{');
    sy_buf_putc(&excl, '{');
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u && k[u - 1].key == k[i].key) {
            k[u - 1].excl |= k[i].excl;
            continue;
        }
        k[u++] = k[i];
    }
    for (size_t i = 0; i < u; i++) {
        char num[24];
        sy_buf_printf(&keys, "%s%s", i ? "," : "", sy_i64(num, k[i].key));
        sy_buf_printf(&excl, "%s%s", i ? "," : "", k[i].excl ? "t" : "f");
    }
    sy_buf_putc(&keys, '}');
    sy_buf_putc(&excl, '}');
    /* a function scan of unnest yields the array's order: the keys are
     * taken in ascending order by every batch, so no two deadlock */
    const char *p[] = {keys.data, excl.data};
    sy_status st = engine__exec(s,
                                "SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(k)::text"
                                " ELSE pg_advisory_xact_lock_shared(k)::text END)"
                                " FROM unnest($1::int8[], $2::bool[]) AS u(k, x)",
                                2, p, NULL, err);
    sy_buf_cleanup(&keys);
    sy_buf_cleanup(&excl);
    return st;
}

/* How long events of type are kept: the longest lookback of the loaded
 * definitions' wait_event steps on it, at least CORR_KEEP_MIN_MS. */
static void max_lookback(const cJSON *steps, const char *type, int64_t *max)
{
    const cJSON *st;
    cJSON_ArrayForEach(st, steps)
    {
        if (!strcmp(engine__str(st, "kind"), "wait_event") &&
            !strcmp(engine__str(st, "event_type"), type) && engine__num(st, "lookback_ms") > *max)
            *max = engine__num(st, "lookback_ms");
        max_lookback(JGET(st, "then"), type, max);
        max_lookback(JGET(st, "else"), type, max);
    }
}

static int64_t keep_ms(const engine *eng, const char *type)
{
    int64_t max = CORR_KEEP_MIN_MS;
    for (size_t i = 0; i < eng->ndefs; i++)
        max_lookback(JGET(eng->defs[i].body, "steps"), type, &max);
    return max;
}

static sy_status store_events(engine__ws *ws, engine_batch *b, sy_error *err)
{
    sy_buf rows = SY_BUF_INIT;
    sy_buf_putc(&rows, '[');
    size_t n = 0;
    for (size_t i = 0; i < b->nev; i++) {
        const engine__bevent *e = &b->evs[i];
        if (!e->corr || e->dup)
            continue;
        const char *type = engine__str(e->corr, "type");
        cJSON *row = cJSON_CreateObject();
        JADD(row, "e", cJSON_CreateString(engine__str(e->corr, "event_id")));
        JADD(row, "t", cJSON_CreateString(type));
        JADD(row, "b", cJSON_Duplicate(e->corr, 1));
        int64_t at = engine__corr_at(ws, e);
        JADD(row, "a", cJSON_CreateNumber((double)at));
        JADD(row, "x", cJSON_CreateNumber((double)(at + keep_ms(ws->eng, type))));
        char *text = cJSON_PrintUnformatted(row);
        cJSON_Delete(row);
        if (n++)
            sy_buf_putc(&rows, ',');
        sy_buf_puts(&rows, text);
        free(text);
    }
    sy_buf_putc(&rows, ']');
    const char *p[] = {ws->eng->ns, rows.data};
    sy_status st =
        n ? engine__exec(ws->s,
                         "INSERT INTO corr_events (namespace, event_id, type, at, body, expires_at)"
                         " SELECT $1, e, t, to_timestamp(a / 1000.0), b,"
                         " to_timestamp(x / 1000.0) FROM json_to_recordset($2::json)"
                         " AS r(e text, t text, b json, a float8, x float8) ON CONFLICT DO NOTHING",
                         2, p, NULL, err)
          : SY_OK;
    sy_buf_cleanup(&rows);
    return st;
}

/* The key paths the rows waiting for the batch's types are keyed by:
 * [{t: type, p: path}], distinct, each found by a descent of the
 * event_subs_key index (a loose index scan: a few probes per path, not a
 * read of the rows). */
static const char PATHS_SQL[] =
    "WITH RECURSIVE p(t, k) AS (SELECT t, (SELECT min(s.kpath) FROM event_subs s"
    " WHERE s.namespace = $1 AND s.type = t AND s.kpath IS NOT NULL)"
    " FROM json_array_elements_text($2::json) AS t"
    " UNION ALL SELECT p.t, (SELECT min(s.kpath) FROM event_subs s WHERE s.namespace = $1"
    " AND s.type = p.t AND s.kpath IS NOT NULL AND s.kpath > p.k) FROM p WHERE p.k IS NOT NULL)"
    " SELECT t, k FROM p WHERE k IS NOT NULL";

/* The (type, path, key) of each event of the batch under each path its
 * type's rows are keyed by, as a JSON array for MATCH_SQL. */
static sy_status event_keys(engine__ws *ws, engine_batch *b, sy_buf *types, sy_buf *out,
                            sy_error *err)
{
    PGresult *r = NULL;
    const char *p[] = {ws->eng->ns, types->data};
    sy_status st = engine__exec(ws->s, PATHS_SQL, 2, p, &r, err);
    cJSON *keys = cJSON_CreateArray();
    for (int j = 0; st == SY_OK && j < PQntuples(r); j++) {
        const char *type = PQgetvalue(r, j, 0), *path = PQgetvalue(r, j, 1);
        for (size_t i = 0; i < b->nev; i++) {
            const engine__bevent *e = &b->evs[i];
            if (!e->corr || e->dup || strcmp(engine__str(e->corr, "type"), type))
                continue;
            char *key = rules_corr_event_key(e->corr, path);
            if (!key)
                continue; /* no keyed where can hold for it */
            cJSON *k = cJSON_CreateObject();
            JADD(k, "t", cJSON_CreateString(type));
            JADD(k, "p", cJSON_CreateString(path));
            JADD(k, "v", cJSON_CreateString(key));
            cJSON_AddItemToArray(keys, k);
            free(key);
        }
    }
    PQclear(r);
    char *text = cJSON_PrintUnformatted(keys);
    sy_buf_puts(out, text);
    free(text);
    cJSON_Delete(keys);
    return st;
}

/* The rows a batch's events may match: those of their types without a key
 * (any `where`: read and evaluated all), and those whose key is what one
 * of the events has at their path (the index, probed once per key). The
 * shapes keep the probes whatever the statistics: each type and each key
 * probes through a lateral subquery that OFFSET 0 keeps from being
 * flattened (an IN over the JSON set of types was a semi join reading the
 * unkeyed rows of every type; = ANY of them a filter over them all; the
 * flattened keys a hash join over a scan of every keyed row). */
static const char MATCH_SQL[] =
    "SELECT u.* FROM json_array_elements_text($2::json) AS t(type) CROSS JOIN LATERAL"
    " (SELECT " SUB_COLS " FROM event_subs WHERE namespace = $1 AND kpath IS NULL"
    " AND type = t.type AND (expires_at IS NULL OR expires_at > to_timestamp($3::float8 / 1000.0))"
    " OFFSET 0) AS u UNION ALL SELECT s.* FROM (SELECT DISTINCT t, p, v"
    " FROM json_to_recordset($4::json) AS q(t text, p text, v text)) AS q"
    " CROSS JOIN LATERAL (SELECT " SUB_COLS " FROM event_subs"
    " WHERE namespace = $1 AND type = q.t AND kpath = q.p AND kval = q.v"
    " AND (expires_at IS NULL OR expires_at > to_timestamp($3::float8 / 1000.0)) OFFSET 0) AS s"
    " ORDER BY 8, 1";

/* The batch's events of correlated types against the rows waiting for them. */
static sy_status match_events(engine__ws *ws, engine_batch *b, sy_buf *types, sy_error *err)
{
    sy_status st = store_events(ws, b, err);
    csub *subs = NULL;
    size_t n = 0;
    char now[24];
    sy_buf keys = SY_BUF_INIT;
    if (st == SY_OK)
        st = event_keys(ws, b, types, &keys, err);
    const char *p[] = {ws->eng->ns, types->data, sy_i64(now, ws->now), sy_buf_str(&keys)};
    if (st == SY_OK)
        st = read_subs(ws->s, MATCH_SQL, 4, p, &subs, &n, err);
    sy_buf_cleanup(&keys);
    size_t nev = b->nev;
    for (size_t i = 0; st == SY_OK && i < nev; i++) {
        const engine__bevent *e = &b->evs[i];
        if (!e->corr || e->dup)
            continue;
        const char *type = engine__str(e->corr, "type");
        for (size_t j = 0; j < n; j++)
            if (!strcmp(subs[j].type, type) &&
                sub_matches(&subs[j], b->evs[i].corr, engine__corr_at(ws, e)))
                add_match(b, i, &subs[j], b->evs[i].corr);
    }
    csubs_free(subs, n);
    return st;
}

/* The lookback of waits that began: their event_scan timers. */
static sy_status scan(engine__ws *ws, engine_batch *b, const csub *subs, size_t n,
                      const size_t *op_ev, sy_error *err)
{
    sy_status st = SY_OK;
    for (size_t i = 0; st == SY_OK && i < n; i++) {
        const csub *sub = &subs[i];
        int64_t from = sub_from(sub);
        char f[24], t[24], lim[24];
        /* a cancel_on looks back only over the grace, and never past the
         * event that started the run when it is stored (an older event of
         * the starting type, routed just before it, does not cancel it) */
        const char *cause = strcmp(sub->kind, "cancel") ? "" : engine__str(sub->data, "cause");
        const char *p[] = {
            ws->eng->ns, sub->type, sy_i64(f, from), sy_i64(t, ws->now), sy_i64(lim, CORR_SCAN_MAX),
            cause};
        PGresult *r = NULL;
        st = engine__exec(
            ws->s,
            "SELECT body::text, (extract(epoch FROM at) * 1000)::bigint FROM corr_events"
            " WHERE namespace = $1 AND type = $2"
            " AND at >= greatest(to_timestamp($3::float8 / 1000.0), (SELECT c.at"
            " FROM corr_events c WHERE c.namespace = $1 AND c.event_id = $6))"
            " AND at <= to_timestamp($4::float8 / 1000.0)"
            " ORDER BY at, event_id LIMIT $5::int",
            6, p, &r, err);
        for (int j = 0; st == SY_OK && j < PQntuples(r); j++) {
            cJSON *ev = cJSON_Parse(PQgetvalue(r, j, 0));
            if (ev && sub_matches(sub, ev, atoll(PQgetvalue(r, j, 1))))
                add_match(b, op_ev[i], sub, ev);
            cJSON_Delete(ev);
        }
        PQclear(r);
    }
    return st;
}

/* The batch's event_scan timers: held (they are not applied as timers),
 * their subscriptions read. */
static sy_status scan_subs(engine__ws *ws, engine_batch *b, csub **subs, size_t *n, size_t **op_ev,
                           sy_error *err)
{
    sy_buf ids = SY_BUF_INIT;
    sy_buf_putc(&ids, '[');
    size_t k = 0;
    for (size_t i = 0; i < b->nops; i++) {
        engine__op *o = &b->ops[i];
        if (o->kind != OP_TIMER || strcmp(o->timer_kind, "event_scan"))
            continue;
        o->held = true;
        list_add(&ids, &k, engine__str(o->timer_data, "sub_id"));
    }
    sy_buf_putc(&ids, ']');
    *subs = NULL;
    *n = 0;
    *op_ev = NULL;
    sy_status st = SY_OK;
    if (k) {
        const char *p[] = {ws->eng->ns, ids.data};
        st = read_subs(ws->s,
                       "SELECT " SUB_COLS " FROM event_subs WHERE namespace = $1 AND sub_id IN"
                       " (SELECT json_array_elements_text($2::json)) ORDER BY created_at, sub_id",
                       2, p, subs, n, err);
    }
    sy_buf_cleanup(&ids);
    if (st != SY_OK || !*n)
        return st;
    /* each scan's matches are ops of its timer's event */
    *op_ev = calloc(*n, sizeof **op_ev);
    for (size_t i = 0; i < *n; i++)
        for (size_t j = 0; j < b->nops; j++) {
            const engine__op *o = &b->ops[j];
            if (o->kind == OP_TIMER && !strcmp(o->timer_kind, "event_scan") &&
                !strcmp(engine__str(o->timer_data, "sub_id"), (*subs)[i].sub_id)) {
                (*op_ev)[i] = o->ev;
                break;
            }
        }
    return SY_OK;
}

sy_status engine__corr_apply(engine__ws *ws, engine_batch *b, sy_error *err)
{
    /* a batch applied again (SY_BUSY) matches again: drop the last attempt's ops */
    if (!b->corr_based) {
        b->corr_based = true;
        b->corr_base = b->nops;
    }
    engine__batch_truncate(b, b->corr_base);
    csub *subs = NULL;
    size_t nsubs = 0, *op_ev = NULL;
    sy_status st = scan_subs(ws, b, &subs, &nsubs, &op_ev, err);
    lockkey *locks = calloc(b->nev + nsubs + 1, sizeof *locks);
    size_t nlocks = 0, nevents = 0;
    sy_buf types = SY_BUF_INIT;
    sy_buf_putc(&types, '[');
    for (size_t i = 0; i < b->nev; i++) {
        const engine__bevent *e = &b->evs[i];
        if (!e->corr || e->dup)
            continue;
        const char *type = engine__str(e->corr, "type");
        locks[nlocks++] = (lockkey){type_key(ws->eng, type), false};
        list_add(&types, &nevents, type);
    }
    sy_buf_putc(&types, ']');
    for (size_t i = 0; i < nsubs; i++)
        locks[nlocks++] = (lockkey){type_key(ws->eng, subs[i].type), true};
    if (st == SY_OK)
        st = take_locks(ws->s, locks, nlocks, err);
    if (st == SY_OK && nevents)
        st = match_events(ws, b, &types, err);
    if (st == SY_OK && nevents)
        st = engine__join_apply(ws, b, err);
    if (st == SY_OK && nsubs)
        st = scan(ws, b, subs, nsubs, op_ev, err);
    csubs_free(subs, nsubs);
    free(op_ev);
    free(locks);
    sy_buf_cleanup(&types);
    return st;
}

bool engine__corr_needed(const engine_batch *b)
{
    if (b->corr_any || b->corr_based)
        return true;
    for (size_t i = 0; i < b->nops; i++)
        if (b->ops[i].kind == OP_TIMER && !strcmp(b->ops[i].timer_kind, "event_scan"))
            return true;
    return false;
}

void engine_batch_correlate_at(engine_batch *b, size_t ev, const cJSON *event, int64_t at_ms)
{
    if (ev >= b->nev || !event)
        return;
    cJSON_Delete(b->evs[ev].corr);
    b->evs[ev].corr = cJSON_Duplicate(event, 1);
    b->evs[ev].corr_at = at_ms > 0 ? at_ms : 0;
    b->corr_any = true;
}

void engine_batch_correlate(engine_batch *b, size_t ev, const cJSON *event)
{
    engine_batch_correlate_at(b, ev, event, 0);
}

int64_t engine__corr_at(const engine__ws *ws, const engine__bevent *e)
{
    return e->corr_at ? e->corr_at : ws->now;
}

/* ---- reading -------------------------------------------------------------------------- */

static const char DESCRIBE_SQL[] =
    "SELECT coalesce(json_agg(json_build_object('kind', CASE kind WHEN 'wait' THEN 'wait_event'"
    " ELSE 'cancel_on' END, 'type', type, 'step', data->>'name', 'where', data->>'where',"
    " 'since', created_at, 'until', expires_at) ORDER BY created_at, sub_id), '[]')::text"
    " FROM event_subs WHERE run_id = $1::uuid";

sy_status engine__corr_describe(engine_session *s, cJSON *out, sy_error *err)
{
    const char *run_id = cJSON_GetStringValue(JGET(out, "run_id"));
    const char *status = cJSON_GetStringValue(JGET(out, "status"));
    if (!run_id || !status || strcmp(status, "running") != 0)
        return SY_OK;
    const char *p[] = {run_id};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, DESCRIBE_SQL, 1, p, &r, err);
    if (st != SY_OK)
        return st;
    cJSON *list = cJSON_Parse(PQntuples(r) ? PQgetvalue(r, 0, 0) : "[]");
    PQclear(r);
    if (cJSON_GetArraySize(list) > 0)
        cJSON_AddItemToObject(out, "waiting_for", list);
    else
        cJSON_Delete(list);
    return SY_OK;
}
