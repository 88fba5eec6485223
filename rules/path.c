/* path.c: paths into a JSON context, shared by `where` expressions and
 * {{ }} templates: `payload.items[0].id`, `steps.fetch.result`,
 * `payload["odd key"]`. A path that does not resolve is NULL (the callers
 * treat it as JSON null), never an error. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

/* Reads a quoted key at *p ("..." or '...', backslash escapes the quote). */
static char *quoted_key(rules_arena *a, const char **p, char *msg, size_t cap)
{
    char q = **p;
    sy_buf b = SY_BUF_INIT;
    const char *s = *p + 1;
    for (; *s && *s != q; s++) {
        if (*s == '\\' && s[1])
            s++;
        sy_buf_putc(&b, *s);
    }
    if (*s != q) {
        snprintf(msg, cap, "unterminated string in path");
        sy_buf_cleanup(&b);
        return NULL;
    }
    *p = s + 1;
    char *out = rules__strdup(a, sy_buf_str(&b));
    sy_buf_cleanup(&b);
    return out;
}

static bool add_seg(rules_arena *a, rpath *path, size_t *cap, const char *key, long index)
{
    if (path->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        rpath_seg *segs = rules__alloc(a, nc * sizeof *segs);
        if (path->n)
            memcpy(segs, path->segs, path->n * sizeof *segs);
        path->segs = segs;
        *cap = nc;
    }
    path->segs[path->n].key = key;
    path->segs[path->n].index = index;
    path->n++;
    return true;
}

static bool parse_bracket(rules_arena *a, rpath *path, size_t *cap, const char **p, char *msg,
                          size_t msgcap)
{
    const char *s = *p + 1;
    while (*s == ' ')
        s++;
    if (*s == '"' || *s == '\'') {
        char *key = quoted_key(a, &s, msg, msgcap);
        if (!key)
            return false;
        add_seg(a, path, cap, key, 0);
    } else if (*s >= '0' && *s <= '9') {
        char *end;
        long idx = strtol(s, &end, 10);
        if (idx < 0 || idx > 1000000000L) {
            snprintf(msg, msgcap, "array index out of range");
            return false;
        }
        add_seg(a, path, cap, NULL, idx);
        s = end;
    } else {
        snprintf(msg, msgcap, "expected an array index or a quoted key after \"[\"");
        return false;
    }
    while (*s == ' ')
        s++;
    if (*s != ']') {
        snprintf(msg, msgcap, "expected \"]\"");
        return false;
    }
    *p = s + 1;
    return true;
}

rpath *rules__path_parse(rules_arena *a, const char **p, char *msg, size_t msgcap)
{
    const char *s = *p;
    if (!ident_start(*s)) {
        snprintf(msg, msgcap, "expected a path");
        return NULL;
    }
    rpath *path = rules__alloc(a, sizeof *path);
    size_t cap = 0;
    for (;;) {
        const char *start = s;
        while (ident_char(*s))
            s++;
        add_seg(a, path, &cap, rules__strndup(a, start, (size_t)(s - start)), 0);
        while (*s == '[')
            if (!parse_bracket(a, path, &cap, &s, msg, msgcap))
                return NULL;
        if (*s != '.' || !ident_start(s[1]))
            break;
        s++;
    }
    path->text = rules__strndup(a, *p, (size_t)(s - *p));
    *p = s;
    return path;
}

const cJSON *rules__path_get(const rpath *path, const cJSON *ctx)
{
    const cJSON *cur = ctx;
    for (size_t i = 0; cur && i < path->n; i++) {
        const rpath_seg *sg = &path->segs[i];
        if (sg->key)
            cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, sg->key) : NULL;
        else
            cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)sg->index) : NULL;
    }
    return cur;
}
