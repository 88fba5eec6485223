/* cli_workflow.c: `switchyard workflow start|signal|describe|list|history|
 * cancel|terminate`, the operator's view of the engine. Each command opens
 * one engine session (--db CONNINFO, else $SWITCHYARD_DB), runs one call in
 * one transaction and prints the result as JSON (-o json) or text.
 *
 *   workflow start --type T --id ID [--input JSON] [--queue Q]
 *                  [--if-running use_existing|fail|terminate_existing]
 *                  [--if-closed allow|allow_failed_only|reject] --rules FILE
 *   workflow signal ID --name S [--payload JSON] [--event-id E]
 *   workflow describe ID [--run RUN_ID]
 *   workflow list [--type T] [--status S] [--prefix P] [--since T] [--until T]
 *                 [--limit N] [--page TOKEN]
 *   workflow history ID [--run RUN_ID] [--limit N] [--page TOKEN|--after SEQ]
 * list and history print the one list shape of list.h.
 *   workflow cancel|terminate ID [--reason TEXT]
 *   common: [--db CONNINFO] [--schema NAME] [--subject-prefix P] [--rules FILE]
 *           [-o json|text]
 * --rules is needed by start (the definitions come from the rules file) and
 * otherwise optional: a running workflow keeps the definition it started with. */
#include "cli.h"
#include "cliopt.h"
#include "engine.h"
#include "json.h"
#include "list.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wf_args {
    const char *verb, *id, *type, *input, *queue, *name, *payload, *event_id, *run, *status,
        *prefix, *page, *reason, *db, *schema, *subject_prefix, *rules, *since, *until;
    int verb_ix, status_ix; /* status_ix: into engine_workflow_statuses; -1: any */
    rules_if_running if_running;
    rules_if_closed if_closed;
    int64_t since_ms, until_ms, after;
    size_t limit;
    bool json;
} wf_args;

const char *cli_subject_prefix(const char *flag)
{
    const char *env = getenv("SWITCHYARD_ENGINE_SUBJECT_PREFIX");
    return flag ? flag : env && *env ? env : NULL;
}

static const char *const VERBS[] = {"start",   "signal", "describe",  "list",
                                    "history", "cancel", "terminate", NULL};
/* in the order of rules_if_running and rules_if_closed */
static const char *const IF_RUNNING[] = {"use_existing", "fail", "terminate_existing", NULL};
static const char *const IF_CLOSED[] = {"allow", "allow_failed_only", "reject", NULL};

#define WF_STR(opt, member, placeholder, text)                                                     \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(wf_args, member), .arg = placeholder,     \
        .help = text                                                                               \
    }

static const cliopt_opt WF_OPTS[] = {
    {.name = "VERB", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(wf_args, verb_ix), .choices = VERBS},
    WF_STR("ID", id, NULL, "the workflow ID (all verbs but list)"),
    WF_STR("--type", type, "T", "start: the workflow type; list: only this type"),
    WF_STR("--id", id, "ID", "start: the workflow ID"),
    WF_STR("--input", input, "JSON", "start: the workflow input"),
    WF_STR("--queue", queue, "Q", "start: the task queue"),
    {.name = "--if-running",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(wf_args, if_running),
     .choices = IF_RUNNING,
     .help = "start: when the ID is running (default use_existing)"},
    {.name = "--if-closed",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(wf_args, if_closed),
     .choices = IF_CLOSED,
     .help = "start: when the ID is closed (default allow)"},
    WF_STR("--name", name, "S", "signal: the signal name"),
    WF_STR("--payload", payload, "JSON", "signal: the signal payload"),
    WF_STR("--event-id", event_id, "E", "signal: its event ID (deduplication)"),
    WF_STR("--run", run, "RUN_ID", "describe, history: that run, not the latest"),
    {.name = "--status",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(wf_args, status_ix),
     .choices = engine_workflow_statuses,
     .help = "list: only this status"},
    WF_STR("--prefix", prefix, "P", "list: only IDs with this prefix"),
    WF_STR("--since", since, "T", "list: started at or after T (RFC 3339, or a duration ago)"),
    WF_STR("--until", until, "T", "list: started before T (RFC 3339, or a duration ago)"),
    {.name = "--after",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(wf_args, after),
     .min = 0,
     .max = INT64_MAX,
     .arg = "SEQ",
     .help = "history: events after this sequence number"},
    {.name = "--limit",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(wf_args, limit),
     .min = 0,
     .max = 1000,
     .arg = "N",
     .help = "list, history: at most N a page (0: 100, history 1000)"},
    WF_STR("--page", page, "TOKEN", "list, history: the page after this next_page_token"),
    WF_STR("--reason", reason, "TEXT", "cancel, terminate: why"),
    WF_STR("--db", db, "CONNINFO", "Postgres (default $SWITCHYARD_DB)"),
    WF_STR("--schema", schema, "NAME", "the engine's schema"),
    WF_STR("--subject-prefix", subject_prefix, "P",
           "outcome subjects' first token, as serve's engine.subject_prefix (default "
           "$SWITCHYARD_ENGINE_SUBJECT_PREFIX, else sy)"),
    WF_STR("--rules", rules, "FILE", "the workflow definitions (needed by start)"),
    {.name = "-o",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(wf_args, json),
     .choices = cliopt_output_formats,
     .help = "output format"},
};

