/* tz.c: a TZif reader and zone arithmetic (see tz.h).
 *
 * A zone is a sorted table of transitions (instant -> local time type) plus
 * an optional POSIX TZ rule (tz_rule.c) for instants after the last
 * transition. Before the first transition time type 0 applies (RFC 8536
 * section 3.2). Civil-calendar helpers live here too because every caller of
 * zone arithmetic needs them. */
#include "tz.h"
#include "tz_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (1u << 20)
#define TZ_MAX_TRANSITIONS 100000u
#define TZ_MAX_TYPES 256u

struct sy_tz {
    char *name;
    int64_t *times; /* transition instants, strictly ascending */
    uint8_t *idx;   /* type index per transition */
    size_t ntimes;
    int32_t *offsets; /* utoff per type */
    size_t ntypes;
    bool has_rule;
    sy_tz_rule rule; /* governs instants after the last transition */
};

void sy_tz_free(sy_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->times);
    free(tz->idx);
    free(tz->offsets);
    free(tz);
}

const char *sy_tz_name(const sy_tz *tz)
{
    return tz ? tz->name : "UTC";
}

static sy_tz *tz_alloc(const char *name, size_t ntimes, size_t ntypes)
{
    sy_tz *tz = calloc(1, sizeof *tz);
    if (!tz)
        return NULL;
    tz->name = strdup(name ? name : "custom");
    tz->times = calloc(ntimes ? ntimes : 1, sizeof *tz->times);
    tz->idx = calloc(ntimes ? ntimes : 1, 1);
    tz->offsets = calloc(ntypes ? ntypes : 1, sizeof *tz->offsets);
    tz->ntimes = ntimes;
    tz->ntypes = ntypes;
    if (!tz->name || !tz->times || !tz->idx || !tz->offsets) {
        sy_tz_free(tz);
        return NULL;
    }
    return tz;
}

sy_status sy_tz_new_utc(sy_tz **out)
{
    *out = tz_alloc("UTC", 0, 1);
    return *out ? SY_OK : SY_NOMEM;
}

/* ---- TZif parsing ------------------------------------------------------ */

