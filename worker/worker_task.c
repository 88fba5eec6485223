/* worker_task.c: one task of the reference worker, on its own thread
 * (worker_task.h). Order matters for the protocol's guarantees:
 * task.started is published (PubAck) before the command starts; the final
 * report is published and PubAcked before the task message is acked, so a
 * crash at any point leaves the message unacked and JetStream redelivers it.
 * A task message we cannot parse is termed: no worker could ever run it. */
#include "worker_task.h"
#include "trace.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static bool copy_str(char *dst, size_t cap, const cJSON *v, bool required)
{
    if (!v)
        return !required;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap || (required && !*v->valuestring))
        return false;
    snprintf(dst, cap, "%s", v->valuestring);
    return true;
}

static int64_t get_ms(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

/* This run of the task is a span of its trace (common/trace.h): its id is
 * the task attempt's, its parent task.created's span (the relay's
 * traceparent header, else derived from its event_id). task.created's
 * tracestate goes with its traceparent (W3C: never without one) and is
 * carried on untouched. */
static void trace_spans(worker_task *t)
{
    char id[160];
    snprintf(id, sizeof id, "worker:%s@%ld", t->task_id, t->attempt);
    sy_span_id(id, t->span);
    const char *tp = NULL;
    if (natsMsgHeader_Get(t->msg, "traceparent", &tp) != NATS_OK ||
        sy_traceparent_parse(tp, NULL, t->parent_span, NULL) != SY_OK) {
        t->parent_span[0] = '\0';
        if (t->event_id[0])
            sy_span_id(t->event_id, t->parent_span);
        return;
    }
    const char *ts = NULL;
    if (natsMsgHeader_Get(t->msg, "tracestate", &ts) == NATS_OK && ts &&
        sy_tracestate_check(ts, NULL) == SY_OK)
        sy_strlcpy(t->tracestate, sizeof t->tracestate, ts);
}

/* Reads the task.created envelope (or a bare payload); false: not a task. */
static bool parse_task(worker_task *t, const char **why)
{
    t->body = cJSON_ParseWithLength(natsMsg_GetData(t->msg), (size_t)natsMsg_GetDataLength(t->msg));
    *why = "body is not a JSON object";
    if (!cJSON_IsObject(t->body))
        return false;
    const cJSON *p = get(t->body, "payload");
    if (!cJSON_IsObject(p))
        p = t->body;
    /* first what the log lines name the task by, also when it is refused */
    (void)copy_str(t->event_id, sizeof t->event_id, get(t->body, "event_id"), false);
    const cJSON *trace = get(t->body, "trace_id");
    if (cJSON_IsString(trace) && strlen(trace->valuestring) == 32)
        snprintf(t->trace_id, sizeof t->trace_id, "%s", trace->valuestring);
    const cJSON *att = get(p, "attempt");
    *why = "payload.task_id must be a non-empty string shorter than 128 bytes";
    if (!copy_str(t->task_id, sizeof t->task_id, get(p, "task_id"), true))
        return false;
    *why = "payload.attempt must be an integer >= 1";
    if (!cJSON_IsNumber(att) || att->valuedouble < 1 || att->valuedouble > 1e9)
        return false;
    t->attempt = (long)att->valuedouble;
    trace_spans(t);
    *why = "payload.workflow_id / run_id / trace_id must be strings";
    if (!copy_str(t->workflow_id, sizeof t->workflow_id, get(p, "workflow_id"), false) ||
        !copy_str(t->run_id, sizeof t->run_id, get(p, "run_id"), false))
        return false;
    *why = "a human task: completed by a person, never by a worker";
    if (cJSON_IsTrue(get(p, "human")))
        return false;
    t->input = get(p, "input");
    const cJSON *to = get(p, "timeouts");
    t->timeout_ms = get_ms(to ? to : p, "start_to_close_ms");
    t->heartbeat_ms = get_ms(to ? to : p, "heartbeat_ms");
    return true;
}

/* ---- reports --------------------------------------------------------------- */

static void rfc3339_now(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static cJSON *report_new(const worker_task *t, const char *type)
{
    char now[40];
    rfc3339_now(now, sizeof now);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", type);
    cJSON_AddStringToObject(r, "task_id", t->task_id);
    cJSON_AddNumberToObject(r, "attempt", (double)t->attempt);
    if (t->workflow_id[0])
        cJSON_AddStringToObject(r, "workflow_id", t->workflow_id);
    if (t->run_id[0])
        cJSON_AddStringToObject(r, "run_id", t->run_id);
    if (t->trace_id[0]) /* the engine's log lines about the report carry it */
        cJSON_AddStringToObject(r, "trace_id", t->trace_id);
    cJSON_AddStringToObject(r, "queue", t->w->o->queue);
    cJSON_AddStringToObject(r, "worker", t->w->worker_id);
    cJSON_AddStringToObject(r, "occurred_at", now);
    return r;
}

/* The claim check's header (docs/worker-protocol.md, engine/reports.h):
 * the engine answers a task.started carrying it on that inbox. */
#define CLAIM_HEADER "Sy-Reply-To"
/* On a final report: when CMD started (engine/reports.h, ENGINE_STARTED_HEADER). */
#define STARTED_HEADER "Sy-Started-At"

/* Publishes r (taken) and waits for the PubAck; tries 'tries' times.
 * reply_to (may be NULL): the claim check's inbox, as CLAIM_HEADER. */
static bool publish_to(worker_task *t, cJSON *r, const char *msg_id, const char *reply_to,
                       int tries)
{
    char *data = cJSON_PrintUnformatted(r);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "type"));
    /* a final report says when CMD started (STARTED_HEADER) */
    bool final = type && (!strcmp(type, "task.completed") || !strcmp(type, "task.failed"));
    cJSON_Delete(r);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.MaxWait = 5000;
    natsStatus s = NATS_ERR;
    for (int i = 0; i < tries && s != NATS_OK; i++) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsMsg *m = NULL;
        s = natsMsg_Create(&m, t->w->report_subject, NULL, data, (int)strlen(data));
        if (s == NATS_OK && reply_to)
            s = natsMsgHeader_Set(m, CLAIM_HEADER, reply_to);
        if (s == NATS_OK && final && t->started_at[0])
            s = natsMsgHeader_Set(m, STARTED_HEADER, t->started_at);
        char tp[SY_TRACEPARENT_MAX]; /* the report is a child of this run's span */
        if (s == NATS_OK && t->trace_id[0] && t->span[0]) {
            sy_traceparent_format(t->trace_id, t->span, tp);
            s = natsMsgHeader_Set(m, "traceparent", tp);
        }
        if (s == NATS_OK && t->span[0] && t->tracestate[0])
            s = natsMsgHeader_Set(m, "tracestate", t->tracestate);
        if (s == NATS_OK)
            s = js_PublishMsg(&pa, t->w->js, m, &po, &jerr);
        natsMsg_Destroy(m);
        jsPubAck_Destroy(pa);
        if (s != NATS_OK && i + 1 < tries)
            usleep(500 * 1000);
    }
    if (s != NATS_OK)
        WORKER_TASK_LOG(t, SY_LOG_WARN, "report not published", "msg_id", msg_id, "status",
                        natsStatus_GetText(s));
    free(data);
    return s == NATS_OK;
}

