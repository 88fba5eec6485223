/* replay.c: backfill by replaying the events stream (replay.h).
 *
 * One ephemeral ordered consumer per stream subject, delivering by start
 * time; for each message in the window: parse and validate it as the
 * router does (the stream timestamp is "now" for signatures' clock skew),
 * route it through the given rules, read what the inbox holds of its
 * event_id, and add to the batch the routes that never took effect
 * (engine_inbox_get: neither recorded on its row nor applied under their
 * own key). A batch of up to o->batch events is applied in one transaction
 * (the messages and envelopes it borrows kept until then); an event whose
 * event_id is already in the batch applies the batch first, so that it
 * reads the inbox as the batch left it. Nothing is acked: the consumer has
 * no acks and goes away with the subscription. */
#include "replay.h"
#include "clock.h"
#include "dlq.h"
#include "router_int.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_WAIT_MS 2000 /* nothing more within this: the window is read */

/* n routes of the batch whose outcome is event ev's, and whether ev
 * registers the event's correlation */
typedef struct counted {
    size_t ev, n;
    bool corr;
} counted;

/* what the batch borrows from one message until it is applied (owned) */
typedef struct kept {
    natsMsg *msg;
    envelope *env;
    cJSON *hdrs;
} kept;

typedef struct replay {
    const router_replay_opts *o;
    router_replay_stats *st;
    natsConnection *nc;
    jsCtx *js;
    engine *eng;
    engine_session *s;
    engine_batch *b;
    envelope_schemas *schemas;
    envelope_keyring *keyring;
    envelope_opts env_opts;
    uint64_t routed_upto; /* the durable consumer's ack floor; UINT64_MAX: no router */
    rules_actions acts;
    const char *tracestate; /* the event being replayed's W3C tracestate (borrowed), or NULL */
    sy_buf routes;
    FILE *out;
    size_t batch_max; /* events per transaction */
    kept *kept;       /* the batch's messages, batch_max of them */
    size_t nkept;
    counted *cnt; /* how to count the batch's outcomes */
    size_t ncnt, capcnt;
} replay;

/* Whether name is one of the '\n'-joined names in list (NULL: none). */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p = end ? end + 1 : p + len;
    }
    return false;
}

static bool effect(const rules_action *a)
{
    return a->kind == RULES_START || a->kind == RULES_SIGNAL;
}

/* The dry run's line: the event and the actions that would take effect,
 * and "correlate": true when it would be correlated now. */
