/* cron.c: cron spec parsing and next-fire computation (see cron.h).
 *
 * A calendar spec is six bitmasks (second, minute, hour, day-of-month,
 * month, day-of-week). Next-fire works on the zone's wall clock: find the
 * next matching local time, map it to an instant with sy_tz_local_to_utc
 * (gap -> the transition, repeated -> first occurrence); that mapping is
 * monotonic, so the first candidate that lands strictly after 'after' is the
 * answer, and candidates that land at or before it (a second pass through a
 * repeated hour, several gap times collapsing onto one instant) are skipped.
 * That is exactly "fire once" on both DST edges. */
#include "cron.h"
#include "duration.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sy_cron {
    char *spec;
    int64_t every_ms;  /* "@every": > 0 and the masks are unused */
    uint64_t sec, min; /* bits 0-59 */
    uint32_t hour;     /* bits 0-23 */
    uint32_t dom;      /* bits 1-31 */
    uint32_t mon;      /* bits 1-12 */
    uint32_t dow;      /* bits 0-6, Sunday = 0 */
    bool dom_star, dow_star;
};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value i + names_base */
    int names_base, nnames;
} field_defs[F_COUNT] = {
    {"second", 0, 59, NULL, 0, 0},        {"minute", 0, 59, NULL, 0, 0},
    {"hour", 0, 23, NULL, 0, 0},          {"day-of-month", 1, 31, NULL, 0, 0},
    {"month", 1, 12, month_names, 1, 12}, {"day-of-week", 0, 7, day_names, 0, 7},
};

static const struct {
    const char *name, *spec;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* Parse state of one field: where it is, for errors. */
typedef struct field_ctx {
    const char *spec; /* whole spec, for columns */
    int number;       /* 1-based position as written */
    const struct field_def *def;
    size_t *err_col;
    sy_error *err;
} field_ctx;

static sy_status field_err(const field_ctx *f, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sy_status field_err(const field_ctx *f, const char *at, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t col = (size_t)(at - f->spec) + 1;
    if (f->err_col)
        *f->err_col = col;
    return sy_error_set(f->err, SY_INVALID, SY_CRON_ERR, NULL, "field %d (%s): %s (column %zu)",
                        f->number, f->def->name, what, col);
}

/* Reads a number or a name at *sp (ending before end). */
static sy_status parse_value(const field_ctx *f, const char **sp, const char *end, int *out)
{
    const char *s = *sp;
    if (s < end && isdigit((unsigned char)*s)) {
        long v = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            v = v * 10 + (*s - '0');
            if (v > 100000)
                v = 100000; /* clamp: reported as out of range below */
            s++;
        }
        if (v < f->def->min || v > f->def->max)
            return field_err(f, *sp, "%ld is out of range %d-%d", v, f->def->min, f->def->max);
        *out = (int)v;
        *sp = s;
        return SY_OK;
    }
    const char *w = s;
    while (s < end && isalpha((unsigned char)*s))
        s++;
    if (s == w && w < end)
        return field_err(f, w, "unexpected character '%c'", *w);
    if (s == w)
        return field_err(f, w, "missing value");
    for (int i = 0; f->def->names && i < f->def->nnames; i++) {
        if (s - w == 3 && strncasecmp(w, f->def->names[i], 3) == 0) {
            *out = i + f->def->names_base;
            *sp = s;
            return SY_OK;
        }
    }
    if (!f->def->names)
        return field_err(f, w, "names are not allowed here (\"%.*s\")",
                         (int)(s - w > 16 ? 16 : s - w), w);
    return field_err(f, w, "unknown name \"%.*s\"", (int)(s - w > 16 ? 16 : s - w), w);
}

static void set_bits(uint64_t *mask, int lo, int hi, int step, bool dow)
{
    for (int v = lo; v <= hi; v += step)
        *mask |= UINT64_C(1) << (dow && v == 7 ? 0 : v);
}

/* One list element: '*', 'a', 'a-b', each optionally followed by '/n'. */
static sy_status parse_item(const field_ctx *f, const char *s, const char *end, uint64_t *mask)
{
    const char *start = s;
    int lo = f->def->min, hi = f->def->max, step = 1;
    bool star = s < end && *s == '*', range = false;
    sy_status st = SY_OK;
    if (star) {
        s++;
        if (f->def->names == day_names)
            hi = 6; /* '*' is every day once; 7 would only repeat Sunday */
    } else {
        if ((st = parse_value(f, &s, end, &lo)) != SY_OK)
            return st;
        hi = lo;
        if (s < end && *s == '-') {
            s++;
            if ((st = parse_value(f, &s, end, &hi)) != SY_OK)
                return st;
            if (f->def->names == day_names && hi == 0 && lo > 0)
                hi = 7; /* "FRI-SUN": Sunday as the end of a range is day 7 */
            range = true;
            if (hi < lo)
                return field_err(f, start, "range %d-%d is reversed (start after end)", lo, hi);
        }
    }
    if (s < end && *s == '/') {
        const char *n = ++s;
        long v = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            v = v > 100000 ? 100000 : v; /* clamp: reported as out of range below */
        }
        if (s == n)
            return field_err(f, n, "missing step after '/'");
        int span = f->def->max - f->def->min + (f->def->names == day_names ? 0 : 1);
        if (v < 1 || v > span)
            return field_err(f, n, "step %ld is out of range 1-%d", v, span);
        step = (int)v;
        if (!star && !range)
            hi = f->def->max; /* "a/n": from a to the maximum */
    }
    if (s < end)
        return field_err(f, s, "unexpected character '%c'", *s);
    set_bits(mask, lo, hi, step, f->def->names == day_names);
    return SY_OK;
}