static bool publish(worker_task *t, cJSON *r, const char *msg_id, int tries)
{
    return publish_to(t, r, msg_id, NULL, tries);
}

static bool publish_kind(worker_task *t, cJSON *r, const char *kind, int tries)
{
    char id[200];
    snprintf(id, sizeof id, "%s:%ld:%s", t->task_id, t->attempt, kind);
    return publish(t, r, id, tries);
}

static worker__verdict tick(void *ctx)
{
    worker_task *t = ctx;
    if (atomic_load(&t->cancel))
        return WORKER__KILL_CANCEL;
    if (atomic_load(&t->w->handback))
        return WORKER__KILL_HANDBACK;
    if (mono_ms() < t->next_beat_ms)
        return WORKER__GO;
    int64_t period = t->w->heartbeat_ms;
    if (t->heartbeat_ms > 0 && t->heartbeat_ms / 3 < period)
        period = t->heartbeat_ms / 3 > 100 ? t->heartbeat_ms / 3 : 100;
    if (t->w->ack_wait_ms / 3 < period)
        period = t->w->ack_wait_ms / 3;
    t->next_beat_ms = mono_ms() + period;
    char kind[40];
    snprintf(kind, sizeof kind, "heartbeat:%d", ++t->beats);
    publish_kind(t, report_new(t, "task.heartbeat"), kind, 1);
    natsMsg_InProgress(t->msg, NULL); /* keeps JetStream from redelivering meanwhile */
    return WORKER__GO;
}

