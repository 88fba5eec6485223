/* Unit tests for `switchyard check` and `switchyard route` (cli/cli_check.c,
 * cli/cli_route.c): exit codes and the dry run's JSON lines. */
#include "cli.h"
#include "status.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *write_tmp(const char *suffix, const char *text)
{
    static char paths[4][64];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 64, "/tmp/sy-cli-test-XXXXXX%s", suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return p;
}

/* Runs a CLI with stdout captured into *out (owned). */
static int run(cli_fn fn, int argc, char **argv, char **out)
{
    char path[] = "/tmp/sy-cli-out-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fdopen(fd, "r");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = calloc(1, (size_t)n + 1);
    CHECK(fread(*out, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    unlink(path);
    return rc;
}

TEST(check_passes_on_the_example)
{
    char *argv[] = {"check", SY_SOURCE_DIR "/examples/rules.yaml", NULL};
    char *out;
    CHECK_INT(run(cli_check, 2, argv, &out), SY_EXIT_OK);
    CHECK(strstr(out, "0 failed") != NULL);
    free(out);
}

TEST(check_fails_with_78_on_errors_and_failing_tests)
{
    char *bad = write_tmp(".yaml", "routes: 3\n");
    char *argv[] = {"check", bad, NULL};
    char *out;
    CHECK_INT(run(cli_check, 2, argv, &out), SY_EXIT_CONFIG);
    free(out);
    unlink(bad);
    char *failing = write_tmp(".yaml", "routes: []\ntests:\n  - event: { type: a.b }\n"
                                       "    expect: [ { route: r, drop: true } ]\n");
    argv[1] = failing;
    CHECK_INT(run(cli_check, 2, argv, &out), SY_EXIT_CONFIG);
    CHECK(strstr(out, ": 1 of 1 test failed; ") != NULL);
    free(out);
    unlink(failing);
    char *usage[] = {"check", NULL};
    CHECK_INT(run(cli_check, 1, usage, &out), SY_EXIT_USAGE);
    free(out);
}

#define EV(id, type, extra)                                                                        \
    "{\"event_id\":\"" id "\",\"type\":\"" type "\",\"source\":\"monolith\",\"occurred_at\":"      \
    "\"2026-01-01T00:00:00Z\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","                  \
    "\"schema_version\":1" extra "}"

TEST(route_prints_actions_and_exits_0)
{
    char *in =
        write_tmp(".jsonl", EV("e1", "kg.gap.ready",
                               ",\"payload\":{\"gap_id\":42,\"priority\":3,\"kind\":\"kg\"}") "\n");
    char *argv[] = {"route", "--rules", SY_SOURCE_DIR "/examples/rules.yaml", in, NULL};
    char *out;
    CHECK_INT(run(cli_route, 4, argv, &out), SY_EXIT_OK);
    CHECK(strstr(out, "\"event_id\":\"e1\"") != NULL);
    CHECK(strstr(out, "\"workflow_id\":\"gap-drain-42\"") != NULL);
    CHECK(strstr(out, "\"action\":\"start\"") != NULL);
    CHECK(strstr(out, "dead_letter") == NULL);
    free(out);
    unlink(in);
}

TEST(route_exits_65_when_an_event_is_dead_lettered)
{
    char *in = write_tmp(
        ".jsonl", EV("ok", "other.thing", ",\"payload\":{}") "\n" EV(
                      "bad", "review.approved",
                      ",\"subject\":\"has space\",\"payload\":{}") "\n"
                                                                   "{\"event_id\":\"broken\"}\n");
    char *argv[] = {"route", "--rules", SY_SOURCE_DIR "/examples/rules.yaml", in, NULL};
    char *out;
    CHECK_INT(run(cli_route, 4, argv, &out), SY_EXIT_DATAERR);
    CHECK(strstr(out, "\"unmatched\":true") != NULL);
    CHECK(strstr(out, "\"dead_letter\":{\"code\":\"bad_workflow_id\"") != NULL);
    CHECK(strstr(out, "\"event_id\":\"broken\"") != NULL);
    CHECK(strstr(out, "\"code\":\"missing_field\"") != NULL);
    free(out);
    unlink(in);
}

/* Flow control in a dry run: the events' occurred_at is the clock, each
 * action says what flow control did, and what a key held fires as its own
 * line once the clock passes it (the end of the input fires the rest). */
TEST(route_simulates_flow_control_on_the_events_clock)
{
    char *rules = write_tmp(".yaml",
                            "routes:\n"
                            "  - name: once\n"
                            "    match: { type: a.b }\n"
                            "    dedupe: { key: \"{{ subject }}\", ttl: 1m }\n"
                            "    rate_limit: { key: all, limit: 2, period: 1h }\n"
                            "    start: { workflow: w, id: \"x-{{ event_id }}\" }\n"
                            "  - name: later\n"
                            "    match: { type: c.d }\n"
                            "    debounce: { key: \"{{ subject }}\", period: 10s }\n"
                            "    start: { workflow: w, id: \"y-{{ event_id }}\" }\n"
                            "workflows:\n  w:\n    steps:\n      - task: t\n");
#define EVT(id, type, subject, at)                                                                 \
    "{\"event_id\":\"" id "\",\"type\":\"" type "\",\"source\":\"s\",\"subject\":\"" subject     \
    "\",\"occurred_at\":\"2026-01-01T00:00:" at "Z\",\"trace_id\":"                                   \
    "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,\"payload\":{}}\n"
    char *in = write_tmp(".jsonl", EVT("e1", "a.b", "s1", "00") EVT("e2", "a.b", "s1", "01")
                                       EVT("e3", "a.b", "s2", "02") EVT("e4", "a.b", "s3", "03")
                                           EVT("d1", "c.d", "k", "04") EVT("d2", "c.d", "k", "05")
                                               EVT("e5", "c.d", "z", "30"));
    char *argv[] = {"route", "--rules", rules, in, NULL};
    char *out;
    CHECK_INT(run(cli_route, 4, argv, &out), SY_EXIT_OK);
    CHECK(strstr(out, "\"event_id\":\"e1\",\"actions\":[{\"route\":\"once\""));
    CHECK(strstr(out, "\"workflow_id\":\"x-e2\",\"input\":{},\"if_running\":\"use_existing\","
                      "\"if_closed\":\"allow\",\"flow\":{\"outcome\":\"deduped\""));
    CHECK(strstr(out, "\"workflow_id\":\"x-e4\",\"input\":{},\"if_running\":\"use_existing\","
                      "\"if_closed\":\"allow\",\"flow\":{\"outcome\":\"rate_limited\""));
    /* d2 replaced d1; it fires 10 s after d2, before e5 (at :30) is routed */
    const char *fired = strstr(out, "{\"fired_at\":\"2026-01-01T00:00:15.000Z\"");
    CHECK(fired && strstr(fired, "\"workflow_id\":\"y-d2\""));
    CHECK(strstr(fired, "\"outcome\":\"fired\""));
    CHECK(strstr(fired, "\"events\":2"));
    const char *e5 = strstr(out, "\"event_id\":\"e5\"");
    CHECK(e5 && e5 > fired);
    /* the end of the input fires what is still held */
    CHECK(strstr(e5, "{\"fired_at\":\"2026-01-01T00:00:40.000Z\""));
    free(out);
    unlink(in);
    unlink(rules);
}

TEST(route_needs_rules)
{
    char *argv[] = {"route", "-", NULL};
    char *out;
    CHECK_INT(run(cli_route, 2, argv, &out), SY_EXIT_USAGE);
    free(out);
    char *bad[] = {"route", "--rules", "/nonexistent.yaml", "-", NULL};
    CHECK_INT(run(cli_route, 4, bad, &out), SY_EXIT_CONFIG);
    free(out);
}
