/* engine.c: the engine object (definitions by content hash), sessions (one
 * Postgres connection each), transactions, migrations and small helpers.
 *
 * Definitions come from the loaded rules (rules_set_workflows) or, for tests
 * and tools, from engine_opts.workflows. Each is stored by the sha256 of its
 * compact JSON; a run records the hash it started with and keeps using that
 * definition (loaded back from the definitions table when the rules changed). */
#include "engine_int.h"
#include "mem.h"

#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void def_cleanup(engine__def *d)
{
    free(d->type);
    cJSON_Delete(d->body);
    free(d->text);
}

static void def_init(engine__def *d, const char *type, const cJSON *body)
{
    d->type = strdup(type);
    d->body = cJSON_Duplicate(body, 1);
    d->text = cJSON_PrintUnformatted(d->body);
    d->dispatch = strstr(d->text, "\"max_in_flight\":") != NULL; /* a false hit costs a lookup */
    engine__sha256_hex(d->text, strlen(d->text), d->hash);
}

static sy_status load_defs(engine *eng, const cJSON *wfs, sy_error *err)
{
    if (!wfs)
        return SY_OK;
    if (!cJSON_IsObject(wfs))
        return sy_error_set(err, SY_CONFIG, "bad_definitions", "workflows",
                            "workflow definitions must be an object keyed by type");
    size_t n = (size_t)cJSON_GetArraySize(wfs);
    eng->defs = calloc(n ? n : 1, sizeof *eng->defs);
    const cJSON *w;
    cJSON_ArrayForEach(w, wfs)
    {
        if (!cJSON_IsObject(w) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(w, "steps")))
            return sy_error_set(err, SY_CONFIG, "bad_definitions", w->string,
                                "workflow definition has no steps array");
        def_init(&eng->defs[eng->ndefs++], w->string, w);
    }
    return SY_OK;
}

sy_status engine_new(const engine_opts *opts, const rules_set *rules, engine **out, sy_error *err)
{
    *out = NULL;
    engine_opts o = opts ? *opts : (engine_opts){0};
    engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    sy_strlcpy(eng->schema, sizeof eng->schema, o.schema ? o.schema : "switchyard");
    sy_strlcpy(eng->ns, sizeof eng->ns, o.namespace_ ? o.namespace_ : "default");
    sy_strlcpy(eng->prefix, sizeof eng->prefix, o.subject_prefix ? o.subject_prefix : "sy");
    eng->max_input = o.max_input_bytes ? o.max_input_bytes : 256 * 1024;
    eng->inbox_retention_ms = o.inbox_retention_ms ? o.inbox_retention_ms : 7LL * 86400000;
    eng->history_retention_ms = o.history_retention_ms ? o.history_retention_ms : 30LL * 86400000;
    eng->log = o.log;
    eng->rules = rules;
    if (o.clock)
        eng->clock = *o.clock;
    else
        sy_clock_init(&eng->clock);
    const cJSON *wfs = o.workflows;
    if (!wfs && rules)
        wfs = rules_set_workflows(rules);
    sy_status st = load_defs(eng, wfs, err);
    if (st != SY_OK) {
        engine_free(eng);
        return st;
    }
    eng->totals = o.totals;
    eng->states = engine__states_new(o.state_cache < 0 ? 0
                                     : o.state_cache   ? (size_t)o.state_cache
                                                       : 4096);
    *out = eng;
    return SY_OK;
}

void engine_free(engine *eng)
{
    if (!eng)
        return;
    for (size_t i = 0; i < eng->ndefs; i++)
        def_cleanup(&eng->defs[i]);
    free(eng->defs);
    engine__states_free(eng->states);
    free(eng);
}

const engine__def *engine__def_by_type(const engine *eng, const char *type)
{
    for (size_t i = 0; i < eng->ndefs; i++)
        if (strcmp(eng->defs[i].type, type) == 0)
            return &eng->defs[i];
    return NULL;
}

