/* template.c: {{ path | filter(arg) | ... }} templates (rules/README.md),
 * shared by routes (start input, workflow IDs, signal payloads) and by the
 * engine's workflow steps.
 *
 * Expansion is one pass: the text produced by a template is never scanned
 * again, so an event cannot inject "{{ }}" into its own rendering. A string
 * that is exactly one template keeps the JSON type of its value (an object
 * stays an object); inside a longer string a value is written as text, and a
 * missing or null value there is an error (use `| default(x)`), because a
 * silently empty part would mangle IDs. Filters: lower, upper, default(x),
 * json, slug, date(fmt), trunc(n), string. */
#include "closest.h"
#include "rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TMPL_ERR "bad_template"
#define MISSING_ERR "template_missing"

static const char *const filter_names[] = {"lower", "upper", "default", "json",
                                           "slug",  "date",  "trunc",   "string"};
#define NFILTERS (sizeof filter_names / sizeof filter_names[0])

/* A segment being evaluated; ctx NULL means "check only" (load time). */
typedef struct seg {
    const char *src; /* NUL-terminated copy of the text between {{ and }} */
    const char *p;
    const cJSON *ctx;
    bool check;
    const rules_root *roots;
    size_t nroots;
    sy_error *err;
} seg;

static void skip_ws(seg *s)
{
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
        s->p++;
}

static sy_status seg_fail(seg *s, const char *code, const char *fmt, const char *arg)
{
    sy_error_set(s->err, SY_INVALID, code, NULL, fmt, arg);
    sy_error_prefix(s->err, "in {{%s}}", s->src);
    return SY_INVALID;
}

/* Reads a literal at s->p: string, number, true/false/null. */
static sy_status parse_literal(seg *s, cJSON **out)
{
    char c = *s->p;
    if (c == '"' || c == '\'') {
        sy_buf b = SY_BUF_INIT;
        const char *q = s->p + 1;
        for (; *q && *q != c; q++) {
            if (*q == '\\' && q[1])
                q++;
            sy_buf_putc(&b, *q);
        }
        if (*q != c) {
            sy_buf_cleanup(&b);
            return seg_fail(s, TMPL_ERR, "unterminated string%s", "");
        }
        s->p = q + 1;
        *out = cJSON_CreateString(sy_buf_str(&b));
        sy_buf_cleanup(&b);
        return SY_OK;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (strncmp(s->p, words[i], strlen(words[i])) == 0 &&
            !isalnum((unsigned char)s->p[strlen(words[i])])) {
            s->p += strlen(words[i]);
            *out = i == 2 ? cJSON_CreateNull() : cJSON_CreateBool(i == 0);
            return SY_OK;
        }
    char *end;
    double v = strtod(s->p, &end);
    if (end == s->p || !isfinite(v) || !(isdigit((unsigned char)c) || c == '-' || c == '.'))
        return seg_fail(s, TMPL_ERR, "expected a path or a literal at \"%.20s\"", s->p);
    s->p = end;
    *out = cJSON_CreateNumber(v);
    return SY_OK;
}

static sy_status check_root(seg *s, const char *root)
{
    if (!s->roots)
        return SY_OK;
    const char *names[16];
    size_t n = s->nroots < 16 ? s->nroots : 16;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->roots[i].name, root) == 0)
            return SY_OK;
        names[i] = s->roots[i].name;
    }
    const char *sug = sy_closest(root, names, n);
    char msg[200];
    snprintf(msg, sizeof msg, "unknown name \"%s\"%s%s%s", root, sug ? " (did you mean \"" : "",
             sug ? sug : "", sug ? "\"?)" : "");
    return seg_fail(s, TMPL_ERR, "%s", msg);
}

/* The head of a segment: a path (resolved against ctx) or a literal. *out is
 * NULL when the path is missing (or in check mode). */
