/* schedule_run.c: the scheduler's entry points that fire slots:
 * engine_schedules_run_once (the serve loop's: claim due rows FOR UPDATE
 * SKIP LOCKED, catch up, fire, advance, all in one transaction),
 * engine_schedule_trigger and engine_schedule_backfill (the CLI's, inside
 * the caller's transaction). The per-slot policy is in schedule_fire.c. */
#include "schedule_fire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Catch-up windows shorter than this would turn ordinary lag into misses. */
#define SCHED_MIN_CATCHUP_MS 10000
#define SCHED_MAX_MISSED_PER_ROUND 1000000
#define SCHED_MAX_BACKFILL 10000

#define ROW_COLUMNS                                                                                \
    "SELECT s.schedule_id, s.cron, s.timezone, s.workflow_type, s.input::text, s.overlap, "        \
    "s.catchup_window_ms, s.jitter_ms, s.remaining_actions, "                                      \
    "(extract(epoch from s.next_fire_at) * 1000)::bigint, "                                        \
    "(extract(epoch from s.last_fire_at) * 1000)::bigint, s.last_workflow_id, s.buffered::text, "  \
    "coalesce((SELECT w.status = 'running' FROM workflow_ids w WHERE w.namespace = s.namespace "   \
    "AND w.workflow_id = s.last_workflow_id), false), s.ctid::text FROM schedules s "

/* Whether the latest firing still runs is a correlated lookup on
 * workflow_ids' primary key, not a join: with a join the planner, trusting
 * stale statistics (workflow_ids grows by thousands a round), chose a nested
 * loop over every workflow ID of the namespace per claimed row, quadratic in
 * the schedules fired (25 s for one 2000-row claim at 40k schedules).
 *
 * Two claims, each served by its partial index (an OR of both would scan the
 * table): due schedules in due order, then schedules holding buffered slots
 * that are not due (their blocker may have finished). */
static const char CLAIM_DUE_SQL[] =
    ROW_COLUMNS "WHERE s.namespace = $1 AND NOT s.paused AND s.due_at IS NOT NULL AND "
                "s.due_at <= to_timestamp($2::bigint / 1000.0) ORDER BY s.due_at LIMIT $3 "
                "FOR UPDATE OF s SKIP LOCKED";

static const char CLAIM_BUFFERED_SQL[] =
    ROW_COLUMNS "WHERE s.namespace = $1 AND NOT s.paused AND s.buffered <> '[]'::jsonb AND "
                "NOT (s.due_at IS NOT NULL AND s.due_at <= to_timestamp($2::bigint / 1000.0)) "
                "LIMIT $3 FOR UPDATE OF s SKIP LOCKED";

static const char BY_ID_SQL[] =
    ROW_COLUMNS "WHERE s.namespace = $1 AND s.schedule_id = $2 FOR UPDATE OF s";

/* The claimed rows are found again by their ctid (a TID scan, no index
 * probe and no plan choice: with a join on schedule_id the planner sometimes
 * hashed the whole table). The rows are locked by this transaction since the
 * claim, so their ctid cannot move; the schedule_id check and the row count
 * check in rows_write make a mismatch fail the round rather than lose an
 * advance (which could fire a slot twice). */
static const char UPDATE_SQL[] =
    "UPDATE schedules s SET "
    "next_fire_at = CASE WHEN u.mv THEN to_timestamp(u.nf / 1000.0) ELSE s.next_fire_at END, "
    "due_at = CASE WHEN u.mv THEN to_timestamp(u.du / 1000.0) ELSE s.due_at END, "
    "last_fire_at = to_timestamp(u.lf / 1000.0), last_workflow_id = u.lw, "
    "buffered = u.bf::jsonb, fired_count = s.fired_count + u.f, "
    "skipped_count = s.skipped_count + u.sk, missed_count = s.missed_count + u.mi, "
    "remaining_actions = u.rem, updated_at = now() "
    "FROM unnest($2::text[], $3::boolean[], $4::bigint[], $5::bigint[], $6::bigint[], "
    "$7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::int[], $13::tid[]) "
    "AS u(id, mv, nf, du, lf, lw, bf, f, sk, mi, rem, tid) "
    "WHERE s.ctid = ANY($13::tid[]) AND s.ctid = u.tid AND s.namespace = $1 AND "
    "s.schedule_id = u.id";

/* Columns of UPDATE_SQL's unnest, $2 to $13. */
#define ROW_ARRAYS 12

static int64_t ms_or_none(const PGresult *res, int i, int col)
{
    return PQgetisnull(res, i, col) ? -1 : atoll(PQgetvalue(res, i, col));
}

/* Fills row from result row i. A row whose cron or zone no longer reads
 * (cannot happen through the API) fails with SY_INVALID. */
