/* schema_compile.c: loads payload schemas from schemas/events/<type>/v<N>.json
 * and compiles the JSON Schema subset of envelope/README.md into
 * schema_node trees, once, at load.
 *
 * Compiling up front means a schema error is a configuration error at start
 * (SY_CONFIG, file and schema location), never a surprise on the first
 * event, and validation does no parsing: regexes are regcomp'd, `$ref`s are
 * resolved to node pointers (so recursive $defs work), and unknown keywords
 * are refused so a typo like "requried" cannot silently accept everything. */
#include "envelope_int.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_ERR "bad_schema"
#define SCHEMA_MAX_DEPTH 64

typedef struct def_entry {
    const char *name; /* borrowed from the schema tree */
    schema_node *node;
} def_entry;

typedef struct compiler {
    schema_doc *doc;
    def_entry *defs;
    size_t ndefs;
    const char *file;
    sy_error *err;
} compiler;

static sy_status compile_node(compiler *c, const cJSON *j, schema_node *n, const char *loc);

static sy_status cerr(compiler *c, const char *loc, const char *fmt, const char *arg)
{
    char msg[SY_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return sy_error_set(c->err, SY_CONFIG, SCHEMA_ERR, c->file, "%s: at %s: %s", c->file,
                        *loc ? loc : "/", msg);
}

static schema_node *new_node(compiler *c)
{
    schema_doc *d = c->doc;
    schema_node **nn = realloc(d->nodes, (d->nnodes + 1) * sizeof *nn);
    if (!nn)
        return NULL;
    d->nodes = nn;
    schema_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->min_len = n->max_len = n->min_items = n->max_items = -1;
    d->nodes[d->nnodes++] = n;
    return n;
}

/* Compiles j as a new child node at loc + "/" + key. */
static sy_status child(compiler *c, const cJSON *j, const char *loc, const char *key,
                       schema_node **out)
{
    char sub[SY_ERROR_PATH_MAX];
    snprintf(sub, sizeof sub, "%s/%s", loc, key);
    *out = new_node(c);
    if (!*out)
        return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    return compile_node(c, j, *out, sub);
}

/* ---- keyword handlers ----------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"null", SCHEMA_T_NULL},       {"boolean", SCHEMA_T_BOOLEAN}, {"object", SCHEMA_T_OBJECT},
    {"array", SCHEMA_T_ARRAY},     {"number", SCHEMA_T_NUMBER},   {"string", SCHEMA_T_STRING},
    {"integer", SCHEMA_T_INTEGER},
};

static sy_status kw_type(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    const cJSON *one = v;
    bool arr = cJSON_IsArray(v);
    for (one = arr ? v->child : v; one; one = arr ? one->next : NULL) {
        unsigned bit = 0;
        for (size_t i = 0; cJSON_IsString(one) && i < sizeof type_names / sizeof *type_names; i++)
            if (strcmp(one->valuestring, type_names[i].name) == 0)
                bit = type_names[i].bit;
        if (!bit)
            return cerr(c, loc, "\"type\" must be a type name or an array of them%s", NULL);
        n->types |= bit;
    }
    return n->types ? SY_OK : cerr(c, loc, "\"type\" must not be empty%s", NULL);
}

static sy_status kw_properties(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (!cJSON_IsObject(v))
        return cerr(c, loc, "\"properties\" must be an object%s", NULL);
    size_t count = (size_t)cJSON_GetArraySize(v);
    n->props = calloc(count ? count : 1, sizeof *n->props);
    if (!n->props)
        return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    char sub[SY_ERROR_PATH_MAX];
    snprintf(sub, sizeof sub, "%s/properties", loc);
    for (const cJSON *p = v->child; p; p = p->next) {
        schema_prop *sp = &n->props[n->nprops++];
        sp->name = strdup(p->string);
        if (!sp->name)
            return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
        sy_status st = child(c, p, sub, p->string, &sp->schema);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

static sy_status kw_required(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (!cJSON_IsArray(v))
        return cerr(c, loc, "\"required\" must be an array of strings%s", NULL);
    size_t count = (size_t)cJSON_GetArraySize(v);
    n->required = calloc(count ? count : 1, sizeof *n->required);
    if (!n->required)
        return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    for (const cJSON *r = v->child; r; r = r->next) {
        if (!cJSON_IsString(r))
            return cerr(c, loc, "\"required\" must be an array of strings%s", NULL);
        if (!(n->required[n->nrequired++] = strdup(r->valuestring)))
            return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    }
    return SY_OK;
}

static sy_status kw_additional(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (cJSON_IsFalse(v)) {
        n->no_additional = true;
        return SY_OK;
    }
    return child(c, v, loc, "additionalProperties", &n->additional);
}

static sy_status kw_enum(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (!cJSON_IsArray(v) || !v->child)
        return cerr(c, loc, "\"enum\" must be a non-empty array%s", NULL);
    n->enum_values = v;
    return SY_OK;
}

static sy_status kw_const(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    (void)c;
    (void)loc;
    n->const_value = v;
    return SY_OK;
}

static sy_status number_arg(compiler *c, const cJSON *v, const char *kw, const char *loc,
                            double *out)
{
    if (!cJSON_IsNumber(v))
        return cerr(c, loc, "\"%s\" must be a number", kw);
    *out = v->valuedouble;
    return SY_OK;
}

static sy_status count_arg(compiler *c, const cJSON *v, const char *kw, const char *loc, long *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble > 1e9)
        return cerr(c, loc, "\"%s\" must be a non-negative integer", kw);
    *out = (long)v->valuedouble;
    return SY_OK;
}

static sy_status kw_pattern(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (!cJSON_IsString(v))
        return cerr(c, loc, "\"pattern\" must be a string%s", NULL);
    int rc = regcomp(&n->pattern, v->valuestring, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &n->pattern, why, sizeof why);
        return cerr(c, loc, "\"pattern\" is not a POSIX extended regex: %s", why);
    }
    n->has_pattern = true;
    n->pattern_src = strdup(v->valuestring);
    return n->pattern_src ? SY_OK
                          : sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
}

static sy_status kw_format(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    if (cJSON_IsString(v) && strcmp(v->valuestring, "date-time") == 0)
        n->format = SCHEMA_FMT_DATE_TIME;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "uuid") == 0)
        n->format = SCHEMA_FMT_UUID;
    else
        return cerr(c, loc, "\"format\" must be \"date-time\" or \"uuid\"%s", NULL);
    return SY_OK;
}

static sy_status kw_ref(compiler *c, const cJSON *v, schema_node *n, const char *loc)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (strcmp(s, "#") == 0) {
        n->ref = c->doc->root;
        return SY_OK;
    }
    if (strncmp(s, "#/$defs/", 8) == 0)
        for (size_t i = 0; i < c->ndefs; i++)
            if (strcmp(c->defs[i].name, s + 8) == 0) {
                n->ref = c->defs[i].node;
                return SY_OK;
            }
    return cerr(c, loc, "\"$ref\" must be \"#\" or \"#/$defs/<name>\" of this file, not \"%s\"", s);
}

static sy_status kw_list(compiler *c, const cJSON *v, const char *kw, const char *loc,
                         schema_node ***out, size_t *n)
{
    if (!cJSON_IsArray(v) || !v->child)
        return cerr(c, loc, "\"%s\" must be a non-empty array of schemas", kw);
    *out = calloc((size_t)cJSON_GetArraySize(v), sizeof **out);
    if (!*out)
        return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    char sub[SY_ERROR_PATH_MAX];
    snprintf(sub, sizeof sub, "%s/%s", loc, kw);
    for (const cJSON *s = v->child; s; s = s->next) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", *n);
        sy_status st = child(c, s, sub, idx, &(*out)[*n]);
        (*n)++;
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

static bool annotation(const char *k)
{
    static const char *const names[] = {"$schema",     "$id",      "$comment", "title",
                                        "description", "default",  "examples", "deprecated",
                                        "readOnly",    "writeOnly"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(k, names[i]) == 0)
            return true;
    return false;
}

static sy_status numeric_kw(compiler *c, const cJSON *v, schema_node *n, const char *loc,
                            bool *handled)
{
    const char *k = v->string;
    *handled = true;
    if (strcmp(k, "minimum") == 0)
        return n->has_min = true, number_arg(c, v, k, loc, &n->min);
    if (strcmp(k, "maximum") == 0)
        return n->has_max = true, number_arg(c, v, k, loc, &n->max);
    if (strcmp(k, "exclusiveMinimum") == 0)
        return n->has_xmin = true, number_arg(c, v, k, loc, &n->xmin);
    if (strcmp(k, "exclusiveMaximum") == 0)
        return n->has_xmax = true, number_arg(c, v, k, loc, &n->xmax);
    if (strcmp(k, "minLength") == 0)
        return count_arg(c, v, k, loc, &n->min_len);
    if (strcmp(k, "maxLength") == 0)
        return count_arg(c, v, k, loc, &n->max_len);
    if (strcmp(k, "minItems") == 0)
        return count_arg(c, v, k, loc, &n->min_items);
    if (strcmp(k, "maxItems") == 0)
        return count_arg(c, v, k, loc, &n->max_items);
    *handled = false;
    return SY_OK;
}

static sy_status keyword(compiler *c, const cJSON *v, schema_node *n, const char *loc, bool root)
{
    const char *k = v->string;
    bool handled;
    sy_status st = numeric_kw(c, v, n, loc, &handled);
    if (handled || annotation(k))
        return st;
    if (strcmp(k, "type") == 0)
        return kw_type(c, v, n, loc);
    if (strcmp(k, "properties") == 0)
        return kw_properties(c, v, n, loc);
    if (strcmp(k, "required") == 0)
        return kw_required(c, v, n, loc);
    if (strcmp(k, "additionalProperties") == 0)
        return kw_additional(c, v, n, loc);
    if (strcmp(k, "enum") == 0)
        return kw_enum(c, v, n, loc);
    if (strcmp(k, "const") == 0)
        return kw_const(c, v, n, loc);
    if (strcmp(k, "pattern") == 0)
        return kw_pattern(c, v, n, loc);
    if (strcmp(k, "format") == 0)
        return kw_format(c, v, n, loc);
    if (strcmp(k, "$ref") == 0)
        return kw_ref(c, v, n, loc);
    if (strcmp(k, "items") == 0)
        return child(c, v, loc, "items", &n->items);
    if (strcmp(k, "allOf") == 0)
        return kw_list(c, v, k, loc, &n->all_of, &n->nall_of);
    if (strcmp(k, "anyOf") == 0)
        return kw_list(c, v, k, loc, &n->any_of, &n->nany_of);
    if (strcmp(k, "oneOf") == 0)
        return kw_list(c, v, k, loc, &n->one_of, &n->none_of);
    if (strcmp(k, "$defs") == 0 && root)
        return SY_OK; /* compiled first, by compile_defs */
    return cerr(c, loc, "unsupported keyword \"%s\"", k);
}

