/* envelope.c: the canonical envelope (envelope/README.md): field rules,
 * the parse entry point that picks the wire format, accessors, building
 * from parts and the canonical JSON encoding.
 *
 * Every format ends in the same place: one canonical cJSON object validated
 * by envelope__from_json in one walk over its top-level members, so JSON,
 * protobuf and CloudEvents cannot drift apart. The envelope keeps the tree
 * and points into it; nothing is copied after parsing. */
#include "clock.h"
#include "envelope_int.h"
#include "json.h"
#include "timefmt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    F_EVENT_ID,
    F_TYPE,
    F_SOURCE,
    F_OCCURRED_AT,
    F_SUBJECT,
    F_TRACE_ID,
    F_VERSION,
    F_PAYLOAD,
    F_COUNT
};

envelope__names envelope__json_names = {"event_id", "type",     "source",         "occurred_at",
                                        "subject",  "trace_id", "schema_version", "payload"};

#define MAX_TEXT_CHARS 255
#define MAX_EVENT_ID 128

/* ---- field rules --------------------------------------------------------- */

static sy_status bad(sy_error *err, const char *code, const char *path, const char *msg)
{
    return sy_error_set(err, SY_INVALID, code, path, "\"%s\" %s", path, msg);
}

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

static sy_status check_event_id(const char *s, const char *path, sy_error *err)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!id_char((unsigned char)s[n]))
            return bad(err, ENVELOPE_ERR_BAD_FIELD, path,
                       "may contain only letters, digits and . _ : -");
    if (n == 0 || n > MAX_EVENT_ID)
        return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must be 1 to 128 characters long");
    return SY_OK;
}

static sy_status check_type(const char *s, const char *path, sy_error *err)
{
    size_t n = 0, seg = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c == '.') {
            if (seg == 0)
                return bad(err, ENVELOPE_ERR_BAD_TYPE, path, "has an empty segment");
            seg = 0;
        } else if (id_char(c) && c != ':') {
            seg++;
        } else {
            return bad(err, ENVELOPE_ERR_BAD_TYPE, path,
                       "segments may contain only letters, digits, _ and -");
        }
    }
    if (n == 0 || n > MAX_TEXT_CHARS)
        return bad(err, ENVELOPE_ERR_BAD_TYPE, path, "must be 1 to 255 characters long");
    if (seg == 0)
        return bad(err, ENVELOPE_ERR_BAD_TYPE, path, "has an empty segment");
    return SY_OK;
}

/* Non-empty (when required), at most 255 characters (code points), no C0,
 * DEL or C1 control characters. s is valid UTF-8 (the parser checked). */
static sy_status check_text(const char *s, const char *path, bool nonempty, sy_error *err)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F || (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F))
            return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must not contain control characters");
        chars += (*p & 0xC0) != 0x80;
    }
    if (nonempty && chars == 0)
        return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must not be empty");
    if (chars > MAX_TEXT_CHARS)
        return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must be at most 255 characters long");
    return SY_OK;
}

static sy_status check_trace_id(const char *s, const char *path, sy_error *err)
{
    size_t n = 0;
    bool nonzero = false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return bad(err, ENVELOPE_ERR_BAD_TRACE_ID, path,
                       "must be 32 lowercase hexadecimal digits");
        nonzero |= c != '0';
    }
    if (n != 32)
        return bad(err, ENVELOPE_ERR_BAD_TRACE_ID, path, "must be 32 lowercase hexadecimal digits");
    if (!nonzero)
        return bad(err, ENVELOPE_ERR_BAD_TRACE_ID, path, "must not be all zeros");
    return SY_OK;
}

static sy_status check_version(const cJSON *v, const char *path, int64_t *out, sy_error *err)
{
    if (!cJSON_IsNumber(v))
        return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must be an integer");
    double d = v->valuedouble;
    if (d != floor(d) || d < 1 || d > 2147483647.0)
        return bad(err, ENVELOPE_ERR_BAD_FIELD, path, "must be an integer from 1 to 2147483647");
    *out = (int64_t)d;
    return SY_OK;
}

/* Maps a top-level key to its field, or -1. The first letter picks the
 * candidates, so a member costs one or two strcmp. */
static int field_index(const char *k)
{
    int a = -1, b = -1;
    switch (k[0]) {
    case 'e':
        a = F_EVENT_ID;
        break;
    case 't':
        a = F_TYPE;
        b = F_TRACE_ID;
        break;
    case 's':
        a = F_SOURCE;
        b = F_SUBJECT;
        break;
    case 'o':
        a = F_OCCURRED_AT;
        break;
    case 'p':
        a = F_PAYLOAD;
        break;
    default:
        break;
    }
    if (k[0] == 's' && k[1] == 'c')
        a = F_VERSION;
    if (a >= 0 && strcmp(k, envelope__json_names[a]) == 0)
        return a;
    if (b >= 0 && strcmp(k, envelope__json_names[b]) == 0)
        return b;
    return -1;
}

