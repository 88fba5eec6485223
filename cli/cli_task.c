/* cli_task.c: `switchyard task list|complete|fail ...` for human tasks and
 * operators. list shows the pending tasks (engine_task_list) in the one list
 * shape of list.h; complete and fail apply a task report through the
 * engine's API (engine_task_report) in one transaction, exactly as a
 * worker's report would be: a report for a closed task or workflow is
 * refused, not applied.
 *
 *   switchyard task list [--queue Q] [--assignee A] [--status S] [--limit N]
 *                        [--page TOKEN]
 *   switchyard task complete TASK_ID [--result JSON] [--attempt N]
 *   switchyard task fail TASK_ID --error-type T --message M [--non-retryable]
 *   common: [--db CONNINFO] [--schema NAME] [--subject-prefix P] [-o json]
 * --attempt 0 (the default) means "whatever attempt is current". */
#include "cli.h"
#include "cliopt.h"
#include "engine.h"
#include "json.h"
#include "list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct task_args {
    const char *verb, *task_id, *result, *error_type, *message, *db, *schema, *subject_prefix,
        *queue, *assignee, *page;
    int64_t attempt, limit;
    int verb_ix, status_ix; /* status_ix: into engine_task_status_filters */
    bool non_retryable, json;
} task_args;

static const char *const VERBS[] = {"list", "complete", "fail", NULL};

#define TASK_STR(opt, member, placeholder, text)                                                   \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(task_args, member), .arg = placeholder,   \
        .help = text                                                                               \
    }

static const cliopt_opt TASK_OPTS[] = {
    {.name = "VERB", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(task_args, verb_ix), .choices = VERBS},
    TASK_STR("TASK_ID", task_id, NULL, "the task (complete, fail)"),
    TASK_STR("--queue", queue, "Q", "list: only this queue (human: the human tasks)"),
    TASK_STR("--assignee", assignee, "A", "list: only human tasks assigned to A"),
    {.name = "--status",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(task_args, status_ix),
     .choices = engine_task_status_filters,
     .help = "list: these tasks (default pending)"},
    {.name = "--limit",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(task_args, limit),
     .min = 1,
     .max = 1000,
     .arg = "N",
     .help = "list: at most N a page (default 100)"},
    TASK_STR("--page", page, "TOKEN", "list: the page after this next_page_token"),
    TASK_STR("--result", result, "JSON", "complete: the task's result"),
    TASK_STR("--error-type", error_type, "T", "fail: the error type (required)"),
    TASK_STR("--message", message, "M", "fail: the error message (required)"),
    {.name = "--non-retryable",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(task_args, non_retryable),
     .help = "fail: do not retry"},
    {.name = "--attempt",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(task_args, attempt),
     .min = 0,
     .max = INT64_MAX,
     .arg = "N",
     .help = "the attempt reported on (0: the current one)"},
    TASK_STR("--db", db, "CONNINFO", "Postgres (default $SWITCHYARD_DB)"),
    TASK_STR("--schema", schema, "NAME", "the engine's schema"),
    TASK_STR("--subject-prefix", subject_prefix, "P",
             "outcome subjects' first token, as serve's engine.subject_prefix (default "
             "$SWITCHYARD_ENGINE_SUBJECT_PREFIX, else sy)"),
    {.name = "-o",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(task_args, json),
     .choices = cliopt_output_formats,
     .help = "output format"},
};

