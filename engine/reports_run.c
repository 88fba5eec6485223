/* reports_run.c: the consumer loop of engine_reports (reports.h): NATS and
 * Postgres set-up, one fetch-validate-apply-commit-ack round, and the loop
 * that survives outages. Parsing lives in reports.c. */
#include "jsfetch.h"
#include "reports.h"
#include "reports_int.h"
#include "timefmt.h"
#include "trace.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s ? s : dflt);
}

natsOptions *engine__nats_options(engine_nats_options_fn fn, void *arg, const char *url,
                                  sy_error *err)
{
    if (fn)
        return fn(arg, err);
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetURL(no, url ? url : "nats://127.0.0.1:4222");
    if (s == NATS_OK)
        return no;
    natsOptions_Destroy(no);
    sy_error_set(err, SY_NATS, "nats", NULL, "could not set the NATS options: %s",
                 natsStatus_GetText(s));
    return NULL;
}

/* An option in ms: 0 the default, < 0 none (0). */
static int64_t ms_opt(int64_t v, int64_t dflt)
{
    return v < 0 ? 0 : v == 0 ? dflt : v;
}

sy_status engine_reports_new(const engine *eng, const engine_reports_opts *o, engine_reports **out,
                             sy_error *err)
{
    *out = NULL;
    engine_reports *r = calloc(1, sizeof *r);
    if (!r)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    r->eng = eng;
    r->log = eng->log;
    r->conninfo = dup_or(o->conninfo, "");
    r->prefix = dup_or(o->prefix, "sy");
    r->stream = o->stream ? strdup(o->stream) : NULL;
    r->durable = dup_or(o->durable, "switchyard-reports");
    r->batch = o->batch ? o->batch : 256;
    r->fetch_ms = o->fetch_timeout_ms > 0 ? o->fetch_timeout_ms : 500;
    r->hold_ms = ms_opt(o->hold_started_ms, ENGINE_REPORTS_HOLD_MS);
    r->linger_ms = ms_opt(o->linger_ms, ENGINE_REPORTS_LINGER_MS);
    r->health = o->health;
    r->health_arg = o->health_arg;
    r->b = engine_batch_new();
    natsOptions *no = engine__nats_options(o->nats_options, o->nats_options_arg, o->nats_url, err);
    if (!no) {
        engine_reports_free(r);
        return err->status ? err->status : SY_NATS;
    }
    natsStatus s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetName(no, "switchyard-reports");
    if (s == NATS_OK)
        s = natsConnection_Connect(&r->nc, no);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&r->js, r->nc, NULL);
    natsOptions_Destroy(no);
    if (s != NATS_OK) {
        engine_reports_free(r);
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not connect to NATS: %s",
                            natsStatus_GetText(s));
    }
    *out = r;
    return SY_OK;
}

static void pend_release(engine_reports *r, bool at_once);

void engine_reports_free(engine_reports *r)
{
    if (!r)
        return;
    pend_release(r, true); /* before the subscription their messages use */
    free(r->pend);
    engine__hold_release(&r->hold);
    natsSubscription_Destroy(r->sub);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    if (r->s)
        engine__seen_flush(r, engine__now(r->eng), true);
    engine__seen_free(r->seen);
    engine_session_close(r->s);
    engine_batch_free(r->b);
    free(r->conninfo);
    free(r->prefix);
    free(r->stream);
    free(r->durable);
    free(r);
}

engine_reports_stats engine_reports_get_stats(const engine_reports *r)
{
    engine_reports_stats st = {atomic_load(&r->applied), atomic_load(&r->ignored),
                               atomic_load(&r->invalid)};
    return st;
}

