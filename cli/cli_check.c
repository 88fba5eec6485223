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
        char text[SY_ERROR_TEXT_MAX];
        if (diags.len == 0 && !err.path[0])
            snprintf(err.path, sizeof err.path, "%s", a.rules);
        if (diags.len == 0)
            fprintf(stderr, "%s\n", sy_error_text(&err, text, sizeof text));
        fprintf(stderr, "%zu error%s\n", diags.len, diags.len == 1 ? "" : "s");
        rules_diags_cleanup(&diags);
        return SY_EXIT_CONFIG;
    }
    rules_diags failures = {0};
    size_t ran = rules_run_tests(set, &failures);
    for (size_t i = 0; i < failures.len; i++)
        fprintf(stderr, "%s\n", failures.lines[i]);
    const cJSON *wf = rules_set_workflows(set), *sc = rules_set_schedules(set);
    int nwf = cJSON_GetArraySize(wf), nsc = cJSON_GetArraySize(sc);
    if (failures.len) /* "ok" only when everything passed */
        printf("%s: %zu of %zu test%s failed; %d workflow%s, %d schedule%s (rules %.12s)\n",
               a.rules, failures.len, ran, ran == 1 ? "" : "s", nwf, nwf == 1 ? "" : "s", nsc,
               nsc == 1 ? "" : "s", rules_set_hash(set));
    else
        printf("%s: ok: %d workflow%s, %d schedule%s; %zu test%s run, 0 failed (rules %.12s)\n",
               a.rules, nwf, nwf == 1 ? "" : "s", nsc, nsc == 1 ? "" : "s", ran,
               ran == 1 ? "" : "s", rules_set_hash(set));
    int code = failures.len ? SY_EXIT_CONFIG : SY_EXIT_OK;
    rules_diags_cleanup(&failures);
    rules_set_free(set);
    return code;
}
