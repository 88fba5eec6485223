/* order.c: the events of one workflow in stream order across pipelines
 * (order.h has the contract, router/README.md the argument).
 *
 * Why this is enough: the consumer delivers new messages in stream order
 * and acks only follow commits, so an event at sequence b can be overtaken
 * only by one at a < b that some pipeline holds, or that waits for its
 * redelivery (a nak, a crash). Every sequence at or below the ack floor is
 * committed; every other sequence before b is either in a lane (pending,
 * with its workflows, or done) or unknown. b commits only when none before
 * it is unknown and no pending one names its workflows. A lane written
 * before b's pipeline reads it is seen; one written after it is unknown
 * and waits; a lane lost (crash, an UNLOGGED table emptied) is unknown.
 * The lowest pending sequence anywhere has nothing unknown before it, so
 * some event can always commit. */
#include "order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { KEY_NONE = 0, KEY_ALL = 1 };

/* How old the ack floor may be (a fresh one keeps the done lists short:
 * what a pipeline committed in the last round or two): at a round, and at
 * a round that holds events for a known (not unknown) reason. */
enum { FLOOR_MAX_AGE_MS = 20, FLOOR_HELD_AGE_MS = 20 };

/* Lanes read again (after 1, 2, 4, 8, 16 ms) before events held for an unknown
 * sequence wait a round. */
enum { LANE_RETRIES = 5 };

struct router_order {
    char lane[40];
    const char *stream, *consumer; /* borrowed */
    uint64_t floor;                /* the consumer's ack floor, as last read */
    int64_t floor_at_ms;           /* when (the caller's clock) */
    int64_t *done;                 /* committed sequences above the floor */
    size_t ndone, cap_done;
    int64_t *pend, *keys; /* scratch for the lane's pending arrays */
    size_t cap_pend, cap_keys;
};

/* FNV-1a: stable across processes and versions (lanes of two binaries
 * during an upgrade compare these); 0 and 1 are reserved. */
void router_order_keys_add(router_order_keys *ks, const char *workflow_id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *c = (const unsigned char *)workflow_id; *c; c++)
        h = (h ^ *c) * 1099511628211ull;
    int64_t k = (int64_t)(h & 0x7fffffffffffffffull);
    if (k < 2)
        k += 2;
    for (size_t i = 0; i < ks->n; i++)
        if (ks->k[i] == k)
            return;
    if (ks->n < ROUTER_ORDER_KEYS)
        ks->k[ks->n++] = k;
    else
        ks->all = true;
}

router_order *router_order_new(const char *stream, const char *consumer)
{
    router_order *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memset(rnd, 0, sizeof rnd); /* the pid and address below still differ */
    int off = snprintf(o->lane, sizeof o->lane, "%x-", (unsigned)getpid());
    for (size_t i = 0; i < sizeof rnd && off + 2 < (int)sizeof o->lane; i++)
        off += snprintf(o->lane + off, sizeof o->lane - (size_t)off, "%02x", rnd[i]);
    o->stream = stream;
    o->consumer = consumer;
    return o;
}

void router_order_free(router_order *o)
{
    if (!o)
        return;
    free(o->done);
    free(o->pend);
    free(o->keys);
    free(o);
}

const char *router_order_lane(const router_order *o)
{
    return o->lane;
}

static bool grow(int64_t **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    int64_t *nv = realloc(*v, c * sizeof *nv);
    if (!nv)
        return false;
    *v = nv;
    *cap = c;
    return true;
}

/* Drops the done sequences the ack floor has passed. */
static void trim_done(router_order *o)
{
    size_t j = 0;
    for (size_t i = 0; i < o->ndone; i++)
        if ((uint64_t)o->done[i] > o->floor)
            o->done[j++] = o->done[i];
    o->ndone = j;
}

/* The lane of m[0..n) (skipping 'skip_txn' events: those committing) and
 * the done list; false on out of memory. */
static bool lane_of(router_order *o, const router_order_msg *m, size_t n, bool skip_txn,
                    engine_order_lane *out)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += m[i].keys.all || !m[i].keys.n ? 1 : m[i].keys.n;
    if (!grow(&o->pend, &o->cap_pend, need) || !grow(&o->keys, &o->cap_keys, need))
        return false;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].committed || (skip_txn && m[i].in_txn))
            continue;
        const router_order_keys *ks = &m[i].keys;
        if (ks->all || !ks->n) {
            o->pend[j] = (int64_t)m[i].seq;
            o->keys[j++] = ks->all ? KEY_ALL : KEY_NONE;
            continue;
        }
        for (size_t k = 0; k < ks->n; k++) {
            o->pend[j] = (int64_t)m[i].seq;
            o->keys[j++] = ks->k[k];
        }
    }
    *out = (engine_order_lane){o->pend, o->keys, j, o->done, o->ndone};
    return true;
}

