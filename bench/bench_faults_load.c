/* bench_faults_load.c: what `bench faults` publishes (bench_faults.h).
 *
 * Valid traffic: workflow i is started by event fs-<tag>-<i> (type
 * fault.start; one in ten signed by key k1 as source signed-fx) and later
 * signaled by fg-<tag>-<i> (fault.signal, subject = the workflow ID). Bad
 * inputs come in kinds, each with the dead-letter code it must get; the
 * kinds cover malformed and hostile bytes, signature trouble and injection
 * strings where IDs are built. The publisher reconnects for ever and
 * retries a publish until its PubAck, so a fault on the server side never
 * turns into an event the harness thinks it sent but did not. */
#include "bench_faults.h"

#include "clock.h"
#include "envelope.h"
#include "timefmt.h"

#include <nats/nats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the publisher ---------------------------------------------------------------- */

struct fx_pub {
    natsConnection *nc;
    jsCtx *js;
};

sy_status fx_pub_new(const char *nats_url, fx_pub **out, sy_error *err)
{
    *out = NULL;
    fx_pub *p = calloc(1, sizeof *p);
    if (!p)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    natsOptions *o = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000; /* a PubAck lost in an outage is retried, not waited for */
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, nats_url);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 100);
    if (s == NATS_OK)
        s = natsConnection_Connect(&p->nc, o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&p->js, p->nc, &jo);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fx_pub_free(p);
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not connect to %s: %s",
                            nats_url, natsStatus_GetText(s));
    }
    *out = p;
    return SY_OK;
}

void fx_pub_free(fx_pub *p)
{
    if (!p)
        return;
    jsCtx_Destroy(p->js);
    natsConnection_Destroy(p->nc);
    free(p);
}

static natsStatus publish_once(fx_pub *p, const fx_msg *m, uint64_t *seq, bool *dup)
{
    natsMsg *msg = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&msg, m->subject, NULL, m->body, (int)m->len);
    for (const char *const *h = m->headers; s == NATS_OK && h && h[0]; h += 2)
        s = natsMsgHeader_Set(msg, h[0], h[1]);
    if (s == NATS_OK && m->msg_id)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", m->msg_id);
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, p->js, msg, NULL, &jerr);
    if (s == NATS_OK) {
        *seq = pa->Sequence;
        *dup = pa->Duplicate;
    }
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(msg);
    return s;
}

bool fx_pub_send(fx_pub *p, const fx_msg *m, int timeout_ms, uint64_t *seq, bool *dup)
{
    int64_t until = sy_mono_ms() + timeout_ms;
    for (;;) {
        if (publish_once(p, m, seq, dup) == NATS_OK)
            return true;
        if (sy_mono_ms() >= until)
            return false;
        nats_Sleep(100);
    }
}

/* ---- keys ------------------------------------------------------------------------- */

/* The public half of prefix.pub ("key ID ed25519:B64 ...") into b64. */
static sy_status read_public(const char *prefix, char *b64, size_t n, sy_error *err)
{
    char path[700], line[512], id[80], key[200];
    snprintf(path, sizeof path, "%s.pub", prefix);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "key %79s %199s", id, key) == 2;
    if (f)
        fclose(f);
    if (!found)
        return sy_error_set(err, SY_IO, NULL, path, "no key line in %s", path);
    snprintf(b64, n, "%s", key);
    return SY_OK;
}

