/* README.md's "Using it" block, run as written: every command of its ```sh
 * block, in order, from the repository's root, against throwaway servers
 * of its own (devstack: a nats-server and a Postgres nobody else uses, since
 * `serve` creates the EVENTS and SY streams over events.> and sy.>). The
 * block's `export` lines are applied as written, except that the server
 * addresses are this test's. `serve` and `worker` stay in the foreground,
 * so they run in the background: serve must become ready, the worker must
 * complete the task the published event caused, and both must exit 0 on
 * SIGTERM. Every other command must exit 0. */
#include "buf.h"
#include "devstack.h"
#include "router_helpers.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CMDS 64

typedef struct readme {
    char *cmds[MAX_CMDS]; /* owned */
    size_t n;
} readme;

/* The whole file (owned). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    sy_buf b = SY_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sy_buf_append(&b, chunk, n);
    fclose(f);
    return sy_buf_take(&b);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Splits one line of shell into its commands (';' outside quotes), without
 * its comment ('#' at the start or after a blank, outside quotes). */
static void split_line(char *line, readme *r)
{
    char quote = 0, *start = line;
    for (char *p = line;; p++) {
        bool comment = !quote && *p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t');
        if (*p == '\0' || comment || (!quote && *p == ';')) {
            bool end = *p == '\0' || comment;
            *p = '\0';
            char *c = trim(start);
            if (*c) {
                CHECK(r->n < MAX_CMDS);
                r->cmds[r->n++] = strdup(c);
            }
            if (end)
                return;
            start = p + 1;
        } else if (quote ? *p == quote : (*p == '\'' || *p == '"')) {
            quote = quote ? 0 : *p;
        }
    }
}

/* The commands of the first ```sh block after "## Using it". */
static void read_readme(readme *r)
{
    char *text = slurp(fixture_source_path("README.md"));
    char *sec = strstr(text, "\n## Using it");
    CHECK_MSG(sec != NULL, "README.md has no \"Using it\" section");
    char *open = strstr(sec, "```sh\n");
    CHECK_MSG(open != NULL, "no ```sh block under \"Using it\"");
    char *body = open + 6, *close = strstr(body, "\n```");
    CHECK(close != NULL);
    *close = '\0';
    memset(r, 0, sizeof *r);
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n"))
        split_line(line, r);
    free(text);
    CHECK_MSG(r->n >= 10, "only %zu commands in the block", r->n);
}

/* `export A=x B='y z'`: each assignment as written, but the servers ours. */
static void apply_export(const char *cmd, const devstack *ds)
{
    char *s = strdup(cmd + strlen("export ")), *p = s;
    while (*(p = trim(p))) {
        char *eq = strchr(p, '=');
        CHECK_MSG(eq != NULL, "not an assignment: %s", p);
        *eq = '\0';
        char *v = eq + 1, *end;
        if (*v == '\'' || *v == '"') {
            end = strchr(v + 1, *v);
            CHECK_MSG(end != NULL, "unterminated quote in %s", cmd);
            *end++ = '\0';
            v++;
        } else {
            end = v + strcspn(v, " \t");
            if (*end)
                *end++ = '\0';
        }
        if (!strcmp(p, "SWITCHYARD_DB"))
            v = (char *)devstack_pg_conninfo(ds);
        else if (!strcmp(p, "SWITCHYARD_NATS_URL"))
            v = (char *)devstack_nats_url(ds);
        CHECK(setenv(p, v, 1) == 0);
        p = end;
    }
    free(s);
}

/* The second word: the subcommand. */
static bool runs_in_foreground(const char *cmd)
{
    return !strncmp(cmd, "switchyard serve ", 17) || !strncmp(cmd, "switchyard worker ", 18);
}

