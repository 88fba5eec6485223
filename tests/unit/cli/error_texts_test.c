/* The exact texts of failures as the CLI prints them (issue 19 item 13): a
 * path is printed once, a code never ends a human line, a summary with a
 * failure does not say ok. They run the built binary; none needs a server
 * (an unreachable database is port 1 on the loopback). */
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SY_BIN SY_BINARY_DIR "/switchyard"
#define NO_DB "host=127.0.0.1 port=1 dbname=x connect_timeout=2"

/* Runs cmd through sh, with stderr into stdout unless cmd redirects it;
 * returns its exit code and
 * what it printed in *out (owned). */
static int run(const char *cmd, char **out)
{
    enum { CAP = 1 << 16 };
    char full[4096];
    snprintf(full, sizeof full, "%s%s", cmd, strstr(cmd, "2>") ? "" : " 2>&1");
    *out = malloc(CAP);
    CHECK(*out != NULL);
    return fixture_run(full, *out, CAP);
}

/* A file under /tmp with text; its path in a static buffer (one at a time). */
static const char *put(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/sy-texts-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

#define REVIEW_EVENT                                                                               \
    "{\"event_id\":\"e1\",\"type\":\"review.approved\",\"source\":\"s\",\"occurred_at\":"          \
    "\"2026-01-01T00:00:00Z\",\"trace_id\":\"0123456789abcdef0123456789abcdef\","                  \
    "\"schema_version\":1,\"payload\":{}}\n"

/* was "payload.reviewer: payload.reviewer: required property is missing" */
TEST(route_names_a_payload_path_once)
{
    const char *ev = put("review.json", REVIEW_EVENT);
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s route --rules %s/examples/rules.yaml --schemas %s/schemas %s",
             SY_BIN, SY_SOURCE_DIR, SY_SOURCE_DIR, ev);
    CHECK_INT(run(cmd, &out), 65);
    CHECK_STR(out, "{\"event_id\":\"e1\",\"actions\":[],\"dead_letter\":{\"code\":"
                   "\"schema_mismatch\",\"message\":\"payload.reviewer: required property is "
                   "missing\"}}\n");
    free(out);
    unlink(ev);
}

/* validate's JSON keeps path and message apart, so the message names no path */
TEST(validate_keeps_path_and_message_apart)
{
    const char *ev = put("review2.json", REVIEW_EVENT);
    char cmd[1024], *out, want[1024];
    snprintf(cmd, sizeof cmd, "%s validate --schemas %s/schemas %s", SY_BIN, SY_SOURCE_DIR, ev);
    CHECK_INT(run(cmd, &out), 65);
    snprintf(want, sizeof want,
             "{\"file\":\"%s\",\"event_id\":\"e1\",\"valid\":false,\"error\":{\"code\":"
             "\"schema_mismatch\",\"path\":\"payload.reviewer\",\"message\":\"required property "
             "is missing\"}}\n",
             ev);
    CHECK_STR(out, want);
    free(out);
    unlink(ev);
}

/* was "ok: 0 workflows, 0 schedules; 1 test run, 1 failed" */
TEST(check_with_a_failing_test_does_not_say_ok)
{
    const char *rules = put("failing.yaml", "routes: []\ntests:\n  - name: t1\n"
                                            "    event: { type: a.b }\n"
                                            "    expect: [ { route: r, drop: true } ]\n");
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s check %s 2>/dev/null", SY_BIN, rules);
    CHECK_INT(run(cmd, &out), 78);
    char want[512];
    snprintf(want, sizeof want, "%s: 1 of 1 test failed; 0 workflows, 0 schedules (rules ", rules);
    CHECK_MSG(strncmp(out, want, strlen(want)) == 0, "printed %s", out);
    CHECK(strstr(out, "ok") == NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s check %s/examples/rules.yaml", SY_BIN, SY_SOURCE_DIR);
    CHECK_INT(run(cmd, &out), 0);
    char ok[512];
    snprintf(ok, sizeof ok, "%s/examples/rules.yaml: ok: ", SY_SOURCE_DIR);
    CHECK_MSG(strncmp(out, ok, strlen(ok)) == 0, "printed %s", out);
    CHECK(strstr(out, " tests run, 0 failed (rules ") != NULL);
    free(out);
    unlink(rules);
}

/* was "... Connection refused db_connect" */
TEST(workflow_failures_end_with_the_message_not_the_code)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s workflow describe nope --db '%s'", SY_BIN, NO_DB);
    CHECK_INT(run(cmd, &out), 69);
    CHECK_STR(out, "switchyard workflow describe: could not connect to postgres: connection to "
                   "server at \"127.0.0.1\", port 1 failed: Connection refused\n");
    free(out);
    /* -o json: the code is a member of its own, the line on stderr the same */
    snprintf(cmd, sizeof cmd, "%s workflow describe nope -o json --db '%s' 2>/dev/null", SY_BIN,
             NO_DB);
    CHECK_INT(run(cmd, &out), 69);
    CHECK_STR(out, "{\"error\":{\"code\":\"db_connect\",\"message\":\"could not connect to "
                   "postgres: connection to server at \\\"127.0.0.1\\\", port 1 failed: Connection "
                   "refused\"}}\n");
    free(out);
}

/* every command that reaches Postgres prints the same line */
TEST(commands_print_one_shape_of_failure)
{
    static const char *const cmds[][2] = {
        {"task complete t1", "task"},
        {"dlq list", "dlq"},
        {"migrate", "migrate"},
        {"schedule list", "schedule list"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char cmd[1024], *out, want[512];
        snprintf(cmd, sizeof cmd, "%s %s --db '%s'", SY_BIN, cmds[i][0], NO_DB);
        CHECK_INT(run(cmd, &out), 69);
        snprintf(want, sizeof want,
                 "switchyard %s: could not connect to postgres: connection to server at "
                 "\"127.0.0.1\", port 1 failed: Connection refused\n",
                 cmds[i][1]);
        CHECK_STR(out, want);
        free(out);
    }
}

/* every command that needs Postgres says the same thing when it has none
 * (one helper, cliopt_db, for all of them; it was six copies) */
TEST(commands_without_a_database_say_how_to_give_one)
{
    static const char *const cmds[][2] = {
        {"task complete t1", "task"},         {"dlq list", "dlq"},
        {"migrate", "migrate"},               {"schedule list", "schedule"},
        {"workflow describe w1", "workflow"}, {"join list", "join"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char cmd[1024], *out, want[512];
        snprintf(cmd, sizeof cmd, "env -u SWITCHYARD_DB %s %s", SY_BIN, cmds[i][0]);
        CHECK_INT(run(cmd, &out), 64);
        snprintf(want, sizeof want, "switchyard %s: give --db CONNINFO or set SWITCHYARD_DB\n",
                 cmds[i][1]);
        CHECK_STR(out, want);
        free(out);
    }
}
