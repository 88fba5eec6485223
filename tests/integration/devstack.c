/* devstack (devstack/devstack.h): the throwaway servers behind `make test`,
 * `switchyard bench` and `switchyard dev`. */
#include "devstack.h"
#include "fixture.h"
#include "test.h"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

/* `switchyard dev` passes ".switchyard-dev": a relative directory must work
 * (postgres chdirs into its data dir, so the paths it gets must not be). */
TEST(starts_in_a_relative_directory)
{
    char tmpl[] = "/tmp/sy-devstack-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    CHECK(chmod(tmpl, 0755) == 0);
    CHECK(chdir(tmpl) == 0);
    devstack_opts o = {.dir = "rel-dev", .quiet = true};
    devstack *ds = NULL;
    sy_error err;
    sy_error_clear(&err);
    CHECK_MSG(devstack_start(&o, &ds, &err) == SY_OK, "devstack: %s", err.message);
    CHECK(devstack_dir(ds)[0] == '/');
    CHECK_INT(PQping(devstack_pg_conninfo(ds)), PQPING_OK);
    devstack_stop(ds);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
    CHECK(system(cmd) == 0);
}

/* `testenv --help` names every variable it exports to CMD: the list is
 * taken from a real run, so a new export without its help line fails. */
TEST(testenv_help_names_every_variable_it_exports)
{
    char cmd[1024];
    static char help[8192], env[16384];
    snprintf(cmd, sizeof cmd, "'%s' testenv --help", fixture_switchyard_bin());
    CHECK_INT(fixture_run(cmd, help, sizeof help), 0);
    snprintf(cmd, sizeof cmd, "'%s' testenv -- env 2>/dev/null", fixture_switchyard_bin());
    CHECK_INT(fixture_run(cmd, env, sizeof env), 0);
    size_t seen = 0;
    for (char *line = strtok(env, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "SY_TEST_", 8) != 0)
            continue;
        *strchr(line, '=') = '\0';
        CHECK_MSG(strstr(help, line) != NULL, "testenv --help does not mention %s", line);
        seen++;
    }
    CHECK(seen >= 3); /* NATS URL, Postgres conninfo, the stack's directory */
}
