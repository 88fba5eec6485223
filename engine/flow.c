/* flow.c: flow control on the batch path (flow.h, docs/flow-control.md).
 *
 * engine__flow_apply runs inside engine_batch_apply, after the inbox (a
 * duplicate event never reaches it) and before any workflow is locked:
 *   1. the keys of every stage of the batch's flows, sorted (every session
 *      locks them in the same order), locked FOR UPDATE and read: one row
 *      of flow_keys per (route, stage, key), its state rules/flow.c's JSON;
 *   2. the flows in event order, each stage in turn decided by rules/flow.c
 *      on the key's state in memory: the first stage that drops (dedupe,
 *      rate_limit) or holds (debounce, throttle, batch) the op marks it
 *      held, so the rest of the batch leaves it alone;
 *   3. one statement writes the keys back (existing rows updated, new ones
 *      inserted: two first events of one key in concurrent batches collide
 *      on the primary key, SY_BUSY, and the batch is applied again, now
 *      seeing the row) and inserts the held items, with a NOTIFY to the
 *      timer loops when something new is held.
 * All in the batch's transaction: the decision, the held action and the
 * event's inbox row commit together, or not at all. */
#include "flow.h"

#include "batch.h"
#include "timefmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct engine__flow {
    size_t op;
    char *route;
    size_t n;
    rules_flow_spec spec[RULES_FLOW_MAX];
    char *key[RULES_FLOW_MAX];
    cJSON *event;        /* the envelope, for a batch stage (owned) */
    int64_t occurred_at; /* the event's, ms (debounce: the latest is held) */
    rules_flow_outcome outcome;
    int64_t fire_at;
} engine__flow;

struct engine__flows {
    engine__flow *items;
    size_t n, cap;
};

static void flow_cleanup(engine__flow *f)
{
    free(f->route);
    for (size_t i = 0; i < f->n; i++)
        free(f->key[i]);
    cJSON_Delete(f->event);
}

void engine__flows_reset(engine_batch *b)
{
    if (!b->flows)
        return;
    for (size_t i = 0; i < b->flows->n; i++)
        flow_cleanup(&b->flows->items[i]);
    b->flows->n = 0;
}

void engine__flows_free(engine_batch *b)
{
    engine__flows_reset(b);
    if (b->flows)
        free(b->flows->items);
    free(b->flows);
    b->flows = NULL;
}

size_t engine_batch_flow(engine_batch *b, const char *route, const rules_flow_stage *stages,
                         size_t n, const cJSON *event)
{
    if (!b->nops || !n || n > RULES_FLOW_MAX)
        return SIZE_MAX;
    if (!b->flows)
        b->flows = calloc(1, sizeof *b->flows);
    struct engine__flows *fl = b->flows;
    if (fl->n == fl->cap) {
        fl->cap = fl->cap ? 2 * fl->cap : 16;
        fl->items = realloc(fl->items, fl->cap * sizeof *fl->items);
    }
    engine__flow *f = &fl->items[fl->n];
    memset(f, 0, sizeof *f);
    f->op = b->nops - 1;
    f->route = strdup(route ? route : "");
    for (size_t i = 0; i < n; i++) {
        f->spec[i] = *stages[i].spec;
        f->spec[i].key_tmpl = NULL; /* not kept: the set may go away */
        f->key[i] = strdup(stages[i].key ? stages[i].key : "");
        if (f->spec[i].kind == RULES_FLOW_BATCH && event)
            f->event = cJSON_Duplicate(event, 1);
    }
    f->n = n;
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(event, "occurred_at"));
    sy_error e;
    if (!at || sy_time_parse_rfc3339(at, NULL, &f->occurred_at, &e) != SY_OK)
        f->occurred_at = 0;
    return fl->n++;
}

rules_flow_outcome engine_batch_flow_outcome(const engine_batch *b, size_t h)
{
    return b->flows && h < b->flows->n ? b->flows->items[h].outcome : RULES_FLOW_OUT_NONE;
}

int64_t engine_batch_flow_fire_at(const engine_batch *b, size_t h)
{
    return b->flows && h < b->flows->n ? b->flows->items[h].fire_at : 0;
}

