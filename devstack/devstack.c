/* devstack.c: throwaway nats-server and Postgres (devstack.h).
 *
 * The servers run as direct children (postgres, not pg_ctl, so that it stays
 * our child and PR_SET_PDEATHSIG can tie its life to ours). Ports are found
 * by binding port 0 on 127.0.0.1; the tiny race with other processes is
 * acceptable for tests and benchmarks. */
#include "devstack.h"

#include <libpq-fe.h>

#include <limits.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct devstack {
    char dir[512];
    bool remove_dir;
    pid_t nats_pid, pg_pid;
    int nats_port, nats_mon_port, pg_port;
    char nats_url[64], nats_mon[64], pg_conninfo[256];
    char pg_bin[256];
    char nats_exe[256];
    bool durable;
};

int devstack_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* The newest Debian PostgreSQL bin dir (/usr/lib/postgresql/N/bin). */
static bool find_pg_bin(char *out, size_t n)
{
    glob_t g;
    bool found = false;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        int best = -1;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
            if (v > best) {
                best = v;
                snprintf(out, n, "/usr/lib/postgresql/%d/bin", v);
                found = true;
            }
        }
    }
    globfree(&g);
    return found;
}

/* When root, the uid/gid to run Postgres as; otherwise our own. */
static void pg_user(uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    if (geteuid() != 0)
        return;
    const struct passwd *pw = getpwnam("postgres");
    if (!pw)
        pw = getpwnam("nobody");
    if (pw) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
}

/* fork + exec argv with output appended to logpath. as_pg: drop to the
 * Postgres user when root. pdeath: signal the child gets when we die (0: none).
 * Returns the child's pid or -1. */
