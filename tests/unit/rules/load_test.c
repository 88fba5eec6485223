/* Unit tests for rules_load (rules/load*.c): file:line:col errors, unknown
 * keys with suggestions, YAML 1.2 core scalars, normalised workflows and
 * schedules, and the example rules file with its embedded tests. */
#include "rules.h"
#include "rules_support.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Loads text; returns the set (or NULL) and fills diags. A load that
 * fails says SY_CONFIG. */
static rules_set *load(const char *text, rules_diags *d)
{
    sy_status st = SY_OK;
    rules_set *set = rules_test_load(text, d, &st);
    if (st != SY_OK)
        CHECK_INT(st, SY_CONFIG);
    return set;
}

static bool has_diag(const rules_diags *d, const char *needle)
{
    for (size_t i = 0; i < d->len; i++)
        if (strstr(d->lines[i], needle))
            return true;
    return false;
}

static void dump(const rules_diags *d)
{
    for (size_t i = 0; i < d->len; i++)
        fprintf(stderr, "diag: %s\n", d->lines[i]);
}

#define WF "workflows:\n  w:\n    steps:\n      - task: t\n"

TEST(example_rules_load_and_their_tests_pass)
{
    rules_set *set = NULL;
    rules_diags d = {0};
    sy_error err;
    sy_status st = rules_load(SY_SOURCE_DIR "/examples/rules.yaml", NULL, &set, &d, &err);
    dump(&d);
    CHECK_INT(st, SY_OK);
    rules_diags fails = {0};
    size_t n = rules_run_tests(set, &fails);
    dump(&fails);
    CHECK(n >= 8);
    CHECK_INT(fails.len, 0);
    CHECK_INT(strlen(rules_set_hash(set)), 64);
    rules_diags_cleanup(&fails);
    rules_diags_cleanup(&d);
    rules_set_free(set);
}

