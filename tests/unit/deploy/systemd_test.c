/* deploy/systemd: the unit passes `systemd-analyze verify` (no warning at
 * all: verify exits 0 even on an unknown key) and `systemd-analyze
 * security` (exposure at most 2.0, DynamicUser, NoNewPrivileges,
 * ProtectSystem=strict), and its configuration loads its secrets from
 * $CREDENTIALS_DIRECTORY, each one a LoadCredential= of the unit. Skipped
 * with a message where systemd-analyze is not installed. */
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void need_systemd_analyze(void)
{
    char out[512];
    int rc = fixture_run("command -v systemd-analyze 2>&1", out, sizeof out);
    if (rc != 0)
        SKIP("systemd-analyze is not installed: deploy/systemd/switchyard.service not verified");
}

/* The unit with ExecStart pointing at the built binary (verify checks that
 * the executables exist), written to dir/switchyard.service. */
static void write_unit(const char *dir, char *path, size_t n)
{
    char *unit = fixture_read_file(fixture_source_path("deploy/systemd/switchyard.service"));
    const char *from = "/usr/local/bin/switchyard";
    snprintf(path, n, "%s/switchyard.service", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (const char *p = unit, *hit; *p; p = hit + strlen(from)) {
        hit = strstr(p, from);
        if (!hit) {
            fputs(p, f);
            break;
        }
        fprintf(f, "%.*s%s", (int)(hit - p), p, fixture_switchyard_bin());
    }
    CHECK(fclose(f) == 0);
    free(unit);
}

TEST(unit_passes_systemd_analyze_verify)
{
    need_systemd_analyze();
    char *dir = fixture_temp_dir(), path[600], cmd[800], out[16384];
    write_unit(dir, path, sizeof path);
    snprintf(cmd, sizeof cmd, "systemd-analyze verify '%s' 2>&1", path);
    int rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0 && out[0] == '\0', "systemd-analyze verify: exit %d\n%s", rc, out);
    fixture_rm_rf(dir);
}

TEST(unit_is_hardened)
{
    need_systemd_analyze();
    char *dir = fixture_temp_dir(), path[600], cmd[800], out[16384];
    write_unit(dir, path, sizeof path);
    /* the threshold is the exposure times ten: at most 2.0 of 10 */
    snprintf(cmd, sizeof cmd, "systemd-analyze security --offline=yes --threshold=20 '%s' 2>&1",
             path);
    int rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "exposure above 2.0 (exit %d):\n%s", rc, out);
    const char *want[] = {"\xe2\x9c\x93 User=/DynamicUser=", "\xe2\x9c\x93 NoNewPrivileges=",
                          "\xe2\x9c\x93 ProtectSystem=", "\xe2\x9c\x93 ProtectHome=",
                          "\xe2\x9c\x93 SystemCallFilter=~@privileged"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(out, want[i]) != NULL, "missing \"%s\" in:\n%s", want[i], out);
    CHECK(strstr(out, "Service has strict read-only access to the OS file hierarchy") != NULL);
    fixture_rm_rf(dir);
}

/* The credential ids loaded by uncommented LoadCredential= lines, as
 * " id1 id2 " (owned). */
static char *credential_ids(const char *unit)
{
    char *ids = calloc(1, strlen(unit) + 2);
    CHECK(ids != NULL);
    strcat(ids, " ");
    for (const char *l = unit; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "LoadCredential=", 15) != 0)
            continue;
        const char *id = l + 15;
        size_t n = strcspn(id, ":\n");
        strncat(ids, id, n);
        strcat(ids, " ");
    }
    return ids;
}

/* Every uncommented ${CREDENTIALS_DIRECTORY}/NAME of the configuration is a
 * credential of the unit; a file with its name is written into creds. */
static void check_names_and_write(const char *config, const char *ids, const char *creds)
{
    const char *key = "${CREDENTIALS_DIRECTORY}/";
    int found = 0;
    for (const char *l = config; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *at = strstr(l, key), *eol = strchr(l, '\n'), *hash = strchr(l, '#');
        if (!at || (eol && at > eol) || (hash && hash < at && (!eol || hash < eol)))
            continue;
        char name[128], want[140], path[700];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(at + strlen(key), " \"'\n"),
                 at + strlen(key));
        snprintf(want, sizeof want, " %s ", name);
        CHECK_MSG(strstr(ids, want) != NULL,
                  "serve.yaml reads ${CREDENTIALS_DIRECTORY}/%s, the unit loads only:%s", name,
                  ids);
        snprintf(path, sizeof path, "%s/%s", creds, name);
        fixture_write_file(path, "not-a-real-secret\n");
        found++;
    }
    CHECK_MSG(found >= 2, "serve.yaml names %d credentials", found);
}

TEST(unit_config_reads_its_secrets_from_the_credentials_directory)
{
    char *dir = fixture_temp_dir(), creds[600], cmd[2400], out[8192];
    char *unit = fixture_read_file(fixture_source_path("deploy/systemd/switchyard.service"));
    char *config = fixture_read_file(fixture_source_path("deploy/systemd/serve.yaml"));
    char *ids = credential_ids(unit);
    snprintf(creds, sizeof creds, "%s/credentials", dir);
    char serve[600], rules[600], schemas[600]; /* fixture_source_path's buffer is static */
    snprintf(serve, sizeof serve, "%s", fixture_source_path("deploy/systemd/serve.yaml"));
    snprintf(rules, sizeof rules, "%s", fixture_source_path("examples/rules.yaml"));
    snprintf(schemas, sizeof schemas, "%s", fixture_source_path("schemas"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s' '%s/serve.yaml' && cp '%s' '%s/rules.yaml' && "
             "ln -s '%s' '%s/schemas'",
             creds, serve, dir, rules, dir, schemas, dir);
    CHECK_INT(fixture_run(cmd, out, sizeof out), 0);
    check_names_and_write(config, ids, creds);
    snprintf(cmd, sizeof cmd,
             "env -u CREDENTIALS_DIRECTORY CREDENTIALS_DIRECTORY='%s' '%s' serve --config "
             "'%s/serve.yaml' --check-config 2>&1",
             creds, fixture_switchyard_bin(), dir);
    int rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "check-config: exit %d\n%s", rc, out);
    CHECK_MSG(strstr(out, "password from file") != NULL, "%s", out);
    CHECK_MSG(strstr(out, "not-a-real-secret") == NULL, "a secret was printed:\n%s", out);
    /* outside systemd the variable is absent: a configuration error */
    snprintf(cmd, sizeof cmd,
             "env -u CREDENTIALS_DIRECTORY '%s' serve --config '%s/serve.yaml' --check-config 2>&1",
             fixture_switchyard_bin(), dir);
    rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 78 && strstr(out, "LoadCredential") != NULL, "exit %d\n%s", rc, out);
    free(ids);
    free(config);
    free(unit);
    fixture_rm_rf(dir);
}
