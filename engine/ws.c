/* ws.c: the write set of a batch. Every effect of a batch (history rows,
 * outbox rows, run and task rows, timers, definitions, dead letters) is
 * collected in memory while the interpreter runs, then written by ONE
 * statement whose data-modifying CTEs read JSON arrays
 * (json_to_recordset): one round trip per batch however many events it
 * holds. Rows that may change twice in a batch (runs, tasks, timers) are
 * kept once, in their latest version, because a statement may not touch a
 * row twice.
 *
 * engine__emit is the one place where a history event turns into its side
 * effects: the outcome event (docs/outcome-events.md) and task and timer rows. */
#include "engine_int.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

void engine__json_str(sy_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    sy_buf_putc(b, '"');
    for (;;) {
        /* copy the longest run that needs no escaping in one append */
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        if (q > p)
            sy_buf_append(b, p, (size_t)(q - p));
        if (!*q)
            break;
        if (*q == '"' || *q == '\\') {
            char e[2] = {'\\', (char)*q};
            sy_buf_append(b, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[*q >> 4], hex[*q & 15]};
            sy_buf_append(b, e, 6);
        }
        p = q + 1;
    }
    sy_buf_putc(b, '"');
}

/* Appends a decimal integer without printf. */
static void put_int(sy_buf *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    sy_buf_append(b, out, (size_t)n);
}

void engine__json_val(sy_buf *b, const cJSON *v)
{
    if (!v) {
        sy_buf_puts(b, "null");
        return;
    }
    char *t = cJSON_PrintUnformatted(v);
    sy_buf_puts(b, t);
    free(t);
}

/* Starts a new row object in an array buffer. */
static void row_open(sy_buf *b, size_t *n)
{
    sy_buf_puts(b, (*n)++ ? ",{" : "{");
}

static void kv_key(sy_buf *b, const char *k, bool first)
{
    if (!first)
        sy_buf_putc(b, ',');
    sy_buf_putc(b, '"');
    sy_buf_puts(b, k);
    sy_buf_append(b, "\":", 2);
}

static void kv_str(sy_buf *b, const char *k, const char *v, bool first)
{
    kv_key(b, k, first);
    if (v)
        engine__json_str(b, v);
    else
        sy_buf_append(b, "null", 4);
}

static void kv_num(sy_buf *b, const char *k, int64_t v)
{
    kv_key(b, k, false);
    if (v)
        put_int(b, v);
    else
        sy_buf_append(b, "null", 4);
}

engine__ws *engine__ws_new(engine_session *s, int64_t now)
{
    engine__ws *ws = calloc(1, sizeof *ws);
    ws->s = s;
    ws->eng = s->eng;
    ws->now = now;
    return ws;
}

static void keyed_free(engine__keyed *k)
{
    for (size_t i = 0; i < k->len; i++) {
        free(k->items[i].key);
        free(k->items[i].row);
    }
    free(k->items);
}

void engine__run_free(engine__run *r)
{
    if (!r)
        return;
    free(r->causation_id);
    cJSON_Delete(r->state);
    cJSON_Delete(r->input);
    cJSON_Delete(r->result);
    cJSON_Delete(r->error);
    free(r);
}

void engine__ws_free(engine__ws *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->nruns; i++)
        engine__run_free(ws->runs[i]);
    free(ws->runs);
    free(ws->idx);
    sy_buf_cleanup(&ws->hist);
    sy_buf_cleanup(&ws->outbox);
    sy_buf_cleanup(&ws->defs);
    sy_buf_cleanup(&ws->dls);
    keyed_free(&ws->tasks);
    keyed_free(&ws->timers);
    free(ws);
}

int64_t engine__ws_now(const engine__ws *ws)
{
    return ws->now;
}

const engine *engine__ws_engine(const engine__ws *ws)
{
    return ws->eng;
}

/* Replaces or adds the row of key (row taken). */
static void keyed_put(engine__keyed *k, const char *key, char *row)
{
    for (size_t i = k->len; i-- > 0;)
        if (strcmp(k->items[i].key, key) == 0) {
            free(k->items[i].row);
            k->items[i].row = row;
            return;
        }
    if (k->len == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->items = realloc(k->items, k->cap * sizeof *k->items);
    }
    k->items[k->len].key = strdup(key);
    k->items[k->len++].row = row;
}

