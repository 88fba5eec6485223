/* yaml.c: libyaml's event stream -> a tree of rnodes, each carrying its
 * file:line:col, so that every later error can point at the exact place.
 * Scalars are resolved with the YAML 1.2 core schema only: `yes`/`no`/`on`
 * stay strings, `010` is the integer 10 (not octal 8), sexagesimal numbers
 * do not exist. Aliases are refused (they would make one node appear at two
 * places, and "billion laughs" files would explode the tree). */
#include "rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

typedef struct yp {
    yaml_parser_t parser;
    rules_arena *a;
    const char *file;
    rules_diags *d;
    bool failed;
} yp;

static rnode *new_node(yp *p, rnode_kind k, const yaml_event_t *ev)
{
    rnode *n = rules__alloc(p->a, sizeof *n);
    n->kind = k;
    n->file = p->file;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

static bool next_event(yp *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(&p->parser, ev))
        return true;
    rules__diag_at(p->d, p->file, (int)p->parser.problem_mark.line + 1,
                   (int)p->parser.problem_mark.column + 1, "invalid YAML: %s%s%s",
                   p->parser.problem ? p->parser.problem : "syntax error",
                   p->parser.context ? " " : "", p->parser.context ? p->parser.context : "");
    p->failed = true;
    return false;
}

/* Appends to parent; capacity doubles so the arena wastes O(n). */
static void push(yp *p, rnode *parent, size_t *cap, rnode *key, rnode *val)
{
    size_t n = parent->n;
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        rnode **vals = rules__alloc(p->a, nc * sizeof *vals);
        if (n)
            memcpy(vals, parent->vals, n * sizeof *vals);
        parent->vals = vals;
        if (parent->kind == RN_MAP) {
            rnode **keys = rules__alloc(p->a, nc * sizeof *keys);
            if (n)
                memcpy(keys, parent->keys, n * sizeof *keys);
            parent->keys = keys;
        }
        *cap = nc;
    }
    parent->vals[n] = val;
    if (parent->kind == RN_MAP)
        parent->keys[n] = key;
    parent->n = n + 1;
}

static rnode *parse_node(yp *p, yaml_event_t *ev, int depth);

/* Reads children until the matching end event. */
static bool parse_children(yp *p, rnode *parent, int depth)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        if (!next_event(p, &ev))
            return false;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        rnode *key = NULL;
        if (parent->kind == RN_MAP) {
            key = parse_node(p, &ev, depth + 1);
            yaml_event_delete(&ev);
            if (!key)
                return false;
            if (key->kind != RN_SCALAR) {
                rules__diag(p->d, key, "mapping keys must be plain strings");
                p->failed = true;
                return false;
            }
            for (size_t i = 0; i < parent->n; i++)
                if (strcmp(parent->keys[i]->str, key->str) == 0) {
                    rules__diag(p->d, key, "duplicate key \"%s\" (first at line %d)", key->str,
                                parent->keys[i]->line);
                    p->failed = true;
                }
            if (!next_event(p, &ev))
                return false;
        }
        rnode *val = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val)
            return false;
        push(p, parent, &cap, key, val);
    }
}

static bool check_tag(yp *p, rnode *n, const char *tag)
{
    if (!tag || strcmp(tag, "!") == 0)
        return true;
    static const char *const core[] = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:map",
                                       "tag:yaml.org,2002:seq"};
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
        if (strcmp(tag, core[i]) == 0) {
            n->tag_str = i == 0;
            return true;
        }
    rules__diag(p->d, n, "unsupported tag \"%s\" (only !!str is allowed)", tag);
    p->failed = true;
    return false;
}

static rnode *parse_node(yp *p, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        rules__diag_at(p->d, p->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                       "nesting deeper than %d", MAX_DEPTH);
        p->failed = true;
        return NULL;
    }
    rnode *n;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = new_node(p, RN_SCALAR, ev);
        n->str = rules__strndup(p->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (strlen(n->str) != ev->data.scalar.length) {
            rules__diag(p->d, n, "NUL character in a string");
            p->failed = true;
            return NULL;
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!check_tag(p, n, (const char *)ev->data.scalar.tag))
            return NULL;
        if (n->tag_str)
            n->plain = false;
        return n;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        n = new_node(p, ev->type == YAML_MAPPING_START_EVENT ? RN_MAP : RN_SEQ, ev);
        if (!check_tag(p, n,
                       (const char *)(ev->type == YAML_MAPPING_START_EVENT
                                          ? ev->data.mapping_start.tag
                                          : ev->data.sequence_start.tag)))
            return NULL;
        return parse_children(p, n, depth) ? n : NULL;
    case YAML_ALIAS_EVENT:
        rules__diag_at(p->d, p->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                       "aliases (*%s) are not supported", (const char *)ev->data.alias.anchor);
        p->failed = true;
        return NULL;
    default:
        rules__diag_at(p->d, p->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                       "unexpected YAML event");
        p->failed = true;
        return NULL;
    }
}

