/* Unit tests of router/metrics.c: histogram buckets are cumulative in the
 * Prometheus text, dead letters are labelled by code (unknown codes count
 * as "other"), unknown gauges are absent rather than made up. */
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
