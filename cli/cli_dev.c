/* cli_dev.c: `switchyard dev [--dir DIR] [--admin HOST:PORT] [--rules FILE]`.
 *
 * One command for a local stack: nats-server with JetStream and a Postgres
 * cluster from Debian's packages under .switchyard-dev/ (kept between runs:
 * durable), the engine's migrations, the example rules, and the service
 * (router, admin HTTP, outbox relay, report consumer, timers) in this
 * process, and an example worker per task queue of the rules
 * (dev_workers.h). Prints the URLs and a `switchyard publish` line to try.
 * Ctrl-C drains the service, stops the workers and both servers. */
#include "cli.h"
#include "cliopt.h"
#include "config.h"
#include "dev_workers.h"
#include "devstack.h"
#include "engine.h"
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SY_SOURCE_DIR
#define SY_SOURCE_DIR "."
#endif

typedef struct dev_ctx {
    const devstack *ds;
    const char *rules;
    dev_workers *workers; /* started once the service listens */
} dev_ctx;

typedef struct dev_args {
    const char *dir, *admin, *rules;
} dev_args;

#define DEV_DEFAULTS                                                                               \
    {                                                                                              \
        .dir = ".switchyard-dev", .admin = "127.0.0.1:8088"                                        \
    }

static const cliopt_opt DEV_OPTS[] = {
    {.name = "--dir", .kind = CLIOPT_STRING, CLIOPT_FIELD(dev_args, dir), .arg = "DIR",
     .help = "the servers' data, kept between runs (default .switchyard-dev)"},
    {.name = "--admin", .kind = CLIOPT_STRING, CLIOPT_FIELD(dev_args, admin),
     .arg = "HOST:PORT", .help = "admin HTTP (default 127.0.0.1:8088)"},
    {.name = "--rules", .kind = CLIOPT_STRING, CLIOPT_FIELD(dev_args, rules), .arg = "FILE",
     .help = "the rules (default examples/rules.yaml)"},
};

static const cliopt_cmd DEV_CMD = {
    .name = "dev",
    .synopsis = "switchyard dev [--dir DIR] [--admin HOST:PORT] [--rules FILE]",
    CLIOPT_TABLE(DEV_OPTS),
};

sy_status cli_dev_parse(int argc, char **argv, bool *help, sy_error *err)
{
    dev_args a = DEV_DEFAULTS;
    return cliopt_parse(&DEV_CMD, argc, argv, &a, help, err);
}

/* A path relative to the working directory, else to the source tree. */
static void find_path(const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s", rel);
    if (access(out, R_OK) != 0)
        snprintf(out, n, "%s/%s", SY_SOURCE_DIR, rel);
}

static void banner(void *arg, int admin_port)
{
    dev_ctx *c = arg;
    sy_error err = {0};
    char text[SY_ERROR_TEXT_MAX];
    if (dev_workers_start(c->rules, devstack_nats_url(c->ds), devstack_dir(c->ds), &c->workers,
                          &err) != SY_OK)
        fprintf(stderr, "dev: no example workers: %s\n", sy_error_text(&err, text, sizeof text));
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *exe = n > 0 ? self : "switchyard";
    printf("\nswitchyard dev is running (Ctrl-C stops everything)\n"
           "  NATS            %s   (monitoring %s)\n"
           "  Postgres        %s\n"
           "  admin           http://127.0.0.1:%d/readyz  /metrics  /api/v1/status\n"
           "  rules           %s\n"
           "  data            %s\n",
           devstack_nats_url(c->ds), devstack_nats_monitor(c->ds), devstack_pg_conninfo(c->ds),
           admin_port, c->rules, devstack_dir(c->ds));
    dev_workers_print(c->workers, stdout);
    /* the README's commands read their servers from these */
    printf("\nin another terminal:\n"
           "  export SWITCHYARD_DB='%s' SWITCHYARD_NATS_URL=%s SWITCHYARD_RULES=%s\n",
           devstack_pg_conninfo(c->ds), devstack_nats_url(c->ds), c->rules);
    printf("\ntry:\n"
           "  echo '{\"type\":\"kg.gap.ready\",\"source\":\"monolith\",\"schema_version\":1,"
           "\"payload\":{\"gap_id\":42,\"priority\":3,\"kind\":\"kg\",\"title\":\"Hello\"}}' \\\n"
           "    | SWITCHYARD_NATS_URL=%s %s publish --subject events.kg.gap -\n"
           "  SWITCHYARD_DB='%s' %s workflow describe gap-drain-42\n"
           "  echo '{\"type\":\"review.approved\",\"subject\":\"42\",\"source\":\"ui\","
           "\"schema_version\":1,\"payload\":{\"reviewer\":\"ada\",\"decision\":\"approve\",\"approved\":true}}' \\\n"
           "    | SWITCHYARD_NATS_URL=%s %s publish --subject events.review -\n"
           "  SWITCHYARD_DB='%s' %s dlq list\n\n",
           devstack_nats_url(c->ds), exe, devstack_pg_conninfo(c->ds), exe,
           devstack_nats_url(c->ds), exe, devstack_pg_conninfo(c->ds), exe);
    fflush(stdout);
}

static sy_status migrate(const char *conninfo, sy_error *err)
{
    engine *eng = NULL;
    int applied = 0;
    sy_status st = engine_new(NULL, NULL, &eng, err);
    if (st == SY_OK)
        st = engine_migrate(eng, conninfo, &applied, err);
    engine_free(eng);
    if (st == SY_OK)
        fprintf(stderr, "dev: %d migration(s) applied\n", applied);
    return st;
}

static void dev_config(router_config *c, const devstack *ds, const char *rules, const char *admin)
{
    router_config_init(c);
    free(c->nats_urls.items[0]);
    c->nats_urls.items[0] = strdup(devstack_nats_url(ds));
    c->pg_conninfo = strdup(devstack_pg_conninfo(ds));
    c->rules_path = strdup(rules);
    free(c->admin_listen);
    c->admin_listen = strdup(admin);
    char schemas[512];
    find_path("schemas/events", schemas, sizeof schemas);
    if (access(schemas, R_OK) == 0) {
        find_path("schemas", schemas, sizeof schemas);
        c->schemas_dir = strdup(schemas);
    }
}

int cli_dev(int argc, char **argv)
{
    dev_args a = DEV_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&DEV_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&DEV_CMD, pst, &perr);
    const char *dir = a.dir, *admin = a.admin, *rules_arg = a.rules;
    char rules[512];
    if (rules_arg)
        snprintf(rules, sizeof rules, "%s", rules_arg);
    else
        find_path("examples/rules.yaml", rules, sizeof rules);
    devstack *ds = NULL;
    sy_error err = {0};
    devstack_opts o = {.dir = dir, .durable = true};
    sy_status st = devstack_start(&o, &ds, &err);
    if (st == SY_OK)
        st = migrate(devstack_pg_conninfo(ds), &err);
    if (st != SY_OK) {
        cliopt_fail("dev", err.status, &err);
        devstack_stop(ds);
        return sy_status_exit_code(st);
    }
    router_config cfg;
    dev_config(&cfg, ds, rules, admin);
    sy_log lg;
    sy_log_init(&lg, SY_LOG_INFO, 2);
    dev_ctx ctx = {ds, rules, NULL};
    int rc = serve_run(&cfg, &lg, banner, &ctx);
    fprintf(stderr, "dev: stopping the workers\n");
    dev_workers_stop(ctx.workers);
    router_config_cleanup(&cfg);
    fprintf(stderr, "dev: stopping the servers\n");
    devstack_stop(ds);
    return rc;
}
