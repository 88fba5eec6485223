/* envelope_proto.c: the protobuf form of the envelope (schemas/envelope.proto).
 *
 * Decoding turns the message into the same canonical cJSON object the JSON
 * path produces and hands it to the shared validation, so the rules are the
 * same by construction. proto2 presence means a missing field is reported as
 * missing. Fields this build does not know are rejected like unknown JSON
 * members; strings are checked for UTF-8 (protobuf-c does not). */
#include "envelope.pb-c.h"
#include "envelope_int.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sy_status add_proto_string(cJSON *o, const char *name, const char *v, sy_error *err)
{
    if (!v)
        return SY_OK;
    if (!sy_json_utf8_valid(v, strlen(v)))
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_UTF8, name,
                            "\"%s\" is not valid UTF-8", name);
    cJSON *s = cJSON_CreateString(v);
    if (!s)
        return sy_error_set(err, SY_NOMEM, "nomem", name, "out of memory");
    cJSON_AddItemToObject(o, name, s);
    return SY_OK;
}

static sy_status proto_to_json(const Switchyard__Envelope *m, cJSON *o, sy_error *err)
{
    if (m->base.n_unknown_fields > 0) {
        char path[32];
        snprintf(path, sizeof path, "field %u", (unsigned)m->base.unknown_fields[0].tag);
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_FIELD, path,
                            "unknown protobuf field number %u",
                            (unsigned)m->base.unknown_fields[0].tag);
    }
    const char *strs[] = {m->event_id, m->type, m->source, m->occurred_at, m->subject, m->trace_id};
    sy_status st = SY_OK;
    for (int i = 0; i < 6 && st == SY_OK; i++)
        st = add_proto_string(o, envelope__json_names[i], strs[i], err);
    if (st != SY_OK)
        return st;
    if (m->has_schema_version)
        cJSON_AddItemToObject(o, "schema_version", cJSON_CreateNumber((double)m->schema_version));
    if (!m->has_payload)
        return SY_OK;
    cJSON *payload = NULL;
    /* the payload sits one level below the envelope object */
    st = sy_json_parse((const char *)m->payload.data, m->payload.len, ENVELOPE_MAX_DEPTH - 1,
                       "payload", &payload, err);
    if (st == SY_OK)
        cJSON_AddItemToObject(o, "payload", payload);
    return st;
}

sy_status envelope__proto_decode(const char *body, size_t len, cJSON **out, sy_error *err)
{
    *out = NULL;
    Switchyard__Envelope *m = switchyard__envelope__unpack(NULL, len, (const uint8_t *)body);
    if (!m)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_PROTOBUF, "",
                            "could not decode the protobuf envelope");
    cJSON *o = cJSON_CreateObject();
    sy_status st =
        o ? proto_to_json(m, o, err) : sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    switchyard__envelope__free_unpacked(m, NULL);
    if (st != SY_OK) {
        cJSON_Delete(o);
        return st;
    }
    *out = o;
    return SY_OK;
}

sy_status envelope_to_protobuf(const envelope *env, uint8_t **buf, size_t *len, sy_error *err)
{
    *buf = NULL;
    *len = 0;
    Switchyard__Envelope m = SWITCHYARD__ENVELOPE__INIT;
    char *payload = cJSON_PrintUnformatted(env->payload);
    if (!payload)
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    /* protobuf-c takes non-const strings but only reads them when packing */
    m.event_id = (char *)env->event_id;
    m.type = (char *)env->type;
    m.source = (char *)env->source;
    m.occurred_at = (char *)env->occurred_at;
    m.subject = (char *)env->subject;
    m.trace_id = (char *)env->trace_id;
    m.has_schema_version = 1;
    m.schema_version = env->schema_version;
    m.has_payload = 1;
    m.payload.data = (uint8_t *)payload;
    m.payload.len = strlen(payload);
    size_t n = switchyard__envelope__get_packed_size(&m);
    uint8_t *out = malloc(n ? n : 1);
    if (!out) {
        free(payload);
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    }
    switchyard__envelope__pack(&m, out);
    free(payload);
    *buf = out;
    *len = n;
    return SY_OK;
}