static sy_status read_floor(router_order *o, jsCtx *js, int64_t now_ms)
{
    o->floor_at_ms = now_ms;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, js, o->stream, o->consumer, NULL, &jerr);
    if (s == NATS_OK && ci->AckFloor.Stream > o->floor)
        o->floor = ci->AckFloor.Stream; /* the floor never goes back for us */
    jsConsumerInfo_Destroy(ci);
    return s == NATS_OK ? SY_OK : SY_NATS_DOWN;
}

/* ---- the decision ----------------------------------------------------------------- */

/* A small open-addressing set of int64 (never 0). */
typedef struct keyset {
    int64_t *slot;
    size_t mask, n;
} keyset;

static bool keyset_init(keyset *s, size_t want)
{
    size_t c = 64;
    while (c < want * 4)
        c *= 2;
    s->slot = calloc(c, sizeof *s->slot);
    s->mask = c - 1;
    s->n = 0;
    return s->slot != NULL;
}

static size_t slot_of(const keyset *s, int64_t k)
{
    size_t i = (size_t)((uint64_t)k * 0x9e3779b97f4a7c15ull) & s->mask;
    while (s->slot[i] && s->slot[i] != k)
        i = (i + 1) & s->mask;
    return i;
}

static void keyset_add(keyset *s, int64_t k)
{
    size_t i = slot_of(s, k);
    if (!s->slot[i] && s->n * 2 < s->mask) {
        s->slot[i] = k;
        s->n++;
    }
}

