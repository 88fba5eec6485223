/* `switchyard bench faults --short`, one scenario per test (so that ctest
 * runs them side by side): each starts its own durable throwaway servers,
 * two `serve` processes and a worker, injects its fault once over a
 * thousand workflows, and must find nothing lost (L = 0), nothing doubled
 * (D = 0), every bad input exactly one dead letter with its code and no
 * outcome event missing. The harness's exit code says the same; the test
 * reads its last line (one JSON object) to say which number was wrong. */
#include "fixture.h"
#include "test.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(cJSON_IsNumber(v), "no number \"%s\" in the report", key);
    return (long)v->valuedouble;
}

/* Runs the scenario; returns its report object (owned by *root). */
static const cJSON *run(const char *scenario, cJSON **root)
{
    char cmd[1024], errs[] = "/tmp/sy-bench-faults-XXXXXX";
    static char out[1 << 16];
    int fd = mkstemp(errs);
    CHECK(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "exec '%s' bench faults --short --scenario %s 2>'%s'",
             fixture_switchyard_bin(), scenario, errs);
    int rc = fixture_run(cmd, out, sizeof out);
    /* for a failed test's log: the harness's own lines (which workflow
     * stalled, where the logs were kept), then its summary */
    char *e = fixture_read_file(errs);
    unlink(errs);
    fputs(e, stderr);
    free(e);
    printf("%s", out);
    const char *json = strstr(out, "{\"bench\":\"faults\"");
    CHECK_MSG(json != NULL, "no JSON line (exit %d)", rc);
    *root = cJSON_Parse(json);
    CHECK_MSG(*root != NULL, "the last line is not JSON: %s", json);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(*root, "scenarios");
    CHECK(cJSON_GetArraySize(list) == 1);
    const cJSON *s = cJSON_GetArrayItem(list, 0);
    CHECK_MSG(rc == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "ok")),
              "bench faults --scenario %s failed (exit %d)", scenario, rc);
    return s;
}

/* The invariants every scenario must hold; faults: at least this many
 * were injected. */
static void holds(const cJSON *s, int faults)
{
    CHECK_INT(num(s, "L"), 0);
    CHECK_INT(num(s, "D"), 0);
    CHECK_INT(num(s, "dead_letters_right"), num(s, "bad_inputs"));
    CHECK_INT(num(s, "dead_letters_unexpected"), 0);
    CHECK_INT(num(s, "outcomes_missing"), 0);
    CHECK_INT(num(s, "incomplete"), 0);
    CHECK_INT(num(s, "unclean_exits"), 0);
    CHECK(num(s, "events_offered") >= 2000); /* 1000 starts and their signals at least */
    CHECK(num(s, "outcomes_read") >= 6000);  /* six outcome events a workflow */
    CHECK_MSG(num(s, "faults") >= faults, "%ld faults injected", num(s, "faults"));
}

static void scenario_holds(const char *scenario, int faults)
{
    cJSON *root = NULL;
    holds(run(scenario, &root), faults);
    cJSON_Delete(root);
}

TEST(serve_kill_loses_and_doubles_nothing)
{
    scenario_holds("serve-kill", 1);
}

TEST(postgres_crash_and_terminated_backends_lose_and_double_nothing)
{
    scenario_holds("postgres", 2);
}

TEST(nats_kill_loses_and_doubles_nothing)
{
    scenario_holds("nats", 1);
}

TEST(duplicates_inside_and_outside_the_window_have_one_effect)
{
    cJSON *root = NULL;
    const cJSON *s = run("duplicates", &root);
    holds(s, 0);
    CHECK(num(s, "duplicates") > 0);
    CHECK(num(s, "stream_dropped") > 0);                        /* inside the window */
    CHECK(num(s, "stream_dropped") < num(s, "duplicates") / 2); /* the rest reached the inbox */
    cJSON_Delete(root);
}

TEST(bad_inputs_are_each_one_dead_letter_with_its_code)
{
    cJSON *root = NULL;
    const cJSON *s = run("bad-input", &root);
    holds(s, 0);
    CHECK_INT(num(s, "bad_inputs"), 500);
    CHECK_INT(num(s, "dead_letters_right"), 500);
    cJSON_Delete(root);
}

TEST(forged_replay_headers_have_no_second_effect)
{
    cJSON *root = NULL;
    const cJSON *s = run("forged-replay", &root);
    holds(s, 0);
    CHECK(num(s, "duplicates") > 0); /* the forged re-publishes */
    cJSON_Delete(root);
}