static sy_status parse_head(seg *s, cJSON **out)
{
    *out = NULL;
    skip_ws(s);
    char c = *s->p;
    bool word = isalpha((unsigned char)c) || c == '_' || c == '$';
    bool keyword =
        (!strncmp(s->p, "true", 4) || !strncmp(s->p, "false", 5) || !strncmp(s->p, "null", 4));
    if (!word || keyword) {
        sy_status st = parse_literal(s, out);
        if (st == SY_OK && s->check) {
            cJSON_Delete(*out);
            *out = NULL;
        }
        return st;
    }
    rules_arena a = {0};
    char msg[200];
    rpath *path = rules__path_parse(&a, &s->p, msg, sizeof msg);
    sy_status st = SY_OK;
    if (!path)
        st = seg_fail(s, TMPL_ERR, "%s", msg);
    else if (s->check)
        st = check_root(s, path->segs[0].key);
    else {
        const cJSON *v = rules__path_get(path, s->ctx);
        *out = v ? cJSON_Duplicate(v, true) : NULL;
        if (v && !*out)
            st = SY_NOMEM;
    }
    rules__arena_free(&a);
    return st;
}

/* Text form of a value (strings as is, the rest as compact JSON). Owned. */
static char *value_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char buf[64];
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            snprintf(buf, sizeof buf, "%lld", (long long)d);
        else
            snprintf(buf, sizeof buf, "%.17g", d);
        return strdup(buf);
    }
    /* cJSON allocates with malloc (nobody installs other hooks) */
    return cJSON_PrintUnformatted(v);
}

static cJSON *take_string(char *s)
{
    cJSON *v = s ? cJSON_CreateString(s) : NULL;
    free(s);
    return v;
}

static char *slugify(const char *s)
{
    sy_buf b = SY_BUF_INIT;
    bool dash = false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) && c < 128) {
            if (dash && b.len)
                sy_buf_putc(&b, '-');
            dash = false;
            sy_buf_putc(&b, (char)tolower(c));
        } else {
            dash = true;
        }
    }
    return sy_buf_take(&b);
}

static char *truncate_utf8(const char *s, long n)
{
    const char *p = s;
    for (long i = 0; *p && i < n; i++) {
        p++;
        while (((unsigned char)*p & 0xC0) == 0x80)
            p++;
    }
    return strndup(s, (size_t)(p - s));
}

/* Parses an RFC 3339 timestamp into Unix seconds. */
static bool parse_rfc3339(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || !n)
        return false;
    const char *p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return false;
        offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *out = timegm(&tm) - offset;
    return true;
}

