/* Unit tests for {{ }} templates (rules/template.c): rules_render,
 * rules_render_string and rules_workflow_id_valid. */
#include "rules.h"
#include "test.h"

static cJSON *ctx(void)
{
    return cJSON_Parse("{\"type\":\"kg.gap.ready\",\"subject\":\"Gap 42!\","
                       "\"occurred_at\":\"2026-03-04T05:06:07+01:00\","
                       "\"payload\":{\"id\":42,\"name\":\"Hello World\",\"obj\":{\"a\":[1,2]},"
                       "\"empty\":\"\",\"inj\":\"{{ payload.id }}\",\"u\":\"h\xc3\xa9llo\"}}");
}

static char *render(const char *t)
{
    cJSON *c = ctx();
    char *out = NULL;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = rules_render_string(t, c, &out, &err);
    cJSON_Delete(c);
    CHECK_MSG(st == SY_OK, "render(%s): %s", t, err.message);
    return out;
}

#define CHECK_RENDER(t, want)                                                                      \
    do {                                                                                           \
        char *got_ = render(t);                                                                    \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

TEST(interpolates_paths)
{
    CHECK_RENDER("gap-{{ payload.id }}", "gap-42");
    CHECK_RENDER("{{type}}/{{ payload.obj.a[1] }}", "kg.gap.ready/2");
    CHECK_RENDER("no templates", "no templates");
    CHECK_RENDER("x{{ payload.obj }}", "x{\"a\":[1,2]}");
}

TEST(filters)
{
    CHECK_RENDER("{{ payload.name | lower }}", "hello world");
    CHECK_RENDER("{{ payload.name | upper }}", "HELLO WORLD");
    CHECK_RENDER("{{ subject | slug }}", "gap-42");
    CHECK_RENDER("{{ payload.name | trunc(5) }}", "Hello");
    CHECK_RENDER("{{ payload.u | trunc(2) }}", "h\xc3\xa9");
    CHECK_RENDER("{{ payload.missing | default('none') }}", "none");
    CHECK_RENDER("{{ payload.empty | default(\"d\") }}", "d");
    CHECK_RENDER("{{ payload.obj | json }}", "{\"a\":[1,2]}");
    CHECK_RENDER("{{ occurred_at | date('%Y-%m-%d %H:%M') }}", "2026-03-04 04:06");
    CHECK_RENDER("{{ payload.name | lower | slug | upper }}", "HELLO-WORLD");
}

TEST(one_pass_never_reexpanded)
{
    CHECK_RENDER("{{ payload.inj }}", "{{ payload.id }}");
}

TEST(a_single_template_keeps_its_json_type)
{
    cJSON *c = ctx();
    cJSON *t = cJSON_Parse("{\"p\":\"{{ payload.obj }}\",\"n\":\"{{ payload.id }}\","
                           "\"s\":\"id {{ payload.id }}\",\"m\":\"{{ payload.none }}\","
                           "\"lit\":[1,true,\"x\"]}");
    cJSON *out = NULL;
    sy_error err;
    CHECK_INT(rules_render(t, c, &out, &err), SY_OK);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(out, "p")));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(out, "n")));
    CHECK_STR(cJSON_GetObjectItem(out, "s")->valuestring, "id 42");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(out, "m")));
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(out, "lit")), 3);
    cJSON_Delete(out);
    cJSON_Delete(t);
    cJSON_Delete(c);
}

TEST(errors_are_reported_not_mangled)
{
    cJSON *c = ctx();
    char *out = NULL;
    sy_error err;
    CHECK_INT(rules_render_string("id-{{ payload.nope }}", c, &out, &err), SY_INVALID);
    CHECK(out == NULL);
    CHECK(strstr(err.message, "payload.nope") != NULL);
    CHECK_INT(rules_render_string("{{ payload.id | lowr }}", c, &out, &err), SY_INVALID);
    CHECK(strstr(err.message, "did you mean \"lower\"") != NULL);
    CHECK_INT(rules_render_string("{{ payload.id", c, &out, &err), SY_INVALID);
    CHECK_INT(rules_render_string("{{ }}", c, &out, &err), SY_INVALID);
    CHECK_INT(rules_render_string("{{ payload.id | trunc('x') }}", c, &out, &err), SY_INVALID);
    CHECK_INT(rules_render_string("{{ payload.id | default }}", c, &out, &err), SY_INVALID);
    cJSON_Delete(c);
}

TEST(workflow_id_pattern)
{
    CHECK(rules_workflow_id_valid("gap-drain-42"));
    CHECK(rules_workflow_id_valid("a.b_c:d/e-f"));
    CHECK(!rules_workflow_id_valid(""));
    CHECK(!rules_workflow_id_valid("has space"));
    CHECK(!rules_workflow_id_valid("h\xc3\xa9"));
    CHECK(!rules_workflow_id_valid(NULL));
    char big[300];
    memset(big, 'a', 256);
    big[256] = '\0';
    CHECK(!rules_workflow_id_valid(big));
    big[255] = '\0';
    CHECK(rules_workflow_id_valid(big));
}

/* rules_render_text: a value used as text (an assignee, an emitted subject) */
static sy_status render_text(const char *t, char **out, sy_error *err)
{
    cJSON *c = ctx();
    sy_error_clear(err);
    sy_status st = rules_render_text(t, c, out, err);
    cJSON_Delete(c);
    return st;
}

TEST(render_text_turns_scalars_into_strings)
{
    const char *cases[][2] = {{"{{ payload.id }}", "42"},
                              {"{{ payload.name }}", "Hello World"},
                              {"{{ true }}", "true"},
                              {"{{ payload.nope | default('auditors') }}", "auditors"},
                              {"gap-{{ payload.id }}", "gap-42"},
                              {"plain", "plain"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        sy_error err;
        CHECK_MSG(render_text(cases[i][0], &out, &err) == SY_OK, "%s: %s", cases[i][0],
                  err.message);
        CHECK_STR(out, cases[i][1]);
        free(out);
    }
}

TEST(render_text_null_is_no_value_and_objects_are_refused)
{
    char *out = (char *)"x";
    sy_error err;
    CHECK_INT(render_text("{{ payload.nope }}", &out, &err), SY_OK);
    CHECK(out == NULL);
    CHECK_INT(render_text("{{ payload.obj }}", &out, &err), SY_INVALID);
    CHECK(out == NULL);
    CHECK_STR(err.code, "bad_template");
    CHECK(strstr(err.message, "an object") != NULL);
    CHECK_INT(render_text("{{ payload.obj.a }}", &out, &err), SY_INVALID);
    CHECK(strstr(err.message, "an array") != NULL);
}
