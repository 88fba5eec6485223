/* pipeline.c: one pipeline thread of the router (router.h).
 *
 * Loop: make sure the Postgres session is open (reconnect with capped
 * exponential backoff, readiness false meanwhile) and the pull subscription
 * bound, fetch up to batch_size messages, then process the batch:
 *
 *   parse + validate each message -> rules_route -> engine_batch_* (inbox row,
 *   starts, signals, dead letters) -> begin / apply / commit -> ack or term
 *   each message.
 *
 * The invariant: a message is acked or termed only after the transaction
 * holding its effect or its dead letter committed. A failed transaction
 * naks every message with a delay (redelivery finds the inbox, so nothing is
 * doubled). Invalid messages are termed in the same delivery: their dead
 * letter is keyed by stream sequence, so a redelivery after a crash records
 * it once. */
#include "jsfetch.h"
#include "clock.h"
#include "dlq.h"
#include "flow.h"
#include "mem.h"
#include "order.h"
#include "router_int.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define ORDER_RETRY_MS 10 /* fetch wait while events are held (order.h) */

/* What to do with one message once the batch is committed. */
typedef struct item {
    natsMsg *msg;
    envelope *env;          /* NULL when invalid */
    envelope_fields parsed; /* owned: what parsed of an invalid one (envelope_peek) */
    uint64_t seq;           /* stream sequence */
    int64_t published_ns;   /* stream timestamp */
    bool in_batch;          /* has an inbox row in this batch */
    size_t ev;              /* its index in the engine batch */
    bool invalid;           /* dead-lettered before routing: term */
    bool all_dead;          /* every action was a dead letter: term */
    bool nak;               /* could not be processed now: nak */
    size_t starts, signals;
    size_t flow_first, nflows; /* its flow handles in the batch: a contiguous range */
    uint64_t flow_signals;     /* bit i: flow flow_first + i is a signal's */
    const char *dl_code;       /* first dead-letter code, for metrics (borrowed) */
    char dl_code_buf[SY_ERROR_CODE_MAX];
    cJSON *hdrs;              /* owned: headers lent to engine_batch_event_source */
    char workflow_id[256];    /* of its first start or signal, for its log lines */
    char span[17];            /* the event's span (its event_id's), "" when none parsed */
    char parent_span[17];     /* its trace context's parent id (the publisher's span) */
    const char *tracestate;   /* its W3C tracestate, carried on (borrowed from msg or env) */
    bool unmatched;           /* no route matched */
    router_recent_event *rec; /* its entry of the recent events (recent.h), or NULL */
    rules_actions acts;       /* owned: what routing gave (valid ones) */
    sy_error *why;            /* owned: why it is invalid (invalid ones) */
    bool held;                /* stream order keeps it for the next round */
    int64_t replay_of;        /* the dead letter a dlq replay names, verified; 0: none */
    const char *replay_route; /* that replay's route (borrowed from the headers), or NULL */
} item;

/* ---- session and subscription ------------------------------------------------- */

static void close_session(router_pipeline *p)
{
    engine_session_close(p->session);
    p->session = NULL;
    router__gen_release(p->gen);
    p->gen = NULL;
    atomic_store(&p->db_ok, false);
}

/* Closes a session whose connection is gone, so that a Postgres crash
 * between batches makes readiness false at the pipeline's next fetch
 * round (at most fetch_wait later) instead of at its next failed batch,
 * and so that a batch fetched after the crash is not tried on it. */
static void drop_lost_session(router_pipeline *p)
{
    sy_error err = {0};
    if (!p->session || engine_session_check(p->session, &err) == SY_OK)
        return;
    SY_LOG(p->r->log, SY_LOG_WARN, "Postgres connection lost; reconnecting", "error", err.message);
    close_session(p);
}

/* Opens a session on the current generation, or reopens after a reload. */
static sy_status ensure_session(router_pipeline *p)
{
    router *r = p->r;
    drop_lost_session(p);
    router_gen *g = router__gen_acquire(r);
    if (p->session && g == p->gen) {
        router__gen_release(g);
        return SY_OK;
    }
    if (p->session) { /* a reload: keep readiness while switching generations */
        engine_session_close(p->session);
        p->session = NULL;
        router__gen_release(p->gen);
        p->gen = NULL;
    }
    sy_error err = {0};
    sy_status st = engine_session_open(g->eng, r->conninfo, r->cfg->pg_migrate, &p->session, &err);
    if (st != SY_OK) {
        router__gen_release(g);
        p->session = NULL;
        atomic_store(&p->db_ok, false);
        if (p->backoff_ms == BACKOFF_MIN_MS)
            SY_LOG(r->log, SY_LOG_WARN, "Postgres unavailable; retrying with backoff", "error",
                   err.message);
        return st;
    }
    p->gen = g;
    atomic_store(&r->schema_ready, true); /* the session open migrated first */
    atomic_store(&p->db_ok, true);
    if (p->backoff_ms > BACKOFF_MIN_MS)
        SY_LOG(r->log, SY_LOG_INFO, "Postgres connected");
    p->backoff_ms = BACKOFF_MIN_MS;
    return SY_OK;
}

static sy_status subscribe(router_pipeline *p)
{
    router *r = p->r;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = r->cfg->stream_name;
    so.Consumer = r->cfg->consumer_name; /* bind: never create or change it here */
    so.ManualAck = true;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&p->sub, r->js, NULL, r->cfg->consumer_name, NULL, &so, &jerr);
    if (s != NATS_OK) {
        p->sub = NULL;
        SY_LOG(r->log, SY_LOG_WARN, "could not bind the pull subscription", "error",
               natsStatus_GetText(s));
        return SY_NATS_DOWN;
    }
    return SY_OK;
}