TEST(unknown_keys_are_errors_with_suggestions)
{
    rules_diags d = {0};
    rules_set *set = load("version: 1\nroutse: []\n" WF, &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(
        has_diag(&d, ":2:1: unknown key \"routse\" in the rules file (did you mean \"routes\"?)"));
    rules_diags_cleanup(&d);
}

TEST(reports_every_error_not_just_the_first)
{
    rules_diags d = {0};
    rules_set *set = load(WF "routes:\n"
                             "  - name: a\n    match: { type: x.y, where: \"type > 1\" }\n"
                             "    start: { workflow: nope, id: \"{{ payload.id }}\" }\n"
                             "  - name: a\n    match: { type: x..y }\n    drop: true\n",
                          &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(d.len >= 4);
    CHECK(has_diag(&d, "in where: cannot order"));
    CHECK(has_diag(&d, ":8:24: unknown workflow \"nope\""));
    CHECK(has_diag(&d, "route \"a\" is defined twice"));
    CHECK(has_diag(&d, "type pattern \"x..y\""));
    rules_diags_cleanup(&d);
}

/* "~correlate" is what an inbox row's routes say for an event's
 * correlation (router/README.md): no route may be named like it. */
TEST(a_route_name_starting_with_a_tilde_is_reserved)
{
    rules_diags d = {0};
    rules_set *set = load(WF "routes:\n"
                             "  - name: \"~correlate\"\n    match: { type: x.y }\n    drop: true\n",
                          &d);
    CHECK(set == NULL);
    CHECK(has_diag(&d, "route name \"~correlate\": names starting with ~ are reserved"));
    rules_diags_cleanup(&d);
}

TEST(yaml_12_core_scalars_only)
{
    rules_diags d = {0};
    /* `yes` is a string in YAML 1.2, so paused: yes is a type error */
    rules_set *set = load(WF "schedules:\n  - { id: s, cron: \"* * * * *\", workflow: w, "
                             "paused: yes }\n",
                          &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(has_diag(&d, "paused must be true or false"));
    rules_diags_cleanup(&d);
}

TEST(yaml_syntax_errors_have_line_and_column)
{
    rules_diags d = {0};
    rules_set *set = load("routes:\n  - name: [unclosed\n", &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(d.len >= 1);
    CHECK(has_diag(&d, "invalid YAML"));
    rules_diags_cleanup(&d);
    set = load("a: 1\na: 2\n", &d);
    CHECK(set == NULL);
    CHECK(has_diag(&d, ":2:1: duplicate key \"a\""));
    rules_diags_cleanup(&d);
    set = load("x: &a [1]\ny: *a\n", &d);
    CHECK(set == NULL);
    CHECK(has_diag(&d, "aliases"));
    rules_diags_cleanup(&d);
}

TEST(durations_are_checked_precisely)
{
    rules_diags d = {0};
    rules_set *set = load("workflows:\n  w:\n    steps:\n      - sleep: 5x\n      - wait: s\n"
                          "        timeout: 1.5h\n",
                          &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(has_diag(&d, ":4:16: sleep: invalid duration \"5x\""));
    CHECK(has_diag(&d, ":6:18: timeout: invalid duration \"1.5h\": fractions"));
    rules_diags_cleanup(&d);
}

TEST(workflows_are_normalised)
{
    rules_diags d = {0};
    rules_set *set = load("workflows:\n  w:\n    steps:\n"
                          "      - task: fetch\n        retry: { initial_interval: 2s }\n"
                          "      - wait: go\n        timeout: 7d\n"
                          "      - sleep: 1h30m\n"
                          "      - if: input.x == 1\n        then: [ { complete: 1 } ]\n",
                          &d);
    dump(&d);
    CHECK(set != NULL);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(rules_set_workflows(set), "w");
    CHECK_STR(cJSON_GetObjectItem(w, "type")->valuestring, "w");
    CHECK_STR(cJSON_GetObjectItem(w, "task_queue")->valuestring, "w");
    const cJSON *steps = cJSON_GetObjectItem(w, "steps");
    CHECK_INT(cJSON_GetArraySize(steps), 4);
    const cJSON *t = cJSON_GetArrayItem(steps, 0);
    CHECK_STR(cJSON_GetObjectItem(t, "name")->valuestring, "fetch");
    /* no queue of its own: the run's (the start's override, else task_queue) */
    CHECK(cJSON_GetObjectItem(t, "queue") == NULL);
    const cJSON *r = cJSON_GetObjectItem(t, "retry");
    CHECK_INT(cJSON_GetObjectItem(r, "initial_interval_ms")->valuedouble, 2000);
    CHECK_INT(cJSON_GetObjectItem(r, "maximum_interval_ms")->valuedouble, 200000);
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "timeouts"), "heartbeat_ms")->valuedouble,
              0);
    const cJSON *wt = cJSON_GetArrayItem(steps, 1);
    CHECK_STR(cJSON_GetObjectItem(wt, "name")->valuestring, "go");
    CHECK_INT(cJSON_GetObjectItem(wt, "timeout_ms")->valuedouble, 7 * 86400000.0);
    CHECK_STR(cJSON_GetObjectItem(wt, "on_timeout")->valuestring, "fail");
    const cJSON *sl = cJSON_GetArrayItem(steps, 2);
    CHECK_STR(cJSON_GetObjectItem(sl, "name")->valuestring, "sleep-3");
    CHECK_INT(cJSON_GetObjectItem(sl, "duration_ms")->valuedouble, 5400000);
    const cJSON *iff = cJSON_GetArrayItem(steps, 3);
    CHECK_STR(cJSON_GetObjectItem(iff, "condition")->valuestring, "input.x == 1");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(iff, "else")), 0);
    rules_set_free(set);
    rules_diags_cleanup(&d);
}

TEST(schedules_are_normalised_and_cron_checked)
{
    rules_diags d = {0};
    rules_set *set =
        load(WF "schedules:\n  - { id: s1, cron: \"*/15 * * * *\", workflow: w }\n", &d);
    dump(&d);
    CHECK(set != NULL);
    const cJSON *s = cJSON_GetArrayItem(rules_set_schedules(set), 0);
    CHECK_STR(cJSON_GetObjectItem(s, "timezone")->valuestring, "UTC");
    CHECK_STR(cJSON_GetObjectItem(s, "overlap")->valuestring, "skip");
    CHECK_INT(cJSON_GetObjectItem(s, "catchup_window_ms")->valuedouble, 3600000);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(s, "paused")));
    rules_set_free(set);
    set = load(WF "schedules:\n  - { id: s1, cron: \"61 * * * *\", workflow: w, overlap: skp }\n",
               &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(has_diag(&d, "invalid cron"));
    CHECK(has_diag(&d, "did you mean \"skip\""));
    rules_diags_cleanup(&d);
}

/* emit: `subject` is the envelope's, `nats_subject` where it is published;
 * both are templates, both default to null */
