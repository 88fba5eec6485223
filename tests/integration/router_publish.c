/* `switchyard publish`: fills event_id, occurred_at and trace_id, signs with
 * --sign, and waits for the PubAck; a router requiring signatures routes the
 * signed event and dead-letters the unsigned one. */
#include "router_helpers.h"

#include "router.h"

#include <sys/wait.h>

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(signed_events_route_and_unsigned_ones_are_dead_lettered)
{
    char *conninfo = fixture_pg_fresh_db("rt_publish");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    char prefix[128], cmd[2048], pub[160], key[160];
    snprintf(prefix, sizeof prefix, "/tmp/sy-rt-%d-key", (int)getpid());
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    snprintf(cmd, sizeof cmd, "'%s' keygen --id test-key --out '%s' >/dev/null",
             fixture_switchyard_bin(), prefix);
    CHECK_INT(run(cmd), 0);
    router_config cfg;
    rh_config(&cfg, "rt_publish", fixture_nats_url(), conninfo, rules);
    cfg.keyring = strdup(pub);
    cfg.require_signature = true;
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK_MSG(router_new(&cfg, &lg, &r, &err) == SY_OK, "%s", err.message);
    CHECK(router_start(r, &err) == SY_OK);
    const char *ev = "{\"type\":\"order.created\",\"source\":\"test\",\"schema_version\":1,"
                     "\"payload\":{\"n\":3}}";
    snprintf(cmd, sizeof cmd,
             "echo '%s' | SWITCHYARD_NATS_URL='%s' '%s' publish --subject rt.rt_publish.a "
             "--sign '%s' - | grep -q '\"stream_seq\":1'",
             ev, fixture_nats_url(), fixture_switchyard_bin(), key);
    CHECK_INT(run(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs "
                                      "WHERE workflow_id = 'order-3'",
                            1, 20000),
              1);
    /* filled in: a 32-hex trace id and an RFC 3339 time reached the engine */
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs "
                                 "WHERE trace_id ~ '^[0-9a-f]{32}$'"),
              1);
    snprintf(cmd, sizeof cmd,
             "echo '%s' | '%s' publish --nats '%s' --subject rt.rt_publish.a - >/dev/null", ev,
             fixture_switchyard_bin(), fixture_nats_url());
    CHECK_INT(run(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                      "WHERE code = 'unsigned' AND stream_seq = 2",
                            1, 20000),
              1);
    snprintf(cmd, sizeof cmd, "echo '{oops' | '%s' publish --nats '%s' --subject rt.rt_publish.a - "
                              "2>/dev/null",
             fixture_switchyard_bin(), fixture_nats_url());
    CHECK_INT(run(cmd), 65);
    router_free(r);
    router_config_cleanup(&cfg);
    unlink(pub);
    unlink(key);
    unlink(rules);
    free(rules);
    free(conninfo);
}
