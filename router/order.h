/* order.h: the events of one workflow in stream order across pipelines
 * (router/README.md "Stream order"). Internal to router/.
 *
 * Every pipeline of every `serve` process fetches from the one durable
 * consumer, so two events of one workflow may sit in two pipelines at once.
 * Before a batch commits, its pipeline publishes its lane (engine.h: the
 * sequences it holds with a hash of each workflow ID they start or signal,
 * and those it committed) and reads the others'. An event may commit only
 * when every stream sequence before it is known (acked: at or below the
 * consumer's ack floor; in some lane, pending or done) and no pending one
 * before it names one of its workflows; otherwise it is held (kept
 * unacked, InProgress) for the next round. One pipeline's object, used by
 * its thread only. */
#ifndef SY_ROUTER_ORDER_H
#define SY_ROUTER_ORDER_H

#include "engine.h"

#include <nats/nats.h>

#include <stdbool.h>
#include <stdint.h>

enum { ROUTER_ORDER_KEYS = 8 };

/* The workflows one event starts or signals, as hashes (key 0: none, 1:
 * every workflow, for an event naming more than ROUTER_ORDER_KEYS). */
typedef struct router_order_keys {
    int64_t k[ROUTER_ORDER_KEYS];
    uint8_t n;
    bool all;
} router_order_keys;

void router_order_keys_add(router_order_keys *ks, const char *workflow_id);

/* One event of a round (the pipeline fills seq, keys, held_since_ms). */
typedef struct router_order_msg {
    uint64_t seq;
    router_order_keys keys;
    int64_t held_since_ms;   /* when it was first held; 0: never */
    int64_t held_touched_ms; /* its last InProgress (pipeline's bookkeeping) */
    natsMsg *msg;            /* the pipeline's, borrowed */
    bool clear;              /* out: may commit this round */
    bool forced;             /* out: held longer than max_hold; commits anyway */
    bool in_txn;             /* set by the pipeline while its transaction runs */
    bool committed;          /* its transaction committed */
} router_order_msg;

typedef struct router_order router_order;

/* NULL on out of memory. stream/consumer borrowed (the config's). */
router_order *router_order_new(const char *stream, const char *consumer);
void router_order_free(router_order *o); /* NULL: no-op */
const char *router_order_lane(const router_order *o);

/* Publishes this lane (every event of m[0..n), sorted by seq) and decides
 * each m[i].clear. Outside a transaction. js borrowed (for the ack floor).
 * On failure nothing is cleared (the pipeline naks nothing: it holds). */
sy_status router_order_decide(router_order *o, engine_session *s, jsCtx *js, router_order_msg *m,
                              size_t n, int64_t now_ms, int64_t max_hold_ms,
                              sy_error *err) SY_MUST_USE;

/* Inside the transaction: the lane as it will be once the events with
 * in_txn commit (those become done, the rest of m stays pending). */
sy_status router_order_settle(router_order *o, engine_session *s, const router_order_msg *m,
                              size_t n, sy_error *err) SY_MUST_USE;

/* After the commit: the in_txn events are done (committed set). */
void router_order_committed(router_order *o, router_order_msg *m, size_t n);

#endif
