/* load.c: rules_load. Reads a file or a directory of files, parses each
 * into a node tree (yaml.c), then validates the sections in dependency
 * order across all files: workflows (routes and schedules refer to them),
 * schedules, routes, tests. Every error is collected; a set with any error
 * is freed whole and never returned. */
#include "closest.h"
#include "rules_int.h"

#include "duration.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (16u << 20)

bool rules__check_node_templates(rules_loader *ld, const rnode *n, const rules_root *roots,
                                 size_t nroots)
{
    bool ok = true;
    if (n->kind == RN_SCALAR) {
        sy_error e;
        if (!rules__template_check(n->str, roots, nroots, &e)) {
            rules__diag(ld->d, n, "%s", e.message);
            return false;
        }
        return true;
    }
    for (size_t i = 0; i < n->n; i++)
        ok = rules__check_node_templates(ld, n->vals[i], roots, nroots) && ok;
    return ok;
}

/* ---- top level ------------------------------------------------------------------ */

static const char *const top_keys[] = {"version",   "defaults",  "routes",
                                       "workflows", "schedules", "tests"};

static void load_defaults(rules_loader *ld, const rnode *n)
{
    static const char *const keys[] = {"unmatched", "if_running", "if_closed"};
    static const char *const unmatched[] = {"ack", "dead_letter"};
    static const char *const running[] = {"use_existing", "fail", "terminate_existing"};
    static const char *const closed[] = {"allow", "allow_failed_only", "reject"};
    if (ld->defaults_seen) {
        rules__diag(ld->d, n, "defaults defined in more than one file");
        return;
    }
    ld->defaults_seen = true;
    if (!rules__expect_kind(ld, n, RN_MAP, "defaults"))
        return;
    rules__check_keys(ld, n, "defaults", keys, 3);
    const rnode *v;
    int i;
    if ((v = rules__map_get(n, "unmatched")) &&
        (i = rules__get_enum(ld, v, "unmatched", unmatched, 2)) >= 0)
        ld->set->unmatched_dead_letter = i == 1;
    if ((v = rules__map_get(n, "if_running")) &&
        (i = rules__get_enum(ld, v, "if_running", running, 3)) >= 0)
        ld->def_if_running = (rules_if_running)i;
    if ((v = rules__map_get(n, "if_closed")) &&
        (i = rules__get_enum(ld, v, "if_closed", closed, 3)) >= 0)
        ld->def_if_closed = (rules_if_closed)i;
}

