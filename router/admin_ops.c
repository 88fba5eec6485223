/* admin_ops.c: /api/v1/schedules, /api/v1/dead-letters, /api/v1/task-queues
 * and /api/v1/events (docs/http-api.md). Reads and writes go through
 * engine.h and schedule.h; a replay goes through dlq.h on the service's own
 * NATS connection. */
#include "admin_int.h"
#include "clock.h"
#include "dlq.h"
#include "json.h"
#include "publish.h"
#include "schedule.h"
#include "timefmt.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static engine_session *session_or_503(api_req *q)
{
    sy_error err;
    sy_error_clear(&err);
    engine_session *s = admin__session(q->a, &err);
    if (!s)
        api_error(q, 503, "unavailable", NULL, "Postgres unavailable, retry later");
    return s;
}

/* ---- schedules ------------------------------------------------------------------------ */

typedef struct sched_call {
    const char *id, *note;
    int verb; /* 0 pause, 1 resume, 2 trigger, 3 backfill */
    int64_t start_ms, end_ms;
    engine_overlap overlap;
    bool has_overlap;
    engine_schedule_fire fire;
    engine_schedule_backfill_counts counts;
} sched_call;

static sy_status do_sched(engine_session *s, void *arg, sy_error *err)
{
    sched_call *c = arg;
    int64_t now = sy_clock_now_ms(NULL);
    switch (c->verb) {
    case 0:
    case 1:
        return engine_schedule_pause(s, c->id, c->verb == 0, c->note, now, err);
    case 2:
        return engine_schedule_trigger(s, c->id, now, c->has_overlap ? &c->overlap : NULL, &c->fire,
                                       err);
    default:
        return engine_schedule_backfill(s, c->id, c->start_ms, c->end_ms, c->overlap, now,
                                        &c->counts, err);
    }
}

static bool body_time(api_req *q, const char *name, int64_t *ms)
{
    const char *v;
    if (!api_body_str(q, name, 64, true, &v))
        return false;
    sy_error err;
    sy_error_clear(&err);
    if (sy_time_parse_rfc3339(v, name, ms, &err) != SY_OK) {
        api_error(q, 400, "bad_field", name, "%s: not an RFC 3339 time", name);
        return false;
    }
    return true;
}

static bool body_overlap(api_req *q, sched_call *c)
{
    const char *v;
    if (!api_body_str(q, "overlap", 32, false, &v))
        return false;
    if (!v)
        return true;
    if (!engine_overlap_parse(v, &c->overlap)) {
        api_error(q, 400, "bad_field", "overlap",
                  "overlap: must be skip, buffer_one, buffer_all, cancel_other, "
                  "terminate_other or allow_all");
        return false;
    }
    c->has_overlap = true;
    return true;
}

static void sched_action(api_req *q, const char *id, const char *verb)
{
    static const char *const verbs[] = {"pause", "resume", "trigger", "backfill", NULL};
    static const char *const allowed[][4] = {
        {"note", NULL}, {"note", NULL}, {"overlap", NULL}, {"start", "end", "overlap", NULL}};
    sched_call c = {.id = id, .verb = -1, .overlap = ENGINE_OVERLAP_ALLOW_ALL};
    for (int i = 0; verbs[i]; i++)
        if (!strcmp(verb, verbs[i]))
            c.verb = i;
    if (c.verb < 0)
        return; /* 404 */
    if (!api_body_only(q, allowed[c.verb]))
        return;
    if (c.verb <= 1 && !api_body_str(q, "note", 500, false, &c.note))
        return;
    if (c.verb >= 2 && !body_overlap(q, &c))
        return;
    if (c.verb == 3 && (!body_time(q, "start", &c.start_ms) || !body_time(q, "end", &c.end_ms)))
        return;
    if (c.verb == 3 && c.end_ms <= c.start_ms) {
        api_error(q, 400, "bad_field", "end", "end: must be after start");
        return;
    }
    if (!api_tx(q, do_sched, &c))
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "action", verb);
    if (c.verb == 2) {
        cJSON_AddStringToObject(j, "workflow_id", c.fire.workflow_id);
        cJSON_AddBoolToObject(j, "started", c.fire.started);
        cJSON_AddBoolToObject(j, "buffered", c.fire.buffered);
        cJSON_AddStringToObject(j, "run_id", c.fire.run_id);
        cJSON_AddStringToObject(j, "reason", c.fire.started ? "" : c.fire.reason);
    } else if (c.verb == 3) {
        cJSON_AddNumberToObject(j, "slots", (double)c.counts.slots);
        cJSON_AddNumberToObject(j, "started", (double)c.counts.started);
        cJSON_AddNumberToObject(j, "skipped", (double)c.counts.skipped);
        cJSON_AddNumberToObject(j, "buffered", (double)c.counts.buffered);
        cJSON_AddNumberToObject(j, "already_fired", (double)c.counts.already_fired);
    }
    api_ok(q, j);
}