/* ---- held actions as JSON --------------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static void start_json(cJSON *o, const engine__start *st)
{
    add_str(o, "workflow", st->type);
    add_str(o, "workflow_id", st->wid);
    add_str(o, "task_queue", st->queue);
    if (st->input)
        cJSON_AddItemToObject(o, "input", cJSON_Duplicate(st->input, 1));
    cJSON_AddNumberToObject(o, "if_running", st->if_running);
    cJSON_AddNumberToObject(o, "if_closed", st->if_closed);
}

cJSON *engine__op_request(const engine__op *o, const char *route, const cJSON *event)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "op", o->kind == OP_SIGNAL ? "signal" : "start");
    add_str(r, "route", route);
    add_str(r, "event_id", o->event_id);
    add_str(r, "trace_id", o->trace_id);
    add_str(r, "tracestate", o->kind == OP_START ? o->start.tracestate : o->tracestate);
    if (o->kind == OP_START) {
        start_json(r, &o->start);
    } else {
        add_str(r, "workflow_id", o->wid);
        add_str(r, "signal", o->signal);
        cJSON_AddItemToObject(r, "payload", cJSON_Duplicate(o->payload, 1));
        cJSON_AddNumberToObject(r, "if_missing", o->if_missing);
        if (o->has_start)
            start_json(cJSON_AddObjectToObject(r, "start"), &o->start);
    }
    if (event)
        cJSON_AddItemToObject(r, "event", cJSON_Duplicate(event, 1));
    return r;
}

/* What the timer loop needs to apply op later (engine__batch_request). */
static cJSON *op_request(const engine__op *o, const engine__flow *f)
{
    return engine__op_request(o, f->route, f->event);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int jint(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

static engine_start_req start_req(const cJSON *o, const cJSON *r, const cJSON *input)
{
    return (engine_start_req){.workflow_type = jstr(o, "workflow"),
                              .workflow_id = jstr(o, "workflow_id"),
                              .input = input,
                              .task_queue = jstr(o, "task_queue"),
                              .if_running = (rules_if_running)jint(o, "if_running"),
                              .if_closed = (rules_if_closed)jint(o, "if_closed"),
                              .event_id = jstr(r, "event_id"),
                              .trace_id = jstr(r, "trace_id"),
                              .tracestate = jstr(r, "tracestate")};
}

void engine__batch_request(engine_batch *b, const cJSON *req, cJSON *events)
{
    size_t ev = engine_batch_event(b, NULL);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    cJSON *batch_input = NULL;
    if (events) { /* a batch: its first action, with input.events the batch's events */
        batch_input = cJSON_IsObject(input) ? cJSON_Duplicate(input, 1) : cJSON_CreateObject();
        cJSON_DeleteItemFromObjectCaseSensitive(batch_input, "events");
        cJSON_AddItemToObject(batch_input, "events", events);
        input = batch_input;
    }
    if (strcmp(jstr(req, "op") ? jstr(req, "op") : "", "signal") != 0) {
        engine_start_req st = start_req(req, req, input);
        engine_batch_start(b, ev, &st);
    } else {
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "start");
        engine_start_req st = start_req(so, req, cJSON_GetObjectItemCaseSensitive(so, "input"));
        engine_signal_req sig = {.workflow_id = jstr(req, "workflow_id"),
                                 .signal = jstr(req, "signal"),
                                 .payload = cJSON_GetObjectItemCaseSensitive(req, "payload"),
                                 .event_id = jstr(req, "event_id"),
                                 .trace_id = jstr(req, "trace_id"),
                                 .tracestate = jstr(req, "tracestate"),
                                 .if_missing = (rules_if_missing)jint(req, "if_missing"),
                                 .start = so ? &st : NULL};
        engine_batch_signal(b, ev, &sig);
    }
    cJSON_Delete(batch_input);
}

/* ---- the keys of a batch -------------------------------------------------------------- */

typedef struct fentry {
    char *fkey;                  /* owned: "<route>\n<stage>\n<key>" */
    const char *route, *key;     /* borrowed from a flow */
    const rules_flow_spec *spec; /* the last stage decided on it */
    rules_flow_state st;
    bool exists, dirty, held;
    cJSON *pending; /* debounce: the held action (owned), when set */
    bool pending_set;
    const char *wid; /* the held action's workflow (borrowed), when set */
    bool wid_set;
} fentry;

typedef struct fctx {
    fentry *e;
    size_t n;
    cJSON *items; /* flow_items rows to insert */
    bool notify;
} fctx;

static char *make_fkey(const char *route, rules_flow_kind k, const char *key)
{
    sy_buf b = SY_BUF_INIT;
    sy_buf_puts(&b, route);
    sy_buf_putc(&b, '\n');
    sy_buf_puts(&b, rules_flow_kind_name(k));
    sy_buf_putc(&b, '\n');
    sy_buf_puts(&b, key);
    return sy_buf_take(&b);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const fentry *)a)->fkey, ((const fentry *)b)->fkey);
}