/* date(fmt): an RFC 3339 string or Unix epoch milliseconds, formatted in UTC. */
static char *format_date(const cJSON *v, const char *fmt)
{
    time_t t;
    if (cJSON_IsNumber(v) && fabs(v->valuedouble) < 1e15)
        t = (time_t)(v->valuedouble / 1000.0);
    else if (cJSON_IsNumber(v))
        return NULL;
    else if (!cJSON_IsString(v) || !parse_rfc3339(v->valuestring, &t))
        return NULL;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NULL;
    char buf[256];
    size_t n = strftime(buf, sizeof buf, fmt, &tm);
    if (n == 0 && *fmt)
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

/* Parses "(arg)" after a filter name; *arg is NULL when there is none. */
static sy_status parse_args(seg *s, cJSON **arg)
{
    *arg = NULL;
    skip_ws(s);
    if (*s->p != '(')
        return SY_OK;
    s->p++;
    skip_ws(s);
    bool check = s->check;
    s->check = false; /* literals are parsed the same in both modes */
    sy_status st = parse_literal(s, arg);
    s->check = check;
    if (st != SY_OK)
        return st;
    skip_ws(s);
    if (*s->p != ')') {
        cJSON_Delete(*arg);
        *arg = NULL;
        return seg_fail(s, TMPL_ERR, "expected \")\" at \"%.20s\"", s->p);
    }
    s->p++;
    return SY_OK;
}

/* Checks a filter's argument at load (and at render: same rules). */
static sy_status check_filter_arg(seg *s, int f, const cJSON *arg)
{
    const char *name = filter_names[f];
    if (f == 2 && !arg) /* default */
        return seg_fail(s, TMPL_ERR, "default() needs an argument, e.g. default(\"none\")%s", "");
    if (f == 5 && arg && !cJSON_IsString(arg))
        return seg_fail(s, TMPL_ERR, "date() takes a strftime format string%s", "");
    if (f == 6 && (!cJSON_IsNumber(arg) || arg->valuedouble < 0 || arg->valuedouble > 1e9 ||
                   arg->valuedouble != floor(arg->valuedouble)))
        return seg_fail(s, TMPL_ERR, "trunc() takes a non-negative integer%s", "");
    if (arg && f != 2 && f != 5 && f != 6)
        return seg_fail(s, TMPL_ERR, "filter \"%s\" takes no argument", name);
    return SY_OK;
}

/* Applies filter f to *v (owned, maybe NULL = missing). */
static sy_status apply_filter(seg *s, int f, const cJSON *arg, cJSON **v)
{
    cJSON *in = *v;
    if (f == 2) { /* default */
        if (!in || cJSON_IsNull(in) || (cJSON_IsString(in) && !*in->valuestring)) {
            cJSON_Delete(in);
            *v = cJSON_Duplicate(arg, true);
        }
        return SY_OK;
    }
    if (f == 3) { /* json */
        *v = take_string(in ? cJSON_PrintUnformatted(in) : strdup("null"));
        cJSON_Delete(in);
        return SY_OK;
    }
    if (!in || cJSON_IsNull(in))
        return SY_OK; /* other filters pass a missing value through */
    char *text = NULL;
    if (f == 5) {
        text = format_date(in, arg ? arg->valuestring : "%Y-%m-%d");
        if (!text)
            return seg_fail(s, TMPL_ERR,
                            "date() needs an RFC 3339 timestamp or epoch "
                            "milliseconds%s",
                            "");
    } else {
        char *t = value_text(in);
        if (!t)
            return SY_NOMEM;
        if (f == 0 || f == 1)
            for (char *c = t; *c; c++)
                *c = (char)(f == 0 ? tolower((unsigned char)*c) : toupper((unsigned char)*c));
        text = f == 4 ? slugify(t) : f == 6 ? truncate_utf8(t, (long)arg->valuedouble) : t;
        if (text != t)
            free(t);
    }
    cJSON_Delete(in);
    *v = take_string(text);
    return SY_OK;
}

static int filter_index(seg *s, const char *name, size_t len)
{
    for (size_t i = 0; i < NFILTERS; i++)
        if (strlen(filter_names[i]) == len && strncmp(filter_names[i], name, len) == 0)
            return (int)i;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 40 ? len : 40), name);
    const char *sug = sy_closest(buf, filter_names, NFILTERS);
    char msg[200];
    snprintf(msg, sizeof msg, "unknown filter \"%s\"%s%s%s", buf, sug ? " (did you mean \"" : "",
             sug ? sug : "",
             sug ? "\"?)"
                 : " (lower, upper, default, json, slug, date, trunc, "
                   "string)");
    seg_fail(s, TMPL_ERR, "%s", msg);
    return -1;
}