TEST(emit_keeps_envelope_subject_and_nats_subject_apart)
{
    rules_diags d = {0};
    rules_set *set = load("workflows:\n  w:\n    steps:\n"
                          "      - emit: { type: a.b, subject: \"{{ input.n }}\","
                          " nats_subject: \"events.a.{{ input.n }}\" }\n"
                          "      - emit: { type: a.c }\n",
                          &d);
    dump(&d);
    CHECK(set != NULL);
    const cJSON *steps =
        cJSON_GetObjectItem(cJSON_GetObjectItem(rules_set_workflows(set), "w"), "steps");
    const cJSON *e = cJSON_GetArrayItem(steps, 0);
    CHECK_STR(cJSON_GetObjectItem(e, "subject")->valuestring, "{{ input.n }}");
    CHECK_STR(cJSON_GetObjectItem(e, "nats_subject")->valuestring, "events.a.{{ input.n }}");
    e = cJSON_GetArrayItem(steps, 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(e, "subject")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(e, "nats_subject")));
    rules_set_free(set);
    rules_diags_cleanup(&d);
    /* a template in nats_subject is checked at load like any other */
    CHECK(load("workflows:\n  w:\n    steps:\n"
               "      - emit: { type: a.b, nats_subject: \"events.{{ nope.x }}\" }\n",
               &d) == NULL);
    CHECK(d.len >= 1);
    rules_diags_cleanup(&d);
}

/* @every counts from the epoch: a zone with it would be silently ignored */
TEST(every_with_a_timezone_is_an_error_at_the_timezone)
{
    rules_diags d = {0};
    CHECK(load("version: 1\n" WF "schedules:\n  - id: s\n    cron: \"@every 24h\"\n"
               "    timezone: Europe/Berlin\n    workflow: w\n",
               &d) == NULL);
    dump(&d);
    CHECK(has_diag(&d, ":9:15: timezone \"Europe/Berlin\" has no effect on \"@every 24h\""));
    rules_diags_cleanup(&d);
    const char *fine[] = {"    cron: \"@every 24h\"\n    timezone: UTC\n",
                          "    cron: \"0 3 * * *\"\n    timezone: Europe/Berlin\n"};
    for (size_t i = 0; i < 2; i++) {
        char text[512];
        snprintf(text, sizeof text, "version: 1\n" WF "schedules:\n  - id: s\n%s    workflow: w\n",
                 fine[i]);
        rules_set *set = load(text, &d);
        dump(&d);
        CHECK(set != NULL);
        rules_set_free(set);
        rules_diags_cleanup(&d);
    }
}

TEST(template_errors_are_load_errors)
{
    rules_diags d = {0};
    rules_set *set = load(WF "routes:\n  - name: r\n    match: { type: a.b }\n"
                             "    start: { workflow: w, id: \"x-{{ paylaod.id | lowr }}\" }\n",
                          &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK(has_diag(
        &d,
        ":8:31: in {{ paylaod.id | lowr }}: unknown name \"paylaod\" (did you mean \"payload\"?)"));
    rules_diags_cleanup(&d);
}

TEST(missing_file_is_a_config_error)
{
    rules_set *set = NULL;
    rules_diags d = {0};
    sy_error err;
    CHECK_INT(rules_load("/nonexistent/rules.yaml", NULL, &set, &d, &err), SY_CONFIG);
    CHECK(set == NULL);
    CHECK(d.len == 1);
    rules_diags_cleanup(&d);
}

TEST(diagnostics_come_sorted_by_position)
{
    rules_diags d = {0};
    /* routes are validated after workflows, yet their errors come first */
    rules_set *set = load("routes:\n  - name: r\n    match: { tpye: a.b }\n    drop: true\n"
                          "workflows:\n  w:\n    steps:\n      - taks: x\n",
                          &d);
    CHECK(set == NULL);
    dump(&d);
    CHECK_INT(d.len, 2);
    CHECK(strstr(d.lines[0], ":3:14: unknown key \"tpye\" in match (did you mean \"type\"?)"));
    CHECK(strstr(d.lines[1], ":8:9: unknown key \"taks\" in a step (did you mean \"task\"?)"));
    rules_diags_cleanup(&d);
}

TEST(core_schema_scalars_resolve_as_yaml_12)
{
    rules_diags d = {0};
    rules_set *set =
        load("workflows:\n  w:\n    steps:\n      - complete: { a: 010, b: 0o10, c: 0x1F,"
             " d: yes, e: ~, f: 1.5e3, g: \"true\", h: True, i: 1_000, j: .5 }\n",
             &d);
    dump(&d);
    CHECK(set != NULL);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(rules_set_workflows(set), "w");
    const cJSON *r =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(w, "steps"), 0), "result");
    CHECK_INT(cJSON_GetObjectItem(r, "a")->valuedouble, 10);
    CHECK_INT(cJSON_GetObjectItem(r, "b")->valuedouble, 8);
    CHECK_INT(cJSON_GetObjectItem(r, "c")->valuedouble, 31);
    CHECK_STR(cJSON_GetObjectItem(r, "d")->valuestring, "yes");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(r, "e")));
    CHECK_INT(cJSON_GetObjectItem(r, "f")->valuedouble, 1500);
    CHECK_STR(cJSON_GetObjectItem(r, "g")->valuestring, "true");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "h")));
    CHECK_STR(cJSON_GetObjectItem(r, "i")->valuestring, "1_000");
    CHECK(cJSON_GetObjectItem(r, "j")->valuedouble == 0.5);
    rules_set_free(set);
    rules_diags_cleanup(&d);
}

