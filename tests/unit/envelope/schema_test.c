/* Unit tests for payload schemas: the JSON Schema subset of
 * envelope/README.md ("Payload schemas"), compiled at load, selected by (type, schema_version). */
#include "envelope_fixtures.h"

/* Loads one schema as t.x/v1.json from a fresh directory. */
static envelope_schemas *schemas_with(const char *schema)
{
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof path, "%s/t.x", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/t.x/v1.json", dir);
    write_file(path, schema);
    envelope_schemas *s = NULL;
    sy_error e;
    sy_status st = envelope_schemas_load(dir, &s, &e);
    CHECK_MSG(st == SY_OK, "schema did not load: %s", e.message);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(dir);
    return s;
}

static sy_status check_payload(const envelope_schemas *s, const char *payload, sy_error *e)
{
    char *body = event_with("payload", payload);
    cJSON *j;
    CHECK(sy_json_parse(body, strlen(body), 0, NULL, &j, e) == SY_OK);
    cJSON_ReplaceItemInObjectCaseSensitive(j, "type", cJSON_CreateString("t.x"));
    free(body);
    body = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    envelope_opts o = {0};
    o.schemas = s;
    envelope *env = NULL;
    sy_status st = parse_body(body, strlen(body), NULL, &o, &env, e);
    envelope_free(env);
    free(body);
    return st;
}

static void ok(const envelope_schemas *s, const char *payload)
{
    sy_error e;
    CHECK_MSG(check_payload(s, payload, &e) == SY_OK, "%s rejected: %s at %s: %s", payload, e.code,
              e.path, e.message);
}

static void bad(const envelope_schemas *s, const char *payload, const char *path)
{
    sy_error e;
    CHECK_MSG(check_payload(s, payload, &e) == SY_INVALID, "%s accepted", payload);
    CHECK_MSG(strcmp(e.code, "schema_mismatch") == 0 && strcmp(e.path, path) == 0,
              "%s: expected schema_mismatch at %s, got %s at %s (%s)", payload, path, e.code,
              e.path, e.message);
}

TEST(type_keyword)
{
    envelope_schemas *s = schemas_with(
        "{\"properties\":{\"i\":{\"type\":\"integer\"},\"n\":{\"type\":\"number\"},"
        "\"s\":{\"type\":\"string\"},\"b\":{\"type\":\"boolean\"},\"z\":{\"type\":\"null\"},"
        "\"a\":{\"type\":\"array\"},\"o\":{\"type\":\"object\"},\"sn\":{\"type\":[\"string\","
        "\"null\"]}}}");
    ok(s, "{\"i\":3,\"n\":1.5,\"s\":\"x\",\"b\":false,\"z\":null,\"a\":[],\"o\":{},\"sn\":null}");
    ok(s, "{\"i\":3.0,\"n\":2,\"sn\":\"x\"}");
    bad(s, "{\"i\":3.5}", "payload.i");
    bad(s, "{\"n\":\"1\"}", "payload.n");
    bad(s, "{\"s\":1}", "payload.s");
    bad(s, "{\"b\":0}", "payload.b");
    bad(s, "{\"z\":false}", "payload.z");
    bad(s, "{\"a\":{}}", "payload.a");
    bad(s, "{\"o\":[]}", "payload.o");
    bad(s, "{\"sn\":1}", "payload.sn");
    envelope_schemas_free(s);
}

TEST(properties_required_and_additional_properties)
{
    envelope_schemas *s =
        schemas_with("{\"type\":\"object\",\"required\":[\"id\"],\"additionalProperties\":false,"
                     "\"properties\":{\"id\":{\"type\":\"string\"},\"meta\":{\"type\":\"object\","
                     "\"additionalProperties\":{\"type\":\"integer\"}}}}");
    ok(s, "{\"id\":\"a\",\"meta\":{\"x\":1,\"y\":2}}");
    bad(s, "{}", "payload.id");
    bad(s, "{\"id\":\"a\",\"extra\":1}", "payload.extra");
    bad(s, "{\"id\":\"a\",\"meta\":{\"x\":\"1\"}}", "payload.meta.x");
    envelope_schemas_free(s);
}

TEST(enum_and_const)
{
    envelope_schemas *s =
        schemas_with("{\"properties\":{\"k\":{\"enum\":[\"kg\",\"web\",2,null,{\"a\":[1]}]},"
                     "\"c\":{\"const\":{\"x\":true}}}}");
    ok(s, "{\"k\":\"kg\",\"c\":{\"x\":true}}");
    ok(s, "{\"k\":2}");
    ok(s, "{\"k\":null}");
    ok(s, "{\"k\":{\"a\":[1]}}");
    bad(s, "{\"k\":\"KG\"}", "payload.k");
    bad(s, "{\"k\":{\"a\":[2]}}", "payload.k");
    bad(s, "{\"c\":{\"x\":false}}", "payload.c");
    bad(s, "{\"c\":{\"X\":true}}", "payload.c");
    envelope_schemas_free(s);
}

