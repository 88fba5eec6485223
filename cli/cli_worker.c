/* cli_worker.c: `switchyard worker --queue Q [options] -- CMD ARGS...`, the
 * reference worker (worker.h, docs/worker-protocol.md). Parses options,
 * turns SIGTERM/SIGINT into the worker's stop flag through a sigwait thread
 * (no signal handler, no global), and runs the worker until it stops. */
#include "cli.h"
#include "cliopt.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sigctx {
    sigset_t set;
    atomic_bool stop;
} sigctx;

/* What argv says; worker_opts is filled from it after the checks. */
typedef struct worker_args {
    worker_opts o;
    const char *exit_codes;
    int log_level;
    cliopt_rest cmd;
} worker_args;

/* in the order of sy_log_level */
static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", "off", NULL};

#define W_STR(opt, member, placeholder, text)                                                      \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(worker_args, member),                     \
        .arg = placeholder, .help = text                                                           \
    }
#define W_DUR(opt, member, text)                                                                   \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_DURATION, CLIOPT_FIELD(worker_args, member), .arg = "D",       \
        .help = text                                                                               \
    }

static const cliopt_opt WORKER_OPTS[] = {
    W_STR("--queue", o.queue, "Q", "the task queue (required; [A-Za-z0-9_-], 1-64)"),
    {.name = "--concurrency",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(worker_args, o.concurrency),
     .min = 0,
     .max = 65536,
     .arg = "N",
     .help = "tasks run at once (default 1)"},
    W_DUR("--timeout", o.timeout_ms, "per attempt (default: the task's start_to_close)"),
    W_STR("--nats", o.nats_url, "URL", "NATS (default $SWITCHYARD_NATS_URL)"),
    W_STR("--non-retryable-exit-codes", exit_codes, "3,4",
          "these exit codes fail the task for good"),
    W_DUR("--heartbeat", o.heartbeat_ms, "heartbeat period (default 10s)"),
    W_DUR("--ack-wait", o.ack_wait_ms, "AckWait of a consumer we create (default 60s)"),
    W_DUR("--grace", o.grace_ms, "after SIGTERM: time to finish (default 30s)"),
    W_DUR("--claim-wait", o.claim_wait_ms,
          "wait for the engine's answer to task.started (default 10s)"),
    {.name = "--no-claim",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(worker_args, o.no_claim),
     .help = "start tasks without the engine's answer (no switchyard engine)"},
    W_STR("--prefix", o.prefix, "sy", "the subject prefix"),
    W_STR("--stream", o.stream, "NAME", "the stream (default: the one holding the subject)"),
    W_STR("--durable", o.durable, "NAME", "the consumer (default sy-worker-<queue>)"),
    {.name = "--log-level",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(worker_args, log_level),
     .choices = LOG_LEVELS,
     .help = "default info"},
};

static const cliopt_cmd WORKER_CMD = {
    .name = "worker",
    .synopsis =
        "switchyard worker --queue Q [--concurrency N] [--timeout D] [--nats URL]\n"
        "         [--non-retryable-exit-codes 3,4] [--heartbeat D] [--ack-wait D] [--grace D]\n"
        "         [--claim-wait D] [--no-claim]\n"
        "         [--prefix sy] [--stream NAME] [--durable NAME] [--log-level L] -- CMD [ARGS...]\n"
        "  D is a duration: 500ms, 30s, 5m, 1h (a bare number is seconds)",
    CLIOPT_TABLE(WORKER_OPTS),
    .rest = CLIOPT_REST_COMMAND,
    .rest_offset = offsetof(worker_args, cmd),
    .rest_arg = "CMD",
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, worker_args *out, bool *help, sy_error *err)
{
    worker_args a = *out;
    sy_status st = cliopt_parse(&WORKER_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if (!a.o.queue)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "--queue Q is required");
    if (!worker_queue_name_ok(a.o.queue))
        return sy_error_set(err, SY_USAGE, "bad_queue", "--queue",
                            "\"%s\": a queue name is 1-64 characters of [A-Za-z0-9_-]",
                            a.o.queue);
    if (a.exit_codes)
        st = worker_parse_exit_codes(a.exit_codes, a.o.non_retryable, &a.o.n_non_retryable, err);
    if (st != SY_OK)
        return st;
    a.o.argv = a.cmd.argv;
    *out = a;
    return SY_OK;
}

#define WORKER_DEFAULTS                                                                            \
    {                                                                                              \
        .log_level = SY_LOG_INFO                                                                   \
    }

sy_status cli_worker_parse(int argc, char **argv, bool *help, sy_error *err)
{
    worker_args a = WORKER_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

static void *sig_main(void *arg)
{
    sigctx *c = arg;
    int sig = 0;
    sigwait(&c->set, &sig);
    atomic_store(&c->stop, true);
    return NULL;
}

int cli_worker(int argc, char **argv)
{
    worker_args a = WORKER_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&WORKER_CMD, pst, &perr);
    worker_opts o = a.o;
    sy_log_level lvl = (sy_log_level)a.log_level;
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
        cliopt_fail("worker", err.status, &err);
    pthread_kill(th, SIGTERM); /* wakes sigwait if no signal came */
    pthread_join(th, NULL);
    return sy_status_exit_code(st);
}