static sy_status ensure_consumer(engine_reports *r, sy_error *err)
{
    if (r->sub)
        return SY_OK;
    char subject[128];
    snprintf(subject, sizeof subject, "%s.report.>", r->prefix);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = r->stream;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = (int64_t)30 * 1000 * 1000000;
    so.Config.MaxAckPending = 20000;
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&r->sub, r->js, subject, r->durable, NULL, &so, &jerr);
    if (s == NATS_OK)
        return SY_OK;
    r->sub = NULL;
    return sy_error_set(err,
                        s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED ? SY_NATS_DOWN : SY_NATS,
                        "nats", NULL, "could not create the report consumer on %s: %s (%d)",
                        subject, natsStatus_GetText(s), (int)jerr);
}

static sy_status ensure_session(engine_reports *r, sy_error *err)
{
    if (r->s)
        return SY_OK;
    return engine_session_open(r->eng, r->conninfo, false, &r->s, err);
}

/* A string member of a report (NULL when absent or not a string). */
static const char *member(const cJSON *j, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, k));
}

/* Every line about one report names its task, workflow, trace and event
 * (report:<Nats-Msg-Id>), read from the report's JSON j. */
#define REPORT_LOG(r, lvl, it, j, ...)                                                             \
    SY_LOG((r)->log, (lvl), __VA_ARGS__, "task_id", member((j), "task_id"), "workflow_id",         \
           member((j), "workflow_id"), "trace_id", member((j), "trace_id"), "event_id",            \
           (it)->event_id[0] ? (it)->event_id : NULL, "span_id",                                   \
           (it)->span[0] ? (it)->span : NULL, "parent_span_id",                                    \
           (it)->parent_span[0] ? (it)->parent_span : NULL)

/* An invalid report terminated, logged with the IDs that could be read. */
static void log_invalid(const engine_reports *r, const item *it, const sy_error *e)
{
    if (!r->log || SY_LOG_WARN < r->log->level)
        return;
    cJSON *loose =
        cJSON_ParseWithLength(natsMsg_GetData(it->msg), (size_t)natsMsg_GetDataLength(it->msg));
    REPORT_LOG(r, SY_LOG_WARN, it, loose, "invalid task report terminated", "subject",
               natsMsg_GetSubject(it->msg), "code", e->code, "path", e->path, "message",
               e->message);
    cJSON_Delete(loose);
}

/* A final report whose ENGINE_STARTED_HEADER holds an RFC 3339 time: its
 * worker sent task.started first. A malformed one is taken as absent, as a
 * malformed traceparent is: it says nothing the report's effect needs. */
static bool says_started(natsMsg *m, engine_report_kind kind)
{
    const char *v = NULL;
    int64_t ms = 0;
    sy_error e;
    return (kind == ENGINE_REPORT_COMPLETED || kind == ENGINE_REPORT_FAILED) &&
           natsMsgHeader_Get(m, ENGINE_STARTED_HEADER, &v) == NATS_OK && v &&
           sy_time_parse_rfc3339(v, NULL, &ms, &e) == SY_OK;
}

/* Parses the fetched messages; invalid ones are terminated at once (they
 * have no effect to commit first). Returns how many are valid. */
static size_t parse_items(engine_reports *r, item *it, size_t n)
{
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        natsMsg *m = it[i].msg;
        const char *id = NULL;
        if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id) {
            snprintf(it[i].event_id, sizeof it[i].event_id, "report:%s", id);
            sy_span_id(it[i].event_id, it[i].span);
        }
        /* the worker's span, when it sent one; a malformed one is not
         * the report's fault to be refused for (its parent is unknown) */
        const char *tp = NULL;
        if (natsMsgHeader_Get(m, "traceparent", &tp) != NATS_OK ||
            sy_traceparent_parse(tp, NULL, it[i].parent_span, NULL) != SY_OK)
            it[i].parent_span[0] = '\0';
        sy_error e;
        sy_error_clear(&e);
        if (engine_report_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &it[i].json,
                                &it[i].rep, &e) != SY_OK) {
            atomic_fetch_add(&r->invalid, 1);
            log_invalid(r, &it[i], &e);
            natsMsg_Term(m, NULL);
            continue;
        }
        it[i].rep.event_id = it[i].event_id[0] ? it[i].event_id : NULL;
        it[i].rep.started = says_started(m, it[i].rep.kind);
        valid++;
    }
    return valid;
}

