/* Fault tests of the router against real servers: Postgres stopped and
 * restarted mid-stream loses nothing, and neither does a nats-server restart
 * (each on the test's own devstack, so that stopping a server touches no
 * other test); the router SIGKILLed mid-stream and restarted loses nothing
 * and doubles nothing (compared through the inbox and the workflows' signal
 * histories). */
#include "router_helpers.h"

#include "devstack.h"
#include "router.h"

#include <signal.h>
#include <sys/wait.h>

extern char **environ;

/* The SIGKILL test runs the router in a child process: this binary
 * re-executed with SY_RT_CHILD_CONFIG set runs a router until killed. */
__attribute__((constructor)) static void child_router(void)
{
    const char *path = getenv("SY_RT_CHILD_CONFIG");
    if (!path)
        return;
    router_config cfg;
    sy_error err = {0};
    sy_log lg;
    sy_log_init(&lg, SY_LOG_WARN, 2);
    router *r = NULL;
    if (router_config_load(&cfg, path, environ, &err) != SY_OK ||
        router_new(&cfg, &lg, &r, &err) != SY_OK || router_start(r, &err) != SY_OK) {
        fprintf(stderr, "child router: %s\n", err.message);
        _exit(1);
    }
    for (;;)
        pause();
}

static pid_t spawn_child(const char *config_path)
{
    pid_t pid = fixture_fork(); /* a failed test must not leave it running */
    if (pid == 0) {
        setenv("SY_RT_CHILD_CONFIG", config_path, 1);
        execl("/proc/self/exe", "router_child", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void publish_range(rh_nats *n, const char *subj, const char *type, int from, int to)
{
    char body[512], id[64];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof id, "%s-%d", type, i);
        rh_event(body, sizeof body, id, type, i);
        rh_publish(n, subj, body);
    }
}

TEST(router_sigkill_mid_stream_loses_and_doubles_nothing)
{
    char *conninfo = fixture_pg_fresh_db("rt_sigkill");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\"}\n"
             "stream: {name: RT_SIGKILL, subjects: [rt.sigkill.>], storage: memory, outcomes_subjects: []}\n"
             "consumer: {name: router, batch_size: 32, fetch_wait: 20ms, ack_wait: 2s, "
             "nak_delay: 100ms, max_deliver: -1}\n"
             "rules: {path: \"%s\"}\nadmin: {listen: \"127.0.0.1:0\"}\n",
             fixture_nats_url(), conninfo, rules);
    char *cfg_path = rh_write_file("serve.yaml", yaml);
    pid_t child = spawn_child(cfg_path);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM pg_tables WHERE schemaname = 'switchyard' AND tablename = 'inbox'", 1, 30000), 1);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    publish_range(&n, "rt.sigkill.a", "order.created", 0, 200);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 200, 30000), 200);
    publish_range(&n, "rt.sigkill.a", "order.paid", 0, 150);
    kill(child, SIGKILL); /* mid-stream: batches are in flight */
    int st;
    waitpid(child, &st, 0);
    long at_kill = rh_count(conninfo, "SELECT count(*) FROM switchyard.inbox");
    publish_range(&n, "rt.sigkill.a", "order.paid", 150, 200);
    child = spawn_child(cfg_path);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.inbox", 400, 30000), 400);
    rh_sleep_ms(1500); /* give redeliveries time to double anything */
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.history_events "
                                 "WHERE type = 'workflow.signaled'"),
              200);
    CHECK_INT(rh_count(conninfo, "SELECT count(DISTINCT workflow_id) FROM switchyard.history_events h "
                                 "JOIN switchyard.runs r USING (run_id) "
                                 "WHERE h.type = 'workflow.signaled'"),
              200);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs"), 200);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    CHECK_MSG(at_kill < 400, "the kill happened mid-stream (inbox %ld at kill)", at_kill);
    kill(child, SIGKILL);
    waitpid(child, &st, 0);
    rh_nats_close(&n);
    unlink(cfg_path);
    unlink(rules);
    free(cfg_path);
    free(rules);
    free(conninfo);
}