sy_status engine__def_by_hash(engine_session *s, const char *hash, const engine__def **out,
                              sy_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < s->eng->ndefs; i++)
        if (strcmp(s->eng->defs[i].hash, hash) == 0)
            return (*out = &s->eng->defs[i]), SY_OK;
    for (size_t i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i]->hash, hash) == 0)
            return (*out = s->cache[i]), SY_OK;
    const char *p[] = {hash};
    PGresult *r = NULL;
    sy_status st = engine__exec(
        s, "SELECT workflow_type, body::text FROM definitions WHERE hash = $1", 1, p, &r, err);
    if (st != SY_OK)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return sy_error_set(err, SY_INTERNAL, "unknown_definition", NULL,
                            "workflow definition %s is missing from the database", hash);
    }
    cJSON *body = cJSON_Parse(PQgetvalue(r, 0, 1));
    if (s->ncache == s->capcache) {
        s->capcache = s->capcache ? 2 * s->capcache : 8;
        s->cache = realloc(s->cache, s->capcache * sizeof *s->cache);
    }
    engine__def *d = calloc(1, sizeof *d); /* by pointer: runs keep pointing at it */
    s->cache[s->ncache++] = d;
    def_init(d, PQgetvalue(r, 0, 0), body);
    sy_strlcpy(d->hash, sizeof d->hash, hash); /* keep the stored hash verbatim */
    cJSON_Delete(body);
    PQclear(r);
    *out = d;
    return SY_OK;
}

/* ---- results and errors ----------------------------------------------------- */

sy_status engine__result_status(PGconn *c, PGresult *r, const char *what, sy_error *err)
{
    ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
        return SY_OK;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    char clean[400];
    sy_strlcpy(clean, sizeof clean, msg && *msg ? msg : PQerrorMessage(c));
    clean[strcspn(clean, "\n")] = 0;
    sy_status st = SY_DB;
    /* a lost connection or a server shutting down: the database is away;
     * serialization failures, deadlocks, lock timeouts and concurrent
     * creation of the same key (two sessions starting one new workflow ID):
     * a transient conflict. Both are worth retrying the whole transaction,
     * but only the first should tell an operator "database unavailable". */
    if (PQstatus(c) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0)
        st = SY_DB_DOWN;
    else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
             strcmp(state, "23505") == 0 || strcmp(state, "55P03") == 0)
        st = SY_BUSY;
    return sy_error_set(err, st, state ? state : "db", NULL, "%s: %s", what, clean);
}

sy_status engine__exec(engine_session *s, const char *sql, int nparams, const char *const *params,
                       PGresult **out, sy_error *err)
{
    if (out)
        *out = NULL;
    PGresult *r = PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    sy_status st = engine__result_status(s->conn, r, "query failed", err);
    if (st != SY_OK || !out)
        PQclear(r);
    else
        *out = r;
    return st;
}

sy_status engine__exec_prepared(engine_session *s, const char *name, int nparams,
                                const char *const *params, PGresult **out, sy_error *err)
{
    if (out)
        *out = NULL;
    PGresult *r = PQexecPrepared(s->conn, name, nparams, params, NULL, NULL, 0);
    sy_status st = engine__result_status(s->conn, r, name, err);
    if (st != SY_OK || !out)
        PQclear(r);
    else
        *out = r;
    return st;
}

PGconn *engine__conn(engine_session *s)
{
    return s->conn;
}

uint64_t engine_session_stat(const engine_session *s, int which)
{
    return which >= 0 && which < ENGINE_STAT_COUNT ? s->stats[which] : 0;
}

/* ---- sessions ------------------------------------------------------------------ */

