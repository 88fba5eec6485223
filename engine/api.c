/* api.c: the single-call API (engine_start, engine_signal, engine_cancel,
 * engine_terminate, engine_task_report): each is a batch of one applied in
 * the caller's transaction, with refusals returned as statuses instead of
 * being dead-lettered, and bad requests rejected before anything is written. */
#include "batch.h"

#include <string.h>

sy_status engine__batch_run(engine_session *s, engine_batch *b, int64_t now, sy_error *err);

static sy_status finish(engine_session *s, engine_batch *b, engine_result *res, sy_error *err)
{
    b->api = true;
    sy_status st = engine__batch_run(s, b, engine__now(s->eng), err);
    const engine_result *r = engine_batch_result(b, 0);
    if (res)
        *res = *r;
    if (st == SY_OK && r->outcome == ENGINE_DEAD_LETTERED) {
        bool missing = strcmp(r->code, "workflow_not_found") == 0;
        bool invalid = strncmp(r->code, "bad_", 4) == 0 || strcmp(r->code, "unknown_workflow_type") == 0 ||
                       strcmp(r->code, "input_too_large") == 0;
        st = sy_error_set(err, missing ? SY_NOT_FOUND : invalid ? SY_INVALID : SY_CONFLICT, r->code,
                          NULL, "%s", r->message);
    }
    engine_batch_free(b);
    return st;
}

static sy_status check(engine_session *s, const engine_start_req *req, sy_error *err)
{
    engine__start st = {.type = (char *)req->workflow_type,
                        .wid = (char *)req->workflow_id,
                        .trace_id = (char *)req->trace_id,
                        .input = (cJSON *)req->input};
    return engine__check_start(s->eng, &st, err);
}

sy_status engine_start(engine_session *s, const engine_start_req *req, engine_result *res,
                       sy_error *err)
{
    sy_status st = check(s, req, err);
    if (st != SY_OK)
        return st;
    engine_batch *b = engine_batch_new();
    engine_batch_start(b, engine_batch_event(b, req->event_id), req);
    return finish(s, b, res, err);
}

sy_status engine_signal(engine_session *s, const engine_signal_req *req, engine_result *res,
                        sy_error *err)
{
    if (req->if_missing == RULES_IF_MISSING_START && req->start) {
        sy_status st = check(s, req->start, err);
        if (st != SY_OK)
            return st;
    }
    char *text = req->payload ? cJSON_PrintUnformatted(req->payload) : NULL;
    size_t n = text ? strlen(text) : 0;
    cJSON_free(text);
    if (n > s->eng->max_input)
        return sy_error_set(err, SY_INVALID, "input_too_large", "payload",
                            "signal payload is %zu bytes, more than the limit of %zu", n,
                            s->eng->max_input);
    if (!req->signal || !*req->signal)
        return sy_error_set(err, SY_INVALID, "bad_signal", "signal", "signal name is empty");
    engine_batch *b = engine_batch_new();
    engine_batch_signal(b, engine_batch_event(b, req->event_id), req);
    return finish(s, b, res, err);
}

static sy_status close_call(engine_session *s, int kind, const char *workflow_id,
                            const char *reason, engine_result *res, sy_error *err)
{
    engine_batch *b = engine_batch_new();
    engine__batch_op(b, engine_batch_event(b, NULL), kind, workflow_id, reason);
    return finish(s, b, res, err);
}

sy_status engine_cancel(engine_session *s, const char *workflow_id, const char *reason,
                        engine_result *res, sy_error *err)
{
    return close_call(s, OP_CANCEL, workflow_id, reason, res, err);
}

sy_status engine_terminate(engine_session *s, const char *workflow_id, const char *reason,
                           engine_result *res, sy_error *err)
{
    return close_call(s, OP_TERMINATE, workflow_id, reason, res, err);
}

sy_status engine_task_report(engine_session *s, const engine_report *r, engine_result *res,
                             sy_error *err)
{
    if (!r->task_id || !*r->task_id)
        return sy_error_set(err, SY_INVALID, "bad_task_id", "task_id", "task_id is empty");
    engine_batch *b = engine_batch_new();
    engine_batch_report(b, engine_batch_event(b, r->event_id), r);
    return finish(s, b, res, err);
}
