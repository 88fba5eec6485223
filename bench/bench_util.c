/* bench_util.c: what every benchmark shares (bench.h): throwaway servers
 * when no --db is given, and the process's resident memory. */
#include "bench.h"
#include "devstack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

double bench_rss_mib_of(int pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    double mib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            mib = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    return mib;
}

double bench_rss_mib(void)
{
    return bench_rss_mib_of(0);
}
