/* `switchyard serve --check-config`: loads the config, the overrides and the
 * rules it names without touching a server; exit 0, or 78 with the
 * file:line:col of the first error. */
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *write_config(const char *text)
{
    char *path = strdup("/tmp/sy-check-config-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Runs the check; returns the exit status, output in out. */
static int check(const char *path, const char *env, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s' serve --config '%s' --check-config 2>&1", env ? env : "",
             fixture_switchyard_bin(), path);
    return fixture_run(cmd, out, cap);
}

TEST(valid_config_checks_ok)
{
    char text[1024], out[8192];
    snprintf(text, sizeof text, "postgres: {conninfo: 'host=127.0.0.1 dbname=x'}\n"
                                "rules: {path: '%s'}\n",
             fixture_source_path("examples/rules.yaml"));
    char *path = write_config(text);
    CHECK_MSG(check(path, NULL, out, sizeof out) == 0, "%s", out);
    CHECK(strstr(out, "configuration ok") != NULL);
    unlink(path);
    free(path);
}

TEST(unknown_key_fails_with_position_and_exit_78)
{
    char out[8192];
    char *path = write_config("postgres: {conninfo: x}\nconsumer:\n  batch_sise: 3\n");
    CHECK_INT(check(path, NULL, out, sizeof out), 78);
    char want[512];
    snprintf(want, sizeof want, "%s:3:3: unknown key \"batch_sise\"", path);
    CHECK_MSG(strstr(out, want) != NULL, "%s", out);
    unlink(path);
    free(path);
}

TEST(broken_rules_fail_the_check)
{
    char out[8192];
    char *rules = write_config("version: 1\nroutes: [ {name: x, match: {type: [oops}\n");
    char text[512];
    snprintf(text, sizeof text, "postgres: {conninfo: x}\nrules: {path: '%s'}\n", rules);
    char *path = write_config(text);
    CHECK_INT(check(path, NULL, out, sizeof out), 78);
    CHECK_MSG(strstr(out, rules) != NULL, "names the rules file: %s", out);
    unlink(path);
    unlink(rules);
    free(path);
    free(rules);
}

TEST(environment_override_is_checked)
{
    char out[8192];
    char text[1024];
    snprintf(text, sizeof text, "postgres: {conninfo: x}\nrules: {path: '%s'}\n",
             fixture_source_path("examples/rules.yaml"));
    char *path = write_config(text);
    CHECK_INT(check(path, "SWITCHYARD_CONSUMER_BATCH_SIZE=0", out, sizeof out), 78);
    CHECK_MSG(strstr(out, "env SWITCHYARD_CONSUMER_BATCH_SIZE") != NULL, "%s", out);
    CHECK_INT(check(path, "SWITCHYARD_CONSUMER_BATCH_SIZE=77", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "batch_size 77") != NULL, "%s", out);
    unlink(path);
    free(path);
}