/* ---- environment ----------------------------------------------------------- */

static bool ours(const char *kv)
{
    static const char *const names[] = {
        "SY_TASK_ID=", "SY_WORKFLOW_ID=", "SY_RUN_ID=", "SY_ATTEMPT=",
        "SY_QUEUE=",   "TRACEPARENT=",    "TRACESTATE="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(kv, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

static char *kv(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", k, v);
    return s;
}

/* Owned NULL-terminated array; free with free_env. */
static char **build_env(const worker_task *t)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 8, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!ours(environ[i]))
            env[k++] = strdup(environ[i]);
    char num[32], tp[SY_TRACEPARENT_MAX];
    snprintf(num, sizeof num, "%ld", t->attempt);
    env[k++] = kv("SY_TASK_ID", t->task_id);
    env[k++] = kv("SY_WORKFLOW_ID", t->workflow_id);
    env[k++] = kv("SY_RUN_ID", t->run_id);
    env[k++] = kv("SY_ATTEMPT", num);
    env[k++] = kv("SY_QUEUE", t->w->o->queue);
    if (t->trace_id[0]) {
        sy_traceparent_format(t->trace_id, t->span, tp);
        env[k++] = kv("TRACEPARENT", tp);
        if (t->tracestate[0])
            env[k++] = kv("TRACESTATE", t->tracestate);
    }
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- outcome ----------------------------------------------------------------- */

static bool non_retryable(const worker_opts *o, int code)
{
    for (size_t i = 0; i < o->n_non_retryable; i++)
        if (o->non_retryable[i] == code)
            return true;
    return false;
}

static cJSON *result_value(const sy_buf *out)
{
    const char *s = sy_buf_str(out);
    size_t n = out->len;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n == 0)
        return cJSON_CreateNull();
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, false);
    if (v && end == s + n)
        return v;
    cJSON_Delete(v);
    sy_buf clean = SY_BUF_INIT;
    worker__utf8_clean(&clean, s, n);
    v = cJSON_CreateString(sy_buf_str(&clean));
    sy_buf_cleanup(&clean);
    return v;
}

