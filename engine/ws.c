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
#include "mem.h"
#include "ws.h"
#include "trace.h"

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
    char out[21];
    sy_buf_puts(b, sy_i64(out, v));
}

/* A number as cJSON prints it, without its sprintf + sscanf round trip for
 * the common case of integers (sequence numbers, attempts, times in ms). */
static void put_number(sy_buf *b, double d)
{
    if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
        sy_buf_append(b, "null", 4); /* NaN and infinities, as cJSON */
        return;
    }
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
        put_int(b, (int64_t)d);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%1.15g", d);
    if (strtod(tmp, NULL) != d)
        n = snprintf(tmp, sizeof tmp, "%1.17g", d);
    sy_buf_append(b, tmp, (size_t)n);
}

/* Compact JSON of v into b, the same text as cJSON_PrintUnformatted but
 * without its per-value allocations: the hot path serialises every
 * history event, task input and outcome payload. */
static void put_json(sy_buf *b, const cJSON *v)
{
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        sy_buf_append(b, "null", 4);
        return;
    case cJSON_False:
        sy_buf_append(b, "false", 5);
        return;
    case cJSON_True:
        sy_buf_append(b, "true", 4);
        return;
    case cJSON_Number:
        put_number(b, v->valuedouble);
        return;
    case cJSON_String:
        engine__json_str(b, v->valuestring);
        return;
    case cJSON_Raw:
        sy_buf_puts(b, v->valuestring ? v->valuestring : "");
        return;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (v->type & 0xFF) == cJSON_Object;
        sy_buf_putc(b, obj ? '{' : '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                sy_buf_putc(b, ',');
            if (obj) {
                engine__json_str(b, c->string);
                sy_buf_putc(b, ':');
            }
            put_json(b, c);
        }
        sy_buf_putc(b, obj ? '}' : ']');
        return;
    }
    default:
        sy_buf_append(b, "null", 4);
    }
}

void engine__json_val(sy_buf *b, const cJSON *v)
{
    if (!v) {
        sy_buf_puts(b, "null");
        return;
    }
    put_json(b, v);
}

char *engine__json_text(const cJSON *v)
{
    if (!v)
        return NULL;
    sy_buf b = SY_BUF_INIT;
    put_json(&b, v);
    return sy_buf_take(&b);
}

void engine__be32(sy_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    sy_buf_append(b, x, 4);
}

void engine__barr_bytes(engine__barr *a, const void *p, size_t len)
{
    engine__be32(&a->data, (uint32_t)len);
    sy_buf_append(&a->data, p, len);
    a->n++;
}

void engine__barr_text(engine__barr *a, const char *s)
{
    if (s) {
        engine__barr_bytes(a, s, strlen(s));
        return;
    }
    engine__be32(&a->data, 0xFFFFFFFFu);
    a->n++;
    a->nulls = true;
}

void engine__barr_int4(engine__barr *a, int64_t v)
{
    sy_buf b = {0};
    engine__be32(&b, (uint32_t)v);
    engine__barr_bytes(a, b.data, 4);
    sy_buf_cleanup(&b);
}

void engine__barr_int8(engine__barr *a, int64_t v)
{
    if (!v) { /* 0 means "none" for the timestamps carried this way */
        engine__barr_text(a, NULL);
        return;
    }
    sy_buf b = {0};
    engine__be32(&b, (uint32_t)((uint64_t)v >> 32));
    engine__be32(&b, (uint32_t)v);
    engine__barr_bytes(a, b.data, 8);
    sy_buf_cleanup(&b);
}

/* Postgres' binary timestamptz: microseconds since 2000-01-01 UTC. */
void engine__ts_bin(int64_t ms, char out[8])
{
    uint64_t us = (uint64_t)((ms - 946684800000LL) * 1000);
    for (int i = 0; i < 8; i++)
        out[i] = (char)(us >> (56 - 8 * i));
}

