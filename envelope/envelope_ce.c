/* envelope_ce.c: CloudEvents 1.0 onto the envelope (envelope/README.md), in
 * both content modes of the NATS protocol binding:
 *
 *   structured: the JSON event format in the body (Content-Type
 *               application/cloudevents+json);
 *   binary:     every attribute in a header of its own, "ce-" and its name
 *               (case-insensitive, the value percent-encoded), the data in the
 *               body, its media type in ce-datacontenttype (or Content-Type).
 *
 * Either way the attributes become one JSON object first (a binary one from
 * its headers), so both modes meet the same checks and the same mapping:
 * id -> event_id, type, source, time -> occurred_at, subject, data ->
 * payload, the `traceparent` extension -> trace_id (its trace-id part), the
 * `schemaversion` extension -> schema_version (an integer, or a string of
 * digits: binary-mode values are all strings). The traceparent's parent id
 * and the `tracestate` extension (checked as W3C's) are kept beside the
 * envelope's members (envelope_trace_parent, envelope_tracestate). What CloudEvents makes
 * optional gets a default: time the moment the message was received,
 * trace_id one derived from source and id (so a redelivery or a replay gets
 * the same one), schema_version 1, payload {} when there is no data. A
 * `null` attribute is unset. specversion must be "1.0"; data must be a JSON
 * object (data_base64 is refused); datacontenttype, when given, must be a
 * JSON media type. Other well-formed extension attributes and dataschema are
 * accepted and dropped. Errors name the attribute (binary mode: its header). */
#include "buf.h"
#include "clock.h"
#include "envelope_int.h"
#include "json.h"
#include "timefmt.h"
#include "trace.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

envelope__names envelope__ce_names = {"id",      "type",        "source",        "time",
                                      "subject", "traceparent", "schemaversion", "data"};
static envelope__names ce_header_names = {
    "ce-id",      "ce-type",        "ce-source",        "ce-time",
    "ce-subject", "ce-traceparent", "ce-schemaversion", "data"};

#define CE_HEADER_MAX 4096 /* a decoded header value */

/* CloudEvents context attribute names: lower-case letters and digits. */
static bool ce_attr_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9')))
            return false;
    return n > 0;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* W3C traceparent "vv-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". */
static sy_status trace_from_traceparent(const cJSON *v, const char *path, char out[33],
                                        sy_error *err)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s || strlen(s) < 55 || !is_hex(s, 2) || s[2] != '-' || !is_hex(s + 3, 32) ||
        s[35] != '-' || !is_hex(s + 36, 16) || s[52] != '-' || !is_hex(s + 53, 2) ||
        (s[55] != '\0' && s[55] != '-') || strncmp(s, "ff", 2) == 0)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_TRACE_ID, path,
                            "\"%s\" is not a W3C traceparent (00-<trace id>-<parent "
                            "id>-<flags>)",
                            path);
    memcpy(out, s + 3, 32);
    out[32] = '\0';
    return SY_OK;
}

/* A trace id for an event that brought none: BLAKE2b of source and id, so
 * every delivery and replay of the event gets the same one. */
static void derived_trace_id(const char *source, const char *id, char out[33])
{
    unsigned char h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)source, strlen(source) + 1);
    crypto_generichash_update(&st, (const unsigned char *)id, strlen(id));
    crypto_generichash_final(&st, h, sizeof h);
    h[0] |= h[0] ? 0 : 1; /* never all zeros */
    sodium_bin2hex(out, 33, h, sizeof h);
}

/* A media type that declares JSON: "*" "/" "json" or "*" "/" "*+json", with
 * parameters ("; charset=utf-8") ignored, case-insensitively. */
static bool json_media_type(const char *s)
{
    size_t n = strcspn(s, ";");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *slash = memchr(s, '/', n);
    if (!slash || slash == s)
        return false;
    size_t sub = n - (size_t)(slash + 1 - s);
    const char *t = slash + 1;
    return (sub == 4 && strncasecmp(t, "json", 4) == 0) ||
           (sub > 5 && strncasecmp(t + sub - 5, "+json", 5) == 0);
}

/* ---- binary mode: headers -------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A header value as the binding decodes it: optional whitespace trimmed, a
 * double-quoted string unquoted (backslash escapes), then one round of
 * percent-decoding; the result must be UTF-8 without NUL. false: malformed. */
