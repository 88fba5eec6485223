/* admin_query.c: the workflow list's query box (admin_query.h): a small
 * hand-written scanner and a loop over conditions. */
#include "admin_query.h"
#include "buf.h"
#include "engine.h"
#include "timefmt.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct scan {
    const char *text, *p;
    sy_error *err;
} scan;

static sy_status fail(scan *s, const char *at, const char *fmt, const char *arg)
{
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg);
    return sy_error_set(s->err, SY_INVALID, "bad_query", "q", "q:1:%d: %s", (int)(at - s->text) + 1,
                        msg);
}

static void skip_space(scan *s)
{
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
        s->p++;
}

static bool word(scan *s, char *out, size_t cap)
{
    size_t n = 0;
    while (isalpha((unsigned char)s->p[n]) || s->p[n] == '_')
        n++;
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, s->p, n);
    out[n] = 0;
    s->p += n;
    return true;
}

static bool op(scan *s, char *out)
{
    static const char *const ops[] = {">=", "<=", "^=", "!=", "=", ">", "<", NULL};
    for (size_t i = 0; ops[i]; i++) {
        size_t n = strlen(ops[i]);
        if (!strncmp(s->p, ops[i], n)) {
            memcpy(out, ops[i], n + 1);
            s->p += n;
            return true;
        }
    }
    return false;
}

/* A bare word (up to a space) or a quoted string, into out. */
static sy_status value(scan *s, char *out, size_t cap)
{
    const char *at = s->p;
    size_t n = 0;
    if (*s->p == '"') {
        for (s->p++; *s->p && *s->p != '"'; s->p++) {
            if (*s->p == '\\' && (s->p[1] == '"' || s->p[1] == '\\'))
                s->p++;
            if (n + 1 >= cap)
                return fail(s, at, "%svalue too long", "");
            out[n++] = *s->p;
        }
        if (*s->p != '"')
            return fail(s, at, "%sunterminated string", "");
        s->p++;
    } else {
        for (; *s->p && !isspace((unsigned char)*s->p); s->p++) {
            if (n + 1 >= cap)
                return fail(s, at, "%svalue too long", "");
            out[n++] = *s->p;
        }
    }
    out[n] = 0;
    if (n == 0)
        return fail(s, at, "%sa value is missing", "");
    return SY_OK;
}

static bool name_ok(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._:/-", *p)))
            return false;
    return *v != 0;
}

static bool time_value(const char *v, int64_t *ms)
{
    sy_error e;
    sy_error_clear(&e);
    if (sy_time_parse_rfc3339(v, "q", ms, &e) == SY_OK)
        return true;
    unsigned y, m, d;
    char tail;
    if (strlen(v) == 10 && sscanf(v, "%4u-%2u-%2u%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
        m <= 12 && d >= 1 && d <= 31) {
        *ms = sy_time_days_from_civil(y, m, d) * 86400000LL;
        return true;
    }
    return false;
}

/* Applies one condition. */
static sy_status cond(scan *s, const char *field, const char *fat, const char *opr, const char *v,
                      const char *at, admin_query *q)
{
    bool eq = !strcmp(opr, "=");
    if (!strcasecmp(field, "status")) {
        const char *const *ok = engine_workflow_statuses;
        if (!eq)
            return fail(s, at, "%sstatus takes =", "");
        if (*q->status)
            return fail(s, at, "%sstatus is given twice", "");
        for (size_t i = 0; ok[i]; i++)
            if (!strcmp(v, ok[i]))
                return sy_strlcpy(q->status, sizeof q->status, v), SY_OK;
        return fail(s, at,
                    "status \"%.60s\" is not one of running, completed, failed, canceled, "
                    "terminated",
                    v);
    }
    char *dst = !strcasecmp(field, "type")    ? q->type
                : !strcasecmp(field, "queue") ? q->queue
                : !strcasecmp(field, "id")    ? q->id_prefix
                                              : NULL;
    if (dst) {
        bool id = dst == q->id_prefix;
        char val[256];
        sy_strlcpy(val, sizeof val, v);
        size_t n = strlen(val);
        if (id && eq && n > 1 && val[n - 1] == '*')
            val[--n] = 0; /* id = prefix* */
        else if (id && strcmp(opr, "^="))
            return fail(s, at, "%sid takes ^= (a prefix) or = prefix*", "");
        if (!id && !eq)
            return fail(s, at, "%s takes =", field);
        if (*dst)
            return fail(s, at, "%s is given twice", field);
        if (!name_ok(val))
            return fail(s, at, "\"%.60s\" is not 1-255 characters of [A-Za-z0-9._:/-]", val);
        sy_strlcpy(dst, 256, val);
        return SY_OK;
    }
    if (!strcasecmp(field, "started")) {
        int64_t ms = 0;
        if (!time_value(v, &ms))
            return fail(s, at, "\"%.60s\" is not an RFC 3339 time or a date YYYY-MM-DD", v);
        bool lower = opr[0] == '>';
        if (opr[0] != '>' && opr[0] != '<')
            return fail(s, at, "%sstarted takes >, >=, < or <=", "");
        int64_t *b = lower ? &q->started_after_ms : &q->started_before_ms;
        if (*b)
            return fail(s, at, "started %s is given twice", lower ? "> or >=" : "< or <=");
        /* after is inclusive, before exclusive */
        *b = ms + ((lower && opr[1] != '=') || (!lower && opr[1] == '=') ? 1 : 0);
        return SY_OK;
    }
    return fail(s, fat, "unknown field \"%.40s\" (status, type, id, queue, started)", field);
}

sy_status admin_query_parse(const char *text, admin_query *out, sy_error *err)
{
    memset(out, 0, sizeof *out);
    scan s = {.text = text, .p = text, .err = err};
    if (strlen(text) > 2000)
        return sy_error_set(err, SY_INVALID, "bad_query", "q", "q: longer than 2000 bytes");
    skip_space(&s);
    if (!*s.p)
        return SY_OK;
    for (;;) {
        char field[16], opr[3], v[300];
        const char *at = s.p;
        if (!word(&s, field, sizeof field))
            return fail(&s, at, "%sa field name is expected (status, type, id, queue, started)",
                        "");
        skip_space(&s);
        const char *opat = s.p;
        if (!op(&s, opr))
            return fail(&s, opat, "%san operator (=, ^=, >, >=, <, <=) is expected", "");
        skip_space(&s);
        const char *vat = s.p;
        sy_status st = value(&s, v, sizeof v);
        if (st == SY_OK)
            st = cond(&s, field, at, opr, v, vat, out);
        if (st != SY_OK)
            return st;
        skip_space(&s);
        if (!*s.p)
            return SY_OK;
        const char *andat = s.p;
        char kw[8];
        if (!word(&s, kw, sizeof kw) || strcasecmp(kw, "and"))
            return fail(&s, andat, "%sAND is expected between conditions", "");
        skip_space(&s);
    }
}
