/* fixture.c: see fixture.h. */
#include "fixture.h"
#include "buf.h"
#include "test.h"

#include <libpq-fe.h>
#include <nats/nats.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        sy_test__fail(__FILE__, __LINE__,
                      "%s is not set: integration tests run under `switchyard testenv` "
                      "(make test does this)",
                      name);
    return v;
}

const char *fixture_nats_url(void)
{
    return need_env("SY_TEST_NATS_URL");
}

void fixture_js_stream(const char *name, const char *subject, natsConnection **nc, jsCtx **js)
{
    if (natsConnection_ConnectTo(nc, fixture_nats_url()) != NATS_OK ||
        natsConnection_JetStream(js, *nc, NULL) != NATS_OK)
        sy_test__fail(__FILE__, __LINE__, "could not connect to %s", fixture_nats_url());
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char *subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_MemoryStorage;
    jsErrCode jerr = 0;
    if (js_AddStream(NULL, *js, &cfg, NULL, &jerr) != NATS_OK)
        sy_test__fail(__FILE__, __LINE__, "could not create stream %s (%d)", name, (int)jerr);
}

const char *fixture_pg_admin(void)
{
    return need_env("SY_TEST_PG_CONNINFO");
}

static void exec_admin(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        sy_test__fail(__FILE__, __LINE__, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

char *fixture_pg_fresh_db(const char *name)
{
    PGconn *c = PQconnectdb(fixture_pg_admin());
    if (PQstatus(c) != CONNECTION_OK)
        sy_test__fail(__FILE__, __LINE__, "connect: %s", PQerrorMessage(c));
    char *ident = PQescapeIdentifier(c, name, strlen(name));
    char sql[512];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
    exec_admin(c, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident);
    exec_admin(c, sql);
    PQfreemem(ident);
    PQfinish(c);
    /* the admin conninfo ends with dbname=postgres ...; append an override */
    size_t n = strlen(fixture_pg_admin()) + strlen(name) + 32;
    char *out = malloc(n);
    snprintf(out, n, "%s dbname=%s", fixture_pg_admin(), name);
    return out;
}

const char *fixture_switchyard_bin(void)
{
    static char path[1024];
    const char *b = getenv("SY_BINARY_DIR");
    snprintf(path, sizeof path, "%s/switchyard", b ? b : SY_BINARY_DIR);
    return path;
}

int fixture_run(const char *cmd, char *out, size_t cap)
{
    int fds[2];
    CHECK_MSG(pipe(fds) == 0, "could not run %s", cmd);
    fflush(NULL);
    pid_t pid = fixture_fork(); /* the shell dies with the test, and what it execs */
    if (pid == 0) {
        close(fds[0]);
        if (fds[1] != 1) {
            dup2(fds[1], 1);
            close(fds[1]);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *p = fdopen(fds[0], "r");
    CHECK_MSG(p != NULL, "could not run %s", cmd);
    size_t n = 0, got;
    while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += got;
    out[n] = '\0';
    char drain[4096]; /* the rest, so that the command is not killed by SIGPIPE */
    while (fread(drain, 1, sizeof drain, p) > 0)
        ;
    fclose(p);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        CHECK_MSG(errno == EINTR, "waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *fixture_source_path(const char *rel)
{
    static char path[1024];
    const char *s = getenv("SY_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", s ? s : SY_SOURCE_DIR, rel);
    return path;
}

int fixture_fork(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the test ended before prctl */
            _exit(127);
    }
    return (int)pid;
}

/* Reads f to its end (owned, NUL-terminated). */
static char *read_all(FILE *f)
{
    sy_buf b = SY_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sy_buf_append(&b, chunk, n);
    return sy_buf_take(&b);
}

char *fixture_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "could not read %s", path);
    char *text = read_all(f);
    fclose(f);
    return text;
}

void fixture_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "could not write %s", path);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

char *fixture_temp_dir(void)
{
    char *d = strdup("/tmp/sy-test-XXXXXX");
    CHECK(d && mkdtemp(d));
    return d;
}

void fixture_rm_rf(char *dir)
{
    char cmd[600], out[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' 2>&1", dir);
    CHECK_MSG(fixture_run(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
    free(dir);
}
