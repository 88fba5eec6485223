/* flow.c: the decisions of flow control (rules.h, docs/flow-control.md),
 * as pure functions of one key's state. The engine calls them with the
 * state it read (and locked) from Postgres and writes the state back in
 * the same transaction; the dry runs and embedded tests call them on a
 * state in memory (flow_sim.c). One copy of the semantics, so that what
 * `switchyard route` and `tests:` show is what the service does.
 *
 *   dedupe      the first event of a key passes and opens a window of ttl;
 *               repeats inside it are dropped (not extended)
 *   rate_limit  at most limit events pass in any window of period (a
 *               sliding log of the admitted times); the excess is dropped
 *   debounce    every event is held and replaces the held one; it fires
 *               period after the last event, or timeout after the first
 *   throttle    GCRA: emission interval T = period / limit, tolerance
 *               (burst - 1) * T; an event passes when nothing is queued and
 *               it conforms, else it is queued (FIFO) and the queue's head
 *               fires when it conforms: never before its slot, and slots
 *               stay T apart while the queue is behind (a start applied up
 *               to g = max(T, 100 ms) late keeps the schedule), so in any
 *               window of w there are at most burst + (w + g) / T + 1
 *               starts, and over time exactly the rate
 *   batch       events are held until max_size or timeout after the first;
 *               a batch fires as one action with up to max_size events */
#include "rules_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char *rules_flow_kind_name(rules_flow_kind k)
{
    static const char *const n[] = {"dedupe", "rate_limit", "debounce", "throttle", "batch"};
    return k < RULES_FLOW_KINDS ? n[k] : "?";
}

const char *rules_flow_outcome_name(rules_flow_outcome o)
{
    static const char *const n[] = {"none",      "passed",    "deduped", "rate_limited",
                                    "debounced", "throttled", "batched", "fired"};
    return o < RULES_FLOW_OUT_COUNT ? n[o] : "?";
}

void rules_flow_state_cleanup(rules_flow_state *s)
{
    if (!s)
        return;
    free(s->times);
    memset(s, 0, sizeof *s);
}

/* ---- throttle: GCRA ------------------------------------------------------------ */

static int64_t gcra_t_us(const rules_flow_spec *sp)
{
    int64_t t = sp->limit > 0 ? sp->period_ms * 1000 / sp->limit : 0;
    return t > 0 ? t : 1;
}

static int64_t gcra_tau_us(const rules_flow_spec *sp)
{
    return (sp->burst > 1 ? sp->burst - 1 : 0) * gcra_t_us(sp);
}

/* The first millisecond at which the next start conforms. */
static int64_t gcra_due_ms(const rules_flow_spec *sp, const rules_flow_state *s)
{
    int64_t us = s->tat_us - gcra_tau_us(sp);
    return us <= 0 ? 1 : (us + 999) / 1000;
}

static bool gcra_conforms(const rules_flow_spec *sp, const rules_flow_state *s, int64_t now)
{
    return s->tat_us - gcra_tau_us(sp) <= now * 1000;
}

static void gcra_admit(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    int64_t t = now * 1000;
    s->tat_us = (s->tat_us > t ? s->tat_us : t) + gcra_t_us(sp);
}

/* How late the head of a queue may be applied and still keep its slot
 * (gcra_admit_queued): one interval, and at least RULES_FLOW_CATCH_UP_MS. */
static int64_t gcra_grace_us(const rules_flow_spec *sp)
{
    int64_t t = gcra_t_us(sp);
    return t > RULES_FLOW_CATCH_UP_MS * 1000 ? t : RULES_FLOW_CATCH_UP_MS * 1000;
}

/* Admits the head of a queue that is behind: the timer loop applies it a
 * little after its slot (its wake-up, its other work and the commit take
 * milliseconds), and counting the next slot from that late moment would
 * lose that time on every start (measured: 84/s for a limit of 100/s,
 * slots reset whenever a round took over 10 ms). A start applied up to
 * the grace late keeps the schedule, so the queue runs at the rate over
 * time; a start is never applied before its slot. */
static void gcra_admit_queued(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    int64_t t = now * 1000 - gcra_grace_us(sp);
    s->tat_us = (s->tat_us > t ? s->tat_us : t) + gcra_t_us(sp);
}

/* ---- rate_limit: a sliding log ------------------------------------------------- */