static void count_results(engine_reports *r, item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!it[i].json)
            continue;
        const engine_result *res = engine_batch_result(r->b, it[i].ev);
        if (res && res->outcome == ENGINE_APPLIED) {
            atomic_fetch_add(&r->applied, 1);
            /* the report's hop of its trace: its span and the worker's */
            REPORT_LOG(r, SY_LOG_DEBUG, &it[i], it[i].json, "task report applied", "kind",
                       member(it[i].json, "type"));
        } else {
            atomic_fetch_add(&r->ignored, 1);
            REPORT_LOG(r, SY_LOG_DEBUG, &it[i], it[i].json, "task report ignored", "code",
                       res ? res->code : "");
        }
    }
}

/* What a worker that asked (its task.started carries ENGINE_REPLY_HEADER)
 * may do with its task, from what the engine made (or, read, would make) of
 * the report (code as in engine_result): run it, or not (its run is closed,
 * the attempt is not current, the task is unknown), or ask again
 * ("duplicate": the report was applied long ago). */
static const char *claim_verdict(bool applied, const char *code)
{
    if (applied || !strcmp(code, "already_started"))
        return "run";
    if (!code[0])
        return "duplicate";
    if (!strcmp(code, "workflow_closed") || !strcmp(code, "task_closed"))
        return "closed";
    if (!strcmp(code, "stale_attempt"))
        return "stale";
    return "unknown";
}

/* The inbox a task.started asks on (NULL: it does not ask). */
static const char *claim_inbox(const item *it)
{
    const char *to = NULL;
    if (!it->json || it->rep.kind != ENGINE_REPORT_STARTED ||
        natsMsgHeader_Get(it->msg, ENGINE_REPLY_HEADER, &to) != NATS_OK ||
        !rules_subject_valid(to, NULL))
        return NULL;
    return to;
}

/* Core NATS, fire and forget: a worker without its answer asks again later. */
static void answer_claim(engine_reports *r, item *it, const char *verdict, const char *reason)
{
    const char *to = claim_inbox(it);
    if (!to || it->answered)
        return;
    it->answered = true;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task_id", it->rep.task_id ? it->rep.task_id : "");
    cJSON_AddNumberToObject(o, "attempt", (double)it->rep.attempt);
    cJSON_AddStringToObject(o, "verdict", verdict);
    cJSON_AddStringToObject(o, "reason", reason);
    char *body = cJSON_PrintUnformatted(o);
    if (body)
        natsConnection_PublishString(r->nc, to, body);
    free(body);
    cJSON_Delete(o);
}

/* After the commit: answers every committed task.started that asked and
 * was not answered from the read. */
static void answer_claims(engine_reports *r, item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!claim_inbox(&it[i]) || it[i].answered)
            continue;
        const engine_result *res = engine_batch_result(r->b, it[i].ev);
        answer_claim(r, &it[i], claim_verdict(res->outcome == ENGINE_APPLIED, res->code),
                     res->code);
    }
}

/* Applies the valid items in one transaction. */
static sy_status apply_batch(engine_reports *r, item *it, size_t n, sy_error *err)
{
    engine_batch_reset(r->b);
    for (size_t i = 0; i < n; i++) {
        if (!it[i].json)
            continue;
        it[i].ev = engine_batch_event(r->b, NULL);
        engine_batch_report(r->b, it[i].ev, &it[i].rep);
    }
    sy_status st = engine_begin(r->s, err);
    if (st == SY_OK)
        st = engine_batch_apply(r->s, r->b, err);
    if (st == SY_OK)
        st = engine_commit(r->s, err);
    if (st != SY_OK) {
        engine_rollback(r->s);
        return st;
    }
    count_results(r, it, n);
    answer_claims(r, it, n);
    engine__seen_note(r, it, n, engine__now(r->eng));
    return SY_OK;
}

