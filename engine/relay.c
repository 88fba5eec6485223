/* relay.c: the outbox relay. Publishes outbox messages to JetStream in
 * order (pages by id, messages by position in their page; see
 * 002_outbox_pages.sql) with Nats-Msg-Id = event_id (the stream's duplicate
 * window drops a re-publish), using nats.c's async publish: every message's
 * PubAck (or error) comes back through the ack handler on a nats.c thread,
 * and a page is deleted only after the PubAcks of all its messages arrived.
 * Without a handler a failed async publish would look successful.
 *
 * One relay publishes at a time (a transaction-scoped advisory lock), so
 * the stream receives each workflow's events in outbox order. A page with
 * a failed publish stays and is retried next round; a NATS outage just
 * leaves pages in the table (the connection reconnects forever), a Postgres
 * outage makes the loop reconnect. A message that can never be published
 * (a bad subject, too large, no stream holds its subject) becomes a dead
 * letter in the transaction that deletes its page, so that it holds back
 * neither its page nor the pages after it. Crash between PubAck and delete: the
 * page is published again and deduplicated by its Nats-Msg-Ids, as long as
 * the re-publish comes within the stream's duplicate window. That is why
 * the delete commits durably (synchronous_commit as configured, on by
 * default): with it off, a Postgres crash lost the deletes of the last
 * rounds, and a restart later than the window stored their messages twice
 * (tests/integration/engine_relay.c). PubAcks are matched to the round's messages
 * through a hash table of their event_ids, and the NATS options come from
 * the caller's engine_nats_options_fn when given (credentials, TLS). */
#include "engine_int.h"
#include "reports_int.h"
#include "trace.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include <nats/nats.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What became of one message of the round. */
enum {
    ROW_PENDING,       /* no PubAck (yet): its page stays */
    ROW_ACKED,         /* stored by the stream */
    ROW_FAILED,        /* refused for a reason that may pass (a timeout, ...): its page stays */
    ROW_NO_RESPONDERS, /* nobody answered: no stream holds its subject, or none right now */
    ROW_TOO_BIG,       /* the stream refused its size (max_msg_size) */
    ROW_DEAD,          /* can never be published: a dead letter, deleted with its page */
};

/* One message of the round: its page, its event_id and subject copied
 * NUL-terminated into relay_round.strs (nats.c wants C strings), its body
 * where the round's result holds it (binary: not NUL-terminated). */
typedef struct relay_msg {
    int64_t page;
    const char *event_id, *subject, *body;
    size_t body_len;
    size_t eo, so; /* offsets of event_id and subject in strs while it grows */
} relay_msg;

/* The rows of the round in flight: PubAcks are matched to rows through an
 * open-addressing table of their event_ids (O(1) per ack, on nats.c's
 * thread). Guarded by engine_relay.mu. */
typedef struct relay_round {
    PGresult *res;   /* the selected pages (binary); NULL between rounds */
    int n;           /* messages */
    relay_msg *msgs; /* n of them, in publish order */
    size_t capmsgs;
    sy_buf strs;
    int *slots; /* index + 1 of the row whose event_id hashes there; 0 empty */
    size_t nslots, capslots;
    unsigned char *st; /* per row: ROW_* */
    size_t capst;
} relay_round;

/* A message of the round that can never be published (relay thread only). */
typedef struct relay_dead {
    int row;
    const char *code; /* static: outbox_bad_subject, outbox_too_large, outbox_no_stream */
    char message[256];
} relay_dead;