static const cliopt_cmd WF_CMD = {
    .name = "workflow",
    .synopsis = "switchyard workflow start --type T --id ID [--input JSON] [--queue Q]\n"
                "         [--if-running use_existing|fail|terminate_existing]\n"
                "         [--if-closed allow|allow_failed_only|reject] --rules FILE\n"
                "       switchyard workflow signal ID --name S [--payload JSON] [--event-id E]\n"
                "       switchyard workflow describe ID [--run RUN_ID]\n"
                "       switchyard workflow list [--type T] [--status S] [--prefix P] [--since T]\n"
                "         [--until T] [--limit N] [--page TOKEN]\n"
                "       switchyard workflow history ID [--run RUN_ID] [--limit N] [--page TOKEN]\n"
                "       switchyard workflow cancel|terminate ID [--reason TEXT]\n"
                "  common: [--db CONNINFO] [--schema NAME] [--subject-prefix P] [--rules FILE]\n"
                "          [-o json|text];\n"
                "  --db defaults to $SWITCHYARD_DB; times are RFC 3339 or a duration ago (1h)",
    CLIOPT_TABLE(WF_OPTS),
    .required = 1,
};

/* What a verb needs beyond the table's checks. */
static sy_status check_args(wf_args *a, sy_error *err)
{
    a->verb = VERBS[a->verb_ix];
    if (strcmp(a->verb, "list") != 0 && !a->id)
        return sy_error_set(err, SY_USAGE, "missing_argument", NULL, "%s needs a workflow ID",
                            a->verb);
    if (strcmp(a->verb, "start") == 0 && !a->type)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "start needs --type T");
    if (strcmp(a->verb, "start") == 0 && !a->rules)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL,
                            "start needs --rules FILE (the workflow definitions)");
    if (strcmp(a->verb, "signal") == 0 && !a->name)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "signal needs --name S");
    a->status = a->status_ix >= 0 ? engine_workflow_statuses[a->status_ix] : NULL;
    sy_status st = SY_OK;
    if (strcmp(a->verb, "history") == 0 && a->page) /* the token is the last seq shown */
        st = cli_list_number_token(a->page, "workflow history", &a->after, err);
    if (st == SY_OK && a->since)
        st = cliopt_check_time("--since", a->since, err);
    if (st == SY_OK && a->until)
        st = cliopt_check_time("--until", a->until, err);
    return st;
}

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, wf_args *out, bool *help, sy_error *err)
{
    wf_args a = *out;
    sy_status st = cliopt_parse(&WF_CMD, argc, argv, &a, help, err);
    if (st == SY_OK && !*help)
        st = check_args(&a, err);
    if (st == SY_OK)
        *out = a;
    return st;
}

#define WF_DEFAULTS                                                                                \
    {                                                                                              \
        .if_running = RULES_IF_RUNNING_USE_EXISTING, .if_closed = RULES_IF_CLOSED_ALLOW,           \
        .status_ix = -1                                                                            \
    }

