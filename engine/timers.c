/* timers.c: durable timers, wake-up notifications and retention.
 *
 * engine_timers_run_once claims due timers with FOR UPDATE SKIP LOCKED (so
 * several processes share them), deletes them, and fires them as one batch
 * in the same transaction: a sleep or wait timeout becomes timer.fired, a
 * task timeout task.timed_out, a retry timer the next attempt. A timer that
 * no longer matters (its run closed, the attempt moved on) is dropped and
 * counted. A heartbeat timer is re-armed lazily: heartbeats only update
 * tasks.heartbeat_at, and when the timer fires with a recent heartbeat it
 * is moved to heartbeat_at + heartbeat_ms instead of firing.
 *
 * Notifications (channels switchyard_timers, switchyard_outbox) are hints
 * to wake up early; pollers never depend on them. */
#include "batch.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

static const char CLAIM_SQL[] =
    "WITH due AS (SELECT timer_id FROM timers WHERE fire_at <= to_timestamp($1::float8 / 1000.0)"
    " ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " DELETE FROM timers t USING due WHERE t.timer_id = due.timer_id"
    " RETURNING t.timer_id, t.run_id, t.kind, t.data::text,"
    " (SELECT r.workflow_id FROM runs r WHERE r.run_id = t.run_id),"
    " coalesce((SELECT (extract(epoch FROM k.heartbeat_at) * 1000)::bigint FROM tasks k"
    " WHERE k.task_id = t.data->>'task_id' AND k.attempt = (t.data->>'attempt')::int), 0)";

/* Moves a heartbeat timer whose task heartbeated recently; true if moved. */
static bool rearm_heartbeat(engine_session *s, PGresult *r, int i, const cJSON *data, int64_t now,
                            sy_status *st, sy_error *err)
{
    int64_t hb = atoll(PQgetvalue(r, i, 5));
    const cJSON *after = JGET(data, "after_ms");
    int64_t next = hb + (cJSON_IsNumber(after) ? (int64_t)after->valuedouble : 0);
    if (strcmp(PQgetvalue(r, i, 2), "heartbeat") != 0 || hb == 0 || next <= now)
        return false;
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)next);
    const char *p[] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), at, PQgetvalue(r, i, 3)};
    *st = engine__exec(s,
                       "INSERT INTO timers (timer_id, run_id, fire_at, kind, data) VALUES ($1, "
                       "$2::uuid, to_timestamp($3::float8 / 1000.0), 'heartbeat', $4::json)",
                       4, p, NULL, err);
    return true;
}

static sy_status fire(engine_session *s, int64_t now, size_t max, size_t *fired, sy_error *err)
{
    char nows[24], maxs[24];
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    snprintf(maxs, sizeof maxs, "%zu", max ? max : 256);
    const char *p[] = {nows, maxs};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, CLAIM_SQL, 2, p, &r, err);
    if (st != SY_OK)
        return st;
    engine_batch *b = engine_batch_new();
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        cJSON *data = cJSON_Parse(PQgetvalue(r, i, 3));
        (*fired)++;
        if (PQgetisnull(r, i, 4)) {
            engine__count(s, ENGINE_STAT_TIMERS_STALE); /* its run was purged */
        } else if (!rearm_heartbeat(s, r, i, data, now, &st, err)) {
            engine__batch_timer(b, PQgetvalue(r, i, 1), PQgetvalue(r, i, 4), PQgetvalue(r, i, 0),
                                PQgetvalue(r, i, 2), data);
        }
        cJSON_Delete(data);
    }
    PQclear(r);
    if (st == SY_OK && b->nops)
        st = engine__batch_run(s, b, now, err);
    engine_batch_free(b);
    return st;
}

/* What flow control holds and is due (flow_due.c), in a transaction of
 * its own; a conflict with a router batch (a new workflow ID both start,
 * SY_BUSY) is tried again at once, as the pipelines do. */
