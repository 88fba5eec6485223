/* Unit tests for the envelope's wire formats: protobuf (schemas/envelope.proto)
 * and structured-mode CloudEvents 1.0 JSON, validated by the same rules. */
#include "envelope.pb-c.h"
#include "envelope_fixtures.h"

static envelope_meta pb_meta = {.content_type = "application/protobuf"};
static envelope_meta ce_meta = {.content_type = "application/cloudevents+json"};

static envelope *parse_ok(const char *body, size_t len, const envelope_meta *meta)
{
    envelope *env = NULL;
    sy_error e;
    sy_status st = parse_body(body, len, meta, NULL, &env, &e);
    CHECK_MSG(st == SY_OK, "rejected: %s at \"%s\": %s", e.code, e.path, e.message);
    return env;
}

TEST(json_to_protobuf_to_json_round_trips)
{
    envelope *env = expect_valid(BASE_EVENT);
    uint8_t *pb = NULL;
    size_t len = 0;
    sy_error e;
    CHECK_INT(envelope_to_protobuf(env, &pb, &len, &e), SY_OK);
    CHECK(len > 100);
    envelope *back = parse_ok((const char *)pb, len, &pb_meta);
    char *a = envelope_to_json(env), *b = envelope_to_json(back);
    CHECK_STR(b, a);
    CHECK_INT(envelope_occurred_at_ms(back), BASE_EVENT_MS);
    CHECK_STR(envelope_subject(back), "gap/42");
    free(a);
    free(b);
    free(pb);
    envelope_free(env);
    envelope_free(back);
}

/* Packs a message built by the test. Owned: free(). */
static uint8_t *pack(const Switchyard__Envelope *m, size_t *len)
{
    *len = switchyard__envelope__get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    switchyard__envelope__pack(m, buf);
    return buf;
}

static void base_message(Switchyard__Envelope *m)
{
    static char payload[] = "{\"gap_id\":42}";
    switchyard__envelope__init(m);
    m->event_id = "evt-1";
    m->type = "kg.gap.ready";
    m->source = "monolith";
    m->occurred_at = "2026-11-21T10:00:00Z";
    m->trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    m->has_schema_version = 1;
    m->schema_version = 1;
    m->has_payload = 1;
    m->payload.data = (uint8_t *)payload;
    m->payload.len = strlen(payload);
}

TEST(protobuf_applies_the_same_rules)
{
    Switchyard__Envelope m;
    size_t len;
    uint8_t *buf;
    base_message(&m);
    m.source = NULL; /* proto2 presence: absent, not empty */
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "missing_field", "source");
    free(buf);
    base_message(&m);
    m.has_schema_version = 0;
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "missing_field", "schema_version");
    free(buf);
    base_message(&m);
    m.type = "kg..gap";
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "bad_type", "type");
    free(buf);
    base_message(&m);
    m.trace_id = "nope";
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "bad_trace_id", "trace_id");
    free(buf);
}

TEST(protobuf_payload_is_strict_json_object)
{
    Switchyard__Envelope m;
    size_t len;
    uint8_t *buf;
    base_message(&m);
    m.payload.data = (uint8_t *)"{\"a\":1,\"a\":2}";
    m.payload.len = 13;
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "duplicate_key", "payload.a");
    free(buf);
    m.payload.data = (uint8_t *)"[1]";
    m.payload.len = 3;
    buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "bad_field", "payload");
    free(buf);
    /* an empty payload field (protobuf-c gives NULL data): refused, no
     * NULL + 0 in the JSON parser (found by fuzz_envelope under clang's UBSan) */
    envelope *env = (envelope *)1;
    sy_error e;
    CHECK_INT(parse_body("B\0", 2, &pb_meta, NULL, &env, &e), SY_INVALID);
    CHECK(env == NULL);
    CHECK_STR(e.path, "payload");
}

TEST(protobuf_garbage_and_unknown_fields_are_rejected)
{
    expect_invalid_meta("\xff\xff\xff", 3, &pb_meta, NULL, "bad_protobuf", "");
    Switchyard__Envelope m;
    size_t len;
    base_message(&m);
    uint8_t *buf = pack(&m, &len);
    buf = realloc(buf, len + 2);
    buf[len] = (15 << 3) | 0; /* field 15, varint */
    buf[len + 1] = 1;
    expect_invalid_meta((const char *)buf, len + 2, &pb_meta, NULL, "unknown_field", "field 15");
    free(buf);
}

TEST(protobuf_strings_must_be_utf8)
{
    Switchyard__Envelope m;
    size_t len;
    base_message(&m);
    m.source = "bad\xc3";
    uint8_t *buf = pack(&m, &len);
    expect_invalid_meta((const char *)buf, len, &pb_meta, NULL, "bad_utf8", "source");
    free(buf);
}

#define CE_EVENT                                                                                   \
    "{\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"monolith\",\"type\":\"kg.gap.ready\","  \
    "\"time\":\"2026-11-21T10:00:00Z\",\"subject\":\"gap/42\",\"datacontenttype\":"                \
    "\"application/json\",\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-" \
    "01\",\"schemaversion\":2,\"myext\":\"ignored\",\"data\":{\"gap_id\":42}}"

