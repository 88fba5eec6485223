/* router.c: the service's setup and lifecycle (router.h): rules
 * generations and their atomic swap, the NATS connection, the stream and
 * the durable pull consumer, the pipeline threads, drain on stop. The batch
 * loop itself is in pipeline.c. */
#include "router_int.h"
#include "order.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SY_VERSION
#define SY_VERSION "dev"
#endif

/* ---- rules generations ------------------------------------------------------ */

static void gen_free(router_gen *g)
{
    if (!g)
        return;
    engine_free(g->eng);
    rules_set_free(g->rules);
    free(g);
}

void router__gen_release(router_gen *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        gen_free(g);
}

router_gen *router__gen_acquire(struct router *r)
{
    pthread_mutex_lock(&r->gen_mu);
    router_gen *g = r->gen;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&r->gen_mu);
    return g;
}

/* Loads the rules file and builds an engine on it. Touches no live state. */
static sy_status gen_load(struct router *r, router_gen **out, sy_error *err)
{
    *out = NULL;
    router_gen *g = calloc(1, sizeof *g);
    if (!g)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    rules_load_opts lo = {.unmatched_dead_letter = r->cfg->unmatched_dead_letter == 1};
    rules_diags diags = {0};
    sy_status st = rules_load(r->cfg->rules_path, &lo, &g->rules, &diags, err);
    for (size_t i = 0; st != SY_OK && i < diags.len; i++)
        SY_LOG(r->log, SY_LOG_ERROR, "rules error", "error", diags.lines[i]);
    rules_diags_cleanup(&diags);
    if (st == SY_OK) {
        engine_opts eo = {.schema = r->cfg->pg_schema,
                          .namespace_ = r->cfg->engine_namespace,
                          .max_input_bytes = (size_t)r->cfg->max_input_bytes,
                          .subject_prefix = r->cfg->engine_subject_prefix,
                          .state_cache = r->cfg->state_cache ? r->cfg->state_cache : -1,
                          .totals = r->metrics.engine,
                          .log = r->log};
        st = engine_new(&eo, g->rules, &g->eng, err);
    }
    if (st != SY_OK) {
        gen_free(g);
        return st;
    }
    snprintf(g->hash, sizeof g->hash, "%s", rules_set_hash(g->rules));
    atomic_init(&g->refs, 1); /* the router's own reference */
    *out = g;
    return SY_OK;
}

sy_status router_reload(router *r, sy_error *err)
{
    router_gen *g = NULL;
    sy_status st = gen_load(r, &g, err);
    if (st != SY_OK) {
        atomic_fetch_add(&r->metrics.reload_failures, 1);
        SY_LOG(r->log, SY_LOG_ERROR, "rules reload failed; keeping the loaded set", "path",
               r->cfg->rules_path, "error", err ? err->message : NULL);
        return st;
    }
    pthread_mutex_lock(&r->gen_mu);
    router_gen *old = r->gen;
    r->gen = g;
    pthread_mutex_unlock(&r->gen_mu);
    router__gen_release(old);
    atomic_fetch_add(&r->metrics.reloads, 1);
    SY_LOG(r->log, SY_LOG_INFO, "rules reloaded", "path", r->cfg->rules_path, "hash", g->hash);
    return SY_OK;
}

/* ---- construction ------------------------------------------------------------- */

sy_status router__envelope_load(const router_config *c, envelope_schemas **schemas,
                                envelope_keyring **keyring, envelope_opts *opts, sy_error *err)
{
    sy_status st = SY_OK;
    if (c->schemas_dir)
        st = envelope_schemas_load(c->schemas_dir, schemas, err);
    if (st == SY_OK && c->keyring)
        st = envelope_keyring_load(c->keyring, keyring, err);
    *opts = (envelope_opts){.max_bytes = (size_t)c->max_event_bytes,
                            .schemas = *schemas,
                            .require_schema = c->require_schema,
                            .keyring = *keyring,
                            .require_signature = c->require_signature,
                            .max_clock_skew_ms = c->max_clock_skew_ms};
    return st;
}