sy_status fx_keys_make(fx_keys *k, const char *dir, sy_error *err)
{
    char p1[600], p2[600], pub1[200], pub2[200];
    snprintf(p1, sizeof p1, "%s/k1", dir);
    snprintf(p2, sizeof p2, "%s/k2", dir);
    snprintf(k->k1, sizeof k->k1, "%s.key", p1);
    snprintf(k->k2, sizeof k->k2, "%s.key", p2);
    snprintf(k->keyring, sizeof k->keyring, "%s/keyring", dir);
    sy_status st = envelope_keygen("k1", p1, err);
    if (st == SY_OK)
        st = envelope_keygen("k2", p2, err);
    if (st == SY_OK)
        st = read_public(p1, pub1, sizeof pub1, err);
    if (st == SY_OK)
        st = read_public(p2, pub2, sizeof pub2, err);
    if (st != SY_OK)
        return st;
    FILE *f = fopen(k->keyring, "w");
    if (!f)
        return sy_error_set(err, SY_IO, NULL, NULL, "could not write %s", k->keyring);
    fprintf(f,
            "# bench faults: k1 signs for signed-*, k2 for \"other\" only\n"
            "key k1 %s sources=signed-* types=fault.>\n"
            "key k2 %s sources=other types=fault.>\n"
            "require-signature signed-*\n",
            pub1, pub2);
    return fclose(f) == 0 ? SY_OK
                          : sy_error_set(err, SY_IO, NULL, NULL, "could not write %s", k->keyring);
}

/* ---- events ------------------------------------------------------------------------ */

/* A W3C trace id (32 lowercase hex digits, never all zero) derived from s. */
static void trace_of(const char *s, char out[33])
{
    uint64_t h1 = 1469598103934665603ULL, h2 = 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h1 = (h1 ^ *p) * 1099511628211ULL;
        h2 = (h2 + *p) * 6364136223846793005ULL + 1;
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)(h1 | 1), (unsigned long long)h2);
}

/* A start event with the given parts; payload_n is JSON (a number or a string). */
static void start_body(sy_buf *b, const char *event_id, const char *source, int64_t at_ms,
                       const char *tag, const char *payload_n)
{
    char at[40], trace[33];
    sy_time_format_rfc3339(at_ms, at);
    trace_of(event_id, trace);
    sy_buf_reset(b);
    sy_buf_printf(b,
                  "{\"event_id\":\"%s\",\"type\":\"fault.start\",\"source\":\"%s\","
                  "\"occurred_at\":\"%s\",\"trace_id\":\"%s\",\"schema_version\":1,"
                  "\"payload\":{\"tag\":\"%s\",\"n\":%s}}",
                  event_id, source, at, trace, tag, payload_n);
}

static sy_status sign(const char *key, const sy_buf *b, char **key_id, char **sig, sy_error *err)
{
    return envelope_sign(key, b->data, b->len, key_id, sig, err);
}

sy_status fx_start_event(sy_buf *b, const fx_keys *k, const char *tag, long i, char **key_id,
                         char **sig, sy_error *err)
{
    char id[96], n[32];
    snprintf(id, sizeof id, "fs-%s-%ld", tag, i);
    snprintf(n, sizeof n, "%ld", i);
    bool signed_one = i % 10 == 3;
    start_body(b, id, signed_one ? "signed-fx" : "faults", sy_clock_now_ms(NULL), tag, n);
    *key_id = *sig = NULL;
    return signed_one ? sign(k->k1, b, key_id, sig, err) : SY_OK;
}

void fx_signal_event(sy_buf *b, const char *tag, long i)
{
    char at[40], id[96], trace[33];
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), at);
    snprintf(id, sizeof id, "fg-%s-%ld", tag, i);
    trace_of(id, trace);
    sy_buf_reset(b);
    sy_buf_printf(b,
                  "{\"event_id\":\"%s\",\"type\":\"fault.signal\",\"source\":\"faults\","
                  "\"subject\":\"ft-%s-%ld\",\"occurred_at\":\"%s\",\"trace_id\":\"%s\","
                  "\"schema_version\":1,\"payload\":{\"n\":%ld}}",
                  id, tag, i, at, trace, i);
}

/* ---- bad inputs ---------------------------------------------------------------------- */

