/* cli_check.c: `switchyard check RULES` loads a rules file (or directory),
 * reports every load error as file:line:col, then runs the embedded tests.
 * Exit 0 when everything loads and every test passes, 78 otherwise. */
#include "cli.h"
#include "cliopt.h"
#include "rules.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

typedef struct check_args {
    const char *rules;
} check_args;

static const cliopt_opt CHECK_OPTS[] = {
    {.name = "RULES", .kind = CLIOPT_STRING, CLIOPT_FIELD(check_args, rules),
     .help = "a rules file, or a directory of *.yaml/*.yml/*.json"},
};

static const cliopt_cmd CHECK_CMD = {
    .name = "check",
    .synopsis = "switchyard check RULES\n"
                "  loads RULES (a file or a directory of *.yaml/*.yml/*.json), validates\n"
                "  routes, workflows and schedules, and runs the embedded tests",
    CLIOPT_TABLE(CHECK_OPTS),
    .required = 1,
};

sy_status cli_check_parse(int argc, char **argv, bool *help, sy_error *err)
{
    check_args a = {0};
    return cliopt_parse(&CHECK_CMD, argc, argv, &a, help, err);
}

int cli_check(int argc, char **argv)
{
    check_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&CHECK_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&CHECK_CMD, pst, &perr);
    rules_set *set = NULL;
    rules_diags diags = {0};
    sy_error err;
    sy_error_clear(&err);
    if (rules_load(a.rules, NULL, &set, &diags, &err) != SY_OK) {
        for (size_t i = 0; i < diags.len; i++)
            fprintf(stderr, "%s\n", diags.lines[i]);
        if (diags.len == 0)
            fprintf(stderr, "%s: %s\n", a.rules, err.message);
        fprintf(stderr, "%zu error%s\n", diags.len, diags.len == 1 ? "" : "s");
        rules_diags_cleanup(&diags);
        return SY_EXIT_CONFIG;
    }
    rules_diags failures = {0};
    size_t ran = rules_run_tests(set, &failures);
    for (size_t i = 0; i < failures.len; i++)
        fprintf(stderr, "%s\n", failures.lines[i]);
    const cJSON *wf = rules_set_workflows(set), *sc = rules_set_schedules(set);
    printf("%s: ok: %d workflow%s, %d schedule%s; %zu test%s run, %zu failed (rules %.12s)\n",
           a.rules, cJSON_GetArraySize(wf), cJSON_GetArraySize(wf) == 1 ? "" : "s",
           cJSON_GetArraySize(sc), cJSON_GetArraySize(sc) == 1 ? "" : "s", ran, ran == 1 ? "" : "s",
           failures.len, rules_set_hash(set));
    int code = failures.len ? SY_EXIT_CONFIG : SY_EXIT_OK;
    rules_diags_cleanup(&failures);
    rules_set_free(set);
    return code;
}
