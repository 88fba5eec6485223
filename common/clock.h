/* clock.h: time sources. The wall clock may be offset for tests of
 * schedules and timeouts: SWITCHYARD_TEST_TIME_OFFSET_MS (read once by the
 * caller into a sy_clock, never a global) shifts what "now" means. */
#ifndef SY_CLOCK_H
#define SY_CLOCK_H

#include <stdint.h>

typedef struct sy_clock {
    int64_t offset_ms; /* added to the real wall clock */
} sy_clock;

/* Initialises from SWITCHYARD_TEST_TIME_OFFSET_MS (0 when unset). */
void sy_clock_init(sy_clock *c);

int64_t sy_clock_now_ms(const sy_clock *c); /* Unix epoch ms; c may be NULL */
int64_t sy_mono_ms(void);                    /* monotonic ms, for intervals */
int64_t sy_mono_ns(void);                    /* monotonic ns, for latencies */

#endif