static sy_status row_load(sched__round *r, const PGresult *res, int i, sched__row *row,
                          sy_error *err)
{
    sy_strlcpy(row->id, sizeof row->id, PQgetvalue(res, i, 0));
    sy_strlcpy(row->workflow, sizeof row->workflow, PQgetvalue(res, i, 3));
    row->input = cJSON_Parse(PQgetvalue(res, i, 4));
    if (!engine_overlap_parse(PQgetvalue(res, i, 5), &row->overlap))
        row->overlap = ENGINE_OVERLAP_SKIP;
    row->catchup_ms = atoll(PQgetvalue(res, i, 6));
    row->jitter_ms = atoll(PQgetvalue(res, i, 7));
    row->remaining = ms_or_none(res, i, 8);
    row->next = ms_or_none(res, i, 9);
    row->last_fire = ms_or_none(res, i, 10);
    sy_strlcpy(row->last_wid, sizeof row->last_wid, PQgetvalue(res, i, 11));
    sy_strlcpy(row->tid, sizeof row->tid, PQgetvalue(res, i, 14));
    row->buffered = cJSON_Parse(PQgetvalue(res, i, 12));
    if (!cJSON_IsArray(row->buffered)) {
        cJSON_Delete(row->buffered);
        row->buffered = cJSON_CreateArray();
    }
    row->prev_running = PQgetvalue(res, i, 13)[0] == 't';
    sy_status st = sy_cron_parse(PQgetvalue(res, i, 1), &row->cron, err);
    if (st == SY_OK && !(row->tz = sched__tz_get(&r->tzs, PQgetvalue(res, i, 2), err)))
        st = SY_INVALID;
    if (st != SY_OK)
        sy_error_prefix(err, "schedule \"%s\"", row->id);
    return st;
}

/* Appends one row's changes to the update's array literals. */
static void row_append(sy_buf a[ROW_ARRAYS], const sched__row *row)
{
    char nf[24], du[24], lf[24], f[24], sk[24], mi[24], rem[24];
    int64_t due =
        row->next < 0 ? -1 : row->next + sched__jitter(row->id, row->next, row->jitter_ms);
    snprintf(nf, sizeof nf, "%lld", (long long)row->next);
    snprintf(du, sizeof du, "%lld", (long long)due);
    snprintf(lf, sizeof lf, "%lld", (long long)row->last_fire);
    snprintf(f, sizeof f, "%lld", (long long)row->fired);
    snprintf(sk, sizeof sk, "%lld", (long long)row->skipped);
    snprintf(mi, sizeof mi, "%lld", (long long)row->missed);
    snprintf(rem, sizeof rem, "%lld", (long long)row->remaining);
    char *buffered = cJSON_PrintUnformatted(row->buffered);
    const char *v[ROW_ARRAYS] = {row->id,
                                 row->move_next ? "t" : "f",
                                 row->next < 0 ? NULL : nf,
                                 due < 0 ? NULL : du,
                                 row->last_fire < 0 ? NULL : lf,
                                 row->last_wid[0] ? row->last_wid : NULL,
                                 buffered,
                                 f,
                                 sk,
                                 mi,
                                 row->remaining < 0 ? NULL : rem,
                                 row->tid};
    for (size_t k = 0; k < ROW_ARRAYS; k++)
        sched__pg_array_str(&a[k], v[k]);
    free(buffered);
}

static void arrays_cleanup(sy_buf a[ROW_ARRAYS])
{
    for (size_t k = 0; k < ROW_ARRAYS; k++)
        sy_buf_cleanup(&a[k]);
}

static sy_status rows_write(sched__round *r, sched__row *rows, size_t n, sy_error *err)
{
    sy_buf a[ROW_ARRAYS];
    for (size_t k = 0; k < ROW_ARRAYS; k++) {
        a[k] = (sy_buf)SY_BUF_INIT;
        sy_buf_putc(&a[k], '{');
    }
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].broken) {
            row_append(a, &rows[i]);
            written++;
        }
    }
    if (written == 0) {
        arrays_cleanup(a);
        return SY_OK;
    }
    const char *p[ROW_ARRAYS + 1] = {r->s->eng->ns};
    for (size_t k = 0; k < ROW_ARRAYS; k++) {
        sy_buf_putc(&a[k], '}');
        p[k + 1] = a[k].data;
    }
    PGresult *res = NULL;
    sy_status st = engine__exec(r->s, UPDATE_SQL, ROW_ARRAYS + 1, p, &res, err);
    arrays_cleanup(a);
    /* every claimed row must have moved: otherwise its slot could fire again */
    if (st == SY_OK && strtoull(PQcmdTuples(res), NULL, 10) != written)
        st = sy_error_set(err, SY_CONFLICT, "schedule_moved", NULL,
                          "%s of %zu schedule rows were updated; the round is rolled back",
                          PQcmdTuples(res), written);
    PQclear(res);
    return st;
}

