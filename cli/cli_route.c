/* cli_route.c: `switchyard route --rules FILE [--schemas DIR] [FILE|-]`, the
 * offline dry run of docs/cli.md. Each event is validated as the
 * router would (envelope_parse, optional payload schemas) and routed through
 * the rules; nothing is started or signalled. One JSON line per event:
 *   {"event_id":..,"actions":[{"route":..,"action":..,...}],
 *    "dead_letter":{"code":..,"message":..}}
 * "dead_letter" appears when the router would dead-letter the event (invalid
 * envelope, a dead-letter action, or unmatched under defaults.unmatched:
 * dead_letter); "unmatched":true when no route matched. Input: FILE holding
 * one JSON event, or JSON lines (FILE or stdin). Flow control (dedupe,
 * rate_limit, debounce, throttle, batch) is simulated with the events'
 * occurred_at as the clock: each action says what it did ("flow":
 * {"outcome":..}), and what fires later is printed as
 * {"fired_at":..,"actions":[..]} when the clock passes it (the end of the
 * input fires everything still held). Exit 0, 65 when any event
 * was dead-lettered, 64 usage, 78 rules or schemas that do not load, 1 I/O. */
#include "cli.h"
#include "cliopt.h"
#include "envelope.h"
#include "json.h"
#include "rules.h"
#include "status.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

typedef struct route_cfg {
    const char *rules_path, *schemas_dir, *input;
    bool allow_unknown;
    rules_set *rules;
    envelope_schemas *schemas;
    envelope_opts opts;
    int dead_letters;
    rules_flow_sim *sim; /* flow control, simulated on the events' clock */
    rules_corr_sim *corr; /* the runs started, for cancel_on and wait_event */
    int64_t clock;       /* the latest occurred_at seen (the clock never goes back) */
} route_cfg;

static const cliopt_opt ROUTE_OPTS[] = {
    {.name = "FILE", .kind = CLIOPT_STRING, CLIOPT_FIELD(route_cfg, input),
     .help = "one JSON event or JSON lines; - or none: stdin"},
    {.name = "--rules", .kind = CLIOPT_STRING, CLIOPT_FIELD(route_cfg, rules_path),
     .arg = "FILE", .help = "the rules file (required)"},
    {.name = "--schemas", .kind = CLIOPT_STRING, CLIOPT_FIELD(route_cfg, schemas_dir),
     .arg = "DIR", .help = "validate payloads against these schemas"},
    {.name = "--allow-unknown-types", .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(route_cfg, allow_unknown), .help = "with --schemas: a type without one is ok"},
    {.name = "-o", .kind = CLIOPT_CHOICE, .choices = cliopt_json_only,
     .help = "the output is JSON lines (accepted, the only format)"},
};

static const cliopt_cmd ROUTE_CMD = {
    .name = "route",
    .synopsis = "switchyard route --rules FILE [--schemas DIR] [--allow-unknown-types] [FILE|-]\n"
                "  dry run: prints the actions the rules would take for each event (one JSON "
                "line each)",
    CLIOPT_TABLE(ROUTE_OPTS),
};

/* Pure: argv in, the argument fields of *out written only on success. */
static sy_status parse_route_args(int argc, char **argv, route_cfg *out, bool *help,
                                  sy_error *err)
{
    route_cfg c = *out;
    sy_status st = cliopt_parse(&ROUTE_CMD, argc, argv, &c, help, err);
    if (st != SY_OK || *help)
        return st;
    if (!c.rules_path)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "--rules FILE is required");
    *out = c;
    return SY_OK;
}

sy_status cli_route_parse(int argc, char **argv, bool *help, sy_error *err)
{
    route_cfg c = {0};
    return parse_route_args(argc, argv, &c, help, err);
}

static void put_dead_letter(cJSON *line, const char *code, const char *message)
{
    cJSON *dl = cJSON_AddObjectToObject(line, "dead_letter");
    cJSON_AddStringToObject(dl, "code", code);
    cJSON_AddStringToObject(dl, "message", message);
}

