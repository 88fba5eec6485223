/* ws.h: the write set of a batch (ws.c), private to engine/. */
#ifndef SY_ENGINE_WS_H
#define SY_ENGINE_WS_H

#include "engine_int.h"

/* A Postgres array in binary wire format, built element by element: bulk
 * rows travel without any quoting or parsing on either side. */
typedef struct engine__barr {
    sy_buf data;  /* elements: int32 length (-1 = NULL) + bytes, big-endian */
    uint32_t n;
    uint32_t oid; /* element type: 25 text, 23 int4, 2950 uuid */
    bool nulls;
} engine__barr;

/* Room for flush.c's column arrays and binary parameters (it checks). */
#define ENGINE__WS_COLS 40
#define ENGINE__WS_PARAMS 48

/* The latest version of one task row in a batch (owned). */
typedef struct engine__task_row {
    char *block; /* owned: every string below, one after the other */
    char *id, *run, *wid, *step, *name, *queue, *status; /* in block */
    char *input, *result, *error; /* JSON text in block, or NULL */
    bool human;
    bool fresh; /* cannot exist yet: its run started in this batch */
    int64_t attempt, started, hb;
} engine__task_row;
void engine__task_row_free(void *row);

typedef struct engine__keyed {
    struct {
        char *key;
        void *row; /* timers: JSON members without braces; tasks: engine__task_row */
    } *items;
    void (*free_row)(void *row); /* NULL: free() */
    size_t len, cap;
    size_t *idx, capidx; /* hash index: item index + 1, 0 = empty */
} engine__keyed;

struct engine__ws {
    engine_session *s;
    const engine *eng;
    int64_t now;
    engine__run **runs; /* every run touched (owned); ->current marks the latest per ID */
    size_t nruns, caprun;
    size_t *idx, capidx; /* hash index of runs by workflow ID (ws.c) */
    sy_buf defs, dls; /* JSON array members */
    size_t nhist, nout, ndefs, ndls; /* nhist: history events */
    engine__barr h_run, h_seq, h_type, h_data; /* history pages: run, first seq, and
                                                  array literals of types and data */
    engine__run *page_run; /* the open page's run (NULL: none) */
    sy_buf *page_t, *page_d; /* where its array literals grow: h_type/h_data's
                                elements, or a new run's first page (its row's) */
    int64_t page_next;     /* the seq that would extend it */
    size_t page_type_at, page_data_at; /* its elements' offsets in h_type, h_data */
    sy_buf page_json;      /* an event's data as JSON, before quoting */
    engine__barr o_event, o_subject, o_body; /* the batch's outbox page */
    engine__barr keys; /* batch.c's lookup keys (inbox ids, workflow IDs, run ids) */
    cJSON *record; /* tests: when non-NULL, every history event {s,t,d} is appended,
                      d as the history stores it */
    engine__keyed tasks, timers;
    bool notify_timers;
    char now_text[32]; /* now, RFC 3339 (occurred_at of the outcome events) */
    engine__barr cols[ENGINE__WS_COLS];   /* flush.c's column arrays */
    sy_buf params[ENGINE__WS_PARAMS];     /* flush.c's finished array parameters; the
                                             last one is batch.c's keys parameter */
    sy_buf scratch;    /* reused for each outcome body */
    sy_buf cached_log; /* a log taken from the state cache, being replayed */
    struct engine__corr_ws *corr; /* correlation rows to write (corr.c), NULL: none yet */
    cJSON *dispatch_held;         /* dispatch.c: task.created messages held back, NULL: none */
    bool dispatch_seen;           /* a task of a run whose definition limits a queue was written */
    unsigned char rnd[512]; /* random bytes for run and trace ids; rnd_left unused */
    size_t rnd_left;
};

