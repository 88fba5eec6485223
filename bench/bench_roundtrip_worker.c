/* bench_roundtrip_worker.c: the native no-op worker inside `switchyard bench
 * roundtrip` (bench_roundtrip.h). It speaks the worker protocol
 * (docs/worker-protocol.md) like any worker, only batched: a fetched batch
 * of task.created gets its task.completed reports published asynchronously,
 * and the task messages are acked only once every report of the batch has
 * its PubAck. task.started is optional in the protocol and skipped here. */
#include "jsfetch.h"
#include "bench_roundtrip.h"
#include "clock.h"
#include "timefmt.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One lane: a connection, a pull subscription on the shared durable and a
 * thread; a lane waits for its batch's PubAcks while the other lanes fetch
 * and publish (the peers run 24-100 jobs at once). */
typedef struct rt_lane {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    char report_subject[128];
    int batch;
    bool started; /* task.started before task.completed, as the clients */
    char started_at[SY_TIME_RFC3339_MAX]; /* when the batch's task.started went out */
    atomic_bool stop;
    atomic_int failed;     /* async publish failures in the current batch */
    _Atomic long reported; /* reports whose PubAck came back */
    pthread_t thread;
    bool running; /* thread created */
} rt_lane;

struct rt_worker {
    int n;
    rt_lane *lanes;
};

static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js, (void)pae;
    atomic_fetch_add(&((rt_lane *)closure)->failed, 1);
}

/* The consumer every measured worker binds (bench_roundtrip.h). */
static void consumer_config(jsConsumerConfig *cc, char *subject, size_t n, const char *durable,
                            const char *queue)
{
    snprintf(subject, n, "sy.task.created.%s", queue);
    jsConsumerConfig_Init(cc);
    cc->Durable = durable;
    cc->FilterSubject = subject;
    cc->AckPolicy = js_AckExplicit;
    cc->MaxAckPending = 50000;
    cc->DeliverPolicy = js_DeliverAll;
}

/* Publishes the report of kind "started" or "completed" for one
 * task.created; false when it is not a task. */
static bool report(rt_lane *w, natsMsg *m, const char *kind)
{
    cJSON *j = cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "payload");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "task_id");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(p, "attempt");
    bool ok = cJSON_IsString(id) && cJSON_IsNumber(att);
    if (ok) {
        char body[512], msg_id[256];
        bool done = strcmp(kind, "completed") == 0;
        int n = snprintf(body, sizeof body,
                         "{\"type\":\"task.%s\",\"task_id\":\"%s\",\"attempt\":%d%s}", kind,
                         id->valuestring, att->valueint, done ? ",\"result\":{\"ok\":true}" : "");
        snprintf(msg_id, sizeof msg_id, "%s:%d:%s", id->valuestring, att->valueint, kind);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = msg_id;
        natsMsg *rm = NULL;
        ok = n < (int)sizeof body &&
             natsMsg_Create(&rm, w->report_subject, NULL, body, n) == NATS_OK;
        /* after a task.started, the completion says so (docs/worker-protocol.md) */
        if (ok && done && w->started)
            ok = natsMsgHeader_Set(rm, "Sy-Started-At", w->started_at) == NATS_OK;
        ok = ok && js_PublishMsgAsync(w->js, &rm, &po) == NATS_OK;
        natsMsg_Destroy(rm); /* NULL once the publish took it */
    }
    cJSON_Delete(j);
    return ok;
}

/* One report of this kind for every task of the batch; true when each
 * has its PubAck. */
static bool report_batch(rt_lane *w, natsMsgList *list, const char *kind)
{
    for (int i = 0; i < list->Count; i++)
        if (!report(w, list->Msgs[i], kind))
            atomic_fetch_add(&w->failed, 1);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    return js_PublishAsyncComplete(w->js, &po) == NATS_OK && atomic_load(&w->failed) == 0;
}

static void handle_batch(rt_lane *w, natsMsgList *list)
{
    atomic_store(&w->failed, 0);
    sy_time_format_rfc3339(sy_clock_now_ms(NULL), w->started_at);
    bool acked =
        (!w->started || report_batch(w, list, "started")) && report_batch(w, list, "completed");
    if (acked)
        atomic_fetch_add(&w->reported, list->Count);
    for (int i = 0; i < list->Count; i++) {
        if (acked)
            natsMsg_Ack(list->Msgs[i], NULL);
        else
            natsMsg_Nak(list->Msgs[i], NULL); /* re-reported; Nats-Msg-Id dedups */
    }
}

static void *worker_main(void *arg)
{
    rt_lane *w = arg;
    while (!atomic_load(&w->stop)) {
        natsMsgList list = {0};
        natsStatus s = engine_js_fetch(&list, w->sub, w->batch, 200, NULL);
        if (s == NATS_OK)
            handle_batch(w, &list);
        natsMsgList_Destroy(&list);
    }
    return NULL;
}

