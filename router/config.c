/* config.c: the YAML configuration of `switchyard serve` (config.h).
 *
 * libyaml loads the file into a document (nodes with line/column marks);
 * a table of known sections and keys, each with a type and an offset into
 * router_config, drives both the YAML walk and the SWITCHYARD_* environment
 * overrides, so the two cannot disagree about names or value syntax. */
#include "config.h"

#include "buf.h"
#include "duration.h"

#include <yaml.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { F_STR, F_PATH, F_STRLIST, F_BOOL, F_INT, F_DUR, F_DURLIST, F_SIZE, F_ENUM } ftype;

typedef struct field {
    const char *key;
    ftype type;
    size_t off;
    int64_t min, max;            /* F_INT / F_SIZE / F_DUR bounds */
    const char *const *choices;  /* F_ENUM: NULL-terminated, value = index */
} field;

typedef struct section {
    const char *name;
    const field *fields;
} section;

#define OFF(m) offsetof(router_config, m)
#define BIG INT64_MAX
/* One table row: a plain field, a bounded number, an enum; the end mark. */
#define F(key, type, member) {key, type, OFF(member), 0, 0, NULL}
#define FR(key, type, member, lo, hi) {key, type, OFF(member), lo, hi, NULL}
#define FE(key, member, choices) {key, F_ENUM, OFF(member), 0, 0, choices}
#define F_END {NULL, F_STR, 0, 0, 0, NULL}

static const char *const storage_choices[] = {"file", "memory", NULL};
static const char *const unmatched_choices[] = {"ack", "dead_letter", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error", "off", NULL};

static const field nats_fields[] = {
    F("urls", F_STRLIST, nats_urls),
    F("credentials_file", F_PATH, nats_credentials_file),
    F("nkey_seed_file", F_PATH, nats_nkey_seed_file),
    F("nkey_public", F_STR, nats_nkey_public),
    F("user", F_STR, nats_user),
    F("password_file", F_PATH, nats_password_file),
    F("token_file", F_PATH, nats_token_file),
    F("name", F_STR, nats_name),
    F_END,
};
static const field tls_fields[] = {
    F("enabled", F_BOOL, nats_tls),
    F("ca_file", F_PATH, nats_tls_ca_file),
    F("cert_file", F_PATH, nats_tls_cert_file),
    F("key_file", F_PATH, nats_tls_key_file),
    F_END,
};
static const field pg_fields[] = {
    F("conninfo", F_STR, pg_conninfo),
    F("password_file", F_PATH, pg_password_file),
    F("passfile", F_PATH, pg_passfile),
    F("schema", F_STR, pg_schema),
    F("migrate", F_BOOL, pg_migrate),
    F_END,
};
static const field stream_fields[] = {
    F("name", F_STR, stream_name),
    F("subjects", F_STRLIST, stream_subjects),
    F("create", F_BOOL, stream_create),
    FE("storage", stream_storage, storage_choices),
    FR("max_age", F_DUR, stream_max_age_ms, 0, BIG),
    FR("duplicate_window", F_DUR, stream_duplicate_window_ms, 0, BIG),
    F("outcomes_name", F_STR, outcomes_stream),
    F("outcomes_subjects", F_STRLIST, outcomes_subjects),
    F_END,
};
static const field consumer_fields[] = {
    F("name", F_STR, consumer_name),
    FR("pipelines", F_INT, pipelines, 1, 64),
    FR("batch_size", F_INT, batch_size, 1, 10000),
    FR("fetch_wait", F_DUR, fetch_wait_ms, 1, 60000),
    FR("ack_wait", F_DUR, ack_wait_ms, 1000, 86400000),
    FR("max_deliver", F_INT, max_deliver, -1, 1000000),
    FR("backoff", F_DURLIST, backoff, 1, 86400000),
    FR("nak_delay", F_DUR, nak_delay_ms, 0, 3600000),
    FR("in_progress_every", F_DUR, in_progress_every_ms, 100, 3600000),
    F("order", F_BOOL, order),
    FR("order_max_hold", F_DUR, order_max_hold_ms, 1000, 86400000),
    F_END,
};
static const field limits_fields[] = {
    FR("max_event_bytes", F_SIZE, max_event_bytes, 64, 64 << 20),
    FR("max_input_bytes", F_SIZE, max_input_bytes, 64, 64 << 20),
    FR("max_ack_pending", F_INT, max_ack_pending, 1, 10000000),
    F_END,
};
static const field envelope_fields[] = {
    F("schemas_dir", F_PATH, schemas_dir),
    F("require_schema", F_BOOL, require_schema),
    F("keyring", F_PATH, keyring),
    F("require_signature", F_BOOL, require_signature),
    FR("max_clock_skew", F_DUR, max_clock_skew_ms, 1, BIG),
    F_END,
};
static const field rules_fields[] = {
    F("path", F_PATH, rules_path),
    FE("unmatched", unmatched_dead_letter, unmatched_choices),
    F_END,
};
static const field engine_fields[] = {
    F("namespace", F_STR, engine_namespace),
    F("outbox_relay", F_BOOL, outbox_relay),
    F("timers", F_BOOL, timers),
    F("reports", F_BOOL, reports),
    F("subject_prefix", F_STR, engine_subject_prefix),
    FR("report_consumers", F_INT, report_consumers, 1, 16),
    FR("hold_started", F_DUR, hold_started_ms, 0, 10000),
    FR("report_linger", F_DUR, report_linger_ms, 0, 1000),
    FR("state_cache", F_INT, state_cache, 0, 10000000),
    F_END,
};
static const field admin_fields[] = {
    F("listen", F_STR, admin_listen),
    F("token_file", F_PATH, admin_token_file),
    F_END,
};
static const field ui_fields[] = {
    F("enabled", F_BOOL, ui_enabled),
    F("read_token_file", F_PATH, ui_read_token_file),
    F("trace_url", F_STR, ui_trace_url),
    FR("max_body", F_SIZE, ui_max_body, 1024, 16 << 20),
    F_END,
};
static const field log_fields[] = {
    FE("level", log_level, level_choices),
    F_END,
};

/* "nats.tls" is a nested section; the walker handles it by name. */
static const section sections[] = {
    {"nats", nats_fields},         {"nats.tls", tls_fields},   {"postgres", pg_fields},
    {"stream", stream_fields},     {"consumer", consumer_fields}, {"limits", limits_fields},
    {"envelope", envelope_fields}, {"rules", rules_fields},    {"engine", engine_fields},
    {"admin", admin_fields},       {"ui", ui_fields},          {"log", log_fields},
    {NULL, NULL},
};

/* ---- defaults and cleanup ----------------------------------------------- */

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort(); /* as sy_buf does: nothing sane to do without memory */
    return d;
}

