/* states.c: a cache of running workflows' interpreter states, shared by
 * the sessions of one engine (Temporal's "sticky" workflow cache). A signal
 * or a task report to a running workflow used to load its whole history
 * and replay it; with what its last batch left behind, it loads nothing.
 *
 * Correctness rests on two facts. A state is a pure function of the
 * history (engine/README.md), and next_seq, read under the workflow's row
 * lock, says how long the history is: an entry whose next_seq matches the
 * run's row is exactly the replayed state. And only committed states enter
 * the cache: a batch leaves its states with its session (engine__stash),
 * engine_commit publishes them, a rollback drops them. An entry is taken
 * out while a batch works on it, so two sessions never share one tree.
 *
 * Two kinds of entry (engine__cached): the live state of a run that was
 * loaded (signaled, reported to), and the log of a run its batch started
 * (the history that batch wrote), replayed on use. Logs live in one ring
 * of bytes allocated once: thousands of long-lived blocks among a batch's
 * short-lived ones fragmented glibc's heap and made every malloc and free
 * of the next batches slower (a start's client CPU went from 21-23 to
 * 30-40 us with the same instruction count, 1.5% more). The ring's oldest
 * log goes when a new one needs its room.
 *
 * Bounded (least recently stored out first); a miss only costs the replay. */
#include "engine_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char run_id[37];
    int64_t next_seq;
    cJSON *state;       /* owned: a live state, or NULL for a log */
    uint64_t pos;       /* a log: its bytes at ring position pos.. */
    size_t len;         /* .. pos + len; 0: not a log */
    int64_t first;      /* the seq of the log's first event */
    int bucket_next;    /* next entry in the same bucket, -1: none */
    int older, newer;   /* LRU list, -1: none */
    int lolder, lnewer; /* logs in ring order, -1: none */
} entry;

struct engine__states {
    pthread_mutex_t mu;
    entry *e;
    int cap, nbuckets;
    int *buckets;       /* first entry of each bucket, -1: empty */
    int newest, oldest; /* LRU ends, -1: empty */
    int free_head;      /* free slots chained through bucket_next */
    char *ring;         /* logs' bytes; positions grow forever, ring[pos % ring_cap] */
    size_t ring_cap;
    uint64_t head, tail; /* the oldest log's first byte, the next free byte */
    int lfirst, llast;   /* the log list's ends, -1: empty */
};

