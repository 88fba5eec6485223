/* cli_bench.c: `switchyard bench <what>` dispatches to bench/bench_*.c. */
#include "bench.h"
#include "cli.h"
#include "cliopt.h"
#include "status.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one line per benchmark: X(name, function) */
#define BENCHES(X)                                                                                 \
    X(envelope, bench_envelope)                                                                    \
    X(rules, bench_rules)                                                                          \
    X(engine, bench_engine)                                                                        \
    X(schedules, bench_schedules)                                                                  \
    X(roundtrip, bench_roundtrip)                                                                  \
    X(ingest, bench_ingest)                                                                        \
    X(relay, bench_relay)                                                                          \
    X(ui, bench_ui)                                                                                \
    X(faults, bench_faults)                                                                        \
    X(flow, bench_flow)

static const char *const BENCH_NAMES[] = {
#define BENCH_NAME(name, fn) #name,
    BENCHES(BENCH_NAME)
#undef BENCH_NAME
        NULL,
};

static const cli_fn BENCH_FNS[] = {
#define BENCH_FN(name, fn) fn,
    BENCHES(BENCH_FN)
#undef BENCH_FN
};

typedef struct bench_args {
    int what;
    cliopt_rest sub; /* argv[0] is the benchmark's name */
} bench_args;

static const cliopt_opt BENCH_OPTS[] = {
    {.name = "WHAT",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(bench_args, what),
     .choices = BENCH_NAMES,
     .help = "the benchmark; switchyard bench WHAT --help lists its options"},
};

static const cliopt_cmd BENCH_CMD = {
    .name = "bench",
    .synopsis = "switchyard bench WHAT [options]",
    CLIOPT_TABLE(BENCH_OPTS),
    .required = 1,
    .rest = CLIOPT_REST_SUBCOMMAND,
    .rest_offset = offsetof(bench_args, sub),
};

sy_status cli_bench_parse(int argc, char **argv, bool *help, sy_error *err)
{
    bench_args a = {0};
    return cliopt_parse(&BENCH_CMD, argc, argv, &a, help, err);
}

int cli_bench(int argc, char **argv)
{
    bench_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&BENCH_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&BENCH_CMD, pst, &perr);
    return BENCH_FNS[a.what](a.sub.argc, a.sub.argv);
}
