/* deploy/helm/switchyard: the chart's templates render (`helm template`
 * when a helm binary is on PATH, else tests/unit/deploy/helm_render.py:
 * Debian has no helm), every rendered file parses as YAML, and the objects
 * fit together (chart_check.py); the rendered serve.yaml and rules load
 * with `switchyard serve --check-config` reading the rendered Secret from
 * $CREDENTIALS_DIRECTORY, as the pod would. Python 3 with PyYAML comes
 * from scripts/install-deps (python3, python3-yaml). */
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Debian's python3 (it has python3-yaml) before whatever PATH offers. */
static const char *python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* Runs chart_check.py on the chart with the test values (or none) into dir;
 * returns its exit code, its output in out (cap bytes). */
static int chart_check(const char *dir, bool test_values, char *out, size_t cap)
{
    char script[600], chart[600], values[600], cmd[2600];
    snprintf(script, sizeof script, "%s", fixture_source_path("tests/unit/deploy/chart_check.py"));
    snprintf(chart, sizeof chart, "%s", fixture_source_path("deploy/helm/switchyard"));
    snprintf(values, sizeof values, "%s",
             fixture_source_path("tests/unit/deploy/helm-values-test.yaml"));
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s' %s%s%s 2>&1", python(), script, chart, dir,
             test_values ? "-f '" : "", test_values ? values : "", test_values ? "'" : "");
    return fixture_run(cmd, out, cap);
}

TEST(renderer_matches_go_templates)
{
    char cmd[800], out[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --self-test 2>&1", python(),
             fixture_source_path("tests/unit/deploy/helm_render.py"));
    int rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "exit %d\n%s", rc, out);
}

TEST(chart_renders_to_yaml_objects_that_fit_together)
{
    char *dir = fixture_temp_dir(), out[8192];
    int rc = chart_check(dir, true, out, sizeof out);
    CHECK_MSG(rc == 0, "exit %d\n%s", rc, out);
    const char *kinds[] = {"ConfigMap", "Deployment", "ScaledObject",
                           "Secret",    "Service",    "ServiceMonitor"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        CHECK_MSG(strstr(out, kinds[i]) != NULL, "no %s in: %s", kinds[i], out);
    fixture_rm_rf(dir);
}

TEST(chart_refuses_to_render_without_its_secrets)
{
    char *dir = fixture_temp_dir(), out[8192];
    int rc = chart_check(dir, false, out, sizeof out); /* the defaults hold no secret values */
    CHECK_MSG(rc != 0 && strstr(out, "credentials.data.pg-password is required") != NULL,
              "exit %d\n%s", rc, out);
    fixture_rm_rf(dir);
}

TEST(rendered_config_loads_with_the_rendered_secret)
{
    char *dir = fixture_temp_dir(), cmd[3000], out[8192];
    int rc = chart_check(dir, true, out, sizeof out);
    CHECK_MSG(rc == 0, "exit %d\n%s", rc, out);
    char schemas[600];
    snprintf(schemas, sizeof schemas, "%s", fixture_source_path("schemas"));
    /* the image has the schemas at /etc/switchyard/schemas; here they are
     * the source tree's */
    snprintf(cmd, sizeof cmd,
             "CREDENTIALS_DIRECTORY='%s/extract/credentials' SWITCHYARD_ENVELOPE_SCHEMAS_DIR='%s' "
             "'%s' serve --config '%s/extract/serve.yaml' --check-config 2>&1",
             dir, schemas, fixture_switchyard_bin(), dir);
    rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "check-config: exit %d\n%s", rc, out);
    CHECK_MSG(strstr(out, "password from file") && strstr(out, "credentials file") &&
                  strstr(out, "token: from file"),
              "the secrets were not all read:\n%s", out);
    CHECK_MSG(strstr(out, "not-a-real") == NULL, "a secret was printed:\n%s", out);
    snprintf(cmd, sizeof cmd, "'%s' check '%s/extract/rules.yaml' 2>&1", fixture_switchyard_bin(),
             dir);
    rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "check of the chart's rules: exit %d\n%s", rc, out);
    fixture_rm_rf(dir);
}
