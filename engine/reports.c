/* reports.c: the engine's consumer of worker reports (reports.h).
 *
 * One round: fetch up to `batch` messages from the durable pull consumer on
 * <prefix>.report.>, validate each (invalid ones are terminated: no
 * redelivery can fix them), add the valid ones to an engine_batch, apply it
 * in one transaction, commit, then ack. If the transaction fails for a
 * reason that is not an outage (SY_DB, SY_INVALID: most likely one bad
 * report), the round is replayed one report per transaction so that one
 * poison message is terminated and the others still get through. */
#include "reports.h"

#include "json.h"

#include <stdlib.h>
#include <string.h>

/* ---- parsing --------------------------------------------------------------- */

static const char *const KINDS[] = {"task.started", "task.heartbeat", "task.completed",
                                    "task.failed"};

static bool allowed_key(const char *k, engine_report_kind kind)
{
    static const char *const common[] = {"type",  "task_id", "attempt",     "workflow_id", "run_id",
                                         "queue", "worker",  "occurred_at", "trace_id"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        if (strcmp(k, common[i]) == 0)
            return true;
    return (kind == ENGINE_REPORT_COMPLETED && strcmp(k, "result") == 0) ||
           (kind == ENGINE_REPORT_FAILED && strcmp(k, "error") == 0) ||
           (kind == ENGINE_REPORT_HEARTBEAT && strcmp(k, "details") == 0);
}

static sy_status bad(sy_error *err, const char *code, const char *path, const char *msg)
{
    return sy_error_set(err, SY_INVALID, code, path, "%s", msg);
}

static bool is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static sy_status check_error(const cJSON *e, engine_report *rep, sy_error *err)
{
    if (!cJSON_IsObject(e))
        return bad(err, "bad_type", "error", "must be an object {type, message, retryable}");
    for (const cJSON *m = e->child; m; m = m->next)
        if (strcmp(m->string, "type") && strcmp(m->string, "message") &&
            strcmp(m->string, "retryable") && strcmp(m->string, "exit_code") &&
            strcmp(m->string, "details"))
            return sy_error_set(err, SY_INVALID, "unknown_field", "error", "unknown member \"%s\"",
                                m->string);
    const cJSON *t = sy_json_get(e, "type"), *msg = sy_json_get(e, "message");
    const cJSON *rt = sy_json_get(e, "retryable");
    if (!cJSON_IsString(t) || !*t->valuestring || strlen(t->valuestring) > 64)
        return bad(err, "missing_field", "error.type", "must be a string of 1-64 characters");
    if (!cJSON_IsString(msg))
        return bad(err, "missing_field", "error.message", "must be a string");
    if (rt && !cJSON_IsBool(rt))
        return bad(err, "bad_type", "error.retryable", "must be a boolean");
    rep->error_type = t->valuestring;
    rep->error_message = msg->valuestring;
    rep->retryable = !cJSON_IsFalse(rt);
    return SY_OK;
}

static sy_status check_common(const cJSON *j, engine_report *rep, sy_error *err)
{
    const cJSON *id = sy_json_get(j, "task_id"), *att = sy_json_get(j, "attempt");
    if (!cJSON_IsString(id) || !*id->valuestring || strlen(id->valuestring) > 127)
        return bad(err, "missing_field", "task_id", "must be a string of 1-127 characters");
    if (!cJSON_IsNumber(att) || att->valuedouble < 1 || att->valuedouble > 2147483647.0 ||
        att->valuedouble != (double)(int64_t)att->valuedouble)
        return bad(err, "missing_field", "attempt", "must be an integer >= 1");
    static const char *const strs[] = {"workflow_id", "run_id",      "queue",
                                       "worker",      "occurred_at", "trace_id"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        const cJSON *v = sy_json_get(j, strs[i]);
        if (v && (!cJSON_IsString(v) || strlen(v->valuestring) > 255))
            return bad(err, "bad_type", strs[i], "must be a string of at most 255 characters");
    }
    const char *trace = sy_json_get_string(j, "trace_id");
    if (trace && !is_hex32(trace))
        return bad(err, "bad_value", "trace_id", "must be 32 lowercase hex digits");
    rep->task_id = id->valuestring;
    rep->attempt = (int64_t)att->valuedouble;
    rep->trace_id = trace;
    return SY_OK;
}

static sy_status check_report(const cJSON *j, engine_report *rep, sy_error *err)
{
    if (!cJSON_IsObject(j))
        return bad(err, "bad_type", "", "a report must be a JSON object");
    const char *type = sy_json_get_string(j, "type");
    size_t k = 0;
    while (type && k < 4 && strcmp(type, KINDS[k]) != 0)
        k++;
    if (!type || k == 4)
        return bad(err, "bad_value", "type",
                   "must be task.started, task.heartbeat, task.completed or task.failed");
    rep->kind = (engine_report_kind)k;
    for (const cJSON *m = j->child; m; m = m->next)
        if (!allowed_key(m->string, rep->kind))
            return sy_error_set(err, SY_INVALID, "unknown_field", m->string,
                                "member not allowed in a %s report", type);
    sy_status st = check_common(j, rep, err);
    if (st == SY_OK && rep->kind == ENGINE_REPORT_FAILED)
        st = check_error(sy_json_get(j, "error"), rep, err);
    if (st == SY_OK && rep->kind == ENGINE_REPORT_COMPLETED)
        rep->result = sy_json_get(j, "result");
    return st;
}

sy_status engine_report_parse(const char *body, size_t len, cJSON **out, engine_report *rep,
                              sy_error *err)
{
    *out = NULL;
    memset(rep, 0, sizeof *rep);
    cJSON *j = NULL;
    sy_status st = sy_json_parse(body, len, 0, NULL, &j, err);
    if (st == SY_OK)
        st = check_report(j, rep, err);
    if (st != SY_OK) {
        cJSON_Delete(j);
        memset(rep, 0, sizeof *rep);
        return st;
    }
    *out = j;
    return SY_OK;
}
