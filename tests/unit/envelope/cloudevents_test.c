/* Unit tests for CloudEvents 1.0 (envelope/envelope_ce.c) in both content
 * modes of the NATS protocol binding, with the examples of the CloudEvents
 * specification itself (the core specification, the JSON event format's
 * section 3.2, the NATS protocol binding's section 3.1.4): what CloudEvents makes
 * optional gets its default (issue 19 item 19), and what is not a valid
 * CloudEvent (or not one switchyard takes) is refused at its attribute. */
#include "envelope_fixtures.h"

#define RECEIVED_MS 1795255200123LL /* 2026-11-21T10:00:00.123Z */

static const envelope_meta structured = {.content_type = "application/cloudevents+json",
                                         .received_ms = RECEIVED_MS};

/* A binary-mode message: hdrs is {name, value, ..., NULL}. */
static envelope_meta binary(const char *const *hdrs)
{
    size_t n = 0;
    while (hdrs[2 * n])
        n++;
    return (envelope_meta){.headers = hdrs, .nheaders = n, .received_ms = RECEIVED_MS};
}

static envelope *ce_ok(const char *body, const envelope_meta *meta)
{
    envelope *env = NULL;
    sy_error e;
    sy_status st = parse_body(body, strlen(body), meta, NULL, &env, &e);
    CHECK_MSG(st == SY_OK, "rejected: %s at \"%s\": %s (%s)", e.code, e.path, e.message, body);
    return env;
}

static void ce_bad(const char *body, const envelope_meta *meta, const char *code, const char *path)
{
    expect_invalid_meta(body, strlen(body), meta, NULL, code, path);
}

/* the smallest event CloudEvents allows: specversion, id, source, type
 * (was missing_field time, then traceparent, then schemaversion) */
TEST(a_minimal_structured_event_gets_the_defaults)
{
    envelope *env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"A234-1234-1234\",\"type\":"
                          "\"com.example.someevent\",\"source\":\"/mycontext\",\"data\":"
                          "{\"appinfoA\":\"abc\"}}",
                          &structured);
    CHECK_STR(envelope_event_id(env), "A234-1234-1234");
    CHECK_STR(envelope_type(env), "com.example.someevent");
    CHECK_STR(envelope_source(env), "/mycontext");
    CHECK_STR(envelope_occurred_at(env), "2026-11-21T10:00:00.123Z"); /* received */
    CHECK_INT(envelope_occurred_at_ms(env), RECEIVED_MS);
    CHECK_INT(envelope_schema_version(env), 1);
    CHECK(envelope_subject(env) == NULL);
    CHECK_STR(sy_json_get_string(envelope_payload(env), "appinfoA"), "abc");
    /* the trace id is derived from source and id: the same event, the same trace */
    char trace[33];
    snprintf(trace, sizeof trace, "%s", envelope_trace_id(env));
    CHECK_INT((long)strspn(trace, "0123456789abcdef"), 32);
    envelope_free(env);
    env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"A234-1234-1234\",\"type\":\"x.y\","
                "\"source\":\"/mycontext\"}",
                &structured);
    CHECK_STR(envelope_trace_id(env), trace);
    CHECK_INT(cJSON_GetArraySize(envelope_payload(env)), 0); /* no data: {} */
    envelope_free(env);
    env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"B234-1234-1234\",\"type\":\"x.y\","
                "\"source\":\"/mycontext\"}",
                &structured);
    CHECK(strcmp(envelope_trace_id(env), trace) != 0);
    envelope_free(env);
    /* with no received time: the clock */
    envelope_meta now = {.content_type = "application/cloudevents+json"};
    env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"n\",\"type\":\"x.y\",\"source\":\"/s\"}", &now);
    CHECK_INT(envelope_occurred_at_ms(env), BASE_EVENT_MS); /* parse_body pins now */
    envelope_free(env);
}

/* the JSON event format, section 3.2: the event with JSON object data */
TEST(the_json_format_example_with_object_data_is_taken)
{
    envelope *env = ce_ok("{\"specversion\" : \"1.0\", \"type\" : \"com.example.someevent\","
                          " \"source\" : \"/mycontext\", \"subject\": null,"
                          " \"id\" : \"C234-1234-1234\", \"time\" : \"2018-04-05T17:31:00Z\","
                          " \"comexampleextension1\" : \"value\", \"comexampleothervalue\" : 5,"
                          " \"unsetextension\": null,"
                          " \"datacontenttype\" : \"application/json\","
                          " \"data\" : { \"appinfoA\" : \"abc\", \"appinfoB\" : 123,"
                          " \"appinfoC\" : true } }",
                          &structured);
    CHECK_STR(envelope_event_id(env), "C234-1234-1234");
    CHECK_STR(envelope_occurred_at(env), "2018-04-05T17:31:00Z");
    CHECK(envelope_subject(env) == NULL); /* null is unset */
    CHECK_INT(sy_json_get(envelope_payload(env), "appinfoB")->valueint, 123);
    CHECK(sy_json_get(envelope_json(env), "comexampleextension1") == NULL);
    envelope_free(env);
}

