/* join.c: join routes on the batch path (docs/flow-control.md, "Joins").
 * An event of a join's type is a correlated event (the router hands it to
 * the batch); engine__corr_apply calls here after its own locks. The
 * parts it is (rules_join_hits) name their join rows in join_keys,
 * locked FOR UPDATE in key order; each part is added to its row's events
 * in batch order (a row older than its window starts over), and a row
 * whose parts satisfy the route's `when` renders the route's start
 * (rules_join_start) into the batch and is deleted. The rows are written
 * back in the batch's transaction: an event is part of a join once, a
 * join starts once, across redeliveries, crashes and processes (two
 * batches inserting a new key collide on its primary key: SY_BUSY, the
 * batch is applied again and finds the other's row). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#define JOIN_HITS_MAX 16 /* join parts one event may be */

typedef struct jrow {
    char *jkey, *key;
    size_t route;
    const char *name; /* borrowed from the rules */
    cJSON *events;    /* owned: {part: envelope} */
    int64_t first;
    bool exists, deleted, dirty;
} jrow;

typedef struct jitem {
    size_t ev, row;
    const char *part;
} jitem;

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const jrow *)a)->jkey, ((const jrow *)b)->jkey);
}

static size_t find_row(jrow *rows, size_t n, const char *jkey)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].jkey, jkey))
            return i;
    return SIZE_MAX;
}

/* The rows of the batch's parts, read and locked in key order. */
static sy_status lock_rows(engine__ws *ws, jrow *rows, size_t n, sy_error *err)
{
    cJSON *keys = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(keys, cJSON_CreateString(rows[i].jkey));
    char *text = cJSON_PrintUnformatted(keys);
    cJSON_Delete(keys);
    const char *p[] = {ws->eng->ns, text};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        ws->s,
        "SELECT j.jkey, j.events::text, (extract(epoch FROM j.first_at) * 1000)::bigint"
        " FROM (SELECT k FROM json_array_elements_text($2::json) AS k ORDER BY k COLLATE \"C\")"
        " AS x CROSS JOIN LATERAL (SELECT * FROM join_keys WHERE namespace = $1 AND jkey = x.k"
        " FOR UPDATE) AS j",
        2, p, &r, err);
    free(text);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        size_t at = find_row(rows, n, PQgetvalue(r, i, 0));
        if (at == SIZE_MAX)
            continue;
        rows[at].exists = true;
        cJSON_Delete(rows[at].events);
        rows[at].events = cJSON_Parse(PQgetvalue(r, i, 1));
        rows[at].first = atoll(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return st;
}

/* The start of a complete join, as an op of event ev. */
static void fire(engine__ws *ws, engine_batch *b, size_t ev, jrow *row, const cJSON *env)
{
    const rules_set *set = ws->eng->rules;
    rules_actions acts = {0};
    if (rules_join_start(set, row->route, row->key, row->events, &acts) != SY_OK)
        return;
    for (size_t i = 0; i < acts.len; i++) {
        const rules_action *a = &acts.items[i];
        if (a->kind == RULES_START) {
            engine_start_req req = {.workflow_type = a->workflow,
                                    .workflow_id = a->workflow_id,
                                    .input = a->input,
                                    .task_queue = a->task_queue,
                                    .if_running = a->if_running,
                                    .if_closed = a->if_closed,
                                    .event_id = engine__str(env, "event_id"),
                                    .trace_id = engine__str(env, "trace_id"),
                                    .route = a->route};
            engine_batch_start(b, ev, &req);
            engine__count(ws->s, ENGINE_STAT_JOINS_STARTED);
        } else if (a->kind == RULES_DEAD_LETTER) {
            engine_dead_letter dl = {.event_id = engine__str(env, "event_id"),
                                     .type = engine__str(env, "type"),
                                     .source = engine__str(env, "source"),
                                     .code = a->dl_code,
                                     .message = a->dl_message,
                                     .route = a->route};
            engine_batch_dead_letter(b, ev, &dl);
        }
    }
    rules_actions_cleanup(&acts);
}

/* Adds one part to its row at the time its event came (engine__corr_at):
 * a row past its window starts over. */