/* Skips stream/document starts; returns the root node or NULL. */
static rnode *parse_document(yp *p)
{
    yaml_event_t ev;
    rnode *root = NULL;
    for (;;) {
        if (!next_event(p, &ev))
            return NULL;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
            t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return root;
        }
        if (root) {
            rules__diag_at(p->d, p->file, (int)ev.start_mark.line + 1,
                           (int)ev.start_mark.column + 1,
                           "more than one YAML document in one file");
            yaml_event_delete(&ev);
            p->failed = true;
            return NULL;
        }
        root = parse_node(p, &ev, 0);
        yaml_event_delete(&ev);
        if (!root)
            return NULL;
    }
}

rnode *rules__yaml_parse(rules_arena *a, const char *file, const char *text, size_t len,
                         rules_diags *d)
{
    yp p = {.a = a, .file = rules__strdup(a, file), .d = d};
    if (!yaml_parser_initialize(&p.parser))
        abort();
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
    rnode *root = parse_document(&p);
    yaml_parser_delete(&p.parser);
    if (p.failed)
        return NULL;
    if (!root || (root->kind == RN_SCALAR && root->plain && root->str[0] == '\0')) {
        root = rules__alloc(a, sizeof *root);
        root->kind = RN_MAP;
        root->file = p.file;
        root->line = root->col = 1;
    }
    return root;
}

/* ---- core schema ------------------------------------------------------------ */

static bool all_of(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

static bool is_float(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0)
        return true;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

rscalar_kind rules__scalar_kind(const rnode *n, bool *b, double *num)
{
    const char *s = n->str;
    if (!n->plain)
        return RS_STR;
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return RS_NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *b = true;
        return RS_BOOL;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *b = false;
        return RS_BOOL;
    }
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    if (all_of(d, "0123456789")) {
        *num = strtod(s, NULL);
        return RS_INT;
    }
    if (s[0] == '0' && s[1] == 'o' && all_of(s + 2, "01234567")) {
        *num = (double)strtoull(s + 2, NULL, 8);
        return RS_INT;
    }
    if (s[0] == '0' && s[1] == 'x' && all_of(s + 2, "0123456789abcdefABCDEF")) {
        *num = (double)strtoull(s + 2, NULL, 16);
        return RS_INT;
    }
    if (is_float(s)) {
        const char *q = (*s == '-' || *s == '+') ? s + 1 : s;
        *num = q[0] == '.' && (q[1] == 'i' || q[1] == 'I') ? (*s == '-' ? -INFINITY : INFINITY)
                                                           : strtod(s, NULL);
        return RS_FLOAT;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *num = NAN;
        return RS_FLOAT;
    }
    return RS_STR;
}

cJSON *rules__node_json(const rnode *n)
{
    if (n->kind == RN_SCALAR) {
        bool b = false;
        double num = 0;
        switch (rules__scalar_kind(n, &b, &num)) {
        case RS_NULL:
            return cJSON_CreateNull();
        case RS_BOOL:
            return cJSON_CreateBool(b);
        case RS_INT:
        case RS_FLOAT:
            return isfinite(num) ? cJSON_CreateNumber(num) : cJSON_CreateNull();
        case RS_STR:
            return cJSON_CreateString(n->str);
        }
    }
    cJSON *out = n->kind == RN_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!out)
        abort();
    for (size_t i = 0; i < n->n; i++) {
        cJSON *v = rules__node_json(n->vals[i]);
        if (!v)
            abort();
        if (n->kind == RN_MAP)
            cJSON_AddItemToObject(out, n->keys[i]->str, v);
        else
            cJSON_AddItemToArray(out, v);
    }
    return out;
}

const rnode *rules__map_get(const rnode *map, const char *key)
{
    if (!map || map->kind != RN_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->vals[i];
    return NULL;
}
