/* cli_worker.c: `switchyard worker --queue Q [options] -- CMD ARGS...`, the
 * reference worker (worker.h, docs/worker-protocol.md). Parses options,
 * turns SIGTERM/SIGINT into the worker's stop flag through a sigwait thread
 * (no signal handler, no global), and runs the worker until it stops. */
#include "cli.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                      \
    "usage: switchyard worker --queue Q [--concurrency N] [--timeout D] [--nats URL]\n"            \
    "         [--non-retryable-exit-codes 3,4] [--heartbeat D] [--ack-wait D] [--grace D]\n"       \
    "         [--prefix sy] [--stream NAME] [--durable NAME] [--log-level L] -- CMD [ARGS...]\n"   \
    "  D is a duration: 500ms, 30s, 5m, 1h (a bare number is seconds)\n"

typedef struct sigctx {
    sigset_t set;
    atomic_bool stop;
} sigctx;

/* Parses "500ms", "30s", "5m", "1h", "2" (seconds); -1 on error. */
static int64_t parse_duration(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = strcmp(end, "ms") == 0           ? 1
                 : strcmp(end, "s") == 0 || !*end ? 1000
                 : strcmp(end, "m") == 0          ? 60000
                 : strcmp(end, "h") == 0          ? 3600000
                                                  : -1;
    return mul < 0 ? -1 : (int64_t)(v * mul);
}

static void *sig_main(void *arg)
{
    sigctx *c = arg;
    int sig = 0;
    sigwait(&c->set, &sig);
    atomic_store(&c->stop, true);
    return NULL;
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "switchyard worker: %s%s%s\n%s", msg, arg ? ": " : "", arg ? arg : "", USAGE);
    return SY_EXIT_USAGE;
}

static int parse_opt(worker_opts *o, const char *k, const char *v, sy_log_level *lvl)
{
    int64_t d = 0;
    if (strcmp(k, "--queue") == 0)
        o->queue = v;
    else if (strcmp(k, "--nats") == 0)
        o->nats_url = v;
    else if (strcmp(k, "--prefix") == 0)
        o->prefix = v;
    else if (strcmp(k, "--stream") == 0)
        o->stream = v;
    else if (strcmp(k, "--durable") == 0)
        o->durable = v;
    else if (strcmp(k, "--concurrency") == 0)
        o->concurrency = atoi(v);
    else if (strcmp(k, "--log-level") == 0) {
        int l = sy_log_level_parse(v);
        if (l < 0)
            return bad("unknown log level", v);
        *lvl = (sy_log_level)l;
    } else if (strcmp(k, "--non-retryable-exit-codes") == 0) {
        sy_error err;
        if (worker_parse_exit_codes(v, o->non_retryable, &o->n_non_retryable, &err) != SY_OK)
            return bad(err.message, NULL);
    } else if ((d = parse_duration(v)) < 0 &&
               (strcmp(k, "--timeout") == 0 || strcmp(k, "--heartbeat") == 0 ||
                strcmp(k, "--ack-wait") == 0 || strcmp(k, "--grace") == 0))
        return bad("bad duration", v);
    else if (strcmp(k, "--timeout") == 0)
        o->timeout_ms = d;
    else if (strcmp(k, "--heartbeat") == 0)
        o->heartbeat_ms = d;
    else if (strcmp(k, "--ack-wait") == 0)
        o->ack_wait_ms = d;
    else if (strcmp(k, "--grace") == 0)
        o->grace_ms = d;
    else
        return bad("unknown option", k);
    return 0;
}

static int parse_args(int argc, char **argv, worker_opts *o, sy_log_level *lvl)
{
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return -1;
        }
        if (i + 1 >= argc)
            return bad("missing value for", argv[i]);
        int rc = parse_opt(o, argv[i], argv[i + 1], lvl);
        if (rc != 0)
            return rc;
    }
    if (i + 1 >= argc)
        return bad("no command given after --", NULL);
    if (!o->queue)
        return bad("--queue is required", NULL);
    if (!worker_queue_name_ok(o->queue))
        return bad("queue name must be 1-64 characters of [A-Za-z0-9_-]", o->queue);
    o->argv = argv + i + 1;
    return 0;
}

int cli_worker(int argc, char **argv)
{
    worker_opts o = {0};
    sy_log_level lvl = SY_LOG_INFO;
    int rc = parse_args(argc, argv, &o, &lvl);
    if (rc != 0)
        return rc < 0 ? SY_EXIT_OK : rc;
    if (!o.nats_url)
        o.nats_url = getenv("SWITCHYARD_NATS_URL");
    sy_log lg;
    sy_log_init(&lg, lvl, 2);
    o.log = &lg;
    /* block before any thread exists, so that only sig_main sees them */
    sigctx sc;
    atomic_init(&sc.stop, false);
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t th;
    if (pthread_create(&th, NULL, sig_main, &sc) != 0)
        return SY_EXIT_FAILURE;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = worker_run(&o, &sc.stop, &err);
    if (st != SY_OK)
        fprintf(stderr, "switchyard worker: %s\n", err.message);
    pthread_kill(th, SIGTERM); /* wakes sigwait if no signal came */
    pthread_join(th, NULL);
    return sy_status_exit_code(st);
}