/* After a non-outage failure: one transaction per report; a report that
 * fails on its own is terminated, the others are applied and acked. */
static sy_status apply_one_by_one(engine_reports *r, item *it, size_t n, sy_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!it[i].json)
            continue;
        sy_status st = apply_batch(r, &it[i], 1, err);
        if (sy_status_retryable(st)) /* outage or a race (SY_BUSY): nak, retry later */
            return st;
        if (st != SY_OK) {
            atomic_fetch_add(&r->invalid, 1);
            REPORT_LOG(r, SY_LOG_ERROR, &it[i], it[i].json,
                       "task report could not be applied, terminated", "message", err->message);
            natsMsg_Term(it[i].msg, NULL);
            cJSON_Delete(it[i].json);
            it[i].json = NULL;
        } else {
            natsMsg_Ack(it[i].msg, NULL);
            cJSON_Delete(it[i].json);
            it[i].json = NULL;
        }
    }
    return SY_OK;
}

static sy_status apply_items(engine_reports *r, item *it, size_t n, sy_error *err)
{
    sy_status st = apply_batch(r, it, n, err);
    if (st != SY_OK && !sy_status_retryable(st)) {
        SY_LOG(r->log, SY_LOG_WARN, "report batch failed, retrying one by one", "message",
               err->message);
        st = apply_one_by_one(r, it, n, err);
    }
    return st;
}

static void finish_items(item *it, size_t n, sy_status st)
{
    for (size_t i = 0; i < n; i++) {
        if (it[i].json) {
            /* committed: ack; otherwise JetStream gets it back with a delay */
            if (st == SY_OK)
                natsMsg_Ack(it[i].msg, NULL);
            else
                natsMsg_NakWithDelay(it[i].msg, 1000, NULL);
            cJSON_Delete(it[i].json);
        }
        natsMsg_Destroy(it[i].msg);
    }
}

/* When the first held report or the pending batch is due (0: nothing waits). */
static int64_t next_due(const engine_reports *r)
{
    int64_t due = engine__hold_next_due(&r->hold);
    if (r->npend && (!due || r->pend_due < due))
        due = r->pend_due;
    return due;
}

/* The fetch's wait: fetch_ms, or less when something waiting is due sooner. */
static int64_t fetch_wait(const engine_reports *r)
{
    int64_t due = next_due(r);
    if (!due)
        return r->fetch_ms;
    int64_t left = due - engine__now(r->eng);
    return left < 1 ? 1 : left < r->fetch_ms ? left : r->fetch_ms;
}

/* A task.started that may be held: its read said it would be recorded,
 * and no schedule_to_start timer fires before its hold ends (a margin for
 * the timer loop's own delay and the linger included). */
static bool holdable(const engine_reports *r, const engine__claim *c, int64_t now)
{
    return r->hold_ms > 0 && !c->code[0] &&
           (!c->start_by_ms || c->start_by_ms > now + r->hold_ms + r->linger_ms + 1000);
}

/* The claim check's read for xs[0..k): the fetched task.started items
 * xs[0..fetched), then held ones whose hold is over. Each is answered at
 * once (a held one was answered when it was held); one the read says the
 * apply would not record is skipped (acked unapplied); a fetched one that
 * it would record is held when holdable (its item left empty), else left
 * for the apply. An error changes nothing: the round fails as a whole. */
