/* recent.h: the recent routed events of this process, for the web UI's
 * Events page ("why did this event do nothing?"): a fixed ring of the last
 * ROUTER_RECENT events the pipelines settled, each with what it did (every
 * route's action and workflow ID, the engine's outcome, the dead-letter
 * code). In memory only: a restart starts it empty, and each process of a
 * scaled-out service shows its own events. An event that stream order
 * holds (order.h) is pushed as "held" and again when it commits; the later
 * push replaces the earlier, so each event is listed once, as it ended.
 *
 * Threads: pipelines fill their own scratch entries, then push a settled
 * batch under one lock (router_recent_push); the admin thread reads. */
#ifndef SY_ROUTER_RECENT_H
#define SY_ROUTER_RECENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTER_RECENT 512
#define ROUTER_RECENT_ACTIONS 4

typedef struct router_recent_action {
    char route[64];
    char kind[12]; /* start | signal | dead_letter | drop */
    char workflow_id[256];
    char signal[64];
} router_recent_action;

typedef struct router_recent_event {
    uint64_t seq;  /* set by push: 1, 2, ... in push order */
    int64_t at_ms; /* when it was settled */
    uint64_t stream_seq;
    char event_id[129], type[128], source[128], subject[128];
    char outcome[16];  /* applied | duplicate | dead_lettered | unmatched | invalid */
    char code[48];     /* dead-letter code, "" otherwise */
    char message[160]; /* dead-letter reason */
    char run_id[37];   /* the run the event affected, when the engine said */
    bool started;      /* it started a new run */
    bool replay;       /* a replayed dead letter */
    size_t nactions;
    router_recent_action actions[ROUTER_RECENT_ACTIONS];
} router_recent_event;

typedef struct router_recent router_recent;

router_recent *router_recent_new(void); /* NULL when out of memory: nothing is kept */
void router_recent_free(router_recent *r);

/* Filling one entry (a pipeline's scratch): begin clears it; the others
 * copy (truncating) what they are given; NULL strings are "". An entry whose
 * outcome is never set is not pushed. */
void router_recent_begin(router_recent_event *e, const char *subject, uint64_t stream_seq);
void router_recent_envelope(router_recent_event *e, const char *event_id, const char *type,
                            const char *source, bool replay);
void router_recent_add_action(router_recent_event *e, const char *route, const char *kind,
                              const char *workflow_id, const char *signal);
void router_recent_outcome(router_recent_event *e, const char *outcome, const char *code,
                           const char *message, const char *run_id, bool started, int64_t at_ms);

/* Copies the entries of ev[0..n) that have an outcome, newest last. NULL r
 * is a no-op. */
void router_recent_push(router_recent *r, router_recent_event *ev, size_t n);

/* The newest up to limit events with seq > after_seq, newest first, as a
 * JSON array (owned); *last (may be NULL) the newest seq there is. */
cJSON *router_recent_json(router_recent *r, uint64_t after_seq, size_t limit, uint64_t *last);

#endif
