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
 *   workflow history ID [--run RUN_ID] [--after SEQ] [--limit N]
 *   workflow cancel|terminate ID [--reason TEXT]
 *   common: [--db CONNINFO] [--schema NAME] [--rules FILE] [-o json|text]
 * --rules is needed by start (the definitions come from the rules file) and
 * otherwise optional: a running workflow keeps the definition it started with. */
#include "cli.h"
#include "duration.h"
#include "engine.h"
#include "json.h"
#include "clock.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wf_args {
    const char *verb, *id, *type, *input, *queue, *name, *payload, *event_id, *run, *status,
        *prefix, *page, *reason, *db, *schema, *rules;
    rules_if_running if_running;
    rules_if_closed if_closed;
    int64_t since_ms, until_ms, after;
    size_t limit;
    bool json;
} wf_args;

static int usage(void)
{
    fprintf(stderr,
            "usage: switchyard workflow start --type T --id ID [--input JSON] [--queue Q]\n"
            "         [--if-running use_existing|fail|terminate_existing]\n"
            "         [--if-closed allow|allow_failed_only|reject] --rules FILE\n"
            "       switchyard workflow signal ID --name S [--payload JSON] [--event-id E]\n"
            "       switchyard workflow describe ID [--run RUN_ID]\n"
            "       switchyard workflow list [--type T] [--status S] [--prefix P] [--since T]\n"
            "         [--until T] [--limit N] [--page TOKEN]\n"
            "       switchyard workflow history ID [--run RUN_ID] [--after SEQ] [--limit N]\n"
            "       switchyard workflow cancel|terminate ID [--reason TEXT]\n"
            "  common: [--db CONNINFO] [--schema NAME] [--rules FILE] [-o json|text];\n"
            "  --db defaults to $SWITCHYARD_DB; times are RFC 3339 or a duration ago (1h)\n");
    return SY_EXIT_USAGE;
}

static bool parse_time(const char *s, int64_t *out)
{
    int64_t ms;
    sy_error e = {0};
    if (sy_duration_parse(s, &ms, &e) == SY_OK) {
        *out = sy_clock_now_ms(NULL) - ms;
        return true;
    }
    return sy_time_parse_rfc3339(s, NULL, out, NULL) == SY_OK;
}

static bool parse_policy(const char *opt, const char *v, wf_args *a)
{
    static const char *const ir[] = {"use_existing", "fail", "terminate_existing"};
    static const char *const ic[] = {"allow", "allow_failed_only", "reject"};
    const char *const *names = strcmp(opt, "--if-running") == 0 ? ir : ic;
    for (int i = 0; i < 3; i++) {
        if (strcmp(v, names[i]) != 0)
            continue;
        if (names == ir)
            a->if_running = (rules_if_running)i;
        else
            a->if_closed = (rules_if_closed)i;
        return true;
    }
    return false;
}

/* Options that take a value: where each one goes. */
static bool option(wf_args *a, const char *o, const char *v)
{
    struct {
        const char *name;
        const char **dst;
    } strs[] = {{"--type", &a->type},       {"--id", &a->id},         {"--input", &a->input},
                {"--queue", &a->queue},     {"--name", &a->name},     {"--payload", &a->payload},
                {"--event-id", &a->event_id}, {"--run", &a->run},     {"--status", &a->status},
                {"--prefix", &a->prefix},   {"--page", &a->page},     {"--reason", &a->reason},
                {"--db", &a->db},           {"--schema", &a->schema}, {"--rules", &a->rules}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(o, strs[i].name) == 0)
            return (*strs[i].dst = v), true;
    if (strcmp(o, "--if-running") == 0 || strcmp(o, "--if-closed") == 0)
        return parse_policy(o, v, a);
    if (strcmp(o, "--since") == 0)
        return parse_time(v, &a->since_ms);
    if (strcmp(o, "--until") == 0)
        return parse_time(v, &a->until_ms);
    if (strcmp(o, "--after") == 0)
        return (a->after = strtoll(v, NULL, 10)), true;
    if (strcmp(o, "--limit") == 0)
        return (a->limit = strtoull(v, NULL, 10)), true;
    if (strcmp(o, "-o") == 0 && (strcmp(v, "json") == 0 || strcmp(v, "text") == 0))
        return (a->json = v[0] == 'j'), true;
    return false;
}

