/* devstack.h: throwaway servers for tests, benchmarks and `switchyard dev`.
 *
 * Starts a real `nats-server -js` and a real Postgres cluster (initdb +
 * postgres from Debian's packages) on free loopback ports, in a directory of
 * their own, and stops them. One piece of code serves the test harness
 * (`switchyard testenv`), `switchyard bench` and `switchyard dev`.
 *
 * Postgres refuses to run as root, so when we are root the cluster is
 * created and run as the `postgres` system user (or `nobody`). The children
 * get PR_SET_PDEATHSIG, so they die with us even if we are SIGKILLed. */
#ifndef SY_DEVSTACK_H
#define SY_DEVSTACK_H

#include "status.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct devstack devstack;

typedef struct devstack_opts {
    const char *dir; /* NULL: a fresh mkdtemp dir under $TMPDIR, removed at stop */
    bool durable;    /* fsync and synchronous_commit on (benchmarks); off for tests */
    bool quiet;      /* no progress lines on stderr */
} devstack_opts;

/* Starts both servers and waits until they accept connections (<= 60 s).
 * SY_OK: *out is owned by the caller (stop with devstack_stop). */
sy_status devstack_start(const devstack_opts *opts, devstack **out, sy_error *err) SY_MUST_USE;

/* Borrowed strings, valid until devstack_stop. */
const char *devstack_nats_url(const devstack *ds);     /* nats://127.0.0.1:PORT */
const char *devstack_nats_monitor(const devstack *ds); /* http://127.0.0.1:PORT */
const char *devstack_pg_conninfo(const devstack *ds);  /* libpq conninfo, db "postgres" */
const char *devstack_dir(const devstack *ds);

/* Fault tests: stop one server (fast shutdown, waits until it is gone) and
 * start it again on the same port and data, as devstack_start did. */
sy_status devstack_pg_stop(devstack *ds, sy_error *err) SY_MUST_USE;
sy_status devstack_pg_start(devstack *ds, sy_error *err) SY_MUST_USE;
/* A crash: immediate shutdown (SIGQUIT), so that what Postgres had not yet
 * written of its WAL is lost and the next start recovers. */
sy_status devstack_pg_crash(devstack *ds, sy_error *err) SY_MUST_USE;
sy_status devstack_nats_stop(devstack *ds, sy_error *err) SY_MUST_USE;
/* A crash: SIGKILL, no shutdown at all; the next start recovers its store. */
sy_status devstack_nats_kill(devstack *ds, sy_error *err) SY_MUST_USE;
sy_status devstack_nats_start(devstack *ds, sy_error *err) SY_MUST_USE;

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0), or
 * -1; for a process the caller starts next to the devstack. */
int devstack_free_port(void);

/* Prints the last 'lines' lines of each server's log to out. */
void devstack_print_logs(const devstack *ds, FILE *out, int lines);

/* Stops both servers (fast shutdown, then SIGKILL after 10 s), removes a
 * temporary directory, frees ds. NULL is a no-op. */
void devstack_stop(devstack *ds);

#endif