/* ---- run_once ------------------------------------------------------------------ */

/* A buffered slot runs once nothing of this schedule is running. */
static sy_status drain_buffer(sched__round *r, sched__row *row, sy_error *err)
{
    if (row->prev_running || cJSON_GetArraySize(row->buffered) == 0)
        return SY_OK;
    if (row->remaining == 0) { /* limited_actions used up: the buffer is void */
        cJSON_Delete(row->buffered);
        row->buffered = cJSON_CreateArray();
        return SY_OK;
    }
    cJSON *first = cJSON_DetachItemFromArray(row->buffered, 0);
    int64_t sf = (int64_t)first->valuedouble;
    cJSON_Delete(first);
    size_t before = r->started;
    sy_status st = sched__start(r, row, sf, "buffer", err);
    if (r->started > before && row->remaining > 0)
        row->remaining--;
    return st;
}

/* Fires every due slot of one claimed row (bounded per round). */
static sy_status row_due(sched__round *r, sched__row *row, sy_error *err)
{
    sy_status st = drain_buffer(r, row, err);
    int64_t window =
        row->catchup_ms > SCHED_MIN_CATCHUP_MS ? row->catchup_ms : SCHED_MIN_CATCHUP_MS;
    int64_t missed = 0, miss_first = -1;
    size_t fired = 0;
    row->move_next = true;
    while (st == SY_OK && row->next >= 0 && fired < SCHED_MAX_SLOTS_PER_ROUND &&
           missed < SCHED_MAX_MISSED_PER_ROUND) {
        int64_t sf = row->next, due = sf + sched__jitter(row->id, sf, row->jitter_ms);
        if (due > r->now)
            break;
        if (r->now - due > window) {
            miss_first = missed++ ? miss_first : sf;
        } else {
            size_t before = r->started;
            st = sched__fire(r, row, sf, "schedule", row->overlap, err);
            if (r->started > before && row->remaining > 0)
                row->remaining--;
            fired++;
        }
        row->next = row->remaining == 0 ? -1 : sy_cron_next(row->cron, row->tz, sf);
    }
    if (missed)
        sched__skip(r, row, miss_first, "catchup_window", missed);
    return st;
}

/* A row whose cron or time zone no longer reads (a zone dropped by a tzdata
 * update, a hand-edited row) is paused with the reason as its note, and the
 * round goes on. Its in-memory copy is left unchanged and not written back. */
static sy_status pause_broken(sched__round *r, sched__row *row, sy_error *err)
{
    char note[SY_ERROR_MSG_MAX + 16];
    snprintf(note, sizeof note, "invalid: %s", err ? err->message : "unreadable definition");
    const char *p[] = {r->s->eng->ns, row->id, note};
    row->broken = true;
    SY_LOG(r->s->eng->log, SY_LOG_ERROR, "schedule paused: definition unreadable", "schedule_id",
           row->id, "reason", note);
    return engine__exec(r->s,
                        "UPDATE schedules SET paused = true, note = $3, updated_at = now() "
                        "WHERE namespace = $1 AND schedule_id = $2",
                        3, p, NULL, err);
}

static sy_status claim(sched__round *r, const char *sql, size_t max, PGresult **res, sy_error *err)
{
    char now[24], lim[24];
    snprintf(now, sizeof now, "%lld", (long long)r->now);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {r->s->eng->ns, now, lim};
    return engine__exec(r->s, sql, 3, p, res, err);
}

static sy_status run_rows(sched__round *r, PGresult *const res[2], sy_error *err)
{
    size_t n0 = (size_t)PQntuples(res[0]), n = n0 + (size_t)PQntuples(res[1]);
    sched__row *rows = calloc(n ? n : 1, sizeof *rows);
    sy_status st = SY_OK;
    for (size_t i = 0; st == SY_OK && i < n; i++) {
        const PGresult *from = i < n0 ? res[0] : res[1];
        st = row_load(r, from, (int)(i < n0 ? i : i - n0), &rows[i], err);
        if (st == SY_INVALID) /* one unreadable row must not stop every schedule */
            st = pause_broken(r, &rows[i], err);
        else if (st == SY_OK)
            st = row_due(r, &rows[i], err);
    }
    if (st == SY_OK)
        st = sched__flush(r, err);
    if (st == SY_OK)
        st = sched__write_outbox(r, err);
    if (st == SY_OK)
        st = rows_write(r, rows, n, err);
    for (size_t i = 0; i < n; i++)
        sched__row_cleanup(&rows[i]);
    free(rows);
    return st;
}

