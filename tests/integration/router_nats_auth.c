/* router_nats_auth.c: the NATS credentials of the config reach every
 * connection the service makes. A private nats-server that requires a
 * token (started and stopped by this test on a free port): the pipelines
 * route an event into a workflow, the outbox relay publishes its
 * task.created, and the worker-report consumer applies a task.completed
 * report, so the workflow completes; the same options without the token
 * file are refused by the server. */
#include "router_helpers.h"

#include "loops.h"
#include "router_int.h"
#include "router.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/wait.h>

static const char auth_rules[] = "version: 1\n"
                                 "routes:\n"
                                 "  - name: go\n"
                                 "    match: { type: auth.go }\n"
                                 "    start:\n"
                                 "      workflow: one\n"
                                 "      id: \"auth-{{ payload.n }}\"\n"
                                 "workflows:\n"
                                 "  one:\n"
                                 "    task_queue: aq\n"
                                 "    steps:\n"
                                 "      - task: work\n";

/* nats-server with JetStream that accepts only 'token'; waits until it
 * answers an authenticated connection. */
static pid_t start_server(int port, const char *token, const char *store)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    pid_t pid = fixture_fork(); /* dies with the test, even a failed one */
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        const char *exe = access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
                                                                     : "nats-server";
        execlp(exe, exe, "-js", "-a", "127.0.0.1", "-p", portbuf, "-auth", token, "-sd", store,
               (char *)NULL);
        _exit(127);
    }
    char url[128];
    snprintf(url, sizeof url, "nats://%s@127.0.0.1:%d", token, port);
    for (int i = 0; i < 100; i++) {
        natsConnection *nc = NULL;
        if (natsConnection_ConnectTo(&nc, url) == NATS_OK) {
            natsConnection_Destroy(nc);
            return pid;
        }
        rh_sleep_ms(100);
    }
    CHECK_MSG(false, "nats-server with -auth did not start on port %d", port);
    return pid;
}

/* Stops a server of start_server and removes its store. */
static void stop_server(pid_t pid, const char *store)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", store);
    CHECK_INT(system(rm), 0);
}

/* Answers the first task.created on the connection with task.completed. */
static void complete_one_task(rh_nats *n, natsSubscription *created)
{
    natsMsg *m = NULL;
    CHECK_INT(natsSubscription_NextMsg(&m, created, 20000), NATS_OK);
    cJSON *j = cJSON_Parse(natsMsg_GetData(m));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "payload");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "task_id");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(p, "attempt");
    CHECK(cJSON_IsString(id) && cJSON_IsNumber(att));
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"task.completed\",\"task_id\":\"%s\",\"attempt\":%d,\"result\":{}}",
             id->valuestring, att->valueint);
    rh_publish(n, "rtauth.report.aq", body);
    cJSON_Delete(j);
    natsMsg_Destroy(m);
}

TEST(token_reaches_pipelines_relay_and_report_consumer)
{
    const char *token = "s3cret-token-for-test";
    char store[] = "/tmp/sy-rt-auth-XXXXXX";
    CHECK(mkdtemp(store) != NULL);
    int port = rh_free_port();
    pid_t server = start_server(port, token, store);
    char url[64], authed[128];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    snprintf(authed, sizeof authed, "nats://%s@127.0.0.1:%d", token, port);

    char *conninfo = fixture_pg_fresh_db("rt_auth");
    char *rules = rh_write_file("rules-auth.yaml", auth_rules);
    char *tokfile = rh_write_file("auth-token", token);
    router_config cfg;
    rh_config(&cfg, "rt_auth", url, conninfo, rules);
    rh_own_outcomes(&cfg, "rtauth", "RTAUTH_OUT");
    cfg.timers = false;
    sy_log lg;
    sy_log_init(&lg, SY_LOG_ERROR, 2);

    /* without the token the server refuses the options' connection */
    sy_error err = {0};
    natsOptions *no = router_nats_options(&cfg, &err);
    CHECK(no != NULL);
    natsConnection *bare = NULL;
    CHECK(natsConnection_Connect(&bare, no) != NATS_OK);
    natsOptions_Destroy(no);
    router *r = NULL;
    rh_set(&cfg.nats_token_file, tokfile);
    r = NULL;
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_MSG(router_start(r, &err) == SY_OK, "start: %s", err.message);
    router_loops *loops = NULL;
    CHECK(router_loops_start(&cfg, r, &lg, &loops, &err) == SY_OK);

    rh_nats n;
    rh_nats_open(&n, authed);
    natsSubscription *created = NULL;
    CHECK_INT(natsConnection_SubscribeSync(&created, n.nc, "rtauth.task.created.aq"), NATS_OK);
    CHECK_INT(natsConnection_Flush(n.nc), NATS_OK);
    char body[512];
    rh_event(body, sizeof body, "auth-1", "auth.go", 1);
    rh_publish(&n, "rt.rt_auth.go", body);
    complete_one_task(&n, created); /* the relay published task.created */
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs WHERE workflow_id = "
                                      "'auth-1' AND status = 'completed'", 1, 20000), 1);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.outbox_messages", 0, 20000), 0);

    router_stop(r);
    router_loops_stop(loops);
    router_free(r);
    natsSubscription_Destroy(created);
    rh_nats_close(&n);
    stop_server(server, store);
    router_config_cleanup(&cfg);
    unlink(rules);
    unlink(tokfile);
    free(rules);
    free(tokfile);
    free(conninfo);
}

/* A wrong token is a configuration error, said at once: a connection that
 * retries in the background must not turn it into "NATS unreachable". */
TEST(wrong_token_fails_start_as_a_configuration_error)
{
    char store[] = "/tmp/sy-rt-auth-XXXXXX";
    CHECK(mkdtemp(store) != NULL);
    int port = rh_free_port();
    pid_t server = start_server(port, "the-right-token", store);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    char *conninfo = fixture_pg_fresh_db("rt_auth_bad");
    char *rules = rh_write_file("rules-auth-bad.yaml", auth_rules);
    char *tokfile = rh_write_file("auth-token-bad", "a-wrong-token");
    router_config cfg;
    rh_config(&cfg, "rt_auth_bad", url, conninfo, rules);
    rh_set(&cfg.nats_token_file, tokfile);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_OFF, 2);
    sy_error err = {0};
    router *r = NULL;
    CHECK(router_new(&cfg, &lg, &r, &err) == SY_OK);
    CHECK_INT(router_start(r, &err), SY_CONFIG);
    CHECK_MSG(strstr(err.message, "credentials") != NULL, "message: %s", err.message);
    router_stop(r);
    router_free(r);
    stop_server(server, store);
    router_config_cleanup(&cfg);
    unlink(rules);
    unlink(tokfile);
    free(rules);
    free(tokfile);
    free(conninfo);
}
