/* cli_replay.c: `switchyard replay --from TIME --until TIME [--type GLOB]
 * [--rules FILE] [--dry-run] [--batch N] [--config FILE] [--stream NAME] [--db CONNINFO]
 * [--nats URL]`: backfill (router/replay.h, docs/operations.md "Backfill").
 *
 * Reads the events stream between the two times and routes those events
 * again through the rules (--rules, else $SWITCHYARD_RULES, else the
 * config's), exactly once per route: what took effect before is a no-op,
 * a route that matches now and never took effect for an event does. A dry
 * run prints one JSON line per event that would change and changes
 * nothing. Progress on stderr when it is a terminal; the last line of
 * stdout is one JSON summary. Exit 0, 64 usage (bad or out-of-order times,
 * a window past the inbox retention), 69 a server unreachable, 78 rules or
 * configuration that do not load. */
#include "cli.h"
#include "cliopt.h"
#include "clock.h"
#include "config.h"
#include "replay.h"
#include "rules.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

typedef struct replay_args {
    const char *from, *until, *type, *rules, *config, *stream, *db, *nats;
    bool dry_run;
    int64_t batch;
} replay_args;

static const cliopt_opt REPLAY_OPTS[] = {
    {.name = "--from",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, from),
     .arg = "TIME",
     .help = "events stored since TIME (RFC 3339, or a duration ago: 2h) (required)"},
    {.name = "--until",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, until),
     .arg = "TIME",
     .help = "... up to TIME, not in the future (required)"},
    {.name = "--type",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, type),
     .arg = "GLOB",
     .help = "only events whose type matches GLOB (shell glob: 'order.*')"},
    {.name = "--rules",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, rules),
     .arg = "FILE",
     .help = "route through FILE (default $SWITCHYARD_RULES, else the config's)"},
    {.name = "--dry-run",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(replay_args, dry_run),
     .help = "print what would change (a JSON line per event), change nothing"},
    {.name = "--batch",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(replay_args, batch),
     .min = 1,
     .max = 10000,
     .arg = "N",
     .help = "events applied per transaction (default 256; 1: one transaction per event)"},
    {.name = "--config",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, config),
     .arg = "FILE",
     .help = "serve's configuration: servers, stream, consumer, schemas, keyring, rules"},
    {.name = "--stream",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, stream),
     .arg = "NAME",
     .help = "the events stream (default the config's, EVENTS)"},
    {.name = "--db",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, db),
     .arg = "CONNINFO",
     .help = "Postgres (default $SWITCHYARD_DB, else the config's)"},
    {.name = "--nats",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(replay_args, nats),
     .arg = "URL",
     .help = "NATS (default $SWITCHYARD_NATS_URL, else the config's)"},
};

static const cliopt_cmd REPLAY_CMD = {
    .name = "replay",
    .synopsis = "switchyard replay --from TIME --until TIME [--type GLOB] [--rules FILE] "
                "[--dry-run]\n"
                "                  [--batch N] [--config FILE] [--stream NAME] [--db CONNINFO] "
                "[--nats URL]\n"
                "  routes the events stored in the window again; what took effect before is "
                "a no-op",
    CLIOPT_TABLE(REPLAY_OPTS),
};

