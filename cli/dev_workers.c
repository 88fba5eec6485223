/* dev_workers.c: the example workers of `switchyard dev` (dev_workers.h).
 *
 * The queues come from the rules: each workflow's task_queue (default: its
 * name), each step's queue, and the task_queue overrides of routes (found by
 * scanning the file's text, as routes keep them in their start action). */
#include "dev_workers.h"

#include "rules.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SY_SOURCE_DIR
#define SY_SOURCE_DIR "."
#endif

#define MAX_WORKERS 32

struct dev_workers {
    size_t n;
    char queue[MAX_WORKERS][128];
    char log[MAX_WORKERS][512];
    pid_t pid[MAX_WORKERS];
    bool python;
};

static void add_queue(dev_workers *w, const char *q)
{
    if (!q || !*q || strlen(q) >= sizeof w->queue[0] || w->n == MAX_WORKERS)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->queue[i], q) == 0)
            return;
    snprintf(w->queue[w->n++], sizeof w->queue[0], "%s", q);
}

/* Every "queue" / "task_queue" string anywhere below j (steps, branches). */
static void walk(dev_workers *w, const cJSON *j)
{
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        if (cJSON_IsString(c) && c->string &&
            (strcmp(c->string, "queue") == 0 || strcmp(c->string, "task_queue") == 0))
            add_queue(w, c->valuestring);
        walk(w, c);
    }
}

/* "task_queue: NAME" in the file's text (route overrides). */
static void scan_text(dev_workers *w, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char *at = strstr(line, "task_queue:"), *hash = strchr(line, '#');
        if (!at || (hash && hash < at))
            continue;
        at += strlen("task_queue:");
        at += strspn(at, " \t\"'");
        size_t len = strcspn(at, " \t\"',}\r\n");
        at[len] = '\0';
        if (len && !strchr(at, '{'))
            add_queue(w, at);
    }
    if (f)
        fclose(f);
}

static sy_status find_queues(dev_workers *w, const char *rules_path, sy_error *err)
{
    rules_set *rs = NULL;
    rules_diags d = {0};
    rules_load_opts lo = {0};
    sy_status st = rules_load(rules_path, &lo, &rs, &d, err);
    rules_diags_cleanup(&d);
    if (st != SY_OK)
        return st;
    const cJSON *wf;
    cJSON_ArrayForEach(wf, rules_set_workflows(rs))
    {
        if (!cJSON_GetObjectItemCaseSensitive(wf, "task_queue"))
            add_queue(w, wf->string); /* the engine's default queue: the workflow's name */
        walk(w, wf);
    }
    rules_set_free(rs);
    scan_text(w, rules_path);
    return SY_OK;
}

sy_status dev_workers_queues(const char *rules_path, char ***out, size_t *n, sy_error *err)
{
    *out = NULL;
    *n = 0;
    dev_workers *w = calloc(1, sizeof *w);
    if (!w)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    sy_status st = find_queues(w, rules_path, err);
    char **names = st == SY_OK ? calloc(w->n + 1, sizeof *names) : NULL;
    if (st == SY_OK && !names)
        st = sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    for (size_t i = 0; st == SY_OK && i < w->n; i++)
        if (!(names[i] = strdup(w->queue[i])))
            st = sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    if (st == SY_OK) {
        *out = names;
        *n = w->n;
    } else {
        for (size_t i = 0; names && i < w->n; i++)
            free(names[i]);
        free(names);
    }
    free(w);
    return st;
}

static void child_exec(const dev_workers *w, size_t i, const char *nats_url, const char *script)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* serve_run blocks them for sigwait */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (!freopen(w->log[i], "a", stdout) || !freopen(w->log[i], "a", stderr))
        _exit(127);
    if (w->python)
        execlp("python3", "python3", "-u", script, "--nats", nats_url, "--queue", w->queue[i],
               (char *)NULL);
    else
        execl("/proc/self/exe", "switchyard", "worker", "--queue", w->queue[i], "--nats", nats_url,
              "--", "cat", (char *)NULL);
    _exit(127);
}

sy_status dev_workers_start(const char *rules_path, const char *nats_url, const char *logdir,
                            dev_workers **out, sy_error *err)
{
    *out = NULL;
    dev_workers *w = calloc(1, sizeof *w);
    if (!w)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    sy_status st = find_queues(w, rules_path, err);
    if (st != SY_OK) {
        free(w);
        return st;
    }
    char script[512];
    snprintf(script, sizeof script, "examples/worker.py");
    if (access(script, R_OK) != 0)
        snprintf(script, sizeof script, "%s/examples/worker.py", SY_SOURCE_DIR);
    w->python = access(script, R_OK) == 0 && system("python3 -c '' >/dev/null 2>&1") == 0;
    for (size_t i = 0; i < w->n; i++) {
        snprintf(w->log[i], sizeof w->log[i], "%s/worker-%s.log", logdir, w->queue[i]);
        w->pid[i] = fork();
        if (w->pid[i] == 0)
            child_exec(w, i, nats_url, script);
    }
    *out = w;
    return SY_OK;
}

void dev_workers_print(const dev_workers *w, FILE *f)
{
    for (size_t i = 0; w && i < w->n; i++)
        fprintf(f, "  worker          queue %-16s %s (log %s)\n", w->queue[i],
                w->python ? "examples/worker.py" : "switchyard worker -- cat", w->log[i]);
}

void dev_workers_stop(dev_workers *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (w->pid[i] > 0)
            kill(w->pid[i], SIGTERM);
    for (size_t i = 0; i < w->n; i++) {
        for (int t = 0; w->pid[i] > 0 && t < 50; t++) {
            if (waitpid(w->pid[i], NULL, WNOHANG) == w->pid[i]) {
                w->pid[i] = 0;
                break;
            }
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (w->pid[i] > 0) {
            kill(w->pid[i], SIGKILL);
            waitpid(w->pid[i], NULL, 0);
        }
    }
    free(w);
}