typedef enum {
    BAD_JSON,
    BAD_DUP_KEY,
    BAD_DEEP,
    BAD_OVERSIZED,
    BAD_UNSIGNED,
    BAD_SIGNATURE,
    BAD_WRONG_KEY,
    BAD_UNKNOWN_KEY,
    BAD_SKEWED,
    BAD_REPLAY,
    BAD_INJECT_EVENT_ID,
    BAD_INJECT_WORKFLOW_ID,
    BAD_UTF8,
    BAD_KINDS
} bad_kind;

static const struct {
    const char *name, *code;
} BAD[BAD_KINDS] = {
    [BAD_JSON] = {"malformed_json", ENVELOPE_ERR_BAD_JSON},
    [BAD_DUP_KEY] = {"duplicate_key", ENVELOPE_ERR_DUPLICATE_KEY},
    [BAD_DEEP] = {"deep_nesting", ENVELOPE_ERR_TOO_DEEP},
    [BAD_OVERSIZED] = {"oversized", ENVELOPE_ERR_TOO_LARGE},
    [BAD_UNSIGNED] = {"unsigned_where_required", ENVELOPE_ERR_UNSIGNED},
    [BAD_SIGNATURE] = {"bad_signature", ENVELOPE_ERR_BAD_SIGNATURE},
    [BAD_WRONG_KEY] = {"wrong_key", ENVELOPE_ERR_BAD_SIGNATURE},
    [BAD_UNKNOWN_KEY] = {"unknown_key", ENVELOPE_ERR_UNKNOWN_KEY},
    [BAD_SKEWED] = {"skewed_time", ENVELOPE_ERR_CLOCK_SKEW},
    [BAD_REPLAY] = {"replay_of_an_old_signed_event", ENVELOPE_ERR_CLOCK_SKEW},
    [BAD_INJECT_EVENT_ID] = {"injection_in_event_id", ENVELOPE_ERR_BAD_FIELD},
    [BAD_INJECT_WORKFLOW_ID] = {"injection_in_workflow_id", "bad_workflow_id"},
    [BAD_UTF8] = {"invalid_utf8", ENVELOPE_ERR_BAD_UTF8},
};

int fx_bad_kinds(void)
{
    return BAD_KINDS;
}

const char *fx_bad_kind_name(int kind)
{
    return kind >= 0 && kind < BAD_KINDS ? BAD[kind].name : "?";
}

/* A payload nested deeper than the envelope's limit of 32. */
static void deep_body(sy_buf *b, const char *id)
{
    sy_buf_reset(b);
    sy_buf_printf(b,
                  "{\"event_id\":\"%s\",\"type\":\"fault.start\",\"source\":\"faults\","
                  "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"trace_id\":"
                  "\"0af7651916cd43dd8448eb211c80319c\",\"schema_version\":1,\"payload\":",
                  id);
    for (int d = 0; d < 40; d++)
        sy_buf_puts(b, "{\"a\":");
    sy_buf_puts(b, "1");
    for (int d = 0; d < 40; d++)
        sy_buf_putc(b, '}');
    sy_buf_putc(b, '}');
}

/* A valid-looking start whose payload carries a 80 KiB string (limit 64 KiB). */
static void oversized_body(sy_buf *b, const char *id, const char *tag)
{
    start_body(b, id, "faults", sy_clock_now_ms(NULL), tag, "0");
    b->len -= 2; /* reopen the payload: drop "}}" */
    sy_buf_puts(b, ",\"blob\":\"");
    for (int i = 0; i < 80 * 1024; i++)
        sy_buf_putc(b, (char)('a' + i % 26));
    sy_buf_puts(b, "\"}}");
}

