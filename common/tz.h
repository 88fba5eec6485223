/* tz.h: IANA time zones without global state.
 *
 * localtime_r/mktime depend on the process-wide TZ variable (setenv + tzset
 * is not thread-safe), so schedules do their own zone arithmetic: a small
 * reader of TZif files (RFC 8536, versions 1-4) from /usr/share/zoneinfo,
 * with the transition table plus the POSIX TZ footer rule that governs
 * instants after the last transition. Leap-second records are ignored (Unix
 * time has none). A loaded sy_tz is immutable and may be shared by threads.
 *
 * Times here are Unix seconds (UTC instants) and "local seconds": the wall
 * clock of the zone written as if it were UTC (local = utc + offset). */
#ifndef SY_TZ_H
#define SY_TZ_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sy_tz sy_tz;

#define SY_TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* Loads the zone 'name' ("Europe/Berlin", "UTC") from SY_TZ_DEFAULT_DIR.
 * "UTC", "Etc/UTC" and "Z" work even without a zoneinfo database. A name
 * must be [A-Za-z0-9_+-] segments joined by '/' (no "..", no leading '/').
 * SY_OK: *out owned (sy_tz_free). SY_INVALID: *out NULL, code "bad_timezone"
 * and a message saying why (unknown zone, corrupt file). Any thread. */
sy_status sy_tz_load(const char *name, sy_tz **out, sy_error *err) SY_MUST_USE;

/* As sy_tz_load, from the zoneinfo directory 'dir' (borrowed). */
sy_status sy_tz_load_dir(const char *dir, const char *name, sy_tz **out, sy_error *err) SY_MUST_USE;

/* Parses TZif bytes (not retained); name is copied (NULL: "custom").
 * SY_OK: *out owned. SY_INVALID: *out NULL, code "bad_tzif". */
sy_status sy_tz_parse(const uint8_t *data, size_t len, const char *name, sy_tz **out,
                      sy_error *err) SY_MUST_USE;

/* A fixed UTC zone. SY_OK / SY_NOMEM. */
sy_status sy_tz_new_utc(sy_tz **out) SY_MUST_USE;

void sy_tz_free(sy_tz *tz); /* NULL is a no-op */

/* The name given at load (borrowed, lives as long as tz). */
const char *sy_tz_name(const sy_tz *tz);

/* UTC offset in seconds east of Greenwich in effect at instant utc_s.
 * tz NULL means UTC (0). */
int32_t sy_tz_offset(const sy_tz *tz, int64_t utc_s);

/* How a local wall-clock time maps to an instant. */
typedef enum {
    SY_TZ_UNIQUE,    /* exactly one instant */
    SY_TZ_AMBIGUOUS, /* repeated (fall back): *utc_s is the first occurrence */
    SY_TZ_GAP,       /* skipped (spring forward): *utc_s is the first valid
                        instant after the gap, i.e. the transition itself */
} sy_tz_mapping;

/* Maps local seconds to a UTC instant (see sy_tz_mapping). The mapping is
 * monotonic: a later local time never maps to an earlier instant. */
sy_tz_mapping sy_tz_local_to_utc(const sy_tz *tz, int64_t local_s, int64_t *utc_s);

/* The first transition (offset change) strictly after utc_s, or INT64_MAX
 * when there is none. */
int64_t sy_tz_next_transition(const sy_tz *tz, int64_t utc_s);

/* ---- civil-calendar helpers (proleptic Gregorian, no time zone) --------- */

typedef struct sy_civil {
    int64_t year;
    int month, day;           /* 1-12, 1-31 */
    int hour, minute, second; /* 0-23, 0-59, 0-59 */
    int wday;                 /* 0 = Sunday (set by sy_civil_from_secs) */
} sy_civil;

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
int64_t sy_days_from_civil(int64_t y, int m, int d);
void sy_civil_from_secs(int64_t secs, sy_civil *out);
int64_t sy_secs_from_civil(const sy_civil *c);
int sy_days_in_month(int64_t year, int month);

/* Formats an instant (ms) as RFC 3339 UTC, "2026-03-08T07:00:00Z" (".123Z"
 * when ms is not a whole second). buf must hold SY_RFC3339_MAX bytes. */
#define SY_RFC3339_MAX 40
void sy_format_rfc3339_utc(int64_t ms, char *buf, size_t size);

#endif
