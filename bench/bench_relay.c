/* bench_relay.c: `switchyard bench relay [--workflows N] [--batch N]
 * [--nats URL] [--db CONNINFO]`: the outbox relay alone. Fills the outbox
 * through the engine (N one-task workflow starts: workflow.started and
 * task.created rows) with no relay running, then times one relay draining
 * it into a file-backed JetStream stream (each row deleted only after its
 * PubAck). Self-contained (devstack, durable) unless --nats and --db are
 * given. Last stdout line: {"bench":"relay","rows":..,"rows_per_s":..}. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "devstack.h"
#include "engine.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DEFS[] = "{\"one\":{\"task_queue\":\"relayq\",\"steps\":[{\"task\":\"t\"}]}}";

typedef struct relay_args {
    long workflows;
    size_t batch;
    const char *nats, *db;
} relay_args;

static const cliopt_opt RELAY_OPTS[] = {
    {.name = "--workflows", .kind = CLIOPT_INT, CLIOPT_FIELD(relay_args, workflows), .min = 1,
     .max = INT64_MAX, .arg = "N",
     .help = "workflows started to fill the outbox (default 20000)"},
    {.name = "--batch", .kind = CLIOPT_INT, CLIOPT_FIELD(relay_args, batch), .min = 0,
     .max = INT64_MAX, .arg = "N", .help = "the relay's rows per round (0: its default)"},
    {.name = "--nats", .kind = CLIOPT_STRING, CLIOPT_FIELD(relay_args, nats), .arg = "URL",
     .help = "NATS (default: a throwaway one)"},
    {.name = "--db", .kind = CLIOPT_STRING, CLIOPT_FIELD(relay_args, db), .arg = "CONNINFO",
     .help = "Postgres (default: a throwaway durable one)"},
};

static const cliopt_cmd RELAY_CMD = {
    .name = "bench relay",
    .synopsis = "switchyard bench relay [--workflows N] [--batch N] [--nats URL] [--db CONNINFO]",
    CLIOPT_TABLE(RELAY_OPTS),
};

sy_status bench_relay_parse(int argc, char **argv, bool *help, sy_error *err)
{
    relay_args a = {.workflows = 20000};
    return cliopt_parse(&RELAY_CMD, argc, argv, &a, help, err);
}

/* A file stream over "relaybench.>" (recreated: empty). */
static sy_status make_stream(const char *url, sy_error *err)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK) {
        js_DeleteStream(js, "RELAYBENCH", NULL, NULL);
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        const char *subjects[] = {"relaybench.>"};
        sc.Name = "RELAYBENCH";
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        jsStreamInfo *si = NULL;
        s = js_AddStream(&si, js, &sc, NULL, NULL);
        jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? SY_OK
                        : sy_error_set(err, SY_NATS, "nats", NULL, "could not create the stream: %s",
                                       natsStatus_GetText(s));
}

static sy_status fill(engine *eng, const char *db, long n, sy_error *err)
{
    engine_session *s = NULL;
    engine_batch *b = engine_batch_new();
    char tag[24];
    snprintf(tag, sizeof tag, "%llx", (unsigned long long)sy_clock_now_ms(NULL));
    sy_status st = engine_session_open(eng, db, true, &s, err);
    for (long i = 0; st == SY_OK && i < n;) {
        engine_batch_reset(b);
        for (int k = 0; k < 512 && i < n; k++, i++) {
            char wid[64];
            snprintf(wid, sizeof wid, "rb-%s-%ld", tag, i);
            engine_start_req req = {.workflow_type = "one", .workflow_id = wid};
            engine_batch_start(b, engine_batch_event(b, NULL), &req);
        }
        st = engine_begin(s, err);
        if (st == SY_OK)
            st = engine_batch_apply(s, b, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
    }
    engine_batch_free(b);
    engine_session_close(s);
    return st;
}

static sy_status drain(engine *eng, const relay_args *a, size_t *rows, double *secs, sy_error *err)
{
    engine_relay *r = NULL;
    engine_relay_opts o = {.conninfo = a->db, .nats_url = a->nats, .batch = a->batch};
    sy_status st = engine_relay_new(eng, &o, &r, err);
    int64_t t0 = sy_mono_ns();
    size_t n = 0;
    *rows = 0;
    do {
        if (st == SY_OK)
            st = engine_relay_run_once(r, &n, err);
        *rows += n;
    } while (st == SY_OK && n > 0);
    *secs = (double)(sy_mono_ns() - t0) / 1e9;
    engine_relay_free(r);
    return st;
}

static sy_status run(relay_args *a, sy_error *err)
{
    cJSON *defs = cJSON_Parse(DEFS);
    engine_opts eo = {.workflows = defs, .subject_prefix = "relaybench"};
    engine *eng = NULL;
    sy_status st = engine_new(&eo, NULL, &eng, err);
    cJSON_Delete(defs);
    if (st == SY_OK)
        st = make_stream(a->nats, err);
    int64_t t0 = sy_mono_ns();
    if (st == SY_OK)
        st = fill(eng, a->db, a->workflows, err);
    double fill_s = (double)(sy_mono_ns() - t0) / 1e9, secs = 0;
    size_t rows = 0;
    if (st == SY_OK)
        st = drain(eng, a, &rows, &secs, err);
    engine_free(eng);
    if (st != SY_OK)
        return st;
    printf("relay: %zu outbox rows (from %ld workflow starts, filled in %.2f s) published and "
           "deleted in %.2f s: %.0f rows/s\n",
           rows, a->workflows, fill_s, secs, (double)rows / secs);
    printf("{\"bench\":\"relay\",\"rows\":%zu,\"seconds\":%.3f,\"rows_per_s\":%.1f,"
           "\"rss_mib\":%.1f}\n",
           rows, secs, (double)rows / secs, bench_rss_mib());
    return SY_OK;
}

int bench_relay(int argc, char **argv)
{
    relay_args a = {.workflows = 20000};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&RELAY_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&RELAY_CMD, pst, &perr);
    sy_error err;
    sy_error_clear(&err);
    devstack *ds = NULL;
    if (!a.nats || !a.db) {
        devstack_opts o = {.durable = true, .quiet = true};
        if (devstack_start(&o, &ds, &err) != SY_OK) {
            fprintf(stderr, "bench relay: %s\n", err.message);
            return sy_status_exit_code(err.status);
        }
        a.nats = a.nats ? a.nats : devstack_nats_url(ds);
        a.db = a.db ? a.db : devstack_pg_conninfo(ds);
    }
    sy_status st = run(&a, &err);
    if (st != SY_OK)
        fprintf(stderr, "bench relay: %s\n", err.message);
    devstack_stop(ds);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