sy_status engine_schedules_run_once(engine_session *s, int64_t now_ms, size_t max, size_t *fired,
                                    sy_error *err)
{
    if (fired)
        *fired = 0;
    sched__round r;
    sched__round_init(&r, s, now_ms, true);
    PGresult *res[2] = {NULL, NULL};
    max = max ? max : 1000;
    sy_status st = engine_begin(s, err);
    if (st == SY_OK)
        st = claim(&r, CLAIM_DUE_SQL, max, &res[0], err);
    size_t left = st == SY_OK ? max - (size_t)PQntuples(res[0]) : 0;
    if (st == SY_OK && left > 0)
        st = claim(&r, CLAIM_BUFFERED_SQL, left, &res[1], err);
    if (st == SY_OK && !res[1])
        res[1] = PQmakeEmptyPGresult(engine__conn(s), PGRES_TUPLES_OK);
    if (st == SY_OK)
        st = run_rows(&r, res, err);
    PQclear(res[0]);
    PQclear(res[1]);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    if (st == SY_OK && fired)
        *fired = r.started;
    sched__round_cleanup(&r);
    return st;
}

/* ---- trigger and backfill (caller's transaction) ------------------------------- */

static sy_status load_by_id(sched__round *r, const char *id, sched__row *row, sy_error *err)
{
    const char *p[] = {r->s->eng->ns, id};
    PGresult *res = NULL;
    sy_status st = engine__exec(r->s, BY_ID_SQL, 2, p, &res, err);
    if (st == SY_OK && PQntuples(res) != 1)
        st = sy_error_set(err, SY_NOT_FOUND, "schedule_not_found", NULL, "no schedule \"%s\"", id);
    if (st == SY_OK)
        st = row_load(r, res, 0, row, err);
    PQclear(res);
    return st;
}

static sy_status finish_single(sched__round *r, sched__row *row, sy_error *err)
{
    sy_status st = sched__flush(r, err);
    if (st == SY_OK)
        st = sched__write_outbox(r, err);
    row->move_next = false;
    if (st == SY_OK)
        st = rows_write(r, row, 1, err);
    return st;
}

sy_status engine_schedule_trigger(engine_session *s, const char *id, int64_t now_ms,
                                  const engine_overlap *overlap, engine_schedule_fire *out,
                                  sy_error *err)
{
    sched__round r;
    sched__round_init(&r, s, now_ms, false);
    sched__row row = {0};
    int64_t sf = now_ms;
    sy_status st = load_by_id(&r, id, &row, err);
    /* Every trigger is a firing of its own, with its own workflow ID: now
     * to the millisecond, after the last firing (two triggers within one
     * millisecond are two), and never on a whole second, where the cron
     * slots are (a trigger took the slot's ID and the slot then did not
     * run). */
    if (sf <= row.last_fire)
        sf = row.last_fire + 1;
    if (sf % 1000 == 0)
        sf++;
    if (st == SY_OK)
        st = sched__fire(&r, &row, sf, "trigger", overlap ? *overlap : row.overlap, err);
    if (st == SY_OK)
        st = finish_single(&r, &row, err);
    if (st == SY_OK && out) {
        *out = r.last;
        engine_schedule_workflow_id(id, sf, out->workflow_id, sizeof out->workflow_id);
    }
    sched__row_cleanup(&row);
    sched__round_cleanup(&r);
    return st;
}

sy_status engine_schedule_backfill(engine_session *s, const char *id, int64_t start_ms,
                                   int64_t end_ms, engine_overlap overlap, int64_t now_ms,
                                   engine_schedule_backfill_counts *out, sy_error *err)
{
    if (end_ms <= start_ms)
        return sy_error_set(err, SY_INVALID, "bad_range", NULL,
                            "backfill range is empty: the end must be after the start");
    sched__round r;
    sched__round_init(&r, s, now_ms, false);
    sched__row row = {0};
    sy_status st = load_by_id(&r, id, &row, err);
    size_t slots = 0;
    int64_t sf = st == SY_OK ? sy_cron_next(row.cron, row.tz, start_ms - 1) : SY_CRON_NEVER;
    for (; st == SY_OK && sf != SY_CRON_NEVER && sf < end_ms; slots++) {
        if (slots == SCHED_MAX_BACKFILL) {
            st =
                sy_error_set(err, SY_INVALID, "range_too_large", NULL,
                             "backfill range has more than %d slots; split it", SCHED_MAX_BACKFILL);
            break;
        }
        st = sched__fire(&r, &row, sf, "backfill", overlap, err);
        sf = sy_cron_next(row.cron, row.tz, sf);
    }
    if (st == SY_OK)
        st = finish_single(&r, &row, err);
    if (st == SY_OK && out)
        *out =
            (engine_schedule_backfill_counts){slots, r.started, r.skipped, r.buffered, r.already};
    sched__row_cleanup(&row);
    sched__round_cleanup(&r);
    return st;
}