static sy_status eval_filters(seg *s, cJSON **v)
{
    for (;;) {
        skip_ws(s);
        if (!*s->p)
            return SY_OK;
        if (*s->p != '|')
            return seg_fail(s, TMPL_ERR, "expected \"|\" or \"}}\" at \"%.20s\"", s->p);
        s->p++;
        skip_ws(s);
        const char *name = s->p;
        while (isalpha((unsigned char)*s->p))
            s->p++;
        if (s->p == name)
            return seg_fail(s, TMPL_ERR, "expected a filter name after \"|\"%s", "");
        int f = filter_index(s, name, (size_t)(s->p - name));
        if (f < 0)
            return SY_INVALID;
        cJSON *arg;
        sy_status st = parse_args(s, &arg);
        if (st == SY_OK)
            st = check_filter_arg(s, f, arg);
        if (st == SY_OK && !s->check)
            st = apply_filter(s, f, arg, v);
        cJSON_Delete(arg);
        if (st != SY_OK)
            return st;
    }
}

/* Evaluates the text between {{ and }} (len bytes). *out owned, NULL when
 * the value is missing. */
static sy_status eval_segment(const char *text, size_t len, const cJSON *ctx, bool check,
                              const rules_root *roots, size_t nroots, cJSON **out, sy_error *err)
{
    *out = NULL;
    char *src = strndup(text, len);
    if (!src)
        return SY_NOMEM;
    seg s = {.src = src,
             .p = src,
             .ctx = ctx,
             .check = check,
             .roots = roots,
             .nroots = nroots,
             .err = err};
    skip_ws(&s);
    sy_status st = *s.p ? parse_head(&s, out) : seg_fail(&s, TMPL_ERR, "empty template%s", "");
    if (st == SY_OK)
        st = eval_filters(&s, out);
    if (st != SY_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(src);
    return st;
}

/* Finds the "}}" closing a template that starts at open ("{{"), skipping
 * quoted strings. NULL when unterminated. */
static const char *find_close(const char *open)
{
    char q = 0;
    for (const char *p = open + 2; *p; p++) {
        if (q) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == q)
                q = 0;
        } else if (*p == '"' || *p == '\'') {
            q = *p;
        } else if (p[0] == '}' && p[1] == '}') {
            return p;
        }
    }
    return NULL;
}

/* Renders (or checks, when check) one string. When the whole string is one
 * template, *json receives the typed value (owned, maybe a JSON null);
 * otherwise *text receives the string (owned). */
static sy_status render_str(const char *tmpl, const cJSON *ctx, bool check, const rules_root *roots,
                            size_t nroots, cJSON **json, char **text, sy_error *err)
{
    *text = NULL;
    if (json)
        *json = NULL;
    sy_buf b = SY_BUF_INIT;
    const char *p = tmpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            sy_buf_puts(&b, p);
            break;
        }
        const char *close = find_close(open);
        if (!close) {
            sy_buf_cleanup(&b);
            return sy_error_set(err, SY_INVALID, TMPL_ERR, NULL,
                                "unterminated \"{{\" in \"%.100s\"", tmpl);
        }
        sy_buf_append(&b, p, (size_t)(open - p));
        cJSON *v;
        sy_status st =
            eval_segment(open + 2, (size_t)(close - open - 2), ctx, check, roots, nroots, &v, err);
        if (st != SY_OK) {
            sy_buf_cleanup(&b);
            return st;
        }
        if (json && open == tmpl && close[2] == '\0') {
            sy_buf_cleanup(&b);
            *json = v ? v : cJSON_CreateNull();
            return SY_OK;
        }
        if (!check && (!v || cJSON_IsNull(v))) {
            sy_error_set(err, SY_INVALID, MISSING_ERR, NULL,
                         "{{%.*s}} has no value (missing or null; add | default(...))",
                         (int)(close - open - 2), open + 2);
            cJSON_Delete(v);
            sy_buf_cleanup(&b);
            return SY_INVALID;
        }
        if (v) {
            char *t = value_text(v);
            sy_buf_puts(&b, t ? t : "");
            free(t);
            cJSON_Delete(v);
        }
        p = close + 2;
    }
    *text = sy_buf_take(&b);
    return SY_OK;
}

sy_status rules_render_string(const char *tmpl, const cJSON *ctx, char **out, sy_error *err)
{
    *out = NULL;
    return render_str(tmpl ? tmpl : "", ctx, false, NULL, 0, NULL, out, err);
}

