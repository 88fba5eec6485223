/* dlq.h: the JSON shape of a dead letter, shared by `switchyard dlq`
 * (cli_dlq.c) and the admin API (admin.c). */
#ifndef SY_ROUTER_DLQ_H
#define SY_ROUTER_DLQ_H

#include "buf.h"
#include "engine.h"
#include "publish.h"

#include <stdbool.h>

/* Set by `dlq replay` to the dead letter's id. The router then keys the
 * replayed event's inbox row "sy.replay:<id>:<event_id>" instead of its
 * event_id, which the refused original already holds in the inbox: the
 * replay takes effect once, a redelivery of the replay does not double it. */
#define ROUTER_REPLAY_HEADER "Sy-Replay-Of"

/* Appends one JSON object and a newline: id, event_id, code, message,
 * subject, stream_seq, created_at, replayed, and with_body: headers, body. */
void router_dlq_row_json(const engine_dead_letter_row *r, bool with_body, sy_buf *b);

/* Replays one dead letter: its bytes and headers re-published to its
 * subject (without the original Nats-Msg-Id, with ROUTER_REPLAY_HEADER: id)
 * and, after the PubAck, marked replayed in its own transaction on s.
 * *seq (may be NULL): the replay's stream sequence. SY_INVALID (code
 * no_subject) when it has no subject to go to. dlq.c. */
sy_status router_dlq_replay(engine_session *s, router_publisher *pub,
                            const engine_dead_letter_row *r, uint64_t *seq,
                            sy_error *err) SY_MUST_USE;

/* The inbox key the router gives the replay of dead letter id whose event
 * has event_id (pipeline.c): "sy.replay:<id>:<event_id>". */
void router_dlq_replay_key(int64_t id, const char *event_id, char *buf, size_t size);

#endif
