/* concurrency_due.c: the timer loop's part of concurrency limits
 * (concurrency.c has the batch path's): the keys with waiting starts are
 * claimed FOR UPDATE SKIP LOCKED, their running runs counted, and the
 * queue's heads started into the free slots in one transaction with
 * their deletion from the queue and the keys' new counts. Whichever
 * process claims a key, a waiting start is started once. */
#include "batch.h"
#include "flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct due_ckey {
    char *ckey, *rr_last;
    int64_t limit, queued, running, taken;
    rules_conc_strategy strategy;
} due_ckey;

typedef struct due_ctx {
    due_ckey *k;
    size_t n;
} due_ctx;

static void due_free(due_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->k[i].ckey);
        free(c->k[i].rr_last);
    }
    free(c->k);
}

static void count_row(void *arg, const char *ckey, const char *wid, bool cr)
{
    (void)wid;
    (void)cr;
    due_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->k[i].ckey, ckey))
            c->k[i].running++;
}

static sy_status claim(engine_session *s, size_t max, due_ctx *c, sy_error *err)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {s->eng->ns, lim};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT ckey, lim, strategy, queued, rr_last FROM"
                                " concurrency_keys WHERE namespace = $1 AND queued > 0 ORDER BY"
                                " ckey LIMIT $2 FOR UPDATE SKIP LOCKED",
                                2, p, &r, err);
    int n = st == SY_OK ? PQntuples(r) : 0;
    c->k = calloc(n ? (size_t)n : 1, sizeof *c->k);
    for (int i = 0; i < n; i++) {
        due_ckey *k = &c->k[c->n++];
        k->ckey = strdup(PQgetvalue(r, i, 0));
        k->limit = atoll(PQgetvalue(r, i, 1));
        k->strategy = rules_conc_strategy_parse(PQgetvalue(r, i, 2));
        k->queued = atoll(PQgetvalue(r, i, 3));
        k->rr_last = PQgetisnull(r, i, 4) ? NULL : strdup(PQgetvalue(r, i, 4));
    }
    PQclear(r);
    if (st != SY_OK || !c->n)
        return st;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < c->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(c->k[i].ckey));
    char *js = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    st = engine__conc_running(s, js, count_row, c, err);
    free(js);
    return st;
}

/* Adds the started request to the batch, its slot decided already. */
static void add_start(engine_batch *b, const due_ckey *k, const char *sub, int64_t prio,
                      const char *req_text)
{
    cJSON *req = cJSON_Parse(req_text);
    if (!req)
        return;
    size_t before = b->nops;
    engine__batch_request(b, req, NULL);
    cJSON_Delete(req);
    if (b->nops == before)
        return;
    engine__op *o = &b->ops[b->nops - 1];
    o->ckey = strdup(k->ckey);
    o->csub = strdup(sub);
    o->cprio = prio;
    o->cadmitted = o->cfixed = true;
    o->coutcome = ENGINE_CONC_RELEASED;
}

typedef struct popped {
    int64_t seq, prio;
    char *sub, *req;
} popped;

static int cmp_popped(const void *a, const void *b)
{
    const popped *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Deletes the chosen items ($3: seqs, or NULL: the first $4 by priority,
 * then arrival) and adds their starts to b, in dispatch order. */
static sy_status pop(engine_session *s, engine_batch *b, due_ckey *k, const char *seqs, int64_t n,
                     sy_error *err)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)n);
    const char *p[] = {s->eng->ns, k->ckey, seqs ? seqs : "{}", lim};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s,
        "DELETE FROM concurrency_queue WHERE namespace = $1 AND ckey = $2 AND seq IN (SELECT seq"
        " FROM concurrency_queue WHERE namespace = $1 AND ckey = $2 AND (cardinality($3::bigint[])"
        " = 0 OR seq = ANY($3::bigint[])) ORDER BY priority DESC, seq LIMIT $4) RETURNING seq,"
        " priority, sub, request::text",
        4, p, &r, err);
    int rows = st == SY_OK ? PQntuples(r) : 0;
    popped *it = calloc(rows ? (size_t)rows : 1, sizeof *it);
    for (int i = 0; i < rows; i++)
        it[i] = (popped){atoll(PQgetvalue(r, i, 0)), atoll(PQgetvalue(r, i, 1)),
                         PQgetvalue(r, i, 2), PQgetvalue(r, i, 3)};
    if (!seqs) /* round robin: the order the keys were chosen in, kept by the caller */
        qsort(it, (size_t)rows, sizeof *it, cmp_popped);
    for (int i = 0; i < rows; i++)
        add_start(b, k, it[i].sub, it[i].prio, it[i].req);
    k->taken += rows;
    free(it);
    PQclear(r);
    return st;
}