/* Collects the members into f[]; unknown members are errors when checked. */
static sy_status collect(const cJSON *root, const envelope__names names, bool check_unknown,
                         const cJSON *f[F_COUNT], sy_error *err)
{
    for (const cJSON *m = root->child; m; m = m->next) {
        int i = field_index(m->string);
        if (i < 0) {
            if (check_unknown)
                return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, m->string,
                                    "unknown envelope member \"%s\"", m->string);
            continue;
        }
        f[i] = m;
    }
    static const int required[] = {F_EVENT_ID, F_TYPE,    F_SOURCE, F_OCCURRED_AT,
                                   F_TRACE_ID, F_VERSION, F_PAYLOAD};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (!f[required[r]])
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_MISSING_FIELD, names[required[r]],
                                "required member \"%s\" is missing", names[required[r]]);
    for (int i = 0; i < F_COUNT; i++)
        if (f[i] && i != F_VERSION && i != F_PAYLOAD && !cJSON_IsString(f[i]))
            return bad(err, ENVELOPE_ERR_BAD_FIELD, names[i], "must be a string");
    if (!cJSON_IsObject(f[F_PAYLOAD]))
        return bad(err, ENVELOPE_ERR_BAD_FIELD, names[F_PAYLOAD], "must be a JSON object");
    return SY_OK;
}

static sy_status check_fields(const cJSON *f[F_COUNT], const envelope__names names, envelope *env,
                              sy_error *err)
{
    env->event_id = f[F_EVENT_ID]->valuestring;
    env->type = f[F_TYPE]->valuestring;
    env->source = f[F_SOURCE]->valuestring;
    env->occurred_at = f[F_OCCURRED_AT]->valuestring;
    env->subject = f[F_SUBJECT] ? f[F_SUBJECT]->valuestring : NULL;
    env->trace_id = f[F_TRACE_ID]->valuestring;
    env->payload = f[F_PAYLOAD];
    sy_status st = check_event_id(env->event_id, names[F_EVENT_ID], err);
    if (st == SY_OK)
        st = check_type(env->type, names[F_TYPE], err);
    if (st == SY_OK)
        st = check_text(env->source, names[F_SOURCE], true, err);
    if (st == SY_OK)
        st = sy_time_parse_rfc3339(env->occurred_at, names[F_OCCURRED_AT], &env->occurred_at_ms,
                                   err);
    if (st == SY_OK && env->subject)
        st = check_text(env->subject, names[F_SUBJECT], false, err);
    if (st == SY_OK)
        st = check_trace_id(env->trace_id, names[F_TRACE_ID], err);
    if (st == SY_OK)
        st = check_version(f[F_VERSION], names[F_VERSION], &env->schema_version, err);
    return st;
}

sy_status envelope__from_json(cJSON *root, const envelope__names names, bool check_unknown,
                              envelope **out, sy_error *err)
{
    *out = NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_JSON, "",
                            "the event must be a JSON object");
    }
    const cJSON *f[F_COUNT] = {0};
    envelope *env = calloc(1, sizeof *env);
    sy_status st = env ? collect(root, names, check_unknown, f, err)
                       : sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    if (st == SY_OK)
        st = check_fields(f, names, env, err);
    if (st != SY_OK) {
        free(env);
        cJSON_Delete(root);
        return st;
    }
    env->json = root;
    *out = env;
    return SY_OK;
}

/* ---- parse ------------------------------------------------------------------ */

/* "application/json; charset=utf-8" -> format; -1 when not supported. */
static int format_of(const char *ct)
{
    if (!ct || !*ct)
        return ENVELOPE_FORMAT_JSON;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const struct {
        const char *name;
        envelope_format f;
    } types[] = {
        {"application/json", ENVELOPE_FORMAT_JSON},
        {"application/protobuf", ENVELOPE_FORMAT_PROTOBUF},
        {"application/x-protobuf", ENVELOPE_FORMAT_PROTOBUF},
        {"application/cloudevents+json", ENVELOPE_FORMAT_CLOUDEVENTS},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == n && strncasecmp(ct, types[i].name, n) == 0)
            return (int)types[i].f;
    return -1;
}

/* Pseudo-format of a binary-mode CloudEvent (its attributes in headers). */
enum { FORMAT_CE_BINARY = 100 };

/* The format of a message: a binary-mode CloudEvent by its ce-specversion
 * header unless the content type says structured; else by content type.
 * CloudEvents' batch mode is refused by name. */
