/* cron.h: cron specifications for schedules (docs/schedules.md).
 *
 * Syntax (docs/schedules.md has the full page):
 *   - 5 fields "minute hour day-of-month month day-of-week", or 6 fields with
 *     a leading "second";
 *   - per field: '*', a value, a range "a-b", steps "* / n" (no spaces),
 *     "a-b/n", "a/n" (a to the field's maximum), lists "a,b-c,* /n";
 *   - names: JAN-DEC for months, SUN-SAT for days of week (any case);
 *     day-of-week 0 and 7 are both Sunday;
 *   - macros: @yearly @annually @monthly @weekly @daily @midnight @hourly;
 *   - "@every <duration>" (e.g. "@every 15m", "@every 1h30m"; units ms s m h
 *     d; at least 1s), which fires at multiples of the duration since the
 *     Unix epoch, independent of the time zone.
 * Day-of-month and day-of-week combine as in Vixie cron: when both are
 * restricted (neither starts with '*'), a day matches if EITHER matches;
 * otherwise both must.
 *
 * Errors name the field and the 1-based column in the spec:
 *   "field 2 (hour): 25 is out of range 0-23 (column 4)"
 * code "bad_cron". A parsed sy_cron is immutable; share it freely. */
#ifndef SY_CRON_H
#define SY_CRON_H

#include "status.h"
#include "tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sy_cron sy_cron;

#define SY_CRON_ERR "bad_cron"
#define SY_CRON_NEVER INT64_C(-1)

/* Parses spec (borrowed, not retained). SY_OK: *out owned (sy_cron_free).
 * SY_INVALID: *out NULL, err->code "bad_cron", err->message as above.
 * Thread-safe; never reads the environment or the clock. */
sy_status sy_cron_parse(const char *spec, sy_cron **out, sy_error *err) SY_MUST_USE;

/* As sy_cron_parse; on SY_INVALID *err_column (may be NULL) is the 1-based
 * column of the offending character (for file:line:col diagnostics). */
sy_status sy_cron_parse_col(const char *spec, sy_cron **out, size_t *err_column,
                            sy_error *err) SY_MUST_USE;

void sy_cron_free(sy_cron *c); /* NULL is a no-op */

/* The first fire time strictly after after_ms (Unix ms), evaluated in the
 * wall clock of tz (borrowed; NULL = UTC). DST: a local time that does not
 * exist (spring-forward gap) fires once, at the first instant after the gap;
 * a local time that occurs twice (fall back) fires once, at its first
 * occurrence. Returns SY_CRON_NEVER when nothing matches within 20 years
 * (e.g. "0 0 30 2 *" is rejected at parse time, so this is rare). */
int64_t sy_cron_next(const sy_cron *c, const sy_tz *tz, int64_t after_ms);

/* The spec as given (borrowed, lives as long as c). */
const char *sy_cron_spec(const sy_cron *c);

/* For "@every": the interval in ms; 0 for calendar specs. */
int64_t sy_cron_interval_ms(const sy_cron *c);

/* Whether a schedule may pair c with the IANA zone 'timezone': "@every"
 * counts from the Unix epoch and ignores any zone, so a zone other than UTC
 * with it is a mistake (the author expects wall-clock times it will never
 * keep). SY_INVALID, code "bad_cron", says so and names the fix; SY_OK for
 * calendar specs, and for "@every" with UTC. */
sy_status sy_cron_check_zone(const sy_cron *c, const char *timezone, sy_error *err) SY_MUST_USE;

#endif