static void print_change(replay *rp, const envelope *env, uint64_t seq, const bool *fresh,
                         bool corr)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "event_id", envelope_event_id(env));
    cJSON_AddStringToObject(o, "type", envelope_type(env));
    cJSON_AddNumberToObject(o, "stream_seq", (double)seq);
    for (size_t i = 0; i < rp->acts.len; i++)
        if (fresh[i])
            cJSON_AddItemToArray(arr, rules_action_to_json(&rp->acts.items[i]));
    cJSON_AddItemToObject(o, "actions", arr);
    if (corr)
        cJSON_AddTrueToObject(o, "correlate");
    char *s = cJSON_PrintUnformatted(o);
    fprintf(rp->out, "%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* The original message, lent to the engine for the dead letter of an
 * action it refuses (as the pipeline does). */
static void lend_source(replay *rp, size_t ev, natsMsg *m, const envelope *env, const cJSON *hdrs,
                        uint64_t seq)
{
    engine_dead_letter src = {.trace_id = envelope_trace_id(env),
                              .type = envelope_type(env),
                              .source = envelope_source(env),
                              .subject = natsMsg_GetSubject(m),
                              .body = natsMsg_GetData(m),
                              .body_len = (size_t)natsMsg_GetDataLength(m),
                              .headers = hdrs,
                              .stream_seq = seq};
    engine_batch_event_source(rp->b, ev, &src);
}

/* begin / apply / commit; a transient conflict (SY_BUSY) is applied again. */
static sy_status apply(replay *rp, sy_error *err)
{
    sy_status st = SY_BUSY;
    for (int attempt = 0; st == SY_BUSY && attempt < 3; attempt++) {
        st = engine_begin(rp->s, err);
        if (st == SY_OK)
            st = engine_batch_apply(rp->s, rp->b, err);
        if (st == SY_OK)
            st = engine_commit(rp->s, err);
        if (st != SY_OK)
            engine_rollback(rp->s);
    }
    return st;
}

/* Notes that n routes (and its correlation, when corr) count by event
 * ev's outcome. */
static void count_as(replay *rp, size_t ev, size_t n, bool corr)
{
    if (rp->ncnt == rp->capcnt) {
        rp->capcnt = rp->capcnt ? 2 * rp->capcnt : 64;
        rp->cnt = realloc(rp->cnt, rp->capcnt * sizeof *rp->cnt);
    }
    rp->cnt[rp->ncnt++] = (counted){ev, n, corr};
}

/* Releases what the batch borrowed and empties it. */
static void batch_clear(replay *rp)
{
    for (size_t i = 0; i < rp->nkept; i++) {
        natsMsg_Destroy(rp->kept[i].msg);
        envelope_free(rp->kept[i].env);
        cJSON_Delete(rp->kept[i].hdrs);
    }
    rp->nkept = rp->ncnt = 0;
    engine_batch_reset(rp->b);
}

/* Applies the batch in one transaction and counts what became of its
 * routes. */
static sy_status flush(replay *rp, sy_error *err)
{
    if (!rp->nkept)
        return SY_OK;
    sy_status st = apply(rp, err);
    for (size_t i = 0; st == SY_OK && i < rp->ncnt; i++) {
        engine_outcome oc = engine_batch_outcome(rp->b, rp->cnt[i].ev);
        *(oc == ENGINE_DUPLICATE ? &rp->st->duplicates
          : oc == ENGINE_APPLIED ? &rp->st->routes_applied
                                 : &rp->st->dead_lettered) += rp->cnt[i].n;
        if (rp->cnt[i].corr)
            *(oc == ENGINE_DUPLICATE ? &rp->st->duplicates : &rp->st->correlated) += 1;
    }
    batch_clear(rp);
    return st;
}

/* Whether an event of the batch has this event_id. */
static bool in_batch(const replay *rp, const char *event_id)
{
    for (size_t i = 0; i < rp->nkept; i++)
        if (strcmp(envelope_event_id(rp->kept[i].env), event_id) == 0)
            return true;
    return false;
}

/* Adds the fresh routes of env (message m, both taken: kept until the
 * batch is applied) to the batch: as a whole under its event_id when it
 * has no inbox row at all, else each under its own key; a full batch is
 * applied. corr: the event is correlated too (with the whole, else under
 * the key of ROUTER_CORR_ROUTE), as having come at its stream time at_ms,
 * as live routing would have. */
static sy_status add_fresh(replay *rp, natsMsg *m, envelope *env, uint64_t seq, int64_t at_ms,
                           const engine_inbox_entry *in, const bool *fresh, bool corr,
                           sy_error *err)
{
    const char *id = envelope_event_id(env);
    bool whole = !in->applied && !in->route_keys;
    cJSON *hdrs = router__headers_json(m);
    rp->kept[rp->nkept++] = (kept){m, env, hdrs};
    size_t ev = SIZE_MAX, n = 0;
    if (whole) {
        ev = engine_batch_event(rp->b, id);
        router__routes_text(&rp->acts, &rp->routes);
        engine_batch_event_routes(rp->b, ev, rp->routes.data ? rp->routes.data : "");
        lend_source(rp, ev, m, env, hdrs, seq);
    }
    for (size_t i = 0; i < rp->acts.len; i++) {
        if (!fresh[i])
            continue;
        if (!whole) {
            char key[ROUTER_DLQ_KEY_MAX];
            router_dlq_route_key(id, rp->acts.items[i].route, key, sizeof key);
            ev = engine_batch_event(rp->b, key);
            lend_source(rp, ev, m, env, hdrs, seq);
            count_as(rp, ev, 1, false);
        }
        n++;
        (void)router__batch_action(rp->b, ev, env, rp->tracestate, &rp->acts.items[i]);
    }
    if (corr && !whole) {
        char key[ROUTER_DLQ_KEY_MAX];
        router_dlq_route_key(id, ROUTER_CORR_ROUTE, key, sizeof key);
        size_t cev = engine_batch_event(rp->b, key);
        engine_batch_correlate_at(rp->b, cev, envelope_json(env), at_ms);
        count_as(rp, cev, 0, true);
    } else if (corr) {
        engine_batch_correlate_at(rp->b, ev, envelope_json(env), at_ms);
    }
    if (whole) /* one inbox row for all its routes (and its correlation) */
        count_as(rp, ev, n, corr);
    return rp->nkept == rp->batch_max ? flush(rp, err) : SY_OK;
}

/* Routes one valid event (stored at at_ms) again; *taken when the batch
 * keeps m and env. */
static sy_status route_again(replay *rp, natsMsg *m, envelope *env, uint64_t seq, int64_t at_ms,
                             bool *taken, sy_error *err)
{
    rules_actions_cleanup(&rp->acts);
    if (rules_route(rp->o->rules, env, &rp->acts) != SY_OK)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory routing an event");
    if (rp->acts.unmatched) {
        rp->st->unmatched++;
        return SY_OK;
    }
    engine_inbox_entry in;
    sy_status st = SY_OK;
    if (!rp->o->dry_run && in_batch(rp, envelope_event_id(env)))
        st = flush(rp, err); /* a copy of it is in the batch: read what that did */
    if (st == SY_OK)
        st = engine_inbox_get(rp->s, envelope_event_id(env), &in, err);
    if (st != SY_OK)
        return st;
    if (in.applied && !in.routes) { /* routed before routes were recorded */
        rp->st->unknown++;
        engine_inbox_entry_cleanup(&in);
        return SY_OK;
    }
    bool *fresh = calloc(rp->acts.len + 1, sizeof *fresh);
    size_t nfresh = 0;
    for (size_t i = 0; i < rp->acts.len; i++) {
        const char *route = rp->acts.items[i].route;
        fresh[i] = effect(&rp->acts.items[i]) && !listed(in.routes, route) &&
                   !listed(in.route_keys, route);
        nfresh += fresh[i];
    }
    /* correlated (cancel_on, wait_event, join) when it was routed, or by a
     * replay since: recorded as ROUTER_CORR_ROUTE on its row, or its key */
    bool corr = rp->acts.correlate && !listed(in.routes, ROUTER_CORR_ROUTE) &&
                !listed(in.route_keys, ROUTER_CORR_ROUTE);
    if (!nfresh && !corr)
        rp->st->unchanged++;
    else if (rp->o->dry_run)
        print_change(rp, env, seq, fresh, corr);
    else
        st = add_fresh(rp, m, env, seq, at_ms, &in, fresh, corr, err), *taken = true;
    if (rp->o->dry_run && corr)
        rp->st->correlated++;
    if ((nfresh || corr) && st == SY_OK) {
        rp->st->changed++;
        if (rp->o->dry_run)
            rp->st->routes_applied += nfresh;
    }
    free(fresh);
    engine_inbox_entry_cleanup(&in);
    return st;
}

static const char *header(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : NULL;
}

/* One message of the window; *done once past it; *taken when the batch
 * keeps it. */
static sy_status one_msg(replay *rp, natsMsg *m, bool *done, bool *taken, sy_error *err)
{
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) != NATS_OK)
        return SY_OK; /* a flow-control or heartbeat message: not an event */
    uint64_t seq = md->Sequence.Stream;
    int64_t ts_ms = md->Timestamp / 1000000;
    rp->st->pending = md->NumPending;
    jsMsgMetaData_Destroy(md);
    if (ts_ms > rp->o->until_ms) {
        *done = true;
        return SY_OK;
    }
    rp->st->read++;
    if (!rp->st->first_seq)
        rp->st->first_seq = seq;
    rp->st->last_seq = seq;
    if (seq > rp->routed_upto) { /* the router has not settled it yet */
        rp->st->not_routed++;
        return SY_OK;
    }
    size_t nh = 0;
    const char **hdrs = router__header_pairs(m, &nh); /* a binary-mode CloudEvent's */
    envelope_meta em = {.content_type = header(m, "Content-Type"),
                        .key_id = header(m, "Sy-Key-Id"),
                        .signature = header(m, "Sy-Signature"),
                        .headers = hdrs,
                        .nheaders = nh,
                        .received_ms = ts_ms};
    envelope_opts eo = rp->env_opts;
    eo.now_ms = ts_ms; /* a signed event's skew, as when it arrived */
    envelope *env = NULL;
    sy_error perr = {0};
    char parent[17];
    sy_status st =
        envelope_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &em, &eo, &env, &perr);
    free((void *)hdrs);
    if (st == SY_OK && router__trace_headers(m, env, parent, &rp->tracestate, &perr) != SY_OK)
        st = SY_INVALID;
    if (st == SY_NOMEM) {
        envelope_free(env);
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory parsing an event");
    }
    if (st != SY_OK)
        rp->st->invalid++;
    else if (rp->o->type_glob && fnmatch(rp->o->type_glob, envelope_type(env), 0) != 0)
        rp->st->skipped_type++;
    else
        st = route_again(rp, m, env, seq, ts_ms, taken, err);
    if (!*taken)
        envelope_free(env);
    return st == SY_INVALID ? SY_OK : st;
}