sy_status cli_workflow_parse(int argc, char **argv, bool *help, sy_error *err)
{
    wf_args a = WF_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

static void print_json(const cJSON *v)
{
    char *t = cJSON_PrintUnformatted(v);
    printf("%s\n", t);
    free(t);
}

static void print_result(const wf_args *a, const engine_result *r)
{
    static const char *const outcomes[] = {"applied", "duplicate", "dead_lettered"};
    if (!a->json) {
        /* the engine's words, not its code (the code is in -o json) */
        const char *why = *r->message ? r->message : r->code;
        printf("%s %s: %s%s run %s%s%s\n", a->verb, a->id, outcomes[r->outcome],
               r->started ? " (started)" : "", *r->run_id ? r->run_id : "-", *why ? ": " : "", why);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workflow_id", a->id);
    cJSON_AddItemToObject(o, "run_id",
                          *r->run_id ? cJSON_CreateString(r->run_id) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "outcome", outcomes[r->outcome]);
    cJSON_AddBoolToObject(o, "started", r->started);
    if (*r->code)
        cJSON_AddStringToObject(o, "code", r->code);
    print_json(o);
    cJSON_Delete(o);
}

static sy_status parse_json_arg(const char *text, const char *what, cJSON **out, sy_error *err)
{
    *out = NULL;
    if (!text)
        return SY_OK;
    return sy_json_parse(text, strlen(text), 0, what, out, err);
}

/* ---- the calls ---------------------------------------------------------------------- */

static sy_status do_start(engine_session *s, const wf_args *a, engine_result *res, sy_error *err)
{
    cJSON *input = NULL;
    sy_status st = parse_json_arg(a->input, "input", &input, err);
    engine_start_req req = {.workflow_type = a->type,
                            .workflow_id = a->id,
                            .input = input,
                            .task_queue = a->queue,
                            .if_running = a->if_running,
                            .if_closed = a->if_closed};
    if (st == SY_OK)
        st = engine_start(s, &req, res, err);
    cJSON_Delete(input);
    return st;
}

static sy_status do_signal(engine_session *s, const wf_args *a, engine_result *res, sy_error *err)
{
    cJSON *payload = NULL;
    sy_status st = parse_json_arg(a->payload, "payload", &payload, err);
    engine_signal_req req = {
        .workflow_id = a->id, .signal = a->name, .payload = payload, .event_id = a->event_id};
    if (st == SY_OK)
        st = engine_signal(s, &req, res, err);
    cJSON_Delete(payload);
    return st;
}

/* Writes: one transaction, then the result line. */
static sy_status write_call(engine_session *s, const wf_args *a, sy_error *err)
{
    engine_result res = {0};
    sy_status st = engine_begin(s, err);
    if (st != SY_OK)
        return st;
    if (strcmp(a->verb, "start") == 0)
        st = do_start(s, a, &res, err);
    else if (strcmp(a->verb, "signal") == 0)
        st = do_signal(s, a, &res, err);
    else if (strcmp(a->verb, "cancel") == 0)
        st = engine_cancel(s, a->id, a->reason, &res, err);
    else
        st = engine_terminate(s, a->id, a->reason, &res, err);
    if (st == SY_OK)
        st = engine_commit(s, err);
    else
        engine_rollback(s);
    if (st == SY_OK)
        print_result(a, &res);
    return st;
}

static void print_describe(const cJSON *v)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        char *t = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
        printf("%-16s %s\n", it->string, t ? t : it->valuestring);
        free(t);
    }
}

static void list_row(const cJSON *r)
{
    printf("%-40s %-24s %-10s %s\n", sy_json_get_string(r, "workflow_id"),
           sy_json_get_string(r, "workflow_type"), sy_json_get_string(r, "status"),
           sy_json_get_string(r, "started_at"));
}

static void history_row(const cJSON *r)
{
    char *t = cJSON_PrintUnformatted(sy_json_get(r, "data"));
    printf("%4d %-26s %s\n", (int)cJSON_GetNumberValue(sy_json_get(r, "seq")),
           sy_json_get_string(r, "type"), t ? t : "");
    free(t);
}

