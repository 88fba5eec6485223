/* metrics.c: lock-free counters and fixed-bucket histograms for the router
 * and their Prometheus text exposition (metrics.h). */
#include "metrics.h"

#include <string.h>

#define RELAXED memory_order_relaxed

/* Dead-letter reasons we label by name: the envelope's, the rules', the
 * engine's and the router's own. Index ROUTER_DL_CODES_MAX - 1 is "other". */
static const char *const dl_codes[] = {
    "missing_field", "bad_field",     "bad_type",       "bad_timestamp",  "bad_trace_id",
    "unknown_field", "duplicate_key", "bad_json",       "bad_utf8",       "too_deep",
    "too_large",     "bad_protobuf",  "schema_mismatch", "no_schema",     "bad_signature",
    "unsigned",      "clock_skew",    "bad_workflow_id", "template_error", "unmatched",
    "workflow_missing", "workflow_not_found", "workflow_running", "workflow_closed",
    "unknown_workflow_type", "input_too_large", "dead_letter", "unknown_key", "bad_flow_key",
    NULL,
};
#define DL_OTHER (ROUTER_DL_CODES_MAX - 1)
#define DL_NAMED ((int)(sizeof dl_codes / sizeof dl_codes[0]) - 1)
_Static_assert(DL_NAMED < DL_OTHER, "too many dead-letter codes");

static const double size_bounds[] = {1, 8, 32, 64, 128, 256, 512, 1024, 4096};
static const double latency_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                        0.1,   0.25,  0.5,   1,    2.5,  10};
/* publish -> commit: finer, it is the latency budget (p99 <= 20 ms) */
static const double e2e_bounds[] = {0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
                                    0.012, 0.015, 0.02,  0.025, 0.03,  0.04,  0.05,  0.075,
                                    0.1,   0.25,  0.5,   1,     2.5,   10};

static void hist_init(router_hist *h, const double *bounds, int n)
{
    h->bounds = bounds;
    h->nbounds = n;
    for (int i = 0; i <= ROUTER_HIST_MAX; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->count, 0);
    atomic_init(&h->sum_micro, 0);
}

void router_metrics_init(router_metrics *m)
{
    memset(m, 0, sizeof *m); /* atomics of integer type are valid when zeroed */
    hist_init(&m->batch_size, size_bounds, (int)(sizeof size_bounds / sizeof size_bounds[0]));
    hist_init(&m->commit_seconds, latency_bounds,
              (int)(sizeof latency_bounds / sizeof latency_bounds[0]));
    hist_init(&m->e2e_seconds, e2e_bounds, (int)(sizeof e2e_bounds / sizeof e2e_bounds[0]));
    atomic_init(&m->consumer_pending, -1);
    for (int i = 0; i < RULES_FLOW_KINDS; i++)
        atomic_init(&m->flow_held[i], -1);
    atomic_init(&m->conc_waiting, -1);
    atomic_init(&m->outbox_backlog, -1);
    atomic_init(&m->outbox_oldest_age_ms, -1);
}

void router_metrics_dead_letter(router_metrics *m, const char *code)
{
    int idx = DL_OTHER;
    for (int i = 0; code && dl_codes[i]; i++)
        if (strcmp(code, dl_codes[i]) == 0) {
            idx = i;
            break;
        }
    atomic_fetch_add_explicit(&m->dead_lettered[idx], 1, RELAXED);
}

void router_metrics_observe(router_hist *h, double v)
{
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, RELAXED);
    atomic_fetch_add_explicit(&h->count, 1, RELAXED);
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(v * 1e6), RELAXED);
}

double router_hist_quantile(const router_hist *h, double q)
{
    uint64_t total = atomic_load_explicit(&h->count, RELAXED), seen = 0;
    if (total == 0)
        return 0;
    for (int i = 0; i <= h->nbounds; i++) {
        seen += atomic_load_explicit(&h->buckets[i], RELAXED);
        if ((double)seen >= q * (double)total)
            return i < h->nbounds ? h->bounds[i] : h->bounds[h->nbounds - 1];
    }
    return h->bounds[h->nbounds - 1];
}

static void counter(sy_buf *o, const char *name, const char *help, const _Atomic uint64_t *v)
{
    sy_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  (unsigned long long)atomic_load_explicit(v, RELAXED));
}

