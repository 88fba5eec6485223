/* `switchyard replay` (backfill) against real servers: a router routes a
 * window of events with one set of rules; replaying the window through a
 * set with new routes applies only the new routes, once; a second replay
 * changes nothing; a dry run prints what would change and changes nothing;
 * bad windows are usage errors naming the option. */
#include "router_helpers.h"

#include "clock.h"
#include "timefmt.h"

#include <cjson/cJSON.h>

static const char rules_v1[] = "version: 1\n"
                               "routes:\n"
                               "  - name: job\n"
                               "    match: { type: order.created }\n"
                               "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                               "workflows:\n"
                               "  job:\n"
                               "    steps:\n"
                               "      - wait: never\n"
                               "        timeout: 1d\n";

/* v1 and two new routes: one more start for order.created, and a start
 * for order.paid, which v1 left unmatched */
static const char rules_v2[] = "version: 1\n"
                               "routes:\n"
                               "  - name: job\n"
                               "    match: { type: order.created }\n"
                               "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                               "  - name: audit\n"
                               "    match: { type: order.created }\n"
                               "    start: { workflow: job, id: \"audit-{{ payload.n }}\" }\n"
                               "  - name: paid\n"
                               "    match: { type: order.paid }\n"
                               "    start: { workflow: job, id: \"paid-{{ payload.n }}\" }\n"
                               "workflows:\n"
                               "  job:\n"
                               "    steps:\n"
                               "      - wait: never\n"
                               "        timeout: 1d\n";

typedef struct replay_env {
    rt t;
    char *cfg, *v2;
    char until[40];
} replay_env;

/* A router on rules v1 routes 5 order.created and 2 order.paid events. */
static void replay_env_start_with(replay_env *e, const char *name, const char *rules)
{
    rt_prepare(&e->t, name, rules);
    rt_run(&e->t);
    char subj[64], body[512], id[32];
    snprintf(subj, sizeof subj, "rt.%s.a", name);
    for (int i = 1; i <= 7; i++) {
        snprintf(id, sizeof id, "%s-%d", name, i);
        rh_event(body, sizeof body, id, i <= 5 ? "order.created" : "order.paid", i);
        rh_publish(&e->t.n, subj, body);
    }
    CHECK_INT(rh_wait_count(e->t.conninfo, "SELECT count(*) FROM switchyard.runs", 5, 20000), 5);
    rh_sleep_ms(1500); /* the unmatched ones acked too: the consumer's ack floor is past all */
    char yaml[2048], file[64];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\"}\n"
             "stream: {name: RT_%s, subjects: [rt.%s.>]}\nconsumer: {name: router}\n"
             "rules: {path: \"%s\"}\n",
             fixture_nats_url(), e->t.conninfo, name, name, e->t.rules);
    snprintf(file, sizeof file, "%s-replay.yaml", name);
    e->cfg = rh_write_file(file, yaml);
    snprintf(file, sizeof file, "%s-v2.yaml", name);
    e->v2 = rh_write_file(file, rules_v2);
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), e->until);
}

static void replay_env_start(replay_env *e, const char *name)
{
    replay_env_start_with(e, name, rules_v1);
}

static void replay_env_stop(replay_env *e)
{
    rt_stop(&e->t);
    unlink(e->cfg);
    unlink(e->v2);
    free(e->cfg);
    free(e->v2);
}

/* Runs switchyard replay --config ... extra; its exit code, stdout in out. */
static int run_replay(const replay_env *e, const char *extra, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s replay --config %s --from 10m --until %s %s 2>&1",
             fixture_switchyard_bin(), e->cfg, e->until, extra);
    return fixture_run(cmd, out, cap);
}

/* The last line of out: the summary. Owned. */
static cJSON *summary(const char *out)
{
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n')
        n--;
    const char *start = out + n;
    while (start > out && start[-1] != '\n')
        start--;
    cJSON *j = cJSON_ParseWithLength(start, (size_t)(out + n - start));
    CHECK_MSG(j, "no JSON summary in: %s", out);
    return j;
}

static long num(const cJSON *j, const char *k)
{
    return (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, k));
}

static long runs_like(const replay_env *e, const char *prefix)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM switchyard.runs WHERE workflow_id LIKE '%s%%'",
             prefix);
    return rh_count(e->t.conninfo, sql);
}

/* Runs a replay (extra: more options) that must exit 0 with summary
 * counts k1 == v1 and k2 == v2. */
