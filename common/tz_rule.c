/* tz_rule.c: POSIX TZ strings, the rule a TZif footer gives for instants
 * beyond the transition table (see tz_int.h). A rule with DST produces two
 * transitions per year; offsets are found by generating the transitions of
 * the neighbouring years and taking the last one at or before the instant,
 * which handles both hemispheres and rules whose times cross midnight. */
#include "tz.h"
#include "tz_int.h"

#include <ctype.h>
#include <string.h>

/* ---- parsing ------------------------------------------------------------ */

static bool parse_name(const char **sp)
{
    const char *s = *sp;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (*s && *s != '>') {
            if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-')
                return false;
            s++, n++;
        }
        if (*s != '>' || n < 3)
            return false;
        *sp = s + 1;
        return true;
    }
    while (isalpha((unsigned char)*s))
        s++, n++;
    *sp = s;
    return n >= 3;
}

static bool parse_num(const char **sp, int max, int *out)
{
    const char *s = *sp;
    int v = 0, digits = 0;
    while (isdigit((unsigned char)*s) && digits < 4) {
        v = v * 10 + (*s - '0');
        s++, digits++;
    }
    if (digits == 0 || v > max)
        return false;
    *sp = s;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]] with hours up to max_h; returns seconds. */
static bool parse_hms(const char **sp, int max_h, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!parse_num(&s, max_h, &h))
        return false;
    if (*s == ':' && (s++, !parse_num(&s, 59, &m)))
        return false;
    if (*s == ':' && (s++, !parse_num(&s, 59, &sec)))
        return false;
    *sp = s;
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool parse_date(const char **sp, sy_tz_date *d)
{
    const char *s = *sp;
    memset(d, 0, sizeof *d);
    if (*s == 'J') {
        s++;
        d->kind = 'J';
        if (!parse_num(&s, 365, &d->n) || d->n < 1)
            return false;
    } else if (*s == 'M') {
        s++;
        d->kind = 'M';
        if (!parse_num(&s, 12, &d->m) || d->m < 1 || *s++ != '.' || !parse_num(&s, 5, &d->w) ||
            d->w < 1 || *s++ != '.' || !parse_num(&s, 6, &d->d))
            return false;
    } else {
        d->kind = 'D';
        if (!parse_num(&s, 365, &d->n))
            return false;
    }
    d->time = 7200;
    if (*s == '/' && (s++, !parse_hms(&s, 167, &d->time)))
        return false;
    *sp = s;
    return true;
}

bool sy_tz__rule_parse(const char *s, sy_tz_rule *r)
{
    memset(r, 0, sizeof *r);
    int32_t west;
    if (!parse_name(&s) || !parse_hms(&s, 24, &west))
        return false;
    r->std_off = -west;
    if (*s == '\0')
        return true;
    if (!parse_name(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!parse_hms(&s, 24, &west))
            return false;
        r->dst_off = -west;
    }
    if (*s == '\0') { /* POSIX leaves the default rule to the implementation: US rules */
        const char *start = "M3.2.0", *end = "M11.1.0";
        return parse_date(&start, &r->start) && parse_date(&end, &r->end);
    }
    if (*s++ != ',' || !parse_date(&s, &r->start) || *s++ != ',' || !parse_date(&s, &r->end))
        return false;
    return *s == '\0';
}

/* ---- evaluation --------------------------------------------------------- */

static int64_t date_day(const sy_tz_date *d, int64_t year)
{
    int64_t jan1 = sy_days_from_civil(year, 1, 1);
    bool leap = sy_days_in_month(year, 2) == 29;
    if (d->kind == 'J')
        return jan1 + d->n - 1 + (leap && d->n >= 60 ? 1 : 0);
    if (d->kind == 'D')
        return jan1 + d->n;
    int64_t first = sy_days_from_civil(year, d->m, 1);
    int64_t wday = ((first + 4) % 7 + 7) % 7;
    int64_t day = first + (d->d - wday + 7) % 7 + (int64_t)(d->w - 1) * 7;
    int64_t last = first + sy_days_in_month(year, d->m) - 1;
    while (day > last)
        day -= 7;
    return day;
}

typedef struct rule_event {
    int64_t at;
    int32_t off_after;
} rule_event;

/* The transitions of years y0..y0+n-1, in generation order then sorted by
 * time (stable, so a start and an end at the same instant keep year order). */
static size_t rule_events(const sy_tz_rule *r, int64_t y0, int n, rule_event *ev)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int64_t y = y0 + i;
        ev[k++] =
            (rule_event){date_day(&r->start, y) * 86400 + r->start.time - r->std_off, r->dst_off};
        ev[k++] = (rule_event){date_day(&r->end, y) * 86400 + r->end.time - r->dst_off, r->std_off};
    }
    for (size_t i = 1; i < k; i++) { /* insertion sort: stable, k <= 10 */
        rule_event e = ev[i];
        size_t j = i;
        while (j > 0 && ev[j - 1].at > e.at) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = e;
    }
    return k;
}

static int64_t year_of(int64_t utc_s, int32_t off)
{
    sy_civil c;
    sy_civil_from_secs(utc_s + off, &c);
    return c.year;
}

int32_t sy_tz__rule_offset(const sy_tz_rule *r, int64_t utc_s)
{
    if (!r->has_dst)
        return r->std_off;
    rule_event ev[6];
    size_t k = rule_events(r, year_of(utc_s, r->std_off) - 1, 3, ev);
    int32_t off = r->std_off;
    for (size_t i = 0; i < k && ev[i].at <= utc_s; i++)
        off = ev[i].off_after;
    return off;
}

int64_t sy_tz__rule_next(const sy_tz_rule *r, int64_t utc_s)
{
    if (!r->has_dst || r->std_off == r->dst_off)
        return INT64_MAX;
    rule_event ev[10];
    size_t k = rule_events(r, year_of(utc_s, r->std_off) - 1, 5, ev);
    for (size_t i = 0; i < k; i++) {
        if (ev[i].at <= utc_s)
            continue;
        if (sy_tz__rule_offset(r, ev[i].at) != sy_tz__rule_offset(r, ev[i].at - 1))
            return ev[i].at;
    }
    return INT64_MAX; /* DST all year: no offset ever changes */
}