static bool decode_header(const char *raw, char *out, size_t cap)
{
    char q[CE_HEADER_MAX];
    size_t n = 0;
    while (*raw == ' ' || *raw == '\t')
        raw++;
    size_t len = strlen(raw);
    while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t'))
        len--;
    if (len > 0 && raw[0] == '"') {
        size_t i = 1;
        for (; i < len && raw[i] != '"'; i++) {
            if (raw[i] == '\\' && i + 1 < len)
                i++;
            if (n + 1 >= sizeof q)
                return false;
            q[n++] = raw[i];
        }
        if (i != len - 1) /* unterminated, or something after the closing quote */
            return false;
    } else {
        if (len >= sizeof q)
            return false;
        memcpy(q, raw, len);
        n = len;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)q[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(q[i + 1]) : -1, lo = i + 2 < n ? hexval(q[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return sy_json_utf8_valid(out, o);
}

/* The value of header name (case-insensitive) among meta's; NULL: absent. */
static const char *find_header(const envelope_meta *meta, const char *name)
{
    for (size_t i = 0; meta && i < meta->nheaders; i++)
        if (strcasecmp(meta->headers[2 * i], name) == 0)
            return meta->headers[2 * i + 1];
    return NULL;
}

bool envelope__ce_binary(const envelope_meta *meta)
{
    return find_header(meta, "ce-specversion") != NULL;
}

/* Adds the attribute of header name (known to start with "ce-") to ce. */
static sy_status add_header_attr(cJSON *ce, const char *name, const char *value, sy_error *err)
{
    char attr[64], v[CE_HEADER_MAX];
    size_t n = strlen(name + 3);
    for (size_t i = 0; i < n && i + 1 < sizeof attr; i++)
        attr[i] =
            (char)((name[3 + i] >= 'A' && name[3 + i] <= 'Z') ? name[3 + i] + 32 : name[3 + i]);
    attr[n < sizeof attr ? n : sizeof attr - 1] = '\0';
    if (n >= sizeof attr || !ce_attr_name(attr))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, name,
                            "\"%s\" is not a CloudEvents attribute header (ce- and lower-case "
                            "letters and digits)",
                            name);
    if (strcmp(attr, "data") == 0) /* the data is the body, never a header */
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, name,
                            "\"%s\": data is not an attribute: in binary mode it is the body",
                            name);
    if (cJSON_GetObjectItemCaseSensitive(ce, attr))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_DUPLICATE_KEY, name,
                            "the attribute \"%s\" is given twice", attr);
    if (strlen(value) >= CE_HEADER_MAX)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, name,
                            "\"%s\" is %zu bytes, over the limit of %d", name, strlen(value),
                            CE_HEADER_MAX - 1);
    if (!decode_header(value, v, sizeof v))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, name,
                            "\"%s\" is not a valid header value (percent-encoded UTF-8)", name);
    cJSON_AddItemToObject(ce, attr, cJSON_CreateString(v));
    return SY_OK;
}

/* The body of a binary-mode event: its data, which must be JSON. */
static sy_status binary_data(const char *body, size_t len, const envelope_meta *meta, cJSON *ce,
                             sy_error *err)
{
    const char *dct = sy_json_get_string(ce, "datacontenttype");
    const char *ct = meta->content_type;
    if (!dct && ct && *ct && !json_media_type(ct))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "Content-Type",
                            "the data's media type \"%s\" is not JSON: only JSON data is "
                            "supported",
                            ct);
    if (len == 0)
        return SY_OK; /* no data */
    if (dct && !json_media_type(dct))
        return SY_OK; /* check_context names the attribute */
    cJSON *data = NULL;
    sy_status st = sy_json_parse(body, len, ENVELOPE_MAX_DEPTH - 1, "data", &data, err);
    if (st == SY_OK)
        cJSON_AddItemToObject(ce, "data", data);
    return st;
}

/* The W3C traceparent header, for an event without ce-traceparent: it is
 * checked at its own name (a malformed one is refused, never ignored). */
static sy_status add_traceparent_header(cJSON *ce, const envelope_meta *meta, sy_error *err)
{
    const char *tp = find_header(meta, "traceparent");
    if (!tp || sy_json_get(ce, "traceparent"))
        return SY_OK;
    cJSON *v = cJSON_CreateString(tp);
    char trace[33];
    sy_status st = v ? trace_from_traceparent(v, "traceparent", trace, err)
                     : sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    if (st == SY_OK)
        cJSON_AddItemToObject(ce, "traceparent", v);
    else
        cJSON_Delete(v);
    return st;
}

/* The attributes of a binary-mode event (its ce-* headers, and a W3C
 * traceparent header when there is no ce-traceparent) and, unless peek, its
 * data, as a structured-mode object. peek (for a dead letter): a header that
 * does not decode is skipped, so the others are still read. */