static fentry *find(fctx *c, const char *fkey)
{
    fentry k = {.fkey = (char *)fkey};
    return bsearch(&k, c->e, c->n, sizeof *c->e, cmp_entry);
}

/* The sorted, unique keys of the flows whose events are new. */
static void collect(fctx *c, engine_batch *b)
{
    struct engine__flows *fl = b->flows;
    size_t cap = 0;
    for (size_t i = 0; i < fl->n; i++)
        cap += fl->items[i].n;
    c->e = calloc(cap ? cap : 1, sizeof *c->e);
    for (size_t i = 0; i < fl->n; i++) {
        engine__flow *f = &fl->items[i];
        engine__op *o = &b->ops[f->op];
        f->outcome = RULES_FLOW_OUT_NONE;
        f->fire_at = 0;
        o->held = false;
        if (b->evs[o->ev].dup)
            continue;
        for (size_t j = 0; j < f->n; j++) {
            fentry *e = &c->e[c->n++];
            e->fkey = make_fkey(f->route, f->spec[j].kind, f->key[j]);
            e->route = f->route;
            e->key = f->key[j];
            e->spec = &f->spec[j];
        }
    }
    qsort(c->e, c->n, sizeof *c->e, cmp_entry);
    size_t u = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (u && !strcmp(c->e[u - 1].fkey, c->e[i].fkey)) {
            free(c->e[i].fkey);
            continue;
        }
        c->e[u++] = c->e[i];
    }
    c->n = u;
}

static void fctx_cleanup(fctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].fkey);
        rules_flow_state_cleanup(&c->e[i].st);
        cJSON_Delete(c->e[i].pending);
    }
    free(c->e);
    cJSON_Delete(c->items);
}

static sy_status lock_keys(engine_session *s, fctx *c, sy_error *err)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < c->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(c->e[i].fkey));
    char *keys = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    const char *p[] = {s->eng->ns, keys};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "SELECT k.n, x.state::text FROM json_array_elements_text($2::json) WITH ORDINALITY"
        " AS k(f, n) CROSS JOIN LATERAL (SELECT state FROM flow_keys WHERE namespace = $1"
        " AND fkey = k.f FOR UPDATE) AS x",
        2, p, &r, err);
    free(keys);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        size_t k = (size_t)atoll(PQgetvalue(r, i, 0));
        if (k < 1 || k > c->n)
            continue;
        fentry *e = &c->e[k - 1];
        cJSON *j = cJSON_Parse(PQgetvalue(r, i, 1));
        rules_flow_spec stored;
        if (j && rules_flow_state_parse(j, &stored, &e->st) == SY_OK)
            e->exists = true;
        else
            st = sy_error_set(err, SY_INTERNAL, "bad_flow_state", NULL,
                              "flow key %.200s has an unreadable state", e->fkey);
        cJSON_Delete(j);
    }
    PQclear(r);
    return st;
}

/* ---- deciding ------------------------------------------------------------------------ */

static void hold(fctx *c, fentry *e, const engine__op *o, const engine__flow *f)
{
    cJSON *req = op_request(o, f);
    e->held = true;
    c->notify = true;
    if (e->spec->kind == RULES_FLOW_DEBOUNCE) { /* the last event replaces the held one */
        if (!rules_flow_debounce_takes(&e->st, f->occurred_at)) {
            cJSON_Delete(req); /* older than the one held: it only delays it */
            return;
        }
        cJSON_Delete(e->pending);
        e->pending = req;
        e->pending_set = true;
        e->wid = o->wid;
        e->wid_set = true;
        return;
    }
    if (e->spec->kind == RULES_FLOW_BATCH && e->st.n == 1) {
        e->wid = o->wid; /* a batch starts as its first action */
        e->wid_set = true;
    }
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "f", e->fkey);
    cJSON_AddNumberToObject(it, "q", (double)(e->st.seq - 1));
    add_str(it, "w", o->wid);
    cJSON_AddItemToObject(it, "p", req);
    if (!c->items)
        c->items = cJSON_CreateArray();
    cJSON_AddItemToArray(c->items, it);
}