static int format_of_message(const envelope_meta *meta)
{
    const char *ct = meta->content_type;
    /* the binding: a Content-Type of application/cloudevents... is
     * structured (or batch) mode, whatever the other headers say */
    bool ce_type = ct && strncasecmp(ct, "application/cloudevents", 23) == 0;
    if (!ce_type && envelope__ce_binary(meta))
        return FORMAT_CE_BINARY;
    return format_of(ct);
}

static sy_status parse_format(const char *body, size_t len, const envelope_meta *meta,
                              int64_t received_ms, int format, envelope **out, sy_error *err)
{
    cJSON *root = NULL;
    sy_status st;
    switch (format) {
    case ENVELOPE_FORMAT_JSON:
        st = sy_json_parse(body, len, ENVELOPE_MAX_DEPTH, NULL, &root, err);
        return st == SY_OK ? envelope__from_json(root, envelope__json_names, true, out, err) : st;
    case ENVELOPE_FORMAT_PROTOBUF:
        st = envelope__proto_decode(body, len, &root, err);
        return st == SY_OK ? envelope__from_json(root, envelope__json_names, true, out, err) : st;
    case ENVELOPE_FORMAT_CLOUDEVENTS:
    case FORMAT_CE_BINARY:
        return envelope__ce_parse(body, len, meta, format == FORMAT_CE_BINARY, received_ms, out,
                                  err);
    default:
        if (meta->content_type &&
            strncasecmp(meta->content_type, "application/cloudevents", 23) == 0)
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "Content-Type",
                                "unsupported content type \"%s\": CloudEvents are taken in "
                                "structured mode (application/cloudevents+json) or binary mode "
                                "(ce-* headers), not batched",
                                meta->content_type);
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "Content-Type",
                            "unsupported content type");
    }
}

static void default_opts(const envelope_opts *in, envelope_opts *o)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->max_bytes == 0)
        o->max_bytes = ENVELOPE_DEFAULT_MAX_BYTES;
    if (o->max_clock_skew_ms <= 0)
        o->max_clock_skew_ms = ENVELOPE_DEFAULT_SKEW_MS;
    if (o->now_ms == 0 && (o->keyring || o->require_signature)) /* only skew needs it */
        o->now_ms = sy_clock_now_ms(NULL);
}

/* Signature headers are checked whenever they are present, keyring or not:
 * a signature nobody can verify must never pass for a signed event. */
static bool signature_check_needed(const envelope_opts *o, const envelope_meta *meta)
{
    return o->keyring || o->require_signature || (meta->key_id && *meta->key_id) ||
           (meta->signature && *meta->signature);
}

sy_status envelope_parse(const char *body, size_t len, const envelope_meta *meta,
                         const envelope_opts *opts, envelope **out, sy_error *err)
{
    *out = NULL;
    envelope_opts o;
    static const envelope_meta no_meta = {0};
    if (!meta)
        meta = &no_meta;
    default_opts(opts, &o);
    if (len > o.max_bytes)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_TOO_LARGE, "",
                            "the event is %zu bytes, over the limit of %zu", len, o.max_bytes);
    int format = format_of_message(meta);
    envelope *env = NULL;
    sy_status st = parse_format(body, len, meta, meta->received_ms ? meta->received_ms : o.now_ms,
                                format, &env, err);
    if (st == SY_OK && format == FORMAT_CE_BINARY && signature_check_needed(&o, meta) &&
        ((meta->key_id && *meta->key_id) || (meta->signature && *meta->signature)))
        st = sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_SIGNATURE, "Sy-Signature",
                          "a binary-mode CloudEvent cannot be signed: its attributes travel in "
                          "headers the signature does not cover (send it in structured mode)");
    if (st == SY_OK && signature_check_needed(&o, meta))
        st = envelope__signature_check(o.keyring, body, len, meta, env, &o, err);
    if (st == SY_OK && o.schemas)
        st = envelope__schema_check(o.schemas, env, o.require_schema, err);
    else if (st == SY_OK && o.require_schema)
        st = sy_error_set(err, SY_INVALID, ENVELOPE_ERR_NO_SCHEMA, "schema_version",
                          "no payload schema for type \"%s\" version %lld", env->type,
                          (long long)env->schema_version);
    if (st != SY_OK) {
        envelope_free(env);
        return st;
    }
    *out = env;
    return SY_OK;
}

/* ---- what parsed of a refused event ----------------------------------------- */

/* A copy of member k of o when it is a string that passes check; else NULL. */
static char *peek_member(const cJSON *o, const char *k,
                         sy_status (*check)(const char *, const char *, sy_error *))
{
    const char *v = sy_json_get_string(o, k);
    return v && check(v, k, NULL) == SY_OK ? strdup(v) : NULL;
}

static sy_status check_source(const char *s, const char *path, sy_error *err)
{
    return check_text(s, path, true, err);
}