/* A field's text is a comma-separated list of items. */
static sy_status parse_field(const field_ctx *f, const char *s, const char *end, uint64_t *mask)
{
    *mask = 0;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        if (item_end == s)
            return field_err(f, s, "empty list element");
        sy_status st = parse_item(f, s, item_end, mask);
        if (st != SY_OK)
            return st;
        if (!comma)
            return SY_OK;
        s = comma + 1;
    }
}

static sy_cron *cron_alloc(const char *spec)
{
    sy_cron *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->spec = strdup(spec);
    if (!c->spec) {
        free(c);
        return NULL;
    }
    return c;
}

void sy_cron_free(sy_cron *c)
{
    if (!c)
        return;
    free(c->spec);
    free(c);
}

const char *sy_cron_spec(const sy_cron *c)
{
    return c->spec;
}

int64_t sy_cron_interval_ms(const sy_cron *c)
{
    return c->every_ms;
}

sy_status sy_cron_check_zone(const sy_cron *c, const char *timezone, sy_error *err)
{
    if (!c->every_ms || !timezone || strcmp(timezone, "UTC") == 0)
        return SY_OK;
    return sy_error_set(err, SY_INVALID, SY_CRON_ERR, "timezone",
                        "timezone \"%s\" has no effect on \"%s\" (@every counts from the Unix "
                        "epoch in any zone): remove it, or use a calendar spec such as "
                        "\"0 3 * * *\" to fire at a local time",
                        timezone, c->spec);
}

