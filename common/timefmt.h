/* timefmt.h: RFC 3339 timestamps <-> Unix epoch milliseconds.
 *
 * Parsing is strict (envelope/README.md, `occurred_at`): YYYY-MM-DDTHH:MM:SS,
 * optional fraction (any number of digits, truncated to milliseconds), then
 * a zone `Z` or `+hh:mm`/`-hh:mm`. `t` and `z` may be lower case (RFC 3339
 * 5.6 note); a space instead of `T`, a missing zone, leap second 60 and
 * out-of-range fields are errors whose message names the field, e.g.
 * `month 13 is out of range`. No locale, no TZ environment, no libc time
 * functions: the result does not depend on the machine. */
#ifndef SY_TIMEFMT_H
#define SY_TIMEFMT_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>

#define SY_TIME_ERR_BAD_TIMESTAMP "bad_timestamp"

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL; years outside 0000-9999 are clamped. */
#define SY_TIME_RFC3339_MAX 25

/* Parses the NUL-terminated s. SY_OK: *ms is the instant in Unix epoch ms.
 * SY_INVALID: err has code "bad_timestamp", the given path (may be NULL) and
 * a message saying which part is wrong. */
sy_status sy_time_parse_rfc3339(const char *s, const char *path, int64_t *ms,
                                sy_error *err) SY_MUST_USE;

/* Same for exactly 'len' bytes (need not be NUL-terminated). */
sy_status sy_time_parse_rfc3339_n(const char *s, size_t len, const char *path, int64_t *ms,
                                  sy_error *err) SY_MUST_USE;

/* Formats ms as RFC 3339 UTC with milliseconds ("2026-11-21T19:52:26.123Z")
 * into out (at least SY_TIME_RFC3339_MAX bytes); returns out. */
char *sy_time_format_rfc3339(int64_t ms, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
int64_t sy_time_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
