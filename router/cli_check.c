/* cli_check.c: `switchyard check RULES` loads a rules file (or directory),
 * reports every load error as file:line:col, then runs the embedded tests.
 * Exit 0 when everything loads and every test passes, 78 otherwise. */
#include "cli.h"
#include "rules.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

static int check_usage(FILE *out, int code)
{
    fprintf(out, "usage: switchyard check RULES\n"
                 "  loads RULES (a file or a directory of *.yaml/*.yml/*.json), validates\n"
                 "  routes, workflows and schedules, and runs the embedded tests\n");
    return code;
}

int cli_check(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return check_usage(stdout, SY_EXIT_OK);
    if (argc != 2 || argv[1][0] == '-')
        return check_usage(stderr, SY_EXIT_USAGE);
    rules_set *set = NULL;
    rules_diags diags = {0};
    sy_error err;
    sy_error_clear(&err);
    if (rules_load(argv[1], NULL, &set, &diags, &err) != SY_OK) {
        for (size_t i = 0; i < diags.len; i++)
            fprintf(stderr, "%s\n", diags.lines[i]);
        if (diags.len == 0)
            fprintf(stderr, "%s: %s\n", argv[1], err.message);
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
           argv[1], cJSON_GetArraySize(wf), cJSON_GetArraySize(wf) == 1 ? "" : "s",
           cJSON_GetArraySize(sc), cJSON_GetArraySize(sc) == 1 ? "" : "s", ran, ran == 1 ? "" : "s",
           failures.len, rules_set_hash(set));
    int code = failures.len ? SY_EXIT_CONFIG : SY_EXIT_OK;
    rules_diags_cleanup(&failures);
    rules_set_free(set);
    return code;
}
