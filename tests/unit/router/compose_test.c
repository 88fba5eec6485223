/* docker-compose.dev.yml parses: `docker-compose config` (Debian's
 * docker-compose package, installed by scripts/install-deps) validates it
 * without a Docker engine. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

TEST(dev_compose_file_parses)
{
    const char *src = getenv("SY_SOURCE_DIR");
    CHECK(src != NULL);
    CHECK_MSG(access("/usr/bin/docker-compose", X_OK) == 0,
              "docker-compose is not installed (run scripts/install-deps)");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && docker-compose -f docker-compose.dev.yml config > /tmp/sy-compose.$$ 2>&1; "
             "rc=$?; grep -q 'switchyard:' /tmp/sy-compose.$$ && grep -q 'service_healthy' "
             "/tmp/sy-compose.$$; rc2=$?; cat /tmp/sy-compose.$$ >&2; rm -f /tmp/sy-compose.$$; "
             "[ $rc -eq 0 ] && [ $rc2 -eq 0 ]",
             src);
    CHECK_INT(system(cmd), 0);
}
