/* duration.h: human durations ("500ms", "30s", "5m", "2h", "7d", and
 * combinations such as "1h30m") to and from milliseconds. Used by the rules
 * file (timeouts, retries, schedules) and by CLI flags. */
#ifndef SY_DURATION_H
#define SY_DURATION_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>

/* Parses s (borrowed) into *out_ms. Units: ms, s, m, h, d; several
 * components in decreasing unit order may be combined ("1h30m", "1m30s500ms").
 * "0" alone is allowed. SY_OK, or SY_INVALID with a precise message in *err
 * (code "bad_duration"); *out_ms is untouched on failure. */
sy_status sy_duration_parse(const char *s, int64_t *out_ms, sy_error *err) SY_MUST_USE;

/* Formats ms as the shortest combination ("1h30m", "500ms", "0s") into buf
 * (cap bytes, 32 is always enough). Returns buf. Negative values get "-". */
char *sy_duration_format(int64_t ms, char *buf, size_t cap);

#endif
