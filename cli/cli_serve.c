/* cli_serve.c: `switchyard serve --config FILE [--check-config]`.
 *
 * Loads the configuration (file, then SWITCHYARD_* overrides), and either
 * checks it (and the rules, schemas and keyring it names) and exits, or runs
 * the router, the admin HTTP server and the engine's background loops until
 * SIGTERM/SIGINT. Signals are blocked in every thread and taken by sigwait
 * in the main thread, so no handler touches shared state. */
#include "admin.h"
#include "buf.h"
#include "cli.h"
#include "cliopt.h"
#include "loops.h"
#include "mem.h"
#include "router.h"
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef struct serve_args {
    const char *config;
    bool check;
} serve_args;

static const cliopt_opt SERVE_OPTS[] = {
    {.name = "--config", .kind = CLIOPT_STRING, CLIOPT_FIELD(serve_args, config), .arg = "FILE",
     .help = "the configuration (default $SWITCHYARD_CONFIG)"},
    {.name = "--check-config", .kind = CLIOPT_FLAG, CLIOPT_FIELD(serve_args, check),
     .help = "load the configuration and what it names, print it, exit"},
};

static const cliopt_cmd SERVE_CMD = {
    .name = "serve",
    .synopsis = "switchyard serve --config FILE [--check-config]",
    CLIOPT_TABLE(SERVE_OPTS),
};

sy_status cli_serve_parse(int argc, char **argv, bool *help, sy_error *err)
{
    serve_args a = {0};
    return cliopt_parse(&SERVE_CMD, argc, argv, &a, help, err);
}

/* Waits for signals: SIGHUP reloads, SIGTERM/SIGINT return. */
static void wait_signals(router *r, const sy_log *log, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            sy_error err = {0};
            (void)!router_reload(r, &err); /* router_reload logs either way */
            continue;
        }
        SY_LOG(log, SY_LOG_INFO, "signal received; draining", "signal",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
}

int serve_run(const router_config *cfg, const sy_log *log,
              void (*banner)(void *arg, int admin_port), void *banner_arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread exists */
    /* this too: RSS comes back after oversized input (common/mem.h) */
    sy_mem_fix_mmap_threshold();
    signal(SIGPIPE, SIG_IGN);
    router *r = NULL;
    admin_server *admin = NULL;
    router_loops *loops = NULL;
    sy_error err = {0};
    sy_status st = router_new(cfg, log, &r, &err);
    if (st == SY_OK)
        st = admin_start(cfg->admin_listen, cfg->admin_token_file, r, log, &admin, &err);
    if (st == SY_OK)
        st = router_start(r, &err);
    if (st == SY_OK)
        st = router_loops_start(cfg, r, log, &loops, &err);
    if (st == SY_OK) {
        if (banner)
            banner(banner_arg, admin_port(admin));
        wait_signals(r, log, &set);
    } else {
        SY_LOG(log, SY_LOG_ERROR, "could not start", "status", sy_status_text(st), "error",
               err.message);
        cliopt_fail("serve", err.status, &err);
    }
    router_stop(r); /* drain the pipelines first: they finish their batches */
    router_loops_stop(loops);
    admin_stop(admin);
    router_free(r);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}

/* --check-config: also loads the rules, schemas, keyring and secrets the
 * config names (router_new connects to nothing). */
static int check_config(const router_config *cfg)
{
    sy_buf d = SY_BUF_INIT;
    router_config_describe(cfg, &d);
    fputs(sy_buf_str(&d), stdout);
    sy_buf_cleanup(&d);
    sy_log quiet;
    sy_log_init(&quiet, SY_LOG_ERROR, 2); /* rules diagnostics, one per line */
    router *r = NULL;
    sy_error err = {0};
    sy_status st = router_new(cfg, &quiet, &r, &err);
    router_free(r);
    if (st != SY_OK) {
        cliopt_fail("serve", err.status, &err);
        return sy_status_exit_code(st);
    }
    printf("configuration ok\n");
    return SY_EXIT_OK;
}

int cli_serve(int argc, char **argv)
{
    serve_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&SERVE_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&SERVE_CMD, pst, &perr);
    const char *path = a.config ? a.config : getenv("SWITCHYARD_CONFIG");
    bool check = a.check;
    if (!path) {
        fprintf(stderr, "switchyard serve: give --config FILE or set SWITCHYARD_CONFIG\n");
        return SY_EXIT_USAGE;
    }
    router_config cfg;
    sy_error err = {0};
    if (router_config_load(&cfg, path, environ, &err) != SY_OK) {
        cliopt_fail("serve", err.status, &err);
        return SY_EXIT_CONFIG;
    }
    int rc;
    if (check) {
        rc = check_config(&cfg);
    } else {
        sy_log lg;
        sy_log_init(&lg, (sy_log_level)cfg.log_level, 2);
        rc = serve_run(&cfg, &lg, NULL, NULL);
    }
    router_config_cleanup(&cfg);
    return rc;
}