/* One message of the window (taken); *done once past it. */
static sy_status one(replay *rp, natsMsg *m, bool *done, sy_error *err)
{
    bool taken = false;
    sy_status st = one_msg(rp, m, done, &taken, err);
    if (!taken)
        natsMsg_Destroy(m);
    return st;
}

/* The router's position: its durable consumer's ack floor, so that an
 * event it has not settled is left to it (both applying one would race
 * for its inbox row). No such consumer: no router, everything is ours. */
static void router_position(replay *rp)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    rp->routed_upto = UINT64_MAX;
    if (js_GetConsumerInfo(&ci, rp->js, rp->o->cfg->stream_name, rp->o->cfg->consumer_name, NULL,
                           &jerr) == NATS_OK &&
        ci)
        rp->routed_upto = ci->AckFloor.Stream;
    jsConsumerInfo_Destroy(ci);
}

/* Reads the window on one subject of the stream. */
static sy_status read_subject(replay *rp, const char *subject, sy_error *err)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = rp->o->cfg->stream_name;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartTime;
    so.Config.OptStartTime = rp->o->from_ms * 1000000;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_SubscribeSync(&sub, rp->js, subject, NULL, &so, &jerr);
    if (ns != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL,
                            "could not create an ordered consumer on %s (%s): %s (%d)", so.Stream,
                            subject, natsStatus_GetText(ns), (int)jerr);
    sy_status st = SY_OK;
    bool done = false;
    while (st == SY_OK && !done) {
        natsMsg *m = NULL;
        ns = natsSubscription_NextMsg(&m, sub, IDLE_WAIT_MS);
        if (ns == NATS_TIMEOUT)
            break; /* nothing more: the end of the stream */
        if (ns != NATS_OK) {
            st = sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "reading %s: %s", subject,
                              natsStatus_GetText(ns));
            break;
        }
        st = one(rp, m, &done, err);
        if (rp->o->progress)
            rp->o->progress(rp->o->progress_arg, rp->st);
        if (rp->st->pending == 0)
            done = true;
    }
    if (st == SY_OK)
        st = flush(rp, err); /* the window's last batch */
    else
        batch_clear(rp);
    natsSubscription_Unsubscribe(sub); /* the ephemeral consumer goes now */
    natsSubscription_Destroy(sub);
    return st;
}

