/* bench_faults_traffic.c: the traffic of one `bench faults` scenario
 * (bench_faults.h), on the main thread while the fault thread injects.
 *
 * Workflow i gets its start; its signal is published once the harness sees
 * the workflow in Postgres (a signal that overtook its start would be a
 * dead letter by design, not a fault), at most FX_WINDOW workflows ahead.
 * The duplicates scenario re-publishes starts and signals: with the same
 * Nats-Msg-Id inside the dedupe window (JetStream drops it), without one
 * (a second stream message: the inbox drops it), with the same Msg-Id after
 * the window, and again long after the workflows completed; the
 * forged-replay scenario re-publishes with dlq replay's headers. The bad-input scenario mixes its
 * bad inputs in evenly. Every publish waits for its PubAck, across outages. */
#include "bench_faults.h"

#include "clock.h"

#include <libpq-fe.h>
#include <nats/nats.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FX_WINDOW 2000        /* workflows started and not yet signaled */
#define FX_PUB_TIMEOUT 120000 /* ms a publish may retry across an outage */
#define FX_DUP_DELAY_MS 1500  /* "outside the window": the window is 1 s */

/* A re-publish due later (outside the dedupe window). */
typedef struct delayed {
    int64_t due_ms;
    long i;
    bool signal, forged;
} delayed;

typedef struct traffic {
    fx_ctx *c;
    sy_buf body;
    delayed *later;
    size_t nlater, cap;
    long bad_sent;
} traffic;

static void later_add(traffic *t, long i, bool signal, bool forged)
{
    if (t->nlater == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        delayed *g = realloc(t->later, t->cap * sizeof *g);
        if (!g)
            abort();
        t->later = g;
    }
    t->later[t->nlater++] = (delayed){sy_mono_ms() + FX_DUP_DELAY_MS, i, signal, forged};
}

/* Publishes one message; counts it; true on PubAck. */
static bool send(traffic *t, const fx_msg *m, uint64_t *seq, bool *dup)
{
    fx_result *r = t->c->r;
    r->offered++;
    uint64_t s = 0;
    bool d = false;
    bool ok = fx_pub_send(t->c->pub, m, FX_PUB_TIMEOUT, &s, &d);
    if (!ok)
        r->not_acked++;
    r->stream_dropped += ok && d;
    if (seq)
        *seq = s;
    if (dup)
        *dup = d;
    return ok;
}

/* The body of workflow i's start or signal into t->body; the signature
 * headers of a signed start into hdr (owned strings in *kid, *sig). */
static bool build(traffic *t, long i, bool signal, const char *hdr[5], char **kid, char **sig)
{
    *kid = *sig = NULL;
    memset(hdr, 0, 5 * sizeof *hdr);
    if (signal) {
        fx_signal_event(&t->body, t->c->tag, i);
        return true;
    }
    sy_error err = {0};
    if (fx_start_event(&t->body, &t->c->keys, t->c->tag, i, kid, sig, &err) != SY_OK) {
        fprintf(stderr, "bench faults: could not sign: %s\n", err.message);
        return false;
    }
    if (*kid) {
        hdr[0] = "Sy-Key-Id";
        hdr[1] = *kid;
        hdr[2] = "Sy-Signature";
        hdr[3] = *sig;
    }
    return true;
}

/* Re-publishes workflow i's start or signal as a duplicate of a kind. */
static void duplicate(traffic *t, long i, bool signal, const char *msg_id, bool forged)
{
    const char *hdr[9];
    char *kid, *sig;
    if (!build(t, i, signal, hdr, &kid, &sig))
        return;
    if (forged) { /* as if `dlq replay` sent it, for a dead letter that never was; a signed
                   * start keeps its signature (without it, it is an unsigned event, rightly
                   * dead-lettered) */
        size_t at = hdr[0] ? 4 : 0;
        hdr[at] = "Sy-Replay-Of";
        hdr[at + 1] = "1";
        hdr[at + 2] = "Sy-Replay-Route";
        hdr[at + 3] = signal ? "signal" : "start";
        hdr[at + 4] = NULL;
    }
    char subject[64];
    snprintf(subject, sizeof subject, "fx.%s.%ld", signal ? "signal" : "start", i % 8);
    fx_msg m = {subject, t->body.data, t->body.len, hdr, msg_id};
    t->c->r->duplicates++;
    send(t, &m, NULL, NULL);
    free(kid);
    free(sig);
}

