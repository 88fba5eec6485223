/* Unit tests for the strict JSON parser (common/json.h). */
#include "json.h"
#include "test.h"

static sy_status parse(const char *text, cJSON **out, sy_error *err)
{
    sy_error_clear(err);
    return sy_json_parse(text, strlen(text), 0, NULL, out, err);
}

static void check_rejects(const char *text, const char *code, const char *path)
{
    cJSON *j = (cJSON *)1;
    sy_error e;
    CHECK_INT(parse(text, &j, &e), SY_INVALID);
    CHECK(j == NULL);
    CHECK_STR(e.code, code);
    CHECK_STR(e.path, path);
    CHECK(e.message[0] != '\0');
}

TEST(parses_every_kind_of_value)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(parse(" {\"s\":\"a\\u00e9\\n\",\"n\":-12.5e1,\"i\":7,\"t\":true,\"f\":false,"
                    "\"z\":null,\"a\":[1,[],{}]} ",
                    &j, &e),
              SY_OK);
    CHECK_STR(sy_json_get_string(j, "s"), "a\xc3\xa9\n");
    CHECK(sy_json_get(j, "n")->valuedouble == -125.0);
    CHECK_INT(sy_json_get(j, "i")->valueint, 7);
    CHECK(cJSON_IsTrue(sy_json_get(j, "t")));
    CHECK(cJSON_IsFalse(sy_json_get(j, "f")));
    CHECK(cJSON_IsNull(sy_json_get(j, "z")));
    CHECK_INT(cJSON_GetArraySize(sy_json_get(j, "a")), 3);
    cJSON_Delete(j);
}

/* an empty input may come as NULL (an empty protobuf bytes field) */
TEST(null_text_of_length_zero_is_an_empty_input)
{
    cJSON *out = (cJSON *)1;
    sy_error e;
    sy_error_clear(&e);
    CHECK_INT(sy_json_parse(NULL, 0, 0, "payload", &out, &e), SY_INVALID);
    CHECK(out == NULL);
    CHECK_STR(e.path, "payload");
}

TEST(member_order_and_last_pointer_match_cjson)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(parse("[1,2,3]", &j, &e), SY_OK);
    CHECK(j->child->prev == j->child->next->next);  /* cJSON keeps the tail in child->prev */
    cJSON_AddItemToArray(j, cJSON_CreateNumber(4)); /* so appending still works */
    CHECK_INT(cJSON_GetArrayItem(j, 3)->valueint, 4);
    char *text = cJSON_PrintUnformatted(j);
    CHECK_STR(text, "[1,2,3,4]");
    free(text);
    cJSON_Delete(j);
}

TEST(surrogate_pair_escape_becomes_utf8)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(parse("\"\\ud83d\\ude00\"", &j, &e), SY_OK);
    CHECK_STR(j->valuestring, "\xf0\x9f\x98\x80");
    cJSON_Delete(j);
}

TEST(rejects_duplicate_keys_at_top_level)
{
    check_rejects("{\"a\":1,\"b\":2,\"a\":3}", "duplicate_key", "a");
}

TEST(rejects_duplicate_keys_nested_with_path)
{
    check_rejects("{\"payload\":{\"items\":[{\"id\":1},{\"id\":2},{\"x\":0},{\"id\":1,\"id\":2}]}}",
                  "duplicate_key", "payload.items[3].id");
}

TEST(rejects_duplicate_keys_in_large_objects)
{
    sy_buf b = SY_BUF_INIT;
    sy_buf_putc(&b, '{');
    for (int i = 0; i < 500; i++)
        sy_buf_printf(&b, "\"k%d\":%d,", i, i);
    sy_buf_puts(&b, "\"k250\":0}");
    check_rejects(sy_buf_str(&b), "duplicate_key", "k250");
    sy_buf_cleanup(&b);
}

TEST(keys_are_case_sensitive)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(parse("{\"Type\":1,\"type\":2}", &j, &e), SY_OK); /* not duplicates */
    CHECK_INT(sy_json_get(j, "type")->valueint, 2);
    CHECK_INT(sy_json_get(j, "Type")->valueint, 1);
    CHECK(sy_json_get(j, "TYPE") == NULL);
    cJSON_Delete(j);
}

