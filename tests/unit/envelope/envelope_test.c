/* Unit tests for the envelope's rules (envelope/README.md): one test per
 * rule, each asserting the stable error code and field path. */
#include "envelope_fixtures.h"

TEST(accepts_a_valid_event_and_exposes_its_fields)
{
    envelope *env = expect_valid(BASE_EVENT);
    CHECK_STR(envelope_event_id(env), "evt-1");
    CHECK_STR(envelope_type(env), "kg.gap.ready");
    CHECK_STR(envelope_source(env), "monolith");
    CHECK_STR(envelope_occurred_at(env), "2026-11-21T10:00:00Z");
    CHECK_INT(envelope_occurred_at_ms(env), BASE_EVENT_MS);
    CHECK_STR(envelope_subject(env), "gap/42");
    CHECK_STR(envelope_trace_id(env), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_INT(envelope_schema_version(env), 1);
    CHECK_INT(sy_json_get(envelope_payload(env), "gap_id")->valueint, 42);
    envelope_free(env);
    envelope_free(NULL);
}

TEST(envelope_json_holds_every_member_for_rules)
{
    envelope *env = expect_valid(BASE_EVENT);
    const cJSON *j = envelope_json(env);
    const char *keys[] = {"event_id", "type",     "source",         "occurred_at",
                          "subject",  "trace_id", "schema_version", "payload"};
    for (int i = 0; i < 8; i++)
        CHECK_MSG(sy_json_get(j, keys[i]) != NULL, "missing %s", keys[i]);
    CHECK(sy_json_get(j, "payload") == envelope_payload(env));
    CHECK_INT(cJSON_GetArraySize(j), 8);
    envelope_free(env);
}

TEST(missing_required_fields_are_named)
{
    const char *req[] = {"event_id", "type",           "source", "occurred_at",
                         "trace_id", "schema_version", "payload"};
    for (int i = 0; i < 7; i++)
        expect_invalid_take(event_with(req[i], NULL), "missing_field", req[i]);
}

TEST(subject_is_optional)
{
    char *body = event_with("subject", NULL);
    envelope *env = expect_valid(body);
    CHECK(envelope_subject(env) == NULL);
    CHECK(sy_json_get(envelope_json(env), "subject") == NULL);
    envelope_free(env);
    free(body);
}

TEST(string_fields_must_be_strings)
{
    const char *f[] = {"event_id", "type", "source", "occurred_at", "subject", "trace_id"};
    for (int i = 0; i < 6; i++) {
        expect_invalid_take(event_with(f[i], "17"), "bad_field", f[i]);
        expect_invalid_take(event_with(f[i], "null"), "bad_field", f[i]);
    }
}

TEST(event_id_charset_and_length)
{
    expect_valid_take(event_with("event_id", "\"a.b_c:d-E9\""));
    expect_invalid_take(event_with("event_id", "\"\""), "bad_field", "event_id");
    expect_invalid_take(event_with("event_id", "\"a b\""), "bad_field", "event_id");
    expect_invalid_take(event_with("event_id", "\"a/b\""), "bad_field", "event_id");
    expect_invalid_take(event_with("event_id", "\"\xc3\xa9\""), "bad_field", "event_id");
    char id[140];
    id[0] = '"';
    memset(id + 1, 'x', 128);
    strcpy(id + 129, "\"");
    expect_valid_take(event_with("event_id", id));
    strcpy(id + 128, "xx\"");
    expect_invalid_take(event_with("event_id", id), "bad_field", "event_id");
}

TEST(type_is_dot_separated_segments)
{
    expect_valid_take(event_with("type", "\"kg\""));
    expect_valid_take(event_with("type", "\"a-b.c_d.E9\""));
    const char *bad[] = {"\"\"",       "\"kg..gap\"", "\".kg\"",  "\"kg.\"",
                         "\"kg gap\"", "\"kg:gap\"",  "\"kg.*\"", "\"kg/gap\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_invalid_take(event_with("type", bad[i]), "bad_type", "type");
    char t[300];
    t[0] = '"';
    memset(t + 1, 'a', 256);
    strcpy(t + 257, "\"");
    expect_invalid_take(event_with("type", t), "bad_type", "type");
}

TEST(source_is_non_empty_without_controls)
{
    expect_invalid_take(event_with("source", "\"\""), "bad_field", "source");
    expect_invalid_take(event_with("source", "\"a\\nb\""), "bad_field", "source");
    expect_invalid_take(event_with("source", "\"a\\u007fb\""), "bad_field", "source");
    expect_invalid_take(event_with("source", "\"a\\u0085b\""), "bad_field", "source");
    expect_valid_take(event_with("source", "\"billing service / eu-1 \xc3\xa9\""));
}

TEST(text_limits_count_characters_not_bytes)
{
    sy_buf b = SY_BUF_INIT;
    sy_buf_putc(&b, '"');
    for (int i = 0; i < 255; i++)
        sy_buf_puts(&b, "\xc3\xa9"); /* 255 characters, 510 bytes */
    sy_buf_putc(&b, '"');
    expect_valid_take(event_with("source", sy_buf_str(&b)));
    expect_valid_take(event_with("subject", sy_buf_str(&b)));
    b.len--;
    sy_buf_puts(&b, "x\"");
    expect_invalid_take(event_with("source", sy_buf_str(&b)), "bad_field", "source");
    expect_invalid_take(event_with("subject", sy_buf_str(&b)), "bad_field", "subject");
    sy_buf_cleanup(&b);
}

TEST(subject_has_no_controls_and_may_be_empty)
{
    expect_invalid_take(event_with("subject", "\"a\\tb\""), "bad_field", "subject");
    expect_valid_take(event_with("subject", "\"\""));
}

TEST(occurred_at_is_rfc3339_with_zone)
{
    expect_valid_take(event_with("occurred_at", "\"2026-11-21T12:00:00.123456+02:00\""));
    const char *bad[] = {"\"2026-11-21T10:00:00\"", "\"2026-13-21T10:00:00Z\"",
                         "\"2026-11-21 10:00:00Z\"", "\"yesterday\"", "\"2026-02-30T00:00:00Z\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_invalid_take(event_with("occurred_at", bad[i]), "bad_timestamp", "occurred_at");
    char *body = event_with("occurred_at", "\"2026-13-21T10:00:00Z\"");
    envelope *env;
    sy_error e;
    CHECK_INT(parse_body(body, strlen(body), NULL, NULL, &env, &e), SY_INVALID);
    CHECK_MSG(strstr(e.message, "month 13 is out of range") != NULL, "%s", e.message);
    free(body);
}

TEST(trace_id_is_w3c)
{
    expect_invalid_take(event_with("trace_id", "\"4BF92F3577B34DA6A3CE929D0E0E4736\""),
                        "bad_trace_id", "trace_id");
    expect_invalid_take(event_with("trace_id", "\"4bf92f3577b34da6a3ce929d0e0e473\""),
                        "bad_trace_id", "trace_id");
    expect_invalid_take(event_with("trace_id", "\"4bf92f3577b34da6a3ce929d0e0e47361\""),
                        "bad_trace_id", "trace_id");
    expect_invalid_take(event_with("trace_id", "\"00000000000000000000000000000000\""),
                        "bad_trace_id", "trace_id");
    expect_invalid_take(event_with("trace_id", "\"4bf92f3577b34da6a3ce929d0e0e473g\""),
                        "bad_trace_id", "trace_id");
}

TEST(schema_version_is_integer_at_least_one)
{
    expect_valid_take(event_with("schema_version", "7"));
    const char *bad[] = {"0", "-1", "1.5", "\"1\"", "true", "null", "1e10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_invalid_take(event_with("schema_version", bad[i]), "bad_field", "schema_version");
}

TEST(payload_is_an_object)
{
    expect_valid_take(event_with("payload", "{}"));
    const char *bad[] = {"[]", "\"x\"", "1", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_invalid_take(event_with("payload", bad[i]), "bad_field", "payload");
}

TEST(unknown_top_level_members_are_rejected)
{
    expect_invalid_take(event_with("extra", "1"), "unknown_field", "extra");
    /* keys are case-sensitive: "Type" is not "type" */
    expect_invalid_take(event_with("Type", "\"kg.gap.ready\""), "unknown_field", "Type");
}

TEST(duplicate_keys_are_rejected_anywhere)
{
    expect_invalid("{\"event_id\":\"a\",\"event_id\":\"b\"}", "duplicate_key", "event_id");
    const char *nested = "{\"event_id\":\"evt-1\",\"type\":\"kg.gap.ready\",\"source\":\"m\","
                         "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"trace_id\":"
                         "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"
                         "\"payload\":{\"items\":[{},{},{\"id\":1,\"id\":1}]}}";
    expect_invalid(nested, "duplicate_key", "payload.items[2].id");
}

TEST(invalid_utf8_is_rejected)
{
    const char *body = "{\"event_id\":\"evt-1\",\"type\":\"kg.gap.ready\",\"source\":\"m\xc3\","
                       "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"trace_id\":"
                       "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,\"payload\":{}}";
    expect_invalid(body, "bad_utf8", "source");
    const char *in_payload = "{\"payload\":{\"note\":\"\xed\xa0\x80\"}}";
    expect_invalid(in_payload, "bad_utf8", "payload.note");
}

/* Wraps payload in n-1 levels of {"a": ...}: the envelope itself is level 1. */
static char *nested_event(int levels)
{
    sy_buf b = SY_BUF_INIT;
    for (int i = 0; i < levels - 1; i++)
        sy_buf_puts(&b, "{\"a\":");
    sy_buf_puts(&b, "{}");
    for (int i = 0; i < levels - 1; i++)
        sy_buf_putc(&b, '}');
    char *body = event_with("payload", sy_buf_str(&b));
    sy_buf_cleanup(&b);
    return body;
}

TEST(nesting_deeper_than_32_is_rejected)
{
    expect_valid_take(nested_event(31)); /* envelope + 31 payload levels = 32 */
    char *body = nested_event(32);
    envelope *env;
    sy_error e;
    CHECK_INT(parse_body(body, strlen(body), NULL, NULL, &env, &e), SY_INVALID);
    CHECK_STR(e.code, "too_deep");
    CHECK(strncmp(e.path, "payload.a.a.a", 13) == 0);
    free(body);
}

TEST(body_over_the_limit_is_too_large)
{
    envelope_opts o = {0};
    o.max_bytes = 100;
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), NULL, &o, "too_large", "");
    sy_buf b = SY_BUF_INIT; /* default limit: 1 MiB */
    sy_buf_puts(&b, "{\"payload\":{\"x\":\"");
    for (int i = 0; i < 1024 * 1024; i++)
        sy_buf_putc(&b, 'x');
    sy_buf_puts(&b, "\"}}");
    expect_invalid(sy_buf_str(&b), "too_large", "");
    sy_buf_cleanup(&b);
}

TEST(non_json_bodies_are_bad_json)
{
    expect_invalid("", "bad_json", "");
    expect_invalid("[1]", "bad_json", "");
    expect_invalid("{\"event_id\":", "bad_json", "event_id");
    expect_invalid(BASE_EVENT " x", "bad_json", "");
}

TEST(unsupported_content_type_is_rejected)
{
    envelope_meta m = {.content_type = "text/plain"};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &m, NULL, "bad_field", "Content-Type");
    envelope_meta j = {.content_type = "Application/JSON; charset=utf-8"};
    envelope *env;
    sy_error e;
    CHECK_INT(parse_body(BASE_EVENT, strlen(BASE_EVENT), &j, NULL, &env, &e), SY_OK);
    envelope_free(env);
}

TEST(canonical_json_has_fixed_order_and_reparses)
{
    const char *shuffled = "{\"payload\":{\"b\":[1,2],\"a\":\"x\\\"y\"},\"schema_version\":2,"
                           "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"source\":\"s\","
                           "\"type\":\"t.u\",\"occurred_at\":\"2026-11-21T10:00:00Z\","
                           "\"event_id\":\"e\"}";
    envelope *env = expect_valid(shuffled);
    char *text = envelope_to_json(env);
    CHECK_STR(text, "{\"event_id\":\"e\",\"type\":\"t.u\",\"source\":\"s\",\"occurred_at\":"
                    "\"2026-11-21T10:00:00Z\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                    "\"schema_version\":2,\"payload\":{\"b\":[1,2],\"a\":\"x\\\"y\"}}");
    envelope *again = expect_valid(text);
    char *text2 = envelope_to_json(again);
    CHECK_STR(text2, text);
    free(text);
    free(text2);
    envelope_free(env);
    envelope_free(again);
}

TEST(envelope_new_applies_the_same_rules)
{
    cJSON *payload = cJSON_CreateObject();
    cJSON_AddNumberToObject(payload, "n", 1);
    envelope *env = NULL;
    sy_error e;
    CHECK_INT(envelope_new("e-1", "a.b", "src", "2026-11-21T10:00:00Z", NULL,
                           "4bf92f3577b34da6a3ce929d0e0e4736", 3, payload, &env, &e),
              SY_OK);
    CHECK_STR(envelope_type(env), "a.b");
    CHECK(envelope_payload(env) != payload); /* deep copy */
    CHECK_INT(sy_json_get(envelope_payload(env), "n")->valueint, 1);
    envelope_free(env);
    CHECK_INT(envelope_new("e 1", "a.b", "src", "2026-11-21T10:00:00Z", NULL,
                           "4bf92f3577b34da6a3ce929d0e0e4736", 3, payload, &env, &e),
              SY_INVALID);
    CHECK_STR(e.code, "bad_field");
    CHECK_STR(e.path, "event_id");
    CHECK(env == NULL);
    CHECK_INT(envelope_new("e1", "a.b", "src", NULL, NULL, "4bf92f3577b34da6a3ce929d0e0e4736", 3,
                           payload, &env, &e),
              SY_INVALID);
    CHECK_STR(e.code, "missing_field");
    CHECK_STR(e.path, "occurred_at");
    CHECK_INT(envelope_new("e1", "a.b", "src", "2026-11-21T10:00:00Z", NULL,
                           "4bf92f3577b34da6a3ce929d0e0e4736", 0, payload, &env, &e),
              SY_INVALID);
    CHECK_STR(e.path, "schema_version");
    cJSON_Delete(payload);
}
