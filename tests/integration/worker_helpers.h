/* worker_helpers.h: helpers for the worker_*.c integration tests (included,
 * not compiled on its own). Each test gets its own subject prefix and a
 * memory stream covering "<prefix>.>", publishes task.created messages by
 * hand (shaped as the engine's outcome envelope), runs real
 * `switchyard worker` processes and reads the reports they publish through
 * a core subscription opened before any worker starts. */
#ifndef SY_WORKER_HELPERS_H
#define SY_WORKER_HELPERS_H

#include "envelope.h"
#include "fixture.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <nats/nats.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define WK_FN static __attribute__((unused))
#define WK_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

typedef struct wk_env {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *reports;
    char prefix[64], stream[64], queue[32], durable[96];
    pid_t workers[8];
    int nworkers;
    envelope_schemas *schemas; /* schemas/worker/task.*.json, compiled */
    char schema_dir[128];
    bool no_claim; /* no engine answers task.started: workers run --no-claim */
} wk_env;

/* Compiles schemas/worker/task.*.json with the envelope's payload-schema
 * compiler (a temporary <type>/v1.json tree of symlinks), so that every
 * report the tests read is checked against its published schema. */
WK_FN void wk_load_schemas(wk_env *e)
{
    static const char *const kinds[] = {"started", "heartbeat", "completed", "failed", "created"};
    snprintf(e->schema_dir, sizeof e->schema_dir, "/tmp/sy_wk_schemas_%d_%s", (int)getpid(),
             e->prefix);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->schema_dir);
    CHECK_INT(system(cmd), 0);
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        snprintf(cmd, sizeof cmd, "mkdir -p %s/task.%s && ln -s %s %s/task.%s/v1.json",
                 e->schema_dir, kinds[i],
                 fixture_source_path(i == 4               ? "schemas/worker/task.created.json"
                                     : kinds[i][0] == 's' ? "schemas/worker/task.started.json"
                                     : kinds[i][0] == 'h' ? "schemas/worker/task.heartbeat.json"
                                     : kinds[i][0] == 'c' ? "schemas/worker/task.completed.json"
                                                          : "schemas/worker/task.failed.json"),
                 e->schema_dir, kinds[i]);
        CHECK_INT(system(cmd), 0);
    }
    sy_error err;
    sy_error_clear(&err);
    sy_status st = envelope_schemas_load(e->schema_dir, &e->schemas, &err);
    CHECK_MSG(st == SY_OK, "worker schemas do not compile: %s: %s", err.path, err.message);
}

/* Checks a JSON object against the schema of 'type' (e.g. task.completed). */
WK_FN void wk_check_schema(wk_env *e, const char *type, const cJSON *obj)
{
    cJSON *env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "event_id", "schema-check");
    cJSON_AddStringToObject(env, "type", type);
    cJSON_AddStringToObject(env, "source", "test");
    cJSON_AddStringToObject(env, "occurred_at", "2026-01-01T00:00:00Z");
    cJSON_AddStringToObject(env, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
    cJSON_AddNumberToObject(env, "schema_version", 1);
    cJSON_AddItemToObject(env, "payload", cJSON_Duplicate(obj, true));
    char *body = cJSON_PrintUnformatted(env);
    envelope_opts o = {.schemas = e->schemas, .require_schema = true};
    envelope *out = NULL;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = envelope_parse(body, strlen(body), NULL, &o, &out, &err);
    CHECK_MSG(st == SY_OK, "%s does not match its schema: %s: %s\n%s", type, err.path, err.message,
              body);
    envelope_free(out);
    free(body);
    cJSON_Delete(env);
}

/* The test's memory stream covering "<prefix>.>". */
WK_FN void wk_create_stream(wk_env *e)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    char subj[80];
    snprintf(subj, sizeof subj, "%s.>", e->prefix);
    const char *subjects[] = {subj};
    cfg.Name = e->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_MemoryStorage;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    CHECK_INT(js_AddStream(&si, e->js, &cfg, NULL, &jerr), NATS_OK);
    jsStreamInfo_Destroy(si);
}