static cJSON *failure(const worker_task *t, const worker__exec_result *x, bool *retryable)
{
    char msg[256];
    const char *type = "exit_code";
    *retryable = true;
    int code = -1;
    if (x->end == WORKER__TIMED_OUT)
        type = "timeout", snprintf(msg, sizeof msg, "command killed after its timeout");
    else if (x->end == WORKER__TOO_MUCH)
        type = "output_too_large", snprintf(msg, sizeof msg,
                                            "command wrote more than %zu bytes "
                                            "to stdout",
                                            t->w->max_output);
    else if (x->end == WORKER__SPAWN_FAILED)
        type = "spawn_failed", snprintf(msg, sizeof msg, "could not start \"%s\": %s",
                                        t->w->o->argv[0], strerror(x->spawn_errno));
    else if (WIFSIGNALED(x->status))
        type = "signal",
        snprintf(msg, sizeof msg, "command killed by signal %d", WTERMSIG(x->status));
    else {
        code = WEXITSTATUS(x->status);
        *retryable = !non_retryable(t->w->o, code);
        snprintf(msg, sizeof msg, "command exited with status %d", code);
    }
    sy_buf m = SY_BUF_INIT;
    sy_buf_puts(&m, msg);
    if (x->err.len > 0) {
        sy_buf_puts(&m, "; stderr: ");
        worker__utf8_clean(&m, x->err.data, x->err.len);
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", sy_buf_str(&m));
    cJSON_AddBoolToObject(e, "retryable", *retryable);
    if (code >= 0)
        cJSON_AddNumberToObject(e, "exit_code", code);
    sy_buf_cleanup(&m);
    return e;
}

/* Publishes the final report; true once it is PubAcked. */
static bool report_end(worker_task *t, const worker__exec_result *x)
{
    bool ok = x->end == WORKER__EXITED && WIFEXITED(x->status) && WEXITSTATUS(x->status) == 0;
    cJSON *r = report_new(t, ok ? "task.completed" : "task.failed");
    bool retryable = true;
    if (ok)
        cJSON_AddItemToObject(r, "result", result_value(&x->out));
    else
        cJSON_AddItemToObject(r, "error", failure(t, x, &retryable));
    WORKER_TASK_LOG(t, SY_LOG_INFO, ok ? "task completed" : "task failed");
    return publish_kind(t, r, ok ? "completed" : "failed", 5);
}

/* ---- the task thread ------------------------------------------------------- */

static void run_command(worker_task *t)
{
    char *input = t->input ? cJSON_PrintUnformatted(t->input) : strdup("{}");
    char **env = build_env(t);
    worker__exec_spec spec = {.argv = t->w->o->argv,
                              .envp = env,
                              .input = input,
                              .input_len = input ? strlen(input) : 0,
                              .timeout_ms =
                                  t->w->o->timeout_ms > 0 ? t->w->o->timeout_ms : t->timeout_ms,
                              .max_output = t->w->max_output,
                              .tick = tick,
                              .ctx = t};
    worker__exec_result x;
    rfc3339_now(t->started_at, sizeof t->started_at);
    t->next_beat_ms = 0; /* the first tick sends a heartbeat */
    worker__exec(&spec, &x);
    free_env(env);
    free(input);
    if (x.end == WORKER__HANDED_BACK) {
        natsMsg_Nak(t->msg, NULL);
        WORKER_TASK_LOG(t, SY_LOG_INFO, "task handed back");
    } else if (x.end == WORKER__CANCELED) {
        natsMsg_Ack(t->msg, NULL); /* the engine closed the task: nothing to report */
    } else if (report_end(t, &x)) {
        natsMsg_Ack(t->msg, NULL);
    } else {
        natsMsg_NakWithDelay(t->msg, 1000, NULL);
    }
    sy_buf_cleanup(&x.out);
    sy_buf_cleanup(&x.err);
}

/* The verdict of the engine on this task, from its answer on the inbox
 * (NULL: none in time); borrowed from the static set of verdicts. */
static const char *await_verdict(worker_task *t, natsSubscription *sub)
{
    static const char *const known[] = {"run", "closed", "stale", "unknown", "duplicate"};
    for (int64_t left = t->w->claim_wait_ms, t0 = mono_ms(); left > 0;
         left = t->w->claim_wait_ms - (mono_ms() - t0)) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            return NULL;
        cJSON *a = cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
        const cJSON *id = get(a, "task_id"), *att = get(a, "attempt"), *v = get(a, "verdict");
        const char *verdict = NULL;
        for (size_t i = 0; cJSON_IsString(v) && i < sizeof known / sizeof *known; i++)
            if (strcmp(v->valuestring, known[i]) == 0)
                verdict = known[i];
        bool ours = cJSON_IsString(id) && strcmp(id->valuestring, t->task_id) == 0 &&
                    cJSON_IsNumber(att) && (long)att->valuedouble == t->attempt;
        cJSON_Delete(a);
        if (ours && verdict)
            return verdict;
    }
    return NULL;
}

/* The claim check: publishes task.started asking the engine (CLAIM_HEADER)
 * and waits for its verdict. true: run the task. Otherwise the message is
 * settled here: acked when the engine says the task must not run (its
 * run is closed, the attempt is not current, the task is unknown), handed
 * back with a delay when there is no answer in time. A redelivery's
 * task.started gets a message id of its own, so that the stream does not
 * drop it as a duplicate of the first delivery's and the engine answers
 * again; so does each re-ask within one delivery. Without an answer the
 * worker asks again itself (CLAIM_TRIES in all, the message kept in
 * progress) before it hands the message back: a verdict lost while NATS
 * restarted (core NATS, at most once) is then asked for again at once,
 * where a NAK's redelivery was seen never to come back from nats-server
 * 2.9 after its restart (bench faults nats: tasks left started). */
enum { CLAIM_TRIES = 3 };