struct engine_relay {
    const engine *eng;
    char *conninfo;
    engine_session *s;
    natsConnection *nc;
    jsCtx *js;
    engine_relay_opts o;
    pthread_mutex_t mu; /* guards cur, written by nats.c's thread */
    relay_round cur;
    relay_dead *dead; /* the round's messages that cannot be published */
    size_t ndead, capdead;
    bool warned_no_stream; /* logged once: no stream holds <prefix>.> */
    cJSON *dead_log;       /* those whose dead letters the round wrote: logged after its commit */
    size_t failed;
    uint64_t published;
    bool more; /* the last round stopped at its limits: pages may be waiting */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The first row of the round with this event_id whose PubAck has not
 * arrived yet (two rows may share one), or -1. Caller holds mu. */
static int round_find(const relay_round *rd, const char *id)
{
    if (!rd->res || !rd->nslots)
        return -1;
    for (size_t k = hash_str(id) & (rd->nslots - 1);; k = (k + 1) & (rd->nslots - 1)) {
        int i = rd->slots[k] - 1;
        if (i < 0)
            return -1;
        if (rd->st[i] == ROW_PENDING && strcmp(rd->msgs[i].event_id, id) == 0)
            return i;
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A one-dimensional text[] in Postgres's binary format (array_send: ndim,
 * has-nulls flag, element type, length and lower bound, then each element
 * as its length and bytes), read one element at a time. */
typedef struct barr_rd {
    const unsigned char *p, *end;
    uint32_t n;
} barr_rd;

static bool barr_open(barr_rd *a, const char *v, int len)
{
    a->p = (const unsigned char *)v;
    a->end = a->p + (len > 0 ? len : 0);
    a->n = 0;
    if (a->end - a->p < 12)
        return false;
    uint32_t ndim = be32(a->p);
    a->p += 12;
    if (ndim == 0)
        return true;
    if (ndim != 1 || a->end - a->p < 8)
        return false;
    a->n = be32(a->p);
    a->p += 8;
    return true;
}

static bool barr_next(barr_rd *a, const char **s, size_t *len)
{
    if (a->end - a->p < 4)
        return false;
    uint32_t l = be32(a->p);
    a->p += 4;
    if (l == 0xFFFFFFFFu || (size_t)(a->end - a->p) < l) /* NULL: no message has one */
        return false;
    *s = (const char *)a->p;
    *len = l;
    a->p += l;
    return true;
}

/* The messages of the selected pages (column 0 the page id, int8; 1-3 its
 * event_ids, subjects and bodies, text[]; all binary), in order, into
 * rd->msgs. False: a page that is not what 002_outbox_pages.sql writes. */
static bool round_read(relay_round *rd, const PGresult *res)
{
    size_t n = 0, strs = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        barr_rd e;
        if (!barr_open(&e, PQgetvalue(res, i, 1), PQgetlength(res, i, 1)))
            return false;
        n += e.n;
        strs += (size_t)PQgetlength(res, i, 1) + (size_t)PQgetlength(res, i, 2);
    }
    if (n > rd->capmsgs) {
        free(rd->msgs);
        rd->msgs = malloc(n * sizeof *rd->msgs);
        rd->capmsgs = n;
    }
    sy_buf_reset(&rd->strs);
    sy_buf_append(&rd->strs, "", 0);
    if (strs + 1 > rd->strs.cap)
        sy_buf__grow(&rd->strs, strs);
    size_t k = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const unsigned char *id = (const unsigned char *)PQgetvalue(res, i, 0);
        if (PQgetlength(res, i, 0) != 8)
            return false;
        int64_t page = (int64_t)((uint64_t)be32(id) << 32 | be32(id + 4));
        barr_rd e, sj, b;
        if (!barr_open(&e, PQgetvalue(res, i, 1), PQgetlength(res, i, 1)) ||
            !barr_open(&sj, PQgetvalue(res, i, 2), PQgetlength(res, i, 2)) ||
            !barr_open(&b, PQgetvalue(res, i, 3), PQgetlength(res, i, 3)) || sj.n != e.n ||
            b.n != e.n)
            return false;
        for (uint32_t j = 0; j < e.n; j++, k++) {
            relay_msg *m = &rd->msgs[k];
            const char *ev, *subj;
            size_t evl, subjl;
            if (!barr_next(&e, &ev, &evl) || !barr_next(&sj, &subj, &subjl) ||
                !barr_next(&b, &m->body, &m->body_len))
                return false;
            m->page = page;
            m->eo = rd->strs.len;
            sy_buf_append(&rd->strs, ev, evl);
            sy_buf_putc(&rd->strs, '\0');
            m->so = rd->strs.len;
            sy_buf_append(&rd->strs, subj, subjl);
            sy_buf_putc(&rd->strs, '\0');
        }
    }
    for (size_t i = 0; i < n; i++) { /* strs has its final address now */
        rd->msgs[i].event_id = rd->strs.data + rd->msgs[i].eo;
        rd->msgs[i].subject = rd->strs.data + rd->msgs[i].so;
    }
    rd->n = (int)n;
    return true;
}

