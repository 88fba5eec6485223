/* schedule_store.c: schedule rows: registration from the rules file (sync),
 * CLI create/update/delete, pause/resume, reads (list, describe) and the
 * benchmark's bulk creation. Firing lives in schedule_fire.c. */
#include "schedule_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define MS(col) "(extract(epoch from " col ") * 1000)::bigint"

static const char UPSERT_SQL[] =
    "INSERT INTO schedules (namespace, schedule_id, source, def, def_hash, cron, timezone, "
    "workflow_type, input, overlap, catchup_window_ms, jitter_ms, limited_actions, "
    "remaining_actions, paused, next_fire_at, due_at) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9::jsonb, $10, $11::bigint, $12::bigint, "
    "$13::int, NULLIF($13::int, 0), $14::boolean, to_timestamp($15::bigint / 1000.0), "
    "to_timestamp($16::bigint / 1000.0)) "
    "ON CONFLICT (namespace, schedule_id) DO UPDATE SET source = EXCLUDED.source, "
    "def = EXCLUDED.def, def_hash = EXCLUDED.def_hash, cron = EXCLUDED.cron, "
    "timezone = EXCLUDED.timezone, workflow_type = EXCLUDED.workflow_type, "
    "input = EXCLUDED.input, overlap = EXCLUDED.overlap, "
    "catchup_window_ms = EXCLUDED.catchup_window_ms, jitter_ms = EXCLUDED.jitter_ms, "
    "remaining_actions = CASE WHEN schedules.limited_actions = EXCLUDED.limited_actions "
    "THEN schedules.remaining_actions ELSE EXCLUDED.remaining_actions END, "
    "limited_actions = EXCLUDED.limited_actions, "
    /* the operator's pause survives a reload, except the one a removal caused */
    "paused = EXCLUDED.paused OR (schedules.paused AND schedules.removed_at IS NULL), "
    "note = CASE WHEN schedules.removed_at IS NOT NULL THEN '' ELSE schedules.note END, "
    "removed_at = NULL, next_fire_at = EXCLUDED.next_fire_at, due_at = EXCLUDED.due_at, "
    "updated_at = now() RETURNING (xmax = 0)";

/* The first slot after now_ms and its due time (-1, -1 when none). */
static sy_status first_slot(const sched__def *d, int64_t now_ms, int64_t *next, int64_t *due,
                            sy_error *err)
{
    sy_cron *c = NULL;
    sy_tz *tz = NULL;
    sy_status st = sy_cron_parse(d->cron, &c, err);
    if (st == SY_OK)
        st = sy_tz_load(d->timezone, &tz, err);
    *next = *due = -1;
    if (st == SY_OK) {
        *next = sy_cron_next(c, tz, now_ms);
        if (*next != SY_CRON_NEVER)
            *due = *next + sched__jitter(d->id, *next, d->jitter_ms);
    }
    sy_cron_free(c);
    sy_tz_free(tz);
    return st;
}

static sy_status upsert(engine_session *s, const sched__def *d, const char *source, int64_t now_ms,
                        bool *created, sy_error *err)
{
    int64_t next, due;
    sy_status st = first_slot(d, now_ms, &next, &due, err);
    if (st != SY_OK)
        return st;
    char *text = sched__def_text(d);
    char hash[65], catchup[24], jitter[24], limited[24], nexts[24], dues[24];
    engine__sha256_hex(text, strlen(text), hash);
    snprintf(catchup, sizeof catchup, "%lld", (long long)d->catchup_window_ms);
    snprintf(jitter, sizeof jitter, "%lld", (long long)d->jitter_ms);
    snprintf(limited, sizeof limited, "%lld", (long long)d->limited_actions);
    snprintf(nexts, sizeof nexts, "%lld", (long long)next);
    snprintf(dues, sizeof dues, "%lld", (long long)due);
    char *input = d->input ? cJSON_PrintUnformatted(d->input) : strdup("{}");
    const char *p[] = {s->eng->ns,
                       d->id,
                       source,
                       text,
                       hash,
                       d->cron,
                       d->timezone,
                       d->workflow,
                       input,
                       engine_overlap_name(d->overlap),
                       catchup,
                       jitter,
                       limited,
                       d->paused ? "true" : "false",
                       next < 0 ? NULL : nexts,
                       due < 0 ? NULL : dues};
    PGresult *r = NULL;
    st = engine__exec(s, UPSERT_SQL, 16, p, &r, err);
    if (st == SY_OK && created)
        *created = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    free(text);
    free(input);
    return st;
}

sy_status engine_schedule_upsert(engine_session *s, const cJSON *def, int64_t now_ms, bool *created,
                                 sy_error *err)
{
    sched__def d;
    sy_status st = sched__def_read(def, s->eng, &d, err);
    if (st != SY_OK)
        return st;
    return upsert(s, &d, "cli", now_ms, created, err);
}

/* ---- sync from the rules file ----------------------------------------------- */

