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
#include "loops.h"
#include "router.h"
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int usage(void)
{
    fprintf(stderr, "usage: switchyard serve --config FILE [--check-config]\n");
    return SY_EXIT_USAGE;
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
        fprintf(stderr, "switchyard serve: %s\n", err.message);
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
        fprintf(stderr, "switchyard serve: %s\n", err.message);
        return sy_status_exit_code(st);
    }
    printf("configuration ok\n");
    return SY_EXIT_OK;
}

int cli_serve(int argc, char **argv)
{
    const char *path = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--check-config") == 0)
            check = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(), SY_EXIT_OK;
        else
            return usage();
    }
    if (!path)
        path = getenv("SWITCHYARD_CONFIG");
    if (!path)
        return usage();
    router_config cfg;
    sy_error err = {0};
    if (router_config_load(&cfg, path, environ, &err) != SY_OK) {
        fprintf(stderr, "switchyard serve: %s\n", err.message);
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