/* Makes res (taken) the round in flight, indexed by event_id; false (res
 * freed) when its pages cannot be read. */
static bool round_begin(engine_relay *r, PGresult *res)
{
    relay_round *rd = &r->cur;
    pthread_mutex_lock(&r->mu);
    if (!round_read(rd, res)) {
        rd->n = 0;
        pthread_mutex_unlock(&r->mu);
        PQclear(res);
        return false;
    }
    int n = rd->n;
    size_t want = 16;
    while (want < 2 * (size_t)n)
        want *= 2;
    if (want > rd->capslots) {
        free(rd->slots);
        rd->slots = malloc(want * sizeof *rd->slots);
        rd->capslots = want;
    }
    if ((size_t)n > rd->capst) {
        free(rd->st);
        rd->st = malloc((size_t)n * sizeof *rd->st);
        rd->capst = (size_t)n;
    }
    rd->nslots = want;
    memset(rd->slots, 0, want * sizeof *rd->slots);
    memset(rd->st, ROW_PENDING, (size_t)n * sizeof *rd->st);
    for (int i = 0; i < n; i++) {
        size_t k = hash_str(rd->msgs[i].event_id) & (want - 1);
        while (rd->slots[k])
            k = (k + 1) & (want - 1);
        rd->slots[k] = i + 1;
    }
    rd->res = res;
    r->failed = 0;
    r->ndead = 0;
    pthread_mutex_unlock(&r->mu);
    return true;
}

/* Ends the round: late PubAcks find no row (their rows stay and are
 * re-published, deduplicated by Nats-Msg-Id). */
static void round_end(engine_relay *r)
{
    pthread_mutex_lock(&r->mu);
    PQclear(r->cur.res);
    r->cur.res = NULL;
    r->cur.n = 0;
    pthread_mutex_unlock(&r->mu);
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    engine_relay *r = closure;
    const char *id = NULL;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    pthread_mutex_lock(&r->mu);
    int i = id ? round_find(&r->cur, id) : -1;
    if (pae)
        r->failed++;
    if (i >= 0 && pa && !pae)
        r->cur.st[i] = ROW_ACKED;
    else if (i >= 0 && pae->Err == NATS_NO_RESPONDERS)
        r->cur.st[i] = ROW_NO_RESPONDERS;
    else if (i >= 0 && pae->ErrCode == JSStreamMessageExceedsMaximumErr)
        r->cur.st[i] = ROW_TOO_BIG;
    else if (i >= 0)
        r->cur.st[i] = ROW_FAILED;
    pthread_mutex_unlock(&r->mu);
    natsMsg_Destroy(msg);
}

/* Not called by nats.c while on_ack is set (on_ack sees errors too); kept
 * so that a failure is counted even if the ack handler is ever dropped. */
static void on_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pae;
    engine_relay *r = closure;
    pthread_mutex_lock(&r->mu);
    r->failed++;
    pthread_mutex_unlock(&r->mu);
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    engine_relay *r = closure;
    SY_LOG(r->eng->log, SY_LOG_INFO, "outbox relay connected to NATS", NULL);
}

/* With a connected callback, a failed first connect does not block: the
 * relay starts, keeps its rows, and nats.c connects in the background. */