static pid_t spawn(char *const argv[], const char *logpath, bool as_pg, int pdeath)
{
    uid_t uid;
    gid_t gid;
    pg_user(&uid, &gid);
    pid_t ppid = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child */
    setpgid(0, 0); /* a terminal's Ctrl-C reaches us, and we stop the servers in order */
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    if (as_pg && geteuid() == 0 && uid != 0) {
        if (setgid(gid) != 0 || setuid(uid) != 0)
            _exit(126);
    }
    if (pdeath) {
        prctl(PR_SET_PDEATHSIG, pdeath); /* after setuid: a credential change clears it */
        if (getppid() != ppid)
            _exit(1);
    }
    execv(argv[0], argv);
    fprintf(stderr, "could not exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static bool wait_exit(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static bool tcp_ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static bool child_alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

static void logf_progress(const devstack_opts *o, const char *fmt, const char *arg)
{
    if (!o->quiet) {
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
}

/* nats-server lives in /usr/sbin on Debian, which a user's PATH may lack. */
static bool find_nats_server(char *out, size_t n)
{
    const char *dirs[] = {"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(out, n, "%s/nats-server", dirs[i]);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* Spawns nats-server on the devstack's ports and store, and waits for it. */
static sy_status spawn_nats(devstack *ds, sy_error *err)
{
    char port[16], mon[16], sd[600], logp[600];
    snprintf(port, sizeof port, "%d", ds->nats_port);
    snprintf(mon, sizeof mon, "%d", ds->nats_mon_port);
    snprintf(sd, sizeof sd, "%s/nats", ds->dir);
    snprintf(logp, sizeof logp, "%s/nats.log", ds->dir);
    char *argv[] = {ds->nats_exe, "-a", "127.0.0.1", "-p", port, "-m", mon, "-js",
                    "-sd", sd, NULL};
    ds->nats_pid = spawn(argv, logp, false, SIGTERM);
    for (int i = 0; i < 3000; i++) {
        if (tcp_ready(ds->nats_port))
            return SY_OK;
        if (!child_alive(ds->nats_pid))
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return sy_error_set(err, SY_NATS_DOWN, "server_start", NULL,
                        "nats-server did not start (see %s)", logp);
}

static sy_status start_nats(devstack *ds, sy_error *err)
{
    if (!find_nats_server(ds->nats_exe, sizeof ds->nats_exe))
        return sy_error_set(err, SY_CONFIG, "missing_server", NULL,
                            "nats-server is not installed (run scripts/install-deps)");
    ds->nats_port = devstack_free_port();
    ds->nats_mon_port = devstack_free_port();
    snprintf(ds->nats_url, sizeof ds->nats_url, "nats://127.0.0.1:%d", ds->nats_port);
    snprintf(ds->nats_mon, sizeof ds->nats_mon, "http://127.0.0.1:%d", ds->nats_mon_port);
    return spawn_nats(ds, err);
}

static sy_status run_initdb(devstack *ds, const char *pgdata, sy_error *err)
{
    char initdb[300], logp[600];
    snprintf(initdb, sizeof initdb, "%s/initdb", ds->pg_bin);
    snprintf(logp, sizeof logp, "%s/initdb.log", ds->dir);
    char pgd[600];
    snprintf(pgd, sizeof pgd, "%s", pgdata);
    char *argv[] = {initdb, "-D", pgd, "-U", "switchyard", "--auth=trust", "-E", "UTF8",
                    "--locale=C", "--no-sync", NULL};
    pid_t pid = spawn(argv, logp, true, SIGKILL);
    int st = 0;
    if (pid < 0 || !wait_exit(pid, 120000, &st) || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return sy_error_set(err, SY_DB_DOWN, "server_start", NULL, "initdb failed (see %s)",
                            logp);
    return SY_OK;
}

/* Spawns the postmaster on the devstack's port and data dir, and waits for it. */
static sy_status spawn_pg(devstack *ds, sy_error *err)
{
    char pgdata[600], sock[600], logp[600];
    snprintf(pgdata, sizeof pgdata, "%s/pg", ds->dir);
    snprintf(sock, sizeof sock, "%s/pgsock", ds->dir);
    snprintf(logp, sizeof logp, "%s/postgres.log", ds->dir);
    char postgres[300], port[16], sockopt[700];
    snprintf(postgres, sizeof postgres, "%s/postgres", ds->pg_bin);
    snprintf(port, sizeof port, "%d", ds->pg_port);
    snprintf(sockopt, sizeof sockopt, "unix_socket_directories=%s", sock);
    const bool d = ds->durable;
    char *argv[] = {postgres, "-D", pgdata, "-p", port, "-c", "listen_addresses=127.0.0.1",
                    "-c", sockopt, "-c", d ? "fsync=on" : "fsync=off",
                    "-c", d ? "synchronous_commit=on" : "synchronous_commit=off",
                    "-c", d ? "full_page_writes=on" : "full_page_writes=off",
                    "-c", "max_connections=200", "-c", "shared_buffers=256MB",
                    "-c", "max_wal_size=4GB", "-c", "log_min_messages=warning", NULL};
    ds->pg_pid = spawn(argv, logp, true, SIGQUIT);
    for (int i = 0; i < 3000; i++) {
        if (PQping(ds->pg_conninfo) == PQPING_OK)
            return SY_OK;
        if (!child_alive(ds->pg_pid))
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return sy_error_set(err, SY_DB_DOWN, "server_start", NULL,
                        "postgres did not start (see %s)", logp);
}

/* Creates the cluster when the data dir is new (initdb as the Postgres user). */
static sy_status prepare_pg(devstack *ds, sy_error *err)
{
    char pgdata[600], sock[600], logp[600];
    snprintf(pgdata, sizeof pgdata, "%s/pg", ds->dir);
    snprintf(sock, sizeof sock, "%s/pgsock", ds->dir);
    snprintf(logp, sizeof logp, "%s/postgres.log", ds->dir);
    uid_t uid;
    gid_t gid;
    pg_user(&uid, &gid);
    struct stat st;
    if (stat(pgdata, &st) != 0) {
        if (mkdir(pgdata, 0700) != 0 || chown(pgdata, uid, gid) != 0)
            return sy_error_set(err, SY_IO, "server_start", NULL, "could not create %s: %s",
                                pgdata, strerror(errno));
        sy_status s = run_initdb(ds, pgdata, err);
        if (s != SY_OK)
            return s;
    }
    mkdir(sock, 0755);
    if (chown(sock, uid, gid) != 0 && geteuid() == 0)
        return sy_error_set(err, SY_IO, "server_start", NULL, "could not chown %s", sock);
    int lf = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (lf >= 0) {
        if (fchown(lf, uid, gid) != 0) { /* best effort: the log stays ours */
        }
        close(lf);
    }
    return SY_OK;
}

static sy_status start_pg(devstack *ds, sy_error *err)
{
    if (!find_pg_bin(ds->pg_bin, sizeof ds->pg_bin))
        return sy_error_set(err, SY_CONFIG, "missing_server", NULL,
                            "PostgreSQL server binaries not found under /usr/lib/postgresql "
                            "(run scripts/install-deps)");
    sy_status st = prepare_pg(ds, err);
    if (st != SY_OK)
        return st;
    ds->pg_port = devstack_free_port();
    snprintf(ds->pg_conninfo, sizeof ds->pg_conninfo,
             "host=127.0.0.1 port=%d user=switchyard dbname=postgres connect_timeout=5",
             ds->pg_port);
    return spawn_pg(ds, err);
}

static sy_status make_dir(devstack *ds, const devstack_opts *o, sy_error *err)
{
    if (o->dir) {
        if (mkdir(o->dir, 0755) != 0 && errno != EEXIST)
            return sy_error_set(err, SY_IO, "server_start", NULL, "could not create %s: %s",
                                o->dir, strerror(errno));
        /* absolute: postgres chdirs into its data dir, so relative paths
         * (the socket dir, the data dir) would no longer resolve */
        char abs[PATH_MAX];
        if (!realpath(o->dir, abs) || strlen(abs) >= sizeof ds->dir)
            return sy_error_set(err, SY_IO, "server_start", NULL, "could not resolve %s: %s",
                                o->dir, strerror(errno));
        snprintf(ds->dir, sizeof ds->dir, "%s", abs);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(ds->dir, sizeof ds->dir, "%s/switchyard-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(ds->dir))
            return sy_error_set(err, SY_IO, "server_start", NULL, "could not create %s: %s",
                                ds->dir, strerror(errno));
        ds->remove_dir = true;
    }
    /* the Postgres user must be able to reach its data dir inside ours */
    if (chmod(ds->dir, 0755) != 0)
        return sy_error_set(err, SY_IO, "server_start", NULL, "could not chmod %s", ds->dir);
    return SY_OK;
}

sy_status devstack_start(const devstack_opts *opts, devstack **out, sy_error *err)
{
    static const devstack_opts defaults = {0};
    const devstack_opts *o = opts ? opts : &defaults;
    *out = NULL;
    devstack *ds = calloc(1, sizeof *ds);
    if (!ds)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    ds->nats_pid = ds->pg_pid = -1;
    ds->durable = o->durable;
    sy_status st = make_dir(ds, o, err);
    if (st == SY_OK)
        st = start_nats(ds, err);
    if (st == SY_OK)
        logf_progress(o, "devstack: nats-server at %s", ds->nats_url);
    if (st == SY_OK)
        st = start_pg(ds, err);
    if (st == SY_OK)
        logf_progress(o, "devstack: postgres at %s", ds->pg_conninfo);
    if (st != SY_OK) {
        devstack_print_logs(ds, stderr, 30);
        devstack_stop(ds);
        return st;
    }
    *out = ds;
    return SY_OK;
}

const char *devstack_nats_url(const devstack *ds)
{
    return ds->nats_url;
}

const char *devstack_nats_monitor(const devstack *ds)
{
    return ds->nats_mon;
}

const char *devstack_pg_conninfo(const devstack *ds)
{
    return ds->pg_conninfo;
}

const char *devstack_dir(const devstack *ds)
{
    return ds->dir;
}

static void tail_file(const char *path, FILE *out, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* keep a ring of the last 'lines' lines */
    char **ring = calloc((size_t)lines, sizeof *ring);
    char buf[4096];
    int n = 0;
    while (ring && fgets(buf, sizeof buf, f)) {
        free(ring[n % lines]);
        ring[n % lines] = strdup(buf);
        n++;
    }
    fclose(f);
    fprintf(out, "---- %s (last %d lines) ----\n", path, lines);
    for (int i = n > lines ? n - lines : 0; ring && i < n; i++)
        fputs(ring[i % lines], out);
    for (int i = 0; ring && i < lines; i++)
        free(ring[i]);
    free(ring);
}

void devstack_print_logs(const devstack *ds, FILE *out, int lines)
{
    const char *names[] = {"nats.log", "initdb.log", "postgres.log"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", ds->dir, names[i]);
        tail_file(p, out, lines);
    }
}

static void stop_child(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    int st;
    kill(pid, sig);
    if (!wait_exit(pid, 10000, &st)) {
        kill(pid, SIGKILL);
        wait_exit(pid, 5000, &st);
    }
}

sy_status devstack_pg_stop(devstack *ds, sy_error *err)
{
    if (ds->pg_pid <= 0)
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "postgres is not running");
    stop_child(ds->pg_pid, SIGINT);
    ds->pg_pid = -1;
    return SY_OK;
}

sy_status devstack_pg_crash(devstack *ds, sy_error *err)
{
    if (ds->pg_pid <= 0)
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "postgres is not running");
    stop_child(ds->pg_pid, SIGQUIT); /* "immediate": WAL buffers are lost, recovery at start */
    ds->pg_pid = -1;
    return SY_OK;
}

sy_status devstack_pg_start(devstack *ds, sy_error *err)
{
    if (ds->pg_pid > 0)
        return sy_error_set(err, SY_CONFLICT, NULL, NULL, "postgres is already running");
    return spawn_pg(ds, err);
}

sy_status devstack_nats_stop(devstack *ds, sy_error *err)
{
    if (ds->nats_pid <= 0)
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "nats-server is not running");
    stop_child(ds->nats_pid, SIGTERM);
    ds->nats_pid = -1;
    return SY_OK;
}

sy_status devstack_nats_kill(devstack *ds, sy_error *err)
{
    if (ds->nats_pid <= 0)
        return sy_error_set(err, SY_NOT_FOUND, NULL, NULL, "nats-server is not running");
    stop_child(ds->nats_pid, SIGKILL);
    ds->nats_pid = -1;
    return SY_OK;
}

sy_status devstack_nats_start(devstack *ds, sy_error *err)
{
    if (ds->nats_pid > 0)
        return sy_error_set(err, SY_CONFLICT, NULL, NULL, "nats-server is already running");
    return spawn_nats(ds, err);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void devstack_stop(devstack *ds)
{
    if (!ds)
        return;
    stop_child(ds->pg_pid, SIGINT); /* Postgres "fast" shutdown */
    stop_child(ds->nats_pid, SIGTERM);
    if (ds->remove_dir && ds->dir[0])
        nftw(ds->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(ds);
}
