/* worker.c: the reference worker's consumer loop (worker.h).
 *
 * The caller's thread fetches task.created messages from the durable pull
 * consumer whenever a slot is free and starts one thread per task
 * (worker_task.c runs it). A core-NATS subscription on the engine's cancel
 * outcome events marks running tasks canceled; their thread kills the
 * command's process group on its next tick. On stop the fetch loop ends,
 * running tasks get the grace period, then the rest are handed back (nak). */
#include "jsfetch.h"
#include "worker.h"
#include "worker_task.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const cancel_subjects[] = {"workflow.canceled.>", "workflow.terminated.>",
                                              "task.canceled.>"};
#define NCANCEL (sizeof cancel_subjects / sizeof cancel_subjects[0])

bool worker_queue_name_ok(const char *q)
{
    size_t n = q ? strlen(q) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= 'A' && q[i] <= 'Z') ||
              (q[i] >= '0' && q[i] <= '9') || q[i] == '_' || q[i] == '-'))
            return false;
    return true;
}

sy_status worker_parse_exit_codes(const char *s, int *out, size_t *n, sy_error *err)
{
    *n = 0;
    while (s && *s) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 255 || (*end != ',' && *end != '\0'))
            return sy_error_set(err, SY_USAGE, "bad_exit_codes", "--non-retryable-exit-codes",
                                "could not parse \"%s\": expected exit codes 0-255 separated "
                                "by commas",
                                s);
        if (*n == WORKER_MAX_EXIT_CODES)
            return sy_error_set(err, SY_USAGE, "bad_exit_codes", "--non-retryable-exit-codes",
                                "at most %d exit codes", WORKER_MAX_EXIT_CODES);
        out[(*n)++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return SY_OK;
}

/* ---- cancel events --------------------------------------------------------- */

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_cancel(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    worker *w = closure;
    cJSON *body = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "payload");
    if (!cJSON_IsObject(p))
        p = body;
    const char *task_id = json_str(p, "task_id"), *wf = json_str(p, "workflow_id");
    const char *run_id = json_str(p, "run_id");
    pthread_mutex_lock(&w->mu);
    for (worker_task *t = w->running; t; t = t->next) {
        bool hit = task_id ? strcmp(task_id, t->task_id) == 0
                           : wf && strcmp(wf, t->workflow_id) == 0 &&
                                 (!run_id || !t->run_id[0] || strcmp(run_id, t->run_id) == 0);
        if (hit) {
            atomic_store(&t->cancel, true);
            WORKER_TASK_LOG(t, SY_LOG_INFO, "task canceled by the engine");
        }
    }
    pthread_mutex_unlock(&w->mu);
    cJSON_Delete(body);
    natsMsg_Destroy(msg);
}

/* ---- setup ----------------------------------------------------------------- */

static sy_status nats_fail(sy_error *err, sy_status st, const char *what, natsStatus s,
                           jsErrCode jerr)
{
    const char *last = nats_GetLastError(NULL);
    return sy_error_set(err, st, "nats", NULL, "could not %s: %s (jetstream error %d)", what,
                        last && *last ? last : natsStatus_GetText(s), (int)jerr);
}

static sy_status connect_nats(worker *w, sy_error *err)
{
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetURL(no, w->o->nats_url ? w->o->nats_url : "nats://127.0.0.1:4222");
    if (s == NATS_OK)
        s = natsOptions_SetName(no, w->worker_id);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, 500);
    if (s == NATS_OK)
        s = natsConnection_Connect(&w->nc, no);
    natsOptions_Destroy(no);
    if (s != NATS_OK)
        return nats_fail(err, SY_NATS_DOWN, "connect to NATS", s, 0);
    s = natsConnection_JetStream(&w->js, w->nc, NULL);
    return s == NATS_OK ? SY_OK : nats_fail(err, SY_NATS, "open a JetStream context", s, 0);
}

static sy_status subscribe(worker *w, sy_error *err)
{
    const worker_opts *o = w->o;
    char subject[256], durable[128];
    snprintf(subject, sizeof subject, "%s.task.created.%s", w->prefix, o->queue);
    snprintf(durable, sizeof durable, "%s", o->durable ? o->durable : "");
    if (!o->durable)
        snprintf(durable, sizeof durable, "sy-worker-%s", o->queue);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o->stream;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = w->ack_wait_ms * 1000000;
    so.Config.MaxAckPending = 1000;
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&w->sub, w->js, subject, durable, NULL, &so, &jerr);
    const char *last = s == NATS_OK ? NULL : nats_GetLastError(NULL);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr ||
        (last && strstr(last, "no stream matches subject"))) {
        w->sub = NULL;
        return sy_error_set(err, SY_NOT_FOUND, "no_stream", NULL,
                            "no JetStream stream holds %s yet", subject);
    }
    if (s != NATS_OK)
        return nats_fail(err, SY_NATS, "create the pull consumer", s, jerr);
    for (size_t i = 0; i < NCANCEL; i++) {
        snprintf(subject, sizeof subject, "%s.%s", w->prefix, cancel_subjects[i]);
        s = natsConnection_Subscribe(&w->cancel_sub[i], w->nc, subject, on_cancel, w);
        if (s != NATS_OK)
            return nats_fail(err, SY_NATS, "subscribe to cancel events", s, 0);
    }
    return natsConnection_Flush(w->nc) == NATS_OK
               ? SY_OK
               : sy_error_set(err, SY_NATS_DOWN, "nats", NULL, "could not flush subscriptions");
}