static sy_status flow_due(engine_session *s, int64_t now, size_t max, size_t *fired,
                          sy_error *err)
{
    sy_status st = SY_BUSY;
    size_t actions = 0;
    for (int attempt = 0; st == SY_BUSY && attempt < 3; attempt++) {
        st = engine_begin(s, err);
        if (st == SY_OK)
            st = engine__flow_due(s, now, max, fired, &actions, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        if (st != SY_OK)
            engine_rollback(s);
    }
    for (size_t i = 0; st == SY_OK && i < actions; i++) /* counted once committed */
        engine__count(s, ENGINE_STAT_FLOW_FIRED);
    return st == SY_BUSY ? SY_OK : st; /* the next round takes it */
}

/* Starts waiting behind a concurrency limit into the slots that are free
 * (concurrency_due.c), in a transaction of its own, tried again at once
 * on a conflict like flow_due. */
static sy_status conc_due(engine_session *s, int64_t now, size_t max, size_t *started,
                          sy_error *err)
{
    sy_status st = SY_BUSY;
    for (int attempt = 0; st == SY_BUSY && attempt < 3; attempt++) {
        st = engine_begin(s, err);
        if (st == SY_OK)
            st = engine__conc_due(s, now, max, started, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        if (st != SY_OK)
            engine_rollback(s);
    }
    for (size_t i = 0; st == SY_OK && i < *started; i++) /* counted once committed */
        engine__count(s, ENGINE_STAT_CONC_RELEASED);
    return st == SY_BUSY ? SY_OK : st;
}

sy_status engine_timers_run_once(engine_session *s, int64_t now_ms, size_t max, size_t *fired,
                                 sy_error *err)
{
    size_t n = 0, nf = 0;
    sy_status st = engine_begin(s, err);
    if (st == SY_OK)
        st = fire(s, now_ms, max, &n, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    if (st == SY_OK)
        st = flow_due(s, now_ms, max, &nf, err);
    size_t nc = 0;
    if (st == SY_OK)
        st = conc_due(s, now_ms, max, &nc, err);
    if (nc > nf)
        nf = nc;
    if (fired)
        *fired = st == SY_OK ? (n > nf ? n : nf) : 0;
    return st;
}

sy_status engine_listen_for(engine_session *s, int which, sy_error *err)
{
    sy_status st = SY_OK;
    if (which & ENGINE_NOTIFY_TIMERS)
        st = engine__exec(s, "LISTEN switchyard_timers", 0, NULL, NULL, err);
    if (st == SY_OK && (which & ENGINE_NOTIFY_OUTBOX))
        st = engine__exec(s, "LISTEN switchyard_outbox", 0, NULL, NULL, err);
    if (st == SY_OK && (which & ENGINE_NOTIFY_CHANGES))
        st = engine__exec(s, "LISTEN " ENGINE_NOTIFY_CHANGES_CHANNEL, 0, NULL, NULL, err);
    if (st == SY_OK) /* a reconnect listens again (engine.c: refresh_connection) */
        s->listening |= (unsigned)which;
    return st;
}

sy_status engine_listen(engine_session *s, sy_error *err)
{
    return engine_listen_for(s, ENGINE_NOTIFY_TIMERS | ENGINE_NOTIFY_OUTBOX, err);
}

static bool drain_notifies(PGconn *c)
{
    bool any = false;
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

sy_status engine_wait_notify(engine_session *s, int timeout_ms, bool *notified, sy_error *err)
{
    bool any = false;
    if (PQconsumeInput(s->conn) && !(any = drain_notifies(s->conn))) {
        struct pollfd pfd = {.fd = PQsocket(s->conn), .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) > 0 && PQconsumeInput(s->conn))
            any = drain_notifies(s->conn);
    }
    if (notified)
        *notified = any;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return sy_error_set(err, SY_DB_DOWN, "db_connect", NULL, "connection to postgres lost");
    return SY_OK;
}

sy_status engine_next_timer(engine_session *s, int64_t *at_ms, sy_error *err)
{
    PGresult *r = NULL;
    *at_ms = 0;
    sy_status st = engine__exec(s,
                                "SELECT coalesce((extract(epoch FROM least((SELECT min(fire_at)"
                                " FROM timers), (SELECT min(fire_at) FROM flow_keys))) * 1000)::bigint,"
                                " 0)",
                                0, NULL, &r, err);
    if (st == SY_OK)
        *at_ms = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}

/* ---- retention ---------------------------------------------------------------------- */

/* Runs closed before the cutoff started before it: a range of the primary
 * key (UUIDv7 of the start time) up to the cutoff's millisecond, instead of
 * a scan of every run (seconds, and the buffer cache, every 10 minutes on
 * a large table). Runs of a first-release database have random (v4) ids,
 * found through their own partial index (007_purge_by_key.sql). */
const char engine__purge_runs_sql[] =
    "WITH old AS ((SELECT run_id FROM runs WHERE run_id < " ENGINE__UUID_AT("(($1::float8)::bigint + 1)")
    " AND substr(run_id::text, 15, 1) = '7' AND closed_at < to_timestamp($1::float8 / 1000.0)"
    " LIMIT " ENGINE__STR(ENGINE_PURGE_RUNS) ") UNION ALL (SELECT run_id"
    " FROM runs WHERE substr(run_id::text, 15, 1) <> '7' AND closed_at <"
    " to_timestamp($1::float8 / 1000.0) LIMIT " ENGINE__STR(ENGINE_PURGE_RUNS) ")),"
    " h AS (DELETE FROM history WHERE run_id IN (SELECT run_id FROM old)),"
    " t AS (DELETE FROM tasks t USING old WHERE t.task_id >= (old.run_id::text || ':')"
    " COLLATE \"C\" AND t.task_id < (old.run_id::text || ';') COLLATE \"C\"),"
    " tm AS (DELETE FROM timers WHERE run_id IN (SELECT run_id FROM old))"
    " DELETE FROM runs WHERE run_id IN (SELECT run_id FROM old)";

static const char purge_dead_letters_sql[] =
    "DELETE FROM dead_letters WHERE created_at < to_timestamp($1::float8 / 1000.0)"
    " AND greatest(created_at, updated_at, replayed_at) < to_timestamp($1::float8 / 1000.0)";

static sy_status purge_one(engine_session *s, const char *sql, int64_t cutoff, size_t *count,
                           sy_error *err)
{
    char c[24];
    snprintf(c, sizeof c, "%lld", (long long)cutoff);
    const char *p[] = {c};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, sql, 1, p, &r, err);
    if (st == SY_OK)
        *count = (size_t)atoll(PQcmdTuples(r));
    PQclear(r);
    return st;
}

sy_status engine_purge(engine_session *s, int64_t now_ms, engine_purge_counts *out, sy_error *err)
{
    engine_purge_counts c = {0};
    sy_status st = engine_begin(s, err);
    /* by ctid: the BRIN index finds the old block ranges, the delete
     * takes at most ENGINE_PURGE_INBOX of their rows */
    if (st == SY_OK)
        st = purge_one(s,
                       "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox WHERE"
                       " received_at < to_timestamp($1::float8 / 1000.0) LIMIT "
                       ENGINE__STR(ENGINE_PURGE_INBOX) "))",
                       now_ms - s->eng->inbox_retention_ms, &c.inbox, err);
    if (st == SY_OK)
        st = purge_one(s, engine__purge_runs_sql, now_ms - s->eng->history_retention_ms, &c.runs, err);
    /* a dead letter ages from the last time it was touched (its last
     * failure, its last replay), not from its first failure: one that keeps
     * failing on replay is still being worked. greatest() >= created_at,
     * so the created_at index still finds the candidates. */
    if (st == SY_OK)
        st = purge_one(s, purge_dead_letters_sql, now_ms - s->eng->history_retention_ms,
                       &c.dead_letters, err);
    /* flow keys that hold nothing, past their dedupe or rate window
     * (flow.c): the partial index on expires_at finds them */
    if (st == SY_OK)
        st = purge_one(s,
                       "DELETE FROM flow_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM flow_keys"
                       " WHERE fire_at IS NULL AND expires_at < to_timestamp($1::float8 / 1000.0)"
                       " LIMIT " ENGINE__STR(ENGINE_PURGE_INBOX) "))",
                       now_ms, &c.flow_keys, err);
    /* correlation (corr.c): stored events past their lookback, and
     * cancel_on windows that ended (their runs still running) */
    if (st == SY_OK)
        st = purge_one(s,
                       "DELETE FROM corr_events WHERE ctid = ANY(ARRAY(SELECT ctid FROM corr_events"
                       " WHERE expires_at < to_timestamp($1::float8 / 1000.0)"
                       " LIMIT " ENGINE__STR(ENGINE_PURGE_INBOX) "))",
                       now_ms, &c.corr_events, err);
    size_t subs = 0, joins = 0;
    if (st == SY_OK)
        st = purge_one(s,
                       "DELETE FROM event_subs WHERE expires_at < to_timestamp($1::float8 / 1000.0)",
                       now_ms, &subs, err);
    /* joins whose window ended before all their events came (join.c) */
    if (st == SY_OK)
        st = purge_one(s,
                       "DELETE FROM join_keys WHERE expires_at < to_timestamp($1::float8 / 1000.0)",
                       now_ms, &joins, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    c.more = st == SY_OK && (c.inbox >= ENGINE_PURGE_INBOX || c.runs >= ENGINE_PURGE_RUNS ||
                             c.flow_keys >= ENGINE_PURGE_INBOX ||
                             c.corr_events >= ENGINE_PURGE_INBOX);
    if (out)
        *out = c;
    return st;
}