static sy_status from_headers(const char *body, size_t len, const envelope_meta *meta, bool peek,
                              cJSON **out, sy_error *err)
{
    cJSON *ce = cJSON_CreateObject();
    sy_status st = ce ? SY_OK : sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    for (size_t i = 0; st == SY_OK && i < meta->nheaders; i++) {
        const char *name = meta->headers[2 * i], *value = meta->headers[2 * i + 1];
        if (name && value && strncasecmp(name, "ce-", 3) == 0)
            st = add_header_attr(ce, name, value, err);
        if (peek && st == SY_INVALID)
            st = SY_OK;
    }
    if (st == SY_OK)
        st = add_traceparent_header(ce, meta, err);
    if (peek && st == SY_INVALID)
        st = SY_OK;
    if (st == SY_OK && !peek)
        st = binary_data(body, len, meta, ce, err);
    if (st != SY_OK) {
        cJSON_Delete(ce);
        ce = NULL;
    }
    *out = ce;
    return st;
}

/* ---- both modes ------------------------------------------------------------------ */

/* The attributes of either mode as one object (owned by *out). */
static sy_status attributes(const char *body, size_t len, const envelope_meta *meta, bool binary,
                            bool peek, cJSON **out, sy_error *err)
{
    if (binary)
        return from_headers(body, len, meta, peek, out, err);
    sy_status st = sy_json_parse(body, len, ENVELOPE_MAX_DEPTH, NULL, out, err);
    if (st == SY_OK && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        st = sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_JSON, "",
                          "a CloudEvent must be a JSON object");
    }
    return st;
}

/* "ce-<name>" in binary mode, the attribute's own name otherwise. */
static const char *attr_path(bool binary, const char *name, char *buf, size_t n)
{
    if (!binary)
        return name;
    snprintf(buf, n, "ce-%s", name);
    return buf;
}

/* Null attributes are unset (the JSON event format says so). */
static void drop_nulls(cJSON *ce)
{
    for (cJSON *m = ce->child, *next; m; m = next) {
        next = m->next;
        if (cJSON_IsNull(m))
            cJSON_Delete(cJSON_DetachItemViaPointer(ce, m));
    }
}

static sy_status check_members(const cJSON *ce, sy_error *err)
{
    for (const cJSON *m = ce->child; m; m = m->next) {
        bool data = strcmp(m->string, "data") == 0 || strcmp(m->string, "data_base64") == 0;
        if (!data && !ce_attr_name(m->string))
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, m->string,
                                "\"%s\" is not a CloudEvents attribute name", m->string);
        if (!data && (cJSON_IsObject(m) || cJSON_IsArray(m)))
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, m->string,
                                "\"%s\" must be a string, a number or a boolean", m->string);
    }
    return SY_OK;
}

static sy_status check_context(const cJSON *ce, bool binary, sy_error *err)
{
    char p[64];
    const cJSON *spec = sy_json_get(ce, "specversion");
    const char *path = attr_path(binary, "specversion", p, sizeof p);
    if (!spec)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_MISSING_FIELD, path,
                            "required attribute \"%s\" is missing", path);
    if (!cJSON_IsString(spec) || strcmp(spec->valuestring, "1.0") != 0)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, path, "\"%s\" must be \"1.0\"",
                            path);
    const cJSON *dct = sy_json_get(ce, "datacontenttype");
    path = attr_path(binary, "datacontenttype", p, sizeof p);
    if (dct && (!cJSON_IsString(dct) || !json_media_type(dct->valuestring)))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, path,
                            "\"%s\" must be a JSON media type (*/json or */*+json): only JSON "
                            "data is supported",
                            path);
    if (sy_json_get(ce, "data_base64"))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "data_base64",
                            "binary \"data_base64\" is not supported: data must be a JSON "
                            "object");
    return check_members(ce, err);
}

/* Converts a string schemaversion ("2") into a number item in place. */
static void normalise_version(cJSON *v)
{
    if (!cJSON_IsString(v))
        return;
    const char *s = v->valuestring;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 10 || s[n] != '\0')
        return; /* left a string: validation reports it */
    double d = strtod(s, NULL);
    free(v->valuestring);
    v->valuestring = NULL;
    v->type = cJSON_Number;
    cJSON_SetNumberValue(v, d);
}

/* The defaults of what CloudEvents makes optional (see the file comment). */
static void add_defaults(cJSON *o, int64_t received_ms)
{
    if (!sy_json_get(o, "occurred_at")) {
        char ts[SY_TIME_RFC3339_MAX];
        cJSON_AddStringToObject(o, "occurred_at", sy_time_format_rfc3339(received_ms, ts));
    }
    const char *id = sy_json_get_string(o, "event_id"), *source = sy_json_get_string(o, "source");
    if (!sy_json_get(o, "trace_id") && id && source) { /* else: id or source is reported */
        char trace[33];
        derived_trace_id(source, id, trace);
        cJSON_AddStringToObject(o, "trace_id", trace);
    }
    if (!sy_json_get(o, "schema_version"))
        cJSON_AddNumberToObject(o, "schema_version", 1);
    if (!sy_json_get(o, "payload"))
        cJSON_AddItemToObject(o, "payload", cJSON_CreateObject());
}

