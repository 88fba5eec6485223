/* schedule_fire.c: what happens to one slot of one schedule: start its
 * workflow, skip it, or buffer it, per the overlap policy; and the round
 * that collects those effects and writes them in the caller's transaction
 * (starts through an engine_batch or engine_start, the fired/skipped outcome
 * events as one outbox page, the schedule rows as one multi-row
 * update). schedule_run.c claims rows and drives rounds. */
#include "schedule_fire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sched__round_init(sched__round *r, engine_session *s, int64_t now_ms, bool batch_mode)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->now = now_ms;
    r->b = batch_mode ? engine_batch_new() : NULL;
}

void sched__row_cleanup(sched__row *row)
{
    sy_cron_free(row->cron);
    cJSON_Delete(row->input);
    cJSON_Delete(row->buffered);
    memset(row, 0, sizeof *row);
}

void sched__round_cleanup(sched__round *r)
{
    for (size_t i = 0; i < r->npending; i++)
        free(r->pending[i].trace_ev);
    free(r->pending);
    engine_batch_free(r->b);
    sy_buf_cleanup(&r->ob_ids);
    sy_buf_cleanup(&r->ob_subjects);
    sy_buf_cleanup(&r->ob_bodies);
    sched__tzcache_cleanup(&r->tzs);
}

/* ---- outcome events --------------------------------------------------------- */

static void outbox_add(sched__round *r, const char *event_id, const char *subject,
                       const char *body)
{
    sy_buf *bufs[] = {&r->ob_ids, &r->ob_subjects, &r->ob_bodies};
    for (size_t i = 0; i < 3; i++)
        if (bufs[i]->len == 0)
            sy_buf_putc(bufs[i], '{');
    sched__pg_array_str(&r->ob_ids, event_id);
    sched__pg_array_str(&r->ob_subjects, subject);
    sched__pg_array_str(&r->ob_bodies, body);
    r->nob++;
}

/* One switchyard.schedule.<verb> event for slot sf of row. payload taken. */
static void emit(sched__round *r, const sched__row *row, const char *verb, int64_t sf,
                 const char *trace, cJSON *payload)
{
    char sfs[SY_RFC3339_MAX], wid[300], event_id[512], subject[400], type[64];
    sy_format_rfc3339_utc(sf, sfs, sizeof sfs);
    engine_schedule_workflow_id(row->id, sf, wid, sizeof wid);
    snprintf(event_id, sizeof event_id, "schedule:%s:%s:%s", r->s->eng->ns, wid, verb);
    snprintf(subject, sizeof subject, "%s.schedule.%s.%s", r->s->eng->prefix, verb, row->workflow);
    snprintf(type, sizeof type, "switchyard.schedule.%s", verb);
    cJSON_AddStringToObject(payload, "schedule_id", row->id);
    cJSON_AddStringToObject(payload, "scheduled_for", sfs);
    cJSON_AddStringToObject(payload, "workflow_id", wid);
    cJSON_AddStringToObject(payload, "workflow_type", row->workflow);
    char tr[33];
    if (!trace) {
        engine__trace_id(tr);
        trace = tr;
    }
    sy_buf body = SY_BUF_INIT;
    engine__outcome_body(&body, event_id, type, r->now, row->id, trace, payload);
    outbox_add(r, event_id, subject, sy_buf_str(&body));
    sy_buf_cleanup(&body);
    cJSON_Delete(payload);
}

static void emit_fired(sched__round *r, const sched__row *row, int64_t sf, const char *kind,
                       const char *trace, const char *run_id)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "run_id", run_id);
    cJSON_AddStringToObject(p, "trigger", kind);
    emit(r, row, "fired", sf, trace, p);
}

void sched__skip(sched__round *r, sched__row *row, int64_t sf, const char *reason, int64_t count)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "reason", reason);
    cJSON_AddNumberToObject(p, "count", (double)count);
    if (row->last_wid[0])
        cJSON_AddStringToObject(p, "running_workflow_id", row->last_wid);
    emit(r, row, "skipped", sf, NULL, p);
    if (strcmp(reason, "catchup_window") == 0) {
        row->missed += count;
        r->missed += (size_t)count;
    } else {
        row->skipped += count;
        r->skipped += (size_t)count;
    }
    sy_strlcpy(r->last.reason, sizeof r->last.reason, reason);
}

