/* devstack_ctl.c: stop and start one server of a devstack (devstack_ctl.h). */
#include "devstack_ctl.h"

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(void)
{
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t postmaster_pid(const devstack *ds)
{
    char path[700];
    snprintf(path, sizeof path, "%s/pg/postmaster.pid", devstack_dir(ds));
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

sy_status devstack_pg_stop(const devstack *ds, sy_error *err)
{
    pid_t pid = postmaster_pid(ds);
    if (pid <= 0 || kill(pid, SIGINT) != 0) /* SIGINT: fast shutdown */
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "no running postmaster in %s/pg",
                            devstack_dir(ds));
    for (int i = 0; i < 600; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG); /* reaps it when it is our child */
        if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0))
            return SY_OK;
        nap();
    }
    return sy_error_set(err, SY_TIMEOUT, NULL, NULL, "postmaster %d did not stop", (int)pid);
}

static bool pg_bin(char *out, size_t n)
{
    glob_t g;
    int best = -1;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) {
            int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
            if (v > best) {
                best = v;
                snprintf(out, n, "%s", g.gl_pathv[i]);
            }
        }
    globfree(&g);
    return best >= 0;
}

/* The port from the devstack's conninfo ("... port=N ..."). */
static int conninfo_port(const devstack *ds)
{
    const char *p = strstr(devstack_pg_conninfo(ds), "port=");
    return p ? atoi(p + 5) : 0;
}

static void exec_postgres(const devstack *ds, const char *exe, int port, pid_t parent)
{
    char pgdata[700], sockopt[800], portbuf[16], logp[700];
    snprintf(pgdata, sizeof pgdata, "%s/pg", devstack_dir(ds));
    snprintf(sockopt, sizeof sockopt, "unix_socket_directories=%s/pgsock", devstack_dir(ds));
    snprintf(portbuf, sizeof portbuf, "%d", port);
    snprintf(logp, sizeof logp, "%s/postgres.log", devstack_dir(ds));
    setpgid(0, 0);
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("postgres");
        if (!pw)
            pw = getpwnam("nobody");
        if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(126);
    }
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent)
        _exit(1);
    char *argv[] = {(char *)exe, "-D", pgdata, "-p", portbuf, "-c", "listen_addresses=127.0.0.1",
                    "-c", sockopt, "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "max_connections=200", "-c", "log_min_messages=warning", NULL};
    execv(exe, argv);
    _exit(127);
}

sy_status devstack_pg_start(const devstack *ds, sy_error *err)
{
    char exe[300];
    int port = conninfo_port(ds);
    if (!pg_bin(exe, sizeof exe) || port <= 0)
        return sy_error_set(err, SY_CONFIG, NULL, NULL, "cannot find postgres or its port");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return sy_error_set(err, SY_IO, NULL, NULL, "fork: %s", strerror(errno));
    if (pid == 0)
        exec_postgres(ds, exe, port, parent);
    for (int i = 0; i < 1200; i++) {
        if (PQping(devstack_pg_conninfo(ds)) == PQPING_OK)
            return SY_OK;
        nap();
    }
    return sy_error_set(err, SY_DB_DOWN, NULL, NULL, "postgres did not restart");
}

/* ---- nats-server ------------------------------------------------------------ */

/* Whether /proc/<pid>/cmdline holds the argument 'arg'. */
static bool cmdline_has(const char *pid, const char *arg)
{
    char path[300], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (strcmp(buf + i, arg) == 0)
            return true;
    return false;
}

static pid_t nats_pid(const devstack *ds)
{
    char sd[700];
    snprintf(sd, sizeof sd, "%s/nats", devstack_dir(ds));
    DIR *d = opendir("/proc");
    pid_t found = 0;
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && cmdline_has(e->d_name, sd) &&
            cmdline_has(e->d_name, "-js"))
            found = (pid_t)atol(e->d_name);
    if (d)
        closedir(d);
    return found;
}

sy_status devstack_nats_stop(const devstack *ds, sy_error *err)
{
    pid_t pid = nats_pid(ds);
    if (pid <= 0 || kill(pid, SIGTERM) != 0)
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "no running nats-server for %s",
                            devstack_dir(ds));
    for (int i = 0; i < 600; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0))
            return SY_OK;
        nap();
    }
    return sy_error_set(err, SY_TIMEOUT, NULL, NULL, "nats-server %d did not stop", (int)pid);
}

static int url_port(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon ? atoi(colon + 1) : 0;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

sy_status devstack_nats_start(const devstack *ds, sy_error *err)
{
    const char *exes[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                          "/usr/local/bin/nats-server"};
    const char *exe = NULL;
    for (size_t i = 0; !exe && i < sizeof exes / sizeof exes[0]; i++)
        if (access(exes[i], X_OK) == 0)
            exe = exes[i];
    int port = url_port(devstack_nats_url(ds)), mon = url_port(devstack_nats_monitor(ds));
    if (!exe || port <= 0)
        return sy_error_set(err, SY_CONFIG, NULL, NULL, "cannot find nats-server or its port");
    char p[16], m[16], sd[700], logp[700];
    snprintf(p, sizeof p, "%d", port);
    snprintf(m, sizeof m, "%d", mon);
    snprintf(sd, sizeof sd, "%s/nats", devstack_dir(ds));
    snprintf(logp, sizeof logp, "%s/nats.log", devstack_dir(ds));
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        return sy_error_set(err, SY_IO, NULL, NULL, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        execl(exe, exe, "-a", "127.0.0.1", "-p", p, "-m", m, "-js", "-sd", sd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        if (port_open(port))
            return SY_OK;
        nap();
    }
    return sy_error_set(err, SY_NATS_DOWN, NULL, NULL, "nats-server did not restart");
}
