/* cli_bench.c: `switchyard bench <what>` dispatches to router/bench_*.c. */
#include "bench.h"
#include "cli.h"
#include "devstack.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    cli_fn fn;
} benches[] = {
    /* one line per benchmark: {"name", bench_name}, */
    {"envelope", bench_envelope},
    {"rules", bench_rules},
    {"engine", bench_engine},
    {"schedules", bench_schedules},
    {"roundtrip", bench_roundtrip},
    {"ingest", bench_ingest},
    {"relay", bench_relay},
    {NULL, NULL},
};


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
    if (argc >= 2) {
        for (size_t i = 0; benches[i].name; i++)
            if (strcmp(argv[1], benches[i].name) == 0)
                return benches[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "usage: switchyard bench <what> [options]\n  what:");
    for (size_t i = 0; benches[i].name; i++)
        fprintf(stderr, " %s", benches[i].name);
    fprintf(stderr, "\n");
    return SY_EXIT_USAGE;
}