/* Loads id -> "hash|removed|source" of the namespace's schedules. */
static sy_status load_existing(engine_session *s, cJSON **out, sy_error *err)
{
    const char *p[] = {s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT schedule_id, def_hash || '|' || (removed_at IS NOT NULL) "
                                "|| '|' || source FROM schedules WHERE namespace = $1 FOR UPDATE",
                                1, p, &r, err);
    if (st != SY_OK)
        return st;
    *out = cJSON_CreateObject();
    for (int i = 0; i < PQntuples(r); i++)
        cJSON_AddStringToObject(*out, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return SY_OK;
}

static sy_status sync_one(engine_session *s, const sched__def *d, const cJSON *existing,
                          int64_t now_ms, engine_schedule_sync_counts *c, sy_error *err)
{
    char *text = sched__def_text(d);
    char hash[65], want[100];
    engine__sha256_hex(text, strlen(text), hash);
    free(text);
    snprintf(want, sizeof want, "%s|false|rules", hash);
    const char *have = sy_json_get_string(existing, d->id);
    if (have && strcmp(have, want) == 0) {
        c->unchanged++;
        return SY_OK;
    }
    bool created = false;
    sy_status st = upsert(s, d, "rules", now_ms, &created, err);
    if (st == SY_OK)
        created ? c->created++ : c->updated++;
    return st;
}

/* Pauses rules-sourced schedules that left the file (ids: a Postgres array). */
static sy_status pause_removed(engine_session *s, const char *ids, size_t *removed, sy_error *err)
{
    const char *p[] = {s->eng->ns, ids};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "UPDATE schedules SET paused = true, note = 'removed from the "
                                "rules file', removed_at = now(), updated_at = now() "
                                "WHERE namespace = $1 AND source = 'rules' AND removed_at IS NULL "
                                "AND NOT (schedule_id = ANY ($2::text[])) RETURNING schedule_id",
                                2, p, &r, err);
    if (st == SY_OK)
        *removed = (size_t)PQntuples(r);
    PQclear(r);
    return st;
}

static sy_status sync_all(engine_session *s, const cJSON *schedules, int64_t now_ms,
                          engine_schedule_sync_counts *c, sy_error *err)
{
    const char *p[] = {s->eng->ns};
    cJSON *existing = NULL;
    sy_status st = engine__exec(s,
                                "SELECT pg_advisory_xact_lock(hashtext('switchyard.schedules.' "
                                "|| $1))",
                                1, p, NULL, err);
    if (st == SY_OK)
        st = load_existing(s, &existing, err);
    sy_buf ids = SY_BUF_INIT;
    sy_buf_putc(&ids, '{');
    const cJSON *def;
    size_t i = 0;
    cJSON_ArrayForEach(def, schedules)
    {
        if (st != SY_OK)
            break;
        sched__def d;
        st = sched__def_read(def, s->eng, &d, err);
        if (st == SY_OK)
            st = sync_one(s, &d, existing, now_ms, c, err);
        if (st == SY_OK)
            sched__pg_array_str(&ids, d.id);
        else if (err) {
            char path[SY_ERROR_PATH_MAX];
            snprintf(path, sizeof path, "schedules[%zu]%s%s", i, err->path[0] ? "." : "",
                     err->path);
            sy_strlcpy(err->path, sizeof err->path, path);
        }
        i++;
    }
    sy_buf_putc(&ids, '}');
    if (st == SY_OK)
        st = pause_removed(s, ids.data, &c->removed, err);
    sy_buf_cleanup(&ids);
    cJSON_Delete(existing);
    return st;
}

sy_status engine_schedules_sync(engine_session *s, const cJSON *schedules, int64_t now_ms,
                                engine_schedule_sync_counts *out, sy_error *err)
{
    engine_schedule_sync_counts c = {0};
    if (schedules && !cJSON_IsArray(schedules))
        return sy_error_set(err, SY_INVALID, "bad_schedule", "schedules",
                            "schedules must be an array");
    sy_status st = engine_begin(s, err);
    if (st != SY_OK)
        return st;
    st = sync_all(s, schedules, now_ms, &c, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    if (st == SY_OK && out)
        *out = c;
    return st;
}

/* ---- single-schedule operations ----------------------------------------------- */

static sy_status not_found(sy_error *err, const char *id)
{
    return sy_error_set(err, SY_NOT_FOUND, "schedule_not_found", NULL, "no schedule \"%s\"", id);
}

sy_status engine_schedule_delete(engine_session *s, const char *id, sy_error *err)
{
    const char *p[] = {s->eng->ns, id};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "DELETE FROM schedules WHERE namespace = $1 AND schedule_id = $2 "
                                "RETURNING 1",
                                2, p, &r, err);
    bool found = st == SY_OK && PQntuples(r) == 1;
    PQclear(r);
    return st != SY_OK ? st : found ? SY_OK : not_found(err, id);
}

