/* civil.c: the proleptic Gregorian calendar (declared in tz.h): days from
 * a civil date and back, days in a month, RFC 3339 in UTC. A leaf: tz.c
 * (TZif zones) and tz_rule.c (POSIX TZ rules) both use it, and neither
 * calls the other except tz.c -> tz_rule.c. */
#include "tz.h"

#include <stdio.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t sy_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void sy_civil_from_secs(int64_t secs, sy_civil *out)
{
    int64_t days = floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(rem / 3600);
    out->minute = (int)(rem / 60 % 60);
    out->second = (int)(rem % 60);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    out->wday = (int)(w < 0 ? w + 7 : w);
}

int64_t sy_secs_from_civil(const sy_civil *c)
{
    return sy_days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->minute * 60 +
           c->second;
}

int sy_days_in_month(int64_t year, int month)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2) {
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return leap ? 29 : 28;
    }
    return dim[month - 1];
}

void sy_format_rfc3339_utc(int64_t ms, char *buf, size_t size)
{
    int64_t secs = floor_div(ms, 1000);
    int frac = (int)(ms - secs * 1000);
    sy_civil c;
    sy_civil_from_secs(secs, &c);
    if (frac)
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)c.year, c.month,
                 c.day, c.hour, c.minute, c.second, frac);
    else
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)c.year, c.month, c.day,
                 c.hour, c.minute, c.second);
}

/* ---- zone objects ------------------------------------------------------ */