static void load_top(rules_loader *ld, const rnode *root)
{
    if (!rules__expect_kind(ld, root, RN_MAP, "a rules file"))
        return;
    rules__check_keys(ld, root, "the rules file", top_keys, sizeof top_keys / sizeof *top_keys);
    const rnode *v = rules__map_get(root, "version");
    int64_t version;
    if (v && rules__get_int(ld, v, "version", 1, &version) && version != 1)
        rules__diag(ld->d, v, "unsupported version %lld (this switchyard reads version 1)",
                    (long long)version);
    if ((v = rules__map_get(root, "defaults")))
        load_defaults(ld, v);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rules_file_name(const char *n)
{
    size_t len = strlen(n);
    if (n[0] == '.')
        return false;
    return (len > 5 && !strcmp(n + len - 5, ".yaml")) ||
           (len > 4 && !strcmp(n + len - 4, ".yml")) || (len > 5 && !strcmp(n + len - 5, ".json"));
}

/* Lists the files to load (sorted when path is a directory). Owned. */
static char **list_files(const char *path, size_t *count, rules_diags *d)
{
    struct stat st;
    *count = 0;
    if (stat(path, &st) != 0) {
        rules__diag_at(d, path, 1, 1, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char **files = NULL;
    if (!S_ISDIR(st.st_mode)) {
        files = malloc(sizeof *files);
        files[0] = strdup(path);
        *count = 1;
        return files;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        rules__diag_at(d, path, 1, 1, "cannot open directory: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!rules_file_name(e->d_name))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            files = realloc(files, cap * sizeof *files);
        }
        sy_buf b = SY_BUF_INIT;
        sy_buf_printf(&b, "%s/%s", path, e->d_name);
        files[(*count)++] = sy_buf_take(&b);
    }
    closedir(dir);
    if (*count == 0)
        rules__diag_at(d, path, 1, 1, "no *.yaml, *.yml or *.json files in the directory");
    else
        qsort(files, *count, sizeof *files, name_cmp);
    return files;
}

static char *read_file(const char *path, size_t *len, rules_diags *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rules__diag_at(d, path, 1, 1, "cannot open: %s", strerror(errno));
        return NULL;
    }
    sy_buf b = SY_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= MAX_FILE_BYTES)
        sy_buf_append(&b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad || b.len > MAX_FILE_BYTES) {
        rules__diag_at(d, path, 1, 1, bad ? "read error" : "file larger than 16 MiB");
        sy_buf_cleanup(&b);
        return NULL;
    }
    *len = b.len;
    return sy_buf_take(&b);
}

/* Parses every file into nodes; feeds the content hash. */
static rnode **parse_files(rules_set *set, char **files, size_t count, rules_diags *d,
                           crypto_hash_sha256_state *h)
{
    rnode **roots = rules__alloc(&set->arena, (count ? count : 1) * sizeof *roots);
    for (size_t i = 0; i < count; i++) {
        size_t len = 0;
        char *text = read_file(files[i], &len, d);
        if (!text)
            continue;
        crypto_hash_sha256_update(h, (const unsigned char *)files[i], strlen(files[i]) + 1);
        crypto_hash_sha256_update(h, (const unsigned char *)text, len);
        roots[i] = rules__yaml_parse(&set->arena, files[i], text, len, d);
        free(text);
    }
    return roots;
}

void rules_set_free(rules_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nroutes; i++) {
        cJSON_Delete(set->routes[i].input_tmpl);
        cJSON_Delete(set->routes[i].payload_tmpl);
    }
    free(set->routes);
    for (size_t i = 0; i < set->ntests; i++) {
        cJSON_Delete(set->tests[i].event);
        cJSON_Delete(set->tests[i].expect);
        for (size_t j = 0; j < set->tests[i].nsteps; j++) {
            cJSON_Delete(set->tests[i].steps[j].fired);
            cJSON_Delete(set->tests[i].steps[j].event);
            cJSON_Delete(set->tests[i].steps[j].expect);
            cJSON_Delete(set->tests[i].steps[j].correlated);
        }
        free(set->tests[i].steps);
    }
    free(set->tests);
    cJSON_Delete(set->workflows);
    cJSON_Delete(set->schedules);
    cJSON_Delete(set->corr_types);
    cJSON_Delete(set->join_types);
    rules__index_free(set->index);
    rules__arena_free(&set->arena);
    free(set);
}

/* Runs every section over every file, in dependency order. */
static void load_sections(rules_loader *ld, rnode **roots, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (roots[i])
            load_top(ld, roots[i]);
    static const char *const order[] = {"workflows", "schedules", "routes", "tests"};
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < count; i++) {
            const rnode *v = roots[i] ? rules__map_get(roots[i], order[s]) : NULL;
            if (!v || (v->kind == RN_SCALAR && v->plain && !*v->str))
                continue; /* an empty section is allowed */
            if (s == 0)
                rules__load_workflows(ld, v);
            else if (s == 1)
                rules__load_schedules(ld, v);
            else if (s == 2)
                rules__load_routes(ld, v);
            else
                rules__load_tests(ld, v);
        }
}

/* A diagnostic's position, for sorting: "file:line:col: ...". */
typedef struct diag_key {
    const char *text;
    size_t file_len, index;
    long line, col;
} diag_key;

static void diag_position(diag_key *k)
{
    for (const char *p = k->text; *p; p++) {
        char *e1, *e2;
        if (*p != ':' || p[1] < '0' || p[1] > '9')
            continue;
        long line = strtol(p + 1, &e1, 10);
        if (*e1 != ':' || e1[1] < '0' || e1[1] > '9')
            continue;
        long col = strtol(e1 + 1, &e2, 10);
        if (*e2 != ':')
            continue;
        k->file_len = (size_t)(p - k->text);
        k->line = line;
        k->col = col;
        return;
    }
}