/* the same section's other examples: data that is not a JSON object */
TEST(the_json_format_examples_without_object_data_are_refused_at_their_attribute)
{
    ce_bad("{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\",\"source\":\"/mycontext\","
           "\"id\":\"A234-1234-1234\",\"time\":\"2018-04-05T17:31:00Z\","
           "\"datacontenttype\":\"application/vnd.apache.thrift.binary\","
           "\"data_base64\":\"AAAA\"}",
           &structured, "bad_field", "datacontenttype");
    ce_bad("{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\",\"source\":\"/mycontext\","
           "\"id\":\"A234-1234-1234\",\"data_base64\":\"AAAA\"}",
           &structured, "bad_field", "data_base64");
    ce_bad("{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\",\"source\":\"/mycontext\","
           "\"id\":\"B234-1234-1234\",\"time\":\"2018-04-05T17:31:00Z\",\"unsetextension\":null,"
           "\"datacontenttype\":\"application/xml\",\"data\":\"<much wow=\\\"xml\\\"/>\"}",
           &structured, "bad_field", "datacontenttype");
    ce_bad("{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\",\"source\":\"/mycontext\","
           "\"subject\":null,\"id\":\"D234-1234-1234\",\"time\":\"2018-04-05T17:31:00Z\","
           "\"data\":\"I'm just a string\"}",
           &structured, "bad_field", "data");
    /* the core specification's example: an XML payload */
    ce_bad("{\"specversion\":\"1.0\",\"type\":\"com.github.pull_request.opened\",\"source\":"
           "\"https://github.com/cloudevents/spec/pull\",\"subject\":\"123\",\"id\":"
           "\"A234-1234-1234\",\"time\":\"2018-04-05T17:31:00Z\",\"comexampleextension1\":"
           "\"value\",\"comexampleothervalue\":5,\"datacontenttype\":\"text/xml\",\"data\":"
           "\"<much wow=\\\"xml\\\"/>\"}",
           &structured, "bad_field", "datacontenttype");
    /* a JSON media type with parameters and a +json suffix is JSON */
    envelope_free(ce_ok("{\"specversion\":\"1.0\",\"type\":\"a.b\",\"source\":\"/s\",\"id\":\"x\","
                        "\"datacontenttype\":\"application/vnd.x+json; charset=utf-8\","
                        "\"data\":{}}",
                        &structured));
}

/* the NATS protocol binding, section 3.1.4 (was unknown_field id:
 * the headers were ignored and the data read as an envelope) */
TEST(the_nats_binding_binary_mode_example_is_taken)
{
    const char *const hdrs[] = {"ce-specversion",
                                "1.0",
                                "ce-type",
                                "com.example.someevent",
                                "ce-time",
                                "2018-04-05T03:56:24Z",
                                "ce-id",
                                "1234-1234-1234",
                                "ce-source",
                                "/mycontext/subcontext",
                                "ce-datacontenttype",
                                "application/json",
                                NULL};
    envelope_meta m = binary(hdrs);
    envelope *env = ce_ok("{\"appinfoA\":\"abc\",\"id\":\"not an attribute\"}", &m);
    CHECK_STR(envelope_event_id(env), "1234-1234-1234");
    CHECK_STR(envelope_type(env), "com.example.someevent");
    CHECK_STR(envelope_source(env), "/mycontext/subcontext");
    CHECK_STR(envelope_occurred_at(env), "2018-04-05T03:56:24Z");
    CHECK_INT(envelope_schema_version(env), 1);
    CHECK_STR(sy_json_get_string(envelope_payload(env), "id"), "not an attribute");
    /* the trace id: the same as the structured form of the same event */
    envelope *st = ce_ok("{\"specversion\":\"1.0\",\"id\":\"1234-1234-1234\",\"type\":"
                         "\"com.example.someevent\",\"source\":\"/mycontext/subcontext\"}",
                         &structured);
    CHECK_STR(envelope_trace_id(env), envelope_trace_id(st));
    envelope_free(st);
    envelope_free(env);
}

/* the JSON event format's binary re-encodings: content-type carries the
 * data's media type, integer extensions travel as text */
