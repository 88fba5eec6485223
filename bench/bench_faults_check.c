/* bench_faults_check.c: the checker of `bench faults` (bench_faults.h).
 *
 * After a scenario has quiesced it reads what the system holds and compares
 * it with what was sent, nothing else: Postgres (runs per workflow ID,
 * applied signals per event_id, dead letters per stream sequence) and every
 * message of the outcomes stream (each outcome event's body per event_id,
 * the outcome types each workflow produced, one dead-letter notice per
 * dead letter). An effect is an L when a valid, acknowledged event has none,
 * a D when it is there twice. */
#include "bench_faults.h"

#include "jsfetch.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <nats/nats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long fx_index_of(const char *id, const char *prefix, const char *tag)
{
    size_t pl = strlen(prefix), tl = strlen(tag);
    if (!id || strncmp(id, prefix, pl) != 0 || strncmp(id + pl, tag, tl) != 0 || id[pl + tl] != '-')
        return -1;
    char *end = NULL;
    long i = strtol(id + pl + tl + 1, &end, 10);
    return end && *end == '\0' && i >= 0 ? i : -1;
}

static void note(fx_result *r, const char *fmt, const char *a, long b)
{
    if (!r->example[0])
        snprintf(r->example, sizeof r->example, fmt, a, b);
}

/* A problem of workflow i (fmt names the tag and i). */
static void note_wf(fx_result *r, const char *fmt, const char *tag, long i)
{
    if (!r->example[0])
        r->example_index = i;
    note(r, fmt, tag, i);
}

/* ---- Postgres ---------------------------------------------------------------------- */

typedef struct pg_view {
    int *runs;    /* runs per workflow */
    bool *done;   /* its run completed */
    int *signals; /* workflow.signaled per signal event */
} pg_view;

static sy_status query(PGconn *c, const char *sql, PGresult **out, sy_error *err)
{
    *out = PQexec(c, sql);
    if (PQresultStatus(*out) == PGRES_TUPLES_OK)
        return SY_OK;
    sy_status st = sy_error_set(err, SY_DB, "db", NULL, "%s: %s", sql, PQerrorMessage(c));
    PQclear(*out);
    *out = NULL;
    return st;
}

static sy_status read_runs(PGconn *c, const fx_sent *s, pg_view *v, sy_error *err)
{
    PGresult *res = NULL;
    sy_status st = query(c,
                         "SELECT workflow_id, count(*), bool_or(status = 'completed') "
                         "FROM switchyard.runs GROUP BY 1",
                         &res, err);
    for (int row = 0; st == SY_OK && row < PQntuples(res); row++) {
        long i = fx_index_of(PQgetvalue(res, row, 0), "ft-", s->tag);
        if (i >= 0 && i < s->n) {
            v->runs[i] = atoi(PQgetvalue(res, row, 1));
            v->done[i] = PQgetvalue(res, row, 2)[0] == 't';
        }
    }
    PQclear(res);
    if (st == SY_OK)
        st = query(c,
                   "SELECT data->>'event_id', count(*) FROM switchyard.history_events "
                   "WHERE type = 'workflow.signaled' GROUP BY 1",
                   &res, err);
    for (int row = 0; st == SY_OK && row < PQntuples(res); row++) {
        long i = fx_index_of(PQgetvalue(res, row, 0), "fg-", s->tag);
        if (i >= 0 && i < s->n)
            v->signals[i] = atoi(PQgetvalue(res, row, 1));
    }
    PQclear(res);
    return st;
}

static void count_effects(const fx_sent *s, const pg_view *v, fx_result *r)
{
    for (long i = 0; i < s->n; i++) {
        if (s->start_acked[i] && v->runs[i] == 0) {
            r->lost++;
            note_wf(r, "start fs-%s-%ld was acknowledged, its workflow never started", s->tag, i);
        }
        if (v->runs[i] > 1) {
            r->doubled_starts++;
            note_wf(r, "workflow ft-%s-%ld started twice", s->tag, i);
        }
        if (s->signal_acked[i] && v->signals[i] == 0) {
            r->lost++;
            note_wf(r, "signal fg-%s-%ld was acknowledged, never applied", s->tag, i);
        }
        if (v->signals[i] > 1) {
            r->doubled_signals++;
            note_wf(r, "signal fg-%s-%ld applied twice", s->tag, i);
        }
        if (v->runs[i] > 0 && !v->done[i]) {
            r->incomplete++;
            note_wf(r, "workflow ft-%s-%ld did not complete", s->tag, i);
        }
    }
}

