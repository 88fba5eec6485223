/* flow_due.c: the timer loop's part of flow control (docs/flow-control.md).
 * engine_timers_run_once calls engine__flow_due in a transaction of its
 * own after the timers:
 *   1. the flow keys whose fire_at is due, claimed FOR UPDATE SKIP LOCKED
 *      (several processes share them; a key a router batch holds is left
 *      for the next round, never waited for);
 *   2. rules/flow.c decides what each key fires now (rules_flow_on_due): a
 *      debounced key its last action, a throttle the head of its queue as
 *      far as it conforms now, a batch up to max_size items;
 *   3. the items they use up are read in order and deleted, the keys'
 *      states written back (the batch path's statement), and the actions
 *      applied as one engine batch (starts and signals without an inbox
 *      row: the events that caused them have theirs);
 * all in one transaction: an action fires once, whichever process or
 * crash. A throttle decides against the time it applies its starts, so a
 * late or restarted loop never bunches them above the rate. */
#include "batch.h"
#include "flow.h"

#include <stdlib.h>
#include <string.h>

/* Actions one key fires per round at most (a throttle with a large burst). */
#define DUE_PER_KEY 256

typedef struct due_key {
    char *fkey;
    rules_flow_spec spec;
    rules_flow_state st;
    rules_flow_due d;
    cJSON *pending;   /* debounce: the held action (owned) */
    cJSON *items;     /* throttle, batch: the items used up, in order (owned) */
    int64_t last_seq; /* the last item used up */
    char *next_wid;   /* batch: the workflow of the next batch's first item */
} due_key;

static void keys_free(due_key *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(k[i].fkey);
        rules_flow_state_cleanup(&k[i].st);
        cJSON_Delete(k[i].pending);
        cJSON_Delete(k[i].items);
        free(k[i].next_wid);
    }
    free(k);
}

static sy_status claim(engine_session *s, int64_t now, size_t max, due_key **out, size_t *n,
                       sy_error *err)
{
    char nows[24], maxs[24];
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    snprintf(maxs, sizeof maxs, "%zu", max);
    const char *p[] = {s->eng->ns, nows, maxs};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "SELECT fkey, state::text, pending::text FROM flow_keys WHERE fire_at <="
        " to_timestamp($2::float8 / 1000.0) AND namespace = $1 ORDER BY fire_at LIMIT $3"
        " FOR UPDATE SKIP LOCKED",
        3, p, &r, err);
    int rows = st == SY_OK ? PQntuples(r) : 0;
    due_key *k = calloc(rows ? (size_t)rows : 1, sizeof *k);
    size_t m = 0;
    for (int i = 0; i < rows; i++) {
        cJSON *j = cJSON_Parse(PQgetvalue(r, i, 1));
        due_key *d = &k[m];
        if (!j || rules_flow_state_parse(j, &d->spec, &d->st) != SY_OK) {
            cJSON_Delete(j);
            continue; /* unreadable: left as it is, never fired twice */
        }
        cJSON_Delete(j);
        d->fkey = strdup(PQgetvalue(r, i, 0));
        if (!PQgetisnull(r, i, 2))
            d->pending = cJSON_Parse(PQgetvalue(r, i, 2));
        d->d = rules_flow_on_due(&d->spec, &d->st, now, DUE_PER_KEY);
        m++;
    }
    PQclear(r);
    *out = k;
    *n = m;
    return st;
}

/* Reads the items the keys use up (the head of each key's, in order). */
static sy_status load_items(engine_session *s, due_key *k, size_t n, sy_error *err)
{
    cJSON *want = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        if (!k[i].d.items)
            continue;
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "f", k[i].fkey);
        /* a batch that leaves items reads one more: the next batch's first */
        bool next = k[i].spec.kind == RULES_FLOW_BATCH && k[i].st.n > 0;
        cJSON_AddNumberToObject(w, "l", (double)(k[i].d.items + (next ? 1 : 0)));
        cJSON_AddNumberToObject(w, "n", (double)i);
        cJSON_AddItemToArray(want, w);
    }
    sy_status st = SY_OK;
    if (cJSON_GetArraySize(want)) {
        char *js = cJSON_PrintUnformatted(want);
        const char *p[] = {s->eng->ns, js};
        PGresult *r = NULL;
        st = engine__exec(s,
                          "SELECT k.n, x.seq, x.request::text, x.workflow_id FROM"
                          " json_to_recordset($2::json) AS k(f text, l int, n int) CROSS JOIN"
                          " LATERAL (SELECT seq, request, workflow_id FROM flow_items WHERE"
                          " namespace = $1 AND fkey = k.f ORDER BY seq LIMIT k.l) AS x"
                          " ORDER BY k.n, x.seq",
                          2, p, &r, err);
        for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
            due_key *d = &k[atoi(PQgetvalue(r, i, 0))];
            if (d->items && (size_t)cJSON_GetArraySize(d->items) == d->d.items) {
                free(d->next_wid); /* the one beyond: not used up */
                d->next_wid = PQgetisnull(r, i, 3) ? NULL : strdup(PQgetvalue(r, i, 3));
                continue;
            }
            if (!d->items)
                d->items = cJSON_CreateArray();
            cJSON_AddItemToArray(d->items, cJSON_Parse(PQgetvalue(r, i, 2)));
            d->last_seq = atoll(PQgetvalue(r, i, 1));
        }
        PQclear(r);
        free(js);
    }
    cJSON_Delete(want);
    return st;
}

