/* schema_validate.c: checks a payload against a compiled schema (see
 * schema_compile.c) and picks the schema by (type, schema_version).
 *
 * The JSON path of the value being checked is a linked list of frames on
 * the C stack, turned into text ("payload.items[2].id") only when a check
 * fails, so a valid payload costs no string building. Branches of anyOf /
 * oneOf are tried with errors switched off; the reported error is then
 * about the combinator itself. Recursion through $ref is bounded by the
 * payload's depth (at most 32) plus a guard against refs that never descend. */
#include "envelope_int.h"
#include "json.h"
#include "timefmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVAL_DEPTH 256

typedef struct vpath {
    const struct vpath *up;
    const char *key; /* member name, or NULL for an array index */
    size_t index;
} vpath;

typedef struct vctx {
    sy_error *err; /* NULL while trying a branch */
    const char *prefix;
    int depth;
} vctx;

static sy_status check(vctx *c, const schema_node *n, const cJSON *v, const vpath *p);

static void path_text(const vctx *c, const vpath *p, sy_buf *b)
{
    if (!p) {
        if (c->prefix)
            sy_buf_puts(b, c->prefix);
        return;
    }
    path_text(c, p->up, b);
    if (p->key)
        sy_json_path_key(b, p->key);
    else
        sy_json_path_index(b, p->index);
}

static sy_status fail(vctx *c, const vpath *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sy_status fail(vctx *c, const vpath *p, const char *fmt, ...)
{
    if (!c->err)
        return SY_INVALID;
    char msg[SY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sy_buf b = SY_BUF_INIT;
    path_text(c, p, &b);
    /* the path travels in err->path only: sy_error_text puts it in front */
    sy_error_set(c->err, SY_INVALID, ENVELOPE_ERR_SCHEMA_MISMATCH, sy_buf_str(&b), "%s", msg);
    sy_buf_cleanup(&b);
    return SY_INVALID;
}

static const char *kind_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsObject(v))
        return "object";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsString(v))
        return "string";
    return "number";
}

static bool is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
}

static bool type_ok(unsigned types, const cJSON *v)
{
    if ((types & SCHEMA_T_NULL) && cJSON_IsNull(v))
        return true;
    if ((types & SCHEMA_T_BOOLEAN) && cJSON_IsBool(v))
        return true;
    if ((types & SCHEMA_T_OBJECT) && cJSON_IsObject(v))
        return true;
    if ((types & SCHEMA_T_ARRAY) && cJSON_IsArray(v))
        return true;
    if ((types & SCHEMA_T_STRING) && cJSON_IsString(v))
        return true;
    if ((types & SCHEMA_T_NUMBER) && cJSON_IsNumber(v))
        return true;
    return (types & SCHEMA_T_INTEGER) && is_integer(v);
}

static void type_list(unsigned types, char *out, size_t cap)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    out[0] = '\0';
    for (int i = 0; i < 7; i++)
        if (types & (1u << i))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " or " : "", names[i]);
}

static sy_status check_number(vctx *c, const schema_node *n, double d, const vpath *p)
{
    if (n->has_min && d < n->min)
        return fail(c, p, "must be >= %g", n->min);
    if (n->has_max && d > n->max)
        return fail(c, p, "must be <= %g", n->max);
    if (n->has_xmin && d <= n->xmin)
        return fail(c, p, "must be > %g", n->xmin);
    if (n->has_xmax && d >= n->xmax)
        return fail(c, p, "must be < %g", n->xmax);
    return SY_OK;
}

static bool is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; shape[i]; i++) {
        char ch = s[i];
        bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        if (shape[i] == '-' ? ch != '-' : !hex)
            return false;
    }
    return s[36] == '\0';
}

static sy_status check_string(vctx *c, const schema_node *n, const char *s, const vpath *p)
{
    if (n->min_len >= 0 || n->max_len >= 0) {
        long chars = 0; /* code points, as JSON Schema counts */
        for (const unsigned char *q = (const unsigned char *)s; *q; q++)
            chars += (*q & 0xC0) != 0x80;
        if (n->min_len >= 0 && chars < n->min_len)
            return fail(c, p, "must be at least %ld characters long", n->min_len);
        if (n->max_len >= 0 && chars > n->max_len)
            return fail(c, p, "must be at most %ld characters long", n->max_len);
    }
    if (n->has_pattern && regexec(&n->pattern, s, 0, NULL, 0) != 0)
        return fail(c, p, "must match the pattern %s", n->pattern_src);
    if (n->format == SCHEMA_FMT_UUID && !is_uuid(s))
        return fail(c, p, "must be a UUID");
    if (n->format == SCHEMA_FMT_DATE_TIME) {
        int64_t ms;
        sy_error e;
        if (sy_time_parse_rfc3339(s, NULL, &ms, &e) != SY_OK)
            return fail(c, p, "must be an RFC 3339 date-time (%s)", e.message);
    }
    return SY_OK;
}

static const schema_node *prop_schema(const schema_node *n, const char *key)
{
    for (size_t i = 0; i < n->nprops; i++)
        if (strcmp(n->props[i].name, key) == 0)
            return n->props[i].schema;
    return NULL;
}

