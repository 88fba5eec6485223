/* states.c: a cache of running workflows' interpreter states, shared by
 * the sessions of one engine (Temporal's "sticky" workflow cache). A signal
 * or a task report to a running workflow used to load its whole history
 * and replay it; with the state its last batch left behind, it loads
 * nothing.
 *
 * Correctness rests on two facts. A state is a pure function of the
 * history (engine/README.md), and next_seq, read under the workflow's row
 * lock, says how long the history is: an entry whose next_seq matches the
 * run's row is exactly the replayed state. And only committed states enter
 * the cache: a batch leaves its states with its session (engine__stash),
 * engine_commit publishes them, a rollback drops them. An entry is taken
 * out while a batch works on it, so two sessions never share one tree.
 *
 * A run started by a batch is kept as the history that batch wrote (its
 * log, engine__cached): its first report or signal replays it in memory
 * instead of reading the history back.
 *
 * Bounded (least recently stored out first); a miss only costs the replay. */
#include "engine_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char run_id[37];
    int64_t next_seq;
    engine__cached v; /* owned; all NULL: free slot */
    int bucket_next;  /* next entry in the same bucket, -1: none */
    int older, newer; /* LRU list, -1: none */
} entry;

struct engine__states {
    pthread_mutex_t mu;
    entry *e;
    int cap, nbuckets;
    int *buckets;       /* first entry of each bucket, -1: empty */
    int newest, oldest; /* LRU ends, -1: empty */
    int free_head;      /* free slots chained through bucket_next */
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
    c->newest = c->oldest = -1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void engine__states_free(engine__states *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->cap; i++)
        engine__cached_free(&c->e[i].v);
    free(c->e);
    free(c->buckets);
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

void engine__cached_free(engine__cached *v)
{
    cJSON_Delete(v->state);
    free(v->log);
    *v = (engine__cached){0};
}

/* Unlinks entry i (found with predecessor prev) and returns what it held. */
static engine__cached remove_at(engine__states *c, int i, int prev)
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
    engine__cached v = x->v;
    x->v = (engine__cached){0};
    x->bucket_next = c->free_head;
    c->free_head = i;
    return v;
}

bool engine__states_take(engine__states *c, const char *run_id, int64_t next_seq,
                         engine__cached *out)
{
    *out = (engine__cached){0};
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    int prev, i = find(c, run_id, &prev);
    bool fits = i >= 0 && c->e[i].next_seq == next_seq;
    engine__cached v = i >= 0 ? remove_at(c, i, prev) : (engine__cached){0};
    pthread_mutex_unlock(&c->mu);
    if (fits) {
        *out = v;
        return true;
    }
    engine__cached_free(&v); /* stale: another process moved the run on */
    return false;
}

void engine__states_put(engine__states *c, const char *run_id, int64_t next_seq,
                        engine__cached *v)
{
    if (!c) {
        engine__cached_free(v);
        return;
    }
    engine__cached gone = {0}, old = {0};
    pthread_mutex_lock(&c->mu);
    int prev, i = find(c, run_id, &prev);
    if (i >= 0)
        old = remove_at(c, i, prev);
    if (c->free_head < 0) { /* full: the least recently stored goes */
        int o = c->oldest;
        int p, j = find(c, c->e[o].run_id, &p);
        gone = remove_at(c, j, p);
    }
    i = c->free_head;
    entry *x = &c->e[i];
    c->free_head = x->bucket_next;
    sy_strlcpy(x->run_id, sizeof x->run_id, run_id);
    x->next_seq = next_seq;
    x->v = *v;
    *v = (engine__cached){0};
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
    engine__cached_free(&old); /* freed outside the lock */
    engine__cached_free(&gone);
}