sy_status rules_render_text(const char *tmpl, const cJSON *ctx, char **out, sy_error *err)
{
    *out = NULL;
    cJSON *json = NULL;
    sy_status st = render_str(tmpl ? tmpl : "", ctx, false, NULL, 0, &json, out, err);
    if (st != SY_OK || !json)
        return st;
    if (cJSON_IsObject(json) || cJSON_IsArray(json))
        st = sy_error_set(err, SY_INVALID, TMPL_ERR, NULL,
                          "\"%.100s\" renders to %s, not a string, number or boolean", tmpl,
                          cJSON_IsObject(json) ? "an object" : "an array");
    else if (!cJSON_IsNull(json) && !(*out = value_text(json)))
        st = SY_NOMEM;
    cJSON_Delete(json);
    return st;
}

sy_status rules_render(const cJSON *tmpl, const cJSON *ctx, cJSON **out, sy_error *err)
{
    *out = NULL;
    if (!tmpl)
        return sy_error_set(err, SY_INVALID, TMPL_ERR, NULL, "no template");
    if (cJSON_IsString(tmpl)) {
        if (!strstr(tmpl->valuestring, "{{")) {
            *out = cJSON_CreateString(tmpl->valuestring);
            return *out ? SY_OK : SY_NOMEM;
        }
        char *text;
        sy_status st = render_str(tmpl->valuestring, ctx, false, NULL, 0, out, &text, err);
        if (st == SY_OK && !*out)
            *out = take_string(text);
        else
            free(text);
        return st != SY_OK ? st : *out ? SY_OK : SY_NOMEM;
    }
    if (!cJSON_IsObject(tmpl) && !cJSON_IsArray(tmpl)) {
        *out = cJSON_Duplicate(tmpl, false);
        return *out ? SY_OK : SY_NOMEM;
    }
    cJSON *res = cJSON_IsObject(tmpl) ? cJSON_CreateObject() : cJSON_CreateArray();
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, tmpl)
    {
        cJSON *v;
        sy_status st = rules_render(it, ctx, &v, err);
        if (st != SY_OK) {
            if (it->string)
                sy_error_prefix(err, "%s", it->string);
            else
                sy_error_prefix(err, "[%zu]", i);
            cJSON_Delete(res);
            return st;
        }
        if (it->string)
            cJSON_AddItemToObject(res, it->string, v);
        else
            cJSON_AddItemToArray(res, v);
        i++;
    }
    *out = res;
    return SY_OK;
}

bool rules__template_check(const char *s, const rules_root *roots, size_t nroots, sy_error *err)
{
    if (!strstr(s, "{{"))
        return true;
    cJSON *json;
    char *text;
    sy_status st = render_str(s, NULL, true, roots, nroots, &json, &text, err);
    cJSON_Delete(json);
    free(text);
    return st == SY_OK;
}

bool rules_workflow_id_valid(const char *id)
{
    if (!id)
        return false;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (!(isalnum((unsigned char)c) && (unsigned char)c < 128) && c != '.' && c != '_' &&
            c != ':' && c != '/' && c != '-')
            return false;
    }
    return n >= 1 && n <= 255;
}

bool rules_subject_valid(const char *s, const char **why)
{
    const char *w = NULL;
    if (!s || !*s)
        w = "it is empty";
    else if (strlen(s) > RULES_SUBJECT_MAX)
        w = "it is longer than 1024 bytes";
    for (const char *p = s; !w && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f)
            w = "it contains whitespace or a control character";
        else if (c == '*' || c == '>')
            w = "it contains a wildcard ('*' or '>')";
        else if (c == '.' && (p == s || p[1] == '.' || p[1] == '\0'))
            w = "it has an empty token (a leading, trailing or double '.')";
    }
    if (why)
        *why = w;
    return !w;
}