static void expect_summary(const replay_env *e, const char *extra, const char *k1, long v1,
                           const char *k2, long v2)
{
    char out[65536];
    int rc = run_replay(e, extra, out, sizeof out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    cJSON *s = summary(out);
    CHECK_MSG(num(s, k1) == v1 && num(s, k2) == v2, "want %s %ld, %s %ld: %s", k1, v1, k2, v2, out);
    cJSON_Delete(s);
}

TEST(a_replay_after_adding_routes_applies_only_the_new_routes_once)
{
    replay_env e;
    replay_env_start(&e, "rp_new");
    char out[65536], extra[512];
    snprintf(extra, sizeof extra, "--rules %s", e.v2);
    int rc = run_replay(&e, extra, out, sizeof out);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    cJSON *s = summary(out);
    CHECK_INT(num(s, "read"), 7);
    CHECK_INT(num(s, "changed"), 7);
    CHECK_INT(num(s, "routes_applied"), 7);
    CHECK_INT(num(s, "not_routed"), 0);
    cJSON_Delete(s);
    CHECK_INT(runs_like(&e, "job-"), 5); /* the route that had taken effect: not again */
    CHECK_INT(runs_like(&e, "audit-"), 5);
    CHECK_INT(runs_like(&e, "paid-"), 2);

    /* again: nothing doubles */
    expect_summary(&e, extra, "changed", 0, "unchanged", 7);
    CHECK_INT(rh_count(e.t.conninfo, "SELECT count(*) FROM switchyard.runs"), 12);
    replay_env_stop(&e);
}

TEST(a_dry_run_prints_what_would_change_and_changes_nothing)
{
    replay_env e;
    replay_env_start(&e, "rp_dry");
    char out[65536], extra[512];
    snprintf(extra, sizeof extra, "--rules %s --dry-run --type 'order.*'", e.v2);
    CHECK_INT(run_replay(&e, extra, out, sizeof out), 0);
    cJSON *s = summary(out);
    CHECK_INT(num(s, "changed"), 7);
    CHECK_INT(num(s, "routes_applied"), 7);
    cJSON_Delete(s);
    CHECK_MSG(strstr(out, "\"event_id\":\"rp_dry-6\"") && strstr(out, "\"workflow_id\":\"paid-6\""),
              "%s", out);
    CHECK_MSG(strstr(out, "\"workflow_id\":\"audit-1\"") &&
                  !strstr(out, "\"workflow_id\":\"job-1\""),
              "%s", out);
    CHECK_INT(rh_count(e.t.conninfo, "SELECT count(*) FROM switchyard.runs"), 5);
    CHECK_INT(rh_count(e.t.conninfo, "SELECT count(*) FROM switchyard.inbox"), 5);

    /* --type narrows it: only the paid events */
    snprintf(extra, sizeof extra, "--rules %s --dry-run --type 'order.paid'", e.v2);
    expect_summary(&e, extra, "changed", 2, "skipped_type", 5);
    /* the rules of the config (v1): nothing new */
    expect_summary(&e, "", "unchanged", 5, "unmatched", 2);
    /* rows from before routes were recorded: left alone, counted */
    PGconn *c = PQconnectdb(e.t.conninfo);
    PQclear(PQexec(c, "UPDATE switchyard.inbox SET routes = NULL"));
    PQfinish(c);
    snprintf(extra, sizeof extra, "--rules %s --dry-run", e.v2);
    expect_summary(&e, extra, "unknown", 5, "changed", 2);
    replay_env_stop(&e);
}

/* Runs replay with argv text args; exit code and stderr in err. */
static int replay_usage(const char *args, char *err, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s replay %s --db 'dbname=none' --rules /dev/null 2>&1 >/dev/null",
             fixture_switchyard_bin(), args);
    return fixture_run(cmd, err, cap);
}

TEST(bad_windows_are_usage_errors_naming_the_option)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"--until 1h", "replay: --from TIME is required"},
        {"--from 1h", "replay: --until TIME is required"},
        {"--from yesterday --until 1h", "--from:"},
        {"--from 1h --until 2026-13-01T00:00:00Z", "--until:"},
        {"--from 1h --until 2h", "replay: --from "},
        {"--from 1h --until 2h", "is not before --until"},
        {"--from 1h --until 2999-01-01T00:00:00Z", "replay: --until 2999-01-01T00:00:00.000Z is "
                                                   "in the future"},
        {"--from 8d --until 1h", "more than 7 days ago, past the inbox retention"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[4096];
        CHECK_INT(replay_usage(cases[i].args, err, sizeof err), 64);
        CHECK_MSG(strstr(err, cases[i].want), "%s: %s", cases[i].args, err);
    }
}

