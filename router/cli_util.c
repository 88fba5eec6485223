/* cli_util.c: helpers shared by the CLI commands (cli_util.h). */
#include "cli_util.h"

#include <stdio.h>

int router_cli_fail(const char *cmd, sy_status st, const sy_error *err)
{
    fprintf(stderr, "switchyard %s: %s%s%s\n", cmd, err->path[0] ? err->path : "",
            err->path[0] ? ": " : "", err->message);
    return sy_status_exit_code(st);
}
