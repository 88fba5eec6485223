/* duration.c: see duration.h. A tiny hand-written scanner: digits, then a
 * unit; units must strictly decrease so "5m1h" or "1s1s" are mistakes, not
 * sums. */
#include "duration.h"

#include <stdio.h>
#include <string.h>

#define DURATION_ERR "bad_duration"

static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
#define NUNITS (sizeof units / sizeof units[0])

/* Index of the unit at *p (longest name wins: "ms" before "m"), or -1. */
static int unit_at(const char *p, size_t *len)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < NUNITS; i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(p, units[i].name, n) == 0 && n > best_len) {
            best = (int)i;
            best_len = n;
        }
    }
    *len = best_len;
    /* "m" followed by a letter is not "m" (e.g. "min") */
    if (best >= 0 && p[best_len] >= 'a' && p[best_len] <= 'z')
        return -1;
    return best;
}

sy_status sy_duration_parse(const char *s, int64_t *out_ms, sy_error *err)
{
    if (!s || !*s)
        return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL, "empty duration");
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return SY_OK;
    }
    const char *p = s;
    int64_t total = 0;
    int last_unit = -1;
    while (*p) {
        if (*p == '-')
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": negative durations are not allowed", s);
        if (*p < '0' || *p > '9')
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": expected a number at \"%s\"", s, p);
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                    "invalid duration \"%s\": too large", s);
            n = n * 10 + (*p++ - '0');
        }
        if (*p == '.')
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": fractions are not supported "
                                "(write 1h30m, not 1.5h)",
                                s);
        size_t ulen;
        int u = *p ? unit_at(p, &ulen) : -1;
        if (!*p)
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": missing unit after %lld "
                                "(one of ms, s, m, h, d)",
                                s, (long long)n);
        if (u < 0)
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": unknown unit at \"%s\" "
                                "(one of ms, s, m, h, d)",
                                s, p);
        if (u <= last_unit)
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": units must go from largest to "
                                "smallest, each at most once",
                                s);
        if (n > (INT64_MAX - total) / units[u].ms)
            return sy_error_set(err, SY_INVALID, DURATION_ERR, NULL,
                                "invalid duration \"%s\": too large", s);
        total += n * units[u].ms;
        last_unit = u;
        p += ulen;
    }
    *out_ms = total;
    return SY_OK;
}

char *sy_duration_format(int64_t ms, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (ms == 0) {
        snprintf(buf, cap, "0s");
        return buf;
    }
    uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0)
        off += (size_t)snprintf(buf, cap, "-");
    for (size_t i = 0; i < NUNITS && off < cap; i++) {
        uint64_t n = v / (uint64_t)units[i].ms;
        if (n == 0)
            continue;
        v -= n * (uint64_t)units[i].ms;
        off +=
            (size_t)snprintf(buf + off, cap - off, "%llu%s", (unsigned long long)n, units[i].name);
    }
    return buf;
}