/* ---- starts ------------------------------------------------------------------ */

/* The start input: the schedule's template over {schedule: {...}}. */
static sy_status render_input(const sched__row *row, int64_t sf, const char *wid, cJSON **out,
                              sy_error *err)
{
    char sfs[SY_RFC3339_MAX];
    sy_format_rfc3339_utc(sf, sfs, sizeof sfs);
    cJSON *ctx = cJSON_CreateObject();
    cJSON *sc = cJSON_AddObjectToObject(ctx, "schedule");
    cJSON_AddStringToObject(sc, "id", row->id);
    cJSON_AddStringToObject(sc, "scheduled_for", sfs);
    cJSON_AddStringToObject(sc, "workflow_id", wid);
    sy_status st = row->input ? engine__render(row->input, ctx, out, err)
                              : ((*out = cJSON_CreateObject()), SY_OK);
    cJSON_Delete(ctx);
    return st;
}

static void pending_add(sched__round *r, sched__row *row, size_t ev, int64_t sf, const char *kind,
                        const char *trace)
{
    if (r->npending == r->cappending) {
        r->cappending = r->cappending ? r->cappending * 2 : 64;
        r->pending = realloc(r->pending, r->cappending * sizeof *r->pending);
    }
    sched__pending *p = &r->pending[r->npending++];
    p->row = row;
    p->ev = ev;
    p->sf = sf;
    p->kind = kind;
    p->trace_ev = strdup(trace);
}

/* What the engine said about one start (batch or single call). */
static void start_outcome(sched__round *r, sched__row *row, int64_t sf, const char *kind,
                          const char *trace, const engine_result *res)
{
    if (res->outcome == ENGINE_APPLIED && res->run_id[0]) {
        emit_fired(r, row, sf, kind, trace, res->run_id);
        sy_strlcpy(r->last.run_id, sizeof r->last.run_id, res->run_id);
        r->last.started = true;
        return;
    }
    /* a duplicate inbox key or a refused start: this slot ran before */
    row->fired--;
    r->started--;
    r->already++;
    snprintf(r->last.reason, sizeof r->last.reason, "%s",
             res->outcome == ENGINE_DUPLICATE ? "already_fired" : res->code);
}

sy_status sched__start(sched__round *r, sched__row *row, int64_t sf, const char *kind,
                       sy_error *err)
{
    char wid[300], event_id[512], trace[33];
    engine_schedule_workflow_id(row->id, sf, wid, sizeof wid);
    snprintf(event_id, sizeof event_id, "schedule:%s:%s", r->s->eng->ns, wid);
    sy_strlcpy(r->last.workflow_id, sizeof r->last.workflow_id, wid);
    cJSON *input = NULL;
    sy_error rerr;
    if (render_input(row, sf, wid, &input, &rerr) != SY_OK) {
        sched__skip(r, row, sf, "bad_input", 1);
        return SY_OK;
    }
    engine__trace_id(trace);
    engine_start_req req = {.workflow_type = row->workflow,
                            .workflow_id = wid,
                            .input = input,
                            .if_running = RULES_IF_RUNNING_USE_EXISTING,
                            .if_closed = RULES_IF_CLOSED_REJECT,
                            .event_id = event_id,
                            .trace_id = trace};
    row->prev_running = true;
    row->last_fire = sf;
    sy_strlcpy(row->last_wid, sizeof row->last_wid, wid);
    row->fired++;
    r->started++;
    sy_status st = SY_OK;
    if (r->b) {
        pending_add(r, row, engine_batch_event(r->b, event_id), sf, kind, trace);
        engine_batch_start(r->b, r->pending[r->npending - 1].ev, &req);
    } else {
        engine_result res = {0};
        st = engine_start(r->s, &req, &res, err);
        if (st == SY_CONFLICT || st == SY_OK)
            start_outcome(r, row, sf, kind, trace, &res);
        st = st == SY_CONFLICT ? SY_OK : st;
    }
    cJSON_Delete(input);
    return st;
}

