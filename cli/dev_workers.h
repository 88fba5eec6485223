/* dev_workers.h: the example workers `switchyard dev` runs next to the
 * service, one per task queue of the rules file: examples/worker.py when
 * python3 and the script are there, else `switchyard worker --queue Q --
 * cat` (echoes the task input as its result). */
#ifndef SY_ROUTER_DEV_WORKERS_H
#define SY_ROUTER_DEV_WORKERS_H

#include "status.h"

#include <stdio.h>

typedef struct dev_workers dev_workers;

/* Spawns one worker per queue found in rules_path (borrowed), connected to
 * nats_url, logging to <logdir>/worker-<queue>.log. Each child runs in its
 * own process group (a Ctrl-C reaches only `dev`, which then stops them in
 * order) and dies with its parent. SY_OK: *out owned (dev_workers_stop). */
sy_status dev_workers_start(const char *rules_path, const char *nats_url, const char *logdir,
                            dev_workers **out, sy_error *err) SY_MUST_USE;

/* The queues dev_workers_start would run a worker for, in that order:
 * each workflow's task_queue (default: its name), each step's queue, each
 * route's task_queue override. SY_OK: *out is a NULL-terminated array of
 * *n owned strings (free each, then the array). */
sy_status dev_workers_queues(const char *rules_path, char ***out, size_t *n,
                             sy_error *err) SY_MUST_USE;

/* One line per worker: queue, command, log file. */
void dev_workers_print(const dev_workers *w, FILE *f);

/* SIGTERM to each worker, waits (SIGKILL after 5 s), frees. NULL: no-op. */
void dev_workers_stop(dev_workers *w);

#endif