void envelope_peek(const char *body, size_t len, const envelope_meta *meta,
                   const envelope_opts *opts, envelope_fields *out)
{
    memset(out, 0, sizeof *out);
    size_t max = opts && opts->max_bytes ? opts->max_bytes : ENVELOPE_DEFAULT_MAX_BYTES;
    if (len > max)
        return; /* not read at all: the limit is there so that nobody parses it */
    cJSON *o = NULL;
    sy_error ignored;
    static const envelope_meta no_meta = {0};
    if (!meta)
        meta = &no_meta;
    int format = format_of_message(meta);
    switch (format) {
    case ENVELOPE_FORMAT_JSON:
        if (sy_json_parse(body, len, ENVELOPE_MAX_DEPTH, NULL, &o, &ignored) != SY_OK)
            o = NULL;
        break;
    case ENVELOPE_FORMAT_PROTOBUF:
        if (envelope__proto_decode(body, len, &o, &ignored) != SY_OK)
            o = NULL;
        break;
    case ENVELOPE_FORMAT_CLOUDEVENTS:
    case FORMAT_CE_BINARY:
        o = envelope__ce_peek(body, len, meta, format == FORMAT_CE_BINARY);
        break;
    default:
        break;
    }
    if (cJSON_IsObject(o)) {
        out->event_id = peek_member(o, "event_id", check_event_id);
        out->type = peek_member(o, "type", check_type);
        out->source = peek_member(o, "source", check_source);
        out->trace_id = peek_member(o, "trace_id", check_trace_id);
    }
    cJSON_Delete(o);
}

void envelope_fields_cleanup(envelope_fields *f)
{
    if (!f)
        return;
    free(f->event_id);
    free(f->type);
    free(f->source);
    free(f->trace_id);
    memset(f, 0, sizeof *f);
}

void envelope_free(envelope *env)
{
    if (!env)
        return;
    cJSON_Delete(env->json);
    free(env->tracestate);
    free(env);
}

const char *envelope_event_id(const envelope *env)
{
    return env->event_id;
}
const char *envelope_type(const envelope *env)
{
    return env->type;
}
const char *envelope_source(const envelope *env)
{
    return env->source;
}
const char *envelope_occurred_at(const envelope *env)
{
    return env->occurred_at;
}
int64_t envelope_occurred_at_ms(const envelope *env)
{
    return env->occurred_at_ms;
}
const char *envelope_subject(const envelope *env)
{
    return env->subject;
}
const char *envelope_trace_id(const envelope *env)
{
    return env->trace_id;
}
const char *envelope_trace_parent(const envelope *env)
{
    return env->trace_parent;
}
const char *envelope_tracestate(const envelope *env)
{
    return env->tracestate;
}
int64_t envelope_schema_version(const envelope *env)
{
    return env->schema_version;
}
const cJSON *envelope_payload(const envelope *env)
{
    return env->payload;
}
const cJSON *envelope_json(const envelope *env)
{
    return env->json;
}

/* ---- build and encode ---------------------------------------------------------- */

static void add_string(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddItemToObject(o, k, cJSON_CreateString(v));
}

sy_status envelope_new(const char *event_id, const char *type, const char *source,
                       const char *occurred_at, const char *subject, const char *trace_id,
                       int64_t schema_version, const cJSON *payload, envelope **out, sy_error *err)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    const char *strs[] = {event_id, type, source, occurred_at, subject, trace_id};
    for (int i = 0; i < 6; i++) {
        if (strs[i] && !sy_json_utf8_valid(strs[i], strlen(strs[i]))) {
            cJSON_Delete(o);
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_UTF8, envelope__json_names[i],
                                "\"%s\" is not valid UTF-8", envelope__json_names[i]);
        }
        add_string(o, envelope__json_names[i], strs[i]);
    }
    cJSON_AddItemToObject(o, "schema_version", cJSON_CreateNumber((double)schema_version));
    if (payload)
        cJSON_AddItemToObject(o, "payload", cJSON_Duplicate(payload, true));
    return envelope__from_json(o, envelope__json_names, true, out, err);
}

char *envelope_to_json(const envelope *env)
{
    sy_buf b = SY_BUF_INIT;
    const char *strs[] = {env->event_id,    env->type,    env->source,
                          env->occurred_at, env->subject, env->trace_id};
    sy_buf_putc(&b, '{');
    for (int i = 0; i < 6; i++) {
        if (!strs[i])
            continue;
        if (i)
            sy_buf_putc(&b, ',');
        sy_json_append_string(&b, envelope__json_names[i]);
        sy_buf_putc(&b, ':');
        sy_json_append_string(&b, strs[i]);
    }
    sy_buf_printf(&b, ",\"schema_version\":%lld,\"payload\":", (long long)env->schema_version);
    sy_json_append(&b, env->payload);
    sy_buf_putc(&b, '}');
    return sy_buf_take(&b);
}