TEST(rejects_invalid_utf8)
{
    check_rejects("{\"a\":\"\xc3\x28\"}", "bad_utf8", "a");         /* bad continuation */
    check_rejects("{\"a\":\"\xc0\xaf\"}", "bad_utf8", "a");         /* overlong */
    check_rejects("{\"a\":\"\xed\xa0\x80\"}", "bad_utf8", "a");     /* encoded surrogate */
    check_rejects("{\"a\":\"\xf4\x90\x80\x80\"}", "bad_utf8", "a"); /* above U+10FFFF */
    check_rejects("{\"a\":\"\xe2\x82\"}", "bad_utf8", "a");         /* truncated */
    check_rejects("{\"\xff\":1}", "bad_utf8", "");                  /* in a key */
    check_rejects("{\"a\":\"\\ud800\"}", "bad_utf8", "a");          /* lone surrogate escape */
    check_rejects("{\"a\":\"\\udc00x\"}", "bad_utf8", "a");
}

TEST(rejects_nesting_deeper_than_the_limit)
{
    sy_buf b = SY_BUF_INIT;
    for (int i = 0; i < 33; i++)
        sy_buf_putc(&b, '[');
    for (int i = 0; i < 33; i++)
        sy_buf_putc(&b, ']');
    check_rejects(sy_buf_str(&b), "too_deep",
                  "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                  "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]");
    cJSON *j;
    sy_error e;
    CHECK_INT(sy_json_parse(sy_buf_str(&b) + 1, b.len - 2, 0, NULL, &j, &e), SY_OK); /* 32 ok */
    cJSON_Delete(j);
    sy_buf_cleanup(&b);
}

TEST(rejects_trailing_garbage_and_non_json)
{
    check_rejects("{} x", "bad_json", "");
    check_rejects("{}{}", "bad_json", "");
    check_rejects("", "bad_json", "");
    check_rejects("   ", "bad_json", "");
    check_rejects("\xef\xbb\xbf{}", "bad_json", ""); /* BOM */
    check_rejects("{'a':1}", "bad_json", "");
    check_rejects("{\"a\":01}", "bad_json", "a");
    check_rejects("{\"a\":1.}", "bad_json", "a");
    check_rejects("{\"a\":NaN}", "bad_json", "a");
    check_rejects("{\"a\":1e999}", "bad_json", "a");
    check_rejects("[1,]", "bad_json", "[1]");
    check_rejects("{\"a\":1,}", "bad_json", "");
    check_rejects("{\"a\" 1}", "bad_json", "a");
    check_rejects("[\"a\tb\"]", "bad_json", "[0]"); /* raw control char */
    check_rejects("[\"\\x\"]", "bad_json", "[0]");
    check_rejects("[\"\\u0000\"]", "bad_json", "[0]");
    check_rejects("[\"abc", "bad_json", "[0]");
    check_rejects("// c\n{}", "bad_json", "");
    check_rejects("[tru]", "bad_json", "[0]");
}

TEST(stops_at_len_not_at_nul)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(sy_json_parse("{\"a\":1}garbage", 7, 0, NULL, &j, &e), SY_OK);
    cJSON_Delete(j);
    CHECK_INT(sy_json_parse("[1]\0", 4, 0, NULL, &j, &e), SY_INVALID);
}

TEST(error_message_has_line_and_column)
{
    cJSON *j;
    sy_error e;
    CHECK_INT(parse("{\n  \"a\": [1,\n  2,, 3]}", &j, &e), SY_INVALID);
    CHECK_STR(e.path, "a[2]");
    CHECK_MSG(strstr(e.message, "line 3, column 5") != NULL, "message: %s", e.message);
}

TEST(path_prefix_and_odd_keys_are_quoted)
{
    cJSON *j;
    sy_error e;
    sy_error_clear(&e);
    CHECK_INT(sy_json_parse("{\"a b\":{\"c\":[tru]}}", 18, 0, "payload", &j, &e), SY_INVALID);
    CHECK_STR(e.path, "payload[\"a b\"].c[0]");
}

TEST(append_string_escapes_controls_and_quotes)
{
    sy_buf b = SY_BUF_INIT;
    sy_json_append_string(&b, "a\"b\\c\n\x01\xc3\xa9");
    CHECK_STR(sy_buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
    cJSON *j;
    sy_error e;
    CHECK_INT(sy_json_parse(b.data, b.len, 0, NULL, &j, &e), SY_OK);
    CHECK_STR(j->valuestring, "a\"b\\c\n\x01\xc3\xa9");
    cJSON_Delete(j);
    sy_buf_cleanup(&b);
}

TEST(utf8_valid_checks_whole_buffer)
{
    CHECK(sy_json_utf8_valid("h\xc3\xa9llo", 6));
    CHECK(!sy_json_utf8_valid("h\xc3", 2));
    CHECK(sy_json_utf8_valid("", 0));
}