static void decide(fctx *c, engine_batch *b, engine__flow *f, int64_t now)
{
    engine__op *o = &b->ops[f->op];
    f->outcome = RULES_FLOW_OUT_PASSED;
    for (size_t j = 0; j < f->n; j++) {
        char *fk = make_fkey(f->route, f->spec[j].kind, f->key[j]);
        fentry *e = find(c, fk);
        free(fk);
        if (!e)
            continue;
        e->spec = &f->spec[j];
        e->dirty = true;
        rules_flow_outcome out = rules_flow_on_event(e->spec, &e->st, now);
        if (out == RULES_FLOW_OUT_PASSED)
            continue;
        f->outcome = out;
        o->held = true;
        if (out == RULES_FLOW_OUT_DEBOUNCED || out == RULES_FLOW_OUT_THROTTLED ||
            out == RULES_FLOW_OUT_BATCHED) {
            f->fire_at = rules_flow_held_due(e->spec, &e->st);
            hold(c, e, o, f);
        }
        return;
    }
}

/* ---- writing ------------------------------------------------------------------------- */

static cJSON *key_row(const fentry *e)
{
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "f", e->fkey);
    cJSON_AddStringToObject(k, "r", e->route);
    cJSON_AddStringToObject(k, "y", rules_flow_kind_name(e->spec->kind));
    cJSON_AddStringToObject(k, "k", e->key);
    cJSON_AddItemToObject(k, "s", rules_flow_state_json(e->spec, &e->st));
    if (e->st.fire_at)
        cJSON_AddNumberToObject(k, "fa", (double)e->st.fire_at);
    if (e->pending_set)
        cJSON_AddItemToObject(k, "p", cJSON_Duplicate(e->pending, 1));
    cJSON_AddBoolToObject(k, "pc", e->pending_set);
    add_str(k, "w", e->wid_set ? e->wid : NULL);
    cJSON_AddBoolToObject(k, "wc", e->wid_set);
    int64_t ex = rules_flow_expires(e->spec, &e->st);
    if (ex != INT64_MAX)
        cJSON_AddNumberToObject(k, "ex", (double)ex);
    cJSON_AddBoolToObject(k, "e", e->exists);
    return k;
}

#define KEY_COLS                                                                                   \
    "AS x(f text, r text, y text, k text, s json, fa float8, p json, pc bool, w text, wc bool,"    \
    " ex float8, e bool)"

/* Also the timer loop's statement (flow_due.c): $1 namespace, $2 key
 * rows, $3 items to insert, $4 notify. */
const char engine__flow_write_sql[] =
    "WITH up AS (UPDATE flow_keys f SET state = x.s, fire_at = to_timestamp(x.fa / 1000.0),"
    " pending = CASE WHEN x.pc THEN x.p ELSE f.pending END,"
    " workflow_id = CASE WHEN x.wc THEN x.w ELSE f.workflow_id END,"
    " expires_at = coalesce(to_timestamp(x.ex / 1000.0), 'infinity'), updated_at = now()"
    " FROM json_to_recordset($2::json) " KEY_COLS " WHERE x.e AND f.namespace = $1"
    " AND f.fkey = x.f),"
    " ins AS (INSERT INTO flow_keys (namespace, fkey, route, kind, key, state, fire_at, pending,"
    " workflow_id, expires_at, updated_at) SELECT $1, x.f, x.r, x.y, x.k, x.s,"
    " to_timestamp(x.fa / 1000.0), x.p, x.w, coalesce(to_timestamp(x.ex / 1000.0), 'infinity'),"
    " now() FROM json_to_recordset($2::json) " KEY_COLS " WHERE NOT x.e),"
    " it AS (INSERT INTO flow_items (namespace, fkey, seq, workflow_id, request, created_at)"
    " SELECT $1, x.f, x.q, x.w, x.p, now() FROM json_to_recordset($3::json)"
    " AS x(f text, q bigint, w text, p json))"
    " SELECT CASE WHEN $4::bool THEN pg_notify('switchyard_timers', '') END";

