/* flow.h: flow control in the engine (docs/flow-control.md): the router
 * attaches a route's flow stages (rules.h: dedupe, rate_limit, debounce,
 * throttle, batch, each with its rendered key) to the start or signal it
 * adds to a batch; engine_batch_apply decides them under the keys' row
 * locks in the batch's transaction, so a dropped event is acked with its
 * inbox row and a held one is fired exactly once later by the timer loop
 * (engine_timers_run_once), whichever process runs it.
 *
 * Same threading as engine.h: a batch belongs to one thread. */
#ifndef SY_ENGINE_FLOW_H
#define SY_ENGINE_FLOW_H

#include "engine.h"

/* Attaches flow control to the op added last (engine_batch_start or
 * engine_batch_signal; none: ignored, returns SIZE_MAX). route, stages and
 * their keys are copied; event (the envelope's JSON) is copied when a batch
 * stage needs it (input.events). Returns the flow's handle in the batch:
 * handles are 0, 1, 2, .. in the order of the calls. */
size_t engine_batch_flow(engine_batch *b, const char *route, const rules_flow_stage *stages,
                         size_t n, const cJSON *event);

/* After engine_batch_apply: what flow control did with flow h (PASSED:
 * applied now; DEDUPED, RATE_LIMITED: dropped; DEBOUNCED, THROTTLED,
 * BATCHED: held; NONE: its event was a duplicate). */
rules_flow_outcome engine_batch_flow_outcome(const engine_batch *b, size_t h);
/* When a held flow h is expected to fire (ms), 0 otherwise. */
int64_t engine_batch_flow_fire_at(const engine_batch *b, size_t h);

/* The events flow control holds now, by stage kind (debounce: coalesced
 * events of the keys waiting to fire; throttle: queued; batch: collected),
 * for the metrics. Needs no transaction. */
sy_status engine_flow_held(engine_session *s, int64_t held[RULES_FLOW_KINDS],
                           sy_error *err) SY_MUST_USE;

/* Starts waiting behind concurrency limits now (concurrency.c), for the
 * metrics. Needs no transaction. */
sy_status engine_conc_waiting(engine_session *s, int64_t *waiting, sy_error *err) SY_MUST_USE;

#endif