static void add_part(engine__ws *ws, engine_batch *b, const jitem *it, jrow *row)
{
    const rules_set *set = ws->eng->rules;
    int64_t window = rules_join_window(set, row->route);
    int64_t at = engine__corr_at(ws, &b->evs[it->ev]); /* a replayed event: its own time */
    if (!row->events || row->deleted || at >= row->first + window) {
        cJSON_Delete(row->events);
        row->events = cJSON_CreateObject();
        row->first = at;
        row->deleted = false;
    }
    const cJSON *env = b->evs[it->ev].corr;
    cJSON_DeleteItemFromObjectCaseSensitive(row->events, it->part);
    cJSON_AddItemToObject(row->events, it->part, cJSON_Duplicate(env, 1));
    row->dirty = true;
    if (!rules_join_ready(set, row->route, row->events))
        return;
    fire(ws, b, it->ev, row, env);
    row->deleted = true;
}

/* The workflow ID the row's start would take now (NULL: not known yet). */
static char *predicted_id(const engine *eng, const jrow *row)
{
    rules_actions acts = {0};
    char *id = NULL;
    if (rules_join_start(eng->rules, row->route, row->key, row->events, &acts) == SY_OK &&
        acts.len && acts.items[0].kind == RULES_START && acts.items[0].workflow_id)
        id = strdup(acts.items[0].workflow_id);
    rules_actions_cleanup(&acts);
    return id;
}

static const char WRITE_SQL[] =
    "WITH d AS (DELETE FROM join_keys WHERE namespace = $1 AND jkey IN"
    " (SELECT json_array_elements_text($2::json))),"
    " u AS (UPDATE join_keys j SET events = x.e, workflow_id = x.w, first_at = to_timestamp(x.f"
    " / 1000.0), expires_at = to_timestamp(x.x / 1000.0), spec = x.s, updated_at = now()"
    " FROM json_to_recordset($3::json) AS x(j text, e json, w text, f float8, x float8, s json)"
    " WHERE j.namespace = $1 AND j.jkey = x.j)"
    " INSERT INTO join_keys (namespace, jkey, route, key, events, workflow_id, first_at,"
    " expires_at, spec, updated_at) SELECT $1, j, r, k, e, w, to_timestamp(f / 1000.0),"
    " to_timestamp(x / 1000.0), s, now() FROM json_to_recordset($4::json)"
    " AS x(j text, r text, k text, e json, w text, f float8, x float8, s json)";

static sy_status write_rows(engine__ws *ws, jrow *rows, size_t n, sy_error *err)
{
    cJSON *del = cJSON_CreateArray(), *upd = cJSON_CreateArray(), *ins = cJSON_CreateArray();
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        jrow *r = &rows[i];
        if (!r->dirty || (r->deleted && !r->exists))
            continue;
        any = true;
        if (r->deleted) {
            cJSON_AddItemToArray(del, cJSON_CreateString(r->jkey));
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        JADD(o, "j", cJSON_CreateString(r->jkey));
        JADD(o, "r", cJSON_CreateString(r->name));
        JADD(o, "k", cJSON_CreateString(r->key));
        JADD(o, "e", cJSON_Duplicate(r->events, 1));
        char *id = predicted_id(ws->eng, r);
        JADD(o, "w", id ? cJSON_CreateString(id) : cJSON_CreateNull());
        free(id);
        JADD(o, "f", cJSON_CreateNumber((double)r->first));
        JADD(o, "x",
             cJSON_CreateNumber((double)(r->first + rules_join_window(ws->eng->rules, r->route))));
        cJSON *spec = rules_join_spec_json(ws->eng->rules, r->route);
        JADD(o, "s", spec ? spec : cJSON_CreateNull());
        cJSON_AddItemToArray(r->exists ? upd : ins, o);
    }
    char *d = cJSON_PrintUnformatted(del), *u = cJSON_PrintUnformatted(upd),
         *i = cJSON_PrintUnformatted(ins);
    const char *p[] = {ws->eng->ns, d, u, i};
    sy_status st = any ? engine__exec(ws->s, WRITE_SQL, 4, p, NULL, err) : SY_OK;
    free(d);
    free(u);
    free(i);
    cJSON_Delete(del);
    cJSON_Delete(upd);
    cJSON_Delete(ins);
    return st;
}

