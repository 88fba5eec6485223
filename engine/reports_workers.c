/* reports_workers.c: the workers the report consumer sees (reports_int.h,
 * 008_ui.sql), for the task queues page of the operator's UI.
 *
 * A committed batch of reports is folded into a small in-memory table keyed
 * by (queue, worker); once a second it is written with one upsert in a
 * transaction of its own (engine_workers_seen), so the reports' own
 * transactions hold no lock on a worker's row while they wait for their
 * commit, and two consumers never contend for it there. */
#include "reports_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SEEN_MAX = 256, SEEN_NAME = 128 };

typedef struct seen_row {
    char queue[SEEN_NAME], worker[SEEN_NAME];
    int64_t last_ms;
    uint64_t reports, completed, failed;
} seen_row;

struct engine__seen {
    seen_row rows[SEEN_MAX];
    size_t n;
    int64_t last_flush_ms;
};

static seen_row *seen_row_for(engine__seen *s, const char *queue, const char *worker)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->rows[i].queue, queue) && !strcmp(s->rows[i].worker, worker))
            return &s->rows[i];
    if (s->n == SEEN_MAX) /* more workers than a second ever shows: drop the rest */
        return NULL;
    seen_row *r = &s->rows[s->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->queue, sizeof r->queue, "%s", queue);
    snprintf(r->worker, sizeof r->worker, "%s", worker);
    return r;
}

void engine__seen_note(engine_reports *r, const item *it, size_t n, int64_t now_ms)
{
    if (!r->seen && !(r->seen = calloc(1, sizeof *r->seen)))
        return;
    char mid[80];
    snprintf(mid, sizeof mid, "%s.report.", r->prefix);
    size_t ml = strlen(mid);
    for (size_t i = 0; i < n; i++) {
        if (!it[i].json)
            continue;
        const char *subj = natsMsg_GetSubject(it[i].msg);
        const char *queue = subj && !strncmp(subj, mid, ml) ? subj + ml : "";
        const char *worker =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it[i].json, "worker"));
        seen_row *row = seen_row_for(r->seen, queue, worker ? worker : "");
        if (!row)
            continue;
        row->last_ms = now_ms;
        row->reports++;
        row->completed += it[i].rep.kind == ENGINE_REPORT_COMPLETED;
        row->failed += it[i].rep.kind == ENGINE_REPORT_FAILED;
    }
}

void engine__seen_flush(engine_reports *r, int64_t now_ms, bool force)
{
    engine__seen *s = r->seen;
    if (!s || s->n == 0 || (!force && now_ms - s->last_flush_ms < 1000))
        return;
    engine_worker_seen w[SEEN_MAX];
    for (size_t i = 0; i < s->n; i++)
        w[i] = (engine_worker_seen){.queue = s->rows[i].queue,
                                    .worker = s->rows[i].worker,
                                    .last_seen_ms = s->rows[i].last_ms,
                                    .reports = s->rows[i].reports,
                                    .completed = s->rows[i].completed,
                                    .failed = s->rows[i].failed};
    sy_error err;
    sy_error_clear(&err);
    if (engine_workers_seen(r->s, w, s->n, &err) != SY_OK)
        SY_LOG(r->log, SY_LOG_WARN, "could not record the workers seen", "message", err.message);
    s->n = 0;
    s->last_flush_ms = now_ms;
}

void engine__seen_free(engine__seen *s)
{
    free(s);
}