static void teardown(worker *w)
{
    for (size_t i = 0; i < NCANCEL; i++)
        natsSubscription_Destroy(w->cancel_sub[i]);
    natsSubscription_Destroy(w->sub);
    jsCtx_Destroy(w->js);
    natsConnection_Destroy(w->nc);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* A worker may start before the engine's stream exists (autoscaling from
 * zero, a fresh install): wait for it instead of exiting. */
static sy_status subscribe_when_ready(worker *w, const atomic_bool *stop, sy_error *err)
{
    for (int64_t waited = 0;; waited += 500) {
        sy_status st = subscribe(w, err);
        if (st != SY_NOT_FOUND || atomic_load(stop))
            return st == SY_NOT_FOUND ? SY_OK : st;
        if (waited % 30000 == 0)
            SY_LOG(w->o->log, SY_LOG_WARN, "waiting for the stream", "message", err->message);
        usleep(500 * 1000);
    }
}

/* ---- the loop -------------------------------------------------------------- */

static void wait_cv(worker *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

/* Waits until a slot is free (or we stop); returns the number of free slots. */
static int free_slots(worker *w, const atomic_bool *stop)
{
    pthread_mutex_lock(&w->mu);
    while (w->active >= w->concurrency && !atomic_load(stop))
        wait_cv(w, 200);
    int n = w->concurrency - w->active;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void dispatch(worker *w, natsMsgList *list, const atomic_bool *stop)
{
    for (int i = 0; i < list->Count; i++) {
        natsMsg *m = list->Msgs[i];
        list->Msgs[i] = NULL;
        if (atomic_load(stop)) {
            natsMsg_Nak(m, NULL); /* fetched as we stopped: give it back at once */
            natsMsg_Destroy(m);
        } else {
            worker_task_start(w, m);
        }
    }
}

static void fetch_loop(worker *w, const atomic_bool *stop)
{
    while (!atomic_load(stop)) {
        int n = free_slots(w, stop);
        if (n <= 0)
            continue;
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s = engine_js_fetch(&list, w->sub, n, 1000, &jerr);
        if (s == NATS_OK)
            dispatch(w, &list, stop);
        else if (s != NATS_TIMEOUT) {
            SY_LOG(w->o->log, SY_LOG_WARN, "fetch failed, retrying", "status",
                   natsStatus_GetText(s));
            usleep(500 * 1000);
        }
        natsMsgList_Destroy(&list);
    }
}

/* Gives running tasks the grace period, then hands the rest back. */
static void drain(worker *w)
{
    int64_t waited = 0;
    pthread_mutex_lock(&w->mu);
    if (w->active > 0)
        SY_LOG(w->o->log, SY_LOG_INFO, "stopping: waiting for running tasks");
    while (w->active > 0 && waited < w->grace_ms) {
        wait_cv(w, 100);
        waited += 100;
    }
    atomic_store(&w->handback, true);
    while (w->active > 0)
        wait_cv(w, 100);
    pthread_mutex_unlock(&w->mu);
}

static void init_worker(worker *w, const worker_opts *o)
{
    memset(w, 0, sizeof *w);
    w->o = o;
    w->prefix = o->prefix ? o->prefix : "sy";
    w->concurrency = o->concurrency > 0 ? o->concurrency : 1;
    w->ack_wait_ms = o->ack_wait_ms > 0 ? o->ack_wait_ms : 60000;
    w->grace_ms = o->grace_ms > 0 ? o->grace_ms : 30000;
    w->heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : 10000;
    w->claim_wait_ms = o->claim_wait_ms > 0 ? o->claim_wait_ms : 10000;
    if (w->claim_wait_ms > w->ack_wait_ms / 2)
        w->claim_wait_ms = w->ack_wait_ms / 2; /* the message must not be redelivered meanwhile */
    if (o->no_claim)
        w->claim_wait_ms = 0;
    w->max_output = o->max_output > 0 ? o->max_output : 1024 * 1024;
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(w->worker_id, sizeof w->worker_id, "%s:%d", host, (int)getpid());
    snprintf(w->report_subject, sizeof w->report_subject, "%s.report.%s", w->prefix, o->queue);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->handback, false);
}

sy_status worker_run(const worker_opts *opts, const atomic_bool *stop, sy_error *err)
{
    if (!worker_queue_name_ok(opts->queue))
        return sy_error_set(err, SY_USAGE, "bad_queue", "--queue",
                            "queue name must be 1-64 characters of [A-Za-z0-9_-]");
    if (!opts->argv || !opts->argv[0])
        return sy_error_set(err, SY_USAGE, "no_command", NULL, "no command given");
    worker *w = malloc(sizeof *w);
    if (!w)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    init_worker(w, opts);
    sy_status st = connect_nats(w, err);
    if (st == SY_OK)
        st = subscribe_when_ready(w, stop, err);
    if (st == SY_OK) {
        SY_LOG(opts->log, SY_LOG_INFO, "worker started", "queue", opts->queue, "worker",
               w->worker_id);
        fetch_loop(w, stop);
        drain(w);
        SY_LOG(opts->log, SY_LOG_INFO, "worker stopped", "queue", opts->queue);
    }
    teardown(w);
    free(w);
    return st;
}