static int parse_args(int argc, char **argv, wf_args *a)
{
    if (argc < 2)
        return usage();
    a->verb = argv[1];
    int i = 2;
    if (i < argc && argv[i][0] != '-')
        a->id = argv[i++];
    for (; i < argc; i += 2)
        if (i + 1 >= argc || !option(a, argv[i], argv[i + 1])) {
            fprintf(stderr, "switchyard workflow: bad option \"%s\"\n", argv[i]);
            return usage();
        }
    if (!a->db)
        a->db = getenv("SWITCHYARD_DB");
    bool needs_id = strcmp(a->verb, "list") != 0;
    if ((needs_id && !a->id) || !a->db)
        return usage();
    if (strcmp(a->verb, "start") == 0 && (!a->type || !a->rules))
        return usage();
    if (strcmp(a->verb, "signal") == 0 && !a->name)
        return usage();
    return 0;
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
        printf("%s %s: %s%s run %s%s%s\n", a->verb, a->id, outcomes[r->outcome],
               r->started ? " (started)" : "", *r->run_id ? r->run_id : "-", *r->code ? ": " : "",
               r->code);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workflow_id", a->id);
    cJSON_AddItemToObject(o, "run_id", *r->run_id ? cJSON_CreateString(r->run_id) : cJSON_CreateNull());
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
    engine_start_req req = {.workflow_type = a->type, .workflow_id = a->id, .input = input,
                            .task_queue = a->queue, .if_running = a->if_running,
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
    engine_signal_req req = {.workflow_id = a->id, .signal = a->name, .payload = payload,
                             .event_id = a->event_id};
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

static void print_text(const wf_args *a, const cJSON *v)
{
    if (strcmp(a->verb, "describe") == 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            char *t = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
            printf("%-16s %s\n", it->string, t ? t : it->valuestring);
            free(t);
        }
        return;
    }
    const cJSON *rows = strcmp(a->verb, "list") == 0 ? cJSON_GetObjectItemCaseSensitive(v, "workflows") : v;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "data"));
        if (strcmp(a->verb, "list") == 0)
            printf("%-40s %-24s %-10s %s\n", sy_json_get_string(r, "workflow_id"),
                   sy_json_get_string(r, "workflow_type"), sy_json_get_string(r, "status"),
                   sy_json_get_string(r, "started_at"));
        else
            printf("%4d %-26s %s\n", (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "seq")),
                   sy_json_get_string(r, "type"), t ? t : "");
        free(t);
    }
    const char *next = strcmp(a->verb, "list") == 0 ? sy_json_get_string(v, "next_page_token") : NULL;
    if (next)
        printf("next page: --page %s\n", next);
}

static sy_status read_call(engine_session *s, const wf_args *a, sy_error *err)
{
    cJSON *out = NULL;
    sy_status st;
    if (strcmp(a->verb, "describe") == 0) {
        st = engine_describe(s, a->id, a->run, &out, err);
    } else if (strcmp(a->verb, "history") == 0) {
        st = engine_history(s, a->id, a->run, a->after, a->limit, &out, err);
    } else {
        engine_list_filter f = {.workflow_type = a->type, .status = a->status,
                                .id_prefix = a->prefix, .started_after_ms = a->since_ms,
                                .started_before_ms = a->until_ms, .limit = a->limit,
                                .page_token = a->page};
        st = engine_list(s, &f, &out, err);
    }
    if (st == SY_OK && a->json)
        print_json(out);
    else if (st == SY_OK)
        print_text(a, out);
    cJSON_Delete(out);
    return st;
}

static bool is_verb(const char *v)
{
    static const char *const verbs[] = {"start", "signal", "describe", "list", "history", "cancel",
                                        "terminate"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        if (strcmp(v, verbs[i]) == 0)
            return true;
    return false;
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
    engine_opts eo = {.schema = a->schema};
    engine *eng = NULL;
    engine_session *s = NULL;
    if (st == SY_OK)
        st = engine_new(&eo, rules, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
    bool reads = !strcmp(a->verb, "describe") || !strcmp(a->verb, "list") || !strcmp(a->verb, "history");
    if (st == SY_OK)
        st = reads ? read_call(s, a, err) : write_call(s, a, err);
    engine_session_close(s);
    engine_free(eng);
    rules_set_free(rules);
    return st;
}

int cli_workflow(int argc, char **argv)
{
    wf_args a = {.if_running = RULES_IF_RUNNING_USE_EXISTING, .if_closed = RULES_IF_CLOSED_ALLOW};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    if (!is_verb(a.verb))
        return usage();
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
    fprintf(stderr, "switchyard workflow %s: %s%s%s\n", a.verb, err.message, *err.code ? " " : "",
            *err.code ? err.code : "");
    return sy_status_exit_code(st);
}
