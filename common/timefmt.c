/* timefmt.c: RFC 3339 parsing and formatting (timefmt.h), with the civil
 * calendar arithmetic done by hand (Howard Hinnant's days_from_civil
 * algorithm) so nothing depends on the process's TZ or locale. */
#include "timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct cursor {
    const char *s;
    size_t len, pos;
    const char *path;
    sy_error *err;
} cursor;

static sy_status bad(cursor *c, const char *fmt, const char *what, long v)
{
    char msg[160];
    snprintf(msg, sizeof msg, fmt, what, v);
    if (c->path && *c->path)
        return sy_error_set(c->err, SY_INVALID, SY_TIME_ERR_BAD_TIMESTAMP, c->path,
                            "could not parse \"%s\" as an RFC 3339 timestamp: %s", c->path, msg);
    return sy_error_set(c->err, SY_INVALID, SY_TIME_ERR_BAD_TIMESTAMP, c->path,
                        "could not parse RFC 3339 timestamp: %s", msg);
}

/* Reads exactly n digits as the named field. */
static sy_status digits(cursor *c, size_t n, const char *what, long *out)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->pos >= c->len || c->s[c->pos] < '0' || c->s[c->pos] > '9')
            return bad(c, "%s: expected %ld digits", what, (long)n);
        v = v * 10 + (c->s[c->pos++] - '0');
    }
    *out = v;
    return SY_OK;
}

static sy_status expect(cursor *c, char ch, char alt, const char *what)
{
    if (c->pos < c->len && (c->s[c->pos] == ch || (alt && c->s[c->pos] == alt))) {
        c->pos++;
        return SY_OK;
    }
    return bad(c, "expected %s at character %ld", what, (long)c->pos + 1);
}

static bool is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static long days_in_month(long y, long m)
{
    static const long dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

int64_t sy_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Parses the date part and time part into broken-down fields. */
static sy_status parse_fields(cursor *c, long f[6])
{
    sy_status st = digits(c, 4, "year", &f[0]);
    if (st == SY_OK)
        st = expect(c, '-', 0, "'-' after the year");
    if (st == SY_OK)
        st = digits(c, 2, "month", &f[1]);
    if (st == SY_OK)
        st = expect(c, '-', 0, "'-' after the month");
    if (st == SY_OK)
        st = digits(c, 2, "day", &f[2]);
    if (st == SY_OK)
        st = expect(c, 'T', 't', "'T' between date and time");
    if (st == SY_OK)
        st = digits(c, 2, "hour", &f[3]);
    if (st == SY_OK)
        st = expect(c, ':', 0, "':' after the hour");
    if (st == SY_OK)
        st = digits(c, 2, "minute", &f[4]);
    if (st == SY_OK)
        st = expect(c, ':', 0, "':' after the minute");
    if (st == SY_OK)
        st = digits(c, 2, "second", &f[5]);
    if (st != SY_OK)
        return st;
    if (f[1] < 1 || f[1] > 12)
        return bad(c, "%s %02ld is out of range", "month", f[1]);
    if (f[2] < 1 || f[2] > days_in_month(f[0], f[1]))
        return bad(c, "%s %02ld is out of range for its month", "day", f[2]);
    if (f[3] > 23)
        return bad(c, "%s %02ld is out of range", "hour", f[3]);
    if (f[4] > 59)
        return bad(c, "%s %02ld is out of range", "minute", f[4]);
    if (f[5] > 59)
        return bad(c, "%s %02ld is out of range (leap seconds are not accepted)", "second", f[5]);
    return SY_OK;
}

/* Optional fraction: returns milliseconds (truncated). */
static sy_status parse_fraction(cursor *c, long *ms)
{
    *ms = 0;
    if (c->pos >= c->len || c->s[c->pos] != '.')
        return SY_OK;
    c->pos++;
    size_t n = 0;
    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
        if (n < 3)
            *ms = *ms * 10 + (c->s[c->pos] - '0');
        n++;
        c->pos++;
    }
    if (n == 0)
        return bad(c, "%s: expected digits after '.'", "fraction", 0);
    for (; n < 3; n++)
        *ms *= 10;
    return SY_OK;
}

/* Zone: returns the offset east of UTC in minutes. */
static sy_status parse_zone(cursor *c, long *offset_min)
{
    *offset_min = 0;
    if (c->pos >= c->len)
        return bad(c, "%s: missing (expected 'Z' or +hh:mm)", "zone", 0);
    char ch = c->s[c->pos];
    if (ch == 'Z' || ch == 'z') {
        c->pos++;
        return SY_OK;
    }
    if (ch != '+' && ch != '-')
        return bad(c, "%s: expected 'Z' or +hh:mm at character %ld", "zone", (long)c->pos + 1);
    c->pos++;
    long hh = 0, mm = 0;
    sy_status st = digits(c, 2, "zone hour", &hh);
    if (st == SY_OK)
        st = expect(c, ':', 0, "':' in the zone offset");
    if (st == SY_OK)
        st = digits(c, 2, "zone minute", &mm);
    if (st != SY_OK)
        return st;
    if (hh > 23)
        return bad(c, "%s %02ld is out of range", "zone hour", hh);
    if (mm > 59)
        return bad(c, "%s %02ld is out of range", "zone minute", mm);
    *offset_min = (ch == '-' ? -1 : 1) * (hh * 60 + mm);
    return SY_OK;
}

sy_status sy_time_parse_rfc3339_n(const char *s, size_t len, const char *path, int64_t *ms,
                                  sy_error *err)
{
    cursor c = {s, len, 0, path, err};
    long f[6] = {0}, frac = 0, off = 0;
    sy_status st = parse_fields(&c, f);
    if (st == SY_OK)
        st = parse_fraction(&c, &frac);
    if (st == SY_OK)
        st = parse_zone(&c, &off);
    if (st != SY_OK)
        return st;
    if (c.pos != len)
        return bad(&c, "%s after the zone at character %ld", "unexpected characters",
                   (long)c.pos + 1);
    int64_t days = sy_time_days_from_civil(f[0], (unsigned)f[1], (unsigned)f[2]);
    int64_t secs = days * 86400 + f[3] * 3600 + f[4] * 60 + f[5] - (int64_t)off * 60;
    *ms = secs * 1000 + frac;
    return SY_OK;
}

sy_status sy_time_parse_rfc3339(const char *s, const char *path, int64_t *ms, sy_error *err)
{
    return sy_time_parse_rfc3339_n(s, strlen(s), path, ms, err);
}

char *sy_time_format_rfc3339(int64_t ms, char *out)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int millis = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int sod = (int)(secs - days * 86400);
    /* civil_from_days (Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    snprintf(out, SY_TIME_RFC3339_MAX, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d,
             sod / 3600, sod / 60 % 60, sod % 60, millis);
    return out;
}
