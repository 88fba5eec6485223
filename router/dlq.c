/* dlq.c: the JSON shape of a dead letter (dlq.h), one writer for the CLI
 * and the admin API. */
#include "dlq.h"

#include "json.h"
#include "timefmt.h"

void router_dlq_row_json(const engine_dead_letter_row *r, bool with_body, sy_buf *b)
{
    char ts[SY_TIME_RFC3339_MAX];
    sy_buf_printf(b, "{\"id\":%lld,\"event_id\":", (long long)r->id);
    if (r->event_id)
        sy_json_append_string(b, r->event_id);
    else
        sy_buf_puts(b, "null");
    sy_buf_puts(b, ",\"code\":");
    sy_json_append_string(b, r->code ? r->code : "");
    sy_buf_puts(b, ",\"message\":");
    sy_json_append_string(b, r->message ? r->message : "");
    sy_buf_puts(b, ",\"subject\":");
    sy_json_append_string(b, r->subject ? r->subject : "");
    sy_buf_printf(b, ",\"stream_seq\":%llu,\"created_at\":\"%s\",\"replayed\":%s",
                  (unsigned long long)r->stream_seq, sy_time_format_rfc3339(r->created_at_ms, ts),
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