sy_status sched__flush(sched__round *r, sy_error *err)
{
    if (!r->b || r->npending == 0)
        return SY_OK;
    sy_status st = engine_batch_apply(r->s, r->b, err);
    for (size_t i = 0; st == SY_OK && i < r->npending; i++) {
        sched__pending *p = &r->pending[i];
        start_outcome(r, p->row, p->sf, p->kind, p->trace_ev, engine_batch_result(r->b, p->ev));
    }
    for (size_t i = 0; i < r->npending; i++)
        free(r->pending[i].trace_ev);
    r->npending = 0;
    engine_batch_reset(r->b);
    return st;
}

/* ---- overlap policies -------------------------------------------------------- */

static sy_status stop_previous(sched__round *r, sched__row *row, bool terminate, sy_error *err)
{
    sy_status st = sched__flush(r, err); /* the previous run may be in this batch */
    if (st != SY_OK)
        return st;
    engine_result res = {0};
    sy_error e2;
    st = terminate
             ? engine_terminate(r->s, row->last_wid, "overlapped by a newer firing", &res, &e2)
             : engine_cancel(r->s, row->last_wid, "overlapped by a newer firing", &res, &e2);
    /* already closed or gone: nothing to stop; connection errors propagate */
    if (st == SY_CONFLICT || st == SY_NOT_FOUND || st == SY_INVALID)
        st = SY_OK;
    if (st != SY_OK && err)
        *err = e2;
    row->prev_running = false;
    return st;
}

static void buffer_slot(sched__round *r, sched__row *row, int64_t sf)
{
    cJSON_AddItemToArray(row->buffered, cJSON_CreateNumber((double)sf));
    r->buffered++;
    r->last.buffered = true;
    snprintf(r->last.reason, sizeof r->last.reason, "buffered");
}

sy_status sched__fire(sched__round *r, sched__row *row, int64_t sf, const char *kind,
                      engine_overlap policy, sy_error *err)
{
    if (!row->prev_running || policy == ENGINE_OVERLAP_ALLOW_ALL)
        return sched__start(r, row, sf, kind, err);
    int nbuf = cJSON_GetArraySize(row->buffered);
    switch (policy) {
    case ENGINE_OVERLAP_BUFFER_ONE:
        if (nbuf == 0)
            buffer_slot(r, row, sf);
        else
            sched__skip(r, row, sf, "buffer_full", 1);
        return SY_OK;
    case ENGINE_OVERLAP_BUFFER_ALL:
        if (nbuf < SCHED_MAX_BUFFERED)
            buffer_slot(r, row, sf);
        else
            sched__skip(r, row, sf, "buffer_full", 1);
        return SY_OK;
    case ENGINE_OVERLAP_CANCEL_OTHER:
    case ENGINE_OVERLAP_TERMINATE_OTHER: {
        sy_status st = stop_previous(r, row, policy == ENGINE_OVERLAP_TERMINATE_OTHER, err);
        return st == SY_OK ? sched__start(r, row, sf, kind, err) : st;
    }
    default:
        sched__skip(r, row, sf, "overlap", 1);
        return SY_OK;
    }
}

/* ---- writing the round ----------------------------------------------------------- */

sy_status sched__write_outbox(sched__round *r, sy_error *err)
{
    if (r->nob == 0)
        return SY_OK;
    sy_buf *bufs[] = {&r->ob_ids, &r->ob_subjects, &r->ob_bodies};
    for (size_t i = 0; i < 3; i++)
        sy_buf_putc(bufs[i], '}');
    const char *p[] = {r->ob_ids.data, r->ob_subjects.data, r->ob_bodies.data};
    sy_status st = engine__exec(r->s,
                                "INSERT INTO outbox (event_ids, subjects, bodies, n) "
                                "VALUES ($1::text[], $2::text[], $3::text[], cardinality($1::text[]))",
                                3, p, NULL, err);
    if (st == SY_OK)
        st = engine__exec(r->s, "SELECT pg_notify('switchyard_outbox', '')", 0, NULL, NULL, err);
    for (size_t i = 0; i < 3; i++)
        sy_buf_reset(bufs[i]);
    r->nob = 0;
    return st;
}