static void gauge(sy_buf *o, const char *name, const char *help, const _Atomic int64_t *v)
{
    int64_t x = atomic_load_explicit(v, RELAXED);
    if (x < 0)
        return; /* unknown: absent rather than a made-up value */
    sy_buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
                  (long long)x);
}

static void histogram(sy_buf *o, const char *name, const char *help, const router_hist *h)
{
    sy_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], RELAXED);
        if (i < h->nbounds)
            sy_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                          (unsigned long long)cum);
        else
            sy_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    sy_buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name,
                  (double)atomic_load_explicit(&h->sum_micro, RELAXED) / 1e6, name,
                  (unsigned long long)atomic_load_explicit(&h->count, RELAXED));
}

static void dead_letters(sy_buf *o, const router_metrics *m)
{
    const char *name = "switchyard_events_dead_lettered_total";
    sy_buf_printf(o, "# HELP %s Events dead-lettered, by reason code.\n# TYPE %s counter\n",
                  name, name);
    for (int i = 0; i < ROUTER_DL_CODES_MAX; i++) {
        uint64_t v = atomic_load_explicit(&m->dead_lettered[i], RELAXED);
        const char *code = i == DL_OTHER ? "other" : (i < DL_NAMED ? dl_codes[i] : NULL);
        if (code)
            sy_buf_printf(o, "%s{code=\"%s\"} %llu\n", name, code, (unsigned long long)v);
    }
}

/* The engine's totals: worker reports ignored by reason, timers, and the
 * state cache (its hit ratio says whether engine.state_cache holds the
 * workflows in flight). */
static void engine_counters(sy_buf *o, const router_metrics *m)
{
    const char *ign = "switchyard_reports_ignored_total";
    sy_buf_printf(o, "# HELP %s Worker reports counted and not applied.\n# TYPE %s counter\n", ign,
                  ign);
    static const struct {
        int stat;
        const char *reason;
    } reasons[] = {{ENGINE_STAT_STALE_REPORTS, "stale_attempt"},
                   {ENGINE_STAT_UNKNOWN_TASKS, "unknown_task"},
                   {ENGINE_STAT_CLOSED_REPORTS, "workflow_closed"},
                   {ENGINE_STAT_TASK_CLOSED_REPORTS, "task_closed"}};
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        sy_buf_printf(o, "%s{reason=\"%s\"} %llu\n", ign, reasons[i].reason,
                      (unsigned long long)atomic_load_explicit(&m->engine[reasons[i].stat], RELAXED));
    counter(o, "switchyard_timers_fired_total", "Timers fired (sleeps, timeouts, retries).",
            &m->engine[ENGINE_STAT_TIMERS_FIRED]);
    counter(o, "switchyard_timers_stale_total", "Timers due for a step or run that had moved on.",
            &m->engine[ENGINE_STAT_TIMERS_STALE]);
    counter(o, "switchyard_state_cache_hits_total",
            "Running workflows whose state came from the state cache.",
            &m->engine[ENGINE_STAT_STATE_HITS]);
    counter(o, "switchyard_state_cache_misses_total",
            "Running workflows whose history was read back and replayed.",
            &m->engine[ENGINE_STAT_STATE_MISSES]);
    counter(o, "switchyard_flow_fired_total",
            "Actions flow control held (debounced, throttled, batched), applied by the timer loop.",
            &m->engine[ENGINE_STAT_FLOW_FIRED]);
    const char *cor = "switchyard_flow_correlated_total";
    sy_buf_printf(o,
                  "# HELP %s Running workflows a later event correlated with: canceled by a"
                  " cancel_on, a wait_event step resumed; joins a later event completed.\n# TYPE %s counter\n",
                  cor, cor);
    sy_buf_printf(o, "%s{kind=\"join\"} %llu\n", cor,
                  (unsigned long long)atomic_load_explicit(&m->engine[ENGINE_STAT_JOINS_STARTED],
                                                           RELAXED));
    sy_buf_printf(o, "%s{kind=\"cancel_on\"} %llu\n%s{kind=\"wait_event\"} %llu\n", cor,
                  (unsigned long long)atomic_load_explicit(&m->engine[ENGINE_STAT_CORR_CANCELED],
                                                           RELAXED),
                  cor,
                  (unsigned long long)atomic_load_explicit(&m->engine[ENGINE_STAT_CORR_WAITS],
                                                           RELAXED));
    counter(o, "switchyard_outbox_dead_lettered_total",
            "Outbox messages that could not be published (no stream holds the subject, too"
            " large, a bad subject), moved to dead letters.",
            &m->engine[ENGINE_STAT_OUTBOX_DEAD_LETTERS]);
}

