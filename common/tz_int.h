/* tz_int.h: internals shared by tz.c and tz_rule.c (not a public API).
 *
 * sy_tz_rule is a parsed POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"),
 * the footer of a TZif v2+ file, with RFC 8536's extensions (rule times from
 * -167 to 167 hours). Offsets are stored as seconds EAST of UTC (the POSIX
 * text writes them west-positive). */
#ifndef SY_TZ_INT_H
#define SY_TZ_INT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sy_tz_date {
    char kind; /* 'J': Jn (1-365, Feb 29 never counted), 'D': n (0-365), 'M': Mm.w.d */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight of that day (may be <0 or >24h) */
} sy_tz_date;

typedef struct sy_tz_rule {
    int32_t std_off, dst_off;
    bool has_dst;
    sy_tz_date start, end; /* start: std -> dst (in std time); end: dst -> std (in dst time) */
} sy_tz_rule;

/* Parses s; false when it is not a valid POSIX TZ string. */
bool sy_tz__rule_parse(const char *s, sy_tz_rule *r);

/* Offset (seconds east) the rule gives at instant utc_s. */
int32_t sy_tz__rule_offset(const sy_tz_rule *r, int64_t utc_s);

/* First instant after utc_s where the rule's offset changes; INT64_MAX if never. */
int64_t sy_tz__rule_next(const sy_tz_rule *r, int64_t utc_s);

#endif