static sy_status nats_connect(engine_relay *r, const engine_relay_opts *o, sy_error *err)
{
    natsOptions *no = engine__nats_options(o->nats_options, o->nats_options_arg, o->nats_url, err);
    if (!no)
        return err->status ? err->status : SY_NATS;
    natsStatus ns = natsOptions_SetMaxReconnect(no, -1);
    if (ns == NATS_OK)
        ns = natsOptions_SetReconnectWait(no, 250);
    if (ns == NATS_OK)
        ns = natsOptions_SetRetryOnFailedConnect(no, true, on_connected, r);
    if (ns == NATS_OK)
        ns = natsConnection_Connect(&r->nc, no);
    natsOptions_Destroy(no);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = r;
    jo.PublishAsync.ErrHandler = on_err;
    jo.PublishAsync.ErrHandlerClosure = r;
    jo.PublishAsync.MaxPending = 4096;
    /* a page may hold more messages than MaxPending (a router batch of
     * 5 000 events is one page of 10 000): publishing then waits for
     * PubAcks, as long as a round waits for them, instead of failing after
     * nats.c's default 200 ms and leaving the page to be sent again whole */
    jo.PublishAsync.StallWait = r->o.ack_timeout_ms;
    if (ns == NATS_OK || ns == NATS_NOT_YET_CONNECTED)
        ns = natsConnection_JetStream(&r->js, r->nc, &jo);
    if (ns != NATS_OK)
        return sy_error_set(err, SY_NATS_DOWN, "nats_connect", NULL,
                            "could not connect to NATS: %s", natsStatus_GetText(ns));
    return SY_OK;
}

sy_status engine_relay_new(const engine *eng, const engine_relay_opts *o, engine_relay **out,
                           sy_error *err)
{
    *out = NULL;
    engine_relay *r = calloc(1, sizeof *r);
    r->eng = eng;
    r->o = *o;
    r->o.conninfo = r->o.nats_url = NULL;
    r->o.batch = o->batch ? o->batch : 2048;
    r->o.ack_timeout_ms = o->ack_timeout_ms ? o->ack_timeout_ms : 5000;
    r->o.poll_ms = o->poll_ms ? o->poll_ms : 200;
    r->conninfo = strdup(o->conninfo ? o->conninfo : "");
    pthread_mutex_init(&r->mu, NULL);
    sy_status st = nats_connect(r, o, err);
    if (st != SY_OK) {
        engine_relay_free(r);
        return st;
    }
    *out = r;
    return SY_OK;
}

