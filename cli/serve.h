/* serve.h: running the service in this process, for `switchyard serve`
 * (cli_serve.c) and `switchyard dev` (cli_dev.c). */
#ifndef SY_ROUTER_SERVE_H
#define SY_ROUTER_SERVE_H

#include "config.h"
#include "log.h"

#include <stdio.h>

/* Runs the router, the admin server and the engine's loops until SIGTERM or
 * SIGINT (drain, exit 0); SIGHUP reloads the rules. Blocks those signals in
 * every thread it starts and waits for them with sigwait. cfg and log are
 * borrowed. 'banner' (may be NULL) is called once everything listens, with
 * the admin port, to print URLs. Returns a process exit code. Main thread. */
int serve_run(const router_config *cfg, const sy_log *log,
              void (*banner)(void *arg, int admin_port), void *banner_arg);

#endif
