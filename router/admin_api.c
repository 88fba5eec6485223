/* admin_api.c: the JSON HTTP API under /api/v1/ (docs/http-api.md): path
 * and query parsing, the strict JSON body, authorisation, errors, and the
 * dispatch to the handlers of admin_workflows.c and admin_ops.c.
 *
 * Rules every handler gets from here: reads need the read token when
 * ui.read_token_file is set (or the admin token); every POST needs the
 * admin token (403 when none is configured), so a browser on another site
 * can never change anything (the token is a header the UI sends, never a
 * cookie). A POST body must be one JSON object (application/json, strict
 * parser, at most ui.max_body bytes: evhttp answers 413 above it); unknown
 * members are refused. Every error is {"error":{"code","field","message"}}
 * with the offending field named. */
#include "admin_int.h"
#include "json.h"
#include "timefmt.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SY_VERSION
#define SY_VERSION "dev"
#endif

void api_error(api_req *q, int http, const char *code, const char *field, const char *fmt, ...)
{
    if (q->done)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "code", code);
    if (field && *field)
        cJSON_AddStringToObject(e, "field", field);
    else
        cJSON_AddNullToObject(e, "field");
    cJSON_AddStringToObject(e, "message", msg);
    admin__reply_json(q->req, http, j);
    q->done = true;
}

void api_ok(api_req *q, cJSON *j)
{
    if (q->done) {
        cJSON_Delete(j);
        return;
    }
    admin__reply_json(q->req, 200, j);
    q->done = true;
}

void api_fail(api_req *q, sy_status st, const sy_error *err)
{
    const char *code = err && err->code[0] ? err->code : sy_status_text(st);
    const char *field = err ? err->path : NULL;
    const char *msg = err && err->message[0] ? err->message : sy_status_text(st);
    switch (st) {
    case SY_INVALID:
    case SY_USAGE:
        api_error(q, 400, code, field, "%s", msg);
        return;
    case SY_NOT_FOUND:
        api_error(q, 404, code, field, "%s", msg);
        return;
    case SY_CONFLICT:
        api_error(q, 409, code, field, "%s", msg);
        return;
    default:
        break;
    }
    /* the server's fault or an outage: logged here, reported without details
     * that could leak the database's internals */
    SY_LOG(q->a->log, SY_LOG_ERROR, "api call failed", "status", sy_status_text(st), "error", msg);
    if (st == SY_DB_DOWN || st == SY_DB || st == SY_BUSY)
        admin__session_close(q->a); /* reopened by the next request */
    if (sy_status_retryable(st))
        api_error(q, 503, "unavailable", NULL, "%s, retry later", sy_status_text(st));
    else
        api_error(q, 500, "internal", NULL, "%s", sy_status_text(st));
}

const char *api_param(api_req *q, const char *name)
{
    const char *v = evhttp_find_header(&q->query, name);
    return v && *v ? v : NULL;
}

bool api_param_int(api_req *q, const char *name, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out)
{
    const char *v = api_param(q, name);
    *out = dflt;
    if (!v)
        return true;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*end || end == v || n < min || n > max) {
        api_error(q, 400, "bad_param", name, "%s: must be an integer from %lld to %lld", name,
                  (long long)min, (long long)max);
        return false;
    }
    *out = n;
    return true;
}

bool api_param_time(api_req *q, const char *name, int64_t *ms)
{
    const char *v = api_param(q, name);
    *ms = 0;
    if (!v)
        return true;
    sy_error err;
    sy_error_clear(&err);
    if (sy_time_parse_rfc3339(v, name, ms, &err) != SY_OK) {
        api_error(q, 400, "bad_param", name, "%s: not an RFC 3339 time (%s)", name, err.message);
        return false;
    }
    return true;
}

bool api_valid_name(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("._:/-", *p)))
            return false;
    return true;
}

bool api_param_name(api_req *q, const char *name, size_t max, const char **out)
{
    *out = api_param(q, name);
    if (!*out || api_valid_name(*out, max))
        return true;
    api_error(q, 400, "bad_param", name, "%s: must be 1-%zu characters of [A-Za-z0-9._:/-]", name,
              max);
    return false;
}

bool api_body_only(api_req *q, const char *const *allowed)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, q->body)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(m->string, allowed[i]) == 0;
        if (!ok) {
            api_error(q, 400, "unknown_field", m->string, "%.100s: unknown member", m->string);
            return false;
        }
    }
    return true;
}

bool api_body_str(api_req *q, const char *name, size_t max, bool required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(q->body, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            api_error(q, 400, "missing_field", name, "%s: is required", name);
        return !required;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max || (required && !*v->valuestring)) {
        api_error(q, 400, "bad_field", name, "%s: must be a %sstring of at most %zu bytes", name,
                  required ? "non-empty " : "", max);
        return false;
    }
    *out = v->valuestring;
    return true;
}