/* What flow control did with the routed actions that have stages:
 * applied now (passed), dropped (deduped, rate_limited) or held
 * (debounced, throttled, batched). */
static void flow_counters(sy_buf *o, const router_metrics *m)
{
    const char *name = "switchyard_flow_actions_total";
    sy_buf_printf(o,
                  "# HELP %s Routed actions under flow control, by what it did with them.\n"
                  "# TYPE %s counter\n",
                  name, name);
    for (int i = RULES_FLOW_OUT_PASSED; i < RULES_FLOW_OUT_FIRED; i++)
        sy_buf_printf(o, "%s{outcome=\"%s\"} %llu\n", name,
                      rules_flow_outcome_name((rules_flow_outcome)i),
                      (unsigned long long)atomic_load_explicit(&m->flow[i], RELAXED));
    const char *held = "switchyard_flow_held";
    if (atomic_load_explicit(&m->flow_held[RULES_FLOW_DEBOUNCE], RELAXED) < 0)
        return; /* unknown: Postgres away */
    sy_buf_printf(o,
                  "# HELP %s Events flow control holds now (debounced, throttled, batched),"
                  " waiting for the timer loop.\n# TYPE %s gauge\n",
                  held, held);
    for (int k = RULES_FLOW_DEBOUNCE; k < RULES_FLOW_KINDS; k++)
        sy_buf_printf(o, "%s{kind=\"%s\"} %lld\n", held, rules_flow_kind_name((rules_flow_kind)k),
                      (long long)atomic_load_explicit(&m->flow_held[k], RELAXED));
}

/* What workflows' concurrency limits did with their starts, and what waits. */
static void conc_counters(sy_buf *o, const router_metrics *m)
{
    static const struct {
        const char *outcome;
        int stat;
    } outs[] = {{"passed", ENGINE_STAT_CONC_PASSED},
                {"queued", ENGINE_STAT_CONC_QUEUED},
                {"dropped", ENGINE_STAT_CONC_DROPPED},
                {"released", ENGINE_STAT_CONC_RELEASED}};
    const char *name = "switchyard_concurrency_starts_total";
    sy_buf_printf(o,
                  "# HELP %s Starts of workflows with a concurrency limit, by what it did: found"
                  " a slot (passed), waited (queued), dropped (cancel_newest), started later into"
                  " a free slot (released).\n# TYPE %s counter\n",
                  name, name);
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++)
        sy_buf_printf(o, "%s{outcome=\"%s\"} %llu\n", name, outs[i].outcome,
                      (unsigned long long)atomic_load_explicit(&m->engine[outs[i].stat], RELAXED));
    counter(o, "switchyard_concurrency_canceled_total",
            "Runs canceled to make room for a newer start (cancel_in_progress).",
            &m->engine[ENGINE_STAT_CONC_CANCELED]);
    counter(o, "switchyard_concurrency_replaced_total",
            "Waiting starts replaced by a newer one (cancel_in_progress).",
            &m->engine[ENGINE_STAT_CONC_REPLACED]);
    int64_t waiting = atomic_load_explicit(&m->conc_waiting, RELAXED);
    if (waiting >= 0)
        sy_buf_printf(o,
                      "# HELP switchyard_concurrency_waiting Starts waiting for a slot of their"
                      " concurrency key now.\n# TYPE switchyard_concurrency_waiting gauge\n"
                      "switchyard_concurrency_waiting %lld\n",
                      (long long)waiting);
}