/* ---- one message ----------------------------------------------------------------- */

static const char *header(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : NULL;
}

const char **router__header_pairs(natsMsg *m, size_t *n)
{
    const char **keys = NULL, **pairs = NULL;
    int nk = 0;
    size_t np = 0, cap = 0;
    *n = 0;
    if (natsMsgHeader_Keys(m, &keys, &nk) != NATS_OK)
        nk = 0;
    for (int i = 0; i < nk; i++) {
        const char **vals = NULL;
        int nv = 0;
        if (natsMsgHeader_Values(m, keys[i], &vals, &nv) != NATS_OK || nv == 0) {
            free((void *)vals);
            continue;
        }
        if (np + (size_t)nv > cap) {
            size_t want = (np + (size_t)nv) * 2;
            const char **grown = realloc((void *)pairs, 2 * want * sizeof *pairs);
            if (!grown) {
                free((void *)vals);
                break;
            }
            pairs = grown;
            cap = want;
        }
        for (int j = 0; j < nv; j++) {
            pairs[2 * np] = keys[i];
            pairs[2 * np + 1] = vals[j];
            np++;
        }
        free((void *)vals);
    }
    free((void *)keys);
    *n = np;
    return pairs;
}

cJSON *router__headers_json(natsMsg *m)
{
    size_t n = 0;
    const char **pairs = router__header_pairs(m, &n);
    cJSON *o = n ? cJSON_CreateObject() : NULL;
    for (size_t i = 0; o && i < n; i++)
        if (!cJSON_GetObjectItemCaseSensitive(o, pairs[2 * i])) /* its first value */
            cJSON_AddStringToObject(o, pairs[2 * i], pairs[2 * i + 1]);
    free((void *)pairs);
    return o;
}

/* What is known of the event of 'it' (borrowed from it): all of it when it
 * is valid, else the fields that parsed, each NULL when unknown. */
typedef struct known {
    const char *event_id, *trace_id, *type, *source;
} known;

static known known_of(const item *it)
{
    if (it->env)
        return (known){envelope_event_id(it->env), envelope_trace_id(it->env),
                       envelope_type(it->env), envelope_source(it->env)};
    return (known){it->parsed.event_id, it->parsed.trace_id, it->parsed.type, it->parsed.source};
}

static void log_dead_letter(const router *r, const item *it, const char *event_id, const char *code,
                            const char *msg)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)it->seq);
    known k = known_of(it);
    SY_LOG(r->log, SY_LOG_WARN, "event dead-lettered", "event_id", event_id, "trace_id", k.trace_id,
           "workflow_id", it->workflow_id[0] ? it->workflow_id : NULL, "type", k.type, "source",
           k.source, "subject", natsMsg_GetSubject(it->msg), "stream_seq", seq, "code", code,
           "reason", msg, "span_id", it->span[0] ? it->span : NULL, "parent_span_id",
           it->parent_span[0] ? it->parent_span : NULL);
}

/* Adds message 'it' to the batch as an event with inbox key 'key'. A
 * replayed dead letter (dlq replay's headers) is marked as such: a failure
 * of the replay updates that dead letter instead of adding one. */
static void add_event(router_pipeline *p, item *it, const char *key)
{
    it->ev = engine_batch_event(p->batch, key);
    it->in_batch = true;
    if (it->replay_of > 0)
        engine_batch_event_replay(p->batch, it->ev, it->replay_of, it->replay_route != NULL);
}

/* Adds the dead letter of message 'it' (of one route, or the whole event:
 * route NULL) to the batch under inbox key 'key'. */
static void add_dead_letter(router_pipeline *p, item *it, const char *key, const char *event_id,
                            const char *route, const char *code, const char *message)
{
    if (!it->in_batch)
        add_event(p, it, key);
    cJSON *hdrs = router__headers_json(it->msg);
    known k = known_of(it);
    engine_dead_letter dl = {.event_id = event_id,
                             .trace_id = k.trace_id,
                             .type = k.type,
                             .source = k.source,
                             .code = code,
                             .message = message,
                             .subject = natsMsg_GetSubject(it->msg),
                             .body = natsMsg_GetData(it->msg),
                             .body_len = (size_t)natsMsg_GetDataLength(it->msg),
                             .headers = hdrs,
                             .stream_seq = it->seq,
                             .route = route};
    engine_batch_dead_letter(p->batch, it->ev, &dl);
    cJSON_Delete(hdrs);
    if (!it->dl_code) {
        snprintf(it->dl_code_buf, sizeof it->dl_code_buf, "%s", code);
        it->dl_code = it->dl_code_buf;
    }
    log_dead_letter(p->r, it, event_id, code, message);
}

static void fill_start(const rules_action *a, const envelope *env, const char *tracestate,
                       engine_start_req *req)
{
    *req = (engine_start_req){.workflow_type = a->workflow,
                              .workflow_id = a->workflow_id,
                              .input = a->input,
                              .task_queue = a->task_queue,
                              .if_running = a->if_running,
                              .if_closed = a->if_closed,
                              .event_id = envelope_event_id(env),
                              .trace_id = envelope_trace_id(env),
                              .tracestate = tracestate,
                              .route = a->route};
}

size_t router__batch_action(engine_batch *b, size_t ev, const envelope *env, const char *tracestate,
                            const rules_action *a)
{
    engine_start_req start;
    fill_start(a, env, tracestate, &start);
    if (a->kind == RULES_START) {
        engine_batch_start(b, ev, &start);
    } else {
        engine_signal_req sig = {.workflow_id = a->workflow_id,
                                 .signal = a->signal,
                                 .payload = a->signal_payload,
                                 .event_id = envelope_event_id(env),
                                 .trace_id = envelope_trace_id(env),
                                 .tracestate = tracestate,
                                 .if_missing = a->if_missing,
                                 .start = a->if_missing == RULES_IF_MISSING_START ? &start : NULL,
                                 .route = a->route};
        engine_batch_signal(b, ev, &sig);
    }
    /* the action's flow stages, attached to the op just added */
    return a->nflow ? engine_batch_flow(b, a->route, a->flow, a->nflow, envelope_json(env))
                    : SIZE_MAX;
}