static void claim_id(const worker_task *t, uint64_t delivered, int try, char *id, size_t cap)
{
    int n = snprintf(id, cap, "%s:%ld:started", t->task_id, t->attempt);
    if (delivered > 1 && n > 0 && (size_t)n < cap)
        n += snprintf(id + n, cap - (size_t)n, ":%llu", (unsigned long long)delivered);
    if (try > 0 && n > 0 && (size_t)n < cap)
        snprintf(id + n, cap - (size_t)n, ".%d", try);
}

static bool claim(worker_task *t)
{
    char inbox[128]; /* _INBOX. and a NUID */
    natsInbox *ib = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsInbox_Create(&ib);
    if (s == NATS_OK) {
        snprintf(inbox, sizeof inbox, "%s", (const char *)ib);
        s = natsConnection_SubscribeSync(&sub, t->w->nc, inbox);
    }
    natsInbox_Destroy(ib);
    jsMsgMetaData *md = NULL;
    uint64_t delivered = natsMsg_GetMetaData(&md, t->msg) == NATS_OK ? md->NumDelivered : 1;
    jsMsgMetaData_Destroy(md);
    const char *verdict = NULL;
    for (int try = 0; s == NATS_OK && !verdict && try < CLAIM_TRIES; try++) {
        char id[240];
        claim_id(t, delivered, try, id, sizeof id);
        if (try > 0) /* the wait is at most half of ack_wait: restart its clock */
            natsMsg_InProgress(t->msg, NULL);
        if (publish_to(t, report_new(t, "task.started"), id, inbox, 3))
            verdict = await_verdict(t, sub);
    }
    natsSubscription_Destroy(sub);
    if (verdict && strcmp(verdict, "run") == 0)
        return true;
    if (verdict && strcmp(verdict, "duplicate") != 0) {
        WORKER_TASK_LOG(t, SY_LOG_INFO, "task not run: the engine says it is over", "verdict",
                        verdict);
        natsMsg_Ack(t->msg, NULL);
        return false;
    }
    WORKER_TASK_LOG(t, SY_LOG_WARN, "no answer from the engine to task.started, handed back");
    natsMsg_NakWithDelay(t->msg, 5000, NULL);
    return false;
}

static void run_task(worker_task *t)
{
    const char *why = NULL;
    if (!parse_task(t, &why)) {
        WORKER_TASK_LOG(t, SY_LOG_WARN, "task.created refused, terminated", "reason", why,
                        "subject", natsMsg_GetSubject(t->msg));
        natsMsg_Term(t->msg, NULL);
        return;
    }
    if (t->w->claim_wait_ms <= 0) { /* --no-claim: the engine is not asked */
        if (!publish_kind(t, report_new(t, "task.started"), "started", 3)) {
            natsMsg_NakWithDelay(t->msg, 1000, NULL);
            return;
        }
    } else if (!claim(t)) {
        return;
    }
    run_command(t);
}

static void unlink_task(worker *w, worker_task *t)
{
    pthread_mutex_lock(&w->mu);
    for (worker_task **pp = &w->running; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    w->active--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *task_main(void *arg)
{
    worker_task *t = arg;
    run_task(t);
    /* everything that needs the connection goes before unlink: once the
     * last task is unlinked, worker_run may tear the connection down */
    natsMsg_Destroy(t->msg);
    cJSON_Delete(t->body);
    unlink_task(t->w, t);
    free(t);
    return NULL;
}

void worker_task_start(worker *w, natsMsg *msg)
{
    worker_task *t = calloc(1, sizeof *t);
    if (!t) {
        natsMsg_Nak(msg, NULL);
        natsMsg_Destroy(msg);
        return;
    }
    t->w = w;
    t->msg = msg;
    atomic_init(&t->cancel, false);
    pthread_mutex_lock(&w->mu);
    t->next = w->running;
    w->running = t;
    w->active++;
    pthread_mutex_unlock(&w->mu);
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &a, task_main, t) != 0) {
        natsMsg_Nak(msg, NULL);
        t->msg = NULL;
        natsMsg_Destroy(msg);
        unlink_task(w, t);
        free(t);
    }
    pthread_attr_destroy(&a);
}
