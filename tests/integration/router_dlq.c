/* `switchyard dlq`: a dead letter (a workflow-ID template failure) is
 * listed, and after the rules are fixed and reloaded, `dlq replay`
 * re-injects its original bytes into the pipeline, where it now starts the
 * workflow; the row is marked replayed. */
#include "router_helpers.h"

#include "router.h"

TEST(replay_after_fixing_the_rules_starts_the_workflow)
{
    char *conninfo = fixture_pg_fresh_db("rt_dlq");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "rt_dlq", fixture_nats_url(), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    sy_error err = {0};
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK(router_start(r, &err) == SY_OK);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char body[512];
    rh_event(body, sizeof body, "dlq-7", "kg.bad", 7);
    rh_publish(&n, "rt.rt_dlq.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                      "WHERE subject = 'rt.rt_dlq.a' AND stream_seq = 1",
                            1, 20000),
              1);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq list -o json | grep -q '\"dlq-7\"'",
             conninfo, fixture_switchyard_bin());
    CHECK_INT(system(cmd), 0);

    /* fix the route, reload, replay */
    char *fixed = strdup(rh_rules);
    char *at = strstr(fixed, "bad id {{");
    CHECK(at != NULL);
    memcpy(at, "fixed-{{", 8);
    memmove(at + 8, at + 9, strlen(at + 9) + 1);
    FILE *f = fopen(rules, "w");
    fputs(fixed, f);
    fclose(f);
    CHECK_MSG(router_reload(r, &err) == SY_OK, "reload: %s", err.message);
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' '%s' dlq replay --id 1 --nats '%s' >/dev/null",
             conninfo, fixture_switchyard_bin(), fixture_nats_url());
    CHECK_INT(system(cmd), 0);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs "
                                      "WHERE workflow_id = 'fixed-7'",
                            1, 20000),
              1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                 "WHERE id = 1 AND replayed_at IS NOT NULL"),
              1);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    free(fixed);
    free(conninfo);
}
