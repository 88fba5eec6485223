/* cli_util.c: helpers shared by the CLI commands (cli_util.h). */
#include "cli_util.h"

#include "duration.h"
#include "timefmt.h"

#include <stdio.h>

int router_cli_fail(const char *cmd, sy_status st, const sy_error *err)
{
    fprintf(stderr, "switchyard %s: %s%s%s\n", cmd, err->path[0] ? err->path : "",
            err->path[0] ? ": " : "", err->message);
    return sy_status_exit_code(st);
}

sy_status router_cli_parse(const cliopt_cmd *cmd, int argc, char **argv, void *out, bool *help,
                           sy_error *err)
{
    return cliopt_parse(cmd, argc, argv, out, help, err);
}

int router_cli_usage(const cliopt_cmd *cmd, sy_status st, const sy_error *err)
{
    if (st == SY_OK) {
        cliopt_usage(cmd, stdout);
        return SY_EXIT_OK;
    }
    router_cli_fail(cmd->name, SY_USAGE, err);
    fprintf(stderr, "usage: %s\n", cmd->synopsis);
    return SY_EXIT_USAGE;
}

const char *const router_cli_output_formats[] = {"text", "json", NULL};
const char *const router_cli_json_only[] = {"json", NULL};

sy_status router_cli_check_time(const char *opt, const char *s, sy_error *err)
{
    int64_t ms;
    if (sy_duration_parse(s, &ms, NULL) == SY_OK ||
        sy_time_parse_rfc3339(s, NULL, &ms, NULL) == SY_OK)
        return SY_OK;
    return sy_error_set(err, SY_USAGE, "bad_time", opt,
                        "\"%s\" is neither an RFC 3339 time nor a duration ago (e.g. 1h)", s);
}

int64_t router_cli_time(const char *s, int64_t now_ms)
{
    int64_t ms = 0;
    if (sy_duration_parse(s, &ms, NULL) == SY_OK)
        return now_ms - ms;
    if (sy_time_parse_rfc3339(s, NULL, &ms, NULL) != SY_OK)
        ms = 0; /* unreachable after router_cli_check_time */
    return ms;
}