void router__routes_text(const rules_actions *acts, sy_buf *out)
{
    sy_buf_reset(out);
    for (size_t i = 0; i < acts->len; i++)
        sy_buf_printf(out, "%s%s", i ? "\n" : "", acts->items[i].route);
    if (acts->correlate)
        sy_buf_printf(out, "%s" ROUTER_CORR_ROUTE, acts->len ? "\n" : "");
}

/* Notes flow handle h (SIZE_MAX: none) of the item's action a. */
static void add_flow(item *it, const rules_action *a, size_t h)
{
    if (h == SIZE_MAX)
        return;
    if (!it->nflows)
        it->flow_first = h;
    if (a->kind == RULES_SIGNAL && it->nflows < 64)
        it->flow_signals |= 1ull << it->nflows;
    it->nflows++;
}

/* Turns one routed action into batch calls. */
static void add_action(router_pipeline *p, item *it, const rules_action *a)
{
    const envelope *env = it->env;
    if (!it->workflow_id[0] && a->workflow_id &&
        (a->kind == RULES_START || a->kind == RULES_SIGNAL))
        sy_strlcpy(it->workflow_id, sizeof it->workflow_id, a->workflow_id);
    switch (a->kind) {
    case RULES_START:
    case RULES_SIGNAL:
        add_flow(it, a, router__batch_action(p->batch, it->ev, env, it->tracestate, a));
        *(a->kind == RULES_START ? &it->starts : &it->signals) += 1;
        it->all_dead = false;
        break;
    case RULES_DEAD_LETTER:
        add_dead_letter(p, it, envelope_event_id(env), envelope_event_id(env), a->route,
                        a->dl_code ? a->dl_code : "dead_letter",
                        a->dl_message ? a->dl_message : "dead-lettered by a route");
        break;
    case RULES_DROP:
        it->all_dead = false;
        break;
    }
}

/* The inbox key of a message that only produces dead letters: its stream
 * position (a redelivery records it once; a replay is a new position). */
static void dl_key(const router_pipeline *p, const item *it, char *buf, size_t n)
{
    snprintf(buf, n, "sy.dl:%s:%llu", p->r->cfg->stream_name, (unsigned long long)it->seq);
}

/* Lends the original message to the engine, so that an action it refuses
 * (a signal to a missing workflow, ...) becomes a replayable dead letter with
 * the original subject, bytes, headers and stream sequence. The pointers
 * stay valid until the batch is applied (the message and it->hdrs live
 * until run_batch returns). */
static void attach_source(router_pipeline *p, item *it)
{
    it->hdrs = router__headers_json(it->msg);
    known k = known_of(it);
    engine_dead_letter src = {.trace_id = k.trace_id,
                              .type = k.type,
                              .source = k.source,
                              .subject = natsMsg_GetSubject(it->msg),
                              .body = natsMsg_GetData(it->msg),
                              .body_len = (size_t)natsMsg_GetDataLength(it->msg),
                              .headers = it->hdrs,
                              .stream_seq = it->seq};
    engine_batch_event_source(p->batch, it->ev, &src);
}

/* Routes a valid envelope into it->acts (nothing is added to the batch
 * yet: stream order may hold it, order.h). */
static void route_item(router_pipeline *p, item *it)
{
    rules_actions *acts = &it->acts;
    if (rules_route(p->gen->rules, it->env, acts) != SY_OK) {
        it->nak = true; /* out of memory: let JetStream redeliver later */
        return;
    }
    for (size_t i = 0; it->rec && i < acts->len; i++) {
        static const char *const kinds[] = {[RULES_START] = "start",
                                            [RULES_SIGNAL] = "signal",
                                            [RULES_DEAD_LETTER] = "dead_letter",
                                            [RULES_DROP] = "drop"};
        const rules_action *a = &acts->items[i];
        router_recent_add_action(it->rec, a->route, kinds[a->kind], a->workflow_id, a->signal);
    }
}

/* The workflows the routed item starts or signals (order.h). */
static void item_keys(const item *it, router_order_keys *ks)
{
    memset(ks, 0, sizeof *ks);
    /* a correlated event (cancel_on, wait_event) acts on whichever runs
     * wait for it: it is ordered against every workflow */
    ks->all = it->env && it->acts.correlate;
    for (size_t i = 0; it->env && i < it->acts.len; i++) {
        const rules_action *a = &it->acts.items[i];
        if ((a->kind == RULES_START || a->kind == RULES_SIGNAL) && a->workflow_id)
            router_order_keys_add(ks, a->workflow_id);
    }
}