void router_config_init(router_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->source = dup_or_die("");
    cfg->pg_migrate = true;
    cfg->stream_name = dup_or_die("EVENTS");
    cfg->stream_create = true;
    cfg->stream_duplicate_window_ms = 120000;
    cfg->consumer_name = dup_or_die("switchyard");
    cfg->pipelines = 2;
    cfg->batch_size = 256;
    cfg->fetch_wait_ms = 1000;
    cfg->ack_wait_ms = 30000;
    cfg->max_deliver = 10;
    cfg->nak_delay_ms = 2000;
    cfg->in_progress_every_ms = 10000;
    cfg->order = true;
    cfg->order_max_hold_ms = 300000;
    cfg->max_event_bytes = 1 << 20;
    cfg->max_input_bytes = 256 << 10;
    cfg->max_ack_pending = 20000;
    cfg->max_clock_skew_ms = 300000;
    cfg->outbox_relay = true;
    cfg->timers = true;
    cfg->reports = true;
    cfg->report_consumers = 2;
    cfg->hold_started_ms = -1; /* not set: the engine's ENGINE_REPORTS_HOLD_MS */
    cfg->report_linger_ms = -1; /* not set: ENGINE_REPORTS_LINGER_MS */
    cfg->state_cache = 4096;
    cfg->outcomes_stream = dup_or_die("SY");
    cfg->admin_listen = dup_or_die("127.0.0.1:8088");
    cfg->ui_enabled = true;
    cfg->ui_max_body = 64 << 10;
    cfg->log_level = SY_LOG_INFO;
    cfg->nats_urls.items = calloc(1, sizeof(char *));
    cfg->stream_subjects.items = calloc(1, sizeof(char *));
    cfg->outcomes_subjects.items = calloc(1, sizeof(char *));
    if (!cfg->nats_urls.items || !cfg->stream_subjects.items || !cfg->outcomes_subjects.items)
        abort();
    cfg->outcomes_subjects.items[cfg->outcomes_subjects.len++] = dup_or_die("sy.>");
    cfg->nats_urls.items[cfg->nats_urls.len++] = dup_or_die("nats://127.0.0.1:4222");
    cfg->stream_subjects.items[cfg->stream_subjects.len++] = dup_or_die("events.>");
}