/* Round robin: the head of each waiting key (by priority, then arrival),
 * taken one key after the other from the one after the key served last. */
static sy_status pop_round_robin(engine_session *s, engine_batch *b, due_ckey *k, int64_t free_,
                                 sy_error *err)
{
    sy_status st = SY_OK;
    while (st == SY_OK && free_ > 0) {
        const char *p[] = {s->eng->ns, k->ckey};
        PGresult *r = NULL;
        st = engine__exec(s,
                          "SELECT DISTINCT ON (sub) seq, sub FROM concurrency_queue WHERE"
                          " namespace = $1 AND ckey = $2 ORDER BY sub, priority DESC, seq",
                          2, p, &r, err);
        int n = st == SY_OK ? PQntuples(r) : 0;
        if (!n) {
            PQclear(r);
            break;
        }
        int first = 0;
        while (first < n && k->rr_last && strcmp(PQgetvalue(r, first, 1), k->rr_last) <= 0)
            first++;
        int take = free_ < n ? (int)free_ : n;
        for (int j = 0; st == SY_OK && j < take; j++) {
            int i = (first + j) % n;
            char seq[48];
            snprintf(seq, sizeof seq, "{%s}", PQgetvalue(r, i, 0));
            st = pop(s, b, k, seq, 1, err);
            free(k->rr_last);
            k->rr_last = strdup(PQgetvalue(r, i, 1));
        }
        free_ -= take;
        PQclear(r);
    }
    return st;
}

static sy_status write_keys(engine_session *s, const due_ctx *c, bool again, sy_error *err)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < c->n; i++) {
        if (!c->k[i].taken)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "k", c->k[i].ckey);
        cJSON_AddNumberToObject(o, "t", (double)c->k[i].taken);
        if (c->k[i].rr_last)
            cJSON_AddStringToObject(o, "r", c->k[i].rr_last);
        cJSON_AddItemToArray(a, o);
    }
    char *js = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    const char *p[] = {s->eng->ns, js, again ? "true" : "false"};
    sy_status st = engine__exec(
        s,
        "WITH up AS (UPDATE concurrency_keys k SET queued = greatest(k.queued - x.t, 0),"
        " rr_last = coalesce(x.r, k.rr_last), updated_at = now() FROM json_to_recordset($2::json)"
        " AS x(k text, t int, r text) WHERE k.namespace = $1 AND k.ckey = x.k)"
        " SELECT CASE WHEN $3::bool THEN pg_notify('switchyard_timers', '') END",
        3, p, NULL, err);
    free(js);
    return st;
}

sy_status engine__conc_due(engine_session *s, int64_t now, size_t max, size_t *started,
                           sy_error *err)
{
    due_ctx c = {0};
    *started = 0;
    sy_status st = claim(s, max ? max : 64, &c, err);
    engine_batch *b = engine_batch_new();
    for (size_t i = 0; st == SY_OK && i < c.n; i++) {
        due_ckey *k = &c.k[i];
        int64_t free_ = k->limit - k->running;
        if (free_ <= 0)
            continue;
        if (k->strategy == RULES_CONC_ROUND_ROBIN)
            st = pop_round_robin(s, b, k, free_, err);
        else
            st = pop(s, b, k, NULL, free_, err);
    }
    if (st == SY_OK && b->nops)
        st = engine__batch_run(s, b, now, err);
    /* a start that did not start a run (its ID was running, say) left its
     * slot free: the next round gives it to the next in line */
    bool again = false;
    for (size_t i = 0; st == SY_OK && i < b->nops; i++) {
        if (b->ops[i].cfixed && b->ops[i].crun[0])
            (*started)++;
        else if (b->ops[i].cfixed)
            again = true;
    }
    if (st == SY_OK)
        st = write_keys(s, &c, again, err);
    engine_batch_free(b);
    due_free(&c);
    if (st != SY_OK)
        *started = 0;
    return st;
}