void engine_relay_free(engine_relay *r)
{
    if (!r)
        return;
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    engine_session_close(r->s);
    PQclear(r->cur.res);
    free(r->cur.msgs);
    sy_buf_cleanup(&r->cur.strs);
    free(r->cur.slots);
    free(r->cur.st);
    free(r->dead);
    cJSON_Delete(r->dead_log);
    free(r->conninfo);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

uint64_t engine_relay_published(const engine_relay *r)
{
    return r->published;
}

static sy_status ensure_session(engine_relay *r, sy_error *err)
{
    if (r->s && PQstatus(engine__conn(r->s)) == CONNECTION_OK)
        return SY_OK;
    engine_session_close(r->s);
    r->s = NULL;
    sy_status st = engine_session_open(r->eng, r->conninfo, false, &r->s, err);
    if (st == SY_OK) /* outbox rows only: timer inserts need no publish */
        st = engine_listen_for(r->s, ENGINE_NOTIFY_OUTBOX, err);
    return st;
}

/* Marks row i of the round as a message that can never be published;
 * the caller writes the reason into the returned entry's message. */
static char *mark_dead(engine_relay *r, int i, const char *code)
{
    if (r->ndead == r->capdead) {
        r->capdead = r->capdead ? 2 * r->capdead : 16;
        r->dead = realloc(r->dead, r->capdead * sizeof *r->dead);
    }
    relay_dead *d = &r->dead[r->ndead++];
    d->row = i;
    d->code = code;
    d->message[0] = '\0';
    pthread_mutex_lock(&r->mu);
    r->cur.st[i] = ROW_DEAD;
    pthread_mutex_unlock(&r->mu);
    return d->message;
}

/* The W3C traceparent of an outcome body: its trace_id and its own span
 * (its event_id's, trace.h), so a consumer's span is its child. The body
 * is the engine's (effects.c body_head): "trace_id" comes before the
 * payload, and a quote inside a string is escaped, so the first
 * ,"trace_id":" is the envelope's. false when it has none. */
static bool traceparent_of(const char *body, size_t len, const char *event_id,
                           char out[SY_TRACEPARENT_MAX])
{
    static const char key[] = ",\"trace_id\":\"";
    const char *t = memmem(body, len, key, sizeof key - 1);
    if (!t || (size_t)(body + len - t) < sizeof key - 1 + 32)
        return false;
    t += sizeof key - 1;
    for (int i = 0; i < 32; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    char trace[33], span[SY_SPAN_ID_LEN + 1];
    snprintf(trace, sizeof trace, "%.32s", t);
    sy_span_id(event_id, span);
    sy_traceparent_format(trace, span, out);
    return true;
}

/* The W3C tracestate an outcome body carries (effects.c: the payload's
 * member right after parent_span_id, which follows the four strings that
 * start every outcome's payload and cannot contain an unescaped quote),
 * unescaped into out, for its tracestate header. false when it has none
 * (an emitted event, a dead letter's notice, a trace without one) or it is
 * not W3C's. */
static bool tracestate_of(const char *body, size_t len, char out[SY_TRACESTATE_MAX + 1])
{
    static const char head[] = ",\"payload\":{\"workflow_id\":";
    static const char key[] = ",\"tracestate\":\"", parent[] = ",\"parent_span_id\":\"";
    const char *end = body + len, *p = memmem(body, len, head, sizeof head - 1);
    if (p)
        p = memmem(p, (size_t)(end - p), parent, sizeof parent - 1);
    if (!p || (size_t)(end - p) < sizeof parent - 1 + 17 + sizeof key - 1)
        return false;
    p += sizeof parent - 1 + 17; /* 16 hex digits and the closing quote */
    if (memcmp(p, key, sizeof key - 1) != 0)
        return false;
    size_t n = 0;
    for (p += sizeof key - 1; p < end && *p != '"'; p++) {
        if (*p == '\\' && ++p == end)
            return false;
        if (n == SY_TRACESTATE_MAX)
            return false;
        out[n++] = *p; /* \" and \\: tracestate is printable ASCII, no \u escapes */
    }
    out[n] = '\0';
    return p < end && n > 0 && sy_tracestate_check(out, NULL) == SY_OK;
}

/* Publishes the rows; returns how many were handed to nats.c or found
 * unpublishable (a bad subject, over the server's max_payload), which
 * never stop the others. Any other failure stops the round there: the
 * rest stays for the next round, in order. */
static int publish_rows(engine_relay *r)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = r->o.ack_timeout_ms;
    int sent = 0;
    for (int i = 0; i < r->cur.n; i++, sent++) {
        const relay_msg *msg = &r->cur.msgs[i];
        const char *subject = msg->subject, *why = NULL;
        if (!rules_subject_valid(subject, &why)) {
            snprintf(mark_dead(r, i, "outbox_bad_subject"), sizeof r->dead->message,
                     "subject \"%.100s\" cannot be published to: %s", subject, why);
            continue;
        }
        natsMsg *m = NULL;
        natsStatus ns = natsMsg_Create(&m, subject, NULL, msg->body, (int)msg->body_len);
        if (ns == NATS_OK)
            ns = natsMsgHeader_Set(m, "Nats-Msg-Id", msg->event_id);
        if (ns == NATS_OK)
            ns = natsMsgHeader_Set(m, "Content-Type", "application/json");
        char tp[SY_TRACEPARENT_MAX];
        if (ns == NATS_OK && traceparent_of(msg->body, msg->body_len, msg->event_id, tp))
            ns = natsMsgHeader_Set(m, "traceparent", tp);
        char ts[SY_TRACESTATE_MAX + 1];
        if (ns == NATS_OK && tracestate_of(msg->body, msg->body_len, ts))
            ns = natsMsgHeader_Set(m, "tracestate", ts);
        if (ns == NATS_OK)
            ns = js_PublishMsgAsync(r->js, &m, &po);
        natsMsg_Destroy(m); /* NULL when nats.c took it */
        if (ns == NATS_MAX_PAYLOAD)
            snprintf(mark_dead(r, i, "outbox_too_large"), sizeof r->dead->message,
                     "a message of %zu bytes is over the server's max_payload of %lld bytes",
                     msg->body_len, (long long)natsConnection_GetMaxPayload(r->nc));
        else if (ns != NATS_OK)
            break;
    }
    return sent;
}

/* Whether a stream holds subject (asked once per subject a round, up to a
 * few subjects; anything uncertain counts as covered: the message stays
 * and is tried again next round). */
static bool stream_holds(engine_relay *r, const char *subject)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Stream.Info.SubjectsFilter = subject;
    jsStreamNamesList *names = NULL;
    natsStatus ns = js_StreamNames(&names, r->js, &jo, NULL);
    jsStreamNamesList_Destroy(names);
    return ns != NATS_NOT_FOUND;
}

