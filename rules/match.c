/* match.c: the route index and routing.
 *
 * Routes with an exact `type` are put in a hash table keyed by type; every
 * other route (a glob or no type) goes into one ordered glob list. An event
 * tests only the routes under its own type plus the glob list, merged by
 * file index so that matching routes still fire in file order. With 1,000
 * routes over 50 types an event tests ~20 routes, not 1,000. The index is
 * built once at load and only read afterwards, so a set can be shared by
 * threads. */
#include "rules_int.h"

#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ix_slot {
    const char *type; /* NULL: empty */
    size_t *routes;
    size_t n, cap;
} ix_slot;

struct rules_index {
    ix_slot *slots;
    size_t nslots; /* power of two */
    size_t *globs;
    size_t nglobs;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static ix_slot *slot_for(const rules_index *ix, const char *type)
{
    size_t i = (size_t)hash_str(type) & (ix->nslots - 1);
    while (ix->slots[i].type && strcmp(ix->slots[i].type, type) != 0)
        i = (i + 1) & (ix->nslots - 1);
    return &ix->slots[i];
}

static void push(size_t **arr, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr)
            abort();
    }
    (*arr)[(*n)++] = v;
}

sy_status rules__index_build(rules_set *set)
{
    rules_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return SY_NOMEM;
    ix->nslots = 16;
    while (ix->nslots < set->nroutes * 2)
        ix->nslots *= 2;
    ix->slots = calloc(ix->nslots, sizeof *ix->slots);
    if (!ix->slots) {
        free(ix);
        return SY_NOMEM;
    }
    size_t gcap = 0;
    for (size_t i = 0; i < set->nroutes; i++) {
        const rules_route_def *r = &set->routes[i];
        if (r->join)
            continue; /* a join's events are matched by rules_join_hits */
        if (r->type_pat && r->type_is_exact) {
            ix_slot *s = slot_for(ix, r->type_pat);
            s->type = r->type_pat;
            push(&s->routes, &s->n, &s->cap, i);
        } else {
            push(&ix->globs, &ix->nglobs, &gcap, i);
        }
    }
    set->index = ix;
    return SY_OK;
}

void rules__index_free(rules_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->nslots; i++)
        free(ix->slots[i].routes);
    free(ix->slots);
    free(ix->globs);
    free(ix);
}

/* NATS-style: `*` one segment, `>` one or more trailing segments. */
bool rules__glob_type(const char *pat, const char *type)
{
    const char *p = pat, *t = type;
    for (;;) {
        if (p[0] == '>' && p[1] == '\0')
            return *t != '\0';
        const char *pe = strchr(p, '.'), *te = strchr(t, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), tl = te ? (size_t)(te - t) : strlen(t);
        if (!(pl == 1 && *p == '*') && (pl != tl || memcmp(p, t, pl) != 0))
            return false;
        if (pl == 1 && *p == '*' && tl == 0)
            return false;
        if (!pe || !te)
            return !pe && !te;
        p = pe + 1;
        t = te + 1;
    }
}

/* `*` matches any run of characters (including none); no other magic. */
bool rules__glob_value(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static bool route_matches(const rules_route_def *r, const cJSON *ev, const char *type,
                          const char *source, const char *subject)
{
    if (r->type_pat && !r->type_is_exact && !rules__glob_type(r->type_pat, type))
        return false;
    if (r->source_pat && !rules__glob_value(r->source_pat, source ? source : ""))
        return false;
    if (r->subject_pat && (!subject || !rules__glob_value(r->subject_pat, subject)))
        return false;
    return !r->where || rules__expr_eval(r->where, ev);
}

static const char *str_field(const cJSON *ev, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

sy_status rules__route_json(const rules_set *set, const cJSON *ev, rules_actions *out)
{
    const char *type = str_field(ev, "type"), *source = str_field(ev, "source");
    const char *subject = str_field(ev, "subject");
    const rules_index *ix = set->index;
    const ix_slot *slot = type ? slot_for(ix, type) : NULL;
    const size_t *exact = slot && slot->type ? slot->routes : NULL;
    size_t nexact = slot && slot->type ? slot->n : 0, ne = 0, ng = 0;
    size_t before = out->len;
    /* merge the two ordered lists so routes fire in file order */
    while (ne < nexact || ng < ix->nglobs) {
        size_t idx;
        if (ng >= ix->nglobs || (ne < nexact && exact[ne] < ix->globs[ng]))
            idx = exact[ne++];
        else
            idx = ix->globs[ng++];
        const rules_route_def *r = &set->routes[idx];
        if (!route_matches(r, ev, type ? type : "", source, subject))
            continue;
        if (rules__fire(r, ev, out) != SY_OK)
            return SY_NOMEM;
        rules__fire_admission(set->workflows, &out->items[out->len - 1]);
    }
    out->correlate = rules_set_correlates(set, type);
    out->unmatched = out->len == before && !out->correlate;
    return SY_OK;
}

sy_status rules_route(const rules_set *set, const envelope *env, rules_actions *out)
{
    return rules__route_json(set, envelope_json(env), out);
}
