/* Unit tests for matching and actions (rules/match.c, rules/actions.c):
 * globs, file order, the type index, where clauses, templates in actions,
 * dead letters for bad workflow IDs, signal-with-start, directories. */
#include "envelope.h"
#include "rules.h"
#include "rules_int.h"
#include "rules_support.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Routes an event given as JSON through a real envelope. */
static void route(const rules_set *set, const char *type, const char *source, const char *subject,
                  const char *payload, rules_actions *out)
{
    cJSON *p = cJSON_Parse(payload);
    envelope *env = NULL;
    sy_error err;
    sy_status st = envelope_new("ev-1", type, source, "2026-01-02T03:04:05Z", subject,
                                "4bf92f3577b34da6a3ce929d0e0e4736", 1, p, &env, &err);
    CHECK_MSG(st == SY_OK, "envelope_new: %s", err.message);
    cJSON_Delete(p);
    memset(out, 0, sizeof *out);
    CHECK_INT(rules_route(set, env, out), SY_OK);
    envelope_free(env);
}

#define WF "workflows:\n  w:\n    steps:\n      - task: t\n"

TEST(type_globs_follow_nats_rules)
{
    CHECK(rules__glob_type("a.*.c", "a.b.c"));
    CHECK(!rules__glob_type("a.*.c", "a.b.b.c"));
    CHECK(rules__glob_type("a.>", "a.b.c"));
    CHECK(!rules__glob_type("a.>", "a"));
    CHECK(rules__glob_type("*", "x"));
    CHECK(!rules__glob_type("*", "x.y"));
    CHECK(rules__glob_type("a.b", "a.b"));
    CHECK(!rules__glob_type("a.b", "a.bc"));
}

TEST(value_globs_star_anywhere)
{
    CHECK(rules__glob_value("mono*", "monolith"));
    CHECK(rules__glob_value("*lith", "monolith"));
    CHECK(rules__glob_value("m*o*h", "monolith"));
    CHECK(!rules__glob_value("m*x", "monolith"));
    CHECK(rules__glob_value("*", ""));
    CHECK(!rules__glob_value("a", ""));
}

TEST(every_matching_route_fires_in_file_order)
{
    rules_set *set =
        rules_test_load_ok(WF "routes:\n"
                              "  - { name: g1, match: { type: \"a.>\" }, drop: true }\n"
                              "  - { name: e1, match: { type: a.b }, drop: true }\n"
                              "  - { name: other, match: { type: c.d }, drop: true }\n"
                              "  - { name: g2, match: { type: \"*.b\" }, drop: true }\n"
                              "  - { name: e2, match: { type: a.b }, drop: true }\n"
                              "  - { name: any, match: { source: \"x*\" }, drop: true }\n");
    rules_actions a;
    route(set, "a.b", "xyz", NULL, "{}", &a);
    CHECK_INT(a.len, 5);
    const char *want[] = {"g1", "e1", "g2", "e2", "any"};
    for (size_t i = 0; i < 5; i++)
        CHECK_STR(a.items[i].route, want[i]);
    CHECK(!a.unmatched);
    rules_actions_cleanup(&a);
    route(set, "q.q", "src", NULL, "{}", &a);
    CHECK_INT(a.len, 0);
    CHECK(a.unmatched);
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

TEST(where_source_and_subject_filter)
{
    rules_set *set =
        rules_test_load_ok(WF "routes:\n"
                              "  - name: r\n    match:\n      type: a.b\n      source: svc-*\n"
                              "      subject: \"order/*\"\n      where: payload.n > 2\n"
                              "    drop: true\n");
    rules_actions a;
    route(set, "a.b", "svc-1", "order/7", "{\"n\":3}", &a);
    CHECK_INT(a.len, 1);
    rules_actions_cleanup(&a);
    route(set, "a.b", "svc-1", "order/7", "{\"n\":2}", &a);
    CHECK_INT(a.len, 0);
    rules_actions_cleanup(&a);
    route(set, "a.b", "web", "order/7", "{\"n\":3}", &a);
    CHECK_INT(a.len, 0);
    rules_actions_cleanup(&a);
    route(set, "a.b", "svc-1", NULL, "{\"n\":3}", &a);
    CHECK_INT(a.len, 0);
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

TEST(start_renders_id_and_typed_input)
{
    rules_set *set =
        rules_test_load_ok(WF "routes:\n  - name: r\n    match: { type: a.b }\n"
                              "    start:\n      workflow: w\n      id: \"w-{{ payload.id }}\"\n"
                              "      input: { all: \"{{ payload }}\", n: \"{{ payload.id }}\" }\n"
                              "      task_queue: q2\n      if_running: terminate_existing\n"
                              "      if_closed: reject\n");
    rules_actions a;
    route(set, "a.b", "s", NULL, "{\"id\":9}", &a);
    CHECK_INT(a.len, 1);
    CHECK_INT(a.items[0].kind, RULES_START);
    CHECK_STR(a.items[0].workflow, "w");
    CHECK_STR(a.items[0].workflow_id, "w-9");
    CHECK_STR(a.items[0].task_queue, "q2");
    CHECK_INT(a.items[0].if_running, RULES_IF_RUNNING_TERMINATE);
    CHECK_INT(a.items[0].if_closed, RULES_IF_CLOSED_REJECT);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(a.items[0].input, "all")));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(a.items[0].input, "n")));
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