static sy_status setup(rt_lane *w, const char *url, const char *queue, sy_error *err)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.StallWait = 10000; /* wait for PubAcks under load, never fail a batch */
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = w;
    natsStatus s = natsConnection_ConnectTo(&w->nc, url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&w->js, w->nc, &jo);
    char subject[128], durable[128];
    snprintf(subject, sizeof subject, "sy.task.created.%s", queue);
    snprintf(durable, sizeof durable, "sy-worker-%s", queue);
    snprintf(w->report_subject, sizeof w->report_subject, "sy.report.%s", queue);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    consumer_config(&so.Config, subject, sizeof subject, durable, queue);
    so.Config.Durable = NULL; /* named by js_PullSubscribe's durable */
    if (s == NATS_OK)
        s = js_PullSubscribe(&w->sub, w->js, subject, durable, NULL, &so, NULL);
    if (s != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "bench worker: %s", natsStatus_GetText(s));
    return SY_OK;
}

static void lane_stop(rt_lane *w)
{
    atomic_store(&w->stop, true);
    if (w->running)
        pthread_join(w->thread, NULL);
    natsSubscription_Destroy(w->sub);
    jsCtx_Destroy(w->js);
    natsConnection_Destroy(w->nc);
}

sy_status rt_worker_start(const char *nats_url, const char *queue, int batch, int lanes,
                          bool started, rt_worker **out, sy_error *err)
{
    *out = NULL;
    rt_worker *w = calloc(1, sizeof *w);
    rt_lane *l = calloc((size_t)lanes, sizeof *l);
    if (!w || !l) {
        free(w);
        free(l);
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    }
    w->lanes = l;
    sy_status st = SY_OK;
    for (; w->n < lanes && st == SY_OK; w->n++) {
        rt_lane *ln = &l[w->n];
        ln->batch = batch;
        ln->started = started;
        atomic_init(&ln->stop, false);
        st = setup(ln, nats_url, queue, err);
        ln->running = st == SY_OK && pthread_create(&ln->thread, NULL, worker_main, ln) == 0;
        if (st == SY_OK && !ln->running)
            st = sy_error_set(err, SY_INTERNAL, NULL, NULL, "could not start the bench worker");
    }
    if (st != SY_OK) {
        rt_worker_stop(w);
        return st;
    }
    *out = w;
    return SY_OK;
}

long rt_worker_reported(const rt_worker *w)
{
    long n = 0;
    for (int i = 0; i < w->n; i++)
        n += atomic_load(&w->lanes[i].reported);
    return n;
}

void rt_worker_stop(rt_worker *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        lane_stop(&w->lanes[i]);
    free(w->lanes);
    free(w);
}

sy_status rt_worker_consumer(const char *nats_url, const char *queue, sy_error *err)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    char subject[128], durable[128];
    snprintf(durable, sizeof durable, "sy-worker-%s", queue);
    jsConsumerConfig cc;
    consumer_config(&cc, subject, sizeof subject, durable, queue);
    natsStatus s = natsConnection_ConnectTo(&nc, nats_url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    if (s == NATS_OK && js_GetConsumerInfo(&ci, js, "SY", durable, NULL, &jerr) != NATS_OK)
        s = js_AddConsumer(&ci, js, "SY", &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (s != NATS_OK)
        return sy_error_set(err, SY_NATS, "nats", NULL, "could not create consumer %s: %s (%d)",
                            durable, natsStatus_GetText(s), (int)jerr);
    return SY_OK;
}

static void exec_cmd(const char *cmd, const char *nats_url, const char *queue)
{
    setpgid(0, 0);
    dup2(2, 1); /* the bench's stdout ends with its JSON line */
    setenv("SY_NATS_URL", nats_url, 1);
    setenv("SY_QUEUE", queue, 1);
    setenv("SY_PREFIX", "sy", 1);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
}

/* true once the queue's consumer has a pull request waiting (the worker
 * is up), false when the command ended or a minute passed. */
static bool await_pull(jsCtx *js, const char *queue, int pid)
{
    char durable[128];
    snprintf(durable, sizeof durable, "sy-worker-%s", queue);
    for (int i = 0; i < 600; i++) {
        jsConsumerInfo *ci = NULL;
        bool up =
            js_GetConsumerInfo(&ci, js, "SY", durable, NULL, NULL) == NATS_OK && ci->NumWaiting > 0;
        jsConsumerInfo_Destroy(ci);
        if (up)
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return false;
        usleep(100 * 1000);
    }
    return false;
}

sy_status rt_worker_cmd_start(const char *cmd, const char *nats_url, const char *queue, int *pid,
                              sy_error *err)
{
    *pid = 0;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, nats_url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    pid_t p = s == NATS_OK ? fork() : -1;
    if (p == 0)
        exec_cmd(cmd, nats_url, queue);
    bool up = p > 0 && await_pull(js, queue, p);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (!up) {
        rt_worker_cmd_stop(p);
        return sy_error_set(err, SY_INTERNAL, NULL, NULL,
                            "the worker command did not pull within a minute: %s", cmd);
    }
    *pid = p;
    return SY_OK;
}

void rt_worker_cmd_stop(int pid)
{
    if (pid <= 0)
        return;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(100 * 1000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