/* Adds the effects of a routed valid envelope to the batch. */
static void add_routed(router_pipeline *p, item *it)
{
    const rules_actions *acts = &it->acts;
    const char *id = envelope_event_id(it->env);
    if (acts->unmatched) {
        it->unmatched = true;
        atomic_fetch_add_explicit(&p->r->metrics.unmatched, 1, memory_order_relaxed);
        if (rules_set_unmatched_dead_letter(p->gen->rules)) {
            char key[160];
            dl_key(p, it, key, sizeof key);
            add_dead_letter(p, it, key, id, NULL, "unmatched", "no route matched the event");
            it->all_dead = true;
        }
        return; /* otherwise acked without an inbox row: it has no effect */
    }
    /* the replay of one route's dead letter runs that route only: the
     * event's other routes took effect when it first came */
    const char *only = it->replay_route;
    bool effects = false, live = false, found = false;
    for (size_t i = 0; i < acts->len; i++) {
        const rules_action *a = &acts->items[i];
        if (only && strcmp(a->route, only) != 0)
            continue;
        found = true;
        effects |= a->kind != RULES_DROP;
        live |= a->kind == RULES_START || a->kind == RULES_SIGNAL;
    }
    char key[ROUTER_DLQ_KEY_MAX];
    if (only && !found) {
        char why[200];
        snprintf(why, sizeof why,
                 "route \"%.120s\" of the replayed dead letter no longer "
                 "matches the event",
                 only);
        dl_key(p, it, key, sizeof key);
        add_dead_letter(p, it, key, id, only, "unmatched", why);
        it->all_dead = true;
        return;
    }
    /* an event a workflow correlates on (cancel_on, wait_event) has an
     * effect of its own, under its event_id; not when one route is replayed */
    bool corr = acts->correlate && !only;
    if (!effects && !corr)
        return;
    /* only dead letters: keyed by stream position, like an invalid event, so
     * that a replay after the rules are fixed is not taken for a duplicate;
     * a route's replay: by event and route; else by event_id */
    if (!live && !corr)
        dl_key(p, it, key, sizeof key);
    else if (only)
        router_dlq_route_key(id, only, key, sizeof key);
    else
        snprintf(key, sizeof key, "%s", id);
    add_event(p, it, key);
    if ((live || corr) && !only) { /* the routes it is applied with, for a later replay */
        router__routes_text(acts, &p->routes);
        engine_batch_event_routes(p->batch, it->ev, p->routes.data ? p->routes.data : "");
    }
    it->all_dead = !corr;
    if (live)
        attach_source(p, it);
    if (corr)
        engine_batch_correlate(p->batch, it->ev, envelope_json(it->env));
    for (size_t i = 0; i < acts->len; i++)
        if (!only || strcmp(acts->items[i].route, only) == 0)
            add_action(p, it, &acts->items[i]);
}

/* The event's W3C trace context: the traceparent header names the
 * publisher's span (the parent of the event's own span) and must carry the
 * event's trace_id; a tracestate header is checked. An event whose headers
 * are wrong is invalid (bad_trace_id, path traceparent or tracestate), like
 * a bad trace_id in its body. The parent and the tracestate carried on are
 * the headers' when there is a traceparent header (the hop that published
 * the message), else the CloudEvent's traceparent and tracestate
 * attributes' (envelope_trace_parent): the pair always comes from one
 * place, as W3C's tracestate belongs to its traceparent. */
sy_status router__trace_headers(natsMsg *m, const envelope *env, char *parent, const char **state,
                                sy_error *err)
{
    const char *tp = header(m, "traceparent"), *ts = header(m, "tracestate");
    const char *trace_id = envelope_trace_id(env);
    char trace[33];
    parent[0] = '\0';
    *state = NULL;
    if (tp && sy_traceparent_parse(tp, trace, parent, err) != SY_OK)
        return SY_INVALID;
    if (tp && strcmp(trace, trace_id) != 0)
        return sy_error_set(err, SY_INVALID, "bad_trace_id", "traceparent",
                            "traceparent's trace id %s is not the event's trace_id %s", trace,
                            trace_id);
    if (ts && sy_tracestate_check(ts, err) != SY_OK)
        return SY_INVALID;
    if (tp) {
        *state = ts && *ts ? ts : NULL;
    } else {
        sy_strlcpy(parent, 17, envelope_trace_parent(env));
        *state = envelope_tracestate(env);
    }
    return SY_OK;
}

/* dlq replay's headers (Sy-Replay-Of, Sy-Replay-Route) are honoured only
 * when the dead letter they name is this event's (of that route): any
 * publisher can set headers, and a route's replay is keyed apart from the
 * event, so a forged one would apply its route a second time. A header
 * naming no such dead letter is ignored: the event is what it is, usually
 * a duplicate. false: the check could not run (Postgres away). */
static bool check_replay(router_pipeline *p, item *it, const char *event_id)
{
    const char *replay = header(it->msg, ROUTER_REPLAY_HEADER);
    long long id = replay ? atoll(replay) : 0;
    if (id <= 0)
        return true;
    const char *route = header(it->msg, ROUTER_REPLAY_ROUTE_HEADER);
    bool ok = false;
    sy_error err = {0};
    if (engine_dead_letter_names(p->session, id, event_id, route, &ok, &err) != SY_OK)
        return false;
    if (!ok) {
        SY_LOG(p->r->log, SY_LOG_WARN, "replay headers name no dead letter of this event; ignored",
               "event_id", event_id, "dead_letter", replay, "route", route);
        return true;
    }
    it->replay_of = id;
    it->replay_route = route;
    return true;
}