void engine__ws_timer(engine__ws *ws, engine__run *run, const char *timer_id, int64_t fire_at,
                      const char *kind, cJSON *data)
{
    sy_buf b = SY_BUF_INIT;
    kv_str(&b, "id", timer_id, true);
    kv_str(&b, "r", run->run_id, false);
    kv_num(&b, "f", fire_at);
    kv_str(&b, "k", kind, false);
    sy_buf_puts(&b, ",\"d\":");
    engine__json_val(&b, data);
    cJSON_Delete(data);
    keyed_put(&ws->timers, timer_id, sy_buf_take(&b));
    ws->notify_timers = true;
}

void engine__ws_task(engine__ws *ws, engine__run *run, const cJSON *task, const char *status,
                     int64_t started_at, int64_t heartbeat_at)
{
    sy_buf b = SY_BUF_INIT;
    kv_str(&b, "id", task->string, true);
    kv_str(&b, "r", run->run_id, false);
    kv_str(&b, "ns", ws->eng->ns, false);
    kv_str(&b, "w", run->workflow_id, false);
    const char *f[] = {"step", "name", "queue"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = JGET(task, f[i]);
        kv_str(&b, f[i], cJSON_IsString(v) ? v->valuestring : "", false);
    }
    sy_buf_puts(&b, cJSON_IsTrue(JGET(task, "human")) ? ",\"human\":true" : ",\"human\":false");
    kv_num(&b, "attempt", (int64_t)cJSON_GetNumberValue(JGET(task, "attempt")));
    kv_str(&b, "status", status, false);
    const char *j[] = {"input", "result", "error"};
    for (size_t i = 0; i < 3; i++) {
        kv_key(&b, j[i], false);
        engine__json_val(&b, JGET(task, j[i]));
    }
    kv_num(&b, "sched", ws->now);
    kv_num(&b, "started", started_at);
    kv_num(&b, "hb", heartbeat_at);
    keyed_put(&ws->tasks, task->string, sy_buf_take(&b));
}

void engine__ws_dead_letter(engine__ws *ws, const char *event_id, const char *code,
                            const char *message, const char *subject, const char *body,
                            size_t body_len, const cJSON *headers, uint64_t stream_seq)
{
    row_open(&ws->dls, &ws->ndls);
    kv_str(&ws->dls, "e", event_id, true);
    kv_str(&ws->dls, "c", code, false);
    kv_str(&ws->dls, "m", message, false);
    kv_str(&ws->dls, "s", subject, false);
    /* bytes travel hex-encoded: the original may not be valid UTF-8 */
    sy_buf_puts(&ws->dls, ",\"b\":\"");
    for (size_t i = 0; body && i < body_len; i++)
        sy_buf_printf(&ws->dls, "%02x", (unsigned char)body[i]);
    sy_buf_puts(&ws->dls, "\",\"h\":");
    engine__json_val(&ws->dls, headers);
    sy_buf_printf(&ws->dls, ",\"q\":%llu}", (unsigned long long)stream_seq);
    /* and its notice on sy.deadletter.<code>, through the outbox */
    char id[300], subj[128];
    if (event_id)
        snprintf(id, sizeof id, "deadletter:%s", event_id);
    else
        engine__uuid(id);
    snprintf(subj, sizeof subj, "%s.deadletter.%s", ws->eng->prefix, code);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "event_id", event_id ? cJSON_CreateString(event_id) : cJSON_CreateNull());
    cJSON_AddStringToObject(p, "code", code);
    cJSON_AddStringToObject(p, "message", message ? message : "");
    cJSON_AddItemToObject(p, "subject", subject ? cJSON_CreateString(subject) : cJSON_CreateNull());
    cJSON_AddNumberToObject(p, "stream_seq", (double)stream_seq);
    char trace[33];
    engine__trace_id(trace);
    sy_buf out = SY_BUF_INIT;
    engine__outcome_body(&out, id, "switchyard.deadletter.created", ws->now, NULL, trace, p);
    engine__ws_outbox(ws, id, NULL, subj, out.data);
    sy_buf_cleanup(&out);
    cJSON_Delete(p);
}

void engine__ws_outbox(engine__ws *ws, const char *event_id, const char *run_id,
                       const char *subject, const char *body)
{
    row_open(&ws->outbox, &ws->nout);
    kv_str(&ws->outbox, "e", event_id, true);
    kv_str(&ws->outbox, "r", run_id, false);
    kv_str(&ws->outbox, "j", subject, false);
    sy_buf_puts(&ws->outbox, ",\"b\":");
    sy_buf_puts(&ws->outbox, body);
    sy_buf_putc(&ws->outbox, '}');
}

