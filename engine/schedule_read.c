/* schedule_read.c: reading schedules for the CLI and the API: list and
 * describe (with the upcoming slots computed from the cron spec). */
#include "schedule_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The JSON object of one row; used by both list and describe. */
static const char ROW_JSON[] =
    "json_build_object('id', schedule_id, 'source', source, 'cron', cron, 'timezone', timezone, "
    "'workflow', workflow_type, 'input', input, 'overlap', overlap, 'catchup_window_ms', "
    "catchup_window_ms, 'jitter_ms', jitter_ms, 'limited_actions', limited_actions, "
    "'remaining_actions', remaining_actions, 'paused', paused, 'note', note, "
    "'removed_from_rules', removed_at IS NOT NULL, "
    "'next_fire_at', " TS("next_fire_at") ", 'due_at', " TS("due_at") ", 'last_fire_at', " TS(
        "last_fire_at") ", 'last_workflow_id', last_workflow_id, 'buffered', jsonb_array_length("
                        "buffered), 'fired', fired_count, 'skipped', skipped_count, 'missed', "
                        "missed_count, 'next_fire_ms', (extract(epoch from next_fire_at) * "
                        "1000)::bigint)";

static sy_status query_json(engine_session *s, const char *sql, int n, const char *const *p,
                            cJSON **out, sy_error *err)
{
    PGresult *r = NULL;
    *out = NULL;
    sy_status st = engine__exec(s, sql, n, p, &r, err);
    if (st != SY_OK)
        return st;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *out = cJSON_Parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    return SY_OK;
}

sy_status engine_schedule_list(engine_session *s, const char *after_id, size_t limit, cJSON **out,
                               sy_error *err)
{
    /* keyset on the id: one more row than the page says whether another
     * follows; LIMIT NULL (limit 0) is every row */
    char sql[3072], lim[24];
    snprintf(sql, sizeof sql,
             "WITH p AS (SELECT schedule_id AS id, %s AS j FROM schedules WHERE namespace = $1 "
             "AND schedule_id > coalesce($2, '') ORDER BY schedule_id LIMIT $3::int + 1), "
             "k AS (SELECT * FROM p ORDER BY id LIMIT $3::int) "
             "SELECT json_build_object('schedules', coalesce((SELECT json_agg(j ORDER BY id) "
             "FROM k), '[]'), 'next_page_token', CASE WHEN (SELECT count(*) FROM p) > (SELECT "
             "count(*) FROM k) THEN (SELECT max(id) FROM k) END)::text",
             ROW_JSON);
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *p[] = {s->eng->ns, after_id, limit ? lim : NULL};
    sy_status st = query_json(s, sql, 3, p, out, err);
    if (st == SY_OK && !*out)
        st = sy_error_set(err, SY_DB, "bad_result", NULL, "could not read schedules");
    return st;
}

/* Adds "upcoming": the next n slots (RFC 3339 UTC) from next_fire_ms on. */
static void add_upcoming(cJSON *o, size_t n, sy_error *err)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "upcoming");
    const cJSON *next = sy_json_get(o, "next_fire_ms");
    if (!cJSON_IsNumber(next) || cJSON_IsTrue(sy_json_get(o, "paused")))
        return;
    sy_cron *c = NULL;
    sy_tz *tz = NULL;
    if (sy_cron_parse(sy_json_get_string(o, "cron"), &c, err) == SY_OK &&
        sy_tz_load(sy_json_get_string(o, "timezone"), &tz, err) == SY_OK) {
        int64_t t = (int64_t)next->valuedouble;
        for (size_t i = 0; i < n && t != SY_CRON_NEVER; i++) {
            char ts[SY_RFC3339_MAX];
            sy_format_rfc3339_utc(t, ts, sizeof ts);
            cJSON_AddItemToArray(arr, cJSON_CreateString(ts));
            t = sy_cron_next(c, tz, t);
        }
    }
    sy_cron_free(c);
    sy_tz_free(tz);
}

sy_status engine_schedule_describe(engine_session *s, const char *id, int64_t now_ms,
                                   size_t upcoming, cJSON **out, sy_error *err)
{
    (void)now_ms; /* the next slot is stored; upcoming ones follow from it */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT %s::text FROM schedules WHERE namespace = $1 AND schedule_id = $2", ROW_JSON);
    const char *p[] = {s->eng->ns, id};
    sy_status st = query_json(s, sql, 2, p, out, err);
    if (st != SY_OK)
        return st;
    if (!*out)
        return sy_error_set(err, SY_NOT_FOUND, "schedule_not_found", NULL, "no schedule \"%s\"",
                            id);
    add_upcoming(*out, upcoming, err);
    return SY_OK;
}