void engine__barr_ts(engine__barr *a, int64_t ms)
{
    if (!ms) { /* 0 means "none" */
        engine__barr_text(a, NULL);
        return;
    }
    char b[8];
    engine__ts_bin(ms, b);
    engine__barr_bytes(a, b, 8);
}

void engine__barr_bool(engine__barr *a, bool v)
{
    unsigned char c = v ? 1 : 0;
    engine__barr_bytes(a, &c, 1);
}

/* A JSON value as text (NULL stays NULL), written in place: the length
 * word is patched once the text is there. */
void engine__barr_json(engine__barr *a, const cJSON *v)
{
    if (!v) {
        engine__barr_text(a, NULL);
        return;
    }
    size_t at = a->data.len;
    engine__be32(&a->data, 0);
    put_json(&a->data, v);
    uint32_t n = (uint32_t)(a->data.len - at - 4);
    unsigned char x[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(a->data.data + at, x, 4);
    a->n++;
}

static int hexval(char c)
{
    return c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0';
}

void engine__barr_uuid(engine__barr *a, const char *uuid)
{
    if (!uuid) {
        engine__barr_text(a, NULL);
        return;
    }
    unsigned char raw[16];
    size_t k = 0;
    for (const char *p = uuid; *p && p[1] && k < 16; p++) {
        if (*p == '-')
            continue;
        raw[k++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
        p++;
    }
    engine__barr_bytes(a, raw, 16);
}

/* The whole array into out (reset first); returns out's data. */
char *engine__barr_finish_into(const engine__barr *a, sy_buf *out)
{
    sy_buf_reset(out);
    engine__be32(out, a->n ? 1 : 0);
    engine__be32(out, a->nulls ? 1 : 0);
    engine__be32(out, a->oid);
    if (a->n) {
        engine__be32(out, a->n);
        engine__be32(out, 1);
        sy_buf_append(out, a->data.data, a->data.len);
    }
    return out->data;
}

/* The whole array (owned, free()); *len its size. */
char *engine__barr_finish(const engine__barr *a, int *len)
{
    sy_buf b = SY_BUF_INIT;
    engine__be32(&b, a->n ? 1 : 0);
    engine__be32(&b, a->nulls ? 1 : 0);
    engine__be32(&b, a->oid);
    if (a->n) {
        engine__be32(&b, a->n);
        engine__be32(&b, 1);
        sy_buf_append(&b, a->data.data, a->data.len);
    }
    *len = (int)b.len;
    return sy_buf_take(&b);
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
    engine__ws *ws = s->ws_spare; /* the previous batch's, emptied, buffers kept */
    s->ws_spare = NULL;
    if (!ws) {
        ws = calloc(1, sizeof *ws);
        engine__barr *text[] = {&ws->h_type, &ws->h_data, &ws->o_event, &ws->o_subject,
                                &ws->o_body};
        for (size_t i = 0; i < 5; i++)
            text[i]->oid = 25;
        ws->h_run.oid = 2950;
        ws->h_seq.oid = 23;
        ws->tasks.free_row = engine__task_row_free;
    }
    ws->s = s;
    ws->eng = s->eng;
    ws->now = now;
    engine__rfc3339(now, ws->now_text);
    return ws;
}

void engine__task_row_free(void *p)
{
    engine__task_row *t = p;
    if (!t)
        return;
    free(t->block);
    free(t);
}

static void keyed_clear(engine__keyed *k)
{
    for (size_t i = 0; i < k->len; i++) {
        free(k->items[i].key);
        if (k->free_row)
            k->free_row(k->items[i].row);
        else
            free(k->items[i].row);
    }
    k->len = 0;
    if (k->idx)
        memset(k->idx, 0, k->capidx * sizeof *k->idx);
}

void engine__run_free(engine__run *r)
{
    if (!r)
        return;
    free(r->causation_id);
    cJSON_Delete(r->state);
    sy_buf_cleanup(&r->log);
    sy_buf_cleanup(&r->first_types);
    sy_buf_cleanup(&r->first_data);
    cJSON_Delete(r->input);
    cJSON_Delete(r->result);
    cJSON_Delete(r->error);
    free(r);
}

static void barr_clear(engine__barr *a)
{
    sy_buf_reset(&a->data);
    a->n = 0;
    a->nulls = false;
}

/* All the array buffers of the write set (n receives how many). */
static engine__barr **all_barrs(engine__ws *ws, engine__barr **out, size_t *n)
{
    engine__barr *fixed[] = {&ws->h_run,   &ws->h_seq,     &ws->h_type, &ws->h_data,
                             &ws->o_event, &ws->o_subject, &ws->o_body, &ws->keys};
    size_t k = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        out[k++] = fixed[i];
    for (size_t i = 0; i < ENGINE__WS_COLS; i++)
        out[k++] = &ws->cols[i];
    *n = k;
    return out;
}

/* Empties the write set, keeping its buffers: the next batch of the
 * session reuses them instead of growing (and page-faulting) new ones. */
static void ws_clear(engine__ws *ws)
{
    for (size_t i = 0; i < ws->nruns; i++)
        engine__run_free(ws->runs[i]);
    ws->nruns = 0;
    if (ws->idx)
        memset(ws->idx, 0, ws->capidx * sizeof *ws->idx);
    engine__barr *arrs[8 + ENGINE__WS_COLS];
    size_t n = 0;
    all_barrs(ws, arrs, &n);
    for (size_t i = 0; i < n; i++)
        barr_clear(arrs[i]);
    cJSON_Delete(ws->record);
    ws->record = NULL;
    sy_buf_reset(&ws->defs);
    sy_buf_reset(&ws->dls);
    sy_buf_reset(&ws->scratch);
    sy_buf_reset(&ws->cached_log);
    ws->nhist = ws->nout = ws->ndefs = ws->ndls = 0;
    ws->page_run = NULL;
    sy_buf_reset(&ws->page_json);
    keyed_clear(&ws->tasks);
    keyed_clear(&ws->timers);
    ws->notify_timers = false;
    engine__corr_ws_clear(ws);
    engine__dispatch_ws_clear(ws);
}

void engine__ws_destroy(engine__ws *ws)
{
    if (!ws)
        return;
    ws_clear(ws);
    free(ws->runs);
    free(ws->idx);
    engine__barr *arrs[8 + ENGINE__WS_COLS];
    size_t n = 0;
    all_barrs(ws, arrs, &n);
    for (size_t i = 0; i < n; i++)
        sy_buf_cleanup(&arrs[i]->data);
    for (size_t i = 0; i < ENGINE__WS_PARAMS; i++)
        sy_buf_cleanup(&ws->params[i]);
    sy_buf_cleanup(&ws->defs);
    sy_buf_cleanup(&ws->scratch);
    sy_buf_cleanup(&ws->cached_log);
    sy_buf_cleanup(&ws->page_json);
    sy_buf_cleanup(&ws->dls);
    free(ws->tasks.items);
    free(ws->tasks.idx);
    free(ws->timers.items);
    free(ws->timers.idx);
    engine__corr_ws_free(ws);
    free(ws);
}

size_t engine__ws_capacity(const engine__ws *ws)
{
    if (!ws)
        return 0;
    engine__barr *arrs[8 + ENGINE__WS_COLS];
    size_t n = 0, bytes = sizeof *ws;
    all_barrs((engine__ws *)ws, arrs, &n);
    for (size_t i = 0; i < n; i++)
        bytes += arrs[i]->data.cap;
    for (size_t i = 0; i < ENGINE__WS_PARAMS; i++)
        bytes += ws->params[i].cap;
    const sy_buf *bufs[] = {&ws->defs, &ws->dls, &ws->scratch, &ws->cached_log, &ws->page_json};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        bytes += bufs[i]->cap;
    return bytes + ws->caprun * sizeof *ws->runs + ws->capidx * sizeof *ws->idx;
}

void engine__ws_free(engine__ws *ws)
{
    if (!ws)
        return;
    /* kept for the session's next batch unless it grew past what the
     * session usually needs (a batch of oversized dead letters) */
    size_t cap = engine__ws_capacity(ws), keep = engine__ws_keep_bytes(ws->s);
    engine__note_ws(ws->s, cap);
    if (!ws->s->ws_spare && cap <= keep) {
        ws_clear(ws);
        ws->s->ws_spare = ws;
        return;
    }
    engine__ws_destroy(ws);
    if (cap > keep)
        sy_mem_release();
}

int64_t engine__ws_now(const engine__ws *ws)
{
    return ws->now;
}

const engine *engine__ws_engine(const engine__ws *ws)
{
    return ws->eng;
}

static size_t *keyed_slot(engine__keyed *k, const char *key)
{
    size_t mask = k->capidx - 1, i = engine__hash(key) & mask;
    while (k->idx[i] && strcmp(k->items[k->idx[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return &k->idx[i];
}

static void keyed_rehash(engine__keyed *k)
{
    free(k->idx);
    k->capidx = k->capidx ? 2 * k->capidx : 256;
    k->idx = calloc(k->capidx, sizeof *k->idx);
    for (size_t i = 0; i < k->len; i++)
        *keyed_slot(k, k->items[i].key) = i + 1;
}

/* Replaces or adds the row of key (row taken). */
static void keyed_put(engine__keyed *k, const char *key, void *row)
{
    if (2 * (k->len + 1) > k->capidx)
        keyed_rehash(k);
    size_t *slot = keyed_slot(k, key);
    if (*slot) {
        if (k->free_row)
            k->free_row(k->items[*slot - 1].row);
        else
            free(k->items[*slot - 1].row);
        k->items[*slot - 1].row = row;
        return;
    }
    if (k->len == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->items = realloc(k->items, k->cap * sizeof *k->items);
    }
    k->items[k->len].key = strdup(key);
    k->items[k->len++].row = row;
    *slot = k->len;
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

/* Appends s and its NUL to a task row's block; returns its offset. */
static size_t block_str(sy_buf *b, const char *s)
{
    size_t at = b->len;
    sy_buf_append(b, s, strlen(s) + 1);
    return at;
}

/* The compact JSON of v and its NUL, or nothing for NULL (SIZE_MAX). */
static size_t block_json(sy_buf *b, const cJSON *v)
{
    if (!v)
        return SIZE_MAX;
    size_t at = b->len;
    engine__json_val(b, v);
    sy_buf_putc(b, '\0');
    return at;
}

void engine__ws_task_with(engine__ws *ws, engine__run *run, const cJSON *task, const char *status,
                          int64_t started_at, int64_t heartbeat_at, const cJSON *result,
                          const cJSON *error)
{
    /* every string of the row in one block: one allocation, not ten */
    engine__task_row *t = calloc(1, sizeof *t);
    sy_buf b = SY_BUF_INIT;
    size_t at[10] = {
        block_str(&b, task->string),
        block_str(&b, run->run_id),
        block_str(&b, run->workflow_id),
        block_str(&b, engine__str(task, "step")),
        block_str(&b, engine__str(task, "name")),
        block_str(&b, engine__str(task, "queue")),
        block_str(&b, status),
        block_json(&b, JGET(task, "input")),
        block_json(&b, result ? result : JGET(task, "result")),
        block_json(&b, error ? error : JGET(task, "error")),
    };
    t->block = sy_buf_take(&b);
    char **f[10] = {&t->id,   &t->run,    &t->wid,   &t->step,   &t->name,
                    &t->queue, &t->status, &t->input, &t->result, &t->error};
    for (size_t i = 0; i < 10; i++)
        *f[i] = at[i] == SIZE_MAX ? NULL : t->block + at[i];
    t->human = cJSON_IsTrue(JGET(task, "human"));
    t->attempt = (int64_t)cJSON_GetNumberValue(JGET(task, "attempt"));
    t->started = started_at;
    t->hb = heartbeat_at;
    t->fresh = run->new_run; /* a run started by this batch has no task rows yet */
    if (run->def && run->def->dispatch)
        ws->dispatch_seen = true; /* its finish may free a place (dispatch.c) */
    keyed_put(&ws->tasks, task->string, t);
}

void engine__ws_task(engine__ws *ws, engine__run *run, const cJSON *task, const char *status,
                     int64_t started_at, int64_t heartbeat_at)
{
    engine__ws_task_with(ws, run, task, status, started_at, heartbeat_at, NULL, NULL);
}

void engine__ws_dead_letter(engine__ws *ws, const engine_dead_letter *dl, int64_t replaces)
{
    const char *event_id = dl->event_id, *code = dl->code, *message = dl->message;
    row_open(&ws->dls, &ws->ndls);
    kv_str(&ws->dls, "e", event_id, true);
    kv_str(&ws->dls, "c", code, false);
    kv_str(&ws->dls, "m", message, false);
    kv_str(&ws->dls, "s", dl->subject, false);
    kv_str(&ws->dls, "r", dl->route, false);
    kv_str(&ws->dls, "t", dl->trace_id, false);
    kv_str(&ws->dls, "y", dl->type, false);
    kv_str(&ws->dls, "o", dl->source, false);
    /* bytes travel hex-encoded: the original may not be valid UTF-8 */
    sy_buf_puts(&ws->dls, ",\"b\":\"");
    for (size_t i = 0; dl->body && i < dl->body_len; i++) {
        char x[2] = {"0123456789abcdef"[(unsigned char)dl->body[i] >> 4],
                     "0123456789abcdef"[dl->body[i] & 15]};
        sy_buf_append(&ws->dls, x, 2);
    }
    sy_buf_puts(&ws->dls, "\",\"h\":");
    engine__json_val(&ws->dls, dl->headers);
    sy_buf_printf(&ws->dls, ",\"q\":%llu,\"rp\":%lld}", (unsigned long long)dl->stream_seq,
                  (long long)replaces);
    /* and its notice on sy.deadletter.<code>, through the outbox: one per
     * failure (a route's, a replay's that failed again) */
    char id[400], subj[128], n[21];
    if (event_id && !replaces)
        sy_concat(id, sizeof id, "deadletter:", event_id, dl->route ? "/" : "",
                  dl->route ? dl->route : "");
    else if (event_id)
        sy_concat(id, sizeof id, "deadletter:", event_id, dl->route ? "/" : "",
                  dl->route ? dl->route : "", "@", sy_i64(n, (int64_t)dl->stream_seq));
    else
        engine__uuid(id);
    snprintf(subj, sizeof subj, "%s.deadletter.%s", ws->eng->prefix, code);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "event_id",
                          event_id ? cJSON_CreateString(event_id) : cJSON_CreateNull());
    cJSON_AddStringToObject(p, "code", code);
    cJSON_AddStringToObject(p, "message", message ? message : "");
    cJSON_AddItemToObject(p, "subject",
                          dl->subject ? cJSON_CreateString(dl->subject) : cJSON_CreateNull());
    cJSON_AddItemToObject(p, "route",
                          dl->route ? cJSON_CreateString(dl->route) : cJSON_CreateNull());
    cJSON_AddNumberToObject(p, "stream_seq", (double)dl->stream_seq);
    cJSON_AddItemToObject(p, "type", dl->type ? cJSON_CreateString(dl->type) : cJSON_CreateNull());
    cJSON_AddItemToObject(p, "source",
                          dl->source ? cJSON_CreateString(dl->source) : cJSON_CreateNull());
    /* the notice is a span of the event's trace when one parsed, child of
     * the event's span, so a trace shows where its event ended */
    char span[SY_SPAN_ID_LEN + 1];
    sy_span_id(id, span);
    cJSON_AddStringToObject(p, "span_id", span);
    if (event_id) {
        sy_span_id(event_id, span);
        cJSON_AddStringToObject(p, "parent_span_id", span);
    }
    char trace[33];
    if (dl->trace_id && strlen(dl->trace_id) == 32)
        memcpy(trace, dl->trace_id, 33);
    else
        engine__trace_id(trace);
    sy_buf out = SY_BUF_INIT;
    engine__outcome_body(&out, id, "switchyard.deadletter.created", ws->now, NULL, trace, p);
    engine__ws_outbox(ws, id, subj, out.data);
    sy_buf_cleanup(&out);
    cJSON_Delete(p);
}

void engine__ws_outbox(engine__ws *ws, const char *event_id, const char *subject, const char *body)
{
    ws->nout++;
    engine__barr_text(&ws->o_event, event_id);
    engine__barr_text(&ws->o_subject, subject);
    engine__barr_text(&ws->o_body, body);
}

void engine__ws_random(engine__ws *ws, unsigned char *out, size_t n)
{
    if (ws->rnd_left < n) {
        engine__random(ws->rnd, sizeof ws->rnd);
        ws->rnd_left = sizeof ws->rnd;
    }
    memcpy(out, ws->rnd + sizeof ws->rnd - ws->rnd_left, n);
    ws->rnd_left -= n;
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

#define hash_str engine__hash

/* Open addressing over indexes into runs (+1; 0 = empty), keyed by
 * workflow ID: a batch of thousands of events finds its runs in O(1). */
static void index_put(engine__ws *ws, size_t idx)
{
    size_t mask = ws->capidx - 1, i = hash_str(ws->runs[idx]->workflow_id) & mask;
    while (ws->idx[i] &&
           strcmp(ws->runs[ws->idx[i] - 1]->workflow_id, ws->runs[idx]->workflow_id) != 0)
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

/* ---- history pages (003_history_pages.sql) ---------------------------------------------
 * Consecutive events of one run form a page: one element of h_run/h_seq
 * and one Postgres array literal each in h_type and h_data, grown in place
 * while the events keep coming for the same run and closed (its length
 * patched) when another run's event or the flush comes. */

/* s as a quoted element of an array literal: "..." with " and \ escaped. */
static void literal_elem(sy_buf *b, const char *s, size_t n)
{
    sy_buf_putc(b, '"');
    const char *run = s;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        sy_buf_append(b, run, (size_t)(s + i - run));
        sy_buf_putc(b, '\\');
        run = s + i;
    }
    sy_buf_append(b, run, (size_t)(s + n - run));
    sy_buf_putc(b, '"');
}

static void patch_len(engine__barr *a, size_t at)
{
    uint32_t n = (uint32_t)(a->data.len - at - 4);
    unsigned char x[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(a->data.data + at, x, 4);
}

void engine__ws_close_page(engine__ws *ws)
{
    if (!ws->page_run)
        return;
    sy_buf_putc(ws->page_t, '}');
    sy_buf_putc(ws->page_d, '}');
    if (ws->page_t == &ws->h_type.data) {
        patch_len(&ws->h_type, ws->page_type_at);
        patch_len(&ws->h_data, ws->page_data_at);
    }
    ws->page_run = NULL;
}

/* Opens a page of run's events from seq: a new run's first page is its
 * row's (runs.h_types, h_data: 014, one row and one index entry fewer
 * per start), any other a row of the history table. */
static void page_open(engine__ws *ws, engine__run *run, int64_t seq)
{
    engine__ws_close_page(ws);
    ws->page_run = run;
    if (run->new_run && seq == 1) {
        ws->page_t = &run->first_types;
        ws->page_d = &run->first_data;
        sy_buf_reset(ws->page_t);
        sy_buf_reset(ws->page_d);
        sy_buf_putc(ws->page_t, '{');
        sy_buf_putc(ws->page_d, '{');
        return;
    }
    ws->page_t = &ws->h_type.data;
    ws->page_d = &ws->h_data.data;
    engine__barr_uuid(&ws->h_run, run->run_id);
    engine__barr_int4(&ws->h_seq, seq);
    engine__barr *arr[] = {&ws->h_type, &ws->h_data};
    size_t *at[] = {&ws->page_type_at, &ws->page_data_at};
    for (size_t i = 0; i < 2; i++) {
        *at[i] = arr[i]->data.len;
        engine__be32(&arr[i]->data, 0); /* length, patched at close */
        sy_buf_putc(&arr[i]->data, '{');
        arr[i]->n++;
    }
}

/* Whether member c of a workflow.started or task.scheduled is one that its
 * run's row or its pinned definition holds with the same value: the
 * history leaves it out (engine__history_expand and the history_events
 * view, 013, put it back), half of a start's history bytes. Each is
 * checked, not assumed, so a stored event always reads back as emitted. */
static bool derived_member(const engine__run *run, const engine__task_origin *o, const cJSON *c)
{
    if (!c->string)
        return false;
    if (o)
        return engine__task_member_derived(o, c);
    const char *want = strcmp(c->string, "workflow_type") == 0 ? run->type
                       : strcmp(c->string, "def_hash") == 0    ? run->def_hash
                       : strcmp(c->string, "task_queue") == 0  ? run->task_queue
                                                               : NULL;
    return want && cJSON_IsString(c) && strcmp(c->valuestring, want) == 0;
}

/* data as the history stores it: compact JSON without its derived members. */
static void put_stored(sy_buf *b, const engine__run *run, const char *type, const cJSON *data)
{
    bool strip = cJSON_IsObject(data) &&
                 (strcmp(type, "task.scheduled") == 0 || strcmp(type, "workflow.started") == 0);
    if (!strip) {
        put_json(b, data);
        return;
    }
    /* a task's step looked up once for all its members (it was once a
     * member: 5% of a start's client instructions) */
    const char *key = engine__str(data, "step");
    engine__task_origin o = {run->def ? run->def->body : NULL, run->run_id, run->task_queue, key,
                             NULL};
    if (type[0] == 't' && o.body)
        o.step = engine__step_at(o.body, key);
    sy_buf_putc(b, '{');
    bool first = true;
    for (const cJSON *c = data->child; c; c = c->next) {
        if (derived_member(run, type[0] == 't' ? &o : NULL, c))
            continue;
        if (!first)
            sy_buf_putc(b, ',');
        first = false;
        engine__json_str(b, c->string);
        sy_buf_putc(b, ':');
        put_json(b, c);
    }
    sy_buf_putc(b, '}');
}

static void page_add(engine__ws *ws, engine__run *run, int64_t seq, const char *type,
                     const cJSON *data)
{
    if (ws->page_run != run || ws->page_next != seq) {
        page_open(ws, run, seq);
    } else {
        sy_buf_putc(ws->page_t, ',');
        sy_buf_putc(ws->page_d, ',');
    }
    ws->page_next = seq + 1;
    ws->nhist++;
    literal_elem(ws->page_t, type, strlen(type));
    sy_buf_reset(&ws->page_json);
    if (data)
        put_stored(&ws->page_json, run, type, data);
    else
        sy_buf_append(&ws->page_json, "null", 4);
    literal_elem(ws->page_d, ws->page_json.data, ws->page_json.len);
    if (run->new_run) { /* its whole history is this batch's: kept for the cache */
        if (!run->log.len)
            run->log_first = seq;
        sy_buf_append(&run->log, type, strlen(type) + 1);
        sy_buf_append(&run->log, ws->page_json.data, ws->page_json.len);
        sy_buf_putc(&run->log, '\0');
    }
}

void engine__emit(engine__ws *ws, engine__run *run, const char *type, cJSON *data)
{
    int64_t seq = run->next_seq++;
    engine__reduce(run->state, seq, type, data);
    page_add(ws, run, seq, type, data);
    if (ws->record) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "s", (double)seq);
        cJSON_AddStringToObject(e, "t", type);
        cJSON_AddItemToObject(e, "d", cJSON_Parse(ws->page_json.data)); /* as stored */
        cJSON_AddItemToArray(ws->record, e);
    }
    run->dirty = true;
    engine__effects(ws, run, seq, type, data);
    cJSON_Delete(data);
}
