/* publish.c: synchronous JetStream publishing with PubAck (publish.h). */
#include "publish.h"

#include "clock.h"
#include "timefmt.h"

#include <nats/nats.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>

struct router_publisher {
    natsConnection *nc; /* NULL when borrowed */
    jsCtx *js;
    bool borrowed;      /* js belongs to someone else (router_publisher_borrow) */
};

const char *router_cli_nats_url(const char *flag)
{
    const char *env = getenv("SWITCHYARD_NATS_URL");
    return flag ? flag : env && *env ? env : "nats://127.0.0.1:4222";
}

sy_status router_publisher_new(const char *nats_url, router_publisher **out, sy_error *err)
{
    *out = NULL;
    router_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    natsStatus s = natsConnection_ConnectTo(&p->nc, nats_url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&p->js, p->nc, NULL);
    if (s != NATS_OK) {
        router_publisher_free(p);
        return sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not connect to %s: %s",
                            nats_url, natsStatus_GetText(s));
    }
    *out = p;
    return SY_OK;
}

router_publisher *router_publisher_borrow(void *js)
{
    router_publisher *p = calloc(1, sizeof *p);
    if (p) {
        p->js = js;
        p->borrowed = true;
    }
    return p;
}

static natsStatus set_headers(natsMsg *m, const cJSON *headers, const char *msg_id)
{
    natsStatus s = NATS_OK;
    const cJSON *h = NULL;
    cJSON_ArrayForEach(h, headers)
    {
        if (s == NATS_OK && cJSON_IsString(h) && h->string)
            s = natsMsgHeader_Set(m, h->string, h->valuestring);
    }
    if (s == NATS_OK && msg_id)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    return s;
}

sy_status router_publisher_send(router_publisher *p, const char *subject, const char *body,
                                size_t len, const cJSON *headers, const char *msg_id,
                                uint64_t *seq, bool *duplicate, sy_error *err)
{
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&m, subject, NULL, body, (int)len);
    if (s == NATS_OK)
        s = set_headers(m, headers, msg_id);
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, p->js, m, NULL, &jerr);
    if (s == NATS_OK) {
        if (seq)
            *seq = pa->Sequence;
        if (duplicate)
            *duplicate = pa->Duplicate;
    }
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    if (s != NATS_OK)
        return sy_error_set(err, s == NATS_NO_RESPONDERS ? SY_NATS : SY_NATS_DOWN, "nats", subject,
                            "could not publish to \"%s\": %s%s", subject, natsStatus_GetText(s),
                            s == NATS_NO_RESPONDERS ? " (no stream captures this subject)" : "");
    return SY_OK;
}

void router_publisher_free(router_publisher *p)
{
    if (!p)
        return;
    if (!p->borrowed) {
        jsCtx_Destroy(p->js);
        natsConnection_Destroy(p->nc);
    }
    free(p);
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    do
        randombytes_buf(raw, bytes);
    while (sodium_is_zero(raw, bytes)); /* a W3C trace id must not be all zero */
    sodium_bin2hex(out, bytes * 2 + 1, raw, bytes);
}

void router_envelope_fill(cJSON *obj)
{
    if (sodium_init() < 0)
        return;
    if (!cJSON_GetObjectItemCaseSensitive(obj, "event_id")) {
        char id[33];
        random_hex(id, 16);
        cJSON_AddStringToObject(obj, "event_id", id);
    }
    if (!cJSON_GetObjectItemCaseSensitive(obj, "occurred_at")) {
        char ts[SY_TIME_RFC3339_MAX];
        cJSON_AddStringToObject(obj, "occurred_at", sy_time_format_rfc3339(sy_clock_now_ms(NULL), ts));
    }
    if (!cJSON_GetObjectItemCaseSensitive(obj, "trace_id")) {
        char tr[33];
        random_hex(tr, 16);
        cJSON_AddStringToObject(obj, "trace_id", tr);
    }
}
