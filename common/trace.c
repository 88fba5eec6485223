/* trace.c: traceparent parsing and formatting, span ids (trace.h). */
#include "trace.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void sy_span_id(const char *id, char out[SY_SPAN_ID_LEN + 1])
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id ? id : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = h ? h : 1;
    /* "%016llx" by hand: snprintf was four fifths of this function, and a
     * start computes four of these (two outcome events, span and parent) */
    static const char hex[] = "0123456789abcdef";
    for (int i = SY_SPAN_ID_LEN - 1; i >= 0; i--, h >>= 4)
        out[i] = hex[h & 0xf];
    out[SY_SPAN_ID_LEN] = '\0';
}

/* n lowercase hex digits at s; *zero says whether all are '0'. */
static bool hex_run(const char *s, size_t n, bool *zero)
{
    *zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        *zero &= c == '0';
    }
    return true;
}

static sy_status bad(sy_error *err, const char *what)
{
    return sy_error_set(err, SY_INVALID, "bad_trace_id", "traceparent",
                        "traceparent is not W3C trace context (00-<32 hex trace id>-<16 hex "
                        "parent id>-<2 hex flags>): %s",
                        what);
}

sy_status sy_traceparent_parse(const char *s, char *trace, char *parent, sy_error *err)
{
    bool zero = false;
    size_t n = s ? strlen(s) : 0;
    if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return bad(err, "not four dash-separated fields of 2, 32, 16 and 2 hex digits");
    if (!hex_run(s, 2, &zero) || strncmp(s, "ff", 2) == 0)
        return bad(err, "the version is not 2 lowercase hex digits below ff");
    if (n > 55 && (strncmp(s, "00", 2) == 0 || s[55] != '-'))
        return bad(err, "version 00 has exactly four fields");
    if (!hex_run(s + 3, 32, &zero) || zero)
        return bad(err, "the trace id is not 32 lowercase hex digits, not all zero");
    if (!hex_run(s + 36, 16, &zero) || zero)
        return bad(err, "the parent id is not 16 lowercase hex digits, not all zero");
    if (!hex_run(s + 53, 2, &zero))
        return bad(err, "the flags are not 2 lowercase hex digits");
    if (trace)
        snprintf(trace, 33, "%.32s", s + 3);
    if (parent)
        snprintf(parent, 17, "%.16s", s + 36);
    return SY_OK;
}

sy_status sy_tracestate_check(const char *s, sy_error *err)
{
    size_t n = strlen(s), members = 1;
    if (n > SY_TRACESTATE_MAX)
        return sy_error_set(err, SY_INVALID, "bad_trace_id", "tracestate",
                            "tracestate is %zu characters, over W3C's %d", n, SY_TRACESTATE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return sy_error_set(err, SY_INVALID, "bad_trace_id", "tracestate",
                                "tracestate has a character outside printable ASCII at %zu", i);
        members += c == ',';
    }
    if (members > 32)
        return sy_error_set(err, SY_INVALID, "bad_trace_id", "tracestate",
                            "tracestate has %zu list members, over W3C's 32", members);
    return SY_OK;
}

void sy_traceparent_format(const char *trace, const char *span, char out[SY_TRACEPARENT_MAX])
{
    snprintf(out, SY_TRACEPARENT_MAX, "00-%.32s-%.16s-01", trace, span);
}