typedef struct tzif_hdr {
    int version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64s(const uint8_t *p)
{
    uint64_t v = (uint64_t)be32(p) << 32 | be32(p + 4);
    return (int64_t)v;
}

static sy_status bad_tzif(sy_error *err, const char *why)
{
    return sy_error_set(err, SY_INVALID, "bad_tzif", NULL, "could not read time zone data: %s",
                        why);
}

static bool read_hdr(const uint8_t *p, size_t len, tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = p[4] == 0 ? 1 : p[4] - '0';
    if (h->version < 1 || h->version > 9)
        return false;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return h->timecnt <= TZ_MAX_TRANSITIONS && h->typecnt >= 1 && h->typecnt <= TZ_MAX_TYPES &&
           h->charcnt <= 65536 && h->leapcnt <= 65536 && h->isutcnt <= TZ_MAX_TYPES &&
           h->isstdcnt <= TZ_MAX_TYPES;
}

/* Size of the data block after a header, for 4- or 8-byte times. */
static size_t block_size(const tzif_hdr *h, size_t tsize)
{
    return (size_t)h->timecnt * tsize + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Fills times/types from one data block; validates order and ranges. */
static sy_status read_block(const uint8_t *p, const tzif_hdr *h, size_t tsize, sy_tz *tz,
                            sy_error *err)
{
    for (size_t i = 0; i < h->timecnt; i++) {
        tz->times[i] = tsize == 8 ? be64s(p + i * 8) : (int32_t)be32(p + i * 4);
        if (i > 0 && tz->times[i] <= tz->times[i - 1])
            return bad_tzif(err, "transition times are not ascending");
    }
    p += (size_t)h->timecnt * tsize;
    for (size_t i = 0; i < h->timecnt; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= h->typecnt)
            return bad_tzif(err, "transition names an unknown local time type");
    }
    p += h->timecnt;
    for (size_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(p + i * 6);
        if (off < -89999 || off > 93599)
            return bad_tzif(err, "utc offset out of range");
        if (p[i * 6 + 4] > 1 || p[i * 6 + 5] >= h->charcnt)
            return bad_tzif(err, "bad local time type record");
        tz->offsets[i] = off;
    }
    return SY_OK;
}

/* Reads the footer "\n<TZ string>\n" (version 2+). An empty string means no
 * rule: the last transition's type holds forever. */
static sy_status read_footer(const uint8_t *p, size_t len, sy_tz *tz, sy_error *err)
{
    if (len < 2 || p[0] != '\n')
        return bad_tzif(err, "missing footer");
    const uint8_t *nl = memchr(p + 1, '\n', len - 1);
    if (!nl)
        return bad_tzif(err, "unterminated footer");
    size_t n = (size_t)(nl - p - 1);
    if (n == 0)
        return SY_OK;
    char tzstr[256];
    if (n >= sizeof tzstr)
        return bad_tzif(err, "footer too long");
    memcpy(tzstr, p + 1, n);
    tzstr[n] = '\0';
    if (!sy_tz__rule_parse(tzstr, &tz->rule))
        return bad_tzif(err, "unsupported TZ rule in footer");
    tz->has_rule = true;
    return SY_OK;
}

sy_status sy_tz_parse(const uint8_t *data, size_t len, const char *name, sy_tz **out, sy_error *err)
{
    *out = NULL;
    tzif_hdr h;
    if (!read_hdr(data, len, &h))
        return bad_tzif(err, "not a TZif file");
    size_t tsize = 4, off = 44;
    if (h.version >= 2) { /* skip the 32-bit block; use the 64-bit one */
        size_t skip = block_size(&h, 4);
        if (len - 44 < skip || !read_hdr(data + 44 + skip, len - 44 - skip, &h))
            return bad_tzif(err, "truncated version 1 block");
        tsize = 8;
        off = 44 + skip + 44;
    }
    if (len - off < block_size(&h, tsize))
        return bad_tzif(err, "truncated data block");
    sy_tz *tz = tz_alloc(name, h.timecnt, h.typecnt);
    if (!tz)
        return SY_NOMEM;
    sy_status st = read_block(data + off, &h, tsize, tz, err);
    off += block_size(&h, tsize);
    if (st == SY_OK && tsize == 8)
        st = read_footer(data + off, len - off, tz, err);
    if (st != SY_OK) {
        sy_tz_free(tz);
        return st;
    }
    *out = tz;
    return SY_OK;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || c == '/';
        if (!ok || (c == '.' && p == name))
            return false;
    }
    return true;
}

static sy_status read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOMEM ? SY_NOMEM : SY_NOT_FOUND;
    uint8_t *buf = malloc(TZ_MAX_FILE);
    size_t n = buf ? fread(buf, 1, TZ_MAX_FILE, f) : 0;
    fclose(f);
    if (!buf)
        return SY_NOMEM;
    *data = buf;
    *len = n;
    return SY_OK;
}

sy_status sy_tz_load_dir(const char *dir, const char *name, sy_tz **out, sy_error *err)
{
    *out = NULL;
    if (!name || !name_ok(name))
        return sy_error_set(err, SY_INVALID, "bad_timezone", NULL, "invalid time zone name \"%s\"",
                            name ? name : "");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data = NULL;
    size_t len = 0;
    sy_status st = read_file(path, &data, &len);
    if (st == SY_NOT_FOUND) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0)
            return sy_tz_new_utc(out);
        return sy_error_set(err, SY_INVALID, "bad_timezone", NULL, "unknown time zone \"%s\"",
                            name);
    }
    if (st != SY_OK)
        return sy_error_set(err, st, "bad_timezone", NULL, "could not load time zone \"%s\"", name);
    st = sy_tz_parse(data, len, name, out, err);
    free(data);
    if (st == SY_INVALID && err) {
        snprintf(err->code, sizeof err->code, "bad_timezone");
        sy_error_prefix(err, "time zone \"%s\"", name);
    }
    return st;
}