static sy_status read_claims(engine_reports *r, item **xs, size_t k, size_t fetched, sy_error *err)
{
    if (!k)
        return SY_OK;
    engine__claim *c = calloc(k, sizeof *c);
    if (!c)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    for (size_t j = 0; j < k; j++)
        c[j] = (engine__claim){.task_id = xs[j]->rep.task_id, .attempt = xs[j]->rep.attempt};
    sy_status st = engine__claims_read(r->s, c, k, err);
    int64_t now = engine__now(r->eng);
    for (size_t j = 0; st == SY_OK && j < k; j++) {
        item *x = xs[j];
        if (c[j].code[0]) { /* closed, stale, unknown, already started */
            answer_claim(r, x, claim_verdict(false, c[j].code), c[j].code);
            x->skip = true;
        } else if (j < fetched && holdable(r, &c[j], now)) {
            answer_claim(r, x, "run", "");
            engine__hold_put(&r->hold, x, now + r->hold_ms); /* out of memory: applied now */
        }
    }
    free(c);
    return st;
}

/* The fetched and the due held task.started items: read, answered, held
 * or skipped. */
static sy_status round_claims(engine_reports *r, item *in, size_t n, item *due, size_t ndue,
                              sy_error *err)
{
    item **xs = calloc(n + ndue + 1, sizeof *xs);
    if (!xs)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i].json && in[i].rep.kind == ENGINE_REPORT_STARTED)
            xs[k++] = &in[i];
    size_t fetched = k;
    for (size_t i = 0; i < ndue; i++)
        xs[k++] = &due[i];
    sy_status st = read_claims(r, xs, k, fetched, err);
    free(xs);
    return st;
}

/* Appends *x (moved) to the pending batch, which is due linger_ms after
 * its first item came. */
static bool pend_add(engine_reports *r, item *x, int64_t now)
{
    if (r->npend == r->cpend) {
        size_t nc = r->cpend ? r->cpend * 2 : 64;
        item *p = realloc(r->pend, nc * sizeof *p);
        if (!p)
            return false;
        for (size_t i = 0; i < r->npend; i++) /* rep.event_id points into each item */
            if (p[i].rep.event_id)
                p[i].rep.event_id = p[i].event_id;
        r->pend = p;
        r->cpend = nc;
    }
    if (!r->npend)
        r->pend_due = now + r->linger_ms;
    engine__item_move(&r->pend[r->npend++], x);
    return true;
}

/* The messages of a round, and the held reports whose hold is over, into
 * the pending batch; the ones that need no commit are settled at once. */
static sy_status round_take(engine_reports *r, natsMsgList *list, int64_t now, size_t *settled,
                            sy_error *err)
{
    size_t n = (size_t)list->Count, ndue = 0;
    item *in = calloc(n + 1, sizeof *in);
    item *due = calloc(engine__hold_count_due(&r->hold, now) + 1, sizeof *due);
    if (!in || !due) {
        natsMsgList_Destroy(list); /* unacked: redelivered after AckWait */
        free(in);
        free(due);
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        in[i].msg = list->Msgs[i];
        list->Msgs[i] = NULL;
    }
    natsMsgList_Destroy(list);
    while (engine__hold_take_due(&r->hold, now, &due[ndue]))
        ndue++;
    parse_items(r, in, n);
    sy_status st = round_claims(r, in, n, due, ndue, err);
    *settled = 0;
    for (size_t i = 0; i < n + ndue; i++) {
        item *x = i < n ? &in[i] : &due[i - n];
        if (!x->msg)
            continue; /* held */
        if (x->json && !x->skip && st == SY_OK && pend_add(r, x, now))
            continue;
        /* invalid (terminated), skipped (nothing to commit), or not taken */
        if (x->json) {
            if (st == SY_OK && x->skip) {
                atomic_fetch_add(&r->ignored, 1);
                engine__seen_note(r, x, 1, now);
                natsMsg_Ack(x->msg, NULL);
            } else {
                natsMsg_NakWithDelay(x->msg, 1000, NULL);
            }
        }
        cJSON_Delete(x->json);
        natsMsg_Destroy(x->msg);
        (*settled)++;
    }
    free(in);
    free(due);
    return st;
}

/* Hands the pending batch back unapplied: with a delay after a failed
 * round, at once when the consumer stops (another one takes it). */