/* Parses and routes one message into it (add_item adds its effects). */
static void prepare_item(router_pipeline *p, item *it, natsMsg *m, router_recent_event *rec)
{
    router *r = p->r;
    memset(it, 0, sizeof *it);
    it->msg = m;
    it->rec = rec;
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
        it->seq = md->Sequence.Stream;
        it->published_ns = md->Timestamp;
        /* consumer lag, as the server saw it when it delivered this message */
        atomic_store_explicit(&r->metrics.consumer_pending, (int64_t)md->NumPending,
                              memory_order_relaxed);
    }
    jsMsgMetaData_Destroy(md);
    size_t nh = 0;
    const char **hdrs = router__header_pairs(m, &nh); /* a CloudEvent in binary mode is in them */
    envelope_meta em = {.content_type = header(m, "Content-Type"),
                        .key_id = header(m, "Sy-Key-Id"),
                        .signature = header(m, "Sy-Signature"),
                        .headers = hdrs,
                        .nheaders = nh,
                        .received_ms = it->published_ns / 1000000};
    sy_error err = {0};
    sy_status st = envelope_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &em,
                                  &r->env_opts, &it->env, &err);
    if (st == SY_OK &&
        router__trace_headers(m, it->env, it->parent_span, &it->tracestate, &err) != SY_OK) {
        envelope_free(it->env); /* dead-lettered below with what peek reads of it */
        it->env = NULL;
        st = SY_INVALID;
    }
    if (rec) {
        router_recent_begin(rec, natsMsg_GetSubject(m), it->seq);
        if (st == SY_OK)
            router_recent_envelope(rec, envelope_event_id(it->env), envelope_type(it->env),
                                   envelope_source(it->env),
                                   header(m, ROUTER_REPLAY_HEADER) != NULL);
    }
    if (st == SY_OK || st == SY_NOMEM) {
        free((void *)hdrs);
        if (st == SY_OK)
            sy_span_id(envelope_event_id(it->env), it->span);
        if (st != SY_OK || !check_replay(p, it, envelope_event_id(it->env)))
            it->nak = true;
        else
            route_item(p, it);
        return;
    }
    it->why = malloc(sizeof *it->why);
    if (!it->why) {
        free((void *)hdrs);
        it->nak = true;
        return;
    }
    *it->why = err;
    it->invalid = true;
    envelope_peek(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &em, &r->env_opts,
                  &it->parsed);
    free((void *)hdrs);
    if (it->parsed.event_id)
        sy_span_id(it->parsed.event_id, it->span);
    if (rec)
        router_recent_envelope(rec, it->parsed.event_id, it->parsed.type, it->parsed.source,
                               header(m, ROUTER_REPLAY_HEADER) != NULL);
    if (!check_replay(p, it, it->parsed.event_id))
        it->nak = true;
}

/* Adds the effects of a prepared item to the batch. */
static void add_item(router_pipeline *p, item *it)
{
    if (it->nak)
        return;
    if (!it->invalid) {
        add_routed(p, it);
        return;
    }
    /* keyed by stream position: a redelivery records it once, and a fixed
     * re-publish of the same event_id is not mistaken for a duplicate; the
     * dead letter and its log line keep whatever did parse */
    char key[160];
    dl_key(p, it, key, sizeof key);
    char msg[SY_ERROR_TEXT_MAX];
    sy_error_text(it->why, msg, sizeof msg);
    add_dead_letter(p, it, key, it->parsed.event_id, NULL,
                    it->why->code[0] ? it->why->code : "invalid", msg);
    if (it->rec)
        sy_strlcpy(it->rec->message, sizeof it->rec->message, msg);
}

/* ---- the batch --------------------------------------------------------------------- */

static void in_progress_all(item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        natsMsg_InProgress(items[i].msg, NULL);
}

/* begin / apply / commit, with in-progress acks when it runs long. */
/* Attempts of a batch that meets a transient conflict (SY_BUSY: another
 * pipeline committed the same new workflow ID or event_id first, or a
 * deadlock) before its messages are nak'ed: applied again at once, the
 * batch sees the other's commit (the ID exists, the event is a duplicate). */
enum { BUSY_ATTEMPTS = 3 };

static sy_status apply_batch(router_pipeline *p, item *items, size_t n, int64_t t0_ms,
                             sy_error *err)
{
    const int64_t every = p->r->cfg->in_progress_every_ms;
    sy_status st = SY_BUSY;
    for (int attempt = 1; st == SY_BUSY && attempt <= BUSY_ATTEMPTS; attempt++) {
        if (attempt > 1)
            atomic_fetch_add_explicit(&p->r->metrics.busy_retries, 1, memory_order_relaxed);
        st = engine_begin(p->session, err);
        if (st == SY_OK)
            st = engine_batch_apply(p->session, p->batch, err);
        if (st == SY_OK && p->order && p->nround) /* in the same transaction: done when visible */
            st = router_order_settle(p->order, p->session, p->round, p->nround, err);
        if (st == SY_OK && sy_mono_ms() - t0_ms > every)
            in_progress_all(items, n);
        if (st == SY_OK)
            st = engine_commit(p->session, err);
        if (st != SY_OK)
            engine_rollback(p->session);
    }
    return st;
}

static void nak_all(router_pipeline *p, item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (natsMsg_NakWithDelay(items[i].msg, p->r->cfg->nak_delay_ms, NULL) == NATS_OK)
            atomic_fetch_add_explicit(&p->r->metrics.naked, 1, memory_order_relaxed);
}

/* What the event did, for the Events page (recent.h). */
static void note_recent(router_pipeline *p, item *it, engine_outcome oc, bool term)
{
    const engine_result *res = NULL;
    const char *outcome = "applied", *code = it->dl_code, *msg = NULL;
    if (it->invalid)
        outcome = "invalid";
    else if (oc == ENGINE_DUPLICATE)
        outcome = "duplicate";
    else if (it->unmatched && !term)
        outcome = "unmatched";
    else if (term || oc == ENGINE_DEAD_LETTERED)
        outcome = "dead_lettered";
    if (it->in_batch && (res = engine_batch_result(p->batch, it->ev)) != NULL) {
        if (!code && res->code[0])
            code = res->code;
        msg = res->code[0] ? res->message : NULL;
    }
    router_recent_outcome(it->rec, outcome, code, msg, res ? res->run_id : NULL,
                          res && res->started, sy_clock_now_ms(NULL));
}