static sy_status compile_node(compiler *c, const cJSON *j, schema_node *n, const char *loc)
{
    if (cJSON_IsBool(j)) {
        n->always_false = cJSON_IsFalse(j);
        return SY_OK;
    }
    if (!cJSON_IsObject(j))
        return cerr(c, loc, "a schema must be an object or a boolean%s", NULL);
    bool root = j == c->doc->json;
    for (const cJSON *kw = j->child; kw; kw = kw->next) {
        sy_status st = keyword(c, kw, n, loc, root);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

/* Allocates a node per $defs entry first, so $refs (even recursive ones)
 * resolve to pointers while compiling. */
static sy_status compile_defs(compiler *c)
{
    const cJSON *defs = sy_json_get(c->doc->json, "$defs");
    if (!defs)
        return SY_OK;
    if (!cJSON_IsObject(defs))
        return cerr(c, "", "\"$defs\" must be an object%s", NULL);
    c->defs = calloc((size_t)cJSON_GetArraySize(defs) + 1, sizeof *c->defs);
    if (!c->defs)
        return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    for (const cJSON *d = defs->child; d; d = d->next) {
        c->defs[c->ndefs].name = d->string;
        if (!(c->defs[c->ndefs++].node = new_node(c)))
            return sy_error_set(c->err, SY_NOMEM, "nomem", c->file, "out of memory");
    }
    for (size_t i = 0; i < c->ndefs; i++) {
        char loc[SY_ERROR_PATH_MAX];
        snprintf(loc, sizeof loc, "/$defs/%s", c->defs[i].name);
        sy_status st = compile_node(c, sy_json_get(defs, c->defs[i].name), c->defs[i].node, loc);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

sy_status envelope__schema_compile(cJSON *json, const char *file, schema_doc *doc, sy_error *err)
{
    compiler c = {doc, NULL, 0, file, err};
    doc->json = json;
    sy_status st = (doc->root = new_node(&c))
                       ? SY_OK
                       : sy_error_set(err, SY_NOMEM, "nomem", file, "out of memory");
    if (st == SY_OK)
        st = compile_defs(&c);
    if (st == SY_OK)
        st = compile_node(&c, json, doc->root, "");
    free(c.defs);
    return st;
}

void envelope__schema_doc_cleanup(schema_doc *doc)
{
    for (size_t i = 0; i < doc->nnodes; i++) {
        schema_node *n = doc->nodes[i];
        for (size_t p = 0; p < n->nprops; p++)
            free(n->props[p].name);
        for (size_t r = 0; r < n->nrequired; r++)
            free(n->required[r]);
        if (n->has_pattern)
            regfree(&n->pattern);
        free(n->pattern_src);
        free(n->props);
        free(n->required);
        free(n->all_of);
        free(n->any_of);
        free(n->one_of);
        free(n);
    }
    free(doc->nodes);
    cJSON_Delete(doc->json);
    free(doc->type);
    memset(doc, 0, sizeof *doc);
}