/* Whether the message may still be published later. A subject under the
 * engine's prefix waits while no stream holds any of <prefix>.>: the
 * outcomes stream is missing (a fresh install, an operator yet to create
 * it), which the outbox backlog shows; it is not the message's fault. */
static bool subject_covered(engine_relay *r, const char *subject)
{
    if (stream_holds(r, subject))
        return true;
    const char *prefix = r->eng->prefix;
    size_t n = strlen(prefix);
    if (strncmp(subject, prefix, n) != 0 || subject[n] != '.')
        return false;
    char all[80];
    sy_concat(all, sizeof all, prefix, ".>");
    if (stream_holds(r, all))
        return false;
    if (!r->warned_no_stream)
        SY_LOG(r->eng->log, SY_LOG_WARN,
               "no stream holds the outcome subjects: they wait in the outbox", "subject", all);
    r->warned_no_stream = true;
    return true;
}

/* After the round's PubAcks: a message nobody answered is a dead letter
 * when no stream holds its subject, one the stream refused for its size
 * always; the others stay for the next round. */
#define ROUND_STREAM_LOOKUPS 8
static void classify_failures(engine_relay *r, int sent)
{
    const char *asked[ROUND_STREAM_LOOKUPS];
    bool covered[ROUND_STREAM_LOOKUPS];
    int nasked = 0;
    for (int i = 0; i < sent; i++) {
        pthread_mutex_lock(&r->mu);
        unsigned char st = r->cur.st[i];
        pthread_mutex_unlock(&r->mu);
        const char *subject = r->cur.msgs[i].subject;
        if (st == ROW_TOO_BIG) {
            snprintf(mark_dead(r, i, "outbox_too_large"), sizeof r->dead->message,
                     "the stream refused a message of %zu bytes as over its max_msg_size",
                     r->cur.msgs[i].body_len);
            continue;
        }
        if (st != ROW_NO_RESPONDERS)
            continue;
        int k = 0;
        while (k < nasked && strcmp(asked[k], subject) != 0)
            k++;
        if (k == nasked && nasked == ROUND_STREAM_LOOKUPS)
            continue;
        if (k == nasked) {
            asked[nasked] = subject;
            covered[nasked++] = subject_covered(r, subject);
        }
        if (!covered[k])
            snprintf(mark_dead(r, i, "outbox_no_stream"), sizeof r->dead->message,
                     "no JetStream stream holds subject \"%.100s\"", subject);
    }
}

/* Ids of the pages all of whose messages were sent and acked (or are
 * dead letters), as a Postgres array literal; gone[row] says whether the
 * row's page is among them, *msgs counts their acked messages. A round's
 * rows are its pages' messages in order (column 0 the page id); a page with
 * one message unacked stays whole and is re-published next round
 * (JetStream drops the acked ones as duplicates by their Nats-Msg-Id). */
static size_t acked_pages(engine_relay *r, int sent, sy_buf *ids, bool *gone, size_t *msgs)
{
    size_t n = 0;
    *msgs = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->cur.n;) {
        int64_t page = r->cur.msgs[i].page;
        bool whole = true;
        size_t acked = 0;
        int j = i;
        for (; j < r->cur.n && r->cur.msgs[j].page == page; j++) {
            whole = whole && j < sent && (r->cur.st[j] == ROW_ACKED || r->cur.st[j] == ROW_DEAD);
            acked += r->cur.st[j] == ROW_ACKED;
        }
        for (int k = i; k < j; k++)
            gone[k] = whole;
        if (whole) {
            char num[21];
            sy_buf_puts(ids, n ? "," : "{");
            sy_buf_puts(ids, sy_i64(num, page));
            n++;
            *msgs += acked;
        }
        i = j;
    }
    pthread_mutex_unlock(&r->mu);
    sy_buf_puts(ids, n ? "}" : "{}");
    return n;
}