static sy_status connect_nats(replay *rp, sy_error *err)
{
    natsOptions *no = router_nats_options(rp->o->cfg, err);
    if (!no)
        return SY_CONFIG;
    if (rp->o->nats_url)
        natsOptions_SetURL(no, rp->o->nats_url);
    natsStatus ns = natsConnection_Connect(&rp->nc, no);
    natsOptions_Destroy(no);
    if (ns == NATS_OK)
        ns = natsConnection_JetStream(&rp->js, rp->nc, NULL);
    if (ns != NATS_OK)
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not connect to NATS: %s",
                            natsStatus_GetText(ns));
    return SY_OK;
}

/* The stream's subjects (owned by *si). */
static sy_status stream_subjects(replay *rp, jsStreamInfo **si, sy_error *err)
{
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(si, rp->js, rp->o->cfg->stream_name, NULL, &jerr);
    if (ns == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
        return sy_error_set(err, SY_NOT_FOUND, "not_found", "stream", "stream %s does not exist",
                            rp->o->cfg->stream_name);
    if (ns != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "could not read stream %s: %s",
                            rp->o->cfg->stream_name, natsStatus_GetText(ns));
    return SY_OK;
}

static sy_status open_engine(replay *rp, sy_error *err)
{
    const router_config *c = rp->o->cfg;
    engine_opts eo = {.schema = c->pg_schema,
                      .namespace_ = c->engine_namespace,
                      .subject_prefix = c->engine_subject_prefix,
                      .max_input_bytes = (size_t)c->max_input_bytes,
                      .state_cache = -1};
    sy_status st = engine_new(&eo, rp->o->rules, &rp->eng, err);
    if (st == SY_OK)
        st = engine_session_open(rp->eng, rp->o->conninfo, false, &rp->s, err);
    return st;
}

sy_status router_replay_run(const router_replay_opts *o, router_replay_stats *st, sy_error *err)
{
    memset(st, 0, sizeof *st);
    replay rp = {.o = o, .st = st, .out = o->out ? o->out : stdout, .routes = SY_BUF_INIT};
    jsStreamInfo *si = NULL;
    sy_status s = router__envelope_load(o->cfg, &rp.schemas, &rp.keyring, &rp.env_opts, err);
    if (s == SY_OK)
        s = open_engine(&rp, err);
    if (s == SY_OK)
        s = connect_nats(&rp, err);
    if (s == SY_OK)
        s = stream_subjects(&rp, &si, err);
    if (s == SY_OK) {
        router_position(&rp);
        rp.b = engine_batch_new();
        rp.batch_max = o->batch > 0 ? o->batch : ROUTER_REPLAY_BATCH;
        if (!(rp.kept = calloc(rp.batch_max, sizeof *rp.kept)))
            s = sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    }
    for (int i = 0; s == SY_OK && i < si->Config->SubjectsLen; i++)
        s = read_subject(&rp, si->Config->Subjects[i], err);
    rules_actions_cleanup(&rp.acts);
    sy_buf_cleanup(&rp.routes);
    free(rp.kept);
    free(rp.cnt);
    engine_batch_free(rp.b);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(rp.js);
    natsConnection_Destroy(rp.nc);
    engine_session_close(rp.s);
    engine_free(rp.eng);
    envelope_schemas_free(rp.schemas);
    envelope_keyring_free(rp.keyring);
    return s;
}