TEST(numeric_bounds)
{
    envelope_schemas *s = schemas_with("{\"properties\":{\"a\":{\"minimum\":1,\"maximum\":3},"
                                       "\"b\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}}}");
    ok(s, "{\"a\":1,\"b\":0.5}");
    ok(s, "{\"a\":3,\"b\":0.999}");
    bad(s, "{\"a\":0.99}", "payload.a");
    bad(s, "{\"a\":3.01}", "payload.a");
    bad(s, "{\"b\":0}", "payload.b");
    bad(s, "{\"b\":1}", "payload.b");
    ok(s, "{\"a\":\"not a number: bounds do not apply\"}");
    envelope_schemas_free(s);
}

TEST(string_length_counts_characters)
{
    envelope_schemas *s =
        schemas_with("{\"properties\":{\"s\":{\"minLength\":2,\"maxLength\":3}}}");
    ok(s, "{\"s\":\"ab\"}");
    ok(s, "{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}"); /* 3 characters, 6 bytes */
    bad(s, "{\"s\":\"a\"}", "payload.s");
    bad(s, "{\"s\":\"abcd\"}", "payload.s");
    envelope_schemas_free(s);
}

TEST(pattern_is_a_posix_regex_search)
{
    envelope_schemas *s = schemas_with(
        "{\"properties\":{\"a\":{\"pattern\":\"^[a-z]+-[0-9]+$\"},\"u\":{\"pattern\":\"x\"}}}");
    ok(s, "{\"a\":\"gap-42\",\"u\":\"axb\"}");
    bad(s, "{\"a\":\"gap-42x\"}", "payload.a");
    bad(s, "{\"u\":\"abc\"}", "payload.u");
    envelope_schemas_free(s);
}

TEST(formats_date_time_and_uuid)
{
    envelope_schemas *s = schemas_with(
        "{\"properties\":{\"d\":{\"format\":\"date-time\"},\"u\":{\"format\":\"uuid\"}}}");
    ok(s, "{\"d\":\"2026-11-21T10:00:00+01:00\",\"u\":\"3F2B8C1E-9a4d-4e8b-b1c2-7d6e5f4a3b21\"}");
    bad(s, "{\"d\":\"2026-11-21\"}", "payload.d");
    bad(s, "{\"d\":\"2026-11-31T10:00:00Z\"}", "payload.d");
    bad(s, "{\"u\":\"3f2b8c1e9a4d4e8bb1c27d6e5f4a3b21\"}", "payload.u");
    bad(s, "{\"u\":\"3f2b8c1e-9a4d-4e8b-b1c2-7d6e5f4a3b2g\"}", "payload.u");
    envelope_schemas_free(s);
}

TEST(items_and_array_sizes_report_the_index)
{
    envelope_schemas *s =
        schemas_with("{\"properties\":{\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"
                     "\"items\":{\"type\":\"object\",\"required\":[\"id\"]}}}}");
    ok(s, "{\"items\":[{\"id\":1}]}");
    bad(s, "{\"items\":[{\"id\":1},{\"id\":2},{}]}", "payload.items[2].id");
    bad(s, "{\"items\":[]}", "payload.items");
    bad(s, "{\"items\":[{\"id\":1},{\"id\":1},{\"id\":1},{\"id\":1}]}", "payload.items");
    envelope_schemas_free(s);
}

TEST(ref_to_local_defs_including_recursion)
{
    envelope_schemas *s = schemas_with(
        "{\"$ref\":\"#/$defs/node\",\"$defs\":{\"node\":{\"type\":\"object\",\"required\":"
        "[\"name\"],\"properties\":{\"name\":{\"$ref\":\"#/$defs/name\"},\"children\":{"
        "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}}},"
        "\"name\":{\"type\":\"string\",\"minLength\":1}}}");
    ok(s, "{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":[{\"name\":\"c\"}]}]}");
    bad(s, "{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":[{\"name\":\"\"}]}]}",
        "payload.children[0].children[0].name");
    envelope_schemas_free(s);
}

TEST(all_of_any_of_one_of)
{
    envelope_schemas *s =
        schemas_with("{\"properties\":{"
                     "\"all\":{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":10}]},"
                     "\"any\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
                     "\"one\":{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":5}]}}}");
    ok(s, "{\"all\":10,\"any\":\"x\",\"one\":1}");
    ok(s, "{\"any\":3,\"one\":5.5}");
    bad(s, "{\"all\":9}", "payload.all");
    bad(s, "{\"all\":10.5}", "payload.all");
    bad(s, "{\"any\":true}", "payload.any");
    bad(s, "{\"one\":7}", "payload.one");   /* matches both */
    bad(s, "{\"one\":2.5}", "payload.one"); /* matches neither */
    envelope_schemas_free(s);
}

TEST(boolean_schemas)
{
    envelope_schemas *s = schemas_with("{\"properties\":{\"never\":false,\"any\":true}}");
    ok(s, "{\"any\":[1,{\"x\":null}]}");
    bad(s, "{\"never\":1}", "payload.never");
    envelope_schemas_free(s);
}