static sy_status load_envelope_config(router *r, sy_error *err)
{
    return router__envelope_load(r->cfg, &r->schemas, &r->keyring, &r->env_opts, err);
}

sy_status router_new(const router_config *cfg, const sy_log *log, router **out, sy_error *err)
{
    *out = NULL;
    router *r = calloc(1, sizeof *r);
    if (!r)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    r->cfg = cfg;
    r->log = log;
    router_metrics_init(&r->metrics);
    pthread_mutex_init(&r->gen_mu, NULL);
    atomic_init(&r->stopping, false);
    atomic_init(&r->started, false);
    atomic_init(&r->schema_ready, !cfg->pg_migrate);
    atomic_init(&r->nhealth, 0);
    r->recent = router_recent_new(); /* NULL: the Events page stays empty */
    sy_status st = router_config_pg_conninfo(cfg, &r->conninfo, err);
    if (st == SY_OK)
        st = load_envelope_config(r, err);
    if (st == SY_OK)
        st = gen_load(r, &r->gen, err);
    if (st != SY_OK) {
        router_free(r);
        return st;
    }
    SY_LOG(log, SY_LOG_INFO, "rules loaded", "path", cfg->rules_path, "hash", r->gen->hash);
    *out = r;
    return SY_OK;
}

/* ---- NATS ------------------------------------------------------------------------ */

static sy_status nats_fail(natsStatus s, const char *what, sy_error *err)
{
    sy_status st = (s == NATS_NO_SERVER || s == NATS_CONNECTION_CLOSED || s == NATS_TIMEOUT ||
                    s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED)
                       ? SY_NATS_DOWN
                       : SY_NATS;
    return sy_error_set(err, st, "nats", NULL, "%s: %s", what, natsStatus_GetText(s));
}

/* Whether a failed connect was the server refusing our credentials: a
 * configuration error that no retry fixes, said at once (a connection that
 * retries would turn it into an endless "NATS unreachable"). */
static bool credentials_refused(natsStatus s)
{
    const char *txt = nats_GetLastError(NULL);
    return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
           (txt && (strcasestr(txt, "authorization") || strcasestr(txt, "authentication")));
}

static sy_status nats_connect(router *r, sy_error *err)
{
    natsOptions *o = router_nats_options(r->cfg, err);
    if (!o)
        return err->status;
    natsStatus s = natsConnection_Connect(&r->nc, o); /* one plain attempt first */
    if (s != NATS_OK && credentials_refused(s)) {
        const char *txt = nats_GetLastError(NULL);
        natsOptions_Destroy(o);
        return sy_error_set(err, SY_CONFIG, "nats_auth", NULL,
                            "NATS refused the configured credentials: %s",
                            txt && *txt ? txt : natsStatus_GetText(s));
    }
    if (s != NATS_OK) { /* unreachable: keep trying in the background */
        s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
        if (s == NATS_OK)
            s = natsConnection_Connect(&r->nc, o);
    }
    if (s == NATS_NOT_YET_CONNECTED)
        s = NATS_OK; /* connects in the background; fetches fail until then */
    if (s == NATS_OK)
        s = natsConnection_JetStream(&r->js, r->nc, NULL);
    natsOptions_Destroy(o);
    return s == NATS_OK ? SY_OK : nats_fail(s, "could not connect to NATS", err);
}

/* ---- stream and durable consumer ------------------------------------------------- */

/* Ensures stream 'name' over 'subjects' exists (creating it when allowed). */
static sy_status ensure_stream(router *r, const char *name, const router_strlist *subjects,
                               sy_error *err)
{
    const router_config *c = r->cfg;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, r->js, name, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK)
        return SY_OK;
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
        return nats_fail(s, "could not look up the stream", err);
    if (!c->stream_create)
        return sy_error_set(err, SY_CONFIG, "nats", "stream.name",
                            "stream \"%s\" does not exist and stream.create is false", name);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = (const char **)subjects->items;
    sc.SubjectsLen = (int)subjects->len;
    sc.Storage = c->stream_storage == ROUTER_STORAGE_MEMORY ? js_MemoryStorage : js_FileStorage;
    sc.MaxAge = c->stream_max_age_ms * 1000000;
    sc.Duplicates = c->stream_duplicate_window_ms * 1000000;
    s = js_AddStream(&si, r->js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK || jerr == JSStreamNameExistErr) {
        SY_LOG(r->log, SY_LOG_INFO, "stream created", "stream", name);
        return SY_OK;
    }
    return nats_fail(s, "could not create the stream", err);
}

