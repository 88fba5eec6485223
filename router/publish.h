/* publish.h: a small synchronous JetStream publisher for the CLI
 * (`switchyard publish`, `dlq replay`) and the ingest benchmark. A publish
 * counts only once its PubAck arrived. */
#ifndef SY_ROUTER_PUBLISH_H
#define SY_ROUTER_PUBLISH_H

#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct router_publisher router_publisher;

/* The NATS URL a CLI command uses: flag (may be NULL), else
 * SWITCHYARD_NATS_URL, else nats://127.0.0.1:4222. Borrowed. */
const char *router_cli_nats_url(const char *flag);

/* Connects (nats_url borrowed). SY_NATS_DOWN when unreachable. */
sy_status router_publisher_new(const char *nats_url, router_publisher **out,
                               sy_error *err) SY_MUST_USE;

/* Publishes body (borrowed) to subject with the headers of 'headers' (an
 * object of name -> string; may be NULL) and Nats-Msg-Id = msg_id (may be
 * NULL), and waits for the PubAck. *seq (may be NULL) gets the stream
 * sequence, *duplicate (may be NULL) whether JetStream saw it as a
 * duplicate. */
sy_status router_publisher_send(router_publisher *p, const char *subject, const char *body,
                                size_t len, const cJSON *headers, const char *msg_id,
                                uint64_t *seq, bool *duplicate, sy_error *err) SY_MUST_USE;

/* A publisher on an existing JetStream context (a nats.c jsCtx *, borrowed:
 * it must outlive the publisher), e.g. the service's own connection with
 * its credentials and TLS. NULL when out of memory. */
router_publisher *router_publisher_borrow(void *js);

void router_publisher_free(router_publisher *p); /* NULL is a no-op */

/* Fills the missing event_id (random), occurred_at (now) and trace_id
 * (random) of an envelope object in place. */
void router_envelope_fill(cJSON *obj);

#endif
