/* Unit tests for the `where` expression language (rules/expr.c) through
 * rules_eval, and for the load-time type checks of compiled expressions. */
#include "rules.h"
#include "rules_int.h"
#include "test.h"

static cJSON *event(void)
{
    return cJSON_Parse("{\"event_id\":\"e1\",\"type\":\"kg.gap.ready\",\"source\":\"monolith\","
                       "\"subject\":\"gap-42\",\"schema_version\":2,"
                       "\"occurred_at\":\"2026-01-02T03:04:05Z\","
                       "\"payload\":{\"priority\":3,\"kind\":\"kg\",\"tags\":[\"a\",\"b\"],"
                       "\"n\":null,\"nested\":{\"list\":[{\"id\":7}]},\"flag\":true}}");
}

static bool eval(const char *src)
{
    cJSON *ev = event();
    bool out = false;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = rules_eval(src, ev, &out, &err);
    CHECK_MSG(st == SY_OK, "rules_eval(%s): %s", src, err.message);
    cJSON_Delete(ev);
    return out;
}

static const char *compile_error(const char *src)
{
    static sy_error err;
    rules_arena a = {0};
    sy_error_clear(&err);
    rexpr *e = rules__expr_compile(&a, src, rules__envelope_roots, rules__envelope_nroots, &err);
    rules__arena_free(&a);
    return e ? NULL : err.message;
}

TEST(compares_numbers_and_strings)
{
    CHECK(eval("payload.priority >= 2"));
    CHECK(!eval("payload.priority > 3"));
    CHECK(eval("payload.priority == 3 && type == \"kg.gap.ready\""));
    CHECK(eval("source != 'other'"));
    CHECK(eval("\"a\" < \"b\""));
    CHECK(eval("schema_version <= 2.0"));
}

TEST(in_with_array_literal_and_paths)
{
    CHECK(eval("payload.kind in [\"kg\", \"web\"]"));
    CHECK(!eval("payload.kind in [\"web\"]"));
    CHECK(eval("\"a\" in payload.tags"));
    CHECK(!eval("\"z\" in payload.tags"));
    CHECK(eval("\"gap\" in subject"));
}

TEST(boolean_operators_and_precedence)
{
    CHECK(eval("false || true && true"));
    CHECK(!eval("(false || true) && false"));
    CHECK(eval("!(payload.priority < 1)"));
    CHECK(eval("payload.flag"));
    CHECK(!eval("!payload.flag"));
}

TEST(missing_path_is_null_never_an_error)
{
    CHECK(eval("payload.nope == null"));
    CHECK(eval("payload.n == null"));
    CHECK(!eval("payload.nope.deeper[3] > 1"));
    CHECK(!eval("payload.nope"));
    CHECK(eval("payload.nested.list[0].id == 7"));
    CHECK(!eval("payload.nested.list[5].id == 7"));
}

TEST(functions_and_method_syntax)
{
    CHECK(eval("exists(payload.n)"));
    CHECK(!eval("exists(payload.zzz)"));
    CHECK(eval("startsWith(source, \"mono\")"));
    CHECK(eval("source.endsWith(\"lith\")"));
    CHECK(eval("contains(payload.tags, \"b\")"));
    CHECK(eval("contains(subject, \"-4\")"));
    CHECK(eval("matches(subject, \"^gap-[0-9]+$\")"));
    CHECK(!eval("matches(subject, \"^x\")"));
    CHECK(!eval("startsWith(payload.priority, \"3\")"));
}

TEST(type_errors_detectable_at_load_are_errors)
{
    CHECK(compile_error("type > 3") != NULL);
    CHECK(compile_error("schema_version == \"2\"") != NULL);
    CHECK(compile_error("source && true") != NULL);
    CHECK(compile_error("payload.kind in 3") != NULL);
    CHECK(compile_error("type.x == 1") != NULL);
    CHECK(compile_error("matches(source, \"(\")") != NULL);
    CHECK(compile_error("42") != NULL);
    CHECK(compile_error("payload.a == 1") == NULL);
}

TEST(unknown_names_suggest_the_closest)
{
    const char *m = compile_error("paylod.x == 1");
    CHECK(m && strstr(m, "did you mean \"payload\""));
}

TEST(syntax_errors_are_precise)
{
    rules_arena a = {0};
    sy_error err;
    CHECK(!rules__expr_compile(&a, "payload.a = 1", NULL, 0, &err));
    CHECK(strstr(err.message, "==") != NULL);
    CHECK_STR(err.path, "@10");
    CHECK(!rules__expr_compile(&a, "(payload.a == 1", NULL, 0, &err));
    CHECK(!rules__expr_compile(&a, "\"abc", NULL, 0, &err));
    CHECK(!rules__expr_compile(&a, "", NULL, 0, &err));
    CHECK(!rules__expr_compile(&a, "exists(1)", NULL, 0, &err));
    rules__arena_free(&a);
    bool out;
    CHECK_INT(rules_eval("a ==", NULL, &out, &err), SY_INVALID);
}

TEST(deep_nesting_is_an_error_not_a_crash)
{
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        buf[n++] = '(';
    buf[n] = '\0';
    sy_error err;
    bool out;
    CHECK_INT(rules_eval(buf, NULL, &out, &err), SY_INVALID);
}

TEST(workflow_context_any_root)
{
    cJSON *ctx = cJSON_Parse("{\"input\":{\"n\":2},\"steps\":{\"a\":{\"result\":\"ok\"}}}");
    bool out = false;
    sy_error err;
    CHECK_INT(rules_eval("input.n == 2 && steps.a.result == \"ok\"", ctx, &out, &err), SY_OK);
    CHECK(out);
    cJSON_Delete(ctx);
}
