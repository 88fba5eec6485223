/* reports_hold.c: the task.started reports a report consumer holds
 * (reports_int.h). A hash by task and attempt finds the one a later report
 * of the same task takes along into its batch; a list in arrival order
 * gives the ones whose hold is over. Every hold lasts as long, so the
 * oldest is always the first due. */
#include "reports_int.h"

#include <stdlib.h>
#include <string.h>

struct engine__held {
    item it;
    int64_t due_ms;
    engine__held *hnext;       /* same hash slot */
    engine__held *prev, *next; /* arrival order */
};

/* dst takes src's message and JSON; src is left empty. rep.event_id points
 * into the item itself, so it is pointed at dst's copy. */
void engine__item_move(item *dst, item *src)
{
    *dst = *src;
    if (src->rep.event_id)
        dst->rep.event_id = dst->event_id;
    memset(src, 0, sizeof *src);
}

static uint64_t key_hash(const char *task_id, int64_t attempt)
{
    return engine__hash(task_id) ^ ((uint64_t)attempt * 0x9e3779b97f4a7c15ull);
}

static engine__held **slot_of(engine__hold *h, const char *task_id, int64_t attempt)
{
    return &h->slots[key_hash(task_id, attempt) & (h->nslots - 1)];
}

/* Doubles the slots once there are more held than slots. */
static bool grow(engine__hold *h)
{
    if (h->n < h->nslots)
        return true;
    size_t ns = h->nslots ? h->nslots * 2 : 256;
    engine__held **slots = calloc(ns, sizeof *slots);
    if (!slots)
        return false;
    free(h->slots);
    h->slots = slots;
    h->nslots = ns;
    for (engine__held *x = h->head; x; x = x->next) {
        engine__held **s = slot_of(h, x->it.rep.task_id, x->it.rep.attempt);
        x->hnext = *s;
        *s = x;
    }
    return true;
}

bool engine__hold_put(engine__hold *h, item *it, int64_t due_ms)
{
    engine__held *x = calloc(1, sizeof *x);
    if (!x || !grow(h)) {
        free(x);
        return false;
    }
    engine__item_move(&x->it, it);
    x->due_ms = due_ms;
    engine__held **s = slot_of(h, x->it.rep.task_id, x->it.rep.attempt);
    x->hnext = *s;
    *s = x;
    x->prev = h->tail;
    if (h->tail)
        h->tail->next = x;
    else
        h->head = x;
    h->tail = x;
    h->n++;
    return true;
}

/* Unlinks x (found at *s in its slot) and moves its item to out. */
static void take(engine__hold *h, engine__held **s, engine__held *x, item *out)
{
    *s = x->hnext;
    if (x->prev)
        x->prev->next = x->next;
    else
        h->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        h->tail = x->prev;
    h->n--;
    engine__item_move(out, &x->it);
    free(x);
}

bool engine__hold_take(engine__hold *h, const char *task_id, int64_t attempt, item *out)
{
    if (!h->n)
        return false;
    for (engine__held **s = slot_of(h, task_id, attempt); *s; s = &(*s)->hnext) {
        engine__held *x = *s;
        if (x->it.rep.attempt == attempt && strcmp(x->it.rep.task_id, task_id) == 0) {
            take(h, s, x, out);
            return true;
        }
    }
    return false;
}

bool engine__hold_take_due(engine__hold *h, int64_t now_ms, item *out)
{
    engine__held *x = h->head;
    if (!x || x->due_ms > now_ms)
        return false;
    engine__held **s = slot_of(h, x->it.rep.task_id, x->it.rep.attempt);
    while (*s != x)
        s = &(*s)->hnext;
    take(h, s, x, out);
    return true;
}

size_t engine__hold_count_due(const engine__hold *h, int64_t now_ms)
{
    size_t n = 0;
    for (const engine__held *x = h->head; x && x->due_ms <= now_ms; x = x->next)
        n++;
    return n;
}

int64_t engine__hold_next_due(const engine__hold *h)
{
    return h->head ? h->head->due_ms : 0;
}

void engine__hold_release(engine__hold *h)
{
    item it;
    while (h->head && engine__hold_take_due(h, h->head->due_ms, &it)) {
        natsMsg_Nak(it.msg, NULL); /* to another consumer at once */
        natsMsg_Destroy(it.msg);
        cJSON_Delete(it.json);
    }
    free(h->slots);
    memset(h, 0, sizeof *h);
}