WK_FN void wk_setup(wk_env *e, const char *name)
{
    memset(e, 0, sizeof *e);
    snprintf(e->prefix, sizeof e->prefix, "%s", name);
    snprintf(e->stream, sizeof e->stream, "WK_%s", name);
    snprintf(e->queue, sizeof e->queue, "q1");
    snprintf(e->durable, sizeof e->durable, "sy-worker-%s", e->queue);
    CHECK_INT(natsConnection_ConnectTo(&e->nc, fixture_nats_url()), NATS_OK);
    CHECK_INT(natsConnection_JetStream(&e->js, e->nc, NULL), NATS_OK);
    js_DeleteStream(e->js, e->stream, NULL, NULL); /* a leftover of an earlier run */
    wk_create_stream(e);
    char subj[80];
    snprintf(subj, sizeof subj, "%s.report.%s", e->prefix, e->queue);
    CHECK_INT(natsConnection_SubscribeSync(&e->reports, e->nc, subj), NATS_OK);
    CHECK_INT(natsConnection_Flush(e->nc), NATS_OK);
    wk_load_schemas(e);
    e->no_claim = true; /* the test plays the engine's part by hand; worker_engine.h has one */
}

/* Starts argv (argv[0] looked up in PATH) as a worker of the test. The
 * child dies with the test (PR_SET_PDEATHSIG), so a failed CHECK never
 * leaves a worker behind holding ctest's output pipe open. */
WK_FN pid_t wk_spawn_argv(wk_env *e, const char *const *argv)
{
    CHECK(e->nworkers < 8);
    pid_t pid = fixture_fork();
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    e->workers[e->nworkers++] = pid;
    return pid;
}

/* Starts `switchyard worker` with extra options (NULL-terminated) and a
 * shell command run by sh -c. */
WK_FN pid_t wk_spawn(wk_env *e, const char *const *extra, const char *shell_cmd)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = fixture_switchyard_bin();
    argv[n++] = "worker";
    argv[n++] = "--nats";
    argv[n++] = fixture_nats_url();
    argv[n++] = "--prefix";
    argv[n++] = e->prefix;
    argv[n++] = "--queue";
    argv[n++] = e->queue;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    argv[n++] = "--grace";
    argv[n++] = "200ms";
    if (e->no_claim)
        argv[n++] = "--no-claim";
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n++] = "--";
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = shell_cmd;
    argv[n] = NULL;
    return wk_spawn_argv(e, argv);
}

/* Publishes a task.created envelope; extra_payload (may be NULL) is a JSON
 * object whose members are added to the payload. */