/* The round's messages: the oldest pages (at most ROUND_PAGES) up to the
 * one that reaches 'batch' messages, one result row per page (id, and its
 * three arrays) in Postgres's binary format, read into messages by
 * round_read. Unnesting them on the server (one row per message, ordered
 * by page and position) cost 25-33 ms per 2 048 messages against 10-19 ms
 * for the pages: three materialised function scans, a sort of every body
 * and each one printed as text. */
#define ROUND_PAGES 256
#define ROUND_SQL                                                                                  \
    "SELECT id, event_ids, subjects, bodies FROM (SELECT id, n, event_ids, subjects, bodies,"      \
    " sum(n) OVER (ORDER BY id) - n AS before FROM outbox ORDER BY id LIMIT " ENGINE__STR(         \
        ROUND_PAGES) ") o WHERE before < $1 ORDER BY id"

/* The dead letters of the round's unpublishable messages whose pages are
 * deleted now, in the same transaction: each message moves from the outbox
 * to a dead letter of its own (code, reason, subject, body), once. They
 * are kept in r->dead_log until the commit, then logged. */
static sy_status write_dead_letters(engine_relay *r, const bool *gone, sy_error *err)
{
    cJSON *rows = cJSON_CreateArray();
    for (size_t k = 0; k < r->ndead; k++) {
        const relay_dead *d = &r->dead[k];
        if (!gone[d->row])
            continue;
        const relay_msg *m = &r->cur.msgs[d->row];
        char *body = strndup(m->body, m->body_len); /* rare: a message that can never go */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "e", m->event_id);
        cJSON_AddStringToObject(o, "c", d->code);
        cJSON_AddStringToObject(o, "m", d->message);
        cJSON_AddStringToObject(o, "s", m->subject);
        cJSON_AddStringToObject(o, "b", body ? body : "");
        cJSON_AddItemToArray(rows, o);
        free(body);
    }
    sy_status st = SY_OK;
    if (cJSON_GetArraySize(rows) > 0) {
        char *json = cJSON_PrintUnformatted(rows);
        const char *p[] = {json};
        st = engine__exec(
            r->s,
            "INSERT INTO dead_letters (event_id, code, message, subject, body, headers)"
            " SELECT e, c, m, s, convert_to(b, 'UTF8'), jsonb_build_object("
            "'Nats-Msg-Id', e, 'Content-Type', 'application/json')"
            " FROM json_to_recordset($1::json) AS x(e text, c text, m text, s text,"
            " b text)",
            1, p, NULL, err);
        free(json);
    }
    cJSON_Delete(r->dead_log);
    r->dead_log = rows;
    return st;
}

/* After the commit: each dead letter of the round logged once and counted,
 * with the trace and workflow of its outcome event (read from its body). */
static void log_dead_letters(engine_relay *r)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, r->dead_log)
    {
        cJSON *body = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(o, "b")));
        const cJSON *payload = cJSON_GetObjectItemCaseSensitive(body, "payload");
        SY_LOG(r->eng->log, SY_LOG_WARN, "outbox message cannot be published, dead-lettered",
               "event_id", cJSON_GetStringValue(cJSON_GetObjectItem(o, "e")), "trace_id",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "trace_id")),
               "workflow_id",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(payload, "workflow_id")),
               "subject", cJSON_GetStringValue(cJSON_GetObjectItem(o, "s")), "code",
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "c")), "reason",
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "m")));
        cJSON_Delete(body);
        engine__count(r->s, ENGINE_STAT_OUTBOX_DEAD_LETTERS);
    }
    cJSON_Delete(r->dead_log);
    r->dead_log = NULL;
}

/* One round under the relay lock: select, publish all, wait for the
 * PubAcks, delete the pages whose messages were all acked. The delete's
 * commit waits for its WAL flush (one fsync a round, about 10% of the
 * relay's rate in `bench relay`): once a round returns, its messages are
 * never published again, however long Postgres is down afterwards. */
