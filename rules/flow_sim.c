/* flow_sim.c: flow control in memory, for `switchyard route` and the
 * embedded `tests:` (rules.h). It keeps what the engine keeps in Postgres
 * (one state per route, stage and key, and the actions a key holds) and
 * calls the same decisions (flow.c), so a dry run shows what the service
 * would do: which events are dropped and why, which are held, and what
 * fires when the clock moves on. Single-threaded, owned by its caller. */
#include "rules_int.h"
#include "timefmt.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The timer loop fires at most this many actions of one key per round;
 * the simulation does the same so that a throttle's bursts match. */
#define SIM_DUE_MAX 256

typedef struct sim_item {
    rules_action act; /* owned copy */
    cJSON *event;     /* batch: the event (owned), else NULL */
} sim_item;

typedef struct sim_key {
    const char *route; /* borrowed from the set */
    char *key;         /* owned */
    const rules_flow_spec *spec;
    rules_flow_state st;
    sim_item *items; /* held, oldest first */
    size_t nitems, cap;
} sim_key;

struct rules_flow_sim {
    sim_key **keys;
    size_t n, cap;
    size_t *slots, nslots; /* hash index: key index + 1, 0 empty */
};

rules_flow_sim *rules_flow_sim_new(void)
{
    return calloc(1, sizeof(rules_flow_sim));
}

static void item_free(sim_item *it)
{
    rules__action_free(&it->act);
    cJSON_Delete(it->event);
}

void rules_flow_sim_free(rules_flow_sim *sim)
{
    if (!sim)
        return;
    for (size_t i = 0; i < sim->n; i++) {
        sim_key *k = sim->keys[i];
        for (size_t j = 0; j < k->nitems; j++)
            item_free(&k->items[j]);
        free(k->items);
        free(k->key);
        rules_flow_state_cleanup(&k->st);
        free(k);
    }
    free(sim->keys);
    free(sim->slots);
    free(sim);
}

static uint64_t key_hash(const char *route, rules_flow_kind kind, const char *key)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static bool same(const sim_key *k, const char *route, rules_flow_kind kind, const char *key)
{
    return k->spec->kind == kind && !strcmp(k->route, route) && !strcmp(k->key, key);
}

static bool rehash(rules_flow_sim *sim)
{
    size_t n = sim->nslots ? sim->nslots * 2 : 64;
    size_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < sim->n; i++) {
        const sim_key *k = sim->keys[i];
        size_t s = (size_t)key_hash(k->route, k->spec->kind, k->key) & (n - 1);
        while (slots[s])
            s = (s + 1) & (n - 1);
        slots[s] = i + 1;
    }
    free(sim->slots);
    sim->slots = slots;
    sim->nslots = n;
    return true;
}

/* The key's entry, created when new; NULL: out of memory. */
static sim_key *find_key(rules_flow_sim *sim, const char *route, const rules_flow_spec *sp,
                         const char *key)
{
    if (sim->nslots) {
        size_t s = (size_t)key_hash(route, sp->kind, key) & (sim->nslots - 1);
        for (; sim->slots[s]; s = (s + 1) & (sim->nslots - 1))
            if (same(sim->keys[sim->slots[s] - 1], route, sp->kind, key))
                return sim->keys[sim->slots[s] - 1];
    }
    if (sim->n == sim->cap) {
        size_t cap = sim->cap ? sim->cap * 2 : 16;
        sim_key **p = realloc(sim->keys, cap * sizeof *p);
        if (!p)
            return NULL;
        sim->keys = p;
        sim->cap = cap;
    }
    sim_key *k = calloc(1, sizeof *k);
    if (!k || !(k->key = strdup(key))) {
        free(k);
        return NULL;
    }
    k->route = route;
    k->spec = sp;
    sim->keys[sim->n++] = k;
    if (2 * sim->n > sim->nslots) /* grows the index, with k in it */
        return rehash(sim) ? k : NULL;
    size_t s = (size_t)key_hash(route, sp->kind, key) & (sim->nslots - 1);
    while (sim->slots[s])
        s = (s + 1) & (sim->nslots - 1);
    sim->slots[s] = sim->n;
    return k;
}

/* The event's occurred_at (ms), 0 when it has none. */
static int64_t occurred(const cJSON *ev)
{
    const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "occurred_at"));
    int64_t ms = 0;
    sy_error e;
    return at && sy_time_parse_rfc3339(at, NULL, &ms, &e) == SY_OK ? ms : 0;
}

static bool hold(sim_key *k, const rules_action *a, const cJSON *ev)
{
    if (k->spec->kind == RULES_FLOW_DEBOUNCE) {
        if (!rules_flow_debounce_takes(&k->st, occurred(ev)))
            return true; /* an older event than the held one */
        if (k->nitems) { /* the last event replaces it */
            item_free(&k->items[0]);
            k->nitems = 0;
        }
    }
    if (k->nitems == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        sim_item *p = realloc(k->items, cap * sizeof *p);
        if (!p)
            return false;
        k->items = p;
        k->cap = cap;
    }
    sim_item *it = &k->items[k->nitems];
    memset(it, 0, sizeof *it);
    if (rules__action_copy(a, &it->act) != SY_OK)
        return false;
    if (k->spec->kind == RULES_FLOW_BATCH && !(it->event = cJSON_Duplicate(ev, true))) {
        rules__action_free(&it->act);
        return false;
    }
    k->nitems++;
    return true;
}