WK_FN void wk_publish_task(wk_env *e, const char *task_id, int attempt, const char *workflow_id,
                           const char *input_json, const char *extra_payload)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "workflow_id", workflow_id);
    cJSON_AddStringToObject(p, "run_id", "00000000-0000-4000-8000-000000000001");
    cJSON_AddStringToObject(p, "workflow_type", "test");
    cJSON_AddStringToObject(p, "task_id", task_id);
    cJSON_AddStringToObject(p, "task", "work");
    cJSON_AddStringToObject(p, "queue", e->queue);
    cJSON_AddNumberToObject(p, "attempt", attempt);
    cJSON_AddItemToObject(p, "input", cJSON_Parse(input_json ? input_json : "{}"));
    cJSON *extra = extra_payload ? cJSON_Parse(extra_payload) : NULL;
    for (cJSON *it = extra ? extra->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(p, it->string, cJSON_Duplicate(it, true));
    cJSON_Delete(extra);
    cJSON *env = cJSON_CreateObject();
    char id[160];
    snprintf(id, sizeof id, "run1:%s:%d", task_id, attempt);
    cJSON_AddStringToObject(env, "event_id", id);
    cJSON_AddStringToObject(env, "type", "switchyard.task.created");
    cJSON_AddStringToObject(env, "source", "switchyard");
    cJSON_AddStringToObject(env, "occurred_at", "2026-01-01T00:00:00Z");
    cJSON_AddStringToObject(env, "trace_id", WK_TRACE);
    cJSON_AddNumberToObject(env, "schema_version", 1);
    cJSON_AddItemToObject(env, "payload", p);
    char *body = cJSON_PrintUnformatted(env);
    char subj[128];
    snprintf(subj, sizeof subj, "%s.task.created.%s", e->prefix, e->queue);
    jsPubAck *pa = NULL;
    CHECK_INT(js_Publish(&pa, e->js, subj, body, (int)strlen(body), NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    free(body);
    cJSON_Delete(env);
}

WK_FN void wk_publish_raw(wk_env *e, const char *subject_tail, const char *body)
{
    char subj[160];
    snprintf(subj, sizeof subj, "%s.%s", e->prefix, subject_tail);
    jsPubAck *pa = NULL;
    CHECK_INT(js_Publish(&pa, e->js, subj, body, (int)strlen(body), NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
}

/* The next report whose "type" is 'type' (others are skipped, and counted
 * in *skipped_beats when they are heartbeats); NULL after timeout_ms. */
WK_FN cJSON *wk_next_report(wk_env *e, const char *type, int timeout_ms, int *skipped_beats)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left =
            timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            return NULL;
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, e->reports, left) != NATS_OK)
            return NULL;
        cJSON *r = cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
        CHECK_MSG(r != NULL, "a report is not JSON");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "type");
        CHECK(cJSON_IsString(t));
        wk_check_schema(e, t->valuestring, r);
        if (strcmp(t->valuestring, type) == 0)
            return r;
        if (skipped_beats && strcmp(t->valuestring, "task.heartbeat") == 0)
            (*skipped_beats)++;
        cJSON_Delete(r);
    }
}

WK_FN const char *wk_str(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2)
        v = cJSON_GetObjectItemCaseSensitive(v, path2);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

WK_FN double wk_num(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2)
        v = cJSON_GetObjectItemCaseSensitive(v, path2);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Waits until the consumer has nothing unacknowledged and nothing pending. */
WK_FN bool wk_consumer_idle(wk_env *e, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        jsConsumerInfo *ci = NULL;
        if (js_GetConsumerInfo(&ci, e->js, e->stream, e->durable, NULL, NULL) == NATS_OK) {
            bool idle = ci->NumAckPending == 0 && ci->NumPending == 0;
            jsConsumerInfo_Destroy(ci);
            if (idle)
                return true;
        }
        usleep(100 * 1000);
    }
    return false;
}

/* Exit status of a worker we signalled, waiting up to timeout_ms; -1 if it
 * did not exit. */
WK_FN int wk_wait_exit(wk_env *e, pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            for (int i = 0; i < e->nworkers; i++)
                if (e->workers[i] == pid)
                    e->workers[i] = 0; /* reaped: never signal it again */
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(50 * 1000);
    }
    return -1;
}

WK_FN bool wk_pid_gone(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

WK_FN long wk_read_pid(const char *path, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0)
            return pid;
        usleep(50 * 1000);
    }
    return -1;
}

WK_FN void wk_teardown(wk_env *e)
{
    /* SIGTERM first: a worker kills and hands back what it still runs
     * (every worker gets --grace 200ms), so no command outlives the test */
    for (int i = 0; i < e->nworkers; i++)
        if (e->workers[i] > 0)
            kill(e->workers[i], SIGTERM);
    for (int i = 0; i < e->nworkers; i++) {
        if (e->workers[i] <= 0)
            continue;
        if (wk_wait_exit(e, e->workers[i], 3000) >= 0)
            continue;
        kill(e->workers[i], SIGKILL);
        waitpid(e->workers[i], NULL, 0);
    }
    natsSubscription_Destroy(e->reports);
    envelope_schemas_free(e->schemas);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->schema_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->schema_dir);
    js_DeleteStream(e->js, e->stream, NULL, NULL);
    jsCtx_Destroy(e->js);
    natsConnection_Destroy(e->nc);
}

#endif
