/* recent.c: the ring of recent routed events (recent.h). */
#include "recent.h"

#include "buf.h"
#include "timefmt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct router_recent {
    pthread_mutex_t mu;
    uint64_t next; /* seq of the next push */
    size_t held;   /* entries in the ring whose outcome is "held" */
    router_recent_event ring[ROUTER_RECENT];
};

static bool is_held(const router_recent_event *e)
{
    return strcmp(e->outcome, "held") == 0;
}

/* A held event (stream order, order.h) is pushed as "held" in the round
 * that holds it and again, settled, in the round that commits it: the
 * earlier entry of the same stream position goes, so the ring shows each
 * event once, as it is now (its last push; a blanked entry is skipped). */
static void supersede(router_recent *r, uint64_t stream_seq)
{
    uint64_t newest = r->next - 1;
    uint64_t oldest = newest >= ROUTER_RECENT ? newest - ROUTER_RECENT + 1 : 1;
    for (uint64_t s = oldest; s <= newest && r->held > 0; s++) {
        router_recent_event *e = &r->ring[s % ROUTER_RECENT];
        if (e->stream_seq == stream_seq && is_held(e)) {
            e->outcome[0] = '\0';
            r->held--;
        }
    }
}

router_recent *router_recent_new(void)
{
    router_recent *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->next = 1;
    return r;
}

void router_recent_free(router_recent *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

#define COPY(dst, src) sy_strlcpy((dst), sizeof(dst), (src) ? (src) : "")

void router_recent_begin(router_recent_event *e, const char *subject, uint64_t stream_seq)
{
    e->outcome[0] = e->event_id[0] = e->type[0] = e->source[0] = e->code[0] = e->message[0] = 0;
    e->run_id[0] = 0;
    e->nactions = 0;
    e->started = e->replay = false;
    e->stream_seq = stream_seq;
    COPY(e->subject, subject);
}

void router_recent_envelope(router_recent_event *e, const char *event_id, const char *type,
                            const char *source, bool replay)
{
    COPY(e->event_id, event_id);
    COPY(e->type, type);
    COPY(e->source, source);
    e->replay = replay;
}

void router_recent_add_action(router_recent_event *e, const char *route, const char *kind,
                              const char *workflow_id, const char *signal)
{
    if (e->nactions == ROUTER_RECENT_ACTIONS)
        return;
    router_recent_action *a = &e->actions[e->nactions++];
    COPY(a->route, route);
    COPY(a->kind, kind);
    COPY(a->workflow_id, workflow_id);
    COPY(a->signal, signal);
}

void router_recent_outcome(router_recent_event *e, const char *outcome, const char *code,
                           const char *message, const char *run_id, bool started, int64_t at_ms)
{
    COPY(e->outcome, outcome);
    COPY(e->code, code);
    if (message) /* else the one noted earlier (an invalid envelope's) */
        COPY(e->message, message);
    COPY(e->run_id, run_id);
    e->started = started;
    e->at_ms = at_ms;
}

void router_recent_push(router_recent *r, router_recent_event *ev, size_t n)
{
    if (!r || n == 0)
        return;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].outcome[0])
            continue;
        if (r->held > 0 && ev[i].stream_seq)
            supersede(r, ev[i].stream_seq);
        ev[i].seq = r->next++;
        router_recent_event *slot = &r->ring[ev[i].seq % ROUTER_RECENT];
        r->held -= is_held(slot); /* the oldest entry, overwritten */
        *slot = ev[i];
        r->held += is_held(slot);
    }
    pthread_mutex_unlock(&r->mu);
}

static cJSON *event_json(const router_recent_event *e)
{
    char ts[SY_TIME_RFC3339_MAX];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)e->seq);
    cJSON_AddStringToObject(o, "at", sy_time_format_rfc3339(e->at_ms, ts));
    cJSON_AddStringToObject(o, "event_id", e->event_id);
    cJSON_AddStringToObject(o, "type", e->type);
    cJSON_AddStringToObject(o, "source", e->source);
    cJSON_AddStringToObject(o, "subject", e->subject);
    cJSON_AddNumberToObject(o, "stream_seq", (double)e->stream_seq);
    cJSON_AddStringToObject(o, "outcome", e->outcome);
    if (e->code[0]) {
        cJSON_AddStringToObject(o, "code", e->code);
        cJSON_AddStringToObject(o, "message", e->message);
    }
    if (e->run_id[0])
        cJSON_AddStringToObject(o, "run_id", e->run_id);
    cJSON_AddBoolToObject(o, "started", e->started);
    cJSON_AddBoolToObject(o, "replay", e->replay);
    cJSON *acts = cJSON_AddArrayToObject(o, "actions");
    for (size_t i = 0; i < e->nactions; i++) {
        const router_recent_action *a = &e->actions[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "route", a->route);
        cJSON_AddStringToObject(x, "action", a->kind);
        if (a->workflow_id[0])
            cJSON_AddStringToObject(x, "workflow_id", a->workflow_id);
        if (a->signal[0])
            cJSON_AddStringToObject(x, "signal", a->signal);
        cJSON_AddItemToArray(acts, x);
    }
    return o;
}

cJSON *router_recent_json(router_recent *r, uint64_t after_seq, size_t limit, uint64_t *last)
{
    cJSON *arr = cJSON_CreateArray();
    if (last)
        *last = 0;
    if (!r)
        return arr;
    pthread_mutex_lock(&r->mu);
    uint64_t newest = r->next - 1;
    uint64_t oldest = newest >= ROUTER_RECENT ? newest - ROUTER_RECENT + 1 : 1;
    if (last)
        *last = newest;
    for (uint64_t s = newest; s >= oldest && s > after_seq && limit > 0; s--) {
        const router_recent_event *e = &r->ring[s % ROUTER_RECENT];
        if (!e->outcome[0]) /* superseded: the event shows where it was pushed last */
            continue;
        cJSON_AddItemToArray(arr, event_json(e));
        limit--;
    }
    pthread_mutex_unlock(&r->mu);
    return arr;
}