static void strlist_free(router_strlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

void router_config_cleanup(router_config *cfg)
{
    if (!cfg)
        return;
    for (const section *s = sections; s->name; s++) {
        for (const field *f = s->fields; f->key; f++) {
            char *base = (char *)cfg + f->off;
            if (f->type == F_STR || f->type == F_PATH) {
                free(*(char **)base);
                *(char **)base = NULL;
            } else if (f->type == F_STRLIST) {
                strlist_free((router_strlist *)base);
            } else if (f->type == F_DURLIST) {
                free(((router_durlist *)base)->items);
                ((router_durlist *)base)->items = NULL;
                ((router_durlist *)base)->len = 0;
            }
        }
    }
    free(cfg->source);
    cfg->source = NULL;
}

/* ---- scalar syntax -------------------------------------------------------- */

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", NULL}, *const f[] = {"false", "no", "off", NULL};
    for (size_t i = 0; t[i]; i++) {
        if (strcmp(s, t[i]) == 0)
            return *out = true, true;
        if (strcmp(s, f[i]) == 0)
            return *out = false, true;
    }
    return false;
}

/* A decimal integer without sign games; false on overflow or junk. */
static bool parse_int(const char *s, const char **end, int64_t *out)
{
    bool neg = *s == '-';
    const char *p = neg ? s + 1 : s;
    if (!isdigit((unsigned char)*p))
        return false;
    int64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    *end = p;
    *out = neg ? -v : v;
    return true;
}