static sy_status spec_err(sy_error *err, size_t *err_col, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static sy_status spec_err(sy_error *err, size_t *err_col, size_t col, const char *fmt, ...)
{
    char what[SY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (err_col)
        *err_col = col;
    return sy_error_set(err, SY_INVALID, SY_CRON_ERR, NULL, "%s (column %zu)", what, col);
}

/* Whether some selected day-of-month exists in some selected month (29
 * February counts: leap years come). Only matters when the day-of-week
 * does not widen the match (Vixie's AND case). */
static bool dom_possible(const sy_cron *c)
{
    static const int max_dim[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        if (!(c->mon >> m & 1))
            continue;
        for (int d = 1; d <= max_dim[m]; d++)
            if (c->dom >> d & 1)
                return true;
    }
    return false;
}

typedef struct token {
    const char *s, *e;
} token;

/* Splits on blanks; returns the number of tokens (may exceed cap). */
static size_t tokenize(const char *s, token *tok, size_t cap)
{
    size_t n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return n;
        const char *b = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (n < cap)
            tok[n] = (token){b, s};
        n++;
    }
}

/* Parses 5 or 6 fields of 'text' into c. Columns are counted in 'spec'
 * (text is spec itself, or a macro's expansion with column 1 for errors). */
static sy_status parse_fields(const char *spec, const char *text, sy_cron *c, size_t *err_col,
                              sy_error *err)
{
    token tok[6];
    size_t n = tokenize(text, tok, 6);
    if (n != 5 && n != 6) {
        size_t col = n > 6 ? (size_t)(tok[5].e - spec) + 2 : strlen(spec) + 1;
        return spec_err(err, err_col, text == spec ? col : 1,
                        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
                        "(with a leading second), got %zu",
                        n);
    }
    uint64_t masks[F_COUNT] = {1, 0, 0, 0, 0, 0}; /* 5 fields: second 0 */
    size_t first = n == 6 ? F_SEC : F_MIN;
    for (size_t i = 0; i < n; i++) {
        field_ctx f = {text, (int)i + 1, &field_defs[first + i], err_col, err};
        sy_status st = parse_field(&f, tok[i].s, tok[i].e, &masks[first + i]);
        if (st != SY_OK)
            return st;
    }
    c->sec = masks[F_SEC];
    c->min = masks[F_MIN];
    c->hour = (uint32_t)masks[F_HOUR];
    c->dom = (uint32_t)masks[F_DOM];
    c->mon = (uint32_t)masks[F_MON];
    c->dow = (uint32_t)masks[F_DOW];
    /* Vixie cron: a field that starts with '*' counts as unrestricted for
     * the day-of-month / day-of-week OR rule (even "* /2") */
    const token *dom = &tok[F_DOM - first], *dow = &tok[F_DOW - first];
    c->dom_star = *dom->s == '*';
    c->dow_star = *dow->s == '*';
    if ((c->dow_star || c->dom_star) && !dom_possible(c))
        return spec_err(err, err_col, (size_t)(dom->s - text) + 1,
                        "field %d (day-of-month): no selected day exists in the selected months",
                        (int)(F_DOM - first) + 1);
    return SY_OK;
}

/* "@every <duration>" and the named macros. */
static sy_status parse_macro(const char *spec, const char *at, sy_cron *c, size_t *err_col,
                             sy_error *err)
{
    size_t col = (size_t)(at - spec) + 1;
    if (strncmp(at, "@every", 6) == 0 && (at[6] == ' ' || at[6] == '\t' || at[6] == '\0')) {
        const char *d = at + 6;
        while (*d == ' ' || *d == '\t')
            d++;
        char buf[64];
        size_t n = strcspn(d, " \t");
        if (d[n + strspn(d + n, " \t")] != '\0')
            return spec_err(err, err_col, col + (size_t)(d - at) + n + 1,
                            "unexpected text after the @every duration");
        if (n >= sizeof buf)
            return spec_err(err, err_col, col + (size_t)(d - at), "duration is too long");
        memcpy(buf, d, n);
        buf[n] = '\0';
        sy_status st = sy_duration_parse(buf, &c->every_ms, err);
        if (st != SY_OK) {
            char why[SY_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err ? err->message : "bad duration");
            return spec_err(err, err_col, col + (size_t)(d - at), "%s", why);
        }
        if (c->every_ms < 1000)
            return spec_err(err, err_col, col + (size_t)(d - at),
                            "@every interval \"%s\" is shorter than 1s", buf);
        return st;
    }
    size_t n = strcspn(at, " \t");
    if (at[n + strspn(at + n, " \t")] == '\0') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strlen(macros[i].name) == n && strncasecmp(at, macros[i].name, n) == 0)
                return parse_fields(macros[i].spec, macros[i].spec, c, err_col, err);
    }
    return spec_err(err, err_col, col,
                    "unknown macro \"%.*s\" (use @yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight, @hourly or @every <duration>)",
                    (int)(n > 16 ? 16 : n), at);
}

sy_status sy_cron_parse_col(const char *spec, sy_cron **out, size_t *err_column, sy_error *err)
{
    *out = NULL;
    if (!spec)
        return spec_err(err, err_column, 1, "missing cron spec");
    if (strlen(spec) > 1024)
        return spec_err(err, err_column, 1025, "cron spec is longer than 1024 characters");
    sy_cron *c = cron_alloc(spec);
    if (!c)
        return SY_NOMEM;
    const char *at = spec + strspn(spec, " \t");
    sy_status st = *at == '@' ? parse_macro(spec, at, c, err_column, err)
                              : parse_fields(spec, spec, c, err_column, err);
    if (st != SY_OK) {
        sy_cron_free(c);
        return st;
    }
    *out = c;
    return SY_OK;
}

sy_status sy_cron_parse(const char *spec, sy_cron **out, sy_error *err)
{
    return sy_cron_parse_col(spec, out, NULL, err);
}

/* ---- next fire ----------------------------------------------------------- */

/* Smallest set bit >= from and <= max, or -1. */
static int next_bit(uint64_t mask, int from, int max)
{
    for (int b = from; b <= max; b++)
        if (mask >> b & 1)
            return b;
    return -1;
}