static sy_status check_object(vctx *c, const schema_node *n, const cJSON *v, const vpath *p)
{
    for (size_t i = 0; i < n->nrequired; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(v, n->required[i])) {
            vpath sub = {p, n->required[i], 0};
            return fail(c, &sub, "required property is missing");
        }
    }
    for (const cJSON *m = v->child; m; m = m->next) {
        vpath sub = {p, m->string, 0};
        const schema_node *ps = prop_schema(n, m->string);
        if (!ps && n->no_additional)
            return fail(c, &sub, "property is not allowed (additionalProperties is false)");
        if (!ps)
            ps = n->additional;
        if (ps) {
            sy_status st = check(c, ps, m, &sub);
            if (st != SY_OK)
                return st;
        }
    }
    return SY_OK;
}

static sy_status check_array(vctx *c, const schema_node *n, const cJSON *v, const vpath *p)
{
    size_t count = 0;
    for (const cJSON *e = v->child; e; e = e->next, count++) {
        if (!n->items)
            continue;
        vpath sub = {p, NULL, count};
        sy_status st = check(c, n->items, e, &sub);
        if (st != SY_OK)
            return st;
    }
    if (n->min_items >= 0 && count < (size_t)n->min_items)
        return fail(c, p, "must have at least %ld items", n->min_items);
    if (n->max_items >= 0 && count > (size_t)n->max_items)
        return fail(c, p, "must have at most %ld items", n->max_items);
    return SY_OK;
}

static sy_status check_combinators(vctx *c, const schema_node *n, const cJSON *v, const vpath *p)
{
    for (size_t i = 0; i < n->nall_of; i++) {
        sy_status st = check(c, n->all_of[i], v, p);
        if (st != SY_OK)
            return st;
    }
    vctx quiet = {NULL, c->prefix, c->depth};
    if (n->nany_of) {
        size_t i = 0;
        while (i < n->nany_of && check(&quiet, n->any_of[i], v, p) != SY_OK)
            i++;
        if (i == n->nany_of)
            return fail(c, p, "must match at least one schema of anyOf");
    }
    if (n->none_of) {
        size_t matched = 0;
        for (size_t i = 0; i < n->none_of; i++)
            matched += check(&quiet, n->one_of[i], v, p) == SY_OK;
        if (matched != 1)
            return fail(c, p, "must match exactly one schema of oneOf (matched %zu)", matched);
    }
    return SY_OK;
}

static sy_status check_values(vctx *c, const schema_node *n, const cJSON *v, const vpath *p)
{
    if (n->const_value && !cJSON_Compare(v, n->const_value, true))
        return fail(c, p, "must equal the const value");
    if (n->enum_values) {
        const cJSON *e = n->enum_values->child;
        while (e && !cJSON_Compare(v, e, true))
            e = e->next;
        if (!e)
            return fail(c, p, "must be one of the enum values");
    }
    return SY_OK;
}

static sy_status check(vctx *c, const schema_node *n, const cJSON *v, const vpath *p)
{
    if (n->always_false)
        return fail(c, p, "no value is allowed here (schema false)");
    if (++c->depth > MAX_EVAL_DEPTH) {
        c->depth--;
        return fail(c, p, "schema nesting too deep (a $ref cycle?)");
    }
    sy_status st = SY_OK;
    if (n->types && !type_ok(n->types, v)) {
        char want[96];
        type_list(n->types, want, sizeof want);
        st = fail(c, p, "expected %s, got %s", want, kind_name(v));
    }
    if (st == SY_OK)
        st = check_values(c, n, v, p);
    if (st == SY_OK && cJSON_IsNumber(v))
        st = check_number(c, n, v->valuedouble, p);
    if (st == SY_OK && cJSON_IsString(v))
        st = check_string(c, n, v->valuestring, p);
    if (st == SY_OK && cJSON_IsObject(v))
        st = check_object(c, n, v, p);
    if (st == SY_OK && cJSON_IsArray(v))
        st = check_array(c, n, v, p);
    if (st == SY_OK && n->ref)
        st = check(c, n->ref, v, p);
    if (st == SY_OK)
        st = check_combinators(c, n, v, p);
    c->depth--;
    return st;
}

sy_status envelope__schema_validate(const schema_node *node, const cJSON *v,
                                    const char *path_prefix, sy_error *err)
{
    vctx c = {err, path_prefix, 0};
    return check(&c, node, v, NULL);
}

static const schema_doc *find_doc(const envelope_schemas *s, const char *type, int64_t version)
{
    size_t lo = 0, hi = s->ndocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const schema_doc *d = &s->docs[mid];
        int cmp = strcmp(type, d->type);
        if (cmp == 0)
            cmp = (version > d->version) - (version < d->version);
        if (cmp == 0)
            return d;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

sy_status envelope__schema_check(const envelope_schemas *s, const envelope *env, bool require,
                                 sy_error *err)
{
    const schema_doc *d = find_doc(s, env->type, env->schema_version);
    if (!d)
        return require ? sy_error_set(err, SY_INVALID, ENVELOPE_ERR_NO_SCHEMA, "schema_version",
                                      "no payload schema for type \"%s\" version %lld", env->type,
                                      (long long)env->schema_version)
                       : SY_OK;
    return envelope__schema_validate(d->root, env->payload, "payload", err);
}
