/* bench_faults.c: `switchyard bench faults [--scenario NAME]... [--short]
 * [--events N] [--bad N] [--keep]` (bench/README.md).
 *
 * A Jepsen-style harness: for each scenario, throwaway durable servers,
 * two `switchyard serve` processes and a `switchyard worker` as children,
 * a known stream of events (each starts a workflow whose one task the
 * worker completes, then signals it), faults injected while it flows, and
 * then a check of every event's effect in Postgres and every outcome event
 * on NATS. It prints per scenario the events offered, L (valid acknowledged
 * events with no effect), D (effects doubled), the dead letters (each bad
 * input exactly one, with its code), outcome events missing, the reconnect
 * time and the RSS before and after; the last line is one JSON object. Exit
 * 0 when every scenario held (L = D = 0, dead letters right, nothing
 * missing), 1 when one did not. Timing is measured, never asserted. */
#include "bench.h"
#include "bench_faults.h"
#include "cliopt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct faults_args {
    uint32_t scenarios; /* bit per fx_scenario; 0: all */
    bool short_run, keep;
    long events, bad;
} faults_args;

static const cliopt_opt FAULTS_OPTS[] = {
    {.name = "--scenario",
     .kind = CLIOPT_CHOICES,
     CLIOPT_FIELD(faults_args, scenarios),
     .choices = fx_scenario_names,
     .help = "run this scenario (default: all of them)"},
    {.name = "--short",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(faults_args, short_run),
     .help = "1000 workflows per scenario, each fault once (make test)"},
    {.name = "--events",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(faults_args, events),
     .min = 10,
     .max = 10000000,
     .arg = "N",
     .help = "workflows per scenario (default 100000 for serve-kill, "
             "20000 for the others; --short 1000)"},
    {.name = "--bad",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(faults_args, bad),
     .min = 0,
     .max = 10000000,
     .arg = "N",
     .help = "bad inputs of bad-input (default 10000; --short 500)"},
    {.name = "--keep",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(faults_args, keep),
     .help = "keep each scenario's configs and logs (kept anyway when it fails)"},
};

static const cliopt_cmd FAULTS_CMD = {
    .name = "bench faults",
    .synopsis = "switchyard bench faults [--scenario NAME]... [--short] [--events N] [--bad N] "
                "[--keep]",
    CLIOPT_TABLE(FAULTS_OPTS),
};

sy_status bench_faults_parse(int argc, char **argv, bool *help, sy_error *err)
{
    faults_args a = {0};
    return cliopt_parse(&FAULTS_CMD, argc, argv, &a, help, err);
}

/* The scenario's sizes: the full run, or the short one. */
static fx_params params_for(fx_scenario s, const faults_args *a)
{
    fx_params p = {.scen = s, .keep = a->keep, .settle_s = a->short_run ? 45 : 90};
    p.events = a->events ? a->events : a->short_run ? 1000 : s == FX_SERVE_KILL ? 100000 : 20000;
    p.bad = s != FX_BAD_INPUT ? 0 : a->bad ? a->bad : a->short_run ? 500 : 10000;
    bool server_fault = s == FX_SERVE_KILL || s == FX_POSTGRES || s == FX_NATS;
    p.faults = !server_fault ? 0 : a->short_run || s == FX_SERVE_KILL ? 1 : 5;
    p.gap_min_ms = a->short_run ? 1000 : s == FX_SERVE_KILL ? 5000 : 3000;
    p.gap_max_ms = a->short_run ? 1500 : s == FX_SERVE_KILL ? 15000 : 6000;
    return p;
}

static long doubled(const fx_result *r)
{
    return r->doubled_starts + r->doubled_signals + r->doubled_outcomes;
}

static void print_text(fx_scenario s, const fx_result *r)
{
    printf("%-11s %ld events offered (%ld duplicates, %ld of them dropped by JetStream's window; "
           "%ld bad; %ld without PubAck), %d faults\n"
           "            L %ld, D %ld (starts %ld, signals %ld, outcomes %ld; %ld identical "
           "copies)\n"
           "            dead letters %ld of %ld right (%ld missing, %ld doubled, %ld wrong code, "
           "%ld of valid events)\n"
           "            outcome events missing %ld (%ld messages read back), workflows "
           "incomplete %ld, unclean exits %d\n"
           "            reconnect max %.0f ms, mean %.0f ms; RSS %.1f -> %.1f MiB; %.1f s: %s\n",
           fx_scenario_names[s], r->offered, r->duplicates, r->stream_dropped, r->bad_offered,
           r->not_acked, r->faults, r->lost, doubled(r), r->doubled_starts, r->doubled_signals,
           r->doubled_outcomes, r->outcome_copies, r->dl_right, r->bad_offered, r->dl_missing,
           r->dl_doubled, r->dl_wrong_code, r->dl_unexpected, r->outcomes_missing, r->outcomes_read,
           r->incomplete, r->bad_exits, r->reconnect_max_ms, r->reconnect_mean_ms,
           r->rss_before_mib, r->rss_after_mib, r->seconds, fx_result_ok(r) ? "ok" : "FAILED");
    if (r->example[0])
        printf("            first problem: %s\n", r->example);
    fflush(stdout);
}

