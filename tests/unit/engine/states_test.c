/* engine/states.c without a database: entries found only at their
 * next_seq, logs copied intact across the ring's wrap, the oldest logs
 * pushed out when the ring is full, and the count bound. */
#include "engine_int.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static char big_log[10000]; /* a fake "type\0data\0" log, bytes varied by id */

static void make_log(int id, size_t len)
{
    for (size_t i = 0; i < len; i++)
        big_log[i] = (char)('a' + (id + i) % 26);
}

static void put_log(engine__states *c, int id, size_t len)
{
    char run[37];
    snprintf(run, sizeof run, "run-%d", id);
    make_log(id, len);
    engine__cached v = {.log = big_log, .log_len = len, .log_first = 1};
    engine__states_put(c, run, 10 + id, &v);
}

enum { MISS, INTACT, DAMAGED };

/* Takes run-<id> out: MISS, or whether its log came back intact. */
static int take_log(engine__states *c, int id, size_t len)
{
    char run[37], want[sizeof big_log];
    snprintf(run, sizeof run, "run-%d", id);
    engine__cached v;
    sy_buf log = SY_BUF_INIT;
    bool hit = engine__states_take(c, run, 10 + id, &v, &log);
    make_log(id, len);
    memcpy(want, big_log, len);
    bool ok =
        hit && !v.state && v.log_len == len && v.log_first == 1 && memcmp(v.log, want, len) == 0;
    sy_buf_cleanup(&log);
    return !hit ? MISS : ok ? INTACT : DAMAGED;
}

TEST(an_entry_is_found_only_at_its_next_seq_and_only_once)
{
    engine__states *c = engine__states_new(4);
    put_log(c, 1, 100);
    engine__cached v;
    sy_buf log = SY_BUF_INIT;
    CHECK(!engine__states_take(c, "run-1", 99, &v, &log)); /* stale: dropped */
    CHECK_INT(take_log(c, 1, 100), MISS);
    put_log(c, 2, 100);
    CHECK_INT(take_log(c, 2, 100), INTACT);
    CHECK_INT(take_log(c, 2, 100), MISS); /* taken out */
    cJSON *st = cJSON_CreateObject();
    engine__cached live = {.state = st};
    engine__states_put(c, "run-3", 7, &live);
    CHECK(engine__states_take(c, "run-3", 7, &v, &log));
    CHECK(v.state == st && !v.log);
    cJSON_Delete(v.state);
    sy_buf_cleanup(&log);
    engine__states_free(c);
}

/* cap 8 gives a ring of 8 KiB: ten 1000-byte logs a round wrap it every
 * round; the count bound (8) pushes out each round's first two. */
TEST(logs_survive_the_ring_s_wrap_and_the_count_bound_takes_the_oldest)
{
    engine__states *c = engine__states_new(8);
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 10; i++)
            put_log(c, round * 10 + i, 1000);
        CHECK_INT(take_log(c, round * 10, 1000), MISS);
        CHECK_INT(take_log(c, round * 10 + 1, 1000), MISS);
        for (int i = 2; i < 10; i++)
            CHECK_INT(take_log(c, round * 10 + i, 1000), INTACT);
    }
    engine__states_free(c);
}

/* cap 128 gives a ring of 128 KiB, twelve 10 000-byte logs fill 120 000.
 * Logs taken from the middle leave holes reclaimed only when the head
 * passes them; a log that finds no room pushes out the oldest log. */
TEST(a_full_ring_pushes_out_its_oldest_log)
{
    engine__states *c = engine__states_new(128);
    for (int i = 0; i < 12; i++)
        put_log(c, i, 10000);
    for (int i = 0; i < 12; i += 2)
        CHECK_INT(take_log(c, i, 10000), INTACT); /* taking 0 moves the head to 1 */
    for (int i = 100; i < 103; i++)
        put_log(c, i, 10000); /* the third finds no room: 1 goes */
    CHECK_INT(take_log(c, 1, 10000), MISS);
    for (int i = 3; i < 12; i += 2)
        CHECK_INT(take_log(c, i, 10000), INTACT);
    for (int i = 100; i < 103; i++)
        CHECK_INT(take_log(c, i, 10000), INTACT);
    /* a log larger than an eighth of the ring is not kept */
    engine__states *small = engine__states_new(1); /* 1 KiB ring */
    put_log(small, 1, 1000);
    CHECK_INT(take_log(small, 1, 1000), MISS);
    engine__states_free(small);
    engine__states_free(c);
}