static sy_status ensure_consumer(router *r, sy_error *err)
{
    const router_config *c = r->cfg;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, r->js, c->stream_name, c->consumer_name, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s == NATS_OK)
        return SY_OK; /* pre-created (perhaps by an operator with more rights): use it */
    if (s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr)
        return nats_fail(s, "could not look up the consumer", err);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = c->consumer_name;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = c->ack_wait_ms * 1000000;
    cc.MaxDeliver = c->max_deliver;
    cc.MaxAckPending = c->max_ack_pending;
    cc.MaxWaiting = 512;
    int64_t backoff[64];
    if (c->backoff.len > 0 && c->backoff.len <= 64) {
        for (size_t i = 0; i < c->backoff.len; i++)
            backoff[i] = c->backoff.items[i] * 1000000;
        cc.BackOff = backoff;
        cc.BackOffLen = (int)c->backoff.len;
    }
    s = js_AddConsumer(&ci, r->js, c->stream_name, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK)
        return nats_fail(s, "could not create the durable consumer", err);
    SY_LOG(r->log, SY_LOG_INFO, "durable consumer created", "stream", c->stream_name, "consumer",
           c->consumer_name);
    return SY_OK;
}

/* ---- lifecycle ------------------------------------------------------------------- */

void router__sleep(struct router *r, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&r->stopping); slept += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Ensures the stream and consumer, retrying while NATS is unreachable. */
static sy_status ensure_jetstream(router *r, sy_error *err)
{
    sy_status st = SY_NATS_DOWN;
    for (int attempt = 0; !atomic_load(&r->stopping); attempt++) {
        st = ensure_stream(r, r->cfg->stream_name, &r->cfg->stream_subjects, err);
        if (st == SY_OK && r->cfg->outcomes_stream && r->cfg->outcomes_subjects.len > 0)
            st = ensure_stream(r, r->cfg->outcomes_stream, &r->cfg->outcomes_subjects, err);
        if (st == SY_OK)
            st = ensure_consumer(r, err);
        if (st == SY_NATS) {
            /* e.g. a service account without rights on $JS.API.STREAM/CONSUMER:
             * bind to what an operator pre-created; binding fails loudly if
             * it does not exist */
            SY_LOG(r->log, SY_LOG_WARN, "could not verify or create the stream/consumer; "
                   "assuming they were pre-created", "error", err->message);
            return SY_OK;
        }
        if (st != SY_NATS_DOWN || attempt >= 120)
            break;
        if (attempt == 0)
            SY_LOG(r->log, SY_LOG_WARN, "NATS unreachable; retrying", "error", err->message);
        router__sleep(r, 500);
    }
    return st;
}

sy_status router_start(router *r, sy_error *err)
{
    sy_error local = {0};
    if (!err)
        err = &local;
    sy_status st = nats_connect(r, err);
    if (st == SY_OK)
        st = ensure_jetstream(r, err);
    if (st != SY_OK)
        return st;
    r->npipes = (size_t)r->cfg->pipelines;
    r->pipes = calloc(r->npipes, sizeof *r->pipes);
    if (!r->pipes)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    for (size_t i = 0; i < r->npipes; i++) {
        router_pipeline *p = &r->pipes[i];
        p->r = r;
        p->index = (int)i;
        atomic_init(&p->db_ok, false);
        p->batch = engine_batch_new();
        p->rec = r->recent ? calloc((size_t)r->cfg->batch_size, sizeof *p->rec) : NULL;
        p->order = r->cfg->order ? router_order_new(r->cfg->stream_name, r->cfg->consumer_name)
                                 : NULL;
        if (!p->batch || (r->cfg->order && !p->order) || pthread_create(&p->thread, NULL, router__pipeline_main, p) != 0)
            return sy_error_set(err, SY_NOMEM, NULL, NULL, "could not start pipeline %zu", i);
        p->started = true;
    }
    atomic_store(&r->started, true);
    SY_LOG(r->log, SY_LOG_INFO, "router started", "stream", r->cfg->stream_name, "consumer",
           r->cfg->consumer_name, "version", SY_VERSION);
    return SY_OK;
}