/* Resuming: the next slot after now (slots that passed while paused are not fired). */
static sy_status resume_slot(engine_session *s, const char *id, int64_t now_ms, int64_t *next,
                             int64_t *due, sy_error *err)
{
    const char *p[] = {s->eng->ns, id};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT cron, timezone, jitter_ms, remaining_actions = 0 FROM "
                                "schedules WHERE namespace = $1 AND schedule_id = $2 FOR UPDATE",
                                2, p, &r, err);
    if (st != SY_OK)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return not_found(err, id);
    }
    sched__def d = {.id = id, .cron = PQgetvalue(r, 0, 0), .timezone = PQgetvalue(r, 0, 1)};
    d.jitter_ms = atoll(PQgetvalue(r, 0, 2));
    bool exhausted = PQgetvalue(r, 0, 3)[0] == 't';
    st = first_slot(&d, now_ms, next, due, err);
    if (exhausted)
        *next = *due = -1;
    PQclear(r);
    return st;
}

sy_status engine_schedule_pause(engine_session *s, const char *id, bool pause, const char *note,
                                int64_t now_ms, sy_error *err)
{
    int64_t next = -1, due = -1;
    sy_status st = pause ? SY_OK : resume_slot(s, id, now_ms, &next, &due, err);
    if (st != SY_OK)
        return st;
    char nexts[24], dues[24];
    snprintf(nexts, sizeof nexts, "%lld", (long long)next);
    snprintf(dues, sizeof dues, "%lld", (long long)due);
    const char *p[] = {s->eng->ns,
                       id,
                       pause ? "true" : "false",
                       note ? note : "",
                       next < 0 ? NULL : nexts,
                       due < 0 ? NULL : dues};
    PGresult *r = NULL;
    st = engine__exec(s,
                      "UPDATE schedules SET paused = $3::boolean, note = $4, updated_at = now(), "
                      "next_fire_at = CASE WHEN $3::boolean THEN next_fire_at ELSE "
                      "to_timestamp($5::bigint / 1000.0) END, due_at = CASE WHEN $3::boolean "
                      "THEN due_at ELSE to_timestamp($6::bigint / 1000.0) END "
                      "WHERE namespace = $1 AND schedule_id = $2 RETURNING 1",
                      6, p, &r, err);
    bool found = st == SY_OK && PQntuples(r) == 1;
    PQclear(r);
    return st != SY_OK ? st : found ? SY_OK : not_found(err, id);
}

sy_status engine_schedules_next_due(engine_session *s, int64_t *at_ms, sy_error *err)
{
    const char *p[] = {s->eng->ns};
    PGresult *r = NULL;
    sy_status st = engine__exec(s,
                                "SELECT " MS("min(due_at)") " FROM schedules WHERE namespace = $1 "
                                                            "AND NOT paused AND due_at IS NOT NULL",
                                1, p, &r, err);
    if (st == SY_OK)
        *at_ms = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}

sy_status engine_schedules_create_many(engine_session *s, const char *prefix, size_t n,
                                       const cJSON *def, int64_t now_ms, sy_error *err)
{
    cJSON *copy = cJSON_Duplicate(def, 1);
    /* (cJSON_ReplaceItem... would leak the new item when "id" is absent) */
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "id");
    cJSON_AddStringToObject(copy, "id", prefix);
    sched__def d;
    sy_status st = sched__def_read(copy, s->eng, &d, err);
    int64_t next = -1, due = -1;
    if (st == SY_OK)
        st = first_slot(&d, now_ms, &next, &due, err);
    if (st != SY_OK) {
        cJSON_Delete(copy);
        return st;
    }
    char *text = sched__def_text(&d);
    char hash[65], nexts[24], count[24], catchup[24], limited[24];
    engine__sha256_hex(text, strlen(text), hash);
    snprintf(nexts, sizeof nexts, "%lld", (long long)next);
    snprintf(count, sizeof count, "%zu", n);
    snprintf(catchup, sizeof catchup, "%lld", (long long)d.catchup_window_ms);
    snprintf(limited, sizeof limited, "%lld", (long long)d.limited_actions);
    char *input = d.input ? cJSON_PrintUnformatted(d.input) : strdup("{}");
    const char *p[] = {s->eng->ns, prefix,  text,
                       hash,       d.cron,  d.timezone,
                       d.workflow, input,   engine_overlap_name(d.overlap),
                       catchup,    limited, nexts,
                       count};
    st = engine__exec(s,
                      "INSERT INTO schedules (namespace, schedule_id, source, def, def_hash, "
                      "cron, timezone, workflow_type, input, overlap, catchup_window_ms, "
                      "jitter_ms, limited_actions, remaining_actions, paused, next_fire_at, "
                      "due_at) SELECT $1, $2 || g, 'cli', $3::jsonb, $4, $5, $6, $7, $8::jsonb, "
                      "$9, $10::bigint, 0, $11::int, NULLIF($11::int, 0), false, "
                      "to_timestamp($12::bigint / 1000.0), to_timestamp($12::bigint / 1000.0) "
                      "FROM generate_series(0, $13::int - 1) g",
                      13, p, NULL, err);
    free(text);
    free(input);
    cJSON_Delete(copy);
    return st;
}