/* `sh -c "exec CMD"` in the background, its output into log. */
static pid_t spawn(const char *cmd, const char *log)
{
    pid_t pid = fixture_fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        char line[2048];
        snprintf(line, sizeof line, "exec %s", cmd);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static const char *tail(const char *log)
{
    static char buf[4096];
    char *t = slurp(log);
    size_t n = strlen(t);
    snprintf(buf, sizeof buf, "%s", t + (n > sizeof buf - 1 ? n - (sizeof buf - 1) : 0));
    free(t);
    return buf;
}

/* Stops a background command with SIGTERM; returns its exit status. */
static int stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int status = 0;
    for (int waited = 0; waited < 60000; waited += 50) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        rh_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

typedef struct bg {
    pid_t pid;
    char log[512], cmd[1024];
} bg;

TEST(every_command_of_the_readme_runs_as_written)
{
    readme r;
    read_readme(&r);
    devstack_opts o = {.quiet = true};
    devstack *ds = NULL;
    sy_error err;
    sy_error_clear(&err);
    CHECK_MSG(devstack_start(&o, &ds, &err) == SY_OK, "devstack: %s", err.message);
    /* `switchyard` is the binary under test; relative paths are the repo's */
    char path[4096], *dir = strdup(fixture_switchyard_bin());
    *strrchr(dir, '/') = '\0';
    snprintf(path, sizeof path, "%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    free(dir);
    CHECK(setenv("PATH", path, 1) == 0);
    CHECK(chdir(fixture_source_path("")) == 0);
    int admin = rh_free_port(); /* not serve.example.yaml's 8088: a test may run anywhere */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", admin);
    CHECK(setenv("SWITCHYARD_ADMIN_LISTEN", listen, 1) == 0);
    bg bgs[4];
    size_t nbg = 0;
    for (size_t i = 0; i < r.n; i++) {
        const char *cmd = r.cmds[i];
        if (!strncmp(cmd, "export ", 7)) {
            apply_export(cmd, ds);
            continue;
        }
        CHECK_MSG(!strncmp(cmd, "switchyard ", 11), "not a switchyard command: %s", cmd);
        if (runs_in_foreground(cmd)) {
            CHECK(nbg < 4);
            bg *b = &bgs[nbg++];
            snprintf(b->cmd, sizeof b->cmd, "%s", cmd);
            snprintf(b->log, sizeof b->log, "%s/readme-%zu.log", devstack_dir(ds), i);
            b->pid = spawn(cmd, b->log);
            char resp[1024];
            bool serve = !strncmp(cmd, "switchyard serve ", 17);
            int waited = 0, status = 0;
            for (; waited < 30000; waited += 100) {
                CHECK_MSG(waitpid(b->pid, &status, WNOHANG) == 0, "`%s` exited:\n%s", cmd,
                          tail(b->log));
                if (!serve ? waited >= 500
                           : rh_http(admin, "GET", "/readyz", NULL, resp, sizeof resp) == 200)
                    break;
                rh_sleep_ms(100);
            }
            CHECK_MSG(waited < 30000, "`%s` never became ready:\n%s", cmd, tail(b->log));
            continue;
        }
        static char out[1 << 16];
        char line[2048];
        snprintf(line, sizeof line, "%s 2>&1", cmd);
        int rc = fixture_run(line, out, sizeof out);
        CHECK_MSG(rc == 0, "`%s` exited %d:\n%s", cmd, rc, out);
    }
    CHECK_MSG(nbg == 2, "the block should run serve and a worker (%zu in the background)", nbg);
    /* the published gap started gap-drain-42; the README's worker drained it */
    const char *sql = "SELECT count(*) FROM switchyard.tasks WHERE workflow_id = 'gap-drain-42'"
                      " AND status = 'completed'";
    CHECK_MSG(rh_wait_count(devstack_pg_conninfo(ds), sql, 1, 30000) == 1,
              "the worker did not complete gap-drain-42's task:\n%s\n%s", tail(bgs[1].log),
              tail(bgs[0].log));
    for (size_t i = nbg; i-- > 0;) {
        int rc = stop(bgs[i].pid);
        CHECK_MSG(rc == 0, "`%s` exited %d on SIGTERM:\n%s", bgs[i].cmd, rc, tail(bgs[i].log));
    }
    for (size_t i = 0; i < r.n; i++)
        free(r.cmds[i]);
    devstack_stop(ds);
}