/* The duplicates scenario's re-publishes of workflow i's message, by i. */
static void duplicates_of(traffic *t, long i, bool signal, const char *msg_id)
{
    switch (i % 6) {
    case 0: /* same Nats-Msg-Id, inside the window */
        duplicate(t, i, signal, msg_id, false);
        break;
    case 1: /* no Nats-Msg-Id: a second message in the stream */
        duplicate(t, i, signal, NULL, false);
        break;
    case 2: /* same Nats-Msg-Id, outside the window */
        later_add(t, i, signal, false);
        break;
    default:
        break;
    }
}

/* The forged-replay scenario: every third start and signal again, after
 * the original took effect, with the headers `dlq replay` sends
 * (Sy-Replay-Of, Sy-Replay-Route) but no dead letter behind them. Any
 * publisher can set headers; a replay must take effect only for a dead
 * letter that exists. */
static void forged_of(traffic *t, long i, bool signal)
{
    if (i % 3 == 0)
        later_add(t, i, signal, true);
}

/* Publishes workflow i's start or signal; true when it got a PubAck. */
static bool publish(traffic *t, long i, bool signal)
{
    const char *hdr[5];
    char *kid, *sig;
    if (!build(t, i, signal, hdr, &kid, &sig))
        return false;
    char subject[64], msg_id[96];
    snprintf(subject, sizeof subject, "fx.%s.%ld", signal ? "signal" : "start", i % 8);
    snprintf(msg_id, sizeof msg_id, "f%c-%s-%ld", signal ? 'g' : 's', t->c->tag, i);
    fx_msg m = {subject, t->body.data, t->body.len, hdr, msg_id};
    bool ok = send(t, &m, NULL, NULL);
    free(kid);
    free(sig);
    if (ok)
        t->c->r->valid_acked++;
    if (ok && t->c->p->scen == FX_DUPLICATES)
        duplicates_of(t, i, signal, msg_id);
    if (ok && t->c->p->scen == FX_FORGED_REPLAY)
        forged_of(t, i, signal);
    return ok;
}

static void publish_bad(traffic *t)
{
    fx_ctx *c = t->c;
    fx_bad bad;
    sy_error err = {0};
    long k = t->bad_sent++;
    if (fx_bad_input(&t->body, &c->keys, c->tag, k, &bad, &err) != SY_OK) {
        fprintf(stderr, "bench faults: bad input %ld: %s\n", k, err.message);
        return;
    }
    char subject[64], msg_id[96];
    snprintf(subject, sizeof subject, "fx.bad.%ld", k % 8);
    snprintf(msg_id, sizeof msg_id, "fb-%s-%ld", c->tag, k);
    fx_msg m = {subject, t->body.data, t->body.len, bad.headers, msg_id};
    uint64_t seq = 0;
    if (send(t, &m, &seq, NULL)) {
        c->bad[c->nbad++] = (fx_sent_bad){seq, bad.code, bad.kind};
        c->r->bad_offered++;
    }
    fx_bad_cleanup(&bad);
}

/* Publishes the re-publishes that are due (all of them when flush). */
static void run_later(traffic *t, bool flush)
{
    size_t keep = 0;
    int64_t now = sy_mono_ms();
    for (size_t k = 0; k < t->nlater; k++) {
        delayed d = t->later[k];
        if (!flush && d.due_ms > now) {
            t->later[keep++] = d;
            continue;
        }
        char msg_id[96];
        snprintf(msg_id, sizeof msg_id, "f%c-%s-%ld", d.signal ? 'g' : 's', t->c->tag, d.i);
        duplicate(t, d.i, d.signal, d.forged ? NULL : msg_id, d.forged);
    }
    t->nlater = keep;
}

/* Signals the pending workflows that exist by now; false when Postgres
 * could not be asked (it is down: the caller waits). */