static void rows_free(jrow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].jkey);
        free(rows[i].key);
        cJSON_Delete(rows[i].events);
    }
    free(rows);
}

sy_status engine__join_apply(engine__ws *ws, engine_batch *b, sy_error *err)
{
    const rules_set *set = ws->eng->rules;
    if (!set || !b->corr_any)
        return SY_OK;
    jrow *rows = NULL;
    jitem *items = NULL;
    size_t nrows = 0, nitems = 0, caprows = 0, capitems = 0;
    size_t nev = b->nev;
    for (size_t i = 0; i < nev; i++) {
        if (!b->evs[i].corr || b->evs[i].dup)
            continue;
        rules_join_hit hits[JOIN_HITS_MAX];
        size_t n = rules_join_hits(set, b->evs[i].corr, hits, JOIN_HITS_MAX);
        for (size_t h = 0; h < n; h++) {
            char jkey[RULES_FLOW_KEY_MAX + 300];
            sy_concat(jkey, sizeof jkey, hits[h].name, "\n", hits[h].key);
            size_t at = find_row(rows, nrows, jkey);
            if (at == SIZE_MAX) {
                if (nrows == caprows) {
                    caprows = caprows ? 2 * caprows : 8;
                    rows = realloc(rows, caprows * sizeof *rows);
                }
                rows[nrows] = (jrow){.jkey = strdup(jkey),
                                     .key = strdup(hits[h].key),
                                     .route = hits[h].route,
                                     .name = hits[h].name};
                at = nrows++;
            }
            if (nitems == capitems) {
                capitems = capitems ? 2 * capitems : 8;
                items = realloc(items, capitems * sizeof *items);
            }
            items[nitems++] = (jitem){i, 0, hits[h].part};
            items[nitems - 1].row = at;
            /* the row's index is fixed below, after sorting: keep its key */
            free(hits[h].key);
        }
    }
    sy_status st = SY_OK;
    if (nrows) {
        /* sort the rows, keeping each item's row by key */
        char **item_keys = calloc(nitems, sizeof *item_keys);
        for (size_t i = 0; i < nitems; i++)
            item_keys[i] = rows[items[i].row].jkey;
        qsort(rows, nrows, sizeof *rows, cmp_row);
        for (size_t i = 0; i < nitems; i++)
            items[i].row = find_row(rows, nrows, item_keys[i]);
        free(item_keys);
        st = lock_rows(ws, rows, nrows, err);
        for (size_t i = 0; st == SY_OK && i < nitems; i++)
            add_part(ws, b, &items[i], &rows[items[i].row]);
        if (st == SY_OK)
            st = write_rows(ws, rows, nrows, err);
    }
    rows_free(rows, nrows);
    free(items);
    return st;
}

/* ---- reading ------------------------------------------------------------------------- */

static const char DESCRIBE_SQL[] =
    "SELECT json_agg(json_build_object('route', route, 'key', key, 'events',"
    " (SELECT json_agg(k ORDER BY k) FROM json_object_keys(events) AS k), 'since', first_at,"
    " 'until', expires_at) ORDER BY first_at) FROM join_keys"
    " WHERE namespace = $1 AND workflow_id = $2";

sy_status engine__join_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err)
{
    if (st != SY_OK && st != SY_NOT_FOUND)
        return st;
    const char *p[] = {s->eng->ns, workflow_id};
    cJSON *joins = NULL;
    sy_error jerr = {0};
    sy_status js = engine__json_query(s, DESCRIBE_SQL, 2, p, &joins, &jerr);
    if (js == SY_NOT_FOUND)
        return st;
    if (js != SY_OK) {
        *err = jerr;
        return js;
    }
    if (st == SY_NOT_FOUND) { /* no run yet: what its join has collected */
        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "workflow_id", workflow_id);
        cJSON_AddStringToObject(*out, "status", "pending");
        sy_error_clear(err);
    }
    cJSON_AddItemToObject(*out, "join", joins);
    return SY_OK;
}

/* ---- join list / describe (engine_join_list, engine_join_get) ------------------------ */

/* One open join as JSON: which parts arrived (in arrival order), which of
 * the route's parts are missing (in the rules' order; null for a row written
 * before migration 022 recorded the route's parts), its condition, its
 * window's deadline and the ID its start would take. $full: the parts'
 * whole envelopes, else their event_id, type and occurred_at. */