static void emit_line(cJSON *line)
{
    char *s = cJSON_PrintUnformatted(line);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(line);
}

/* Moves the simulated clock to now: what flow control held and is due by
 * then fires, one line per due time: {"fired_at":..,"actions":[..]}. */
static void advance(route_cfg *c, int64_t now)
{
    if (now > c->clock)
        c->clock = now;
    rules_actions fired = {0};
    if (rules_flow_sim_advance(c->sim, now, &fired) != SY_OK)
        fprintf(stderr, "out of memory while simulating flow control\n");
    cJSON *line = NULL, *arr = NULL;
    int64_t at = 0;
    for (size_t i = 0; i < fired.len; i++) {
        if (!line || fired.items[i].flow_fire_at != at) {
            if (line)
                emit_line(line);
            at = fired.items[i].flow_fire_at;
            char ts[SY_TIME_RFC3339_MAX];
            line = cJSON_CreateObject();
            cJSON_AddStringToObject(line, "fired_at", sy_time_format_rfc3339(at, ts));
            arr = cJSON_AddArrayToObject(line, "actions");
        }
        cJSON_AddItemToArray(arr, rules_action_to_json(&fired.items[i]));
    }
    if (line)
        emit_line(line);
    rules_corr_sim_starts(c->corr, now, NULL, &fired);
    cJSON_Delete(rules_corr_sim_take_lookbacks(c->corr)); /* fired starts: not reported */
    rules_actions_cleanup(&fired);
}

/* Routes one valid envelope; fills the output line. */
static void route_envelope(route_cfg *c, const envelope *env, cJSON *line)
{
    rules_actions acts = {0};
    int64_t at = envelope_occurred_at_ms(env);
    advance(c, at > c->clock ? at : c->clock);
    if (rules_route(c->rules, env, &acts) != SY_OK ||
        rules_flow_sim_event(c->sim, c->clock, envelope_json(env), &acts) != SY_OK) {
        put_dead_letter(line, "internal", "out of memory while routing");
        c->dead_letters++;
        return;
    }
    cJSON *arr = cJSON_AddArrayToObject(line, "actions");
    const rules_action *first_dl = NULL;
    for (size_t i = 0; i < acts.len; i++) {
        cJSON_AddItemToArray(arr, rules_action_to_json(&acts.items[i]));
        if (acts.items[i].kind == RULES_DEAD_LETTER && !first_dl)
            first_dl = &acts.items[i];
    }
    if (acts.unmatched)
        cJSON_AddTrueToObject(line, "unmatched");
    /* what the event would do to the runs earlier lines started */
    cJSON *corr = rules_corr_sim_event(c->corr, c->clock, envelope_json(env));
    rules_corr_sim_starts(c->corr, c->clock, NULL, &acts);
    cJSON *lb = rules_corr_sim_take_lookbacks(c->corr); /* what the runs it started took */
    while (cJSON_GetArraySize(lb) > 0)
        cJSON_AddItemToArray(corr, cJSON_DetachItemFromArray(lb, 0));
    cJSON_Delete(lb);
    if (cJSON_GetArraySize(corr) > 0)
        cJSON_AddItemToObject(line, "correlated", corr);
    else
        cJSON_Delete(corr);
    if (first_dl)
        put_dead_letter(line, first_dl->dl_code, first_dl->dl_message);
    else if (acts.unmatched && rules_set_unmatched_dead_letter(c->rules))
        put_dead_letter(line, "unmatched", "no route matched the event");
    if (first_dl || (acts.unmatched && rules_set_unmatched_dead_letter(c->rules)))
        c->dead_letters++;
    rules_actions_cleanup(&acts);
}