TEST(cloudevents_map_onto_the_envelope)
{
    envelope *env = parse_ok(CE_EVENT, strlen(CE_EVENT), &ce_meta);
    CHECK_STR(envelope_event_id(env), "ce-1");
    CHECK_STR(envelope_type(env), "kg.gap.ready");
    CHECK_STR(envelope_source(env), "monolith");
    CHECK_STR(envelope_occurred_at(env), "2026-11-21T10:00:00Z");
    CHECK_STR(envelope_subject(env), "gap/42");
    CHECK_STR(envelope_trace_id(env), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_INT(envelope_schema_version(env), 2);
    CHECK_INT(sy_json_get(envelope_payload(env), "gap_id")->valueint, 42);
    CHECK(sy_json_get(envelope_json(env), "myext") == NULL);
    CHECK_INT(cJSON_GetArraySize(envelope_json(env)), 8);
    envelope_free(env);
}

static void ce_expect(const char *key, const char *raw, const char *code, const char *path)
{
    cJSON *j;
    sy_error e;
    CHECK(sy_json_parse(CE_EVENT, strlen(CE_EVENT), 0, NULL, &j, &e) == SY_OK);
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (raw)
        cJSON_AddItemToObject(j, key, cJSON_Parse(raw));
    char *body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (code) {
        expect_invalid_meta(body, strlen(body), &ce_meta, NULL, code, path);
    } else {
        envelope_free(parse_ok(body, strlen(body), &ce_meta));
    }
    free(body);
}

TEST(cloudevents_errors_name_the_cloudevents_attribute)
{
    ce_expect("specversion", NULL, "missing_field", "specversion");
    ce_expect("specversion", "\"0.3\"", "bad_field", "specversion");
    ce_expect("id", NULL, "missing_field", "id");
    ce_expect("time", "\"2026-13-01T00:00:00Z\"", "bad_timestamp", "time");
    ce_expect("type", "\"a..b\"", "bad_type", "type");
    ce_expect("traceparent", "\"4bf92f3577b34da6a3ce929d0e0e4736\"", "bad_trace_id", "traceparent");
    ce_expect("schemaversion", "\"x\"", "bad_field", "schemaversion");
    ce_expect("data", "[1]", "bad_field", "data");
    ce_expect("datacontenttype", "\"text/plain\"", "bad_field", "datacontenttype");
    ce_expect("data_base64", "\"AAAA\"", "bad_field", "data_base64");
    ce_expect("Bad_Ext", "1", "unknown_field", "Bad_Ext");
    ce_expect("myext", "{\"a\":1}", "bad_field", "myext");
    ce_expect("datacontenttype", "\"application/jsonx\"", "bad_field", "datacontenttype");
}

TEST(cloudevents_schemaversion_may_be_a_string)
{
    ce_expect("schemaversion", "\"3\"", NULL, NULL);
    ce_expect("datacontenttype", NULL, NULL, NULL);
}

/* envelope_peek: what a dead letter keeps of a refused event, in every form */
static void peek_expect(const char *body, const envelope_meta *meta, const char *event_id,
                        const char *type, const char *source, const char *trace_id)
{
    envelope_fields f;
    envelope_peek(body, strlen(body), meta, NULL, &f);
    const char *got[] = {f.event_id, f.type, f.source, f.trace_id};
    const char *want[] = {event_id, type, source, trace_id};
    for (int i = 0; i < 4; i++)
        CHECK_MSG((got[i] == NULL) == (want[i] == NULL) && (!got[i] || !strcmp(got[i], want[i])),
                  "field %d of %s: got %s, expected %s", i, body, got[i] ? got[i] : "NULL",
                  want[i] ? want[i] : "NULL");
    envelope_fields_cleanup(&f);
}

TEST(peek_keeps_each_field_that_passes_its_own_rule)
{
    const char *trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    char *schema_bad = event_with("payload", "[]");
    peek_expect(schema_bad, NULL, "evt-1", "kg.gap.ready", "monolith", trace);
    free(schema_bad);
    char *bad_type = event_with("type", "\"a..b\"");
    peek_expect(bad_type, NULL, "evt-1", NULL, "monolith", trace);
    free(bad_type);
    char *bad_trace = event_with("trace_id", "\"0000\"");
    peek_expect(bad_trace, NULL, "evt-1", "kg.gap.ready", "monolith", NULL);
    free(bad_trace);
    char *bad_id = event_with("event_id", "\"has space\"");
    peek_expect(bad_id, NULL, NULL, "kg.gap.ready", "monolith", trace);
    free(bad_id);
    peek_expect("{not json", NULL, NULL, NULL, NULL, NULL);
    peek_expect("[1,2]", NULL, NULL, NULL, NULL, NULL);
    peek_expect("{\"event_id\":7,\"source\":\"\"}", NULL, NULL, NULL, NULL, NULL);
    /* CloudEvents: its own names */
    peek_expect("{\"specversion\":\"0.3\",\"id\":\"ce-9\",\"type\":\"a.b\",\"source\":\"/x\","
                "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}",
                &ce_meta, "ce-9", "a.b", "/x", trace);
    /* over the size limit: not read at all */
    envelope_opts small = {.max_bytes = 8};
    envelope_fields f;
    envelope_peek(BASE_EVENT, strlen(BASE_EVENT), NULL, &small, &f);
    CHECK(f.event_id == NULL && f.type == NULL);
    envelope_fields_cleanup(&f);
    envelope_fields_cleanup(NULL);
}

TEST(peek_reads_protobuf_bodies)
{
    Switchyard__Envelope m;
    base_message(&m);
    m.type = "a..b";
    size_t len = 0;
    uint8_t *buf = pack(&m, &len);
    envelope_fields f;
    envelope_peek((const char *)buf, len, &pb_meta, NULL, &f);
    CHECK_STR(f.event_id, "evt-1");
    CHECK(f.type == NULL);
    CHECK_STR(f.source, "monolith");
    envelope_fields_cleanup(&f);
    free(buf);
}