/* Runs action a's stages in order until one drops or holds it. */
static sy_status decide(rules_flow_sim *sim, int64_t now, const cJSON *ev, rules_action *a)
{
    a->flow_outcome = RULES_FLOW_OUT_PASSED;
    for (size_t i = 0; i < a->nflow; i++) {
        sim_key *k = find_key(sim, a->route, a->flow[i].spec, a->flow[i].key);
        if (!k)
            return SY_NOMEM;
        rules_flow_outcome o = rules_flow_on_event(k->spec, &k->st, now);
        if (o == RULES_FLOW_OUT_PASSED)
            continue;
        a->flow_outcome = o;
        if (o == RULES_FLOW_OUT_DEBOUNCED || o == RULES_FLOW_OUT_THROTTLED ||
            o == RULES_FLOW_OUT_BATCHED) {
            a->flow_fire_at = rules_flow_held_due(k->spec, &k->st);
            if (!hold(k, a, ev))
                return SY_NOMEM;
        }
        return SY_OK;
    }
    return SY_OK;
}

sy_status rules_flow_sim_event(rules_flow_sim *sim, int64_t now, const cJSON *ev,
                               rules_actions *acts)
{
    for (size_t i = 0; i < acts->len; i++) {
        rules_action *a = &acts->items[i];
        if (!a->nflow || (a->kind != RULES_START && a->kind != RULES_SIGNAL))
            continue;
        sy_status st = decide(sim, now, ev, a);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

/* ---- the clock ------------------------------------------------------------------- */

/* A batch's action: its first one, with input.events the batch's events. */
static sy_status batch_input(rules_action *a, sim_item *items, size_t n)
{
    if (!a->input && !(a->input = cJSON_CreateObject()))
        return SY_NOMEM;
    cJSON *evs = cJSON_CreateArray();
    if (!evs)
        return SY_NOMEM;
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(evs, items[i].event);
        items[i].event = NULL; /* moved */
    }
    cJSON_DeleteItemFromObjectCaseSensitive(a->input, "events");
    cJSON_AddItemToObject(a->input, "events", evs);
    return SY_OK;
}

/* Moves item it's action into *out as a fired one. */
static sy_status emit(rules_actions *out, sim_item *it, int64_t at, int64_t events)
{
    rules_action *a = rules__actions_push(out);
    if (!a)
        return SY_NOMEM;
    *a = it->act;
    memset(&it->act, 0, sizeof it->act);
    a->flow_outcome = RULES_FLOW_OUT_FIRED;
    a->flow_fire_at = at;
    a->flow_events = events;
    return SY_OK;
}

static void drop_items(sim_key *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        item_free(&k->items[i]);
    memmove(k->items, k->items + n, (k->nitems - n) * sizeof *k->items);
    k->nitems -= n;
}

static sy_status fire_key(sim_key *k, int64_t at, rules_actions *out)
{
    rules_flow_due d = rules_flow_on_due(k->spec, &k->st, at, SIM_DUE_MAX);
    sy_status st = SY_OK;
    if (k->spec->kind == RULES_FLOW_DEBOUNCE && d.fire && k->nitems) {
        st = emit(out, &k->items[0], at, d.events);
        drop_items(k, k->nitems);
    } else if (k->spec->kind == RULES_FLOW_THROTTLE) {
        for (size_t i = 0; st == SY_OK && i < d.items && i < k->nitems; i++)
            st = emit(out, &k->items[i], at, 1);
        drop_items(k, d.items < k->nitems ? d.items : k->nitems);
    } else if (k->spec->kind == RULES_FLOW_BATCH && d.fire && k->nitems) {
        size_t n = d.items < k->nitems ? d.items : k->nitems;
        st = batch_input(&k->items[0].act, k->items, n);
        if (st == SY_OK)
            st = emit(out, &k->items[0], at, (int64_t)n);
        drop_items(k, n);
    }
    return st;
}

/* The held key due first, NULL when none is due by to. */
static sim_key *next_due(const rules_flow_sim *sim, int64_t to)
{
    sim_key *best = NULL;
    for (size_t i = 0; i < sim->n; i++) {
        sim_key *k = sim->keys[i];
        if (k->st.n > 0 && k->st.fire_at && k->st.fire_at <= to &&
            (!best || k->st.fire_at < best->st.fire_at))
            best = k;
    }
    return best;
}

sy_status rules_flow_sim_advance(rules_flow_sim *sim, int64_t now, rules_actions *fired)
{
    sim_key *k;
    while ((k = next_due(sim, now)) != NULL) {
        sy_status st = fire_key(k, k->st.fire_at, fired);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}