static sy_status write_keys(engine_session *s, fctx *c, sy_error *err)
{
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].dirty)
            cJSON_AddItemToArray(rows, key_row(&c->e[i]));
    if (!cJSON_GetArraySize(rows)) {
        cJSON_Delete(rows);
        return SY_OK;
    }
    char *k = cJSON_PrintUnformatted(rows);
    char *it = c->items ? cJSON_PrintUnformatted(c->items) : strdup("[]");
    cJSON_Delete(rows);
    const char *p[] = {s->eng->ns, k, it, c->notify ? "true" : "false"};
    sy_status st = engine__exec(s, engine__flow_write_sql, 4, p, NULL, err);
    free(k);
    free(it);
    return st;
}

sy_status engine__flow_apply(engine__ws *ws, engine_batch *b, sy_error *err)
{
    fctx c = {0};
    collect(&c, b);
    sy_status st = c.n ? lock_keys(ws->s, &c, err) : SY_OK;
    for (size_t i = 0; st == SY_OK && c.n && i < b->flows->n; i++) {
        engine__flow *f = &b->flows->items[i];
        if (!b->evs[b->ops[f->op].ev].dup)
            decide(&c, b, f, ws->now);
    }
    if (st == SY_OK)
        st = write_keys(ws->s, &c, err);
    fctx_cleanup(&c);
    return st;
}

/* ---- describe ---------------------------------------------------------------------- */

/* What flow control holds for a workflow ID: a debounced key's last action
 * or a batch that starts as it (the key row names the ID), and a
 * throttle's queued actions (each item names its own), with when the key
 * is next due and why it waits. */
static const char FLOW_DESCRIBE_SQL[] =
    "SELECT json_agg(x ORDER BY x.fire_at) FROM (SELECT route, kind, key,"
    " CASE kind WHEN 'debounce' THEN 'debounced' ELSE 'batched' END AS outcome, fire_at,"
    " (state->>'n')::bigint AS events, NULL::bigint AS position FROM flow_keys"
    " WHERE namespace = $1 AND workflow_id = $2 AND fire_at IS NOT NULL"
    " UNION ALL SELECT k.route, k.kind, k.key, 'throttled', k.fire_at, 1,"
    " (SELECT count(*) FROM flow_items j WHERE j.namespace = i.namespace AND j.fkey = i.fkey"
    " AND j.seq <= i.seq) FROM flow_items i JOIN flow_keys k ON k.namespace = i.namespace AND"
    " k.fkey = i.fkey WHERE i.namespace = $1 AND i.workflow_id = $2 AND k.kind = 'throttle') x";

sy_status engine__flow_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err)
{
    if (st != SY_OK && st != SY_NOT_FOUND)
        return st;
    const char *p[] = {s->eng->ns, workflow_id};
    cJSON *flow = NULL;
    sy_error ferr = {0};
    sy_status fs = engine__json_query(s, FLOW_DESCRIBE_SQL, 2, p, &flow, &ferr);
    if (fs == SY_NOT_FOUND)
        return st; /* nothing held */
    if (fs != SY_OK) {
        *err = ferr;
        return fs;
    }
    if (st == SY_NOT_FOUND) { /* no run yet: only what flow control holds */
        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "workflow_id", workflow_id);
        cJSON_AddStringToObject(*out, "status", "pending");
        sy_error_clear(err);
    }
    cJSON_AddItemToObject(*out, "flow", flow);
    return SY_OK;
}

sy_status engine_flow_held(engine_session *s, int64_t held[RULES_FLOW_KINDS], sy_error *err)
{
    memset(held, 0, RULES_FLOW_KINDS * sizeof *held);
    const char *p[] = {s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT kind, coalesce(sum((state->>'n')::bigint), 0) FROM"
                                " flow_keys WHERE fire_at IS NOT NULL AND namespace = $1"
                                " GROUP BY kind",
                                1, p, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++)
        for (int k = 0; k < RULES_FLOW_KINDS; k++)
            if (!strcmp(PQgetvalue(r, i, 0), rules_flow_kind_name((rules_flow_kind)k)))
                held[k] = atoll(PQgetvalue(r, i, 1));
    PQclear(r);
    return st;
}
