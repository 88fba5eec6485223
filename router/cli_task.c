/* cli_task.c: `switchyard task complete|fail TASK_ID ...` for human tasks and
 * operators. Applies a task report through the engine's API
 * (engine_task_report) in one transaction, exactly as a worker's report
 * would be: a report for a closed task or workflow is refused, not applied.
 *
 *   switchyard task complete TASK_ID [--result JSON] [--attempt N]
 *   switchyard task fail TASK_ID --error-type T --message M [--non-retryable]
 *   common: [--db CONNINFO] [--schema NAME] [-o json]
 * --attempt 0 (the default) means "whatever attempt is current". */
#include "cli.h"
#include "cli_util.h"
#include "engine.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct task_args {
    const char *verb, *task_id, *result, *error_type, *message, *db, *schema;
    int64_t attempt;
    bool non_retryable, json;
} task_args;

static int usage(void)
{
    fprintf(stderr,
            "usage: switchyard task complete TASK_ID [--result JSON] [--attempt N]\n"
            "       switchyard task fail TASK_ID --error-type T --message M [--non-retryable]\n"
            "         [--attempt N]\n"
            "  common: [--db CONNINFO] [--schema NAME] [-o json]; --db defaults to "
            "$SWITCHYARD_DB\n");
    return SY_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, task_args *a)
{
    if (argc < 3 || argv[2][0] == '-')
        return usage();
    a->verb = argv[1];
    a->task_id = argv[2];
    if (strcmp(a->verb, "complete") != 0 && strcmp(a->verb, "fail") != 0)
        return usage();
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(o, "--result") == 0 && has)
            a->result = argv[++i];
        else if (strcmp(o, "--error-type") == 0 && has)
            a->error_type = argv[++i];
        else if (strcmp(o, "--message") == 0 && has)
            a->message = argv[++i];
        else if (strcmp(o, "--attempt") == 0 && has)
            a->attempt = strtoll(argv[++i], NULL, 10);
        else if (strcmp(o, "--db") == 0 && has)
            a->db = argv[++i];
        else if (strcmp(o, "--schema") == 0 && has)
            a->schema = argv[++i];
        else if (strcmp(o, "--non-retryable") == 0)
            a->non_retryable = true;
        else if (strcmp(o, "-o") == 0 && has)
            a->json = strcmp(argv[++i], "json") == 0;
        else
            return usage();
    }
    if (strcmp(a->verb, "fail") == 0 && (!a->error_type || !a->message))
        return usage();
    if (!a->db)
        a->db = getenv("SWITCHYARD_DB");
    if (!a->db) {
        fprintf(stderr, "switchyard task: give --db CONNINFO or set SWITCHYARD_DB\n");
        return SY_EXIT_USAGE;
    }
    return SY_EXIT_OK;
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

static sy_status apply(const task_args *a, const engine_report *rep, engine_result *res,
                       sy_error *err)
{
    engine_opts eo = {.schema = a->schema};
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_status st = engine_new(&eo, NULL, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
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
    if (a->json)
        printf("{\"task_id\":\"%s\",\"outcome\":\"%s\",\"code\":\"%s\"}\n", a->task_id,
               applied ? "applied" : "ignored", res->code);
    else if (applied)
        printf("task %s %s\n", a->task_id, strcmp(a->verb, "fail") == 0 ? "failed" : "completed");
    else
        fprintf(stderr, "switchyard task: report for %s ignored: %s\n", a->task_id,
                res->code[0] ? res->code : "not applicable");
    return applied ? SY_EXIT_OK : SY_EXIT_FAILURE;
}

int cli_task(int argc, char **argv)
{
    task_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc != SY_EXIT_OK)
        return rc;
    sy_error err;
    sy_error_clear(&err);
    engine_report rep;
    cJSON *result = NULL;
    engine_result res;
    memset(&res, 0, sizeof res);
    sy_status st = build_report(&a, &rep, &result, &err);
    if (st == SY_OK)
        st = apply(&a, &rep, &res, &err);
    cJSON_Delete(result);
    if (st != SY_OK)
        return router_cli_fail("task", st, &err);
    return print_outcome(&a, &res);
}