TEST(bad_workflow_id_is_a_dead_letter_with_reason)
{
    rules_set *set =
        rules_test_load_ok(WF "routes:\n  - name: r\n    match: { type: a.b }\n"
                              "    start: { workflow: w, id: \"w {{ payload.id }}\" }\n"
                              "  - name: m\n    match: { type: a.b }\n"
                              "    start: { workflow: w, id: \"w-{{ payload.missing }}\" }\n");
    rules_actions a;
    route(set, "a.b", "s", NULL, "{\"id\":9}", &a);
    CHECK_INT(a.len, 2);
    CHECK_INT(a.items[0].kind, RULES_DEAD_LETTER);
    CHECK_STR(a.items[0].dl_code, "bad_workflow_id");
    CHECK(strstr(a.items[0].dl_message, "\"w 9\"") != NULL);
    CHECK(a.items[0].workflow_id == NULL);
    CHECK_INT(a.items[1].kind, RULES_DEAD_LETTER);
    CHECK(strstr(a.items[1].dl_message, "payload.missing") != NULL);
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

TEST(signal_with_start_and_dead_letter_routes)
{
    rules_set *set =
        rules_test_load_ok(WF "routes:\n  - name: s\n    match: { type: a.b }\n"
                              "    signal:\n      id: \"w-{{ subject }}\"\n      name: go\n"
                              "      payload: \"{{ payload }}\"\n      if_missing: start\n"
                              "      start: { workflow: w, input: { x: 1 } }\n"
                              "  - name: dl\n    match: { type: a.b }\n"
                              "    dead_letter: { code: nope, reason: not wanted }\n");
    rules_actions a;
    route(set, "a.b", "s", "k1", "{\"v\":true}", &a);
    CHECK_INT(a.len, 2);
    CHECK_INT(a.items[0].kind, RULES_SIGNAL);
    CHECK_STR(a.items[0].signal, "go");
    CHECK_STR(a.items[0].workflow_id, "w-k1");
    CHECK_STR(a.items[0].workflow, "w");
    CHECK_INT(a.items[0].if_missing, RULES_IF_MISSING_START);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a.items[0].signal_payload, "v")));
    CHECK(cJSON_GetObjectItem(a.items[0].input, "x") != NULL);
    CHECK_INT(a.items[1].kind, RULES_DEAD_LETTER);
    CHECK_STR(a.items[1].dl_code, "nope");
    CHECK_STR(a.items[1].dl_message, "not wanted");
    cJSON *j = rules_action_to_json(&a.items[0]);
    CHECK_STR(cJSON_GetObjectItem(j, "action")->valuestring, "signal");
    cJSON_Delete(j);
    rules_actions_cleanup(&a);
    rules_set_free(set);
}

TEST(unmatched_default_comes_from_the_file)
{
    rules_set *set = rules_test_load_ok("defaults: { unmatched: dead_letter }\n" WF);
    CHECK(rules_set_unmatched_dead_letter(set));
    rules_set_free(set);
    set = rules_test_load_ok(WF);
    CHECK(!rules_set_unmatched_dead_letter(set));
    rules_set_free(set);
}

TEST(directory_is_merged_and_duplicates_are_errors)
{
    char dir[] = "/tmp/sy-rules-dir-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "%s/a.yaml", dir);
    snprintf(p2, sizeof p2, "%s/b.yml", dir);
    FILE *f = fopen(p1, "w");
    fputs(WF, f);
    fclose(f);
    f = fopen(p2, "w");
    fputs("routes: [ { name: r, match: { type: a.b }, start: { workflow: w, id: x } } ]\n", f);
    fclose(f);
    rules_set *set = NULL;
    rules_diags d = {0};
    sy_error err;
    CHECK_INT(rules_load(dir, NULL, &set, &d, &err), SY_OK);
    rules_set_free(set);
    f = fopen(p2, "w");
    fputs(WF, f);
    fclose(f);
    set = NULL;
    CHECK_INT(rules_load(dir, NULL, &set, &d, &err), SY_CONFIG);
    CHECK(set == NULL);
    CHECK(d.len >= 1 && strstr(d.lines[0], "b.yml:2:3: workflow \"w\" is defined twice"));
    rules_diags_cleanup(&d);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

TEST(embedded_test_failures_point_at_the_test)
{
    rules_set *set =
        rules_test_load_ok(WF "routes: [ { name: r, match: { type: a.b }, drop: true } ]\n"
                              "tests:\n"
                              "  - event: { type: a.b }\n    expect: [ { route: r, drop: true } ]\n"
                              "  - name: wrong\n    event: { type: a.b }\n    expect: []\n");
    rules_diags f = {0};
    CHECK_INT(rules_run_tests(set, &f), 2);
    CHECK_INT(f.len, 1);
    CHECK(strstr(f.lines[0], ":9:5: test wrong failed: expected 0 actions, got 1") != NULL);
    rules_diags_cleanup(&f);
    rules_set_free(set);
}