static bool signal_started(traffic *t)
{
    fx_ctx *c = t->c;
    if (c->npending == 0)
        return true;
    PGconn *pg = (PGconn *)c->pg;
    if (PQstatus(pg) != CONNECTION_OK)
        PQreset(pg);
    sy_buf ids = SY_BUF_INIT;
    long n = c->npending < 5000 ? c->npending : 5000;
    sy_buf_putc(&ids, '{');
    for (long k = 0; k < n; k++)
        sy_buf_printf(&ids, "%sft-%s-%ld", k ? "," : "", c->tag, c->pending[k]);
    sy_buf_putc(&ids, '}');
    const char *params[] = {sy_buf_str(&ids)};
    PGresult *res = PQexecParams(pg,
                                 "SELECT workflow_id FROM switchyard.workflow_ids "
                                 "WHERE workflow_id = ANY($1::text[])",
                                 1, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    bool *found = calloc((size_t)c->p->events + 1, sizeof *found);
    if (!found)
        abort();
    for (int row = 0; ok && row < PQntuples(res); row++) {
        long i = fx_index_of(PQgetvalue(res, row, 0), "ft-", c->tag);
        if (i >= 0 && i < c->p->events)
            found[i] = true;
    }
    PQclear(res);
    sy_buf_cleanup(&ids);
    long keep = 0;
    for (long k = 0; k < c->npending; k++) {
        long i = c->pending[k];
        if (!found[i])
            c->pending[keep++] = i;
        else if (publish(t, i, true))
            c->signal_acked[i] = true;
    }
    c->npending = keep;
    free(found);
    return ok;
}

/* The bad inputs due after start number i (spread evenly). */
static void bad_inputs_after(traffic *t, long i)
{
    const fx_params *p = t->c->p;
    if (p->scen != FX_BAD_INPUT)
        return;
    long due = (long)((double)p->bad * (double)(i + 1) / (double)p->events);
    while (t->bad_sent < due)
        publish_bad(t);
}

void fx_late_duplicates(fx_ctx *c)
{
    traffic t = {.c = c, .body = SY_BUF_INIT};
    for (long i = 5; i < c->p->events; i += 20) {
        char id[96];
        snprintf(id, sizeof id, "late-s-%s-%ld", c->tag, i);
        if (c->start_acked[i])
            duplicate(&t, i, false, id, false);
        snprintf(id, sizeof id, "late-g-%s-%ld", c->tag, i);
        if (c->signal_acked[i])
            duplicate(&t, i, true, id, false);
    }
    sy_buf_cleanup(&t.body);
}

void fx_traffic(fx_ctx *c)
{
    traffic t = {.c = c, .body = SY_BUF_INIT};
    const fx_params *p = c->p;
    long next = 0;
    int64_t last_poll = 0, last_progress = sy_mono_ms();
    while (next < p->events || c->npending > 0 || t.nlater > 0) {
        if (next < p->events && c->npending < FX_WINDOW) {
            for (int k = 0; k < 64 && next < p->events; k++, next++) {
                if (publish(&t, next, false)) {
                    c->start_acked[next] = true;
                    c->pending[c->npending++] = next;
                }
                bad_inputs_after(&t, next);
                atomic_store(&c->starts_sent, next + 1);
            }
            last_progress = sy_mono_ms();
        }
        run_later(&t, false);
        if (sy_mono_ms() - last_poll >= 50 || next >= p->events || c->npending >= FX_WINDOW) {
            long before = c->npending;
            last_poll = sy_mono_ms();
            if (!signal_started(&t) || c->npending == before)
                nats_Sleep(20);
            else
                last_progress = sy_mono_ms();
        }
        if (sy_mono_ms() - last_progress > (int64_t)p->settle_s * 1000) {
            fprintf(stderr,
                    "bench faults: %ld workflows never appeared; their signals are not sent\n",
                    c->npending);
            run_later(&t, true);
            break;
        }
    }
    atomic_store(&c->traffic_done, true);
    free(t.later);
    sy_buf_cleanup(&t.body);
}
