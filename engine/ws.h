/* ws.h: the write set of a batch (ws.c), private to engine/. */
#ifndef SY_ENGINE_WS_H
#define SY_ENGINE_WS_H

#include "engine_int.h"

typedef struct engine__keyed {
    struct {
        char *key;
        char *row; /* JSON members without braces */
    } *items;
    size_t len, cap;
} engine__keyed;

struct engine__ws {
    engine_session *s;
    const engine *eng;
    int64_t now;
    engine__run **runs; /* every run touched (owned); ->current marks the latest per ID */
    size_t nruns, caprun;
    size_t *idx, capidx; /* hash index of runs by workflow ID (ws.c) */
    sy_buf hist, outbox, defs, dls; /* JSON array members */
    size_t nhist, nout, ndefs, ndls;
    engine__keyed tasks, timers;
    bool notify_timers;
};

engine__ws *engine__ws_new(engine_session *s, int64_t now);
void engine__ws_free(engine__ws *ws);
void engine__run_free(engine__run *r);
void engine__ws_add_run(engine__ws *ws, engine__run *run); /* taken */
engine__run *engine__ws_find(engine__ws *ws, const char *workflow_id);
engine__run *engine__ws_find_run(engine__ws *ws, const char *run_id);
void engine__ws_def(engine__ws *ws, const engine__def *d);
void engine__ws_outbox(engine__ws *ws, const char *event_id, const char *run_id,
                       const char *subject, const char *body);
void engine__ws_dead_letter(engine__ws *ws, const char *event_id, const char *code,
                            const char *message, const char *subject, const char *body,
                            size_t body_len, const cJSON *headers, uint64_t stream_seq);
sy_status engine__ws_flush(engine__ws *ws, sy_error *err) SY_MUST_USE;

/* Side effects of one new history event (effects.c). */
void engine__effects(engine__ws *ws, engine__run *run, int64_t seq, const char *type,
                     const cJSON *data);

void engine__json_str(sy_buf *b, const char *s);
void engine__json_val(sy_buf *b, const cJSON *v);

#endif