static void json_scenario(sy_buf *b, fx_scenario s, const fx_result *r, bool first)
{
    sy_buf_printf(b,
                  "%s{\"scenario\":\"%s\",\"ok\":%s,\"events_offered\":%ld,\"duplicates\":%ld,"
                  "\"stream_dropped\":%ld,\"outcomes_read\":%ld,"
                  "\"not_acked\":%ld,\"faults\":%d,\"L\":%ld,\"D\":%ld,\"doubled_starts\":%ld,"
                  "\"doubled_signals\":%ld,\"doubled_outcomes\":%ld,\"outcome_copies\":%ld,"
                  "\"bad_inputs\":%ld,\"dead_letters_right\":%ld,\"dead_letters_missing\":%ld,"
                  "\"dead_letters_doubled\":%ld,\"dead_letters_wrong_code\":%ld,"
                  "\"dead_letters_unexpected\":%ld,\"outcomes_missing\":%ld,\"incomplete\":%ld,"
                  "\"unclean_exits\":%d,\"reconnect_max_ms\":%.0f,\"reconnect_mean_ms\":%.0f,"
                  "\"rss_before_mib\":%.1f,\"rss_after_mib\":%.1f,\"seconds\":%.1f}",
                  first ? "" : ",", fx_scenario_names[s], fx_result_ok(r) ? "true" : "false",
                  r->offered, r->duplicates, r->stream_dropped, r->outcomes_read, r->not_acked,
                  r->faults, r->lost, doubled(r), r->doubled_starts, r->doubled_signals,
                  r->doubled_outcomes, r->outcome_copies, r->bad_offered, r->dl_right,
                  r->dl_missing, r->dl_doubled, r->dl_wrong_code, r->dl_unexpected,
                  r->outcomes_missing, r->incomplete, r->bad_exits, r->reconnect_max_ms,
                  r->reconnect_mean_ms, r->rss_before_mib, r->rss_after_mib, r->seconds);
}

int bench_faults(int argc, char **argv)
{
    faults_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&FAULTS_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&FAULTS_CMD, pst, &perr);
    signal(SIGPIPE, SIG_IGN);
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return cliopt_fail("bench faults", SY_IO,
                           &(sy_error){.status = SY_IO, .message = "cannot find this binary"});
    exe[n] = '\0';
    sy_buf json = SY_BUF_INIT;
    bool all_ok = true, first = true;
    double total = 0;
    for (int s = 0; s < FX_SCENARIOS; s++) {
        if (a.scenarios && !(a.scenarios & (1u << s)))
            continue;
        fx_params p = params_for((fx_scenario)s, &a);
        fx_result r;
        sy_error err = {0};
        fprintf(stderr, "bench faults: %s: %ld workflows%s...\n", fx_scenario_names[s], p.events,
                p.bad ? " and bad inputs" : "");
        if (fx_run(&p, exe, &r, &err) != SY_OK) {
            fprintf(stderr, "bench faults: %s: %s\n", fx_scenario_names[s], err.message);
            sy_buf_cleanup(&json);
            return sy_status_exit_code(err.status);
        }
        print_text((fx_scenario)s, &r);
        json_scenario(&json, (fx_scenario)s, &r, first);
        first = false;
        all_ok &= fx_result_ok(&r);
        total += r.seconds;
    }
    printf("{\"bench\":\"faults\",\"short\":%s,\"ok\":%s,\"seconds\":%.1f,\"scenarios\":[%s]}\n",
           a.short_run ? "true" : "false", all_ok ? "true" : "false", total, sy_buf_str(&json));
    sy_buf_cleanup(&json);
    return all_ok ? SY_EXIT_OK : SY_EXIT_FAILURE;
}
