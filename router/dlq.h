/* dlq.h: the JSON shape of a dead letter, shared by `switchyard dlq`
 * (cli_dlq.c) and the admin API (admin.c). */
#ifndef SY_ROUTER_DLQ_H
#define SY_ROUTER_DLQ_H

#include "buf.h"
#include "engine.h"
#include "publish.h"

#include <stdbool.h>

/* Set by `dlq replay` to the dead letter's id, and when the dead letter is
 * one route's to that route's name. The router then runs that route only
 * (the event's other routes took effect when it first came) under the
 * inbox key "sy.route:<event_id>/<route>"; a whole event's replay (an
 * invalid or unmatched one, never applied) runs every route under its
 * event_id. Either way the replay takes effect once, however often it is
 * replayed or redelivered; a replay that fails again updates its dead
 * letter (failures + 1, pending again) and leaves no inbox row. */
#define ROUTER_REPLAY_HEADER "Sy-Replay-Of"
#define ROUTER_REPLAY_ROUTE_HEADER "Sy-Replay-Route"
#define ROUTER_DLQ_KEY_MAX 512

/* Appends one JSON object and a newline: id, event_id, code, message,
 * subject, route, failures, stream_seq, created_at, updated_at, replayed,
 * and with_body: headers, body. */
void router_dlq_row_json(const engine_dead_letter_row *r, bool with_body, sy_buf *b);

/* Replays one dead letter: marked replayed in a transaction on s that
 * stays open (the row locked) while its bytes and headers are re-published
 * to its subject (without the original Nats-Msg-Id, with
 * ROUTER_REPLAY_HEADER: id and ROUTER_REPLAY_ROUTE_HEADER: its route), and
 * commits after the PubAck: a router that fails the replay again waits for
 * the lock, so its update (pending again) comes after the mark, never
 * before. A publish that fails rolls the mark back.
 * *seq (may be NULL): the replay's stream sequence. SY_INVALID (code
 * no_subject) when it has no subject to go to. dlq.c. */
sy_status router_dlq_replay(engine_session *s, router_publisher *pub,
                            const engine_dead_letter_row *r, uint64_t *seq,
                            sy_error *err) SY_MUST_USE;

/* The inbox key of route 'route' of event event_id when a replay runs it
 * alone (pipeline.c): "sy.route:<event_id>/<route>" (event_ids hold no '/'). */
void router_dlq_route_key(const char *event_id, const char *route, char *buf, size_t size);
/* The inbox key the router gives the replay of r: its route's, or for a
 * whole event its event_id ("" when it has none). */
void router_dlq_replay_key(const engine_dead_letter_row *r, char *buf, size_t size);

#endif