sy_status sy_tz_load(const char *name, sy_tz **out, sy_error *err)
{
    return sy_tz_load_dir(SY_TZ_DEFAULT_DIR, name, out, err);
}

/* ---- lookups ----------------------------------------------------------- */

/* Index of the last transition <= utc_s, or -1 when before the first. */
static ptrdiff_t find_transition(const sy_tz *tz, int64_t utc_s)
{
    size_t lo = 0, hi = tz->ntimes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= utc_s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

int32_t sy_tz_offset(const sy_tz *tz, int64_t utc_s)
{
    if (!tz)
        return 0;
    if (tz->ntimes == 0 && tz->has_rule) /* RFC 8536: the rule then covers all time */
        return sy_tz__rule_offset(&tz->rule, utc_s);
    ptrdiff_t i = find_transition(tz, utc_s);
    if (i < 0)
        return tz->offsets[0];
    if ((size_t)i == tz->ntimes - 1 && tz->has_rule)
        return sy_tz__rule_offset(&tz->rule, utc_s);
    return tz->offsets[tz->idx[i]];
}

int64_t sy_tz_next_transition(const sy_tz *tz, int64_t utc_s)
{
    if (!tz)
        return INT64_MAX;
    ptrdiff_t i = find_transition(tz, utc_s);
    if ((size_t)(i + 1) < tz->ntimes)
        return tz->times[i + 1];
    if (!tz->has_rule)
        return INT64_MAX;
    return sy_tz__rule_next(&tz->rule, utc_s);
}

/* Every offset this zone can have (types and the rule), deduplicated. */
static size_t zone_offsets(const sy_tz *tz, int32_t *out, size_t cap)
{
    size_t n = 0;
    int32_t cand[2] = {tz->rule.std_off, tz->rule.dst_off};
    for (size_t i = 0; i < tz->ntypes + 2 && n < cap; i++) {
        int32_t o;
        if (i < tz->ntypes)
            o = tz->offsets[i];
        else if (tz->has_rule)
            o = cand[i - tz->ntypes];
        else
            break;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup = dup || out[j] == o;
        if (!dup)
            out[n++] = o;
    }
    return n;
}

sy_tz_mapping sy_tz_local_to_utc(const sy_tz *tz, int64_t local_s, int64_t *utc_s)
{
    if (!tz) {
        *utc_s = local_s;
        return SY_TZ_UNIQUE;
    }
    int32_t offs[TZ_MAX_TYPES + 2] = {0};
    size_t n = zone_offsets(tz, offs, sizeof offs / sizeof offs[0]);
    int32_t max_off = offs[0]; /* n >= 1: a zone has at least one type */
    size_t found = 0;
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        max_off = offs[i] > max_off ? offs[i] : max_off;
        int64_t u = local_s - offs[i];
        if (sy_tz_offset(tz, u) == offs[i]) {
            found++;
            best = u < best ? u : best;
        }
    }
    if (found) {
        *utc_s = best;
        return found == 1 ? SY_TZ_UNIQUE : SY_TZ_AMBIGUOUS;
    }
    /* A gap: local time jumps over local_s at some transition. Walk the
     * transitions from an instant whose local time is before local_s. */
    int64_t u = local_s - max_off;
    for (int guard = 0; guard < 64; guard++) {
        int64_t t = sy_tz_next_transition(tz, u);
        if (t == INT64_MAX)
            break;
        if (t + sy_tz_offset(tz, t) > local_s) {
            *utc_s = t;
            return SY_TZ_GAP;
        }
        u = t;
    }
    *utc_s = local_s - max_off; /* unreachable for sane data */
    return SY_TZ_GAP;
}