static bool apply_unit(int64_t v, int64_t mult, int64_t *out)
{
    if (v > INT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* "1048576", "512KiB", "1MiB", "1GiB". */
static bool parse_size(const char *s, int64_t *out)
{
    const char *end;
    int64_t v;
    if (!parse_int(s, &end, &v) || v < 0)
        return false;
    if (*end == '\0')
        return *out = v, true;
    if (strcmp(end, "KiB") == 0)
        return apply_unit(v, 1024, out);
    if (strcmp(end, "MiB") == 0)
        return apply_unit(v, 1024 * 1024, out);
    if (strcmp(end, "GiB") == 0)
        return apply_unit(v, 1024 * 1024 * 1024, out);
    return false;
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* ---- setting one value ------------------------------------------------------ */

/* Where a value came from, for messages: "file:line:col" or "env NAME". */
typedef struct origin {
    char where[SY_ERROR_PATH_MAX];
    const char *basedir; /* folder for relative paths; NULL: keep as given */
} origin;

static sy_status bad(sy_error *err, const origin *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages read "file:line:col: message", as the rules loader's do. */
static sy_status bad(sy_error *err, const origin *o, const char *fmt, ...)
{
    char msg[SY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sy_error_set(err, SY_CONFIG, "bad_config", o->where, "%s: %s", o->where, msg);
}

/* A path value may start with the systemd credentials directory (set for a
 * unit with LoadCredential=): "${CREDENTIALS_DIRECTORY}/NAME" or
 * "$CREDENTIALS_DIRECTORY/NAME". Kept as written until the environment is
 * applied (router_config_apply_env), which expands it. Returns the length
 * of the prefix including its slash, or 0. */
static size_t credentials_prefix(const char *v)
{
    static const char *const forms[] = {"${CREDENTIALS_DIRECTORY}/", "$CREDENTIALS_DIRECTORY/"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strncmp(v, forms[i], strlen(forms[i])) == 0)
            return strlen(forms[i]);
    return 0;
}

static char *resolve_path(const char *v, const origin *o)
{
    if (v[0] == '/' || credentials_prefix(v) || !o->basedir || !o->basedir[0])
        return dup_or_die(v);
    sy_buf b = SY_BUF_INIT;
    sy_buf_printf(&b, "%s/%s", o->basedir, v);
    return sy_buf_take(&b);
}

static sy_status set_number(const field *f, void *dst, const char *v, const origin *o,
                            sy_error *err)
{
    int64_t n = 0;
    const char *end = NULL;
    bool ok = f->type == F_DUR    ? sy_duration_parse(v, &n, NULL) == SY_OK && n >= 0
              : f->type == F_SIZE ? parse_size(v, &n)
                                  : (parse_int(v, &end, &n) && *end == '\0');
    if (!ok)
        return bad(err, o, "\"%s\" is not a valid %s", v,
                   f->type == F_DUR    ? "duration (e.g. 250ms, 30s, 5m, 1h, 7d)"
                   : f->type == F_SIZE ? "size (bytes, or with KiB/MiB/GiB)"
                                       : "integer");
    if (n < f->min || n > f->max) {
        char range[96];
        snprintf(range, sizeof range, "%lld..%lld", (long long)f->min, (long long)f->max);
        return bad(err, o, "\"%s\" is out of range %s", v, range);
    }
    *(int64_t *)dst = n;
    return SY_OK;
}

static sy_status set_enum(const field *f, void *dst, const char *v, const origin *o,
                          sy_error *err)
{
    sy_buf all = SY_BUF_INIT;
    for (int i = 0; f->choices[i]; i++) {
        if (strcmp(v, f->choices[i]) == 0) {
            *(int *)dst = i;
            sy_buf_cleanup(&all);
            return SY_OK;
        }
        sy_buf_printf(&all, "%s%s", i ? ", " : "", f->choices[i]);
    }
    sy_status st = bad(err, o, "\"%s\" is not one of: %s", v, sy_buf_str(&all));
    sy_buf_cleanup(&all);
    return st;
}

/* Sets a scalar-typed field (everything but the lists) from text v. */
static sy_status set_scalar(router_config *cfg, const field *f, const char *v, size_t len,
                            const origin *o, sy_error *err)
{
    void *dst = (char *)cfg + f->off;
    if (strlen(v) != len || has_control(v, len))
        return bad(err, o, "value holds a control character or NUL");
    switch (f->type) {
    case F_STR:
    case F_PATH:
        if (len == 0)
            return bad(err, o, "value is empty");
        free(*(char **)dst);
        *(char **)dst = f->type == F_PATH ? resolve_path(v, o) : dup_or_die(v);
        return SY_OK;
    case F_BOOL:
        if (!parse_bool(v, (bool *)dst))
            return bad(err, o, "\"%s\" is not a boolean (true or false)", v);
        return SY_OK;
    case F_ENUM:
        return set_enum(f, dst, v, o, err);
    default:
        return set_number(f, dst, v, o, err);
    }
}

/* Appends one list item (a string or a duration) to a list field. */
static sy_status list_add(router_config *cfg, const field *f, const char *v, size_t len,
                          const origin *o, sy_error *err)
{
    void *dst = (char *)cfg + f->off;
    if (strlen(v) != len || has_control(v, len) || len == 0)
        return bad(err, o, "list item is empty or holds a control character");
    if (f->type == F_STRLIST) {
        router_strlist *l = dst;
        char **n = realloc(l->items, (l->len + 1) * sizeof *n);
        if (!n)
            abort();
        l->items = n;
        l->items[l->len++] = dup_or_die(v);
        return SY_OK;
    }
    router_durlist *l = dst;
    field one = *f;
    one.type = F_DUR;
    int64_t ms;
    sy_status st = set_number(&one, &ms, v, o, err);
    if (st != SY_OK)
        return st;
    int64_t *n = realloc(l->items, (l->len + 1) * sizeof *n);
    if (!n)
        abort();
    l->items = n;
    l->items[l->len++] = ms;
    return SY_OK;
}

static void list_clear(router_config *cfg, const field *f)
{
    void *dst = (char *)cfg + f->off;
    if (f->type == F_STRLIST) {
        strlist_free(dst);
    } else {
        router_durlist *l = dst;
        free(l->items);
        l->items = NULL;
        l->len = 0;
    }
}

/* ---- walking the YAML document ------------------------------------------- */

typedef struct walker {
    router_config *cfg;
    yaml_document_t *doc;
    const char *name;
    const char *basedir;
    sy_error *err;
} walker;

static void at(const walker *w, const yaml_node_t *n, origin *o)
{
    snprintf(o->where, sizeof o->where, "%s:%zu:%zu", w->name, n->start_mark.line + 1,
             n->start_mark.column + 1);
    o->basedir = w->basedir;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static const field *find_field(const field *fields, const char *key)
{
    for (const field *f = fields; f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static const section *find_section(const char *name)
{
    for (const section *s = sections; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static sy_status walk_list(walker *w, const field *f, yaml_node_t *v)
{
    origin o;
    list_clear(w->cfg, f); /* the file's list replaces the default */
    if (v->type == YAML_SCALAR_NODE) {
        at(w, v, &o);
        return list_add(w->cfg, f, scalar(v), v->data.scalar.length, &o, w->err);
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        at(w, v, &o);
        return bad(w->err, &o, "\"%s\" must be a list", f->key);
    }
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *i);
        at(w, item, &o);
        if (item->type != YAML_SCALAR_NODE)
            return bad(w->err, &o, "items of \"%s\" must be scalars", f->key);
        sy_status st = list_add(w->cfg, f, scalar(item), item->data.scalar.length, &o, w->err);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

static sy_status walk_mapping(walker *w, const section *sec, yaml_node_t *map);

/* One "key: value" of section 'sec'. */
static sy_status walk_field(walker *w, const section *sec, yaml_node_t *k, yaml_node_t *v)
{
    origin o;
    at(w, k, &o);
    const char *key = scalar(k);
    if (strcmp(sec->name, "nats") == 0 && strcmp(key, "tls") == 0)
        return walk_mapping(w, find_section("nats.tls"), v);
    const field *f = find_field(sec->fields, key);
    if (!f)
        return bad(w->err, &o, "unknown key \"%s\" in \"%s\"", key, sec->name);
    if (f->type == F_STRLIST || f->type == F_DURLIST)
        return walk_list(w, f, v);
    at(w, v, &o);
    if (v->type != YAML_SCALAR_NODE)
        return bad(w->err, &o, "\"%s.%s\" must be a scalar", sec->name, key);
    return set_scalar(w->cfg, f, scalar(v), v->data.scalar.length, &o, w->err);
}

/* Checks that key node k is a scalar not seen before in this mapping. */
static sy_status check_key(walker *w, yaml_node_t *map, yaml_node_pair_t *p, yaml_node_t *k)
{
    origin o;
    at(w, k, &o);
    if (k->type != YAML_SCALAR_NODE)
        return bad(w->err, &o, "keys must be scalars");
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *prev = yaml_document_get_node(w->doc, q->key);
        if (prev->type == YAML_SCALAR_NODE && strcmp(scalar(prev), scalar(k)) == 0)
            return bad(w->err, &o, "duplicate key \"%s\"", scalar(k));
    }
    return SY_OK;
}

/* A mapping: the root (sec NULL: keys are sections) or one section. */
static sy_status walk_mapping(walker *w, const section *sec, yaml_node_t *map)
{
    origin o;
    at(w, map, &o);
    if (map->type != YAML_MAPPING_NODE)
        return bad(w->err, &o, "%s must be a mapping", sec ? sec->name : "the configuration");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        sy_status st = check_key(w, map, p, k);
        if (st != SY_OK)
            return st;
        if (sec) {
            st = walk_field(w, sec, k, v);
        } else {
            const section *s = strchr(scalar(k), '.') ? NULL : find_section(scalar(k));
            at(w, k, &o);
            st = s ? walk_mapping(w, s, v)
                   : bad(w->err, &o, "unknown section \"%s\"", scalar(k));
        }
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

static char *dir_of(const char *name)
{
    const char *slash = strrchr(name, '/');
    if (!slash)
        return dup_or_die("");
    if (slash == name)
        return dup_or_die("/");
    char *d = dup_or_die(name);
    d[slash - name] = '\0';
    return d;
}

static sy_status yaml_failed(const yaml_parser_t *p, const char *name, sy_error *err)
{
    origin o = {{0}, NULL};
    snprintf(o.where, sizeof o.where, "%s:%zu:%zu", name, p->problem_mark.line + 1,
             p->problem_mark.column + 1);
    if (p->context)
        return bad(err, &o, "%s %s", p->problem ? p->problem : "invalid YAML", p->context);
    return bad(err, &o, "%s", p->problem ? p->problem : "invalid YAML");
}

sy_status router_config_parse(router_config *cfg, const char *name, const char *text, size_t len,
                              sy_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return sy_error_set(err, SY_NOMEM, NULL, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        sy_status st = yaml_failed(&parser, name, err);
        yaml_parser_delete(&parser);
        return st;
    }
    free(cfg->source);
    cfg->source = dup_or_die(name);
    char *basedir = dir_of(name);
    walker w = {cfg, &doc, name, basedir, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    sy_status st = SY_OK;
    if (!root) {
        origin o = {{0}, NULL};
        snprintf(o.where, sizeof o.where, "%s:1:1", name);
        st = bad(err, &o, "the configuration is empty");
    } else if (!(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        st = walk_mapping(&w, NULL, root);
    }
    free(basedir);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

/* ---- environment overrides -------------------------------------------------- */

static const struct {
    const char *env, *section, *key;
} env_aliases[] = {
    {"NATS_URL", "nats", "urls"},
    {"DB", "postgres", "conninfo"},
    {"PG_CONNINFO", "postgres", "conninfo"},
    {"RULES", "rules", "path"},
};

/* "nats.tls" + "ca_file" -> "NATS_TLS_CA_FILE" */
static void env_name(const section *s, const field *f, char *out, size_t n)
{
    snprintf(out, n, "%s_%s", s->name, f->key);
    for (char *p = out; *p; p++)
        *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
}

static sy_status env_set(router_config *cfg, const field *f, const char *v, const origin *o,
                         sy_error *err)
{
    if (f->type != F_STRLIST && f->type != F_DURLIST)
        return set_scalar(cfg, f, v, strlen(v), o, err);
    list_clear(cfg, f);
    char *copy = dup_or_die(v), *save = NULL;
    sy_status st = SY_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && st == SY_OK;
         tok = strtok_r(NULL, ",", &save))
        st = list_add(cfg, f, tok, strlen(tok), o, err);
    free(copy);
    return st;
}

/* Finds the field named by "SECTION_KEY" (after SWITCHYARD_). */
static const field *env_field(const char *name)
{
    for (size_t i = 0; i < sizeof env_aliases / sizeof env_aliases[0]; i++)
        if (strcmp(name, env_aliases[i].env) == 0)
            return find_field(find_section(env_aliases[i].section)->fields, env_aliases[i].key);
    char want[128];
    for (const section *s = sections; s->name; s++)
        for (const field *f = s->fields; f->key; f++) {
            env_name(s, f, want, sizeof want);
            if (strcmp(name, want) == 0)
                return f;
        }
    return NULL;
}

/* The value of NAME in envp (borrowed), or NULL. */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* Expands "${CREDENTIALS_DIRECTORY}/NAME" in every path setting. Without
 * the variable such a setting is an error naming it: the secret would
 * otherwise be looked for under a literal "${CREDENTIALS_DIRECTORY}". */
static sy_status expand_credentials(router_config *cfg, char *const *envp, sy_error *err)
{
    const char *dir = env_get(envp, "CREDENTIALS_DIRECTORY");
    for (const section *s = sections; s->name; s++)
        for (const field *f = s->fields; f->key; f++) {
            char **v = (char **)((char *)cfg + f->off);
            size_t skip = f->type == F_PATH && *v ? credentials_prefix(*v) : 0;
            if (!skip)
                continue;
            if (!dir || dir[0] != '/')
                return sy_error_set(err, SY_CONFIG, "bad_config", s->name,
                                    "%s.%s: \"%s\" names $CREDENTIALS_DIRECTORY, which is not "
                                    "set to an absolute path (systemd sets it for a unit with "
                                    "LoadCredential=)",
                                    s->name, f->key, *v);
            sy_buf b = SY_BUF_INIT;
            sy_buf_printf(&b, "%s/%s", dir, *v + skip);
            free(*v);
            *v = sy_buf_take(&b);
        }
    return SY_OK;
}

sy_status router_config_apply_env(router_config *cfg, char *const *envp, sy_error *err)
{
    static const char prefix[] = "SWITCHYARD_";
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *e = envp[i], *eq = strchr(e, '=');
        if (!eq || strncmp(e, prefix, sizeof prefix - 1) != 0)
            continue;
        char name[128];
        size_t n = (size_t)(eq - e) - (sizeof prefix - 1);
        if (n >= sizeof name)
            continue;
        memcpy(name, e + sizeof prefix - 1, n);
        name[n] = '\0';
        const field *f = env_field(name);
        if (!f)
            continue; /* other SWITCHYARD_* variables belong to other tools */
        origin o = {{0}, NULL};
        snprintf(o.where, sizeof o.where, "env %.*s", (int)(eq - e), e);
        sy_status st = env_set(cfg, f, eq + 1, &o, err);
        if (st != SY_OK)
            return st;
    }
    return expand_credentials(cfg, envp, err);
}
