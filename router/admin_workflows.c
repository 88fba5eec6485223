/* admin_workflows.c: /api/v1/workflows and /api/v1/tasks (docs/http-api.md):
 * the list with its filters and query box, counts per status, one
 * workflow's detail and history, and the actions: signal, cancel,
 * terminate, retry a task now. Every read and write is an engine.h call. */
#include "admin_int.h"
#include "admin_query.h"
#include "clock.h"
#include "json.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The list filters from the query string and the query box q; a filter
 * given both ways is refused. *qb holds q's strings. */
static bool list_filter(api_req *q, engine_list_filter *f, admin_query *qb)
{
    memset(f, 0, sizeof *f);
    const char *text = api_param(q, "q");
    sy_error err;
    sy_error_clear(&err);
    if (admin_query_parse(text ? text : "", qb, &err) != SY_OK) {
        api_fail(q, SY_INVALID, &err);
        return false;
    }
    const char *status = api_param(q, "status");
    const char *const *statuses = engine_workflow_statuses;
    bool ok = !status;
    for (size_t i = 0; statuses[i] && !ok; i++)
        ok = !strcmp(status, statuses[i]);
    if (!ok) {
        api_error(q, 400, "bad_param", "status",
                  "status: must be running, completed, failed, canceled or terminated");
        return false;
    }
    int64_t lim;
    if (!api_param_name(q, "type", 255, &f->workflow_type) ||
        !api_param_name(q, "id_prefix", 255, &f->id_prefix) ||
        !api_param_name(q, "queue", 255, &f->task_queue) ||
        !api_param_time(q, "started_after", &f->started_after_ms) ||
        !api_param_time(q, "started_before", &f->started_before_ms) ||
        !api_param_int(q, "limit", 1, 1000, 50, &lim))
        return false;
    f->status = status;
    f->limit = (size_t)lim;
    f->page_token = api_param(q, "page_token");
    struct {
        const char *name, **dst, *from_q;
    } both[] = {{"status", &f->status, qb->status},
                {"type", &f->workflow_type, qb->type},
                {"id_prefix", &f->id_prefix, qb->id_prefix},
                {"queue", &f->task_queue, qb->queue}};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
        if (!*both[i].from_q)
            continue;
        if (*both[i].dst) {
            api_error(q, 400, "conflicting_filters", both[i].name,
                      "%s: given both as a parameter and in q", both[i].name);
            return false;
        }
        *both[i].dst = both[i].from_q;
    }
    if ((qb->started_after_ms && f->started_after_ms) ||
        (qb->started_before_ms && f->started_before_ms)) {
        api_error(q, 400, "conflicting_filters", "q",
                  "started: given both as a parameter and in q");
        return false;
    }
    if (qb->started_after_ms)
        f->started_after_ms = qb->started_after_ms;
    if (qb->started_before_ms)
        f->started_before_ms = qb->started_before_ms;
    return true;
}

static engine_session *session_or_503(api_req *q)
{
    sy_error err;
    sy_error_clear(&err);
    engine_session *s = admin__session(q->a, &err);
    if (!s)
        api_error(q, 503, "unavailable", NULL, "Postgres unavailable, retry later");
    return s;
}

/* A read returning one cJSON tree: replies it or the failure. */
static void reply_read(api_req *q, sy_status st, cJSON *j, const sy_error *err)
{
    if (st == SY_OK)
        api_ok(q, j);
    else
        api_fail(q, st, err);
}

/* Counts walk up to `bound` runs: every browser on the Workflows page asks
 * for them again after changes, so the answer for one query string is kept
 * 2 s and shared (8 query strings, the oldest replaced). */
static void counts_cached(api_req *q, engine_session *s, const engine_list_filter *f, size_t bound)
{
    admin_server *a = q->a;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(q->req);
    const char *key = uri && evhttp_uri_get_query(uri) ? evhttp_uri_get_query(uri) : "";
    int64_t now = sy_mono_ms();
    size_t n = sizeof a->counts / sizeof a->counts[0], slot = 0;
    for (size_t i = 0; i < n; i++) {
        if (a->counts[i].j && !strcmp(a->counts[i].key, key) && now - a->counts[i].at_ms < 2000) {
            api_ok(q, cJSON_Duplicate(a->counts[i].j, 1));
            return;
        }
        if (a->counts[i].at_ms < a->counts[slot].at_ms)
            slot = i;
    }
    sy_error err;
    sy_error_clear(&err);
    cJSON *j = NULL;
    sy_status st = engine_workflow_counts(s, f, bound, &j, &err);
    if (st != SY_OK) {
        api_fail(q, st, &err);
        return;
    }
    if (strlen(key) < sizeof a->counts[slot].key) {
        cJSON_Delete(a->counts[slot].j);
        a->counts[slot].j = cJSON_Duplicate(j, 1);
        snprintf(a->counts[slot].key, sizeof a->counts[slot].key, "%s", key);
        a->counts[slot].at_ms = now;
    }
    api_ok(q, j);
}

