/* clock.c: see clock.h. */
#include "clock.h"

#include <stdlib.h>
#include <time.h>

void sy_clock_init(sy_clock *c)
{
    const char *off = getenv("SWITCHYARD_TEST_TIME_OFFSET_MS");
    c->offset_ms = off ? strtoll(off, NULL, 10) : 0;
}

int64_t sy_clock_now_ms(const sy_clock *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return ms + (c ? c->offset_ms : 0);
}

int64_t sy_mono_ms(void)
{
    return sy_mono_ns() / 1000000;
}

int64_t sy_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
