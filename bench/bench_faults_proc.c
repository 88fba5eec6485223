/* bench_faults_proc.c: the child processes of `bench faults` (bench_faults.h):
 * `switchyard serve` and `switchyard worker`, this very binary re-executed,
 * each dying with the harness (PR_SET_PDEATHSIG), and the two things the
 * harness reads of them from outside: /readyz and the resident set. */
#include "bench_faults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The environment without SWITCHYARD_* (they would override the config). */
static void clean_environment(void)
{
    for (size_t i = 0; environ[i];) {
        if (strncmp(environ[i], "SWITCHYARD_", 11) == 0) {
            char name[256];
            size_t n = strcspn(environ[i], "=");
            snprintf(name, sizeof name, "%.*s", (int)n, environ[i]);
            unsetenv(name); /* shifts the rest down: look at i again */
        } else {
            i++;
        }
    }
}

static sy_status spawn(fx_proc *p, char *const argv[], const char *log, sy_error *err)
{
    snprintf(p->log, sizeof p->log, "%s", log);
    p->exit_status = -1;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return sy_error_set(err, SY_IO, NULL, NULL, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed harness leaves nothing running */
        if (getppid() != parent)
            _exit(1);
        setpgid(0, 0); /* a terminal's Ctrl-C reaches the harness only */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        clean_environment();
        execv(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    return SY_OK;
}

sy_status fx_proc_serve(fx_proc *p, const char *exe, const char *config, int admin_port,
                        const char *log, sy_error *err)
{
    p->admin_port = admin_port;
    char *argv[] = {(char *)exe, "serve", "--config", (char *)config, NULL};
    return spawn(p, argv, log, err);
}

sy_status fx_proc_worker(fx_proc *p, const char *exe, const char *nats_url, const char *queue,
                         int concurrency, const char *log, sy_error *err)
{
    char conc[16];
    snprintf(conc, sizeof conc, "%d", concurrency);
    p->admin_port = 0;
    char *argv[] = {(char *)exe,
                    "worker",
                    "--queue",
                    (char *)queue,
                    "--nats",
                    (char *)nats_url,
                    "--concurrency",
                    conc,
                    "--log-level",
                    "warn",
                    "--",
                    "cat",
                    NULL};
    return spawn(p, argv, log, err);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool fx_proc_end(fx_proc *p, int sig, int wait_ms)
{
    if (p->pid <= 0)
        return p->exit_status == 0;
    kill(p->pid, sig);
    int st = 0;
    pid_t r = 0;
    for (int waited = 0; (r = waitpid(p->pid, &st, WNOHANG)) == 0 && waited < wait_ms; waited += 10)
        sleep_ms(10);
    if (r == 0) {
        kill(p->pid, SIGKILL);
        r = waitpid(p->pid, &st, 0);
    }
    p->pid = 0;
    p->exit_status = r > 0 ? st : -1;
    return r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Reads until the status line is in; 200 is ready. */
static bool status_200(int fd)
{
    char buf[64];
    size_t n = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (n < sizeof buf - 1 && poll(&pfd, 1, 1000) == 1) {
        ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        if (memchr(buf, '\n', n))
            break;
    }
    buf[n] = '\0';
    return strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0;
}

bool fx_ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && status_200(fd);
    close(fd);
    return ok;
}