static int diag_cmp(const void *a, const void *b)
{
    const diag_key *x = a, *y = b;
    size_t n = x->file_len < y->file_len ? x->file_len : y->file_len;
    int c = strncmp(x->text, y->text, n);
    if (c == 0 && x->file_len != y->file_len)
        c = x->file_len < y->file_len ? -1 : 1;
    if (c == 0)
        c = x->line != y->line ? (x->line < y->line ? -1 : 1)
            : x->col != y->col ? (x->col < y->col ? -1 : 1)
                               : 0;
    if (c == 0)
        c = x->index < y->index ? -1 : x->index > y->index;
    return c;
}

/* Appends d's lines to out in file, line, column order (stable). */
static void copy_sorted(const rules_diags *d, rules_diags *out)
{
    diag_key *keys = calloc(d->len ? d->len : 1, sizeof *keys);
    if (!keys)
        abort();
    for (size_t i = 0; i < d->len; i++) {
        keys[i].text = d->lines[i];
        keys[i].index = i;
        diag_position(&keys[i]);
    }
    qsort(keys, d->len, sizeof *keys, diag_cmp);
    for (size_t i = 0; i < d->len; i++)
        rules__diag_add(out, keys[i].text);
    free(keys);
}

static sy_status finish(rules_set *set, crypto_hash_sha256_state *h, rules_diags *d,
                        rules_diags *out_diags, rules_set **out, sy_error *err)
{
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(h, sum);
    for (size_t i = 0; i < sizeof sum; i++)
        snprintf(set->hash + 2 * i, 3, "%02x", sum[i]);
    rules__collect_corr_types(set);
    set->order_free = rules__order_free(set);
    if (d->len == 0 && rules__index_build(set) != SY_OK)
        rules__diag_add(d, "out of memory building the route index");
    sy_status st = SY_OK;
    rules_diags sorted = {0};
    copy_sorted(d, &sorted);
    if (sorted.len) {
        sy_error_set(err, SY_CONFIG, "bad_rules", NULL, "%s", sorted.lines[0]);
        rules_set_free(set);
        st = SY_CONFIG;
    } else {
        *out = set;
    }
    for (size_t i = 0; i < sorted.len; i++)
        rules__diag_add(out_diags, sorted.lines[i]);
    rules_diags_cleanup(&sorted);
    rules_diags_cleanup(d);
    return st;
}

sy_status rules_load(const char *path, const rules_load_opts *opts, rules_set **out,
                     rules_diags *diags, sy_error *err)
{
    *out = NULL;
    rules_diags d = {0};
    rules_load_opts defopts = {0};
    rules_set *set = calloc(1, sizeof *set);
    if (!set)
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    set->unmatched_dead_letter = (opts ? opts : &defopts)->unmatched_dead_letter;
    set->workflows = cJSON_CreateObject();
    set->schedules = cJSON_CreateArray();
    rules_loader ld = {.set = set, .d = &d, .opts = opts ? opts : &defopts};
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    size_t count = 0;
    char **files = list_files(path, &count, &d);
    rnode **roots = parse_files(set, files, count, &d, &h);
    for (size_t i = 0; i < count; i++)
        free(files[i]);
    free(files);
    if (d.len == 0)
        load_sections(&ld, roots, count);
    cJSON_Delete(ld.queue_limits);
    return finish(set, &h, &d, diags, out, err);
}

const char *rules_set_hash(const rules_set *set)
{
    return set->hash;
}

bool rules_set_unmatched_dead_letter(const rules_set *set)
{
    return set->unmatched_dead_letter;
}

const cJSON *rules_set_workflows(const rules_set *set)
{
    return set->workflows;
}

const cJSON *rules_set_schedules(const rules_set *set)
{
    return set->schedules;
}
