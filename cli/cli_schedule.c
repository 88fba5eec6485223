/* cli_schedule.c: `switchyard schedule ...`, the operator's view of
 * schedules (engine/schedule.h, docs/schedules.md). Each command opens one
 * session, runs in one transaction and prints text or, with -o json, JSON.
 * "now" is the wall clock shifted by SWITCHYARD_TEST_TIME_OFFSET_MS (sy_clock),
 * so tests can drive schedules through the CLI too.
 *
 *   switchyard schedule list [--limit N] [--page TOKEN]
 *   switchyard schedule describe ID [--upcoming N]
 *   switchyard schedule pause|resume ID [--note TEXT]
 *   switchyard schedule trigger ID [--overlap POLICY]
 *   switchyard schedule backfill ID --start RFC3339 --end RFC3339 [--overlap POLICY]
 *   switchyard schedule delete ID
 *   switchyard schedule create ID --cron SPEC --workflow TYPE [definition flags]
 *   switchyard schedule update ID [definition flags]   (only the flags given change)
 *   definition flags: --cron SPEC --workflow TYPE --timezone TZ --input JSON
 *     --overlap POLICY --catchup-window DUR --jitter DUR --limited-actions N --paused
 *   common: [--db CONNINFO] [--schema NAME] [--namespace NS] [--rules FILE] [-o json]
 * trigger and backfill start workflows, so they need the workflow definitions:
 * --rules FILE or $SWITCHYARD_RULES (create/update then also check the type). */
#include "cli.h"
#include "cliopt.h"
#include "clock.h"
#include "engine.h"
#include "json.h"
#include "list.h"
#include "schedule.h"
#include "timefmt.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sched_args {
    const char *verb, *id, *db, *schema, *ns, *note, *overlap, *start, *end;
    const char *cron, *workflow, *timezone, *input, *rules, *page;
    int64_t catchup_ms, jitter_ms, limited; /* -1: not given */
    int64_t limit;
    int verb_ix;
    bool paused, json;
    long upcoming;
} sched_args;

#define SCHED_DEFAULTS                                                                             \
    {                                                                                              \
        .catchup_ms = -1, .jitter_ms = -1, .limited = -1, .upcoming = 5, .limit = 100              \
    }

static const char *const VERBS[] = {"list",   "describe", "pause",  "resume", "trigger",
                                    "backfill", "delete", "create", "update", NULL};

#define SCHED_STR(opt, member, placeholder, text)                                                  \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(sched_args, member),                      \
        .arg = placeholder, .help = text                                                           \
    }

static const cliopt_opt SCHED_OPTS[] = {
    {.name = "VERB", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(sched_args, verb_ix), .choices = VERBS},
    SCHED_STR("ID", id, NULL, "the schedule ID (all verbs but list)"),
    {.name = "--upcoming",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(sched_args, upcoming),
     .min = 0,
     .max = INT32_MAX,
     .arg = "N",
     .help = "describe: the next N fire times (default 5)"},
    {.name = "--limit",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(sched_args, limit),
     .min = 1,
     .max = 1000,
     .arg = "N",
     .help = "list: at most N a page (default 100)"},
    SCHED_STR("--page", page, "TOKEN", "list: the page after this next_page_token"),
    SCHED_STR("--note", note, "TEXT", "pause, resume: why"),
    SCHED_STR("--overlap", overlap, "POLICY",
              "skip, buffer_one, buffer_all, cancel_other, terminate_other, allow_all"),
    SCHED_STR("--start", start, "RFC3339", "backfill: the first slot"),
    SCHED_STR("--end", end, "RFC3339", "backfill: the end (exclusive)"),
    SCHED_STR("--cron", cron, "SPEC", "create, update: the cron spec"),
    SCHED_STR("--workflow", workflow, "TYPE", "create, update: the workflow type to start"),
    SCHED_STR("--timezone", timezone, "TZ", "create, update: an IANA time zone"),
    SCHED_STR("--input", input, "JSON", "create, update: the workflow input"),
    {.name = "--catchup-window",
     .kind = CLIOPT_DURATION,
     CLIOPT_FIELD(sched_args, catchup_ms),
     .arg = "DUR",
     .help = "create, update: how late a missed slot still fires"},
    {.name = "--jitter",
     .kind = CLIOPT_DURATION,
     CLIOPT_FIELD(sched_args, jitter_ms),
     .arg = "DUR",
     .help = "create, update: random delay of each fire"},
    {.name = "--limited-actions",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(sched_args, limited),
     .min = 0,
     .max = INT32_MAX,
     .arg = "N",
     .help = "create, update: fire N more times"},
    {.name = "--paused",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(sched_args, paused),
     .help = "create, update: paused"},
    SCHED_STR("--db", db, "CONNINFO", "Postgres (default $SWITCHYARD_DB)"),
    SCHED_STR("--schema", schema, "NAME", "the engine's schema"),
    SCHED_STR("--namespace", ns, "NS", "the schedules' namespace"),
    SCHED_STR("--rules", rules, "FILE",
              "the workflow definitions (default $SWITCHYARD_RULES; trigger, backfill)"),
    {.name = "-o",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(sched_args, json),
     .choices = cliopt_output_formats,
     .help = "output format"},
};