/* Counts what flow control did with the item's actions; those it dropped
 * or held are not counted as started or signaled (a held one counts when
 * the timer loop fires it, in the engine's totals). */
static void count_flows(router_pipeline *p, item *it)
{
    router_metrics *m = &p->r->metrics;
    for (size_t i = 0; i < it->nflows; i++) {
        rules_flow_outcome o = engine_batch_flow_outcome(p->batch, it->flow_first + i);
        atomic_fetch_add_explicit(&m->flow[o], 1, memory_order_relaxed);
        if (o == RULES_FLOW_OUT_PASSED || o == RULES_FLOW_OUT_NONE)
            continue;
        bool sig = i < 64 && (it->flow_signals >> i & 1);
        size_t *n = sig ? &it->signals : &it->starts;
        if (*n)
            (*n)--;
    }
}

/* After the commit: ack or term each message, count what happened. */
static void settle(router_pipeline *p, item *it)
{
    router_metrics *m = &p->r->metrics;
    if (it->nak) {
        natsMsg_NakWithDelay(it->msg, p->r->cfg->nak_delay_ms, NULL);
        atomic_fetch_add_explicit(&m->naked, 1, memory_order_relaxed);
        return;
    }
    engine_outcome oc = it->in_batch ? engine_batch_outcome(p->batch, it->ev) : ENGINE_APPLIED;
    bool term = it->invalid || (it->in_batch && it->all_dead) || oc == ENGINE_DEAD_LETTERED;
    if (oc == ENGINE_DUPLICATE) {
        atomic_fetch_add_explicit(&m->duplicates, 1, memory_order_relaxed);
    } else if (oc == ENGINE_DEAD_LETTERED && !it->dl_code) {
        /* refused by the engine (e.g. a signal to a missing workflow) */
        const engine_result *res = engine_batch_result(p->batch, it->ev);
        const char *code = res && res->code[0] ? res->code : "dead_letter";
        router_metrics_dead_letter(m, code);
        log_dead_letter(p->r, it, envelope_event_id(it->env), code, res ? res->message : "");
    } else if (term) {
        router_metrics_dead_letter(m, it->dl_code);
    } else {
        count_flows(p, it);
        atomic_fetch_add_explicit(&m->routed, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->started, it->starts, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->signaled, it->signals, memory_order_relaxed);
    }
    if (p->r->log && p->r->log->level <= SY_LOG_DEBUG) {
        char seq[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)it->seq);
        known k = known_of(it);
        SY_LOG(p->r->log, SY_LOG_DEBUG, term ? "event termed" : "event acked", "event_id",
               k.event_id, "trace_id", k.trace_id, "workflow_id",
               it->workflow_id[0] ? it->workflow_id : NULL, "subject", natsMsg_GetSubject(it->msg),
               "stream_seq", seq, "outcome",
               oc == ENGINE_DUPLICATE ? "duplicate"
               : it->in_batch         ? "applied"
                                      : "no effect",
               "span_id", it->span[0] ? it->span : NULL, "parent_span_id",
               it->parent_span[0] ? it->parent_span : NULL);
    }
    if (it->rec)
        note_recent(p, it, oc, term);
    if (term) {
        natsMsg_Term(it->msg, NULL);
        atomic_fetch_add_explicit(&m->termed, 1, memory_order_relaxed);
    } else {
        natsMsg_Ack(it->msg, NULL);
        atomic_fetch_add_explicit(&m->acked, 1, memory_order_relaxed);
    }
}

static void observe_commit(router_pipeline *p, item *items, size_t n, int64_t begin_ns)
{
    router_metrics *m = &p->r->metrics;
    int64_t now_ns = sy_mono_ns();
    router_metrics_observe(&m->commit_seconds, (double)(now_ns - begin_ns) / 1e9);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the stream timestamp is wall-clock ns */
    int64_t wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    for (size_t i = 0; i < n; i++)
        if (items[i].published_ns > 0 && !items[i].nak && !items[i].held)
            router_metrics_observe(&m->e2e_seconds,
                                   (double)(wall_ns - items[i].published_ns) / 1e9);
    atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
}

/* A message whose own transaction failed for a non-retryable reason (a bug
 * or a constraint the engine did not expect): record it as a dead letter so
 * that it neither blocks the stream nor vanishes after max_deliver. */
static void poison(router_pipeline *p, natsMsg *m, const sy_error *why)
{
    item it;
    memset(&it, 0, sizeof it);
    it.msg = m;
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK)
        it.seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    char key[160];
    dl_key(p, &it, key, sizeof key);
    engine_batch_reset(p->batch);
    it.invalid = true;
    add_dead_letter(p, &it, key, NULL, NULL, "engine_error", why->message);
    sy_error err = {0};
    if (apply_batch(p, &it, 1, sy_mono_ms(), &err) == SY_OK)
        settle(p, &it);
    else
        nak_all(p, &it, 1);
}

/* Stream order (order.h): decides which of the prepared items may commit
 * now. false: the lanes could not be read (Postgres away): nothing may. */
static bool order_decide(router_pipeline *p, item *items, router_order_msg *om, size_t n)
{
    for (size_t i = 0; i < n; i++)
        item_keys(&items[i], &om[i].keys);
    sy_error err = {0};
    sy_status st = router_order_decide(p->order, p->session, p->r->js, om, n, sy_mono_ms(),
                                       p->r->cfg->order_max_hold_ms, &err);
    if (st != SY_OK) {
        SY_LOG(p->r->log, SY_LOG_WARN, "could not read the order lanes", "status",
               sy_status_text(st), "error", err.message);
        return false;
    }
    router_metrics *m = &p->r->metrics;
    for (size_t i = 0; i < n; i++) {
        if (!om[i].clear)
            atomic_fetch_add_explicit(&m->order_held, 1, memory_order_relaxed);
        if (om[i].forced) {
            atomic_fetch_add_explicit(&m->order_forced, 1, memory_order_relaxed);
            char seq[24];
            snprintf(seq, sizeof seq, "%llu", (unsigned long long)om[i].seq);
            SY_LOG(p->r->log, SY_LOG_WARN,
                   "event held past consumer.order_max_hold; applied out of order", "stream_seq",
                   seq, "workflow_id", items[i].workflow_id[0] ? items[i].workflow_id : NULL);
        }
    }
    return true;
}