static sy_status set_search_path(engine_session *s, sy_error *err)
{
    char *ident = PQescapeIdentifier(s->conn, s->eng->schema, strlen(s->eng->schema));
    if (!ident)
        return sy_error_set(err, SY_CONFIG, "bad_schema", NULL, "bad schema name");
    sy_buf b = SY_BUF_INIT;
    /* notices ("already exists, skipping") are noise on stderr; the schema
     * itself is created by engine_migrate, under its advisory lock.
     * Generic plans for the prepared batch statements: they are written to
     * be plan-stable (index probes per key), and with batches of varying
     * shape the plan cache kept choosing custom plans, re-planning the
     * 13-CTE write statement (0.4 ms) for every batch. */
    sy_buf_printf(&b,
                  "SET client_min_messages = warning; SET search_path = %s, public;"
                  " SET plan_cache_mode = force_generic_plan",
                  ident);
    PQfreemem(ident);
    PGresult *r = PQexec(s->conn, b.data);
    sy_buf_cleanup(&b);
    sy_status st = engine__result_status(s->conn, r, "could not set the schema", err);
    PQclear(r);
    return st;
}

/* libpq prints NOTICEs ("schema already exists, skipping", "drop cascades
 * to ...") on stderr by default; they are routine here, so they go to the
 * engine's logger at debug level (arg: the engine, borrowed). */
static void on_notice(void *arg, const char *message)
{
    const engine *eng = arg;
    char clean[400];
    sy_strlcpy(clean, sizeof clean, message ? message : "");
    clean[strcspn(clean, "\n")] = 0;
    SY_LOG(eng->log, SY_LOG_DEBUG, "postgres notice", "message", clean);
}

static sy_status connect_session(const engine *eng, const char *conninfo, engine_session **out,
                                 sy_error *err)
{
    engine_session *s = calloc(1, sizeof *s);
    s->eng = eng;
    s->conninfo = strdup(conninfo ? conninfo : "");
    s->conn = PQconnectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char msg[300];
        sy_strlcpy(msg, sizeof msg, PQerrorMessage(s->conn));
        msg[strcspn(msg, "\n")] = 0;
        engine_session_close(s);
        return sy_error_set(err, SY_DB_DOWN, "db_connect", NULL,
                            "could not connect to postgres: %s", msg);
    }
    PQsetNoticeProcessor(s->conn, on_notice, (void *)eng);
    sy_status st = set_search_path(s, err);
    if (st != SY_OK) {
        engine_session_close(s);
        return st;
    }
    *out = s;
    return SY_OK;
}

sy_status engine_session_open(const engine *eng, const char *conninfo, bool migrate,
                              engine_session **out, sy_error *err)
{
    *out = NULL;
    if (migrate) {
        sy_status st = engine_migrate(eng, conninfo, NULL, err);
        if (st != SY_OK)
            return st;
    }
    return connect_session(eng, conninfo, out, err);
}

/* Ends the transaction's stash: into the state cache when it committed. */
static void stash_end(engine_session *s, bool committed)
{
    for (size_t i = 0; i < s->nstash; i++) {
        engine__stashed *x = &s->stash[i];
        engine__cached v = {.state = x->state,
                            .log = x->log_len ? s->stash_log.data + x->log_off : NULL,
                            .log_len = x->log_len,
                            .log_first = x->log_first};
        if (committed)
            engine__states_put(s->eng->states, x->run_id, x->next_seq, &v);
        else
            cJSON_Delete(x->state);
    }
    s->nstash = 0;
    sy_buf_reset(&s->stash_log);
}

void engine__stash(engine_session *s, const char *run_id, int64_t next_seq, const engine__cached *v)
{
    if (!s->in_tx || !s->eng->states) { /* autocommit: no end to wait for */
        cJSON_Delete(v->state);
        return;
    }
    if (s->nstash == s->capstash) {
        s->capstash = s->capstash ? 2 * s->capstash : 64;
        s->stash = realloc(s->stash, s->capstash * sizeof *s->stash);
    }
    engine__stashed *x = &s->stash[s->nstash++];
    sy_strlcpy(x->run_id, sizeof x->run_id, run_id);
    x->next_seq = next_seq;
    x->state = v->state;
    x->log_off = s->stash_log.len;
    x->log_len = v->log ? v->log_len : 0;
    x->log_first = v->log_first;
    if (x->log_len)
        sy_buf_append(&s->stash_log, v->log, v->log_len);
}

