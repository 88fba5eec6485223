/* jsfetch.h: a JetStream pull fetch that is safe with Debian's nats.c 3.4.1.
 *
 * natsSubscription_Fetch in nats.c 3.4.1 first drains messages already
 * queued on the subscription (late deliveries of an earlier pull request),
 * then shrinks the request's batch by that count but keeps looping until
 * `count == batch`: with more than half a batch queued it never stops and
 * writes past the batch-sized array it allocated (heap overflow, seen under
 * load as "double free or corruption"). We never call it with batch > 1
 * while messages are queued: queued ones are taken one per Fetch. Every
 * JetStream consumer in switchyard fetches through here.
 *
 * A fetch is a long poll: nats.c sends one pull request with no_wait and
 * an expiry, which nats-server (>= 2.8) holds until the first messages
 * arrive and then ends with what is there (tests/integration/jsfetch.c).
 * An idle consumer thus sends one request per timeout_ms, and a long
 * timeout adds no wait under load: the service's consumers wait 1 s
 * (consumer.fetch_wait), which keeps an idle stack idle. */
#ifndef SY_JSFETCH_H
#define SY_JSFETCH_H

#include <nats/nats.h>
#include <stdint.h>

/* On NATS_OK, *list holds 1..batch messages, those available when the
 * first arrived (destroy with natsMsgList_Destroy); NATS_TIMEOUT when none
 * came within timeout_ms. jerr may be NULL. Thread: the subscription's
 * owner. */
natsStatus engine_js_fetch(natsMsgList *list, natsSubscription *sub, int batch,
                           int64_t timeout_ms, jsErrCode *jerr);

#endif
