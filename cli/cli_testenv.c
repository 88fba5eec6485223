/* cli_testenv.c: `switchyard testenv [--durable] -- CMD ARGS...`
 *
 * Runs CMD with a throwaway nats-server and Postgres (devstack.h), exported
 * as SY_TEST_NATS_URL and SY_TEST_PG_CONNINFO, and always stops them: when
 * CMD exits, fails, or we get SIGINT/SIGTERM (forwarded to CMD first). When
 * CMD fails, the servers' logs are printed. `make test` runs ctest this way. */
#include "cli.h"
#include "cliopt.h"
#include "devstack.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_child(char **argv)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[0], argv);
        fprintf(stderr, "testenv: could not run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return 1;
    /* Wait for the child, forwarding the signals we blocked. */
    int status = 0;
    for (;;) {
        struct timespec ts = {0, 100 * 1000000L};
        int sig = sigtimedwait(&block, NULL, &ts);
        if (sig > 0)
            kill(pid, sig);
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

typedef struct testenv_args {
    bool durable;
    cliopt_rest cmd;
} testenv_args;

static const cliopt_opt TESTENV_OPTS[] = {
    {.name = "--durable", .kind = CLIOPT_FLAG, CLIOPT_FIELD(testenv_args, durable),
     .help = "fsync and synchronous_commit on (as in production)"},
};

static const cliopt_cmd TESTENV_CMD = {
    .name = "testenv",
    .synopsis =
        "switchyard testenv [--durable] -- CMD [ARGS...]\n"
        "  starts a throwaway nats-server -js and Postgres on free loopback ports,\n"
        "  runs CMD with them and stops them when CMD ends (SIGINT/SIGTERM are\n"
        "  passed to CMD first); prints the servers' logs when CMD fails and exits\n"
        "  with CMD's code. CMD's environment gets:\n"
        "    SY_TEST_NATS_URL     nats://127.0.0.1:PORT (JetStream on)\n"
        "    SY_TEST_PG_CONNINFO  host=127.0.0.1 port=PORT user=switchyard\n"
        "                         dbname=postgres (a superuser, no password)\n"
        "    SY_TEST_STACK_DIR    the servers' data and logs (removed at the end)\n"
        "  e.g. switchyard testenv -- sh -c 'switchyard migrate --db \"$SY_TEST_PG_CONNINFO\"'",
    CLIOPT_TABLE(TESTENV_OPTS),
    .rest = CLIOPT_REST_COMMAND,
    .rest_offset = offsetof(testenv_args, cmd),
    .rest_arg = "CMD",
};

sy_status cli_testenv_parse(int argc, char **argv, bool *help, sy_error *err)
{
    testenv_args a = {0};
    return cliopt_parse(&TESTENV_CMD, argc, argv, &a, help, err);
}

int cli_testenv(int argc, char **argv)
{
    testenv_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&TESTENV_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&TESTENV_CMD, pst, &perr);
    devstack_opts opts = {.durable = a.durable};
    devstack *ds = NULL;
    sy_error err;
    sy_error_clear(&err);
    if (devstack_start(&opts, &ds, &err) != SY_OK) {
        char text[SY_ERROR_TEXT_MAX];
        fprintf(stderr, "testenv: %s\n", sy_error_text(&err, text, sizeof text));
        return sy_status_exit_code(err.status);
    }
    setenv("SY_TEST_NATS_URL", devstack_nats_url(ds), 1);
    setenv("SY_TEST_PG_CONNINFO", devstack_pg_conninfo(ds), 1);
    setenv("SY_TEST_STACK_DIR", devstack_dir(ds), 1);
    int rc = run_child(a.cmd.argv);
    if (rc != 0)
        devstack_print_logs(ds, stderr, 40);
    devstack_stop(ds);
    return rc;
}