void engine_session_close(engine_session *s)
{
    if (!s)
        return;
    PQfinish(s->conn);
    if (s->conninfo)
        explicit_bzero(s->conninfo, strlen(s->conninfo));
    free(s->conninfo);
    stash_end(s, false);
    free(s->stash);
    sy_buf_cleanup(&s->stash_log);
    engine__ws_destroy(s->ws_spare);
    for (size_t i = 0; i < s->ncache; i++) {
        def_cleanup(s->cache[i]);
        free(s->cache[i]);
    }
    free(s->cache);
    free(s);
}

/* ---- memory after oversized batches (engine_int.h) ------------------------------ */

size_t engine__keep_bytes(const engine_session *s)
{
    double usual = 4 * s->stmt_avg;
    return usual > ENGINE__KEEP_MIN ? (size_t)usual : ENGINE__KEEP_MIN;
}

size_t engine__ws_keep_bytes(const engine_session *s)
{
    double usual = 4 * s->ws_avg;
    return usual > ENGINE__KEEP_MIN ? (size_t)usual : ENGINE__KEEP_MIN;
}

void engine__note_ws(engine_session *s, size_t capacity)
{
    s->ws_avg += ((double)capacity - s->ws_avg) / 8;
}

void engine__note_statement(engine_session *s, size_t bytes)
{
    if (bytes > s->stmt_max)
        s->stmt_max = bytes;
    s->stmt_avg += ((double)bytes - s->stmt_avg) / 8;
}

/* At the end of a transaction: whether the connection's output buffer
 * (its largest statement) is past what the session usually needs, after
 * one oversized batch or once the average has come down after a run of
 * them. */
static bool oversized(const engine_session *s)
{
    return s->stmt_max > engine__keep_bytes(s);
}

size_t engine_session_retained_bytes(const engine_session *s)
{
    return engine__ws_capacity(s->ws_spare) + s->stmt_max;
}

/* A new connection in place of one whose output buffer an oversized
 * statement grew (libpq never shrinks it), between transactions: same
 * schema and LISTENs (a NOTIFY in between is lost: they are hints, backed
 * by polls), statements prepared again on first use. A failed reconnect
 * keeps the old connection. */
static void refresh_connection(engine_session *s)
{
    PGconn *old = s->conn;
    s->conn = PQconnectdb(s->conninfo);
    PQsetNoticeProcessor(s->conn, on_notice, (void *)s->eng);
    sy_error err = {0};
    sy_status st = PQstatus(s->conn) == CONNECTION_OK ? set_search_path(s, &err) : SY_DB_DOWN;
    if (st == SY_OK && s->listening)
        st = engine_listen_for(s, (int)s->listening, &err);
    if (st != SY_OK) {
        PQfinish(s->conn);
        s->conn = old;
        return;
    }
    PQfinish(old);
    s->prepared = false;
    s->prepared_mask = 0;
    s->stmt_max = 0;
    sy_mem_release();
    SY_LOG(s->eng->log, SY_LOG_DEBUG, "reconnected after an oversized batch");
}

void engine_session_idle(engine_session *s)
{
    if (s->in_tx)
        return;
    /* what it usually needs: nothing right now (the write sets' average
     * stays: the spare is shed below, and the next burst's first batches
     * are kept instead of freed and trimmed while the average warms up) */
    s->stmt_avg = 0;
    bool shed = engine__ws_capacity(s->ws_spare) > ENGINE__KEEP_MIN;
    if (shed) {
        engine__ws_destroy(s->ws_spare);
        s->ws_spare = NULL;
    }
    if (oversized(s))
        refresh_connection(s); /* gives the memory back too */
    else if (shed)
        sy_mem_release();
}