void router_stop(router *r)
{
    if (!r)
        return;
    atomic_store(&r->stopping, true);
    for (size_t i = 0; r->pipes && i < r->npipes; i++) {
        router_pipeline *p = &r->pipes[i];
        if (p->started)
            pthread_join(p->thread, NULL);
        p->started = false;
        engine_batch_free(p->batch);
        sy_buf_cleanup(&p->routes);
        p->batch = NULL;
        free(p->rec);
        p->rec = NULL;
        router_order_free(p->order);
        p->order = NULL;
        free(p->held);
        p->held = NULL;
        free(p->round);
        p->round = NULL;
    }
    if (atomic_exchange(&r->started, false))
        SY_LOG(r->log, SY_LOG_INFO, "router drained");
}

void router_free(router *r)
{
    if (!r)
        return;
    router_stop(r);
    free(r->pipes);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    router__gen_release(r->gen);
    envelope_schemas_free(r->schemas);
    envelope_keyring_free(r->keyring);
    if (r->conninfo) {
        explicit_bzero(r->conninfo, strlen(r->conninfo));
        free(r->conninfo);
    }
    pthread_mutex_destroy(&r->gen_mu);
    router_recent_free(r->recent);
    free(r);
}

int router_health_slot(router *r, const char *name)
{
    pthread_mutex_lock(&r->gen_mu);
    int i = atomic_load(&r->nhealth);
    if (i < ROUTER_HEALTH_SLOTS) {
        r->health[i].name = name;
        atomic_init(&r->health[i].db_ok, true);
        atomic_store(&r->nhealth, i + 1); /* published after it is filled */
    } else {
        i = -1;
    }
    pthread_mutex_unlock(&r->gen_mu);
    return i;
}

void router_health_set(router *r, int slot, bool db_ok)
{
    if (slot < 0 || slot >= ROUTER_HEALTH_SLOTS)
        return;
    atomic_store(&r->health[slot].db_ok, db_ok); /* the loop logs its own failure */
}

bool router_ready(const router *r, char *why, size_t len)
{
    const char *reason = NULL, *loop = NULL;
    if (!atomic_load(&r->started)) /* also guards pipes[] against router_start */
        reason = "not started";
    else if (natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED)
        reason = "NATS not connected";
    for (size_t i = 0; !reason && i < r->npipes; i++)
        if (!atomic_load(&r->pipes[i].db_ok))
            reason = "Postgres not connected";
    for (int i = 0, n = atomic_load(&r->nhealth); !reason && i < n; i++)
        if (!atomic_load(&r->health[i].db_ok)) {
            reason = "Postgres not connected";
            loop = r->health[i].name;
        }
    if (why && len && loop)
        snprintf(why, len, "%s (%s)", reason, loop);
    else if (why && len)
        snprintf(why, len, "%s", reason ? reason : "ok");
    return reason == NULL;
}

bool router_schema_ready(const router *r)
{
    return atomic_load(&r->schema_ready);
}

router_metrics *router_get_metrics(router *r)
{
    return &r->metrics;
}

void router_rules_hash(router *r, char *buf, size_t len)
{
    pthread_mutex_lock(&r->gen_mu);
    snprintf(buf, len, "%s", r->gen ? r->gen->hash : "");
    pthread_mutex_unlock(&r->gen_mu);
}

const char *router_conninfo(const router *r)
{
    return r->conninfo;
}