static const cliopt_cmd SCHED_CMD = {
    .name = "schedule",
    .synopsis =
        "switchyard schedule list [--limit N] [--page TOKEN]\n"
        "       switchyard schedule describe ID [--upcoming N]\n"
        "       switchyard schedule pause|resume ID [--note TEXT]\n"
        "       switchyard schedule trigger ID [--overlap POLICY]\n"
        "       switchyard schedule backfill ID --start RFC3339 --end RFC3339 "
        "[--overlap POLICY]\n"
        "       switchyard schedule delete ID\n"
        "       switchyard schedule create|update ID [--cron SPEC] [--workflow TYPE]\n"
        "         [--timezone TZ] [--input JSON] [--overlap POLICY] [--catchup-window DUR]\n"
        "         [--jitter DUR] [--limited-actions N] [--paused]\n"
        "  common: [--db CONNINFO] [--schema NAME] [--namespace NS] [--rules FILE]\n"
        "  [-o json]; --db defaults to $SWITCHYARD_DB, --rules to $SWITCHYARD_RULES\n"
        "  (trigger and backfill need it). POLICY: skip, buffer_one, buffer_all,\n"
        "  cancel_other, terminate_other, allow_all",
    CLIOPT_TABLE(SCHED_OPTS),
    .required = 1,
};

/* What a verb needs beyond the table's checks. */
static sy_status check_args(sched_args *a, sy_error *err)
{
    a->verb = VERBS[a->verb_ix];
    if (strcmp(a->verb, "list") != 0 && !a->id)
        return sy_error_set(err, SY_USAGE, "missing_argument", NULL, "%s needs a schedule ID",
                            a->verb);
    if (strcmp(a->verb, "backfill") == 0 && (!a->start || !a->end))
        return sy_error_set(err, SY_USAGE, "missing_option", NULL,
                            "backfill needs --start and --end");
    if (strcmp(a->verb, "create") == 0 && (!a->cron || !a->workflow))
        return sy_error_set(err, SY_USAGE, "missing_option", NULL,
                            "create needs --cron and --workflow");
    return SY_OK;
}

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, sched_args *out, bool *help, sy_error *err)
{
    sched_args a = *out;
    sy_status st = cliopt_parse(&SCHED_CMD, argc, argv, &a, help, err);
    if (st == SY_OK && !*help)
        st = check_args(&a, err);
    if (st == SY_OK)
        *out = a;
    return st;
}

sy_status cli_schedule_parse(int argc, char **argv, bool *help, sy_error *err)
{
    sched_args a = SCHED_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

/* The environment's defaults for what argv did not say. */
static int apply_env(sched_args *a)
{
    if (!a->rules)
        a->rules = getenv("SWITCHYARD_RULES");
    bool starts = strcmp(a->verb, "trigger") == 0 || strcmp(a->verb, "backfill") == 0;
    if (starts && !a->rules) {
        fprintf(stderr,
                "switchyard schedule %s: needs the workflow definitions: give --rules "
                "FILE or set SWITCHYARD_RULES\n",
                a->verb);
        return SY_EXIT_USAGE;
    }
    if (!cliopt_db("schedule", &a->db))
        return SY_EXIT_USAGE;
    return SY_EXIT_OK;
}

/* ---- definitions from flags ----------------------------------------------------- */

static void set_number(cJSON *def, const char *key, int64_t v)
{
    if (v < 0) /* not given */
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(def, key);
    cJSON_AddNumberToObject(def, key, (double)v);
}

static void set_string(cJSON *def, const char *key, const char *v)
{
    if (!v)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(def, key);
    cJSON_AddStringToObject(def, key, v);
}

/* Overlays the definition flags on def (a copy of the current one, or {}). */
static sy_status apply_flags(const sched_args *a, cJSON *def, sy_error *err)
{
    set_string(def, "id", a->id);
    set_string(def, "cron", a->cron);
    set_string(def, "workflow", a->workflow);
    set_string(def, "timezone", a->timezone);
    set_string(def, "overlap", a->overlap);
    if (a->paused) {
        cJSON_DeleteItemFromObjectCaseSensitive(def, "paused");
        cJSON_AddTrueToObject(def, "paused");
    }
    set_number(def, "limited_actions", a->limited);
    set_number(def, "catchup_window_ms", a->catchup_ms);
    set_number(def, "jitter_ms", a->jitter_ms);
    if (!a->input)
        return SY_OK;
    cJSON *in = NULL;
    sy_status st = sy_json_parse(a->input, strlen(a->input), 0, "--input", &in, err);
    if (st == SY_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(def, "input");
        cJSON_AddItemToObject(def, "input", in);
    }
    return st;
}

/* The definition members of a describe result (for update). */
static cJSON *current_def(const cJSON *d)
{
    static const char *const keys[] = {"cron",      "timezone",       "workflow",
                                       "input",     "overlap",        "catchup_window_ms",
                                       "jitter_ms", "limited_actions"};
    cJSON *def = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = sy_json_get(d, keys[i]);
        if (v)
            cJSON_AddItemToObject(def, keys[i], cJSON_Duplicate(v, 1));
    }
    return def;
}