TEST(postgres_restart_mid_stream_loses_nothing)
{
    devstack *ds = NULL;
    devstack_opts o = {.quiet = true};
    sy_error err = {0};
    CHECK_MSG(devstack_start(&o, &ds, &err) == SY_OK, "devstack: %s", err.message);
    const char *conninfo = devstack_pg_conninfo(ds);
    char *rules = rh_write_file("rules.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "pgrestart", devstack_nats_url(ds), conninfo, rules);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK(router_start(r, &err) == SY_OK);
    for (int i = 0; i < 400 && !router_ready(r, NULL, 0); i++)
        rh_sleep_ms(50);
    CHECK(router_ready(r, NULL, 0));
    rh_nats n;
    rh_nats_open(&n, devstack_nats_url(ds));
    publish_range(&n, "rt.pgrestart.a", "order.created", 0, 100);
    CHECK(devstack_pg_stop(ds, &err) == SY_OK);
    publish_range(&n, "rt.pgrestart.a", "order.created", 100, 200);
    rh_sleep_ms(1500);
    CHECK(!router_ready(r, NULL, 0)); /* readiness follows Postgres */
    CHECK_MSG(devstack_pg_start(ds, &err) == SY_OK, "restart: %s", err.message);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.inbox", 200, 60000), 200);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs"), 200);
    for (int i = 0; i < 400 && !router_ready(r, NULL, 0); i++)
        rh_sleep_ms(50);
    CHECK(router_ready(r, NULL, 0));
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    devstack_stop(ds);
}

/* Publishes with retries: the publisher's own connection reconnects too. */
static void publish_retrying(rh_nats *n, const char *subj, const char *type, int from, int to)
{
    char body[512], id[64];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof id, "%s-%d", type, i);
        rh_event(body, sizeof body, id, type, i);
        natsStatus s = NATS_ERR;
        for (int attempt = 0; attempt < 300 && s != NATS_OK; attempt++) {
            jsPubAck *pa = NULL;
            s = js_Publish(&pa, n->js, subj, body, (int)strlen(body), NULL, NULL);
            jsPubAck_Destroy(pa);
            if (s != NATS_OK)
                rh_sleep_ms(100);
        }
        CHECK_MSG(s == NATS_OK, "publish after the restart: %s", natsStatus_GetText(s));
    }
}

TEST(nats_restart_mid_stream_loses_nothing)
{
    devstack *ds = NULL;
    devstack_opts o = {.quiet = true};
    sy_error err = {0};
    CHECK_MSG(devstack_start(&o, &ds, &err) == SY_OK, "devstack: %s", err.message);
    const char *conninfo = devstack_pg_conninfo(ds);
    char *rules = rh_write_file("rules.yaml", rh_rules);
    router_config cfg;
    rh_config(&cfg, "natsrestart", devstack_nats_url(ds), conninfo, rules);
    cfg.stream_storage = ROUTER_STORAGE_FILE; /* the stream must survive the restart */
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);
    router *r = NULL;
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK(router_start(r, &err) == SY_OK);
    for (int i = 0; i < 400 && !router_ready(r, NULL, 0); i++)
        rh_sleep_ms(50);
    rh_nats n;
    rh_nats_open(&n, devstack_nats_url(ds));
    publish_range(&n, "rt.natsrestart.a", "order.created", 0, 100);
    CHECK(devstack_nats_stop(ds, &err) == SY_OK);
    rh_sleep_ms(1000);
    CHECK(!router_ready(r, NULL, 0)); /* readiness follows NATS */
    CHECK_MSG(devstack_nats_start(ds, &err) == SY_OK, "restart: %s", err.message);
    publish_retrying(&n, "rt.natsrestart.a", "order.created", 100, 200);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.inbox", 200, 60000), 200);
    CHECK_INT(rh_count(conninfo, "SELECT count(*) FROM switchyard.runs"), 200);
    router_free(r);
    rh_nats_close(&n);
    router_config_cleanup(&cfg);
    unlink(rules);
    free(rules);
    devstack_stop(ds);
}