/* Expects the schema text to fail to load with SY_CONFIG, message naming needle. */
static void compile_fails(const char *schema, const char *needle)
{
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof path, "%s/t.x", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/t.x/v1.json", dir);
    write_file(path, schema);
    envelope_schemas *s = (envelope_schemas *)1;
    sy_error e;
    CHECK_INT(envelope_schemas_load(dir, &s, &e), SY_CONFIG);
    CHECK(s == NULL);
    CHECK_STR(e.path, path);
    CHECK_MSG(strstr(e.message, needle) != NULL, "message \"%s\" lacks \"%s\"", e.message, needle);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(dir);
}

TEST(bad_schemas_fail_at_load_with_location)
{
    compile_fails("{\"requried\":[\"a\"]}", "unsupported keyword \"requried\"");
    compile_fails("{\"properties\":{\"a\":{\"pattern\":\"(\"}}}", "/properties/a");
    compile_fails("{\"$ref\":\"#/$defs/missing\"}", "$ref");
    compile_fails("{\"$ref\":\"other.json\"}", "$ref");
    compile_fails("{\"type\":\"int\"}", "\"type\"");
    compile_fails("{\"format\":\"email\"}", "format");
    compile_fails("{\"minLength\":-1}", "minLength");
    compile_fails("{\"enum\":[]}", "enum");
    compile_fails("{\"items\":{\"allOf\":[{\"type\":\"string\"},{\"maxItems\":\"x\"}]}}",
                  "/items/allOf/1");
    compile_fails("{\"a\":1,\"a\":2}", "duplicate key");
    compile_fails("{\"type\": }", "unexpected character");
    compile_fails("[]", "a schema must be an object");
}

TEST(schema_files_must_be_named_by_version)
{
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof path, "%s/t.x", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/t.x/V1.json", dir);
    write_file(path, "{}");
    envelope_schemas *s;
    sy_error e;
    CHECK_INT(envelope_schemas_load(dir, &s, &e), SY_CONFIG);
    CHECK_STR(e.path, path);
    unlink(path);
    snprintf(path, sizeof path, "%s/t.x/README.md", dir);
    write_file(path, "not a schema");
    CHECK_INT(envelope_schemas_load(dir, &s, &e), SY_OK);
    envelope_schemas_free(s);
    CHECK_INT(envelope_schemas_load("/nonexistent/schemas", &s, &e), SY_CONFIG);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(dir);
}

TEST(schema_is_chosen_by_type_and_version)
{
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof path, "%s/events", dir);
    CHECK(mkdir(path, 0700) == 0); /* the <dir>/events layout */
    snprintf(path, sizeof path, "%s/events/t.x", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/events/t.x/v1.json", dir);
    write_file(path, "{\"required\":[\"v1\"]}");
    snprintf(path, sizeof path, "%s/events/t.x/v2.json", dir);
    write_file(path, "{\"required\":[\"v2\"]}");
    envelope_schemas *s;
    sy_error e;
    CHECK_INT(envelope_schemas_load(dir, &s, &e), SY_OK);
    envelope_opts o = {0};
    o.schemas = s;
    const char *ev = "{\"event_id\":\"e\",\"type\":\"t.x\",\"source\":\"s\",\"occurred_at\":"
                     "\"2026-11-21T10:00:00Z\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                     "\"schema_version\":%d,\"payload\":{\"v%d\":1}}";
    char body[512];
    envelope *env;
    for (int v = 1; v <= 2; v++) {
        snprintf(body, sizeof body, ev, v, v);
        CHECK_INT(parse_body(body, strlen(body), NULL, &o, &env, &e), SY_OK);
        envelope_free(env);
        snprintf(body, sizeof body, ev, v, 3 - v);
        expect_invalid_meta(body, strlen(body), NULL, &o, "schema_mismatch",
                            v == 1 ? "payload.v1" : "payload.v2");
    }
    snprintf(body, sizeof body, ev, 3, 3); /* no v3 */
    CHECK_INT(parse_body(body, strlen(body), NULL, &o, &env, &e), SY_OK);
    envelope_free(env);
    o.require_schema = true;
    expect_invalid_meta(body, strlen(body), NULL, &o, "no_schema", "schema_version");
    envelope_schemas_free(s);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
    free(dir);
}

TEST(require_schema_without_schemas_rejects)
{
    envelope_opts o = {0};
    o.require_schema = true;
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), NULL, &o, "no_schema", "schema_version");
}

TEST(repository_example_schemas_load_and_validate)
{
    envelope_schemas *s;
    sy_error e;
    CHECK_MSG(envelope_schemas_load(SY_SOURCE_DIR "/schemas", &s, &e) == SY_OK, "%s", e.message);
    envelope_opts o = {0};
    o.schemas = s;
    o.require_schema = true;
    envelope *env;
    CHECK_INT(parse_body(BASE_EVENT, strlen(BASE_EVENT), NULL, &o, &env, &e), SY_OK);
    envelope_free(env);
    char *body = event_with("payload", "{\"gap_id\":42,\"priority\":3,\"kind\":\"kg\","
                                       "\"tags\":[\"ok\",\"Not-Ok\"]}");
    expect_invalid_meta(body, strlen(body), NULL, &o, "schema_mismatch", "payload.tags[1]");
    free(body);
    envelope_schemas_free(s);
}
