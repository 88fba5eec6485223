/* cli_testenv.c: `switchyard testenv [--durable] -- CMD ARGS...`
 *
 * Runs CMD with a throwaway nats-server and Postgres (devstack.h), exported
 * as SY_TEST_NATS_URL and SY_TEST_PG_CONNINFO, and always stops them: when
 * CMD exits, fails, or we get SIGINT/SIGTERM (forwarded to CMD first). When
 * CMD fails, the servers' logs are printed. `make test` runs ctest this way. */
#include "cli.h"
#include "devstack.h"

#include <errno.h>
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

int cli_testenv(int argc, char **argv)
{
    devstack_opts opts = {0};
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--durable") == 0)
            opts.durable = true;
        else {
            fprintf(stderr, "usage: switchyard testenv [--durable] -- CMD [ARGS...]\n");
            return SY_EXIT_USAGE;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: switchyard testenv [--durable] -- CMD [ARGS...]\n");
        return SY_EXIT_USAGE;
    }
    devstack *ds = NULL;
    sy_error err;
    sy_error_clear(&err);
    if (devstack_start(&opts, &ds, &err) != SY_OK) {
        fprintf(stderr, "testenv: %s\n", err.message);
        return sy_status_exit_code(err.status);
    }
    setenv("SY_TEST_NATS_URL", devstack_nats_url(ds), 1);
    setenv("SY_TEST_PG_CONNINFO", devstack_pg_conninfo(ds), 1);
    setenv("SY_TEST_STACK_DIR", devstack_dir(ds), 1);
    int rc = run_child(argv + i + 1);
    if (rc != 0)
        devstack_print_logs(ds, stderr, 40);
    devstack_stop(ds);
    return rc;
}