static bool keyset_has(const keyset *s, int64_t k)
{
    return s->slot[slot_of(s, k)] == k;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_entry(const void *a, const void *b)
{
    const engine_order_entry *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The first sequence above the floor that no lane and no event of ours
 * knows (INT64_MAX when none before the last known one is missing). */
static int64_t first_unknown(const router_order *o, const engine_order_entry *e, size_t ne,
                             const router_order_msg *m, size_t n)
{
    size_t nk = ne + n + o->ndone;
    int64_t *k = malloc((nk ? nk : 1) * sizeof *k);
    if (!k)
        return (int64_t)o->floor + 1; /* out of memory: know nothing */
    size_t j = 0;
    for (size_t i = 0; i < ne; i++)
        k[j++] = e[i].seq;
    for (size_t i = 0; i < n; i++)
        k[j++] = (int64_t)m[i].seq;
    for (size_t i = 0; i < o->ndone; i++)
        k[j++] = o->done[i];
    qsort(k, j, sizeof *k, cmp_i64);
    int64_t expect = (int64_t)o->floor + 1;
    for (size_t i = 0; i < j; i++) {
        if (k[i] < expect)
            continue;
        if (k[i] > expect)
            break;
        expect++;
    }
    free(k);
    return expect; /* expect itself is not known; past the last, nothing is */
}

/* Sets the done sequences (others' and ours) in *done for lookups. */
static bool done_set(const router_order *o, const engine_order_entry *e, size_t ne,
                     const router_order_msg *m, size_t n, keyset *done)
{
    if (!keyset_init(done, ne + o->ndone + n))
        return false;
    for (size_t i = 0; i < ne; i++)
        if (e[i].done)
            keyset_add(done, e[i].seq);
    for (size_t i = 0; i < o->ndone; i++)
        keyset_add(done, o->done[i]);
    for (size_t i = 0; i < n; i++) /* we hold these now: others' entries are stale */
        keyset_add(done, (int64_t)m[i].seq);
    return true;
}

static bool blocked(const keyset *b, bool b_all, const router_order_keys *ks)
{
    if (!ks->n && !ks->all)
        return false; /* no workflow: never waits */
    if (b_all || (ks->all && b->n))
        return true;
    for (size_t i = 0; i < ks->n; i++)
        if (keyset_has(b, ks->k[i]))
            return true;
    return false;
}

static void block(keyset *b, bool *b_all, const router_order_keys *ks)
{
    *b_all |= ks->all;
    for (size_t i = 0; i < ks->n; i++)
        keyset_add(b, ks->k[i]);
}

/* One sweep in stream order over the others' pending entries (e sorted)
 * and our events; false when something was held because of an unknown
 * sequence (a fresher ack floor may clear it). */
static bool sweep(const router_order *o, const engine_order_entry *e, size_t ne,
                  router_order_msg *m, size_t n, int64_t now_ms, int64_t max_hold_ms,
                  bool *unknown_held, bool *held)
{
    keyset done = {0}, b = {0};
    *unknown_held = *held = false;
    if (!done_set(o, e, ne, m, n, &done) || !keyset_init(&b, ne + n * ROUTER_ORDER_KEYS)) {
        free(done.slot);
        return false;
    }
    int64_t gap = first_unknown(o, e, ne, m, n);
    bool b_all = false;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        for (; j < ne && e[j].seq < (int64_t)m[i].seq; j++) {
            if (e[j].done || keyset_has(&done, e[j].seq))
                continue;
            if (e[j].key == KEY_ALL)
                b_all = true;
            else if (e[j].key != KEY_NONE)
                keyset_add(&b, e[j].key);
        }
        bool has_keys = m[i].keys.n || m[i].keys.all;
        bool late = has_keys && (int64_t)m[i].seq > gap;
        bool wait = late || blocked(&b, b_all, &m[i].keys);
        m[i].forced = wait && m[i].held_since_ms && now_ms - m[i].held_since_ms > max_hold_ms;
        m[i].clear = !wait || m[i].forced;
        if (!m[i].clear) {
            *unknown_held |= late;
            *held = true;
            block(&b, &b_all, &m[i].keys); /* our later events of it wait too */
        }
    }
    free(done.slot);
    free(b.slot);
    return true;
}

/* Entries at or below the floor are committed: drops them from e. */
static size_t above_floor(const router_order *o, engine_order_entry *e, size_t ne)
{
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if ((uint64_t)e[i].seq > o->floor)
            e[k++] = e[i];
    return k;
}

sy_status router_order_decide(router_order *o, engine_session *s, jsCtx *js, router_order_msg *m,
                              size_t n, int64_t now_ms, int64_t max_hold_ms, sy_error *err)
{
    for (size_t i = 0; i < n; i++)
        m[i].clear = m[i].forced = m[i].in_txn = m[i].committed = false;
    /* an old floor is still a floor (NATS away: keep it); a fresh one
     * trims the done list */
    if (o->floor == 0 || o->ndone > 4096 || now_ms - o->floor_at_ms > FLOOR_MAX_AGE_MS)
        (void)read_floor(o, js, now_ms);
    trim_done(o);
    engine_order_lane lane;
    if (!lane_of(o, m, n, false, &lane))
        return sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory for the order lane");
    engine_order_entry *e = NULL;
    size_t ne = 0;
    sy_status st = engine_order_publish(s, o->lane, &lane, (int64_t)o->floor, &e, &ne, err);
    if (st != SY_OK)
        return st;
    if (ne) /* qsort(NULL, 0) is undefined */
        qsort(e, ne, sizeof *e, cmp_entry);
    bool unknown_held = false, held = false;
    if (!sweep(o, e, ne, m, n, now_ms, max_hold_ms, &unknown_held, &held))
        st = sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory deciding the order");
    /* an unknown sequence is most often in a pipeline that fetched at the
     * same moment (the server deals messages to waiting fetches in turn)
     * and is still routing them: its lane comes within milliseconds, and
     * reading the lanes again is far cheaper than holding the events a
     * round (each round routes them again) */
    for (int retry = 0; st == SY_OK && unknown_held && retry < LANE_RETRIES; retry++) {
        struct timespec ts = {0, (long)(1 << retry) * 1000000L};
        nanosleep(&ts, NULL);
        free(e);
        e = NULL;
        st = engine_order_publish(s, o->lane, &lane, (int64_t)o->floor, &e, &ne, err);
        if (st != SY_OK)
            break;
        if (ne) /* qsort(NULL, 0) is undefined */
            qsort(e, ne, sizeof *e, cmp_entry);
        if (!sweep(o, e, ne, m, n, now_ms, max_hold_ms, &unknown_held, &held))
            st = sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory deciding the order");
    }
    /* held for a sequence nobody knows, or (less often) for an entry a
     * lane left behind that the floor has passed: a fresher floor may
     * clear it now rather than a round later */
    uint64_t before = o->floor;
    bool refresh = unknown_held || (held && now_ms - o->floor_at_ms >= FLOOR_HELD_AGE_MS);
    if (st == SY_OK && refresh && read_floor(o, js, now_ms) == SY_OK && o->floor > before) {
        trim_done(o);
        if (!sweep(o, e, above_floor(o, e, ne), m, n, now_ms, max_hold_ms, &unknown_held, &held))
            st = sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory deciding the order");
    }
    free(e);
    if (st != SY_OK)
        for (size_t i = 0; i < n; i++)
            m[i].clear = false;
    return st;
}

sy_status router_order_settle(router_order *o, engine_session *s, const router_order_msg *m,
                              size_t n, sy_error *err)
{
    engine_order_lane lane;
    if (!lane_of(o, m, n, true, &lane) || !grow(&o->done, &o->cap_done, o->ndone + n))
        return sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory for the order lane");
    /* done as it will be: ours so far and the events committing now */
    size_t nd = o->ndone;
    for (size_t i = 0; i < n; i++)
        if (m[i].in_txn)
            o->done[nd++] = (int64_t)m[i].seq;
    lane.done = o->done;
    lane.ndone = nd;
    return engine_order_settle(s, o->lane, &lane, err);
}

void router_order_committed(router_order *o, router_order_msg *m, size_t n)
{
    if (!grow(&o->done, &o->cap_done, o->ndone + n))
        return; /* others then wait for the ack floor instead */
    for (size_t i = 0; i < n; i++)
        if (m[i].in_txn && !m[i].committed) {
            o->done[o->ndone++] = (int64_t)m[i].seq;
            m[i].committed = true;
            m[i].in_txn = false;
        }
}
