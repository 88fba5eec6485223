/* metrics.h: the router's counters and histograms, rendered as Prometheus
 * text by the admin server (/metrics).
 *
 * One router_metrics per router, shared by its pipeline threads (writers)
 * and the admin thread (reader): every field is a C11 atomic updated with
 * relaxed ordering, so no lock is needed and a scrape never blocks the hot
 * path. Dead letters are counted per reason code from a fixed table (codes
 * outside it count as "other"), so the label set stays bounded. */
#ifndef SY_ROUTER_METRICS_H
#define SY_ROUTER_METRICS_H

#include "buf.h"
#include "engine.h"

#include <stdatomic.h>
#include <stdint.h>

#define ROUTER_HIST_MAX 24
#define ROUTER_DL_CODES_MAX 32

typedef struct router_hist {
    const double *bounds; /* borrowed static upper bounds, ascending */
    int nbounds;
    _Atomic uint64_t buckets[ROUTER_HIST_MAX + 1]; /* last: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro; /* sum of observations x 1e6 */
} router_hist;

typedef struct router_metrics {
    _Atomic uint64_t order_held, order_forced; /* stream order (order.h) */
    _Atomic uint64_t received, routed, duplicates, unmatched, acked, naked, termed;
    _Atomic uint64_t started, signaled, batches, batch_failures, busy_retries, reloads,
        reload_failures;
    _Atomic uint64_t dead_lettered[ROUTER_DL_CODES_MAX];
    /* the engine's ENGINE_STAT_* totals (engine_opts.totals): every
     * generation's engine adds to these, so they survive rules reloads */
    _Atomic uint64_t engine[ENGINE_STAT_COUNT];
    /* routed actions under flow control, by rules_flow_outcome */
    _Atomic uint64_t flow[RULES_FLOW_OUT_COUNT];
    _Atomic int64_t flow_held[RULES_FLOW_KINDS]; /* events held now; -1: unknown */
    _Atomic int64_t conc_waiting; /* starts waiting behind concurrency limits; -1: unknown */
    router_hist batch_size;      /* messages per fetched batch */
    router_hist commit_seconds;  /* begin..commit of one batch */
    router_hist e2e_seconds;     /* NATS publish (stream timestamp) .. commit */
    _Atomic int64_t consumer_pending;  /* -1: unknown */
    _Atomic int64_t outbox_backlog;    /* -1: unknown */
    _Atomic int64_t outbox_oldest_age_ms; /* -1: unknown */
} router_metrics;

void router_metrics_init(router_metrics *m);

/* Counts one dead letter with reason 'code' (borrowed). Any thread. */
void router_metrics_dead_letter(router_metrics *m, const char *code);

/* Adds one observation. Any thread. */
void router_metrics_observe(router_hist *h, double v);

/* Percentile estimate (upper bound of the bucket holding it), for logs and
 * benchmarks; 0 when empty. */
double router_hist_quantile(const router_hist *h, double q);

/* Appends the Prometheus text exposition of m to out. 'version' and
 * 'rules_hash' (borrowed, may be NULL) go into the build/rules info series. */
void router_metrics_render(const router_metrics *m, const char *version, const char *rules_hash,
                           sy_buf *out);

/* Appends the task queue gauges (switchyard_task_queue_backlog{queue} and
 * switchyard_task_queue_oldest_age_seconds{queue}) of q[0..n). */
void router_metrics_render_queues(const engine_queue_backlog *q, size_t n, sy_buf *out);

#endif
