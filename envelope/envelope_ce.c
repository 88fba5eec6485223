/* envelope_ce.c: structured-mode CloudEvents 1.0 JSON onto the envelope
 * (envelope/README.md).
 *
 * id -> event_id, type, source, time -> occurred_at, subject,
 * data -> payload, the `traceparent` extension -> trace_id (its trace-id
 * part), the `schemaversion` extension -> schema_version (an integer, or a
 * string of digits since CloudEvents extension values are often strings).
 * specversion must be "1.0"; data must be a JSON object (data_base64 is
 * refused); datacontenttype, when given, must be JSON. Other well-formed
 * extension attributes and dataschema are accepted and dropped. Errors name
 * the CloudEvents attribute, not the envelope member. */
#include "envelope_int.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

envelope__names envelope__ce_names = {"id",      "type",        "source",        "time",
                                      "subject", "traceparent", "schemaversion", "data"};

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
static sy_status trace_from_traceparent(const cJSON *v, char out[33], sy_error *err)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s || strlen(s) < 55 || !is_hex(s, 2) || s[2] != '-' || !is_hex(s + 3, 32) ||
        s[35] != '-' || !is_hex(s + 36, 16) || s[52] != '-' || !is_hex(s + 53, 2) ||
        (s[55] != '\0' && s[55] != '-') || strncmp(s, "ff", 2) == 0)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_TRACE_ID, "traceparent",
                            "\"traceparent\" is not a W3C traceparent (00-<trace id>-<parent "
                            "id>-<flags>)");
    memcpy(out, s + 3, 32);
    out[32] = '\0';
    return SY_OK;
}

static sy_status check_context(const cJSON *ce, sy_error *err)
{
    const cJSON *spec = sy_json_get(ce, "specversion");
    if (!spec)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_MISSING_FIELD, "specversion",
                            "required attribute \"specversion\" is missing");
    if (!cJSON_IsString(spec) || strcmp(spec->valuestring, "1.0") != 0)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "specversion",
                            "\"specversion\" must be \"1.0\"");
    const char *dct = sy_json_get_string(ce, "datacontenttype");
    if (sy_json_get(ce, "datacontenttype") &&
        (!dct || (strncasecmp(dct, "application/json", 16) != 0 && !strstr(dct, "+json"))))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "datacontenttype",
                            "\"datacontenttype\" must be a JSON media type");
    if (sy_json_get(ce, "data_base64"))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_FIELD, "data_base64",
                            "binary \"data_base64\" is not supported: data must be a JSON "
                            "object");
    for (const cJSON *m = ce->child; m; m = m->next)
        if (!ce_attr_name(m->string) && strcmp(m->string, "data_base64") != 0)
            return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, m->string,
                                "\"%s\" is not a CloudEvents attribute name", m->string);
    return SY_OK;
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

/* Moves the mapped attributes of ce into the canonical object o. */
static sy_status map_members(cJSON *ce, cJSON *o, sy_error *err)
{
    for (int i = 0; i < 8; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(ce, envelope__ce_names[i]);
        if (!v)
            continue;
        if (i == 5) {
            char trace[33];
            sy_status st = trace_from_traceparent(v, trace, err);
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

cJSON *envelope__ce_peek(const char *body, size_t len)
{
    cJSON *ce = NULL, *o = NULL;
    sy_error ignored;
    if (sy_json_parse(body, len, ENVELOPE_MAX_DEPTH, NULL, &ce, &ignored) != SY_OK)
        return NULL;
    if (cJSON_IsObject(ce) && (o = cJSON_CreateObject())) {
        static const int keep[] = {0, 1, 2}; /* id, type, source */
        for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
            const char *v = sy_json_get_string(ce, envelope__ce_names[keep[i]]);
            if (v)
                cJSON_AddStringToObject(o, envelope__json_names[keep[i]], v);
        }
        char trace[33];
        const cJSON *tp = sy_json_get(ce, "traceparent");
        if (tp && trace_from_traceparent(tp, trace, NULL) == SY_OK)
            cJSON_AddStringToObject(o, "trace_id", trace);
    }
    cJSON_Delete(ce);
    return o;
}

sy_status envelope__ce_parse(const char *body, size_t len, envelope **out, sy_error *err)
{
    *out = NULL;
    cJSON *ce = NULL, *o = NULL;
    sy_status st = sy_json_parse(body, len, ENVELOPE_MAX_DEPTH, NULL, &ce, err);
    if (st != SY_OK)
        return st;
    if (!cJSON_IsObject(ce))
        st = sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_JSON, "",
                          "a CloudEvent must be a JSON object");
    if (st == SY_OK)
        st = check_context(ce, err);
    if (st == SY_OK && !(o = cJSON_CreateObject()))
        st = sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    if (st == SY_OK)
        st = map_members(ce, o, err);
    cJSON_Delete(ce);
    if (st != SY_OK) {
        cJSON_Delete(o);
        return st;
    }
    return envelope__from_json(o, envelope__ce_names, false, out, err);
}