typedef struct dl_row {
    uint64_t seq;
    char code[64];
    long count;
} dl_row;

static int dl_cmp(const void *a, const void *b)
{
    const dl_row *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int sent_cmp(const void *a, const void *b)
{
    const fx_sent_bad *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Each bad input: exactly one dead letter, with its code; no other ones. */
static void count_dead_letters(const fx_sent *s, dl_row *rows, size_t nrows, fx_result *r)
{
    fx_sent_bad *bad = malloc((s->nbad + 1) * sizeof *bad);
    if (!bad)
        abort();
    if (s->nbad) /* memcpy and qsort may not be given NULL, even for nothing */
        memcpy(bad, s->bad, s->nbad * sizeof *bad);
    qsort(bad, s->nbad, sizeof *bad, sent_cmp);
    if (nrows)
        qsort(rows, nrows, sizeof *rows, dl_cmp);
    size_t j = 0;
    for (size_t i = 0; i < s->nbad; i++) {
        for (; j < nrows && rows[j].seq < bad[i].seq; j++) {
            r->dl_unexpected += rows[j].count;
            note(r, "a valid event was dead-lettered: %s (stream seq %ld)", rows[j].code,
                 (long)rows[j].seq);
        }
        long total = 0;
        bool right = false;
        for (; j < nrows && rows[j].seq == bad[i].seq; j++) {
            total += rows[j].count;
            right = strcmp(rows[j].code, bad[i].code) == 0;
        }
        if (total == 0) {
            r->dl_missing++;
            note(r, "bad input %s (stream seq %ld) has no dead letter", bad[i].kind,
                 (long)bad[i].seq);
        } else if (total > 1) {
            r->dl_doubled++;
            note(r, "bad input %s (stream seq %ld) has two dead letters", bad[i].kind,
                 (long)bad[i].seq);
        } else if (!right) {
            r->dl_wrong_code++;
            note(r, "bad input %s (stream seq %ld) was dead-lettered with another code",
                 bad[i].kind, (long)bad[i].seq);
        } else {
            r->dl_right++;
        }
    }
    for (; j < nrows; j++) {
        r->dl_unexpected += rows[j].count;
        note(r, "a valid event was dead-lettered: %s (stream seq %ld)", rows[j].code,
             (long)rows[j].seq);
    }
    free(bad);
}

/* What Postgres says about workflow i: appended to the example, so that a
 * failed run says where the workflow stopped. */
static void diagnose(PGconn *c, const fx_sent *s, long i, fx_result *r)
{
    char wid[128];
    snprintf(wid, sizeof wid, "ft-%s-%ld", s->tag, i);
    const char *params[] = {wid};
    PGresult *res = PQexecParams(
        c,
        "SELECT r.status || ' | tasks: ' || coalesce((SELECT string_agg(t.status || ' attempt ' "
        "|| t.attempt, ', ') FROM switchyard.tasks t WHERE t.run_id = r.run_id), 'none') || "
        "' | history: ' || coalesce((SELECT string_agg(h.type, ' ' ORDER BY h.seq) FROM "
        "switchyard.history_events h WHERE h.run_id = r.run_id), '') FROM switchyard.runs r "
        "WHERE r.workflow_id = $1",
        1, NULL, params, NULL, NULL, 0);
    size_t len = strlen(r->example);
    for (int row = 0; PQresultStatus(res) == PGRES_TUPLES_OK && row < PQntuples(res); row++)
        snprintf(r->example + len, sizeof r->example - len, " [run: %s]", PQgetvalue(res, row, 0));
    PQclear(res);
}

static sy_status check_postgres(const char *conninfo, const fx_sent *s, fx_result *r, sy_error *err)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        sy_status st = sy_error_set(err, SY_DB_DOWN, "db", NULL, "postgres: %s", PQerrorMessage(c));
        PQfinish(c);
        return st;
    }
    pg_view v = {calloc((size_t)s->n + 1, sizeof(int)), calloc((size_t)s->n + 1, sizeof(bool)),
                 calloc((size_t)s->n + 1, sizeof(int))};
    if (!v.runs || !v.done || !v.signals)
        abort();
    sy_status st = read_runs(c, s, &v, err);
    if (st == SY_OK)
        count_effects(s, &v, r);
    long first = r->example_index;
    if (st == SY_OK && first >= 0 && r->example[0])
        diagnose(c, s, first, r);
    PGresult *res = NULL;
    if (st == SY_OK)
        st = query(c,
                   "SELECT coalesce(stream_seq, 0), code, count(*) FROM switchyard.dead_letters "
                   "GROUP BY 1, 2",
                   &res, err);
    if (st == SY_OK) {
        size_t n = (size_t)PQntuples(res);
        dl_row *rows = calloc(n + 1, sizeof *rows);
        if (!rows)
            abort();
        for (size_t i = 0; i < n; i++) {
            rows[i].seq = strtoull(PQgetvalue(res, (int)i, 0), NULL, 10);
            snprintf(rows[i].code, sizeof rows[i].code, "%s", PQgetvalue(res, (int)i, 1));
            rows[i].count = atol(PQgetvalue(res, (int)i, 2));
        }
        count_dead_letters(s, rows, n, r);
        free(rows);
    }
    PQclear(res);
    free(v.runs);
    free(v.done);
    free(v.signals);
    PQfinish(c);
    return st;
}