static void list(api_req *q, bool counts)
{
    engine_list_filter f;
    admin_query qb;
    if (!list_filter(q, &f, &qb))
        return;
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    sy_error err;
    sy_error_clear(&err);
    cJSON *j = NULL;
    int64_t bound = 0;
    if (counts && !api_param_int(q, "bound", 1000, 1000000, 100000, &bound))
        return;
    if (counts) {
        counts_cached(q, s, &f, (size_t)bound);
        return;
    }
    sy_status st = engine_list(s, &f, &j, &err);
    reply_read(q, st, j, &err);
}

static bool run_id_param(api_req *q, const char **run_id)
{
    *run_id = api_param(q, "run_id");
    if (!*run_id)
        return true;
    /* a uuid: 36 characters of hex and dashes (the SQL casts it) */
    bool ok = strlen(*run_id) == 36;
    for (const char *p = *run_id; ok && *p; p++)
        ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-';
    if (!ok)
        api_error(q, 400, "bad_param", "run_id", "run_id: must be a run id (a uuid)");
    return ok;
}

static void detail(api_req *q, const char *wid)
{
    const char *run_id;
    if (!run_id_param(q, &run_id))
        return;
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    sy_error err;
    sy_error_clear(&err);
    cJSON *j = NULL;
    sy_status st = engine_workflow_detail(s, wid, run_id, &j, &err);
    if (st == SY_NOT_FOUND) /* a purged ID still has its tombstone */
        st = engine_describe(s, wid, run_id, &j, &err);
    if (st == SY_NOT_FOUND)
        sy_error_set(&err, SY_NOT_FOUND, "not_found", "workflow_id", "no workflow \"%.200s\"", wid);
    reply_read(q, st, j, &err);
}

static void history(api_req *q, const char *wid)
{
    const char *run_id;
    int64_t after, lim;
    if (!run_id_param(q, &run_id) || !api_param_int(q, "after_seq", 0, INT32_MAX, 0, &after) ||
        !api_param_int(q, "limit", 1, 10000, 1000, &lim))
        return;
    engine_session *s = session_or_503(q);
    if (!s)
        return;
    sy_error err;
    sy_error_clear(&err);
    cJSON *events = NULL;
    sy_status st = engine_history(s, wid, run_id, after, (size_t)lim, &events, &err);
    if (st != SY_OK) {
        if (st == SY_NOT_FOUND)
            sy_error_set(&err, SY_NOT_FOUND, "not_found", "workflow_id", "no workflow \"%.200s\"",
                         wid);
        api_fail(q, st, &err);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "workflow_id", wid);
    cJSON_AddItemToObject(j, "events", events);
    if (api_param(q, "download")) {
        /* the file name is built from the ID's safe characters only */
        char name[300] = "history.json";
        size_t n = 0;
        for (const char *p = wid; *p && n < 200; p++)
            name[n++] = strchr("/:", *p) ? '_' : *p;
        snprintf(name + n, sizeof name - n, ".history.json");
        char disp[400];
        snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
        evhttp_add_header(evhttp_request_get_output_headers(q->req), "Content-Disposition", disp);
    }
    api_ok(q, j);
}

/* ---- actions ------------------------------------------------------------------------ */

typedef struct action {
    const char *wid, *signal, *reason, *event_id, *task_id;
    const cJSON *payload;
    engine_result res;
} action;

static sy_status do_signal(engine_session *s, void *arg, sy_error *err)
{
    action *x = arg;
    engine_signal_req r = {.workflow_id = x->wid,
                           .signal = x->signal,
                           .payload = x->payload,
                           .event_id = x->event_id,
                           .if_missing = RULES_IF_MISSING_DEAD_LETTER};
    return engine_signal(s, &r, &x->res, err);
}

static sy_status do_cancel(engine_session *s, void *arg, sy_error *err)
{
    action *x = arg;
    return engine_cancel(s, x->wid, x->reason, &x->res, err);
}

static sy_status do_terminate(engine_session *s, void *arg, sy_error *err)
{
    action *x = arg;
    return engine_terminate(s, x->wid, x->reason, &x->res, err);
}