/* Keeps message m for the next round (stream order held it). */
static void hold(router_pipeline *p, natsMsg *m, const router_order_msg *om, int64_t now)
{
    if (p->nheld == p->cap_held) {
        size_t c = p->cap_held ? p->cap_held * 2 : 64;
        router_held *nh = realloc(p->held, c * sizeof *nh);
        if (!nh) { /* JetStream redelivers it after ack_wait */
            natsMsg_Destroy(m);
            return;
        }
        p->held = nh;
        p->cap_held = c;
    }
    router_held *h = &p->held[p->nheld++];
    h->msg = m;
    h->seq = om->seq;
    h->since = om->held_since_ms ? om->held_since_ms : now;
    h->touched = om->held_since_ms ? om->held_touched_ms : now;
    if (now - h->touched >= p->r->cfg->in_progress_every_ms) {
        natsMsg_InProgress(m, NULL); /* keep the server from redelivering it meanwhile */
        h->touched = now;
    }
}

static void items_cleanup(item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        envelope_free(items[i].env);
        envelope_fields_cleanup(&items[i].parsed);
        cJSON_Delete(items[i].hdrs);
        rules_actions_cleanup(&items[i].acts);
        free(items[i].why);
    }
}

/* Prepares, applies and settles msgs[0..n); om (NULL: stream order off) is
 * their part of the round (p->round). A non-retryable failure of a batch
 * of several is retried one message per transaction, so one poison message
 * cannot hold back the others. With stream order, the first call (split)
 * decides which items commit now; the others are held (msgs[i] set NULL:
 * the pipeline keeps them), and a split's single messages were cleared. */
static void run_batch(router_pipeline *p, natsMsg **msgs, router_order_msg *om, size_t n,
                      bool split)
{
    router *r = p->r;
    int64_t t0 = sy_mono_ms(), begin_ns;
    item *items = calloc(n, sizeof *items);
    if (!items)
        return; /* the messages are redelivered after ack_wait */
    engine_batch_reset(p->batch);
    for (size_t i = 0; i < n; i++)
        prepare_item(p, &items[i], msgs[i],
                     p->rec && i < (size_t)r->cfg->batch_size ? &p->rec[i] : NULL);
    if (om && split && !order_decide(p, items, om, n)) {
        nak_all(p, items, n);
        goto done;
    }
    size_t nclear = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].held = om && !om[i].clear;
        if (!items[i].held) {
            add_item(p, &items[i]);
            if (om)
                om[i].in_txn = true;
            nclear++;
        }
    }
    sy_error err = {0};
    begin_ns = sy_mono_ns();
    sy_status st = nclear ? apply_batch(p, items, n, t0, &err) : SY_OK;
    if (st == SY_OK) {
        if (om)
            router_order_committed(p->order, p->round, p->nround);
        observe_commit(p, items, n, begin_ns);
        for (size_t i = 0; i < n; i++) {
            if (om && !om[i].clear) {
                hold(p, msgs[i], &om[i], t0);
                msgs[i] = NULL;
                if (items[i].rec)
                    router_recent_outcome(items[i].rec, "held", NULL, NULL, NULL, false,
                                          sy_clock_now_ms(NULL));
                continue;
            }
            settle(p, &items[i]);
        }
        if (p->rec)
            router_recent_push(r->recent, p->rec,
                               n < (size_t)r->cfg->batch_size ? n : (size_t)r->cfg->batch_size);
    } else {
        for (size_t i = 0; om && i < n; i++)
            om[i].in_txn = false;
        atomic_fetch_add_explicit(&r->metrics.batch_failures, 1, memory_order_relaxed);
        SY_LOG(r->log, SY_LOG_ERROR, "batch not committed", "status", sy_status_text(st), "error",
               err.message);
        if (sy_status_retryable(st)) {
            nak_all(p, items, n);
            close_session(p); /* reconnect with backoff; readiness goes false */
        } else if (split && n > 1) {
            size_t i = 0;
            for (; i < n && p->session; i++) {
                if (om && !om[i].clear) { /* still held: keep it for the next round */
                    hold(p, msgs[i], &om[i], t0);
                    msgs[i] = NULL;
                    continue;
                }
                run_batch(p, &msgs[i], om ? &om[i] : NULL, 1, false);
            }
            for (; i < n; i++) /* Postgres went away meanwhile */
                natsMsg_NakWithDelay(msgs[i], r->cfg->nak_delay_ms, NULL);
        } else {
            poison(p, msgs[0], &err);
        }
    }
done:
    items_cleanup(items, n);
    free(items);
    /* the ops hold copies of the inputs: an oversized one must not live on
     * until this pipeline's next batch (an idle pipeline has none) */
    engine_batch_reset(p->batch);
}

static uint64_t stream_seq_of(natsMsg *m)
{
    jsMsgMetaData *md = NULL;
    uint64_t seq = 0;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK)
        seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    return seq;
}