static bool day_matches(const sy_cron *c, int day, int wday)
{
    bool dom = c->dom >> day & 1, dow = c->dow >> wday & 1;
    return (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
}

/* Sets t to midnight of the day 'days' after t's date (normalised). */
static void advance_days(sy_civil *t, int days)
{
    int64_t d = sy_days_from_civil(t->year, t->month, t->day) + days;
    sy_civil_from_secs(d * 86400, t);
}

static void next_month(sy_civil *t)
{
    t->month++;
    if (t->month > 12) {
        t->month = 1;
        t->year++;
    }
    t->day = 1;
    t->hour = t->minute = t->second = 0;
}

/* Finds the first matching day at or after t's date (resetting the time of
 * day when it moves). false: none this month, t moved to the next month. */
static bool seek_day(const sy_cron *c, sy_civil *t)
{
    int dim = sy_days_in_month(t->year, t->month);
    int64_t days = sy_days_from_civil(t->year, t->month, t->day);
    for (int d = t->day; d <= dim; d++, days++) {
        int wday = (int)(((days + 4) % 7 + 7) % 7);
        if (day_matches(c, d, wday)) {
            if (d != t->day) {
                t->day = d;
                t->hour = t->minute = t->second = 0;
            }
            return true;
        }
    }
    next_month(t);
    return false;
}

/* Finds the first matching time of day at or after t's; false: none today,
 * t moved to the next day's midnight. */
static bool seek_time(const sy_cron *c, sy_civil *t)
{
    int h = next_bit(c->hour, t->hour, 23);
    if (h != t->hour)
        t->minute = t->second = 0;
    int m = h < 0 ? -1 : next_bit(c->min, t->minute, 59);
    while (h >= 0 && m < 0) { /* no minute left in this hour: next hour */
        h = next_bit(c->hour, h + 1, 23);
        t->second = 0;
        m = h < 0 ? -1 : next_bit(c->min, 0, 59);
    }
    if (m != t->minute)
        t->second = 0;
    int s = m < 0 ? -1 : next_bit(c->sec, t->second, 59);
    while (m >= 0 && s < 0) { /* no second left in this minute: next minute */
        m = next_bit(c->min, m + 1, 59);
        while (h >= 0 && m < 0) {
            h = next_bit(c->hour, h + 1, 23);
            m = h < 0 ? -1 : next_bit(c->min, 0, 59);
        }
        s = m < 0 ? -1 : next_bit(c->sec, 0, 59);
    }
    if (h < 0 || m < 0 || s < 0) {
        advance_days(t, 1);
        return false;
    }
    t->hour = h;
    t->minute = m;
    t->second = s;
    return true;
}

#define CRON_SEARCH_YEARS 20

/* The first local time strictly after local_s that matches, or SY_CRON_NEVER. */
static int64_t next_local(const sy_cron *c, int64_t local_s)
{
    sy_civil t;
    sy_civil_from_secs(local_s + 1, &t);
    int64_t limit = t.year + CRON_SEARCH_YEARS;
    while (t.year <= limit) {
        int m = next_bit(c->mon, t.month, 12);
        if (m < 0) {
            t.year++;
            t.month = 0;
            next_month(&t);
            continue;
        }
        if (m != t.month) {
            t.month = m;
            t.day = 1;
            t.hour = t.minute = t.second = 0;
        }
        if (seek_day(c, &t) && seek_time(c, &t))
            return sy_secs_from_civil(&t);
    }
    return SY_CRON_NEVER;
}

static int64_t floor_div64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t sy_cron_next(const sy_cron *c, const sy_tz *tz, int64_t after_ms)
{
    if (c->every_ms > 0) {
        int64_t k = floor_div64(after_ms, c->every_ms) + 1;
        return k > INT64_MAX / c->every_ms ? SY_CRON_NEVER : k * c->every_ms;
    }
    int64_t after_s = floor_div64(after_ms, 1000);
    int64_t local = after_s + sy_tz_offset(tz, after_s);
    /* Bounded: candidates at or before 'after' only occur inside one
     * repeated hour or one gap (at most a few thousand per-second slots). */
    for (int guard = 0; guard < 200000; guard++) {
        local = next_local(c, local);
        if (local == SY_CRON_NEVER)
            return SY_CRON_NEVER;
        int64_t utc;
        sy_tz_local_to_utc(tz, local, &utc);
        if (utc > after_s)
            return utc * 1000;
    }
    return SY_CRON_NEVER;
}