static void rate_prune(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    size_t k = 0;
    while (k < s->ntimes && s->times[k] <= now - sp->period_ms)
        k++;
    if (k) {
        memmove(s->times, s->times + k, (s->ntimes - k) * sizeof *s->times);
        s->ntimes -= k;
    }
}

static bool rate_push(rules_flow_state *s, int64_t now)
{
    if (s->ntimes == s->captimes) {
        size_t cap = s->captimes ? s->captimes * 2 : 4;
        int64_t *p = realloc(s->times, cap * sizeof *p);
        if (!p)
            return false;
        s->times = p;
        s->captimes = cap;
    }
    /* times come in order; a clock that stepped back keeps the log sorted */
    size_t i = s->ntimes++;
    while (i > 0 && s->times[i - 1] > now) {
        s->times[i] = s->times[i - 1];
        i--;
    }
    s->times[i] = now;
    return true;
}

/* ---- events ------------------------------------------------------------------------ */

static rules_flow_outcome on_debounce(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    if (s->n == 0)
        s->first = now;
    s->n++;
    int64_t at = now + sp->period_ms;
    if (sp->timeout_ms > 0 && s->first + sp->timeout_ms < at)
        at = s->first + sp->timeout_ms;
    s->fire_at = at < now ? now : at;
    return RULES_FLOW_OUT_DEBOUNCED;
}

static rules_flow_outcome on_throttle(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    if (s->n == 0 && gcra_conforms(sp, s, now)) {
        gcra_admit(sp, s, now);
        return RULES_FLOW_OUT_PASSED;
    }
    if (s->n++ == 0)
        s->fire_at = gcra_due_ms(sp, s);
    s->seq++;
    return RULES_FLOW_OUT_THROTTLED;
}

static rules_flow_outcome on_batch(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    if (s->n++ == 0) {
        s->first = now;
        s->fire_at = now + sp->timeout_ms;
    }
    s->seq++;
    if (s->n >= sp->max_size)
        s->fire_at = now; /* full: the timer loop fires it at once */
    return RULES_FLOW_OUT_BATCHED;
}

rules_flow_outcome rules_flow_on_event(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    switch (sp->kind) {
    case RULES_FLOW_DEDUPE:
        if (s->until > now)
            return RULES_FLOW_OUT_DEDUPED;
        s->until = now + sp->ttl_ms;
        return RULES_FLOW_OUT_PASSED;
    case RULES_FLOW_RATE_LIMIT:
        rate_prune(sp, s, now);
        if ((int64_t)s->ntimes >= sp->limit || !rate_push(s, now))
            return RULES_FLOW_OUT_RATE_LIMITED;
        return RULES_FLOW_OUT_PASSED;
    case RULES_FLOW_DEBOUNCE:
        return on_debounce(sp, s, now);
    case RULES_FLOW_THROTTLE:
        return on_throttle(sp, s, now);
    case RULES_FLOW_BATCH:
        return on_batch(sp, s, now);
    default:
        return RULES_FLOW_OUT_PASSED;
    }
}

bool rules_flow_debounce_takes(rules_flow_state *s, int64_t event_at)
{
    if (s->n > 1 && event_at < s->held_at)
        return false;
    s->held_at = event_at;
    return true;
}

/* ---- due --------------------------------------------------------------------------- */

static rules_flow_due due_throttle(const rules_flow_spec *sp, rules_flow_state *s, int64_t now,
                                   size_t max)
{
    rules_flow_due d = {0};
    while (s->n > 0 && d.fire < max && gcra_conforms(sp, s, now)) {
        gcra_admit_queued(sp, s, now);
        s->n--;
        d.fire++;
    }
    d.items = d.fire;
    d.events = (int64_t)d.fire;
    if (s->n == 0)
        s->fire_at = 0;
    else
        s->fire_at = gcra_conforms(sp, s, now) ? now : gcra_due_ms(sp, s);
    return d;
}

static rules_flow_due due_batch(const rules_flow_spec *sp, rules_flow_state *s, int64_t now)
{
    rules_flow_due d = {0};
    int64_t k = s->n < sp->max_size ? s->n : sp->max_size;
    s->n -= k;
    d.fire = 1;
    d.items = (size_t)k;
    d.events = k;
    if (s->n == 0) {
        s->first = s->fire_at = 0;
    } else { /* the rest opens the next batch */
        s->first = now;
        s->fire_at = s->n >= sp->max_size ? now : now + sp->timeout_ms;
    }
    return d;
}