engine__states *engine__states_new(size_t cap)
{
    if (cap == 0)
        return NULL;
    engine__states *c = calloc(1, sizeof *c);
    c->cap = (int)cap;
    c->nbuckets = 16;
    while ((size_t)c->nbuckets < 2 * cap)
        c->nbuckets *= 2;
    c->e = calloc(cap, sizeof *c->e);
    c->buckets = malloc((size_t)c->nbuckets * sizeof *c->buckets);
    for (int i = 0; i < c->nbuckets; i++)
        c->buckets[i] = -1;
    for (int i = 0; i < c->cap; i++)
        c->e[i].bucket_next = i + 1 < c->cap ? i + 1 : -1;
    c->free_head = 0;
    c->newest = c->oldest = c->lfirst = c->llast = -1;
    /* 1 KiB a log on average: a one-step workflow's start writes ~0.7 */
    c->ring_cap = cap * 1024;
    c->ring = malloc(c->ring_cap);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void engine__states_free(engine__states *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->cap; i++)
        cJSON_Delete(c->e[i].state);
    free(c->e);
    free(c->buckets);
    free(c->ring);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int bucket_of(const engine__states *c, const char *run_id)
{
    return (int)(engine__hash(run_id) & (uint64_t)(c->nbuckets - 1));
}

/* Index of run_id's entry, -1 if absent; *prev gets its bucket predecessor. */
static int find(const engine__states *c, const char *run_id, int *prev)
{
    *prev = -1;
    for (int i = c->buckets[bucket_of(c, run_id)]; i >= 0; i = c->e[i].bucket_next) {
        if (strcmp(c->e[i].run_id, run_id) == 0)
            return i;
        *prev = i;
    }
    return -1;
}

/* Takes log entry i out of the ring order; the ring's head moves to the
 * next log when i was the oldest (the bytes of logs taken out of the
 * middle are reclaimed when the head passes them). */
static void unlink_log(engine__states *c, int i)
{
    entry *x = &c->e[i];
    if (x->lolder >= 0)
        c->e[x->lolder].lnewer = x->lnewer;
    else
        c->lfirst = x->lnewer;
    if (x->lnewer >= 0)
        c->e[x->lnewer].lolder = x->lolder;
    else
        c->llast = x->lolder;
    c->head = c->lfirst >= 0 ? c->e[c->lfirst].pos : c->tail;
}

/* Unlinks entry i (found with predecessor prev) and frees its slot; its
 * state, if any, is the caller's. */
static cJSON *remove_at(engine__states *c, int i, int prev)
{
    entry *x = &c->e[i];
    if (prev >= 0)
        c->e[prev].bucket_next = x->bucket_next;
    else
        c->buckets[bucket_of(c, x->run_id)] = x->bucket_next;
    if (x->older >= 0)
        c->e[x->older].newer = x->newer;
    else
        c->oldest = x->newer;
    if (x->newer >= 0)
        c->e[x->newer].older = x->older;
    else
        c->newest = x->older;
    if (x->len)
        unlink_log(c, i);
    cJSON *state = x->state;
    x->state = NULL;
    x->len = 0;
    x->bucket_next = c->free_head;
    c->free_head = i;
    return state;
}

/* Evicts entry i wherever it is; returns its state for the caller to free
 * outside the lock. */
static cJSON *evict(engine__states *c, int i)
{
    int p, j = find(c, c->e[i].run_id, &p);
    return remove_at(c, j, p);
}

static void ring_copy_out(const engine__states *c, uint64_t pos, size_t len, char *out)
{
    size_t at = (size_t)(pos % c->ring_cap),
           first = c->ring_cap - at < len ? c->ring_cap - at : len;
    memcpy(out, c->ring + at, first);
    memcpy(out + first, c->ring, len - first);
}

static void ring_copy_in(engine__states *c, uint64_t pos, const char *in, size_t len)
{
    size_t at = (size_t)(pos % c->ring_cap),
           first = c->ring_cap - at < len ? c->ring_cap - at : len;
    memcpy(c->ring + at, in, first);
    memcpy(c->ring, in + first, len - first);
}

bool engine__states_take(engine__states *c, const char *run_id, int64_t next_seq,
                         engine__cached *out, sy_buf *log)
{
    *out = (engine__cached){0};
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    int prev, i = find(c, run_id, &prev);
    bool fits = i >= 0 && c->e[i].next_seq == next_seq;
    if (fits && c->e[i].len) { /* copied out before the ring can reuse it */
        sy_buf_reset(log);
        sy_buf__grow(log, c->e[i].len);
        ring_copy_out(c, c->e[i].pos, c->e[i].len, log->data);
        log->len = c->e[i].len;
        out->log = log->data;
        out->log_len = c->e[i].len;
        out->log_first = c->e[i].first;
    }
    cJSON *state = i >= 0 ? remove_at(c, i, prev) : NULL;
    pthread_mutex_unlock(&c->mu);
    if (fits) {
        out->state = state;
        return true;
    }
    cJSON_Delete(state); /* stale: another process moved the run on */
    return false;
}

/* Makes room for n more bytes of logs, evicting the oldest logs; their
 * states (none: logs have no state) need no freeing. */
static void ring_room(engine__states *c, size_t n)
{
    while (c->ring_cap - (size_t)(c->tail - c->head) < n && c->lfirst >= 0)
        (void)evict(c, c->lfirst);
}

void engine__states_put(engine__states *c, const char *run_id, int64_t next_seq,
                        const engine__cached *v)
{
    /* a log larger than an eighth of the ring would push out too many */
    if (!c || (v->log && v->log_len > c->ring_cap / 8)) {
        cJSON_Delete(v->state);
        return;
    }
    cJSON *gone = NULL, *old = NULL;
    pthread_mutex_lock(&c->mu);
    int prev, i = find(c, run_id, &prev);
    if (i >= 0)
        old = remove_at(c, i, prev);
    if (c->free_head < 0) /* full: the least recently stored goes */
        gone = evict(c, c->oldest);
    if (v->log)
        ring_room(c, v->log_len);
    i = c->free_head;
    entry *x = &c->e[i];
    c->free_head = x->bucket_next;
    sy_strlcpy(x->run_id, sizeof x->run_id, run_id);
    x->next_seq = next_seq;
    x->state = v->state;
    x->len = v->log ? v->log_len : 0;
    if (x->len) {
        x->pos = c->tail;
        x->first = v->log_first;
        ring_copy_in(c, x->pos, v->log, x->len);
        c->tail += x->len;
        x->lolder = c->llast;
        x->lnewer = -1;
        if (c->llast >= 0)
            c->e[c->llast].lnewer = i;
        c->llast = i;
        if (c->lfirst < 0) {
            c->lfirst = i;
            c->head = x->pos;
        }
    }
    int b = bucket_of(c, run_id);
    x->bucket_next = c->buckets[b];
    c->buckets[b] = i;
    x->older = c->newest;
    x->newer = -1;
    if (c->newest >= 0)
        c->e[c->newest].newer = i;
    c->newest = i;
    if (c->oldest < 0)
        c->oldest = i;
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(old); /* freed outside the lock */
    cJSON_Delete(gone);
}