/* v2 and a route for each of two bulk types that v1 left unmatched */
static const char rules_bulk[] = "version: 1\n"
                                 "routes:\n"
                                 "  - name: job\n"
                                 "    match: { type: order.created }\n"
                                 "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                                 "  - name: bulk_a\n"
                                 "    match: { type: bulk.a }\n"
                                 "    start: { workflow: job, id: \"ba-{{ payload.n }}\" }\n"
                                 "  - name: bulk_b\n"
                                 "    match: { type: bulk.b }\n"
                                 "    start: { workflow: job, id: \"bb-{{ payload.n }}\" }\n"
                                 "workflows:\n"
                                 "  job:\n"
                                 "    steps:\n"
                                 "      - wait: never\n"
                                 "        timeout: 1d\n";

#define BULK_N 1000

/* Replays --type type with extra options; its events/s over BULK_N. */
static double timed_replay(const replay_env *e, const char *rules, const char *type,
                           const char *extra)
{
    char opts[512], out[65536];
    snprintf(opts, sizeof opts, "--rules %s --type '%s' %s", rules, type, extra);
    int64_t t0 = sy_mono_ms();
    int rc = run_replay(e, opts, out, sizeof out);
    int64_t ms = sy_mono_ms() - t0;
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    cJSON *s = summary(out);
    CHECK_MSG(num(s, "routes_applied") == BULK_N && num(s, "changed") == BULK_N &&
                  num(s, "not_routed") == 0,
              "%s", out);
    cJSON_Delete(s);
    return BULK_N * 1000.0 / (double)(ms > 0 ? ms : 1);
}

/* A backfill applies its events in batches (one transaction per --batch
 * events, 256 by default), each route once: events of two types the
 * router left unmatched, replayed through rules that route both, one type
 * a transaction per event (--batch 1, as replay did), the other batched;
 * a copy of an event in the same batch finds the first applied (the batch
 * is applied before it reads the inbox): unchanged, as one transaction per
 * event counted it; a second replay changes nothing. Prints both rates. */
TEST(a_backfill_applies_its_events_in_batches_each_route_once)
{
    replay_env e;
    replay_env_start(&e, "rp_bulk");
    char subj[64], body[512], id[32];
    snprintf(subj, sizeof subj, "rt.rp_bulk.a");
    const char *const copy[] = {"Nats-Msg-Id", "copy-of-bulk-b-7", NULL};
    for (int k = 0; k < 2; k++)
        for (int i = 1; i <= BULK_N; i++) {
            snprintf(id, sizeof id, "bulk-%c-%d", "ab"[k], i);
            rh_event(body, sizeof body, id, k ? "bulk.b" : "bulk.a", i);
            rh_publish(&e.t.n, subj, body);
            if (k && i == 7) /* a copy (past the dedupe window) that lands in the same batch */
                rh_publish_headers(&e.t.n, subj, body, copy);
        }
    rh_sleep_ms(3000); /* unmatched: acked, the consumer's ack floor past them all */
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), e.until);
    char *rules = rh_write_file("rp_bulk-rules.yaml", rules_bulk);

    double one = timed_replay(&e, rules, "bulk.a", "--batch 1");
    char out[65536], opts[512];
    snprintf(opts, sizeof opts, "--rules %s --type bulk.b", rules);
    int64_t t0 = sy_mono_ms();
    CHECK_INT(run_replay(&e, opts, out, sizeof out), 0);
    double batched = BULK_N * 1000.0 / (double)(sy_mono_ms() - t0 + 1);
    cJSON *s = summary(out);
    CHECK_MSG(num(s, "routes_applied") == BULK_N && num(s, "changed") == BULK_N &&
                  num(s, "unchanged") == 1 && num(s, "duplicates") == 0 &&
                  num(s, "not_routed") == 0,
              "%s", out);
    cJSON_Delete(s);
    fprintf(stderr, "replay: --batch 1 %.0f events/s, batched (256) %.0f events/s: %.2fx\n", one,
            batched, batched / one);
    CHECK_INT(runs_like(&e, "ba-"), BULK_N);
    CHECK_INT(runs_like(&e, "bb-"), BULK_N);
    snprintf(opts, sizeof opts, "--rules %s --type 'bulk.*'", rules);
    expect_summary(&e, opts, "changed", 0, "unchanged", 2 * BULK_N + 1);
    unlink(rules);
    free(rules);
    replay_env_stop(&e);
}