void router_metrics_render(const router_metrics *m, const char *version, const char *rules_hash,
                           sy_buf *o)
{
    sy_buf_printf(o, "# HELP switchyard_build_info Build information.\n"
                     "# TYPE switchyard_build_info gauge\n"
                     "switchyard_build_info{version=\"%s\"} 1\n",
                  version ? version : "unknown");
    if (rules_hash)
        sy_buf_printf(o, "# HELP switchyard_rules_info The loaded rules set.\n"
                         "# TYPE switchyard_rules_info gauge\n"
                         "switchyard_rules_info{hash=\"%s\"} 1\n", rules_hash);
    counter(o, "switchyard_events_received_total", "Messages fetched from JetStream.", &m->received);
    counter(o, "switchyard_events_routed_total", "Events whose effects were committed.", &m->routed);
    counter(o, "switchyard_events_duplicate_total", "Events already in the inbox.", &m->duplicates);
    counter(o, "switchyard_events_unmatched_total", "Events no route matched.", &m->unmatched);
    dead_letters(o, m);
    counter(o, "switchyard_messages_acked_total", "Messages acked.", &m->acked);
    counter(o, "switchyard_messages_naked_total", "Messages naked for redelivery.", &m->naked);
    counter(o, "switchyard_messages_termed_total", "Messages termed.", &m->termed);
    counter(o, "switchyard_workflows_started_total", "Start actions applied.", &m->started);
    counter(o, "switchyard_workflows_signaled_total", "Signal actions applied.", &m->signaled);
    counter(o, "switchyard_batches_total", "Batches committed.", &m->batches);
    counter(o, "switchyard_batch_failures_total", "Batches rolled back.", &m->batch_failures);
    counter(o, "switchyard_order_held_total",
            "Events held for a round because an earlier event of their workflow (or an "
            "unknown one) was not committed yet.",
            &m->order_held);
    counter(o, "switchyard_order_forced_total",
            "Events applied although held longer than consumer.order_max_hold (out of order).",
            &m->order_forced);
    counter(o, "switchyard_batch_busy_retries_total",
            "Batches applied again after a transient conflict with another pipeline.",
            &m->busy_retries);
    counter(o, "switchyard_rules_reloads_total", "Rules reloads applied.", &m->reloads);
    counter(o, "switchyard_rules_reload_failures_total", "Rules reloads refused.",
            &m->reload_failures);
    histogram(o, "switchyard_batch_size", "Messages per batch.", &m->batch_size);
    histogram(o, "switchyard_commit_seconds", "Batch transaction latency.", &m->commit_seconds);
    histogram(o, "switchyard_publish_to_commit_seconds", "Stream timestamp to commit.",
              &m->e2e_seconds);
    engine_counters(o, m);
    flow_counters(o, m);
    conc_counters(o, m);
    gauge(o, "switchyard_consumer_pending", "Messages pending in the durable consumer.",
          &m->consumer_pending);
    gauge(o, "switchyard_outbox_backlog", "Outbox rows not yet published.", &m->outbox_backlog);
    int64_t age = atomic_load_explicit(&m->outbox_oldest_age_ms, RELAXED);
    if (age >= 0)
        sy_buf_printf(o,
                      "# HELP switchyard_outbox_oldest_age_seconds Age of the oldest unpublished "
                      "outbox row.\n# TYPE switchyard_outbox_oldest_age_seconds gauge\n"
                      "switchyard_outbox_oldest_age_seconds %.3f\n",
                      (double)age / 1000.0);
}

/* A label value as Prometheus wants it: \\, \" and \\n escaped. */
static void label_value(sy_buf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sy_buf_putc(o, '\\');
        if (*v == '\n')
            sy_buf_puts(o, "\\n");
        else
            sy_buf_putc(o, *v);
    }
}

void router_metrics_render_queues(const engine_queue_backlog *q, size_t n, sy_buf *o)
{
    sy_buf_puts(o, "# HELP switchyard_task_queue_backlog Tasks scheduled on the queue that no "
                   "worker took yet.\n# TYPE switchyard_task_queue_backlog gauge\n");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(o, "switchyard_task_queue_backlog{queue=\"");
        label_value(o, q[i].queue);
        sy_buf_printf(o, "\"} %llu\n", (unsigned long long)q[i].tasks);
    }
    sy_buf_puts(o, "# HELP switchyard_task_queue_oldest_age_seconds Age of the oldest task "
                   "waiting on the queue (0: none).\n"
                   "# TYPE switchyard_task_queue_oldest_age_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(o, "switchyard_task_queue_oldest_age_seconds{queue=\"");
        label_value(o, q[i].queue);
        sy_buf_printf(o, "\"} %.3f\n", (double)q[i].oldest_age_ms / 1000.0);
    }
    sy_buf_puts(o, "# HELP switchyard_task_queue_held Tasks of the backlog held for dispatch "
                   "behind the queue's max_in_flight.\n# TYPE switchyard_task_queue_held gauge\n");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(o, "switchyard_task_queue_held{queue=\"");
        label_value(o, q[i].queue);
        sy_buf_printf(o, "\"} %llu\n", (unsigned long long)q[i].held);
    }
}
