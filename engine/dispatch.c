/* dispatch.c: a task queue's dispatch limit, `max_in_flight: N` on a task
 * step (docs/flow-control.md, "Task dispatch"). The task.created message
 * of a task of such a step is held (effects.c hands it here instead of to
 * the outbox); after the batch's write statement one call of sy_dispatch
 * (migration 021) queues the held messages in dispatch_pending, forgets
 * the attempts the batch finished and moves the heads of each touched
 * queue (priority, then arrival) into its free places and the outbox,
 * under the queue's row lock, in the batch's transaction: two serve
 * processes never release one message twice, nor more than N at once.
 * Workers see nothing of it: a released message is the task.created they
 * would have had. A batch of runs whose definitions have no limit does
 * nothing here (ws->dispatch_seen stays false). */
#include "engine_int.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

int64_t engine__dispatch_limit(const engine__run *run, const cJSON *task)
{
    if (!run->def || !run->def->dispatch)
        return 0;
    const cJSON *step = engine__step_at(run->def->body, engine__str(task, "step"));
    return step ? engine__num(step, "max_in_flight") : 0;
}

/* The run's priority (its definition's `priority`, rendered over its
 * input as at its start; a start whose priority failed never ran). */
static int64_t run_priority(const engine__run *run)
{
    if (!JGET(run->def->body, "priority"))
        return 0;
    const cJSON *input = run->input ? run->input : JGET(JGET(run->state, "ctx"), "input");
    rules_admission a;
    sy_error err;
    sy_error_clear(&err);
    if (rules_admission_render(run->def->body, run->workflow_id, input, &a, &err) != SY_OK)
        return 0;
    int64_t p = a.priority;
    rules_admission_cleanup(&a);
    return p;
}

void engine__dispatch_hold(engine__ws *ws, engine__run *run, const cJSON *task, int64_t lim,
                           const char *event_id, const char *subject, const char *body)
{
    if (!ws->dispatch_held)
        ws->dispatch_held = cJSON_CreateArray();
    cJSON *h = cJSON_CreateObject();
    JADD(h, "q", cJSON_CreateString(engine__str(task, "queue")));
    JADD(h, "l", cJSON_CreateNumber((double)lim));
    JADD(h, "t", cJSON_CreateString(task->string));
    JADD(h, "a", cJSON_CreateNumber((double)engine__num(task, "attempt")));
    JADD(h, "p", cJSON_CreateNumber((double)run_priority(run)));
    JADD(h, "e", cJSON_CreateString(event_id));
    JADD(h, "s", cJSON_CreateString(subject));
    JADD(h, "b", cJSON_CreateString(body));
    cJSON_AddItemToArray(ws->dispatch_held, h);
    ws->dispatch_seen = true;
}

/* The attempts the batch finished, of runs whose definitions limit some
 * queue: [{q, t, a}] (owned). */
static cJSON *finished(engine__ws *ws)
{
    cJSON *f = cJSON_CreateArray();
    for (size_t i = 0; i < ws->tasks.len; i++) {
        const engine__task_row *t = ws->tasks.items[i].row;
        if (!strcmp(t->status, "scheduled") || !strcmp(t->status, "started"))
            continue;
        const engine__run *run = engine__ws_find(ws, t->wid);
        if (!run || !run->def || !run->def->dispatch)
            continue;
        cJSON *o = cJSON_CreateObject();
        JADD(o, "q", cJSON_CreateString(t->queue));
        JADD(o, "t", cJSON_CreateString(t->id));
        JADD(o, "a", cJSON_CreateNumber((double)t->attempt));
        cJSON_AddItemToArray(f, o);
    }
    return f;
}

sy_status engine__dispatch_apply(engine__ws *ws, sy_error *err)
{
    if (!ws->dispatch_seen)
        return SY_OK;
    cJSON *fin = finished(ws);
    if (!ws->dispatch_held && !cJSON_GetArraySize(fin)) {
        cJSON_Delete(fin);
        return SY_OK;
    }
    char *held = ws->dispatch_held ? cJSON_PrintUnformatted(ws->dispatch_held) : strdup("[]");
    char *done = cJSON_PrintUnformatted(fin);
    cJSON_Delete(fin);
    const char *p[] = {ws->eng->ns, ws->now_text, held, done};
    sy_status st = engine__exec(
        ws->s, "SELECT sy_dispatch($1, $2::timestamptz, $3::json, $4::json)", 4, p, NULL, err);
    free(held);
    free(done);
    return st;
}

void engine__dispatch_ws_clear(engine__ws *ws)
{
    cJSON_Delete(ws->dispatch_held);
    ws->dispatch_held = NULL;
    ws->dispatch_seen = false;
}

/* What describe and the task list say of a held or released task. */
static const char DESCRIBE_SQL[] =
    "WITH ids AS (SELECT json_array_elements_text($2::json) AS id)"
    " SELECT d.task_id, json_build_object('outcome', 'queued', 'priority', d.priority,"
    " 'position', (SELECT count(*) FROM dispatch_pending j WHERE j.namespace = d.namespace AND"
    " j.queue = d.queue AND (j.priority > d.priority OR (j.priority = d.priority AND"
    " j.seq <= d.seq))), 'queued_at', d.queued_at, 'limit', q.lim, 'in_flight', (SELECT"
    " count(*) FROM dispatch_in_flight i JOIN tasks t ON t.task_id = i.task_id AND t.attempt ="
    " i.attempt AND t.status IN ('scheduled', 'started') WHERE i.namespace = d.namespace AND"
    " i.queue = d.queue))::text FROM dispatch_pending d JOIN dispatch_queues q ON q.namespace ="
    " d.namespace AND q.queue = d.queue WHERE d.namespace = $1 AND d.task_id IN (SELECT id FROM"
    " ids) UNION ALL SELECT i.task_id, json_build_object('outcome', 'dispatched', 'priority',"
    " i.priority, 'released_at', i.released_at, 'limit', q.lim)::text FROM dispatch_in_flight i"
    " JOIN dispatch_queues q ON q.namespace = i.namespace AND q.queue = i.queue JOIN tasks t ON"
    " t.task_id = i.task_id AND t.attempt = i.attempt WHERE i.namespace = $1 AND i.task_id IN"
    " (SELECT id FROM ids)";

sy_status engine__dispatch_describe(engine_session *s, cJSON *tasks, sy_error *err)
{
    cJSON *ids = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks)
    {
        const char *status = engine__str(t, "status");
        if (!strcmp(status, "scheduled") || !strcmp(status, "started"))
            cJSON_AddItemToArray(ids, cJSON_CreateString(engine__str(t, "task_id")));
    }
    if (!cJSON_GetArraySize(ids)) {
        cJSON_Delete(ids);
        return SY_OK;
    }
    char *js = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);
    const char *p[] = {s->eng->ns, js};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, DESCRIBE_SQL, 2, p, &r, err);
    for (int i = 0; st == SY_OK && i < PQntuples(r); i++) {
        cJSON *task;
        cJSON_ArrayForEach(task, tasks)
        {
            if (!strcmp(engine__str(task, "task_id"), PQgetvalue(r, i, 0))) {
                cJSON_DeleteItemFromObjectCaseSensitive(task, "dispatch");
                cJSON_AddItemToObject(task, "dispatch", cJSON_Parse(PQgetvalue(r, i, 1)));
            }
        }
    }
    PQclear(r);
    free(js);
    return st;
}