/* A write set for one batch: the session's spare one when it has it. */
engine__ws *engine__ws_new(engine_session *s, int64_t now);
/* Empties it and keeps it as the session's spare (or destroys it). */
void engine__ws_free(engine__ws *ws);
void engine__run_free(engine__run *r);
void engine__ws_add_run(engine__ws *ws, engine__run *run); /* taken */
engine__run *engine__ws_find(engine__ws *ws, const char *workflow_id);
void engine__ws_def(engine__ws *ws, const engine__def *d);
/* n (<= 64) random bytes from the write set's pool: one getrandom per
 * 512 bytes instead of two per started run. */
void engine__ws_random(engine__ws *ws, unsigned char *out, size_t n);
/* Appends one message to the batch's outbox page (flush.c writes it). */
void engine__ws_outbox(engine__ws *ws, const char *event_id, const char *subject, const char *body);
/* A dead letter row (dl borrowed) and its sy.deadletter.<code> notice;
 * replaces: the id of the dead letter it updates (a replay that failed
 * again), 0 for a new row. */
void engine__ws_dead_letter(engine__ws *ws, const engine_dead_letter *dl, int64_t replaces);
sy_status engine__ws_flush(engine__ws *ws, sy_error *err) SY_MUST_USE;

/* engine__ws_task with the result and error of the event that changed the
 * task (borrowed; NULL: the task's own). */
void engine__ws_task_with(engine__ws *ws, engine__run *run, const cJSON *task, const char *status,
                          int64_t started_at, int64_t heartbeat_at, const cJSON *result,
                          const cJSON *error);

/* Closes the open history page (flush.c, before writing). */
void engine__ws_close_page(engine__ws *ws);

/* Side effects of one new history event (effects.c). */
/* corr.c: the subscription rows a history event adds or removes (cancel_on,
 * wait_event), kept in ws->corr until engine__corr_write. */
void engine__corr_effects(engine__ws *ws, engine__run *run, const char *type, const cJSON *data);
void engine__corr_ws_clear(engine__ws *ws);
void engine__corr_ws_free(engine__ws *ws);
void engine__effects(engine__ws *ws, engine__run *run, int64_t seq, const char *type,
                     const cJSON *data);

/* dispatch.c: a task queue's dispatch limit (max_in_flight). The limit of
 * the step of task (a run's state's task), 0: none. */
int64_t engine__dispatch_limit(const engine__run *run, const cJSON *task);
/* Holds the task.created message of task (strings copied) for the batch's
 * dispatch round instead of the outbox. */
void engine__dispatch_hold(engine__ws *ws, engine__run *run, const cJSON *task, int64_t lim,
                           const char *event_id, const char *subject, const char *body);
/* The batch's dispatch round, after its write statement: held messages
 * queued, finished attempts forgotten, free places filled (sy_dispatch). */
sy_status engine__dispatch_apply(engine__ws *ws, sy_error *err) SY_MUST_USE;
void engine__dispatch_ws_clear(engine__ws *ws);

void engine__be32(sy_buf *b, uint32_t v);
void engine__barr_bytes(engine__barr *a, const void *p, size_t len);
void engine__barr_text(engine__barr *a, const char *s);   /* NULL: SQL NULL */
void engine__barr_int4(engine__barr *a, int64_t v);
void engine__barr_int8(engine__barr *a, int64_t v);       /* 0: SQL NULL */
void engine__barr_bool(engine__barr *a, bool v);
void engine__barr_ts(engine__barr *a, int64_t ms);        /* timestamptz; 0: SQL NULL */
void engine__ts_bin(int64_t ms, char out[8]);             /* binary timestamptz */
void engine__barr_json(engine__barr *a, const cJSON *v);  /* as text; NULL: SQL NULL */
void engine__barr_uuid(engine__barr *a, const char *uuid); /* NULL: SQL NULL */
char *engine__barr_finish(const engine__barr *a, int *len); /* owned */
char *engine__barr_finish_into(const engine__barr *a, sy_buf *out); /* out reset first */

void engine__json_str(sy_buf *b, const char *s);
void engine__json_val(sy_buf *b, const cJSON *v);
/* Compact JSON text of v (owned, free()), as cJSON_PrintUnformatted; NULL: NULL. */
char *engine__json_text(const cJSON *v);

#endif