/* ---- the outcomes stream ------------------------------------------------------------- */

enum {
    SEEN_STARTED = 1,
    SEEN_TASK_CREATED = 2,
    SEEN_TASK_STARTED = 4,
    SEEN_TASK_COMPLETED = 8,
    SEEN_SIGNALED = 16,
    SEEN_COMPLETED = 32,
    SEEN_ALL = 63
};

static const struct {
    const char *type;
    int bit;
} OUTCOME_TYPES[] = {
    {"switchyard.workflow.started", SEEN_STARTED},
    {"switchyard.task.created", SEEN_TASK_CREATED},
    {"switchyard.task.started", SEEN_TASK_STARTED},
    {"switchyard.task.completed", SEEN_TASK_COMPLETED},
    {"switchyard.workflow.signaled", SEEN_SIGNALED},
    {"switchyard.workflow.completed", SEEN_COMPLETED},
};

/* One stored outcome event: which event_id, which body (64-bit hashes). */
typedef struct seen_msg {
    uint64_t id, body;
} seen_msg;

typedef struct stream_view {
    const fx_sent *s;
    unsigned char *seen; /* SEEN_* per workflow */
    seen_msg *msgs;      /* every outcome event */
    size_t n, cap;
    seen_msg *notices; /* dead-letter notices: id = stream seq */
    size_t nn, ncap;
    long read; /* messages read, reports included */
} stream_view;

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static void push(seen_msg **a, size_t *n, size_t *cap, uint64_t id, uint64_t body)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        seen_msg *g = realloc(*a, *cap * sizeof *g);
        if (!g)
            abort();
        *a = g;
    }
    (*a)[(*n)++] = (seen_msg){id, body};
}

static void take_outcome(stream_view *v, natsMsg *m)
{
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    if (strstr(natsMsg_GetSubject(m), ".report.")) /* the workers' reports share the stream */
        return;
    cJSON *j = cJSON_ParseWithLength(data, (size_t)len);
    const cJSON *eid = cJSON_GetObjectItemCaseSensitive(j, "event_id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "payload");
    const cJSON *wid = cJSON_GetObjectItemCaseSensitive(p, "workflow_id");
    uint64_t body = fnv(data, (size_t)len);
    if (cJSON_IsString(eid))
        push(&v->msgs, &v->n, &v->cap, fnv(eid->valuestring, strlen(eid->valuestring)), body);
    if (cJSON_IsString(type) && strcmp(type->valuestring, "switchyard.deadletter.created") == 0) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(p, "stream_seq");
        if (cJSON_IsNumber(seq))
            push(&v->notices, &v->nn, &v->ncap, (uint64_t)seq->valuedouble, body);
    }
    long i = cJSON_IsString(wid) ? fx_index_of(wid->valuestring, "ft-", v->s->tag) : -1;
    for (size_t t = 0; i >= 0 && i < v->s->n && cJSON_IsString(type) &&
                       t < sizeof OUTCOME_TYPES / sizeof OUTCOME_TYPES[0];
         t++)
        if (strcmp(type->valuestring, OUTCOME_TYPES[t].type) == 0)
            v->seen[i] |= (unsigned char)OUTCOME_TYPES[t].bit;
    cJSON_Delete(j);
}

