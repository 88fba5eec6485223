/* devstack (devstack/devstack.h): the throwaway servers behind `make test`,
 * `switchyard bench` and `switchyard dev`. */
#include "devstack.h"
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