static sy_status round_locked(engine_relay *r, size_t *published, sy_error *err)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", r->o.batch);
    const char *p[] = {lim};
    PGresult *res = PQexecParams(engine__conn(r->s), ROUND_SQL, 1, NULL, p, NULL, NULL, 1);
    sy_status st = engine__result_status(engine__conn(r->s), res, "query failed", err);
    if (st != SY_OK || PQntuples(res) == 0) {
        PQclear(res);
        return st;
    }
    int npages = PQntuples(res);
    if (!round_begin(r, res)) /* res taken */
        return sy_error_set(err, SY_INTERNAL, "outbox", NULL,
                            "an outbox page is not three text arrays of one length");
    bool at_limit = npages >= ROUND_PAGES || (size_t)r->cur.n >= r->o.batch;
    int sent = publish_rows(r);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = r->o.ack_timeout_ms;
    if (js_PublishAsyncComplete(r->js, &po) != NATS_OK) {
        natsMsgList pending = {0};
        if (js_PublishAsyncGetPendingList(&pending, r->js) == NATS_OK)
            natsMsgList_Destroy(&pending); /* unacked: their rows stay */
    }
    classify_failures(r, sent);
    sy_buf ids = SY_BUF_INIT;
    bool *gone = calloc((size_t)r->cur.n + 1, sizeof *gone);
    size_t msgs = 0, pages = acked_pages(r, sent, &ids, gone, &msgs);
    const char *dp[] = {ids.data};
    if (pages)
        st =
            engine__exec(r->s, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, dp, NULL, err);
    if (pages && st == SY_OK && r->ndead)
        st = write_dead_letters(r, gone, err);
    round_end(r);
    free(gone);
    sy_buf_cleanup(&ids);
    *published = st == SY_OK ? msgs : 0;
    /* a round that stopped at its limits and made progress: more pages may
     * wait, the loop goes on without waiting for a NOTIFY (a backlog of
     * one-message pages would otherwise drain at ROUND_PAGES per poll) */
    r->more = at_limit && st == SY_OK && pages > 0;
    return st;
}

sy_status engine_relay_run_once(engine_relay *r, size_t *published, sy_error *err)
{
    size_t n = 0;
    r->more = false;
    sy_status st = ensure_session(r, err);
    if (st == SY_OK)
        st = engine_begin(r->s, err);
    if (st != SY_OK)
        return st;
    const char *p[] = {r->eng->schema};
    PGresult *res = NULL;
    st = engine__exec(r->s, "SELECT pg_try_advisory_xact_lock(hashtext('switchyard.relay.' || $1))",
                      1, p, &res, err);
    bool mine = st == SY_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (mine)
        st = round_locked(r, &n, err);
    if (st == SY_OK)
        st = engine_commit(r->s, err);
    else
        engine_rollback(r->s);
    if (st == SY_OK)
        log_dead_letters(r);
    cJSON_Delete(r->dead_log);
    r->dead_log = NULL;
    if (st == SY_OK)
        r->published += n;
    if (published)
        *published = st == SY_OK ? n : 0;
    return st;
}

/* Readiness: a lost Postgres connection, or one that works again. */
static void tell_health(const engine_relay *r, sy_status st)
{
    if (r->o.health && (st == SY_OK || st == SY_DB_DOWN))
        r->o.health(r->o.health_arg, st == SY_OK);
}

void engine_relay_run(engine_relay *r, const atomic_bool *stop)
{
    int64_t backoff = 100;
    while (!atomic_load(stop)) {
        size_t n = 0;
        sy_error err = {0};
        sy_status st = engine_relay_run_once(r, &n, &err);
        tell_health(r, st);
        if (st != SY_OK) {
            SY_LOG(r->eng->log, SY_LOG_WARN, "outbox relay round failed", "status",
                   sy_status_text(st), "error", err.message);
            nats_Sleep(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        backoff = 100;
        /* idle: wait for a NOTIFY from a commit that wrote outbox rows */
        if (!r->more && r->s && engine_wait_notify(r->s, (int)r->o.poll_ms, NULL, &err) != SY_OK) {
            tell_health(r, SY_DB_DOWN); /* the connection went away while idle */
            nats_Sleep(backoff);
        }
    }
}
