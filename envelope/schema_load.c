/* schema_load.c: finds payload schema files and builds envelope_schemas.
 *
 * Layout: <dir>/<type>/v<N>.json, where <dir> is the directory given or,
 * when it has an `events` subdirectory, <dir>/events (so both `schemas` and
 * `schemas/events` work). A directory whose name is not a valid event type,
 * or a .json file not named v<N>.json, is a configuration error rather than
 * silently ignored; other files (README.md, ...) are skipped. The result is
 * sorted by (type, version) for bsearch at validation time. */
#include "envelope_int.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_ERR "bad_schema"
#define SCHEMA_FILE_MAX (4 * 1024 * 1024)

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool valid_type_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* "v12.json" -> 12; 0 when the name is not of that form. */
static int64_t version_of(const char *name)
{
    if (name[0] != 'v' || name[1] < '1' || name[1] > '9')
        return 0;
    char *end;
    long long v = strtoll(name + 1, &end, 10);
    return strcmp(end, ".json") == 0 && v > 0 && v <= 2147483647 ? v : 0;
}

static sy_status read_file(const char *path, char **text, size_t *len, sy_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sy_error_set(err, SY_CONFIG, SCHEMA_ERR, path, "could not open \"%s\": %s", path,
                            strerror(errno));
    sy_buf b = SY_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= SCHEMA_FILE_MAX)
        sy_buf_append(&b, chunk, n);
    bool bad = ferror(f) || b.len > SCHEMA_FILE_MAX;
    fclose(f);
    if (bad) {
        sy_buf_cleanup(&b);
        return sy_error_set(err, SY_CONFIG, SCHEMA_ERR, path, "could not read \"%s\"", path);
    }
    *len = b.len;
    *text = sy_buf_take(&b);
    return SY_OK;
}

static sy_status load_file(envelope_schemas *s, const char *type, int64_t version, const char *path,
                           sy_error *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *json = NULL;
    sy_error e;
    sy_status st = read_file(path, &text, &len, err);
    char why[SY_ERROR_TEXT_MAX];
    if (st == SY_OK && (st = sy_json_parse(text, len, 64, NULL, &json, &e)) != SY_OK)
        st = sy_error_set(err, st == SY_NOMEM ? SY_NOMEM : SY_CONFIG, SCHEMA_ERR, path, "%s",
                          sy_error_text(&e, why, sizeof why));
    free(text);
    if (st != SY_OK)
        return st;
    schema_doc *nd = realloc(s->docs, (s->ndocs + 1) * sizeof *nd);
    if (!nd) {
        cJSON_Delete(json);
        return sy_error_set(err, SY_NOMEM, "nomem", path, "out of memory");
    }
    s->docs = nd;
    schema_doc *doc = &s->docs[s->ndocs++];
    memset(doc, 0, sizeof *doc);
    doc->version = version;
    doc->type = strdup(type);
    if (!doc->type) {
        cJSON_Delete(json);
        return sy_error_set(err, SY_NOMEM, "nomem", path, "out of memory");
    }
    return envelope__schema_compile(json, path, doc, err);
}

static sy_status load_type_dir(envelope_schemas *s, const char *dir, const char *type,
                               sy_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, type);
    DIR *d = opendir(path);
    if (!d)
        return sy_error_set(err, SY_CONFIG, SCHEMA_ERR, path, "could not open \"%s\": %s", path,
                            strerror(errno));
    sy_status st = SY_OK;
    struct dirent *e;
    while (st == SY_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char file[4096 + 256];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        int64_t v = version_of(e->d_name);
        st = v ? load_file(s, type, v, file, err)
               : sy_error_set(err, SY_CONFIG, SCHEMA_ERR, file,
                              "%s: a payload schema must be named v<N>.json", file);
    }
    closedir(d);
    return st;
}

static int doc_cmp(const void *a, const void *b)
{
    const schema_doc *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static sy_status load_dir(envelope_schemas *s, const char *dir, sy_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return sy_error_set(err, SY_CONFIG, SCHEMA_ERR, dir,
                            "could not open schema directory \"%s\": %s", dir, strerror(errno));
    sy_status st = SY_OK;
    struct dirent *e;
    while (st == SY_OK && (e = readdir(d))) {
        char path[4096 + 256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!is_dir(path))
            continue;
        st = valid_type_name(e->d_name)
                 ? load_type_dir(s, dir, e->d_name, err)
                 : sy_error_set(err, SY_CONFIG, SCHEMA_ERR, path,
                                "%s: directory name is not an event type", path);
    }
    closedir(d);
    return st;
}

sy_status envelope_schemas_load(const char *dir, envelope_schemas **out, sy_error *err)
{
    *out = NULL;
    envelope_schemas *s = calloc(1, sizeof *s);
    if (!s)
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    char events[4096];
    snprintf(events, sizeof events, "%s/events", dir);
    sy_status st = load_dir(s, is_dir(events) ? events : dir, err);
    if (st != SY_OK) {
        envelope_schemas_free(s);
        return st;
    }
    if (s->ndocs > 1)
        qsort(s->docs, s->ndocs, sizeof *s->docs, doc_cmp);
    *out = s;
    return SY_OK;
}

void envelope_schemas_free(envelope_schemas *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ndocs; i++)
        envelope__schema_doc_cleanup(&s->docs[i]);
    free(s->docs);
    free(s);
}