/* Pure: argv in, *out written only on success. */
static sy_status parse_args(int argc, char **argv, replay_args *out, bool *help, sy_error *err)
{
    replay_args a = *out;
    sy_status st = cliopt_parse(&REPLAY_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if (!a.from)
        return sy_error_set(err, SY_USAGE, "missing_argument", "--from", "--from TIME is required");
    if (!a.until)
        return sy_error_set(err, SY_USAGE, "missing_argument", "--until",
                            "--until TIME is required");
    st = cliopt_check_time("--from", a.from, err);
    if (st == SY_OK)
        st = cliopt_check_time("--until", a.until, err);
    if (st == SY_OK)
        *out = a;
    return st;
}

sy_status cli_replay_parse(int argc, char **argv, bool *help, sy_error *err)
{
    replay_args a = {0};
    return parse_args(argc, argv, &a, help, err);
}

/* The window against the clock: in order, not in the future, not past the
 * inbox retention (older events cannot be told from new ones). */
static sy_status check_window(const replay_args *a, int64_t now, int64_t *from, int64_t *until,
                              sy_error *err)
{
    *from = cliopt_time(a->from, now);
    *until = cliopt_time(a->until, now);
    char f[SY_TIME_RFC3339_MAX], u[SY_TIME_RFC3339_MAX], n[SY_TIME_RFC3339_MAX];
    sy_time_format_rfc3339(*from, f);
    sy_time_format_rfc3339(*until, u);
    sy_time_format_rfc3339(now, n);
    if (*from >= *until)
        return sy_error_set(err, SY_USAGE, "bad_time", "--from",
                            "--from %s is not before --until %s", f, u);
    if (*until > now)
        return sy_error_set(err, SY_USAGE, "bad_time", "--until",
                            "--until %s is in the future (now is %s): only stored events replay", u,
                            n);
    if (*from < now - ROUTER_REPLAY_MAX_AGE_MS)
        return sy_error_set(err, SY_USAGE, "bad_time", "--from",
                            "--from %s is more than 7 days ago, past the inbox retention: an "
                            "older event could not be told from a new one",
                            f);
    return SY_OK;
}

static void progress(void *arg, const router_replay_stats *s)
{
    (void)arg;
    fprintf(stderr, "\rreplay: seq %llu, %llu read, %llu changed, %llu routes applied, %llu left ",
            (unsigned long long)s->last_seq, (unsigned long long)s->read,
            (unsigned long long)s->changed, (unsigned long long)s->routes_applied,
            (unsigned long long)s->pending);
}

static void print_summary(const router_replay_stats *s, const replay_args *a, int64_t from,
                          int64_t until, sy_status st, const sy_error *err)
{
    char f[SY_TIME_RFC3339_MAX], u[SY_TIME_RFC3339_MAX];
    sy_time_format_rfc3339(from, f);
    sy_time_format_rfc3339(until, u);
    printf("{\"replay\":{\"from\":\"%s\",\"until\":\"%s\",\"dry_run\":%s},\"read\":%llu,"
           "\"skipped_type\":%llu,\"invalid\":%llu,\"unmatched\":%llu,\"unchanged\":%llu,"
           "\"unknown\":%llu,\"changed\":%llu,\"routes_applied\":%llu,\"duplicates\":%llu,"
           "\"dead_lettered\":%llu,\"correlated\":%llu,\"not_routed\":%llu,\"first_seq\":%llu,"
           "\"last_seq\":%llu,"
           "\"ok\":%s",
           f, u, a->dry_run ? "true" : "false", (unsigned long long)s->read,
           (unsigned long long)s->skipped_type, (unsigned long long)s->invalid,
           (unsigned long long)s->unmatched, (unsigned long long)s->unchanged,
           (unsigned long long)s->unknown, (unsigned long long)s->changed,
           (unsigned long long)s->routes_applied, (unsigned long long)s->duplicates,
           (unsigned long long)s->dead_lettered, (unsigned long long)s->correlated,
           (unsigned long long)s->not_routed, (unsigned long long)s->first_seq,
           (unsigned long long)s->last_seq, st == SY_OK ? "true" : "false");
    if (st != SY_OK) {
        cJSON *m = cJSON_CreateString(err->message);
        char *t = cJSON_PrintUnformatted(m);
        printf(",\"error\":%s", t);
        free(t);
        cJSON_Delete(m);
    }
    printf("}\n");
}

/* The configuration: the file's, else the defaults; flags and the
 * environment name the servers and the rules. */
static sy_status load(const replay_args *a, router_config *cfg, rules_set **rules, char **conninfo,
                      sy_error *err)
{
    sy_status st = SY_OK;
    if (a->config && (st = router_config_load(cfg, a->config, environ, err)) != SY_OK) {
        router_config_init(cfg); /* load cleaned it up; the caller cleans up again */
        return st;
    }
    if (!a->config)
        router_config_init(cfg);
    if (a->stream) {
        free(cfg->stream_name);
        cfg->stream_name = strdup(a->stream);
    }
    const char *db = a->db ? a->db : getenv("SWITCHYARD_DB");
    if (db)
        *conninfo = strdup(db);
    else if (a->config)
        st = router_config_pg_conninfo(cfg, conninfo, err);
    else
        return sy_error_set(err, SY_USAGE, "missing_argument", "--db",
                            "give --db CONNINFO, set SWITCHYARD_DB or give --config");
    const char *path = a->rules ? a->rules : getenv("SWITCHYARD_RULES");
    if (!path)
        path = cfg->rules_path;
    if (st == SY_OK && !path)
        return sy_error_set(err, SY_USAGE, "missing_argument", "--rules",
                            "give --rules FILE, set SWITCHYARD_RULES or give --config");
    rules_diags d = {0};
    rules_load_opts lo = {0};
    if (st == SY_OK)
        st = rules_load(path, &lo, rules, &d, err);
    for (size_t i = 0; i < d.len; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    rules_diags_cleanup(&d);
    return st;
}

int cli_replay(int argc, char **argv)
{
    replay_args a = {0};
    bool help = false;
    sy_error err = {0};
    sy_status st = parse_args(argc, argv, &a, &help, &err);
    int64_t from = 0, until = 0;
    if (st == SY_OK && !help)
        st = check_window(&a, sy_clock_now_ms(NULL), &from, &until, &err);
    if (st != SY_OK || help)
        return cliopt_usage_exit(&REPLAY_CMD, st, &err);
    router_config cfg;
    rules_set *rules = NULL;
    char *conninfo = NULL;
    st = load(&a, &cfg, &rules, &conninfo, &err);
    router_replay_stats stats = {0};
    if (st == SY_OK) {
        const char *nats = a.nats ? a.nats : getenv("SWITCHYARD_NATS_URL");
        router_replay_opts o = {.cfg = &cfg,
                                .nats_url = nats,
                                .conninfo = conninfo,
                                .rules = rules,
                                .from_ms = from,
                                .until_ms = until,
                                .type_glob = a.type,
                                .dry_run = a.dry_run,
                                .batch = (size_t)a.batch,
                                .progress = isatty(2) ? progress : NULL};
        st = router_replay_run(&o, &stats, &err);
        if (isatty(2))
            fprintf(stderr, "\n");
        print_summary(&stats, &a, from, until, st, &err);
    }
    if (conninfo) { /* it may hold a password */
        memset(conninfo, 0, strlen(conninfo));
        free(conninfo);
    }
    rules_set_free(rules);
    router_config_cleanup(&cfg);
    if (st == SY_USAGE)
        return cliopt_usage_exit(&REPLAY_CMD, st, &err);
    return st == SY_OK ? SY_EXIT_OK : cliopt_fail("replay", st, &err);
}