static void route_one(route_cfg *c, const char *body, size_t len, long lineno)
{
    cJSON *line = cJSON_CreateObject();
    if (lineno > 0)
        cJSON_AddNumberToObject(line, "line", (double)lineno);
    envelope *env = NULL;
    sy_error err;
    sy_error_clear(&err);
    if (envelope_parse(body, len, NULL, &c->opts, &env, &err) != SY_OK) {
        envelope_fields parsed; /* the event_id, as a dead letter would keep it */
        envelope_peek(body, len, NULL, &c->opts, &parsed);
        if (parsed.event_id)
            cJSON_AddStringToObject(line, "event_id", parsed.event_id);
        envelope_fields_cleanup(&parsed);
        cJSON_AddArrayToObject(line, "actions");
        char msg[SY_ERROR_TEXT_MAX];
        put_dead_letter(line, *err.code ? err.code : "invalid",
                        sy_error_text(&err, msg, sizeof msg));
        c->dead_letters++;
        emit_line(line);
        return;
    }
    cJSON_AddStringToObject(line, "event_id", envelope_event_id(env));
    route_envelope(c, env, line);
    envelope_free(env);
    emit_line(line);
}

/* One JSON document, or JSON lines. */
static void route_input(route_cfg *c, const char *text, size_t len)
{
    cJSON *whole = NULL;
    sy_error ignored;
    if (sy_json_parse(text, len, 0, NULL, &whole, &ignored) == SY_OK) {
        cJSON_Delete(whole);
        route_one(c, text, len, 0);
        return;
    }
    long lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k < n)
            route_one(c, p, n, lineno);
        p += n + 1;
    }
}

static bool read_input(const char *path, sy_buf *b)
{
    FILE *f = !path || !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) {
        perror(path);
        return false;
    }
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sy_buf_append(b, chunk, n);
    bool ok = !ferror(f);
    if (f != stdin)
        fclose(f);
    return ok;
}

static int load_route_config(route_cfg *c)
{
    rules_diags diags = {0};
    sy_error err;
    sy_error_clear(&err);
    if (rules_load(c->rules_path, NULL, &c->rules, &diags, &err) != SY_OK) {
        for (size_t i = 0; i < diags.len; i++)
            fprintf(stderr, "%s\n", diags.lines[i]);
        rules_diags_cleanup(&diags);
        return SY_EXIT_CONFIG;
    }
    rules_diags_cleanup(&diags);
    if (c->schemas_dir && envelope_schemas_load(c->schemas_dir, &c->schemas, &err) != SY_OK) {
        char text[SY_ERROR_TEXT_MAX];
        if (!*err.path)
            snprintf(err.path, sizeof err.path, "%s", c->schemas_dir);
        fprintf(stderr, "%s\n", sy_error_text(&err, text, sizeof text));
        return SY_EXIT_CONFIG;
    }
    c->opts.schemas = c->schemas;
    c->opts.require_schema = c->schemas && !c->allow_unknown;
    return SY_EXIT_OK;
}

int cli_route(int argc, char **argv)
{
    route_cfg c = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_route_args(argc, argv, &c, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&ROUTE_CMD, pst, &perr);
    int rc = load_route_config(&c);
    sy_buf in = SY_BUF_INIT;
    if (rc == SY_EXIT_OK && !read_input(c.input, &in))
        rc = SY_EXIT_FAILURE;
    if (rc == SY_EXIT_OK && (!(c.sim = rules_flow_sim_new()) || !(c.corr = rules_corr_sim_new(c.rules))))
        rc = SY_EXIT_FAILURE;
    if (rc == SY_EXIT_OK) {
        route_input(&c, in.data ? in.data : "", in.len);
        advance(&c, INT64_MAX); /* the end of the input: everything held fires */
        rc = c.dead_letters ? SY_EXIT_DATAERR : SY_EXIT_OK;
    }
    rules_flow_sim_free(c.sim);
    rules_corr_sim_free(c.corr);
    sy_buf_cleanup(&in);
    envelope_schemas_free(c.schemas);
    rules_set_free(c.rules);
    return rc;
}