void engine__ws_def(engine__ws *ws, const engine__def *d)
{
    if (ws->defs.len && strstr(ws->defs.data, d->hash))
        return;
    row_open(&ws->defs, &ws->ndefs);
    kv_str(&ws->defs, "hash", d->hash, true);
    kv_str(&ws->defs, "type", d->type, false);
    sy_buf_puts(&ws->defs, ",\"body\":");
    sy_buf_puts(&ws->defs, d->text);
    sy_buf_putc(&ws->defs, '}');
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Open addressing over indexes into runs (+1; 0 = empty), keyed by
 * workflow ID: a batch of thousands of events finds its runs in O(1). */
static void index_put(engine__ws *ws, size_t idx)
{
    size_t mask = ws->capidx - 1, i = hash_str(ws->runs[idx]->workflow_id) & mask;
    while (ws->idx[i] && strcmp(ws->runs[ws->idx[i] - 1]->workflow_id, ws->runs[idx]->workflow_id) != 0)
        i = (i + 1) & mask;
    ws->idx[i] = idx + 1; /* the latest run of an ID wins */
}

void engine__ws_add_run(engine__ws *ws, engine__run *run)
{
    if (ws->nruns == ws->caprun) {
        ws->caprun = ws->caprun ? 2 * ws->caprun : 64;
        ws->runs = realloc(ws->runs, ws->caprun * sizeof *ws->runs);
    }
    ws->runs[ws->nruns++] = run;
    if (2 * ws->nruns > ws->capidx) {
        free(ws->idx);
        ws->capidx = ws->capidx ? 2 * ws->capidx : 256;
        while (2 * ws->nruns > ws->capidx)
            ws->capidx *= 2;
        ws->idx = calloc(ws->capidx, sizeof *ws->idx);
        for (size_t i = 0; i < ws->nruns; i++)
            index_put(ws, i);
    } else {
        index_put(ws, ws->nruns - 1);
    }
}

engine__run *engine__ws_find(engine__ws *ws, const char *workflow_id)
{
    if (!ws->capidx)
        return NULL;
    size_t mask = ws->capidx - 1, i = hash_str(workflow_id) & mask;
    for (; ws->idx[i]; i = (i + 1) & mask) {
        engine__run *r = ws->runs[ws->idx[i] - 1];
        if (strcmp(r->workflow_id, workflow_id) == 0)
            return r->current ? r : NULL;
    }
    return NULL;
}

engine__run *engine__ws_find_run(engine__ws *ws, const char *run_id)
{
    for (size_t i = ws->nruns; i-- > 0;)
        if (strcmp(ws->runs[i]->run_id, run_id) == 0)
            return ws->runs[i];
    return NULL;
}

void engine__emit(engine__ws *ws, engine__run *run, const char *type, cJSON *data)
{
    int64_t seq = run->next_seq++;
    engine__reduce(run->state, seq, type, data);
    row_open(&ws->hist, &ws->nhist);
    kv_str(&ws->hist, "r", run->run_id, true);
    kv_num(&ws->hist, "s", seq);
    kv_str(&ws->hist, "t", type, false);
    sy_buf_puts(&ws->hist, ",\"d\":");
    engine__json_val(&ws->hist, data);
    kv_num(&ws->hist, "c", ws->now);
    sy_buf_putc(&ws->hist, '}');
    run->dirty = true;
    engine__effects(ws, run, seq, type, data);
    cJSON_Delete(data);
}

/* ---- flush ---------------------------------------------------------------------------- */

static const char FLUSH_SQL[] =
    "WITH d AS (INSERT INTO definitions (hash, workflow_type, body)"
    " SELECT hash, type, body FROM json_to_recordset($1::json) AS x(hash text, type text, body jsonb)"
    " ON CONFLICT DO NOTHING),"
    "w AS (INSERT INTO workflow_ids (namespace, workflow_id, run_id, status, closed_at)"
    " SELECT ns, w, r, st, to_timestamp(cl / 1000.0) FROM json_to_recordset($2::json)"
    " AS x(ns text, w text, r uuid, st text, cl float8)"
    " ON CONFLICT (namespace, workflow_id) DO UPDATE SET run_id = EXCLUDED.run_id,"
    " status = EXCLUDED.status, closed_at = EXCLUDED.closed_at),"
    "r AS (INSERT INTO runs (run_id, namespace, workflow_id, workflow_type, def_hash, status,"
    " task_queue, input, result, error, trace_id, causation_id, cancel_requested, next_seq,"
    " started_at, closed_at, updated_at)"
    " SELECT r, ns, w, t, h, st, q, i, res, err, tr, ca, cr, ns2, to_timestamp(sa / 1000.0),"
    " to_timestamp(cl / 1000.0), to_timestamp(up / 1000.0) FROM json_to_recordset($3::json)"
    " AS x(r uuid, ns text, w text, t text, h text, st text, q text, i json, res json, err json,"
    " tr text, ca text, cr bool, ns2 int, sa float8, cl float8, up float8)"
    " ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result,"
    " error = EXCLUDED.error, cancel_requested = EXCLUDED.cancel_requested,"
    " next_seq = EXCLUDED.next_seq, closed_at = EXCLUDED.closed_at, updated_at = EXCLUDED.updated_at),"
    "h AS (INSERT INTO history (run_id, seq, type, data, created_at)"
    " SELECT r, s, t, d, to_timestamp(c / 1000.0) FROM json_to_recordset($4::json)"
    " AS x(r uuid, s int, t text, d json, c float8)),"
    "t AS (INSERT INTO tasks (task_id, run_id, namespace, workflow_id, step, name, queue, human,"
    " attempt, status, input, result, error, scheduled_at, started_at, heartbeat_at, updated_at)"
    " SELECT id, r, ns, w, step, name, queue, human, attempt, status, input, result, error,"
    " to_timestamp(sched / 1000.0), to_timestamp(started / 1000.0), to_timestamp(hb / 1000.0),"
    " to_timestamp(sched / 1000.0) FROM json_to_recordset($5::json) AS x(id text, r uuid,"
    " ns text, w text, step text, name text, queue text, human bool, attempt int, status text,"
    " input json, result json, error json, sched float8, started float8, hb float8)"
    " ON CONFLICT (task_id) DO UPDATE SET attempt = EXCLUDED.attempt, status = EXCLUDED.status,"
    " result = EXCLUDED.result, error = EXCLUDED.error,"
    " scheduled_at = CASE WHEN EXCLUDED.attempt <> tasks.attempt THEN EXCLUDED.scheduled_at"
    " ELSE tasks.scheduled_at END,"
    " started_at = coalesce(EXCLUDED.started_at, CASE WHEN EXCLUDED.attempt = tasks.attempt"
    " THEN tasks.started_at END),"
    " heartbeat_at = coalesce(EXCLUDED.heartbeat_at, CASE WHEN EXCLUDED.attempt = tasks.attempt"
    " THEN tasks.heartbeat_at END), updated_at = EXCLUDED.updated_at),"
    "tm AS (INSERT INTO timers (timer_id, run_id, fire_at, kind, data)"
    " SELECT id, r, to_timestamp(f / 1000.0), k, d FROM json_to_recordset($6::json)"
    " AS x(id text, r uuid, f float8, k text, d json)"
    " ON CONFLICT (timer_id) DO UPDATE SET fire_at = EXCLUDED.fire_at, kind = EXCLUDED.kind,"
    " data = EXCLUDED.data),"
    "o AS (INSERT INTO outbox (event_id, run_id, subject, body)"
    " SELECT e, r, j, b::text FROM ROWS FROM (json_to_recordset($7::json)"
    " AS (e text, r uuid, j text, b json)) WITH ORDINALITY AS x(e, r, j, b, n) ORDER BY n),"
    "dl AS (INSERT INTO dead_letters (event_id, code, message, subject, body, headers, stream_seq)"
    " SELECT e, c, m, s, decode(b, 'hex'), h, nullif(q, 0) FROM json_to_recordset($8::json)"
    " AS x(e text, c text, m text, s text, b text, h jsonb, q bigint))"
    "SELECT CASE WHEN $9 THEN pg_notify('switchyard_timers', '') END,"
    " CASE WHEN $10 THEN pg_notify('switchyard_outbox', '') END";

static void run_rows(engine__ws *ws, sy_buf *ids, sy_buf *runs)
{
    size_t nid = 0, nrun = 0;
    for (size_t i = 0; i < ws->nruns; i++) {
        engine__run *r = ws->runs[i];
        if (!r->dirty)
            continue;
        const char *status = cJSON_GetStringValue(JGET(r->state, "status"));
        bool closed = status && strcmp(status, "running") != 0;
        if (closed && !r->closed_at)
            r->closed_at = ws->now;
        if (r->current) {
            row_open(ids, &nid);
            kv_str(ids, "ns", ws->eng->ns, true);
            kv_str(ids, "w", r->workflow_id, false);
            kv_str(ids, "r", r->run_id, false);
            kv_str(ids, "st", status, false);
            kv_num(ids, "cl", closed ? r->closed_at : 0);
            sy_buf_putc(ids, '}');
        }
        row_open(runs, &nrun);
        kv_str(runs, "r", r->run_id, true);
        kv_str(runs, "ns", ws->eng->ns, false);
        kv_str(runs, "w", r->workflow_id, false);
        kv_str(runs, "t", r->type, false);
        kv_str(runs, "h", r->def_hash, false);
        kv_str(runs, "st", status, false);
        kv_str(runs, "q", r->task_queue, false);
        sy_buf_puts(runs, ",\"i\":");
        engine__json_val(runs, r->new_run ? r->input : NULL);
        sy_buf_puts(runs, ",\"res\":");
        engine__json_val(runs, JGET(r->state, "result"));
        sy_buf_puts(runs, ",\"err\":");
        engine__json_val(runs, JGET(r->state, "error"));
        kv_str(runs, "tr", r->trace_id, false);
        kv_str(runs, "ca", r->causation_id, false);
        sy_buf_puts(runs, cJSON_IsTrue(JGET(r->state, "cancel_requested")) ? ",\"cr\":true" : ",\"cr\":false");
        kv_num(runs, "ns2", r->next_seq);
        kv_num(runs, "sa", r->started_at);
        kv_num(runs, "cl", closed ? r->closed_at : 0);
        kv_num(runs, "up", ws->now);
        sy_buf_putc(runs, '}');
    }
}

static void keyed_array(const engine__keyed *k, sy_buf *out)
{
    sy_buf_putc(out, '[');
    for (size_t i = 0; i < k->len; i++) {
        sy_buf_puts(out, i ? ",{" : "{");
        sy_buf_puts(out, k->items[i].row);
        sy_buf_putc(out, '}');
    }
    sy_buf_putc(out, ']');
}

static char *wrap(const sy_buf *b)
{
    sy_buf o = SY_BUF_INIT;
    sy_buf_putc(&o, '[');
    sy_buf_append(&o, b->data ? b->data : "", b->len);
    sy_buf_putc(&o, ']');
    return sy_buf_take(&o);
}

sy_status engine__ws_flush(engine__ws *ws, sy_error *err)
{
    sy_buf ids = SY_BUF_INIT, runs = SY_BUF_INIT, tasks = SY_BUF_INIT, timers = SY_BUF_INIT;
    run_rows(ws, &ids, &runs);
    if (!ws->nhist && !ws->ndefs && !ws->ndls && !ws->nout && !ids.len && !runs.len &&
        !ws->tasks.len && !ws->timers.len) {
        sy_buf_cleanup(&ids);
        sy_buf_cleanup(&runs);
        return SY_OK;
    }
    keyed_array(&ws->tasks, &tasks);
    keyed_array(&ws->timers, &timers);
    char *p[10] = {wrap(&ws->defs), wrap(&ids), wrap(&runs), wrap(&ws->hist), sy_buf_take(&tasks),
                   sy_buf_take(&timers), wrap(&ws->outbox), wrap(&ws->dls),
                   ws->notify_timers ? "true" : "false", ws->nout ? "true" : "false"};
    sy_status st = SY_OK;
    if (!ws->s->prepared) {
        PGresult *r = PQprepare(ws->s->conn, "sy_flush", FLUSH_SQL, 0, NULL);
        st = engine__result_status(ws->s->conn, r, "prepare flush", err);
        PQclear(r);
        ws->s->prepared = st == SY_OK;
    }
    if (st == SY_OK)
        st = engine__exec_prepared(ws->s, "sy_flush", 10, (const char *const *)p, NULL, err);
    for (int i = 0; i < 8; i++)
        free(p[i]);
    sy_buf_cleanup(&ids);
    sy_buf_cleanup(&runs);
    return st;
}
