/* worker_exec.c: runs one task's command for the reference worker
 * (worker_int.h). The command is started with posix_spawn in a process
 * group of its own (so a timeout or cancel kills everything it started),
 * with the signals we block or ignore reset to their defaults. One poll loop
 * feeds stdin, drains stdout and stderr, reaps the child and every ~100 ms
 * asks the caller (tick) whether to go on, which is where heartbeats are
 * sent and cancels noticed. */
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100

typedef struct child {
    pid_t pid;
    int fd[3]; /* our ends: stdin (write), stdout, stderr (read); -1 when closed */
    size_t in_off;
    bool reaped, group_killed;
} child;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int spawn_attrs(posix_spawnattr_t *a)
{
    sigset_t none, dflt;
    sigemptyset(&none);
    sigfillset(&dflt);
    sigdelset(&dflt, SIGKILL);
    sigdelset(&dflt, SIGSTOP);
    int rc = posix_spawnattr_init(a);
    if (rc == 0)
        rc = posix_spawnattr_setflags(a, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                             POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(a, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(a, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(a, &dflt);
    return rc;
}

/* Starts the command with three pipes; returns 0 or an errno. */
static int start_child(const worker__exec_spec *spec, child *c)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) != 0) {
            int e = errno;
            for (int j = 0; j < i; j++)
                close(p[j][0]), close(p[j][1]);
            return e;
        }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
    posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
    int rc = spawn_attrs(&attr);
    if (rc == 0)
        rc = posix_spawnp(&c->pid, spec->argv[0], &fa, &attr, spec->argv, spec->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(p[0][0]), close(p[1][1]), close(p[2][1]);
    c->fd[0] = p[0][1], c->fd[1] = p[1][0], c->fd[2] = p[2][0];
    if (rc != 0) {
        for (int i = 0; i < 3; i++)
            close_fd(&c->fd[i]);
        return rc;
    }
    for (int i = 0; i < 3; i++)
        fcntl(c->fd[i], F_SETFL, fcntl(c->fd[i], F_GETFL) | O_NONBLOCK);
    if (spec->input_len == 0)
        close_fd(&c->fd[0]);
    return 0;
}

static void kill_group(child *c)
{
    /* The group outlives its leader while members remain, and Linux does not
     * reuse a pid that is still a process group id, so this is safe after
     * the leader was reaped too. */
    if (!c->group_killed)
        kill(-c->pid, SIGKILL);
    c->group_killed = true;
}

static void keep_tail(sy_buf *b)
{
    if (b->len <= 4 * WORKER__STDERR_TAIL)
        return;
    memmove(b->data, b->data + b->len - WORKER__STDERR_TAIL, WORKER__STDERR_TAIL);
    b->len = WORKER__STDERR_TAIL;
    b->data[b->len] = '\0';
}

/* Moves bytes between the pipes; false when stdout grew over max_output. */
static bool pump(const worker__exec_spec *spec, child *c, worker__exec_result *r, int timeout)
{
    struct pollfd pf[3];
    for (int i = 0; i < 3; i++)
        pf[i] = (struct pollfd){.fd = c->fd[i], .events = i == 0 ? POLLOUT : POLLIN};
    if (poll(pf, 3, timeout) <= 0)
        return true;
    if (c->fd[0] >= 0 && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t n = write(c->fd[0], spec->input + c->in_off, spec->input_len - c->in_off);
        if (n > 0)
            c->in_off += (size_t)n;
        if ((n < 0 && errno != EAGAIN) || c->in_off == spec->input_len)
            close_fd(&c->fd[0]); /* EPIPE: the command does not read its input */
    }
    char buf[16384];
    for (int i = 1; i < 3; i++) {
        if (c->fd[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(c->fd[i], buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            close_fd(&c->fd[i]);
        else if (n > 0)
            sy_buf_append(i == 1 ? &r->out : &r->err, buf, (size_t)n);
    }
    keep_tail(&r->err);
    return r->out.len <= spec->max_output;
}

static void finish_tail(sy_buf *b)
{
    if (b->len > WORKER__STDERR_TAIL) {
        memmove(b->data, b->data + b->len - WORKER__STDERR_TAIL, WORKER__STDERR_TAIL);
        b->len = WORKER__STDERR_TAIL;
        b->data[b->len] = '\0';
    }
}

/* Decides whether the command must die now, and why. */
static bool must_kill(const worker__exec_spec *spec, int64_t deadline, worker__exec_result *r)
{
    if (deadline > 0 && now_ms() >= deadline) {
        r->end = WORKER__TIMED_OUT;
        return true;
    }
    worker__verdict v = spec->tick ? spec->tick(spec->ctx) : WORKER__GO;
    if (v == WORKER__GO)
        return false;
    r->end = v == WORKER__KILL_CANCEL ? WORKER__CANCELED : WORKER__HANDED_BACK;
    return true;
}

void worker__exec(const worker__exec_spec *spec, worker__exec_result *r)
{
    *r = (worker__exec_result){.end = WORKER__EXITED};
    child c = {.fd = {-1, -1, -1}};
    int rc = start_child(spec, &c);
    if (rc != 0) {
        r->end = WORKER__SPAWN_FAILED;
        r->spawn_errno = rc;
        return;
    }
    int64_t deadline = spec->timeout_ms > 0 ? now_ms() + spec->timeout_ms : 0;
    int64_t next_tick = now_ms() + TICK_MS;
    while (!c.reaped || c.fd[1] >= 0 || c.fd[2] >= 0) {
        if (!pump(spec, &c, r, TICK_MS) && !c.group_killed) {
            r->end = WORKER__TOO_MUCH;
            kill_group(&c);
        }
        if (!c.reaped && waitpid(c.pid, &r->status, WNOHANG) == c.pid) {
            c.reaped = true;
            close_fd(&c.fd[0]);
            kill_group(&c); /* stray background processes die with the task */
        }
        if (!c.group_killed && now_ms() >= next_tick) {
            next_tick = now_ms() + TICK_MS;
            if (must_kill(spec, deadline, r))
                kill_group(&c);
        }
    }
    close_fd(&c.fd[0]);
    finish_tail(&r->err);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, surrogate */
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0; /* overlong, > U+10FFFF */
    return len;
}

void worker__utf8_clean(sy_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = p[i] == 0 ? 0 : utf8_seq(p + i, len - i);
        if (n == 0) {
            sy_buf_puts(b, "\xEF\xBF\xBD");
            i++;
        } else {
            sy_buf_append(b, p + i, n);
            i += n;
        }
    }
}
