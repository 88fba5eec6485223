/* docker-compose.dev.yml parses (`docker-compose config`, Debian's
 * docker-compose package from scripts/install-deps, validates it without a
 * Docker engine) and starts the stack `make dev` runs: nats-server with
 * JetStream, Postgres, switchyard with the example rules and schemas, and
 * one example worker per task queue that `switchyard dev` would run
 * (dev_workers_queues over examples/rules.yaml; compose_check.py). */
#include "dev_workers.h"
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(dev_compose_file_parses_and_runs_what_make_dev_runs)
{
    CHECK_MSG(access("/usr/bin/docker-compose", X_OK) == 0,
              "docker-compose is not installed (run scripts/install-deps)");
    char src[600], cfg[] = "/tmp/sy-compose-XXXXXX", cmd[2400], out[8192];
    snprintf(src, sizeof src, "%s", fixture_source_path(""));
    int fd = mkstemp(cfg);
    CHECK(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "cd '%s' && docker-compose -f docker-compose.dev.yml config > '%s'",
             src, cfg);
    int rc = fixture_run(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "docker-compose config: exit %d\n%s", rc, out);
    char **queues = NULL;
    size_t n = 0;
    sy_error err = {0};
    CHECK_MSG(dev_workers_queues(fixture_source_path("examples/rules.yaml"), &queues, &n, &err) ==
                  SY_OK,
              "%s", err.message);
    CHECK(n > 0);
    int len =
        snprintf(cmd, sizeof cmd, "%s '%stests/unit/deploy/compose_check.py' '%s'",
                 access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3", src, cfg);
    for (size_t i = 0; i < n; i++) {
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s'", queues[i]);
        free(queues[i]);
    }
    free(queues);
    snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>&1");
    rc = fixture_run(cmd, out, sizeof out);
    unlink(cfg);
    CHECK_MSG(rc == 0, "exit %d\n%s", rc, out);
}