/* Moves the mapped attributes of ce into the canonical object o. */
static sy_status map_members(cJSON *ce, cJSON *o, const envelope__names names, sy_error *err)
{
    for (int i = 0; i < 8; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(ce, envelope__ce_names[i]);
        if (!v)
            continue;
        if (i == 5) {
            char trace[33];
            sy_status st = trace_from_traceparent(v, names[5], trace, err);
            if (st != SY_OK)
                return st;
            cJSON_AddItemToObject(o, envelope__json_names[i], cJSON_CreateString(trace));
            continue;
        }
        cJSON_DetachItemViaPointer(ce, v);
        if (i == 6)
            normalise_version(v);
        cJSON_AddItemToObject(o, envelope__json_names[i], v);
    }
    return SY_OK;
}

/* The trace context beyond the trace id (traceparent already checked by
 * map_members): its parent id into parent ("" without one) and the
 * tracestate attribute, checked as W3C's, into *state (owned; NULL
 * without one or without a traceparent). */
static sy_status trace_context(const cJSON *ce, bool binary, char parent[17], char **state,
                               sy_error *err)
{
    const char *tp = sy_json_get_string(ce, "traceparent");
    const cJSON *ts = sy_json_get(ce, "tracestate");
    char p[64];
    const char *path = attr_path(binary, "tracestate", p, sizeof p);
    parent[0] = '\0';
    *state = NULL;
    if (tp) {
        memcpy(parent, tp + 36, 16);
        parent[16] = '\0';
    }
    if (!ts)
        return SY_OK;
    if (!cJSON_IsString(ts))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_TRACE_ID, path,
                            "\"%s\" must be a string (W3C tracestate)", path);
    sy_status st = sy_tracestate_check(ts->valuestring, err);
    if (st != SY_OK) {
        if (err)
            sy_strlcpy(err->path, sizeof err->path, path);
        return st;
    }
    if (tp && *ts->valuestring && !(*state = strdup(ts->valuestring)))
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    return SY_OK;
}

sy_status envelope__ce_parse(const char *body, size_t len, const envelope_meta *meta, bool binary,
                             int64_t received_ms, envelope **out, sy_error *err)
{
    *out = NULL;
    cJSON *ce = NULL, *o = NULL;
    char parent[17] = "", *state = NULL;
    const char *const *names = binary ? ce_header_names : envelope__ce_names;
    sy_status st = attributes(body, len, meta, binary, false, &ce, err);
    if (st != SY_OK)
        return st;
    drop_nulls(ce);
    st = check_context(ce, binary, err);
    if (st == SY_OK && !(o = cJSON_CreateObject()))
        st = sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    if (st == SY_OK)
        st = map_members(ce, o, names, err);
    if (st == SY_OK)
        st = trace_context(ce, binary, parent, &state, err);
    if (st == SY_OK)
        add_defaults(o, received_ms ? received_ms : sy_clock_now_ms(NULL));
    cJSON_Delete(ce);
    if (st != SY_OK) {
        cJSON_Delete(o);
        free(state);
        return st;
    }
    st = envelope__from_json(o, names, false, out, err);
    if (st == SY_OK) {
        memcpy((*out)->trace_parent, parent, sizeof parent);
        (*out)->tracestate = state;
    } else {
        free(state);
    }
    return st;
}

cJSON *envelope__ce_peek(const char *body, size_t len, const envelope_meta *meta, bool binary)
{
    cJSON *ce = NULL, *o = NULL;
    sy_error ignored;
    if (attributes(body, len, meta, binary, true, &ce, &ignored) != SY_OK)
        return NULL;
    if ((o = cJSON_CreateObject())) {
        static const int keep[] = {0, 1, 2}; /* id, type, source */
        for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
            const char *v = sy_json_get_string(ce, envelope__ce_names[keep[i]]);
            if (v)
                cJSON_AddStringToObject(o, envelope__json_names[keep[i]], v);
        }
        char trace[33];
        const cJSON *tp = sy_json_get(ce, "traceparent");
        const char *id = sy_json_get_string(ce, "id"), *source = sy_json_get_string(ce, "source");
        if (tp && trace_from_traceparent(tp, "traceparent", trace, NULL) == SY_OK)
            cJSON_AddStringToObject(o, "trace_id", trace);
        else if (!tp && id && source) { /* the one it gets once it is taken */
            derived_trace_id(source, id, trace);
            cJSON_AddStringToObject(o, "trace_id", trace);
        }
    }
    cJSON_Delete(ce);
    return o;
}