TEST(schedule_ids_leave_room_for_the_firing_timestamp)
{
    char id[300], text[1024];
    memset(id, 'a', 231);
    id[231] = '\0';
    snprintf(text, sizeof text,
             "version: 1\n" WF "schedules:\n  - id: %s\n    cron: \"* * * * *\"\n"
             "    workflow: w\n",
             id);
    rules_diags d = {0};
    CHECK(load(text, &d) == NULL);
    CHECK(has_diag(&d, "must be 1-230 characters"));
    rules_diags_cleanup(&d);
    id[230] = '\0'; /* exactly the limit loads (a trigger's ID, with ms, is 255) */
    snprintf(text, sizeof text,
             "version: 1\n" WF "schedules:\n  - id: %s\n    cron: \"* * * * *\"\n"
             "    workflow: w\n",
             id);
    rules_set *set = load(text, &d);
    dump(&d);
    CHECK(set != NULL);
    rules_set_free(set);
    rules_diags_cleanup(&d);
}

/* An emit's nats_subject is checked as far as it is known at load: the text
 * around its templates must make a NATS subject one may publish to. */
TEST(emit_nats_subjects_that_cannot_be_published_to_are_load_errors)
{
    static const char *const bad[] = {
        "audit done",      "audit..done", "audit.>", ".audit", "audit.{{ input.x }} now",
        "a..{{ input.x }}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "workflows:\n  w:\n    steps:\n"
                 "      - emit: { type: audit.done, nats_subject: \"%s\" }\n",
                 bad[i]);
        rules_diags d = {0};
        rules_set *set = load(text, &d);
        CHECK_MSG(set == NULL, "accepted \"%s\"", bad[i]);
        CHECK_MSG(has_diag(&d, ":4:49: emit nats_subject"), "\"%s\": %s", bad[i],
                  d.len ? d.lines[0] : "no diagnostic");
        rules_diags_cleanup(&d);
    }
    static const char *const good[] = {"audit.done", "audit.{{ input.x }}", "{{ workflow.id }}",
                                       "a.{{ input.x }}.{{ input.y }}.b"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "workflows:\n  w:\n    steps:\n"
                 "      - emit: { type: audit.done, nats_subject: \"%s\" }\n",
                 good[i]);
        rules_diags d = {0};
        rules_set *set = load(text, &d);
        dump(&d);
        CHECK_MSG(set != NULL, "refused \"%s\"", good[i]);
        rules_set_free(set);
        rules_diags_cleanup(&d);
    }
    const char *why = NULL;
    CHECK(!rules_subject_valid("a\tb", &why) && strstr(why, "whitespace"));
    CHECK(!rules_subject_valid("", &why) && strstr(why, "empty"));
    CHECK(rules_subject_valid("sy.task.created.q-1", &why) && why == NULL);
    char longest[RULES_SUBJECT_MAX + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[RULES_SUBJECT_MAX] = '\0';
    CHECK(rules_subject_valid(longest, &why));
    longest[RULES_SUBJECT_MAX] = 'a';
    longest[RULES_SUBJECT_MAX + 1] = '\0';
    CHECK(!rules_subject_valid(longest, &why) && strstr(why, "1024 bytes"));
}
