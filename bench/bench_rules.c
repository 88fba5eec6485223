/* bench_rules.c: `switchyard bench rules [--seconds S]`: routing throughput
 * on one core for 1,000 routes over 50 event types, each route with a
 * `where` clause, on already-parsed events (bench/README.md).
 * The rule set is generated into a temporary file and loaded through
 * rules_load, like a real one. Per type: 19 exact-type routes; plus 50 glob
 * routes that every event must also test. A route evaluation is one route
 * tested against one event (type/source/subject checks and its `where`);
 * the ~1-2 routes per event that match also render their templates. Target:
 * >= 1M route evaluations/s/core. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "envelope.h"
#include "rules.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTYPES 50
#define EXACT_PER_TYPE 19
#define NGLOBS (1000 - NTYPES * EXACT_PER_TYPE)
#define NEVENTS 500

static void write_rules(FILE *f)
{
    fprintf(f, "version: 1\nworkflows:\n  w:\n    steps:\n      - task: t\nroutes:\n");
    for (int t = 0; t < NTYPES; t++)
        for (int j = 0; j < EXACT_PER_TYPE; j++)
            fprintf(f,
                    "  - name: r-%d-%d\n    match:\n      type: bench.type%d.happened\n"
                    "      where: payload.priority == %d && payload.kind in [\"a\", \"b\"] && "
                    "startsWith(source, \"svc\")\n"
                    "    start: { workflow: w, id: \"w-{{ payload.id }}-%d\" }\n",
                    t, j, t, j % 10, j);
    for (int g = 0; g < NGLOBS; g++)
        fprintf(f,
                "  - name: g-%d\n    match:\n      type: \"bench.*.other%d\"\n"
                "      where: payload.priority > 100\n    drop: true\n",
                g, g);
}

static rules_set *load_generated(void)
{
    char path[] = "/tmp/sy-bench-rules-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("bench rules: temp file");
        return NULL;
    }
    write_rules(f);
    fclose(f);
    rules_set *set = NULL;
    rules_diags d = {0};
    sy_error err;
    if (rules_load(path, NULL, &set, &d, &err) != SY_OK)
        fprintf(stderr, "bench rules: generated rules do not load: %s\n", err.message);
    rules_diags_cleanup(&d);
    unlink(path);
    return set;
}

static envelope **make_events(void)
{
    envelope **evs = calloc(NEVENTS, sizeof *evs);
    for (int i = 0; evs && i < NEVENTS; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"event_id\":\"e-%d\",\"type\":\"bench.type%d.happened\",\"source\":\"svc-%d\","
                 "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"trace_id\":"
                 "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,\"payload\":"
                 "{\"id\":%d,\"priority\":%d,\"kind\":\"%c\",\"title\":\"an event\"}}",
                 i, i % NTYPES, i % 7, i, (i / NTYPES) % 10, "abc"[i % 3]);
        sy_error err;
        if (envelope_parse(body, strlen(body), NULL, NULL, &evs[i], &err) != SY_OK) {
            fprintf(stderr, "bench rules: event rejected: %s\n", err.message);
            return NULL; /* leaks on a broken build only */
        }
    }
    return evs;
}

typedef struct rules_args {
    int64_t ms;
} rules_args;

static const cliopt_opt RULES_OPTS[] = {
    {.name = "--seconds", .kind = CLIOPT_DURATION, CLIOPT_FIELD(rules_args, ms), .min = 1,
     .max = INT64_MAX, .arg = "S",
     .help = "how long to measure each case (default 2 s)"},
};

static const cliopt_cmd RULES_CMD = {
    .name = "bench rules",
    .synopsis = "switchyard bench rules [--seconds S]",
    CLIOPT_TABLE(RULES_OPTS),
};

sy_status bench_rules_parse(int argc, char **argv, bool *help, sy_error *err)
{
    rules_args a = {.ms = 2000};
    return cliopt_parse(&RULES_CMD, argc, argv, &a, help, err);
}

int bench_rules(int argc, char **argv)
{
    rules_args a = {.ms = 2000};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&RULES_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&RULES_CMD, pst, &perr);
    double seconds = (double)a.ms / 1000.0;
    rules_set *set = load_generated();
    envelope **evs = set ? make_events() : NULL;
    if (!evs) {
        rules_set_free(set);
        return SY_EXIT_FAILURE;
    }
    long events = 0, matches = 0;
    rules_actions acts = {0};
    int64_t start = sy_mono_ns(), deadline = start + (int64_t)(seconds * 1e9), now = start;
    while (now < deadline) {
        for (int i = 0; i < NEVENTS; i++) {
            if (rules_route(set, evs[i], &acts) != SY_OK)
                return SY_EXIT_FAILURE;
            matches += (long)acts.len;
            rules_actions_cleanup(&acts);
        }
        events += NEVENTS;
        now = sy_mono_ns();
    }
    double secs = (double)(now - start) / 1e9;
    double evals = (double)events * (EXACT_PER_TYPE + NGLOBS);
    printf("bench rules: %d routes (%d types x %d exact + %d globs), %ld events in %.2fs\n",
           NTYPES * EXACT_PER_TYPE + NGLOBS, NTYPES, EXACT_PER_TYPE, NGLOBS, events, secs);
    printf("  %.0f events/s, %.0f route evaluations/s, %.2f matches/event\n", events / secs,
           evals / secs, (double)matches / (double)events);
    printf("{\"bench\":\"rules\",\"routes\":%d,\"event_types\":%d,\"events\":%ld,"
           "\"route_evaluations\":%.0f,\"matches\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f,"
           "\"route_evaluations_per_s\":%.0f,\"rss_mib\":%.1f}\n",
           NTYPES * EXACT_PER_TYPE + NGLOBS, NTYPES, events, evals, matches, secs, events / secs,
           evals / secs, bench_rss_mib());
    for (int i = 0; i < NEVENTS; i++)
        envelope_free(evs[i]);
    free(evs);
    rules_set_free(set);
    return SY_EXIT_OK;
}