bool api_tx(api_req *q, sy_status (*fn)(engine_session *s, void *arg, sy_error *err), void *arg)
{
    sy_error err;
    sy_error_clear(&err);
    engine_session *s = admin__session(q->a, &err);
    if (!s) {
        api_error(q, 503, "unavailable", NULL, "Postgres unavailable, retry later");
        return false;
    }
    sy_status st = engine_begin(s, &err);
    if (st == SY_OK)
        st = fn(s, arg, &err);
    if (st == SY_OK)
        st = engine_commit(s, &err);
    else
        engine_rollback(s);
    if (st != SY_OK)
        api_fail(q, st, &err);
    return st == SY_OK;
}

/* ---- parsing a request ------------------------------------------------------------ */

/* Splits rest ("workflows/a%2Fb/signal") into decoded segments. */
static bool split_path(api_req *q, const char *rest)
{
    const char *p = rest;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (q->nseg == sizeof q->seg / sizeof q->seg[0]) {
            api_error(q, 404, "not_found", NULL, "no such endpoint");
            return false;
        }
        char raw[1024];
        snprintf(raw, sizeof raw, "%.*s", (int)n, p);
        size_t len = 0;
        char *d = evhttp_uridecode(raw, 0, &len);
        if (!d || len != strlen(d) || !sy_json_utf8_valid(d, len)) {
            free(d);
            api_error(q, 400, "bad_path", NULL, "the path is not valid UTF-8 text");
            return false;
        }
        q->seg[q->nseg++] = d;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

static bool read_body(api_req *q)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(q->req);
    size_t len = in ? evbuffer_get_length(in) : 0;
    if (len == 0)
        return true;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(q->req), "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        api_error(q, 415, "bad_content_type", NULL, "the body must be application/json");
        return false;
    }
    const char *data = (const char *)evbuffer_pullup(in, -1);
    sy_error err;
    sy_error_clear(&err);
    if (sy_json_parse(data, len, 0, NULL, &q->body, &err) != SY_OK) {
        api_error(q, 400, err.code[0] ? err.code : "bad_json", err.path, "body: %s", err.message);
        return false;
    }
    if (!cJSON_IsObject(q->body)) {
        api_error(q, 400, "bad_json", NULL, "body: must be a JSON object");
        return false;
    }
    return true;
}

static bool authorize(api_req *q)
{
    admin_server *a = q->a;
    if (!q->post) {
        if (admin__may_read(a, q->req))
            return true;
        api_error(q, 401, "unauthorized", NULL, "reads need the read token (ui.read_token_file)");
        return false;
    }
    if (!a->has_token) {
        api_error(q, 403, "no_admin_token", NULL,
                  "no admin token is configured (admin.token_file): changes are disabled");
        return false;
    }
    if (admin__is_admin(a, q->req))
        return true;
    SY_LOG(a->log, SY_LOG_WARN, "admin: unauthorized request", "path",
           evhttp_request_get_uri(q->req));
    api_error(q, 401, "unauthorized", NULL, "changes need the admin token");
    return false;
}

/* GET /api/v1/ui-config: what the UI needs before it may read anything. */
static void ui_config(api_req *q)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "version", SY_VERSION);
    cJSON_AddBoolToObject(j, "read_token_required", q->a->has_read_token);
    cJSON_AddBoolToObject(j, "admin_token_configured", q->a->has_token);
    if (q->a->cfg->ui_trace_url)
        cJSON_AddStringToObject(j, "trace_url", q->a->cfg->ui_trace_url);
    else
        cJSON_AddNullToObject(j, "trace_url");
    api_ok(q, j);
}

static void dispatch(api_req *q)
{
    static const struct {
        const char *name;
        void (*fn)(api_req *q);
    } routes[] = {
        {"workflows", api_workflows},     {"tasks", api_tasks},
        {"schedules", api_schedules},     {"dead-letters", api_dead_letters},
        {"task-queues", api_task_queues}, {"events", api_events},
        {"joins", api_joins},
    };
    if (q->nseg == 0) {
        api_error(q, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (!strcmp(q->seg[0], "ui-config") && q->nseg == 1 && !q->post) {
        ui_config(q);
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(q->seg[0], routes[i].name)) {
            if (authorize(q) && (!q->post || read_body(q)))
                routes[i].fn(q);
            return;
        }
    api_error(q, 404, "not_found", NULL, "no such endpoint");
}

void admin__api(admin_server *a, struct evhttp_request *req, const char *rest)
{
    api_req q = {.a = a, .req = req};
    q.query.tqh_first = NULL;
    q.query.tqh_last = &q.query.tqh_first;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    q.post = cmd == EVHTTP_REQ_POST;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST && cmd != EVHTTP_REQ_HEAD)
        api_error(&q, 405, "bad_method", NULL, "use GET or POST");
    else if (qs && evhttp_parse_query_str(qs, &q.query) != 0)
        api_error(&q, 400, "bad_query", NULL, "the query string does not parse");
    else if (split_path(&q, rest))
        dispatch(&q);
    if (!q.done)
        api_error(&q, 404, "not_found", NULL, "no such endpoint");
    evhttp_clear_headers(&q.query);
    for (size_t i = 0; i < q.nseg; i++)
        free(q.seg[i]);
    cJSON_Delete(q.body);
}