static sy_status do_upsert(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    cJSON *def = NULL;
    sy_status st = SY_OK;
    if (strcmp(a->verb, "update") == 0) {
        cJSON *d = NULL;
        st = engine_schedule_describe(s, a->id, now, 0, &d, err);
        def = st == SY_OK ? current_def(d) : NULL;
        cJSON_Delete(d);
    } else {
        def = cJSON_CreateObject();
    }
    if (st == SY_OK)
        st = apply_flags(a, def, err);
    bool created = false;
    if (st == SY_OK)
        st = engine_schedule_upsert(s, def, now, &created, err);
    if (st == SY_OK && a->json)
        printf("{\"id\":\"%s\",\"created\":%s}\n", a->id, created ? "true" : "false");
    else if (st == SY_OK)
        printf("schedule %s %s\n", a->id, created ? "created" : "updated");
    cJSON_Delete(def);
    return st;
}

/* ---- the other verbs --------------------------------------------------------------- */

static void print_json(const cJSON *v)
{
    sy_buf b = SY_BUF_INIT;
    sy_json_append(&b, v);
    printf("%s\n", sy_buf_str(&b));
    sy_buf_cleanup(&b);
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const char *s = sy_json_get_string(o, key);
    return s ? s : dflt;
}

static long long num(const cJSON *o, const char *key)
{
    const cJSON *v = sy_json_get(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void list_row(const cJSON *o)
{
    printf("%-24s %-16s %-18s %-16s %-7s %-25s %lld/%lld/%lld\n", str_or(o, "id", ""),
           str_or(o, "cron", ""), str_or(o, "timezone", ""), str_or(o, "workflow", ""),
           cJSON_IsTrue(sy_json_get(o, "paused")) ? "yes" : "no", str_or(o, "next_fire_at", "-"),
           num(o, "fired"), num(o, "skipped"), num(o, "missed"));
}

static sy_status do_list(engine_session *s, const sched_args *a, sy_error *err)
{
    cJSON *l = NULL;
    sy_status st = engine_schedule_list(s, a->page, (size_t)a->limit, &l, err);
    if (st != SY_OK)
        return st;
    if (!a->json)
        printf("%-24s %-16s %-18s %-16s %-7s %-25s %s\n", "ID", "CRON", "TIMEZONE", "WORKFLOW",
               "PAUSED", "NEXT", "FIRED/SKIPPED/MISSED");
    cli_list_print(l, "schedules", a->json, list_row);
    cJSON_Delete(l);
    return SY_OK;
}

static sy_status do_describe(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    cJSON *d = NULL;
    sy_status st =
        engine_schedule_describe(s, a->id, now, a->upcoming > 0 ? (size_t)a->upcoming : 0, &d, err);
    if (st != SY_OK)
        return st;
    cJSON_DeleteItemFromObjectCaseSensitive(d, "next_fire_ms");
    if (a->json) {
        print_json(d);
    } else {
        const cJSON *v;
        cJSON_ArrayForEach(v, d)
        {
            sy_buf b = SY_BUF_INIT;
            if (cJSON_IsString(v))
                sy_buf_puts(&b, v->valuestring);
            else
                sy_json_append(&b, v);
            printf("%-20s %s\n", v->string, sy_buf_str(&b));
            sy_buf_cleanup(&b);
        }
    }
    cJSON_Delete(d);
    return SY_OK;
}

static sy_status parse_overlap(const char *s, engine_overlap dflt, engine_overlap *out,
                               sy_error *err)
{
    *out = dflt;
    if (s && !engine_overlap_parse(s, out))
        return sy_error_set(err, SY_INVALID, "bad_argument", "--overlap",
                            "unknown overlap policy \"%s\"", s);
    return SY_OK;
}

static sy_status do_trigger(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    engine_overlap o;
    sy_status st = parse_overlap(a->overlap, ENGINE_OVERLAP_SKIP, &o, err);
    engine_schedule_fire f = {0};
    if (st == SY_OK)
        st = engine_schedule_trigger(s, a->id, now, a->overlap ? &o : NULL, &f, err);
    if (st != SY_OK)
        return st;
    if (a->json)
        printf("{\"workflow_id\":\"%s\",\"started\":%s,\"buffered\":%s,\"run_id\":\"%s\","
               "\"reason\":\"%s\"}\n",
               f.workflow_id, f.started ? "true" : "false", f.buffered ? "true" : "false", f.run_id,
               f.started ? "" : f.reason);
    else if (f.started)
        printf("started %s (run %s)\n", f.workflow_id, f.run_id);
    else
        printf("%s not started: %s\n", f.workflow_id, f.reason);
    return SY_OK;
}

static sy_status do_backfill(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    engine_overlap o;
    int64_t start = 0, end = 0;
    sy_status st = parse_overlap(a->overlap, ENGINE_OVERLAP_ALLOW_ALL, &o, err);
    if (st == SY_OK)
        st = sy_time_parse_rfc3339(a->start, "--start", &start, err);
    if (st == SY_OK)
        st = sy_time_parse_rfc3339(a->end, "--end", &end, err);
    engine_schedule_backfill_counts c = {0};
    if (st == SY_OK)
        st = engine_schedule_backfill(s, a->id, start, end, o, now, &c, err);
    if (st != SY_OK)
        return st;
    if (a->json)
        printf("{\"slots\":%zu,\"started\":%zu,\"skipped\":%zu,\"buffered\":%zu,"
               "\"already_fired\":%zu}\n",
               c.slots, c.started, c.skipped, c.buffered, c.already_fired);
    else
        printf("%zu slots: %zu started, %zu skipped, %zu buffered, %zu already fired\n", c.slots,
               c.started, c.skipped, c.buffered, c.already_fired);
    return SY_OK;
}

static sy_status do_simple(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    sy_status st;
    if (strcmp(a->verb, "delete") == 0)
        st = engine_schedule_delete(s, a->id, err);
    else
        st = engine_schedule_pause(s, a->id, strcmp(a->verb, "pause") == 0, a->note, now, err);
    if (st == SY_OK && a->json)
        printf("{\"id\":\"%s\",\"done\":\"%s\"}\n", a->id, a->verb);
    else if (st == SY_OK)
        printf("schedule %s: %s\n", a->id,
               strcmp(a->verb, "delete") == 0  ? "deleted"
               : strcmp(a->verb, "pause") == 0 ? "paused"
                                               : "resumed");
    return st;
}

static sy_status dispatch(engine_session *s, const sched_args *a, int64_t now, sy_error *err)
{
    const char *v = a->verb;
    if (strcmp(v, "list") == 0)
        return do_list(s, a, err);
    if (strcmp(v, "describe") == 0)
        return do_describe(s, a, now, err);
    if (strcmp(v, "trigger") == 0)
        return do_trigger(s, a, now, err);
    if (strcmp(v, "backfill") == 0)
        return do_backfill(s, a, now, err);
    if (strcmp(v, "create") == 0 || strcmp(v, "update") == 0)
        return do_upsert(s, a, now, err);
    return do_simple(s, a, now, err);
}

/* Loads the rules file (the workflow definitions), when one is given. */
static sy_status load_rules(const sched_args *a, rules_set **set, sy_error *err)
{
    *set = NULL;
    if (!a->rules)
        return SY_OK;
    rules_diags diags = {0};
    rules_load_opts ro = {0};
    sy_status st = rules_load(a->rules, &ro, set, &diags, err);
    for (size_t i = 0; st != SY_OK && i < diags.len; i++)
        fprintf(stderr, "%s\n", diags.lines[i]);
    rules_diags_cleanup(&diags);
    return st;
}

static sy_status run(const sched_args *a, sy_error *err)
{
    sy_clock clock;
    sy_clock_init(&clock);
    engine_opts eo = {.schema = a->schema, .namespace_ = a->ns};
    engine *eng = NULL;
    engine_session *s = NULL;
    rules_set *set = NULL;
    sy_status st = load_rules(a, &set, err);
    if (st == SY_OK)
        st = engine_new(&eo, set, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
    if (st == SY_OK)
        st = engine_begin(s, err);
    if (st == SY_OK) {
        st = dispatch(s, a, sy_clock_now_ms(&clock), err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        else
            engine_rollback(s);
    }
    engine_session_close(s);
    engine_free(eng);
    rules_set_free(set);
    return st;
}

int cli_schedule(int argc, char **argv)
{
    sched_args a = SCHED_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&SCHED_CMD, pst, &perr);
    int rc = apply_env(&a);
    if (rc != SY_EXIT_OK)
        return rc;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = run(&a, &err);
    if (st != SY_OK) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "schedule %s", a.verb);
        return cliopt_fail(cmd, st, &err);
    }
    return SY_EXIT_OK;
}