/* v1 and a join route over two types v1 left unmatched */
static const char rules_join[] = "version: 1\n"
                                 "routes:\n"
                                 "  - name: job\n"
                                 "    match: { type: order.created }\n"
                                 "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                                 "  - name: hand-over\n"
                                 "    join:\n"
                                 "      key: \"{{ payload.n }}\"\n"
                                 "      events:\n"
                                 "        packed: { type: j.packed }\n"
                                 "        labelled: { type: j.labelled }\n"
                                 "      window: 1h\n"
                                 "    start: { workflow: job, id: \"ho-{{ key }}\" }\n"
                                 "workflows:\n"
                                 "  job:\n"
                                 "    steps:\n"
                                 "      - wait: never\n"
                                 "        timeout: 1d\n";

/* Replayed events register their correlations as the router would have
 * (cancel_on, wait_event, join: here a join route added after the events
 * came), each once: the join's parts arrive from the replay and its start
 * takes effect once per key; a second replay changes nothing. They were
 * left out: no part arrived, nothing started. */
TEST(replayed_events_register_their_correlations_once)
{
    replay_env e;
    replay_env_start(&e, "rp_corr");
    char body[512], id[32];
    for (int i = 1; i <= 5; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(id, sizeof id, "corr-%s-%d", k ? "l" : "p", i);
            rh_event(body, sizeof body, id, k ? "j.labelled" : "j.packed", i);
            rh_publish(&e.t.n, "rt.rp_corr.a", body);
        }
    rh_sleep_ms(1500); /* unmatched under v1: acked, no inbox row */
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), e.until);
    char *rules = rh_write_file("rp_corr-rules.yaml", rules_join);
    char out[65536], opts[512];

    snprintf(opts, sizeof opts, "--rules %s --type 'j.*' --dry-run", rules);
    CHECK_INT(run_replay(&e, opts, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"event_id\":\"corr-l-3\"") && strstr(out, "\"correlate\":true"), "%s",
              out);
    cJSON *s = summary(out);
    CHECK_MSG(num(s, "correlated") == 10 && num(s, "changed") == 10, "%s", out);
    cJSON_Delete(s);
    CHECK_INT(runs_like(&e, "ho-"), 0);

    snprintf(opts, sizeof opts, "--rules %s --type 'j.*'", rules);
    CHECK_INT(run_replay(&e, opts, out, sizeof out), 0);
    s = summary(out);
    CHECK_MSG(num(s, "correlated") == 10 && num(s, "changed") == 10 && num(s, "duplicates") == 0,
              "%s", out);
    cJSON_Delete(s);
    CHECK_INT(runs_like(&e, "ho-"), 5);
    CHECK_INT(rh_count(e.t.conninfo, "SELECT count(*) FROM switchyard.inbox WHERE event_id LIKE"
                                     " 'corr-%' AND routes = '~correlate'"),
              10);
    /* again: recorded, nothing doubles */
    expect_summary(&e, opts, "changed", 0, "unchanged", 10);
    CHECK_INT(runs_like(&e, "ho-"), 5);
    unlink(rules);
    free(rules);
    replay_env_stop(&e);
}

/* An event the router correlated (here the parts of a join) records it
 * on its inbox row: a replay through the same rules correlates nothing
 * again, and the join does not start twice. */
TEST(a_replay_never_correlates_again_what_the_router_correlated)
{
    replay_env e;
    replay_env_start_with(&e, "rp_live", rules_join);
    char body[512], id[32];
    for (int i = 1; i <= 5; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(id, sizeof id, "live-%s-%d", k ? "l" : "p", i);
            rh_event(body, sizeof body, id, k ? "j.labelled" : "j.packed", i);
            rh_publish(&e.t.n, "rt.rp_live.a", body);
        }
    CHECK_INT(rh_wait_count(e.t.conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id LIKE 'ho-%'", 5,
                            20000),
              5);
    rh_sleep_ms(1500); /* the consumer's ack floor past them all */
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), e.until);
    char opts[512];
    snprintf(opts, sizeof opts, "--rules %s --type 'j.*'", e.t.rules);
    expect_summary(&e, opts, "changed", 0, "correlated", 0);
    CHECK_INT(runs_like(&e, "ho-"), 5);
    replay_env_stop(&e);
}
