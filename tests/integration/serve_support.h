/* serve_support.h: two `switchyard serve` processes sharing one stream
 * and one database, for the tests of what must hold across processes and a
 * SIGKILL (router_flow.c, router_corr.c): start, kill and restart one,
 * publish events, read one /metrics sample. Header only. */
#ifndef SY_TEST_SERVE_SUPPORT_H
#define SY_TEST_SERVE_SUPPORT_H

#include "router_helpers.h"

#include <signal.h>
#include <sys/wait.h>

typedef struct serve_fx {
    char *conninfo, *rules, *cfg[2];
    int port[2];
    pid_t pid[2];
    rh_nats n;
    char subj[64];
} serve_fx;

/* Serve process i (its own admin port, the shared config otherwise),
 * waited for until ready. */
static __attribute__((unused)) void serve_up(serve_fx *fx, int i)
{
    char yaml[2048], name[32], resp[4096];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\"}\n"
             "stream: {name: RT_%s, subjects: [\"rt.%s.>\"], storage: memory,"
             " outcomes_subjects: []}\n"
             "consumer: {batch_size: 16, fetch_wait: 20ms, ack_wait: 2s, nak_delay: 100ms,"
             " max_deliver: -1}\n"
             "rules: {path: \"%s\"}\nadmin: {listen: \"127.0.0.1:%d\"}\nlog: {level: warn}\n",
             fixture_nats_url(), fx->conninfo, fx->subj, fx->subj, fx->rules, fx->port[i]);
    snprintf(name, sizeof name, "serve-%d.yaml", i);
    if (!fx->cfg[i])
        fx->cfg[i] = rh_write_file(name, yaml);
    fx->pid[i] = rh_spawn_serve(fx->cfg[i]);
    int status = 0;
    for (int k = 0; k < 300 && status != 200; k++, rh_sleep_ms(100))
        status = rh_http(fx->port[i], "GET", "/readyz", NULL, resp, sizeof resp);
    CHECK_MSG(status == 200, "serve %d not ready: %d %s", i, status, resp);
}

static __attribute__((unused)) void serve_kill(serve_fx *fx, int i)
{
    if (fx->pid[i] <= 0)
        return;
    kill(fx->pid[i], SIGKILL);
    int st;
    waitpid(fx->pid[i], &st, 0);
    fx->pid[i] = 0;
}

static __attribute__((unused)) void serve_open(serve_fx *fx, const char *name, const char *rules,
                                               int nproc)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->subj, sizeof fx->subj, "%s", name);
    fx->conninfo = fixture_pg_fresh_db(name);
    fx->rules = rh_write_file("serve-rules.yaml", rules);
    rh_nats_open(&fx->n, fixture_nats_url());
    for (int i = 0; i < nproc; i++) {
        fx->port[i] = rh_free_port();
        serve_up(fx, i);
    }
}

static __attribute__((unused)) void serve_close(serve_fx *fx)
{
    serve_kill(fx, 0);
    serve_kill(fx, 1);
    rh_nats_close(&fx->n);
    unlink(fx->rules);
    free(fx->rules);
    for (int i = 0; i < 2; i++) {
        if (fx->cfg[i])
            unlink(fx->cfg[i]);
        free(fx->cfg[i]);
    }
    free(fx->conninfo);
}

static __attribute__((unused)) void publish(serve_fx *fx, const char *type, const char *id, int n)
{
    char body[512], subject[96];
    rh_event(body, sizeof body, id, type, n);
    snprintf(subject, sizeof subject, "rt.%s.e", fx->subj);
    rh_publish(&fx->n, subject, body);
}

/* The value of one /metrics line of process i (-1: absent). */
static __attribute__((unused)) long metric(serve_fx *fx, int i, const char *series)
{
    static char resp[262144];
    CHECK_INT(rh_http(fx->port[i], "GET", "/metrics", NULL, resp, sizeof resp), 200);
    char line[256];
    snprintf(line, sizeof line, "\n%s", series); /* a sample, not its # HELP */
    const char *at = strstr(resp, line);
    return at ? atol(at + strlen(line)) : -1;
}

#endif