TEST(binary_mode_takes_the_media_type_from_content_type)
{
    const char *const hdrs[] = {"ce-specversion",
                                "1.0",
                                "ce-type",
                                "com.example.someevent",
                                "ce-source",
                                "/mycontext",
                                "ce-id",
                                "C234-1234-1234",
                                "ce-time",
                                "2018-04-05T17:31:00Z",
                                "ce-comexampleextension1",
                                "value",
                                "ce-comexampleothervalue",
                                "5",
                                NULL};
    envelope_meta m = binary(hdrs);
    m.content_type = "application/json";
    envelope_free(ce_ok("{\"appinfoA\":\"abc\",\"appinfoB\":123,\"appinfoC\":true}", &m));
    m.content_type = "application/xml";
    ce_bad("<much wow=\"xml\"/>", &m, "bad_field", "Content-Type");
    m.content_type = "application/json";
    ce_bad("\"I'm just a string\"", &m, "bad_field", "data");
    ce_bad("{\"a\":", &m, "bad_json", "data.a");
}

TEST(binary_mode_headers_are_decoded_as_the_binding_says)
{
    /* names in any case; values percent-encoded, or quoted (older senders) */
    const char *const hdrs[] = {"CE-SpecVersion",
                                "1.0",
                                "Ce-Id",
                                "e-1",
                                "ce-type",
                                "a.b",
                                "ce-source",
                                "Euro%20%e2%82%AC%20%F0%9F%98%80",
                                "ce-subject",
                                "\"two words \\\"quoted\\\"\"",
                                "ce-schemaversion",
                                "2",
                                "traceparent",
                                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                NULL};
    envelope_meta m = binary(hdrs);
    envelope *env = ce_ok("", &m); /* no data: payload {} */
    CHECK_STR(envelope_source(env), "Euro \xE2\x82\xAC \xF0\x9F\x98\x80");
    CHECK_STR(envelope_subject(env), "two words \"quoted\"");
    CHECK_INT(envelope_schema_version(env), 2);
    CHECK_STR(envelope_trace_id(env), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(envelope_occurred_at(env), "2026-11-21T10:00:00.123Z");
    CHECK_INT(cJSON_GetArraySize(envelope_payload(env)), 0);
    envelope_free(env);
}

/* Expects the base binary event with header name set to value (added when
 * absent, removed when value is NULL) to be refused with code at path. */
static void binary_bad(const char *name, const char *value, const char *code, const char *path)
{
    const char *base[] = {"ce-specversion", "1.0", "ce-id",     "e-1",
                          "ce-type",        "a.b", "ce-source", "/s"};
    const char *hdrs[16];
    size_t n = 0;
    bool done = false;
    for (size_t i = 0; i < 8; i += 2) {
        if (strcmp(base[i], name) == 0) {
            done = true;
            if (!value)
                continue;
            hdrs[n++] = base[i];
            hdrs[n++] = value;
            continue;
        }
        hdrs[n++] = base[i];
        hdrs[n++] = base[i + 1];
    }
    if (!done) {
        hdrs[n++] = name;
        hdrs[n++] = value;
    }
    hdrs[n] = NULL;
    envelope_meta m = binary(hdrs);
    ce_bad("{}", &m, code, path);
}

TEST(binary_mode_errors_name_the_header)
{
    binary_bad("ce-specversion", "0.3", "bad_field", "ce-specversion");
    binary_bad("ce-id", NULL, "missing_field", "ce-id");
    binary_bad("ce-id", "has space", "bad_field", "ce-id");
    binary_bad("ce-type", "a..b", "bad_type", "ce-type");
    binary_bad("ce-source", NULL, "missing_field", "ce-source");
    binary_bad("ce-time", "2026-13-01T00:00:00Z", "bad_timestamp", "ce-time");
    binary_bad("ce-traceparent", "nope", "bad_trace_id", "ce-traceparent");
    binary_bad("ce-schemaversion", "x", "bad_field", "ce-schemaversion");
    binary_bad("ce-datacontenttype", "text/plain", "bad_field", "ce-datacontenttype");
    binary_bad("ce-foo_bar", "1", "unknown_field", "ce-foo_bar");
    binary_bad("CE-ID", "e-2", "duplicate_key", "CE-ID");
    binary_bad("ce-subject", "%C0%A0", "bad_field", "ce-subject"); /* overlong UTF-8 */
    binary_bad("ce-subject", "50%", "bad_field", "ce-subject");
    binary_bad("ce-subject", "%00", "bad_field", "ce-subject");
    binary_bad("ce-subject", "\"unterminated", "bad_field", "ce-subject");
    binary_bad("ce-data", "{}", "unknown_field", "ce-data"); /* the data is the body */
    binary_bad("traceparent", "00-nope", "bad_trace_id", "traceparent");
    char *huge = malloc(5000);
    memset(huge, 'a', 4999);
    huge[4999] = '\0';
    binary_bad("ce-subject", huge, "bad_field", "ce-subject");
    free(huge);
}

/* the binding: a Content-Type of application/cloudevents is structured
 * mode, ce-* headers or not */
TEST(a_cloudevents_content_type_wins_over_ce_headers)
{
    const char *const hdrs[] = {"ce-specversion", "1.0", "ce-id", "hdr", "ce-type", "a.b",
                                "ce-source",      "/s",  NULL};
    envelope_meta m = binary(hdrs);
    m.content_type = "application/cloudevents+json; charset=utf-8";
    envelope *env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"body\",\"type\":\"a.b\","
                          "\"source\":\"/s\"}",
                          &m);
    CHECK_STR(envelope_event_id(env), "body");
    envelope_free(env);
    m.content_type = "application/cloudevents-batch+json";
    ce_bad("[]", &m, "bad_field", "Content-Type");
}