/* Signature trouble: signed by key (or a forged header), at at_ms. */
static sy_status signed_bad(sy_buf *b, const fx_keys *k, bad_kind kind, const char *id,
                            const char *tag, fx_bad *bad, sy_error *err)
{
    int64_t now = sy_clock_now_ms(NULL);
    int64_t at = kind == BAD_SKEWED   ? now + 3600 * 1000LL  /* an hour ahead */
                 : kind == BAD_REPLAY ? now - 86400 * 1000LL /* captured yesterday */
                                      : now;
    /* bad_signature: a valid signature, of other bytes (n 1 signed, n 0 sent) */
    start_body(b, id, "signed-fx", at, tag, kind == BAD_SIGNATURE ? "1" : "0");
    const char *key = kind == BAD_WRONG_KEY ? k->k2 : k->k1;
    sy_status st = sign(key, b, &bad->key_id, &bad->sig, err);
    if (st != SY_OK)
        return st;
    if (kind == BAD_SIGNATURE)
        start_body(b, id, "signed-fx", at, tag, "0");
    if (kind == BAD_UNKNOWN_KEY) {
        free(bad->key_id);
        bad->key_id = strdup("k9");
    }
    return SY_OK;
}

sy_status fx_bad_input(sy_buf *b, const fx_keys *k, const char *tag, long n, fx_bad *bad,
                       sy_error *err)
{
    memset(bad, 0, sizeof *bad);
    bad_kind kind = (bad_kind)(n % BAD_KINDS);
    bad->kind = BAD[kind].name;
    bad->code = BAD[kind].code;
    char id[96];
    snprintf(id, sizeof id, "fb-%s-%ld", tag, n);
    sy_status st = SY_OK;
    switch (kind) {
    case BAD_JSON:
        sy_buf_reset(b);
        sy_buf_printf(b, "{\"event_id\":\"%s\",\"type\":\"fault.start\",\"payload\":{", id);
        break;
    case BAD_DUP_KEY:
        start_body(b, id, "faults", sy_clock_now_ms(NULL), tag, "0");
        b->len -= 1; /* inside the envelope object: one member twice */
        sy_buf_puts(b, ",\"type\":\"fault.start\"}");
        break;
    case BAD_DEEP:
        deep_body(b, id);
        break;
    case BAD_OVERSIZED:
        oversized_body(b, id, tag);
        break;
    case BAD_UNSIGNED:
        start_body(b, id, "signed-fx", sy_clock_now_ms(NULL), tag, "0");
        break;
    case BAD_SIGNATURE:
    case BAD_WRONG_KEY:
    case BAD_UNKNOWN_KEY:
    case BAD_SKEWED:
    case BAD_REPLAY:
        st = signed_bad(b, k, kind, id, tag, bad, err);
        break;
    case BAD_INJECT_EVENT_ID:
        start_body(b, "x';DROP TABLE switchyard.inbox;--", "faults", sy_clock_now_ms(NULL), tag,
                   "0");
        break;
    case BAD_INJECT_WORKFLOW_ID: /* valid envelope; the route renders ft-<tag>-<this> */
        start_body(b, id, "faults", sy_clock_now_ms(NULL), tag,
                   "\"1'); DROP TABLE switchyard.runs; --\"");
        break;
    case BAD_UTF8:
        start_body(b, id, "faults", sy_clock_now_ms(NULL), tag, "\"\xff\xfe\"");
        break;
    case BAD_KINDS:
        break;
    }
    if (bad->key_id) {
        bad->headers[0] = "Sy-Key-Id";
        bad->headers[1] = bad->key_id;
        bad->headers[2] = "Sy-Signature";
        bad->headers[3] = bad->sig;
    }
    return st;
}

void fx_bad_cleanup(fx_bad *bad)
{
    free(bad->key_id);
    free(bad->sig);
    bad->key_id = bad->sig = NULL;
}

bool fx_pub_consumer_idle(fx_pub *p, const char *stream, const char *consumer)
{
    jsConsumerInfo *ci = NULL;
    bool idle = js_GetConsumerInfo(&ci, p->js, stream, consumer, NULL, NULL) == NATS_OK &&
                ci->NumPending == 0 && ci->NumAckPending == 0;
    jsConsumerInfo_Destroy(ci);
    return idle;
}