/* One schedule with its upcoming slots and its recent firings (the runs
 * whose IDs it made: "<id>:<time>", newest first). */
static void sched_describe(api_req *q, engine_session *s, const char *id)
{
    sy_error err;
    sy_error_clear(&err);
    cJSON *j = NULL;
    sy_status st = engine_schedule_describe(s, id, sy_clock_now_ms(NULL), 5, &j, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s:", id);
    engine_list_filter f = {.id_prefix = prefix, .limit = 10};
    cJSON *runs = NULL;
    if (engine_list(s, &f, &runs, &err) == SY_OK)
        cJSON_AddItemToObject(j, "recent_firings",
                              cJSON_DetachItemFromObjectCaseSensitive(runs, "workflows"));
    cJSON_Delete(runs);
    api_ok(q, j);
}

void api_schedules(api_req *q)
{
    if (q->nseg >= 2 && !api_valid_name(q->seg[1], 255)) {
        api_error(q, 400, "bad_schedule_id", "id",
                  "id: must be 1-255 characters of [A-Za-z0-9._:/-]");
        return;
    }
    if (q->nseg == 3 && q->post) {
        sched_action(q, q->seg[1], q->seg[2]);
        return;
    }
    if (q->post || q->nseg > 2)
        return;
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    if (q->nseg == 2) {
        sched_describe(q, s, q->seg[1]);
        return;
    }
    sy_error err;
    sy_error_clear(&err);
    cJSON *list = NULL; /* {"schedules": [every one], "next_page_token": null} */
    sy_status st = engine_schedule_list(s, NULL, 0, &list, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    api_ok(q, list);
}

/* ---- dead letters ---------------------------------------------------------------------- */

/* One dead letter as JSON; with_body: headers, and the body as text when it
 * is UTF-8 (else body_base64), and the source and type of an envelope body. */
static cJSON *dl_json(const engine_dead_letter_row *r, bool with_body)
{
    char ts[SY_TIME_RFC3339_MAX];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    if (r->event_id)
        cJSON_AddStringToObject(o, "event_id", r->event_id);
    else
        cJSON_AddNullToObject(o, "event_id");
    cJSON_AddStringToObject(o, "code", r->code ? r->code : "");
    cJSON_AddStringToObject(o, "message", r->message ? r->message : "");
    cJSON_AddStringToObject(o, "subject", r->subject ? r->subject : "");
    if (r->route)
        cJSON_AddStringToObject(o, "route", r->route);
    else
        cJSON_AddNullToObject(o, "route");
    cJSON_AddNumberToObject(o, "failures", (double)(r->failures ? r->failures : 1));
    cJSON_AddNumberToObject(o, "stream_seq", (double)r->stream_seq);
    cJSON_AddStringToObject(o, "created_at", sy_time_format_rfc3339(r->created_at_ms, ts));
    cJSON_AddStringToObject(
        o, "updated_at",
        sy_time_format_rfc3339(r->updated_at_ms ? r->updated_at_ms : r->created_at_ms, ts));
    cJSON_AddBoolToObject(o, "replayed", r->replayed_at_ms != 0);
    if (r->replayed_at_ms)
        cJSON_AddStringToObject(o, "replayed_at", sy_time_format_rfc3339(r->replayed_at_ms, ts));
    bool utf8 =
        r->body && sy_json_utf8_valid(r->body, r->body_len) && strlen(r->body) == r->body_len;
    if (r->trace_id)
        cJSON_AddStringToObject(o, "trace_id", r->trace_id);
    cJSON *env = NULL;
    sy_error err;
    sy_error_clear(&err);
    if (r->type || r->source) { /* what parsed when it was dead-lettered (011) */
        if (r->source)
            cJSON_AddStringToObject(o, "source", r->source);
        if (r->type)
            cJSON_AddStringToObject(o, "type", r->type);
    } else if (utf8 && sy_json_parse(r->body, r->body_len, 0, NULL, &env, &err) == SY_OK &&
               cJSON_IsObject(env)) { /* a dead letter recorded before 011 */
        const char *src = sy_json_get_string(env, "source"),
                   *type = sy_json_get_string(env, "type");
        if (src)
            cJSON_AddStringToObject(o, "source", src);
        if (type)
            cJSON_AddStringToObject(o, "type", type);
    }
    cJSON_Delete(env);
    if (!with_body)
        return o;
    cJSON_AddItemToObject(o, "headers",
                          r->headers ? cJSON_Duplicate(r->headers, 1) : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "body_bytes", (double)r->body_len);
    if (utf8) {
        cJSON_AddStringToObject(o, "body", r->body);
    } else {
        size_t n = sodium_base64_encoded_len(r->body_len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(n);
        if (b64) {
            sodium_bin2base64(b64, n, (const unsigned char *)r->body, r->body_len,
                              sodium_base64_VARIANT_ORIGINAL);
            cJSON_AddStringToObject(o, "body_base64", b64);
        }
        free(b64);
    }
    return o;
}

/* The filters of a list or a replay-all: code, source, type, since, until,
 * from the query string (get) or the body. */
static bool dl_filter(api_req *q, engine_dlq_filter *f, bool from_body)
{
    const char *names[] = {"code", "source", "type"};
    const char **dst[] = {&f->code, &f->source, &f->type};
    for (size_t i = 0; i < 3; i++) {
        if (from_body ? !api_body_str(q, names[i], 255, false, dst[i])
                      : !api_param_name(q, names[i], 255, dst[i]))
            return false;
        if (*dst[i] && !api_valid_name(*dst[i], 255)) {
            api_error(q, 400, "bad_field", names[i],
                      "%s: must be 1-255 characters of [A-Za-z0-9._:/-]", names[i]);
            return false;
        }
    }
    if (!from_body)
        return api_param_time(q, "since", &f->since_ms) && api_param_time(q, "until", &f->until_ms);
    const char *since, *until;
    if (!api_body_str(q, "since", 64, false, &since) ||
        !api_body_str(q, "until", 64, false, &until))
        return false;
    sy_error err;
    sy_error_clear(&err);
    if ((since && sy_time_parse_rfc3339(since, "since", &f->since_ms, &err) != SY_OK) ||
        (until && sy_time_parse_rfc3339(until, "until", &f->until_ms, &err) != SY_OK)) {
        api_error(q, 400, "bad_field", err.path, "%s: not an RFC 3339 time", err.path);
        return false;
    }
    return true;
}

static void dl_list(api_req *q, engine_session *s)
{
    engine_dlq_filter f = {.newest_first = true};
    int64_t lim, before;
    if (!dl_filter(q, &f, false) || !api_param_int(q, "limit", 1, 500, 50, &lim) ||
        !api_param_int(q, "before_id", 0, INT64_MAX, 0, &before))
        return;
    f.limit = (size_t)lim;
    f.before_id = before;
    f.include_replayed = api_param(q, "include_replayed") != NULL;
    engine_dead_letter_list l = {0};
    sy_error err;
    sy_error_clear(&err);
    sy_status st = engine_dead_letters_list(s, &f, &l, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "dead_letters");
    for (size_t i = 0; i < l.len; i++)
        cJSON_AddItemToArray(arr, dl_json(&l.items[i], false));
    if (l.len == f.limit)
        cJSON_AddNumberToObject(j, "next_before_id", (double)l.items[l.len - 1].id);
    else
        cJSON_AddNullToObject(j, "next_before_id");
    engine_dead_letter_list_cleanup(&l);
    api_ok(q, j);
}

static bool dl_id(api_req *q, int64_t *id)
{
    char *end = NULL;
    long long v = strtoll(q->seg[1], &end, 10);
    if (*end || v < 1) {
        api_error(q, 400, "bad_id", "id", "id: must be a dead letter's number");
        return false;
    }
    *id = v;
    return true;
}

static void dl_show(api_req *q, engine_session *s, int64_t id)
{
    engine_dead_letter_row r = {0};
    sy_error err;
    sy_error_clear(&err);
    sy_status st = engine_dead_letter_get(s, id, &r, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    cJSON *j = dl_json(&r, true);
    if (!r.replayed_at_ms && r.failures > 1) {
        /* replayed and refused again: this dead letter, updated */
        char ts[SY_TIME_RFC3339_MAX];
        cJSON *oc = cJSON_AddObjectToObject(j, "replay");
        cJSON_AddStringToObject(oc, "status", "dead_lettered");
        cJSON_AddNumberToObject(oc, "dead_letter_id", (double)r.id);
        cJSON_AddStringToObject(oc, "code", r.code ? r.code : "");
        cJSON_AddStringToObject(oc, "message", r.message ? r.message : "");
        cJSON_AddStringToObject(oc, "at", sy_time_format_rfc3339(r.updated_at_ms, ts));
    } else if (r.replayed_at_ms) {
        char key[ROUTER_DLQ_KEY_MAX];
        router_dlq_replay_key(&r, key, sizeof key);
        cJSON *oc = NULL;
        if (engine_dead_letter_replay_outcome(s, r.id, key, ROUTER_REPLAY_HEADER, &oc, &err) ==
            SY_OK)
            cJSON_AddItemToObject(j, "replay", oc);
    }
    engine_dead_letter_row_cleanup(&r);
    api_ok(q, j);
}

/* Replays r; the result object says how it went. */
static cJSON *replay_one(api_req *q, engine_session *s, router_publisher *pub,
                         const engine_dead_letter_row *r)
{
    uint64_t seq = 0;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = router_dlq_replay(s, pub, r, &seq, &err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddBoolToObject(o, "replayed", st == SY_OK);
    if (st == SY_OK) {
        cJSON_AddStringToObject(o, "subject", r->subject);
        cJSON_AddNumberToObject(o, "stream_seq", (double)seq);
    } else {
        cJSON_AddStringToObject(o, "error", err.message);
        SY_LOG(q->a->log, SY_LOG_WARN, "dead letter replay failed", "error", err.message);
    }
    return o;
}

static router_publisher *publisher(api_req *q)
{
    router *r = q->a->r;
    router_publisher *pub =
        atomic_load(&r->started) && r->js ? router_publisher_borrow(r->js) : NULL;
    if (!pub)
        api_error(q, 503, "unavailable", NULL, "NATS is not connected yet, retry later");
    return pub;
}

static void dl_replay_id(api_req *q, engine_session *s, int64_t id)
{
    static const char *const allowed[] = {NULL};
    if (!api_body_only(q, allowed))
        return;
    engine_dead_letter_row r = {0};
    sy_error err;
    sy_error_clear(&err);
    sy_status st = engine_dead_letter_get(s, id, &r, &err);
    router_publisher *pub = st == SY_OK ? publisher(q) : NULL;
    if (st != SY_OK)
        api_fail(q, st, &err);
    else if (pub)
        api_ok(q, replay_one(q, s, pub, &r));
    router_publisher_free(pub);
    engine_dead_letter_row_cleanup(&r);
}

/* POST /dead-letters/replay: the not yet replayed ones matching the
 * filter, oldest first, at most limit per call (the UI calls again with
 * next_after_id), so one request never holds the admin loop for long. */
static void dl_replay_all(api_req *q, engine_session *s)
{
    static const char *const allowed[] = {"code",  "source",   "type",  "since",
                                          "until", "after_id", "limit", NULL};
    engine_dlq_filter f = {0};
    if (!api_body_only(q, allowed) || !dl_filter(q, &f, true))
        return;
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(q->body, "after_id");
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(q->body, "limit");
    if ((after && (!cJSON_IsNumber(after) || after->valuedouble < 0)) ||
        (lim && (!cJSON_IsNumber(lim) || lim->valuedouble < 1 || lim->valuedouble > 100))) {
        api_error(q, 400, "bad_field", after && !cJSON_IsNumber(after) ? "after_id" : "limit",
                  "after_id: a number >= 0; limit: a number from 1 to 100");
        return;
    }
    if (!f.code && !f.source && !f.type && !f.since_ms && !f.until_ms) {
        api_error(q, 400, "missing_filter", "code",
                  "give code, source, type, since or until (refusing to replay everything)");
        return;
    }
    f.after_id = after ? (int64_t)after->valuedouble : 0;
    f.limit = lim ? (size_t)lim->valuedouble : 50;
    router_publisher *pub = publisher(q);
    if (!pub)
        return;
    engine_dead_letter_list l = {0};
    sy_error err;
    sy_error_clear(&err);
    sy_status st = engine_dead_letters_list(s, &f, &l, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
    } else {
        cJSON *j = cJSON_CreateObject();
        cJSON *res = cJSON_AddArrayToObject(j, "results");
        for (size_t i = 0; i < l.len; i++)
            cJSON_AddItemToArray(res, replay_one(q, s, pub, &l.items[i]));
        if (l.len == f.limit)
            cJSON_AddNumberToObject(j, "next_after_id", (double)l.items[l.len - 1].id);
        else
            cJSON_AddNullToObject(j, "next_after_id");
        api_ok(q, j);
    }
    engine_dead_letter_list_cleanup(&l);
    router_publisher_free(pub);
}

void api_dead_letters(api_req *q)
{
    if (q->nseg > 3)
        return;
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    int64_t id = 0;
    if (q->nseg == 1 && !q->post)
        dl_list(q, s);
    else if (q->nseg == 2 && q->post && !strcmp(q->seg[1], "replay"))
        dl_replay_all(q, s);
    else if (q->nseg == 2 && !q->post && dl_id(q, &id))
        dl_show(q, s, id);
    else if (q->nseg == 3 && q->post && !strcmp(q->seg[2], "replay") && dl_id(q, &id))
        dl_replay_id(q, s, id);
}

/* ---- joins ------------------------------------------------------------------------------ */

/* GET /api/v1/joins[?route=R&limit=N&page_token=T]: the open joins
 * (engine_join_list); GET /api/v1/joins/<route>/<key>: one, with its parts'
 * envelopes (engine_join_get). */
void api_joins(api_req *q)
{
    if (q->post || (q->nseg != 1 && q->nseg != 3))
        return;
    engine_join_filter f = {.now_ms = sy_clock_now_ms(NULL)};
    int64_t lim = 100;
    if (q->nseg == 1 && (!api_param_int(q, "limit", 1, 1000, 100, &lim) ||
                         !api_param_name(q, "route", 255, &f.route)))
        return;
    f.limit = (size_t)lim;
    f.page_token = api_param(q, "page_token");
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    sy_error err;
    sy_error_clear(&err);
    cJSON *j = NULL;
    sy_status st = q->nseg == 1 ? engine_join_list(s, &f, &j, &err)
                                : engine_join_get(s, q->seg[1], q->seg[2], f.now_ms, &j, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    api_ok(q, j);
}

/* ---- task queues and events ------------------------------------------------------------- */

/* Kept for 2 s: it scans the open tasks, and several browsers watching
 * the page should cost one scan, not one each. */
void api_task_queues(api_req *q)
{
    if (q->nseg != 1 || q->post)
        return;
    admin_server *a = q->a;
    int64_t now = sy_clock_now_ms(NULL);
    if (!a->queues_cache || now - a->queues_at_ms > 2000) {
        engine_session *s = session_or_503(q);
        if (!s)
            return;
        sy_error err;
        sy_error_clear(&err);
        cJSON *j = NULL;
        sy_status st = engine_task_queues(s, now, &j, &err);
        if (st != SY_OK) {
            api_fail(q, st, &err);
            return;
        }
        cJSON_Delete(a->queues_cache);
        a->queues_cache = j;
        a->queues_at_ms = now;
    }
    api_ok(q, cJSON_Duplicate(a->queues_cache, 1));
}

void api_events(api_req *q)
{
    int64_t lim, after;
    if (q->nseg != 1 || q->post || !api_param_int(q, "limit", 1, ROUTER_RECENT, 100, &lim) ||
        !api_param_int(q, "after_seq", 0, INT64_MAX, 0, &after))
        return;
    uint64_t last = 0;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "events",
                          router_recent_json(q->a->r->recent, (uint64_t)after, (size_t)lim, &last));
    cJSON_AddNumberToObject(j, "last_seq", (double)last);
    cJSON_AddNumberToObject(j, "capacity", ROUTER_RECENT);
    api_ok(q, j);
}