/* a signature covers the body only, not the attributes in the headers */
TEST(a_binary_mode_event_cannot_be_signed)
{
    const char *const hdrs[] = {"ce-specversion", "1.0", "ce-id", "e-1", "ce-type", "a.b",
                                "ce-source",      "/s",  NULL};
    envelope_meta m = binary(hdrs);
    m.key_id = "k1";
    m.signature = "AAAA";
    ce_bad("{}", &m, "bad_signature", "Sy-Signature");
}

TEST(the_batch_mode_is_refused_by_name)
{
    envelope_meta m = {.content_type = "application/cloudevents-batch+json"};
    envelope *env = (envelope *)1;
    sy_error e;
    CHECK_INT(parse_body("[]", 2, &m, NULL, &env, &e), SY_INVALID);
    CHECK_STR(e.path, "Content-Type");
    CHECK(strstr(e.message, "not batched") != NULL);
}

/* what a dead letter keeps of a refused binary-mode event */
TEST(peek_reads_a_binary_mode_event)
{
    const char *const hdrs[] = {"ce-specversion",
                                "1.0",
                                "ce-id",
                                "e-1",
                                "ce-type",
                                "a.b",
                                "ce-source",
                                "/s",
                                "ce-traceparent",
                                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                NULL};
    envelope_meta m = binary(hdrs);
    envelope_fields f;
    envelope_peek("[not an object", 14, &m, NULL, &f);
    CHECK_STR(f.event_id, "e-1");
    CHECK_STR(f.type, "a.b");
    CHECK_STR(f.source, "/s");
    CHECK_STR(f.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    envelope_fields_cleanup(&f);
}

/* a header that does not decode does not hide the others from the dead
 * letter, and one without a trace keeps the trace id it would have had */
TEST(peek_skips_a_bad_header_and_derives_the_trace_id)
{
    const char *const hdrs[] = {
        "ce-specversion", "1.0", "ce-subject", "%zz",       "ce-id", "e-1", "ce-type", "a.b",
        "ce-source",      "/s",  "ce-time",    "yesterday", NULL};
    envelope_meta m = binary(hdrs);
    envelope_fields f;
    envelope_peek("{}", 2, &m, NULL, &f);
    CHECK_STR(f.event_id, "e-1");
    CHECK_STR(f.source, "/s");
    const char *const good[] = {"ce-specversion", "1.0", "ce-id", "e-1", "ce-type", "a.b",
                                "ce-source",      "/s",  NULL};
    envelope_meta gm = binary(good);
    envelope *env = ce_ok("{}", &gm);
    CHECK(f.trace_id != NULL);
    CHECK_STR(f.trace_id, envelope_trace_id(env));
    envelope_free(env);
    envelope_fields_cleanup(&f);
}

/* The traceparent attribute's parent id and the tracestate attribute are
 * kept beside the envelope (the router makes them the event's parent span
 * and carries the tracestate on); a tracestate without a traceparent is
 * dropped (W3C), a malformed one refused at its attribute. */
TEST(the_trace_context_attributes_are_kept_beside_the_envelope)
{
    envelope *env =
        ce_ok("{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"a.b\",\"source\":\"/s\","
              "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\","
              "\"tracestate\":\"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE\"}",
              &structured);
    CHECK_STR(envelope_trace_parent(env), "00f067aa0ba902b7");
    CHECK_STR(envelope_tracestate(env), "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE");
    CHECK(!cJSON_GetObjectItemCaseSensitive(envelope_json(env), "tracestate"));
    envelope_free(env);
    env = ce_ok("{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"a.b\",\"source\":\"/s\","
                "\"tracestate\":\"congo=t61rcWkgMzE\"}",
                &structured);
    CHECK_STR(envelope_trace_parent(env), "");
    CHECK(envelope_tracestate(env) == NULL);
    envelope_free(env);
    ce_bad("{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"a.b\",\"source\":\"/s\","
           "\"tracestate\":\"a=\\u0007\"}",
           &structured, "bad_trace_id", "tracestate");
    ce_bad("{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"a.b\",\"source\":\"/s\","
           "\"tracestate\":7}",
           &structured, "bad_trace_id", "tracestate");
    binary_bad("ce-tracestate", "a=%07", "bad_trace_id", "ce-tracestate");
}