#define JOIN_ITEM_SQL                                                                              \
    "json_build_object('route', j.route, 'key', j.key, 'arrived', (SELECT coalesce(json_agg(a.k"   \
    " ORDER BY a.n), '[]') FROM json_object_keys(j.events) WITH ORDINALITY AS a(k, n)),"           \
    " 'missing', CASE WHEN j.spec IS NOT NULL THEN (SELECT coalesce(json_agg(m.k ORDER BY m.n),"   \
    " '[]') FROM json_object_keys(j.spec->'events') WITH ORDINALITY AS m(k, n)"                    \
    " WHERE j.events->m.k IS NULL) END, 'when', j.spec->>'when', 'workflow_id', j.workflow_id,"    \
    " 'since', j.first_at, 'deadline', j.expires_at, 'events', CASE WHEN $3::bool THEN j.events"   \
    " ELSE (SELECT coalesce(json_object_agg(e.key, json_build_object('event_id',"                  \
    " e.value->>'event_id', 'type', e.value->>'type', 'occurred_at', e.value->>'occurred_at')),"   \
    " '{}') FROM json_each(j.events) AS e) END)"

static const char LIST_SQL[] =
    "WITH p AS (SELECT j.* FROM join_keys j WHERE j.namespace = $1"
    " AND j.expires_at > to_timestamp($2::float8 / 1000.0)"
    " AND ($4::text IS NULL OR j.route = $4)"
    " AND ($5::text IS NULL OR j.jkey > convert_from(decode($5, 'hex'), 'UTF8'))"
    " ORDER BY j.jkey LIMIT $6::int + 1),"
    " k AS (SELECT * FROM p j ORDER BY j.jkey LIMIT $6::int)"
    " SELECT json_build_object('joins', (SELECT coalesce(json_agg(" JOIN_ITEM_SQL
    " ORDER BY j.jkey), '[]') FROM k j), 'next_page_token', CASE WHEN (SELECT count(*) FROM p)"
    " > (SELECT count(*) FROM k) THEN (SELECT encode(convert_to(max(jkey), 'UTF8'), 'hex')"
    " FROM k) END)::text";

static bool hex_token(const char *t)
{
    size_t n = strlen(t);
    if (!n || n % 2 || n > 2 * (RULES_FLOW_KEY_MAX + 300))
        return false;
    for (const char *c = t; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

sy_status engine_join_list(engine_session *s, const engine_join_filter *f, cJSON **out,
                           sy_error *err)
{
    *out = NULL;
    if (f->page_token && !hex_token(f->page_token))
        return sy_error_set(err, SY_INVALID, "bad_page_token", "page_token", "bad page token");
    size_t limit = f->limit ? f->limit : 100;
    if (limit > 1000)
        limit = 1000;
    char now[24], lim[24];
    const char *p[] = {s->eng->ns, sy_i64(now, f->now_ms), "f",
                       f->route,   f->page_token,          sy_i64(lim, (int64_t)limit)};
    return engine__json_query(s, LIST_SQL, 6, p, out, err);
}

static const char GET_SQL[] = "SELECT " JOIN_ITEM_SQL "::text FROM join_keys j"
                              " WHERE j.namespace = $1 AND j.jkey = $4"
                              " AND j.expires_at > to_timestamp($2::float8 / 1000.0)";

sy_status engine_join_get(engine_session *s, const char *route, const char *key, int64_t now_ms,
                          cJSON **out, sy_error *err)
{
    *out = NULL;
    sy_buf jkey = SY_BUF_INIT;
    sy_buf_printf(&jkey, "%s\n%s", route, key);
    char now[24];
    const char *p[] = {s->eng->ns, sy_i64(now, now_ms), "t", jkey.data};
    sy_status st = engine__json_query(s, GET_SQL, 4, p, out, err);
    sy_buf_cleanup(&jkey);
    if (st == SY_NOT_FOUND) {
        sy_error_clear(err);
        return sy_error_set(err, SY_NOT_FOUND, "not_found", NULL,
                            "no open join of route \"%.200s\" for key \"%.300s\"", route, key);
    }
    return st;
}