rules_flow_due rules_flow_on_due(const rules_flow_spec *sp, rules_flow_state *s, int64_t now,
                                 size_t max)
{
    rules_flow_due d = {0};
    if (s->n <= 0 || !s->fire_at || s->fire_at > now || max == 0)
        return d;
    switch (sp->kind) {
    case RULES_FLOW_DEBOUNCE:
        d.fire = 1;
        d.events = s->n;
        s->n = s->first = s->fire_at = 0;
        return d;
    case RULES_FLOW_THROTTLE:
        return due_throttle(sp, s, now, max);
    case RULES_FLOW_BATCH:
        return due_batch(sp, s, now);
    default:
        return d;
    }
}

int64_t rules_flow_held_due(const rules_flow_spec *sp, const rules_flow_state *s)
{
    if (sp->kind != RULES_FLOW_THROTTLE || s->n <= 1)
        return s->fire_at;
    int64_t us = s->tat_us - gcra_tau_us(sp) + (s->n - 1) * gcra_t_us(sp);
    return (us + 999) / 1000;
}

int64_t rules_flow_expires(const rules_flow_spec *sp, const rules_flow_state *s)
{
    if (s->n > 0)
        return INT64_MAX;
    switch (sp->kind) {
    case RULES_FLOW_DEDUPE:
        return s->until;
    case RULES_FLOW_RATE_LIMIT:
        return s->ntimes ? s->times[s->ntimes - 1] + sp->period_ms : 0;
    case RULES_FLOW_THROTTLE:
        return (s->tat_us + 999) / 1000;
    default:
        return 0;
    }
}

/* ---- as JSON ----------------------------------------------------------------------- */

static void num(cJSON *o, const char *k, int64_t v)
{
    if (v)
        cJSON_AddNumberToObject(o, k, (double)v);
}

cJSON *rules_flow_state_json(const rules_flow_spec *sp, const rules_flow_state *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", rules_flow_kind_name(sp->kind));
    num(o, "ttl_ms", sp->ttl_ms);
    num(o, "limit", sp->limit);
    num(o, "period_ms", sp->period_ms);
    num(o, "burst", sp->burst);
    num(o, "timeout_ms", sp->timeout_ms);
    num(o, "max_size", sp->max_size);
    num(o, "until", s->until);
    num(o, "tat_us", s->tat_us);
    num(o, "first", s->first);
    num(o, "n", s->n);
    num(o, "fire_at", s->fire_at);
    num(o, "seq", s->seq);
    num(o, "held_at", s->held_at);
    if (s->ntimes) {
        cJSON *t = cJSON_AddArrayToObject(o, "times");
        for (size_t i = 0; t && i < s->ntimes; i++)
            cJSON_AddItemToArray(t, cJSON_CreateNumber((double)s->times[i]));
    }
    return o;
}

static int64_t get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

sy_status rules_flow_state_parse(const cJSON *j, rules_flow_spec *sp, rules_flow_state *s)
{
    memset(sp, 0, sizeof *sp);
    memset(s, 0, sizeof *s);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kind"));
    int k = 0;
    while (kind && k < RULES_FLOW_KINDS && strcmp(rules_flow_kind_name((rules_flow_kind)k), kind))
        k++;
    if (!kind || k == RULES_FLOW_KINDS)
        return SY_INVALID;
    sp->kind = (rules_flow_kind)k;
    sp->ttl_ms = get(j, "ttl_ms");
    sp->limit = get(j, "limit");
    sp->period_ms = get(j, "period_ms");
    sp->burst = get(j, "burst");
    sp->timeout_ms = get(j, "timeout_ms");
    sp->max_size = get(j, "max_size");
    s->until = get(j, "until");
    s->tat_us = get(j, "tat_us");
    s->first = get(j, "first");
    s->n = get(j, "n");
    s->fire_at = get(j, "fire_at");
    s->seq = get(j, "seq");
    s->held_at = get(j, "held_at");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j, "times"))
    {
        if (cJSON_IsNumber(t) && !rate_push(s, (int64_t)t->valuedouble)) {
            rules_flow_state_cleanup(s);
            return SY_NOMEM;
        }
    }
    return SY_OK;
}