static const cliopt_cmd TASK_CMD = {
    .name = "task",
    .synopsis = "switchyard task list [--queue Q] [--assignee A] [--status S] [--limit N]\n"
                "         [--page TOKEN]\n"
                "       switchyard task complete TASK_ID [--result JSON] [--attempt N]\n"
                "       switchyard task fail TASK_ID --error-type T --message M [--non-retryable]\n"
                "         [--attempt N]\n"
                "  common: [--db CONNINFO] [--schema NAME] [--subject-prefix P] [-o json];\n"
                "  --db defaults to $SWITCHYARD_DB;\n"
                "  list's S: pending (scheduled, started or backoff; the default), a status, all",
    CLIOPT_TABLE(TASK_OPTS),
    .required = 1,
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, task_args *out, bool *help, sy_error *err)
{
    task_args a = *out;
    sy_status st = cliopt_parse(&TASK_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    a.verb = VERBS[a.verb_ix];
    if (strcmp(a.verb, "list") != 0 && !a.task_id)
        return sy_error_set(err, SY_USAGE, "missing_argument", NULL, "%s needs a TASK_ID", a.verb);
    if (strcmp(a.verb, "fail") == 0 && (!a.error_type || !a.message))
        return sy_error_set(err, SY_USAGE, "missing_option", NULL,
                            "fail needs --error-type T and --message M");
    *out = a;
    return SY_OK;
}

#define TASK_DEFAULTS                                                                              \
    {                                                                                              \
        .limit = 100                                                                               \
    }

sy_status cli_task_parse(int argc, char **argv, bool *help, sy_error *err)
{
    task_args a = TASK_DEFAULTS;
    return parse_args(argc, argv, &a, help, err);
}

/* Builds the report; *result_json (owned) holds the parsed --result. */
static sy_status build_report(const task_args *a, engine_report *r, cJSON **result_json,
                              sy_error *err)
{
    memset(r, 0, sizeof *r);
    *result_json = NULL;
    r->task_id = a->task_id;
    r->attempt = a->attempt;
    if (strcmp(a->verb, "fail") == 0) {
        r->kind = ENGINE_REPORT_FAILED;
        r->error_type = a->error_type;
        r->error_message = a->message;
        r->retryable = !a->non_retryable;
        return SY_OK;
    }
    r->kind = ENGINE_REPORT_COMPLETED;
    if (a->result) {
        sy_status st = sy_json_parse(a->result, strlen(a->result), 0, "--result", result_json, err);
        if (st != SY_OK)
            return st;
        r->result = *result_json;
    }
    return SY_OK;
}

static void list_row(const cJSON *t)
{
    const char *assignee = sy_json_get_string(t, "assignee");
    printf("%-48s %-16s %-9s %3d %-16s %-32s %s\n", sy_json_get_string(t, "task_id"),
           sy_json_get_string(t, "queue"), sy_json_get_string(t, "status"),
           (int)cJSON_GetNumberValue(sy_json_get(t, "attempt")), assignee ? assignee : "-",
           sy_json_get_string(t, "workflow_id"), sy_json_get_string(t, "scheduled_at"));
}

static sy_status list(engine_session *s, const task_args *a, sy_error *err)
{
    engine_task_filter f = {.queue = a->queue,
                            .assignee = a->assignee,
                            .status = engine_task_status_filters[a->status_ix],
                            .limit = (size_t)a->limit,
                            .page_token = a->page};
    cJSON *out = NULL;
    sy_status st = engine_task_list(s, &f, &out, err);
    if (st == SY_OK && !a->json)
        printf("%-48s %-16s %-9s %3s %-16s %-32s %s\n", "TASK_ID", "QUEUE", "STATUS", "ATT",
               "ASSIGNEE", "WORKFLOW", "SCHEDULED");
    if (st == SY_OK)
        cli_list_print(out, "tasks", a->json, list_row);
    cJSON_Delete(out);
    return st;
}

/* list, or the report in one transaction (rep: NULL for list). */
static sy_status apply(const task_args *a, const engine_report *rep, engine_result *res,
                       sy_error *err)
{
    engine_opts eo = {.schema = a->schema, .subject_prefix = cli_subject_prefix(a->subject_prefix)};
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_status st = engine_new(&eo, NULL, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
    if (st == SY_OK && !rep) {
        st = list(s, a, err);
        engine_session_close(s);
        engine_free(eng);
        return st;
    }
    if (st == SY_OK)
        st = engine_begin(s, err);
    if (st == SY_OK) {
        st = engine_task_report(s, rep, res, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        else
            engine_rollback(s);
    }
    engine_session_close(s);
    engine_free(eng);
    return st;
}

static int print_outcome(const task_args *a, const engine_result *res)
{
    bool applied = res->outcome == ENGINE_APPLIED;
    if (a->json) {
        sy_buf b = SY_BUF_INIT;
        sy_buf_puts(&b, "{\"task_id\":");
        sy_json_append_string(&b, a->task_id);
        sy_buf_printf(&b, ",\"outcome\":\"%s\",\"code\":", applied ? "applied" : "ignored");
        sy_json_append_string(&b, res->code);
        sy_buf_puts(&b, ",\"message\":");
        sy_json_append_string(&b, res->message);
        printf("%s}\n", sy_buf_str(&b));
        sy_buf_cleanup(&b);
    } else if (applied) {
        printf("task %s %s\n", a->task_id, strcmp(a->verb, "fail") == 0 ? "failed" : "completed");
    } else { /* the engine's words; the code is in -o json */
        fprintf(stderr, "switchyard task: report for %s ignored: %s\n", a->task_id,
                res->message[0] ? res->message
                : res->code[0]  ? res->code
                                : "not applicable");
    }
    return applied ? SY_EXIT_OK : SY_EXIT_FAILURE;
}

int cli_task(int argc, char **argv)
{
    task_args a = TASK_DEFAULTS;
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&TASK_CMD, pst, &perr);
    if (!cliopt_db("task", &a.db))
        return SY_EXIT_USAGE;
    sy_error err;
    sy_error_clear(&err);
    engine_report rep;
    cJSON *result = NULL;
    engine_result res;
    memset(&res, 0, sizeof res);
    bool is_list = strcmp(a.verb, "list") == 0;
    sy_status st = is_list ? SY_OK : build_report(&a, &rep, &result, &err);
    if (st == SY_OK)
        st = apply(&a, is_list ? NULL : &rep, &res, &err);
    cJSON_Delete(result);
    if (st != SY_OK)
        return cliopt_fail("task", st, &err);
    return is_list ? SY_EXIT_OK : print_outcome(&a, &res);
}
