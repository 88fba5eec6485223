/* dlq.c: dead letters for the CLI and the admin API (dlq.h): their JSON
 * shape, and replaying one. */
#include "dlq.h"

#include "json.h"
#include "timefmt.h"

#include <stdio.h>
#include <string.h>

void router_dlq_row_json(const engine_dead_letter_row *r, bool with_body, sy_buf *b)
{
    char ts[SY_TIME_RFC3339_MAX];
    sy_buf_printf(b, "{\"id\":%lld,\"event_id\":", (long long)r->id);
    if (r->event_id)
        sy_json_append_string(b, r->event_id);
    else
        sy_buf_puts(b, "null");
    const char *parsed[][2] = {{"trace_id", r->trace_id}, {"type", r->type}, {"source", r->source}};
    for (size_t i = 0; i < sizeof parsed / sizeof *parsed; i++) {
        sy_buf_printf(b, ",\"%s\":", parsed[i][0]);
        if (parsed[i][1])
            sy_json_append_string(b, parsed[i][1]);
        else
            sy_buf_puts(b, "null");
    }
    sy_buf_puts(b, ",\"code\":");
    sy_json_append_string(b, r->code ? r->code : "");
    sy_buf_puts(b, ",\"message\":");
    sy_json_append_string(b, r->message ? r->message : "");
    sy_buf_puts(b, ",\"subject\":");
    sy_json_append_string(b, r->subject ? r->subject : "");
    sy_buf_puts(b, ",\"route\":");
    if (r->route)
        sy_json_append_string(b, r->route);
    else
        sy_buf_puts(b, "null");
    sy_buf_printf(b, ",\"failures\":%lld", (long long)(r->failures ? r->failures : 1));
    sy_buf_printf(b, ",\"stream_seq\":%llu,\"created_at\":\"%s\"",
                  (unsigned long long)r->stream_seq, sy_time_format_rfc3339(r->created_at_ms, ts));
    sy_buf_printf(
        b, ",\"updated_at\":\"%s\",\"replayed\":%s",
        sy_time_format_rfc3339(r->updated_at_ms ? r->updated_at_ms : r->created_at_ms, ts),
        r->replayed_at_ms ? "true" : "false");
    if (with_body) {
        sy_buf_puts(b, ",\"headers\":");
        if (r->headers)
            sy_json_append(b, r->headers);
        else
            sy_buf_puts(b, "{}");
        sy_buf_puts(b, ",\"body\":");
        sy_json_append_string(b, r->body ? r->body : "");
    }
    sy_buf_puts(b, "}\n");
}

void router_dlq_route_key(const char *event_id, const char *route, char *buf, size_t size)
{
    snprintf(buf, size, "sy.route:%s/%s", event_id ? event_id : "", route ? route : "");
}

void router_dlq_replay_key(const engine_dead_letter_row *r, char *buf, size_t size)
{
    if (r->route)
        router_dlq_route_key(r->event_id, r->route, buf, size);
    else
        snprintf(buf, size, "%s", r->event_id ? r->event_id : "");
}

sy_status router_dlq_replay(engine_session *s, router_publisher *pub,
                            const engine_dead_letter_row *r, uint64_t *seq, sy_error *err)
{
    if (!r->subject || !*r->subject)
        return sy_error_set(err, SY_INVALID, "no_subject", NULL,
                            "dead letter %lld has no subject to replay to", (long long)r->id);
    /* the original Nats-Msg-Id would be dropped by JetStream as a duplicate */
    cJSON *hdrs = r->headers ? cJSON_Duplicate(r->headers, 1) : NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(hdrs, "Nats-Msg-Id");
    if (!hdrs)
        hdrs = cJSON_CreateObject();
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)r->id);
    cJSON_DeleteItemFromObjectCaseSensitive(hdrs, ROUTER_REPLAY_HEADER);
    cJSON_DeleteItemFromObjectCaseSensitive(hdrs, ROUTER_REPLAY_ROUTE_HEADER);
    cJSON_AddStringToObject(hdrs, ROUTER_REPLAY_HEADER, idbuf);
    if (r->route)
        cJSON_AddStringToObject(hdrs, ROUTER_REPLAY_ROUTE_HEADER, r->route);
    sy_status st = engine_begin(s, err);
    if (st == SY_OK)
        st = engine_dead_letter_replayed(s, r->id, err);
    if (st == SY_OK)
        st = router_publisher_send(pub, r->subject, r->body ? r->body : "", r->body_len, hdrs, NULL,
                                   seq, NULL, err);
    cJSON_Delete(hdrs);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    return st;
}