/* History in the list shape: one event more than the page is asked for says
 * whether another page follows; its token is the last seq shown. */
static sy_status history(engine_session *s, const wf_args *a, cJSON **out, sy_error *err)
{
    size_t limit = a->limit ? a->limit : 1000;
    cJSON *events = NULL;
    sy_status st = engine_history(s, a->id, a->run, a->after, limit + 1, &events, err);
    if (st != SY_OK)
        return st;
    char next[24] = "";
    if ((size_t)cJSON_GetArraySize(events) > limit) {
        cJSON_DeleteItemFromArray(events, (int)limit);
        const cJSON *last = cJSON_GetArrayItem(events, (int)limit - 1);
        snprintf(next, sizeof next, "%lld",
                 (long long)cJSON_GetNumberValue(sy_json_get(last, "seq")));
    }
    *out = cJSON_CreateObject();
    cJSON_AddItemToObject(*out, "events", events);
    cJSON_AddItemToObject(*out, "next_page_token",
                          *next ? cJSON_CreateString(next) : cJSON_CreateNull());
    return SY_OK;
}

static sy_status read_call(engine_session *s, const wf_args *a, sy_error *err)
{
    cJSON *out = NULL;
    sy_status st;
    bool is_list = strcmp(a->verb, "list") == 0;
    if (strcmp(a->verb, "describe") == 0) {
        st = engine_describe(s, a->id, a->run, &out, err);
    } else if (strcmp(a->verb, "history") == 0) {
        st = history(s, a, &out, err);
    } else {
        engine_list_filter f = {.workflow_type = a->type,
                                .status = a->status,
                                .id_prefix = a->prefix,
                                .started_after_ms = a->since_ms,
                                .started_before_ms = a->until_ms,
                                .limit = a->limit,
                                .page_token = a->page};
        st = engine_list(s, &f, &out, err);
    }
    if (st == SY_OK && strcmp(a->verb, "describe") == 0)
        a->json ? print_json(out) : print_describe(out);
    else if (st == SY_OK)
        cli_list_print(out, is_list ? "workflows" : "events", a->json,
                       is_list ? list_row : history_row);
    cJSON_Delete(out);
    return st;
}

static sy_status run(const wf_args *a, sy_error *err)
{
    rules_set *rules = NULL;
    sy_status st = SY_OK;
    if (a->rules) {
        rules_diags d = {0};
        rules_load_opts lo = {0};
        st = rules_load(a->rules, &lo, &rules, &d, err);
        for (size_t i = 0; i < d.len; i++)
            fprintf(stderr, "%s\n", d.lines[i]);
        rules_diags_cleanup(&d);
    }
    engine_opts eo = {.schema = a->schema, .subject_prefix = cli_subject_prefix(a->subject_prefix)};
    engine *eng = NULL;
    engine_session *s = NULL;
    if (st == SY_OK)
        st = engine_new(&eo, rules, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
    bool reads =
        !strcmp(a->verb, "describe") || !strcmp(a->verb, "list") || !strcmp(a->verb, "history");
    if (st == SY_OK)
        st = reads ? read_call(s, a, err) : write_call(s, a, err);
    engine_session_close(s);
    engine_free(eng);
    rules_set_free(rules);
    return st;
}

int cli_workflow(int argc, char **argv)
{
    wf_args a = WF_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&WF_CMD, pst, &perr);
    if (!cliopt_db("workflow", &a.db))
        return SY_EXIT_USAGE;
    int64_t now = sy_clock_now_ms(NULL);
    a.since_ms = a.since ? cliopt_time(a.since, now) : 0;
    a.until_ms = a.until ? cliopt_time(a.until, now) : 0;
    sy_error err = {0};
    sy_status st = run(&a, &err);
    if (st == SY_OK)
        return SY_EXIT_OK;
    if (a.json) {
        cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", *err.code ? err.code : sy_status_text(st));
        cJSON_AddStringToObject(e, "message", err.message);
        print_json(o);
        cJSON_Delete(o);
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "workflow %s", a.verb);
    return cliopt_fail(cmd, st, &err);
}
