/* cli_util.h: small helpers shared by the CLI commands of router/. */
#ifndef SY_ROUTER_CLI_UTIL_H
#define SY_ROUTER_CLI_UTIL_H

#include "status.h"

/* Prints "switchyard <cmd>: [path: ]message" to stderr for a failed command
 * and returns its exit code (sy_status_exit_code(st)). cmd and err borrowed. */
int router_cli_fail(const char *cmd, sy_status st, const sy_error *err);

#endif