static void pend_release(engine_reports *r, bool at_once)
{
    for (size_t i = 0; i < r->npend; i++) {
        if (at_once)
            natsMsg_Nak(r->pend[i].msg, NULL);
        else
            natsMsg_NakWithDelay(r->pend[i].msg, 1000, NULL);
        cJSON_Delete(r->pend[i].json);
        natsMsg_Destroy(r->pend[i].msg);
    }
    r->npend = 0;
}

/* Applies the pending batch in one transaction, with the held task.started
 * of each task that has a report in it, first (a task starts before it
 * completes, in one write of its run). */
static sy_status apply_pending(engine_reports *r, size_t *settled, sy_error *err)
{
    size_t np = r->npend, m = 0;
    item *it = calloc(2 * np + 1, sizeof *it);
    if (!it)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    for (size_t i = 0; i < np; i++)
        if (r->pend[i].rep.kind != ENGINE_REPORT_STARTED &&
            engine__hold_take(&r->hold, r->pend[i].rep.task_id, r->pend[i].rep.attempt, &it[m]))
            m++;
    for (size_t i = 0; i < np; i++)
        engine__item_move(&it[m++], &r->pend[i]);
    r->npend = 0;
    sy_status st = apply_items(r, it, m, err);
    finish_items(it, m, st);
    free(it);
    *settled += m;
    return st;
}

sy_status engine_reports_run_once(engine_reports *r, size_t *handled, sy_error *err)
{
    if (handled)
        *handled = 0;
    sy_status st = ensure_consumer(r, err);
    if (st == SY_OK)
        st = ensure_session(r, err);
    if (st != SY_OK)
        return st;
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = engine_js_fetch(&list, r->sub, (int)r->batch, fetch_wait(r), &jerr);
    int64_t now = engine__now(r->eng), due = next_due(r);
    if (s == NATS_TIMEOUT && !(due && due <= now)) { /* idle: is Postgres still there? */
        st = engine_session_check(r->s, err);
        if (st == SY_DB_DOWN) {
            engine_session_close(r->s); /* reconnect next round */
            r->s = NULL;
        } else if (now - r->busy_at >= ENGINE_REPORTS_IDLE_MS) {
            engine_session_idle(r->s); /* give back what a burst took */
        }
        return st;
    }
    if (s != NATS_OK && s != NATS_TIMEOUT)
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not fetch reports: %s",
                            natsStatus_GetText(s));
    size_t settled = 0;
    st = round_take(r, &list, now, &settled, err);
    if (st == SY_OK && r->npend && (r->npend >= r->batch || r->pend_due <= now))
        st = apply_pending(r, &settled, err);
    if (st != SY_OK) /* the round failed: what waited goes back too */
        pend_release(r, false);
    if (st == SY_OK) {
        r->busy_at = engine__now(r->eng);
        engine__seen_flush(r, r->busy_at, false);
    }
    if (st == SY_DB_DOWN) {
        engine_session_close(r->s); /* reconnect next round */
        r->s = NULL;
    }
    if (handled && st == SY_OK)
        *handled = settled;
    return st;
}

void engine_reports_run(engine_reports *r, const atomic_bool *stop)
{
    int64_t backoff = 0;
    while (!atomic_load(stop)) {
        sy_error err;
        sy_error_clear(&err);
        sy_status st = engine_reports_run_once(r, NULL, &err);
        if (r->health && (st == SY_OK || st == SY_DB_DOWN))
            r->health(r->health_arg, st == SY_OK);
        if (st == SY_OK) {
            backoff = 0;
            continue;
        }
        backoff = backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 200;
        SY_LOG(r->log, SY_LOG_WARN, "report consumer round failed", "status", sy_status_text(st),
               "message", err.message);
        for (int64_t slept = 0; slept < backoff && !atomic_load(stop); slept += 100)
            usleep(100 * 1000);
    }
}