/* The engine ops of what key d fires. */
static size_t fire_key(engine_batch *b, due_key *d)
{
    size_t fired = 0;
    if (d->spec.kind == RULES_FLOW_DEBOUNCE) {
        if (d->d.fire && d->pending) {
            engine__batch_request(b, d->pending, NULL);
            fired++;
        }
    } else if (d->spec.kind == RULES_FLOW_THROTTLE) {
        const cJSON *it;
        cJSON_ArrayForEach(it, d->items)
        {
            engine__batch_request(b, it, NULL);
            fired++;
        }
    } else if (d->spec.kind == RULES_FLOW_BATCH && cJSON_GetArraySize(d->items)) {
        cJSON *events = cJSON_CreateArray();
        const cJSON *it;
        cJSON_ArrayForEach(it, d->items)
        {
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(it, "event");
            cJSON_AddItemToArray(events, ev ? cJSON_Duplicate(ev, 1) : cJSON_CreateNull());
        }
        engine__batch_request(b, d->items->child, events);
        fired++;
    }
    return fired;
}

static cJSON *key_row(const due_key *d)
{
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "f", d->fkey);
    cJSON_AddItemToObject(k, "s", rules_flow_state_json(&d->spec, &d->st));
    if (d->st.fire_at)
        cJSON_AddNumberToObject(k, "fa", (double)d->st.fire_at);
    /* a fired debounce holds nothing; a batch that leaves items names the
     * workflow its next batch starts */
    bool clear = d->st.n == 0 || d->spec.kind != RULES_FLOW_THROTTLE;
    cJSON_AddBoolToObject(k, "pc", d->spec.kind == RULES_FLOW_DEBOUNCE);
    if (d->next_wid)
        cJSON_AddStringToObject(k, "w", d->next_wid); /* the next batch starts as it */
    cJSON_AddBoolToObject(k, "wc", clear);
    int64_t ex = rules_flow_expires(&d->spec, &d->st);
    if (ex != INT64_MAX)
        cJSON_AddNumberToObject(k, "ex", (double)ex);
    cJSON_AddBoolToObject(k, "e", true);
    return k;
}

static sy_status write_back(engine_session *s, due_key *k, size_t n, sy_error *err)
{
    cJSON *rows = cJSON_CreateArray(), *used = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(rows, key_row(&k[i]));
        if (k[i].items) {
            cJSON *u = cJSON_CreateObject();
            cJSON_AddStringToObject(u, "f", k[i].fkey);
            cJSON_AddNumberToObject(u, "q", (double)k[i].last_seq);
            cJSON_AddItemToArray(used, u);
        }
    }
    char *rj = cJSON_PrintUnformatted(rows), *uj = cJSON_PrintUnformatted(used);
    const char *p[] = {s->eng->ns, rj, "[]", "false"};
    sy_status st = n ? engine__exec(s, engine__flow_write_sql, 4, p, NULL, err) : SY_OK;
    const char *q[] = {s->eng->ns, uj};
    if (st == SY_OK && cJSON_GetArraySize(used))
        st = engine__exec(s,
                          "DELETE FROM flow_items i USING json_to_recordset($2::json) AS"
                          " k(f text, q bigint) WHERE i.namespace = $1 AND i.fkey = k.f AND"
                          " i.seq <= k.q",
                          2, q, NULL, err);
    free(rj);
    free(uj);
    cJSON_Delete(rows);
    cJSON_Delete(used);
    return st;
}

sy_status engine__flow_due(engine_session *s, int64_t now, size_t max, size_t *keys,
                           size_t *fired, sy_error *err)
{
    due_key *k = NULL;
    size_t n = 0, f = 0;
    *keys = *fired = 0;
    sy_status st = claim(s, now, max ? max : 256, &k, &n, err);
    if (st == SY_OK)
        st = load_items(s, k, n, err);
    engine_batch *b = engine_batch_new();
    for (size_t i = 0; st == SY_OK && i < n; i++)
        f += fire_key(b, &k[i]);
    if (st == SY_OK)
        st = write_back(s, k, n, err);
    if (st == SY_OK && b->nops)
        st = engine__batch_run(s, b, now, err);
    engine_batch_free(b);
    keys_free(k, n);
    *keys = st == SY_OK ? n : 0;
    *fired = st == SY_OK ? f : 0;
    return st;
}