static int cmp_round(const void *a, const void *b)
{
    const router_order_msg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* With stream order: the round is the held messages and the fetched ones,
 * in stream order (a redelivery may come after later sequences). Takes
 * every message of list (its slots set NULL). */
static void run_round(router_pipeline *p, natsMsgList *list)
{
    size_t n = p->nheld + (size_t)(list ? list->Count : 0);
    natsMsg **msgs = calloc(n ? n : 1, sizeof *msgs);
    if (n > p->cap_round) {
        router_order_msg *nr = realloc(p->round, n * sizeof *nr);
        if (nr) {
            p->round = nr;
            p->cap_round = n;
        }
    }
    if (!msgs || n > p->cap_round) {
        free(msgs);
        return; /* out of memory: held and fetched messages wait for redelivery */
    }
    router_order_msg *om = p->round;
    size_t k = 0;
    for (size_t i = 0; i < p->nheld; i++, k++)
        om[k] = (router_order_msg){.seq = p->held[i].seq,
                                   .held_since_ms = p->held[i].since,
                                   .held_touched_ms = p->held[i].touched,
                                   .msg = p->held[i].msg};
    for (int i = 0; list && i < list->Count; i++, k++) {
        om[k] = (router_order_msg){.seq = stream_seq_of(list->Msgs[i]), .msg = list->Msgs[i]};
        list->Msgs[i] = NULL;
    }
    p->nheld = 0;
    qsort(om, n, sizeof *om, cmp_round);
    for (size_t i = 0; i < n; i++)
        msgs[i] = om[i].msg;
    p->nround = n;
    run_batch(p, msgs, om, n, true);
    for (size_t i = 0; i < n; i++)
        natsMsg_Destroy(msgs[i]); /* NULL: held */
    p->nround = 0;
    free(msgs);
}

/* Runs the batch; returns the size of its largest message. */
static size_t process_batch(router_pipeline *p, natsMsgList *list)
{
    size_t n = (size_t)list->Count, largest = 0;
    atomic_fetch_add_explicit(&p->r->metrics.received, n, memory_order_relaxed);
    router_metrics_observe(&p->r->metrics.batch_size, (double)n);
    for (size_t i = 0; i < n; i++)
        if ((size_t)natsMsg_GetDataLength(list->Msgs[i]) > largest)
            largest = (size_t)natsMsg_GetDataLength(list->Msgs[i]);
    /* rules under which no two events name one workflow leave stream order
     * nothing to fence: no lane, no ack floor, nothing held (a lane left
     * from a fenced generation says only what is true: done is committed) */
    if (p->order && (p->nheld || !rules_set_order_free(p->gen->rules)))
        run_round(p, list);
    else
        run_batch(p, list->Msgs, NULL, n, true);
    return largest;
}

/* Gives back the held messages (stopping, or they could not be decided):
 * nak'ed at once, for whichever pipeline fetches next. */
static void release_held(router_pipeline *p)
{
    for (size_t i = 0; i < p->nheld; i++) {
        natsMsg_Nak(p->held[i].msg, NULL);
        natsMsg_Destroy(p->held[i].msg);
    }
    p->nheld = 0;
}

static void backoff(router_pipeline *p)
{
    router__sleep(p->r, p->backoff_ms);
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

void *router__pipeline_main(void *arg)
{
    router_pipeline *p = arg;
    router *r = p->r;
    p->backoff_ms = BACKOFF_MIN_MS;
    while (!atomic_load(&r->stopping)) {
        if (ensure_session(p) != SY_OK) {
            backoff(p);
            continue;
        }
        if (!p->sub && subscribe(p) != SY_OK) {
            router__sleep(r, 500);
            continue;
        }
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        /* held events are decided again soon: a fresh lane or ack floor frees them */
        int64_t wait = p->nheld && r->cfg->fetch_wait_ms > ORDER_RETRY_MS ? ORDER_RETRY_MS
                                                                          : r->cfg->fetch_wait_ms;
        natsStatus s = engine_js_fetch(&list, p->sub, (int)r->cfg->batch_size, wait, &jerr);
        /* a reload may have landed while we waited in Fetch: route what was
         * fetched after it with the new set (ensure_session is cheap when
         * nothing changed; on failure JetStream redelivers after ack_wait) */
        size_t largest = 0;
        if (s == NATS_OK && list.Count > 0 && ensure_session(p) == SY_OK)
            largest = process_batch(p, &list);
        else if (s == NATS_OK && list.Count > 0)
            for (int i = 0; i < list.Count; i++)
                natsMsg_NakWithDelay(list.Msgs[i], r->cfg->nak_delay_ms, NULL);
        else if (p->nheld && (s == NATS_TIMEOUT || s == NATS_OK) && ensure_session(p) == SY_OK)
            run_round(p, NULL);
        else if (s == NATS_TIMEOUT) { /* nothing pending for us right now */
            atomic_store_explicit(&r->metrics.consumer_pending, 0, memory_order_relaxed);
            engine_session_idle(p->session); /* give back what a burst took */
            if (p->trim_when_idle)           /* the burst's last frees are done by now */
                sy_mem_release();
            p->trim_when_idle = false;
        } else if (s != NATS_OK && s != NATS_TIMEOUT)
            router__sleep(r, 200); /* NATS away: nats.c reconnects; don't spin */
        natsMsgList_Destroy(&list);
        if (largest >= SY_MEM_MMAP_THRESHOLD) { /* what its copies left in the arenas */
            sy_mem_release();
            p->trim_when_idle = true;
        }
    }
    release_held(p);
    if (p->order && p->session) {
        sy_error err = {0};
        if (engine_order_drop(p->session, router_order_lane(p->order), &err) != SY_OK)
            SY_LOG(p->r->log, SY_LOG_DEBUG, "order lane left behind (removed later)", "error",
                   err.message);
    }
    natsSubscription_Destroy(p->sub);
    p->sub = NULL;
    close_session(p);
    return NULL;
}
