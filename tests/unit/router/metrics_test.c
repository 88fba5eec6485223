/* Unit tests of router/metrics.c: histogram buckets are cumulative in the
 * Prometheus text, dead letters are labelled by code (unknown codes count
 * as "other"), unknown gauges are absent rather than made up, and the
 * engine's totals are named by what they count. */
#include "metrics.h"
#include "test.h"

#include <string.h>

TEST(histogram_buckets_are_cumulative)
{
    router_metrics m;
    router_metrics_init(&m);
    router_metrics_observe(&m.commit_seconds, 0.0015); /* <= 0.002 */
    router_metrics_observe(&m.commit_seconds, 0.0015);
    router_metrics_observe(&m.commit_seconds, 0.3);    /* <= 0.5 */
    router_metrics_observe(&m.commit_seconds, 99);     /* +Inf */
    sy_buf b = SY_BUF_INIT;
    router_metrics_render(&m, "1.2.3", "abc", &b);
    const char *t = sy_buf_str(&b);
    CHECK(strstr(t, "switchyard_commit_seconds_bucket{le=\"0.001\"} 0\n") != NULL);
    CHECK(strstr(t, "switchyard_commit_seconds_bucket{le=\"0.002\"} 2\n") != NULL);
    CHECK(strstr(t, "switchyard_commit_seconds_bucket{le=\"0.5\"} 3\n") != NULL);
    CHECK(strstr(t, "switchyard_commit_seconds_bucket{le=\"+Inf\"} 4\n") != NULL);
    CHECK(strstr(t, "switchyard_commit_seconds_count 4\n") != NULL);
    CHECK(strstr(t, "switchyard_build_info{version=\"1.2.3\"} 1\n") != NULL);
    CHECK(strstr(t, "switchyard_rules_info{hash=\"abc\"} 1\n") != NULL);
    sy_buf_cleanup(&b);
}

TEST(dead_letters_are_counted_by_code)
{
    router_metrics m;
    router_metrics_init(&m);
    router_metrics_dead_letter(&m, "bad_json");
    router_metrics_dead_letter(&m, "bad_json");
    router_metrics_dead_letter(&m, "something_new");
    sy_buf b = SY_BUF_INIT;
    router_metrics_render(&m, NULL, NULL, &b);
    const char *t = sy_buf_str(&b);
    CHECK(strstr(t, "switchyard_events_dead_lettered_total{code=\"bad_json\"} 2\n") != NULL);
    CHECK(strstr(t, "switchyard_events_dead_lettered_total{code=\"other\"} 1\n") != NULL);
    CHECK(strstr(t, "switchyard_events_dead_lettered_total{code=\"missing_field\"} 0\n") != NULL);
    CHECK(strstr(t, "switchyard_consumer_pending") == NULL); /* unknown yet */
    atomic_store(&m.consumer_pending, 7);
    sy_buf_reset(&b);
    router_metrics_render(&m, NULL, NULL, &b);
    CHECK(strstr(sy_buf_str(&b), "switchyard_consumer_pending 7\n") != NULL);
    sy_buf_cleanup(&b);
}

TEST(quantile_is_the_bucket_upper_bound)
{
    router_metrics m;
    router_metrics_init(&m);
    for (int i = 0; i < 98; i++)
        router_metrics_observe(&m.e2e_seconds, 0.0035);
    router_metrics_observe(&m.e2e_seconds, 0.018);
    router_metrics_observe(&m.e2e_seconds, 0.018);
    CHECK(router_hist_quantile(&m.e2e_seconds, 0.5) == 0.004);
    CHECK(router_hist_quantile(&m.e2e_seconds, 0.99) == 0.02);
}

TEST(engine_totals_are_rendered_by_name_and_reason)
{
    router_metrics m;
    router_metrics_init(&m);
    atomic_store(&m.engine[ENGINE_STAT_STALE_REPORTS], 3);
    atomic_store(&m.engine[ENGINE_STAT_CLOSED_REPORTS], 1);
    atomic_store(&m.engine[ENGINE_STAT_STATE_HITS], 40);
    atomic_store(&m.engine[ENGINE_STAT_STATE_MISSES], 2);
    atomic_store(&m.engine[ENGINE_STAT_TIMERS_FIRED], 5);
    atomic_store(&m.engine[ENGINE_STAT_OUTBOX_DEAD_LETTERS], 7);
    sy_buf b = SY_BUF_INIT;
    router_metrics_render(&m, NULL, NULL, &b);
    const char *t = sy_buf_str(&b);
    CHECK(strstr(t, "switchyard_reports_ignored_total{reason=\"stale_attempt\"} 3\n") != NULL);
    CHECK(strstr(t, "switchyard_reports_ignored_total{reason=\"unknown_task\"} 0\n") != NULL);
    CHECK(strstr(t, "switchyard_reports_ignored_total{reason=\"workflow_closed\"} 1\n") != NULL);
    CHECK(strstr(t, "switchyard_state_cache_hits_total 40\n") != NULL);
    CHECK(strstr(t, "switchyard_state_cache_misses_total 2\n") != NULL);
    CHECK(strstr(t, "switchyard_timers_fired_total 5\n") != NULL);
    CHECK(strstr(t, "switchyard_timers_stale_total 0\n") != NULL);
    CHECK(strstr(t, "switchyard_outbox_dead_lettered_total 7\n") != NULL);
    sy_buf_cleanup(&b);
}

TEST(task_queue_gauges_are_labelled_by_queue_with_the_label_escaped)
{
    engine_queue_backlog q[2] = {{.queue = "jobs", .tasks = 3, .oldest_age_ms = 1500},
                                 {.queue = "we\"ird\\q", .tasks = 0, .oldest_age_ms = 0}};
    sy_buf b = SY_BUF_INIT;
    router_metrics_render_queues(q, 2, &b);
    const char *t = sy_buf_str(&b);
    CHECK(strstr(t, "# TYPE switchyard_task_queue_backlog gauge\n") != NULL);
    CHECK(strstr(t, "switchyard_task_queue_backlog{queue=\"jobs\"} 3\n") != NULL);
    CHECK(strstr(t, "switchyard_task_queue_oldest_age_seconds{queue=\"jobs\"} 1.500\n") != NULL);
    CHECK(strstr(t, "switchyard_task_queue_backlog{queue=\"we\\\"ird\\\\q\"} 0\n") != NULL);
    sy_buf_cleanup(&b);
}