static sy_status do_retry(engine_session *s, void *arg, sy_error *err)
{
    action *x = arg;
    return engine_task_retry_now(s, x->task_id, err);
}

/* The result of an applied action, or a refusal's code as 404/409. */
static void action_reply(api_req *q, const char *what, action *x)
{
    if (x->res.outcome == ENGINE_DUPLICATE && x->res.code[0] == 0) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflow_id", x->wid);
        cJSON_AddStringToObject(j, what, "duplicate");
        cJSON_AddStringToObject(j, "event_id", x->event_id ? x->event_id : "");
        api_ok(q, j);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "workflow_id", x->wid);
    cJSON_AddStringToObject(j, "run_id", x->res.run_id);
    cJSON_AddStringToObject(j, what, "applied");
    if (x->event_id)
        cJSON_AddStringToObject(j, "event_id", x->event_id);
    api_ok(q, j);
}

static void signal_wf(api_req *q, const char *wid)
{
    static const char *const allowed[] = {"signal", "payload", "request_id", NULL};
    action x = {.wid = wid};
    const char *req_id;
    if (!api_body_only(q, allowed) || !api_body_str(q, "signal", 255, true, &x.signal) ||
        !api_body_str(q, "request_id", 100, false, &req_id))
        return;
    if (!api_valid_name(x.signal, 255)) {
        api_error(q, 400, "bad_field", "signal",
                  "signal: must be 1-255 characters of [A-Za-z0-9._:/-]");
        return;
    }
    char event_id[160];
    if (req_id) {
        /* the client's id makes a retried request (a double click, a
         * reconnect) one signal: the engine applies an event_id once */
        if (!api_valid_name(req_id, 100)) {
            api_error(q, 400, "bad_field", "request_id",
                      "request_id: must be 1-100 characters of [A-Za-z0-9._:/-]");
            return;
        }
        snprintf(event_id, sizeof event_id, "api:%s", req_id);
    } else {
        unsigned char rnd[16];
        char hex[33];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        snprintf(event_id, sizeof event_id, "api:%s", hex);
    }
    x.event_id = event_id;
    x.payload = cJSON_GetObjectItemCaseSensitive(q->body, "payload");
    if (api_tx(q, do_signal, &x))
        action_reply(q, "signal", &x);
}

static void close_wf(api_req *q, const char *wid, bool terminate)
{
    static const char *const allowed[] = {"reason", NULL};
    action x = {.wid = wid};
    if (!api_body_only(q, allowed) || !api_body_str(q, "reason", 1000, terminate, &x.reason))
        return;
    if (api_tx(q, terminate ? do_terminate : do_cancel, &x))
        action_reply(q, terminate ? "terminate" : "cancel", &x);
}

void api_workflows(api_req *q)
{
    if (q->nseg == 1 && !q->post) {
        list(q, false);
        return;
    }
    if (q->nseg == 2 && !q->post && !strcmp(q->seg[1], "counts")) {
        list(q, true);
        return;
    }
    if (q->nseg < 2)
        return; /* 404 */
    const char *wid = q->seg[1];
    if (!api_valid_name(wid, 255)) {
        api_error(q, 400, "bad_workflow_id", "workflow_id",
                  "workflow_id: must match ^[A-Za-z0-9._:/-]{1,255}$");
        return;
    }
    const char *verb = q->nseg == 3 ? q->seg[2] : NULL;
    if (q->nseg == 2 && !q->post)
        detail(q, wid);
    else if (verb && !q->post && !strcmp(verb, "history"))
        history(q, wid);
    else if (verb && q->post && !strcmp(verb, "signal"))
        signal_wf(q, wid);
    else if (verb && q->post && !strcmp(verb, "cancel"))
        close_wf(q, wid, false);
    else if (verb && q->post && !strcmp(verb, "terminate"))
        close_wf(q, wid, true);
}

/* POST /api/v1/tasks/<task_id>/retry */
void api_tasks(api_req *q)
{
    if (q->nseg != 3 || !q->post || strcmp(q->seg[2], "retry"))
        return;
    static const char *const allowed[] = {NULL};
    action x = {.task_id = q->seg[1]};
    if (!api_body_only(q, allowed))
        return;
    if (strlen(x.task_id) > 400) {
        api_error(q, 400, "bad_task_id", "task_id", "task_id: longer than 400 bytes");
        return;
    }
    if (!api_tx(q, do_retry, &x))
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "task_id", x.task_id);
    cJSON_AddStringToObject(j, "retry", "due now");
    api_ok(q, j);
}