/* Reads every message of the stream (an ephemeral pull consumer from the
 * first message to the last one stored when we began). */
static sy_status read_stream(const char *nats_url, const char *stream, stream_view *v,
                             sy_error *err)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, nats_url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, stream, NULL, NULL);
    uint64_t last = s == NATS_OK ? si->State.LastSeq : 0;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    if (s == NATS_OK && last > 0)
        s = js_PullSubscribe(&sub, js, ">", NULL, NULL, &so, NULL);
    for (uint64_t at = 0; s == NATS_OK && at < last;) {
        natsMsgList list = {0};
        natsStatus f = engine_js_fetch(&list, sub, 1024, 5000, NULL);
        for (int k = 0; f == NATS_OK && k < list.Count; k++) {
            jsMsgMetaData *md = NULL;
            if (natsMsg_GetMetaData(&md, list.Msgs[k]) == NATS_OK)
                at = md->Sequence.Stream;
            jsMsgMetaData_Destroy(md);
            take_outcome(v, list.Msgs[k]);
            v->read++;
        }
        natsMsgList_Destroy(&list);
        if (f != NATS_OK)
            s = f; /* nothing for 5 s before the last message: report it */
    }
    natsSubscription_Destroy(sub);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (s != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "could not read stream %s: %s", stream,
                            natsStatus_GetText(s));
    return SY_OK;
}

static int seen_cmp(const void *a, const void *b)
{
    const seen_msg *x = a, *y = b;
    if (x->id != y->id)
        return (x->id > y->id) - (x->id < y->id);
    return (x->body > y->body) - (x->body < y->body);
}

/* Sorted by id then body: an id with two bodies is a D; the same body
 * twice is a copy. Returns the number of distinct ids. */
static size_t count_doubles(seen_msg *a, size_t n, long *doubled, long *copies)
{
    if (n == 0)
        return 0; /* qsort's base may not be NULL, even for no elements */
    qsort(a, n, sizeof *a, seen_cmp);
    size_t ids = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        bool two_bodies = false;
        for (; j < n && a[j].id == a[i].id; j++) {
            two_bodies |= a[j].body != a[j - 1].body;
            *copies += a[j].body == a[j - 1].body;
        }
        *doubled += two_bodies;
        ids++;
        i = j;
    }
    return ids;
}

static void count_outcomes(stream_view *v, const fx_sent *s, long with_dead_letter, fx_result *r)
{
    long copies = 0, notice_copies = 0;
    count_doubles(v->msgs, v->n, &r->doubled_outcomes, &copies);
    r->outcome_copies += copies;
    for (long i = 0; i < s->n; i++) {
        if (!s->start_acked[i] || v->seen[i] == SEEN_ALL)
            continue;
        int missing = SEEN_ALL & ~v->seen[i];
        r->outcomes_missing += __builtin_popcount((unsigned)missing);
        note_wf(r, "workflow ft-%s-%ld lacks outcome events on NATS", s->tag, i);
    }
    size_t notices = count_doubles(v->notices, v->nn, &r->doubled_outcomes, &notice_copies);
    r->outcome_copies += notice_copies;
    if ((long)notices < with_dead_letter) {
        r->outcomes_missing += with_dead_letter - (long)notices;
        note(r, "%s%ld dead-letter notices missing on NATS", "", with_dead_letter - (long)notices);
    }
}

sy_status fx_check(const char *conninfo, const char *nats_url, const char *outcomes_stream,
                   const fx_sent *sent, fx_result *r, sy_error *err)
{
    sy_status st = check_postgres(conninfo, sent, r, err);
    stream_view v = {.s = sent, .seen = calloc((size_t)sent->n + 1, 1)};
    if (!v.seen)
        abort();
    if (st == SY_OK)
        st = read_stream(nats_url, outcomes_stream, &v, err);
    r->outcomes_read = v.read;
    if (st == SY_OK)
        count_outcomes(&v, sent, r->dl_right + r->dl_wrong_code + r->dl_doubled + r->dl_unexpected,
                       r);
    free(v.seen);
    free(v.msgs);
    free(v.notices);
    return st;
}