sy_status engine_session_check(engine_session *s, sy_error *err)
{
    /* a server going away sends an error first and closes after it: read
     * until the socket has nothing more, so that the close is seen too */
    for (int i = 0; i < 4 && PQconsumeInput(s->conn); i++) {
        struct pollfd pfd = {.fd = PQsocket(s->conn), .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0)
            break;
    }
    if (PQstatus(s->conn) != CONNECTION_OK)
        return sy_error_set(err, SY_DB_DOWN, "db_connect", NULL, "connection to postgres lost");
    return SY_OK;
}

sy_status engine_begin(engine_session *s, sy_error *err)
{
    stash_end(s, false);
    sy_status st = engine__exec(s, "BEGIN", 0, NULL, NULL, err);
    s->in_tx = st == SY_OK;
    return st;
}

sy_status engine_commit(engine_session *s, sy_error *err)
{
    s->in_tx = false;
    sy_status st = engine__exec(s, "COMMIT", 0, NULL, NULL, err);
    stash_end(s, st == SY_OK);
    if (st == SY_OK && oversized(s))
        refresh_connection(s);
    return st;
}

void engine_rollback(engine_session *s)
{
    s->in_tx = false;
    stash_end(s, false);
    PQclear(PQexec(s->conn, "ROLLBACK"));
    if (oversized(s) && PQstatus(s->conn) == CONNECTION_OK)
        refresh_connection(s);
}

/* ---- migrations ------------------------------------------------------------------ */

static bool migration_recorded(PGresult *r, int version)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (atoi(PQgetvalue(r, i, 0)) == version)
            return true;
    return false;
}

static sy_status apply_migrations(engine_session *s, int *applied, sy_error *err)
{
    PGresult *r = NULL;
    char *ident = PQescapeIdentifier(s->conn, s->eng->schema, strlen(s->eng->schema));
    sy_buf q = SY_BUF_INIT;
    sy_buf_printf(&q, "CREATE SCHEMA IF NOT EXISTS %s", ident ? ident : "switchyard");
    PQfreemem(ident);
    sy_status st = engine__exec(s, q.data, 0, NULL, NULL, err);
    sy_buf_cleanup(&q);
    if (st != SY_OK)
        return st;
    st = engine__exec(s,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY "
                      "KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, NULL, err);
    if (st == SY_OK)
        st = engine__exec(s, "SELECT version FROM schema_migrations", 0, NULL, &r, err);
    if (st != SY_OK)
        return st;
    /* every embedded migration not recorded yet, in number order (the table
     * is sorted at build time): a lower number added after a higher one ran
     * (an engine 0NN after the scheduler's 050) still runs */
    for (const engine__migration *m = engine__migrations; m->sql && st == SY_OK; m++) {
        if (migration_recorded(r, m->version))
            continue;
        PGresult *x = PQexec(s->conn, m->sql);
        st = engine__result_status(s->conn, x, m->name, err);
        PQclear(x);
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *p[] = {ver, m->name};
        if (st == SY_OK)
            st = engine__exec(s, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                              p, NULL, err);
        if (st == SY_OK && applied)
            (*applied)++;
    }
    PQclear(r);
    return st;
}

sy_status engine_migrate(const engine *eng, const char *conninfo, int *applied, sy_error *err)
{
    if (applied)
        *applied = 0;
    engine_session *s = NULL;
    sy_status st = connect_session(eng, conninfo, &s, err);
    if (st != SY_OK)
        return st;
    const char *p[] = {eng->schema};
    /* one transaction, serialised by an advisory lock keyed by the schema:
     * several processes may start at once and only one applies each step */
    st = engine_begin(s, err);
    if (st == SY_OK)
        st = engine__exec(s, "SELECT pg_advisory_xact_lock(hashtext('switchyard.migrate.' || $1))",
                          1, p, NULL, err);
    if (st == SY_OK)
        st = apply_migrations(s, applied, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    if (st != SY_OK)
        sy_error_prefix(err, "migration failed");
    engine_session_close(s);
    return st;
}

int64_t engine__now(const engine *eng)
{
    return sy_clock_now_ms(&eng->clock);
}
