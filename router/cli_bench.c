/* cli_bench.c: `switchyard bench <what>` dispatches to router/bench_*.c. */
#include "bench.h"
#include "cli.h"
#include "cli_util.h"
#include "devstack.h"
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
    X(relay, bench_relay)

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
    {.name = "WHAT", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(bench_args, what), .choices = BENCH_NAMES,
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
    return router_cli_parse(&BENCH_CMD, argc, argv, &a, help, err);
}

int bench_with_db(const char *name, const char *db,
                  int (*measure)(const void *opts, const char *conninfo), const void *opts)
{
    if (db)
        return measure(opts, db);
    devstack *ds = NULL;
    devstack_opts dso = {.durable = true, .quiet = true};
    sy_error err = {0};
    if (devstack_start(&dso, &ds, &err) != SY_OK) {
        fprintf(stderr, "bench %s: %s\n", name, err.message);
        return SY_EXIT_UNAVAILABLE;
    }
    int rc = measure(opts, devstack_pg_conninfo(ds));
    devstack_stop(ds);
    return rc;
}

double bench_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            mib = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    return mib;
}

int cli_bench(int argc, char **argv)
{
    bench_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = router_cli_parse(&BENCH_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return router_cli_usage(&BENCH_CMD, pst, &perr);
    return BENCH_FNS[a.what](a.sub.argc, a.sub.argv);
}
