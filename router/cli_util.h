/* cli_util.h: small helpers shared by the CLI commands of router/. */
#ifndef SY_ROUTER_CLI_UTIL_H
#define SY_ROUTER_CLI_UTIL_H

#include "cliopt.h"
#include "status.h"

#include <stdint.h>

/* Prints "switchyard <cmd>: [path: ]message" to stderr for a failed command
 * and returns its exit code (sy_status_exit_code(st)). cmd and err borrowed. */
int router_cli_fail(const char *cmd, sy_status st, const sy_error *err);

/* cliopt_parse (cliopt.h) with the rules' "did you mean" for unknown
 * options and choices. Pure: every command's parse step goes through it. */
sy_status router_cli_parse(const cliopt_cmd *cmd, int argc, char **argv, void *out, bool *help,
                           sy_error *err) SY_MUST_USE;

/* After a parse that failed or asked for help: st == SY_OK (help) prints
 * cmd's usage to stdout and returns SY_EXIT_OK; otherwise prints
 * "switchyard <cmd>: [path: ]message" and the synopsis to stderr and returns
 * SY_EXIT_USAGE. */
int router_cli_usage(const cliopt_cmd *cmd, sy_status st, const sy_error *err);

/* The values of -o: "text" (0) and "json" (1), for a CLIOPT_CHOICE into a bool. */
extern const char *const router_cli_output_formats[];
/* "-o json" where JSON lines are the only output (accepted, changes nothing). */
extern const char *const router_cli_json_only[];

/* A --since/--until time: an RFC 3339 time or a duration ago ("1h"). Pure
 * check for a parse step: SY_OK, or SY_USAGE with *err naming opt. */
sy_status router_cli_check_time(const char *opt, const char *s, sy_error *err) SY_MUST_USE;

/* The instant (ms since the epoch) a time that passed router_cli_check_time
 * names, "ago" counted from now_ms. */
int64_t router_cli_time(const char *s, int64_t now_ms);

#endif
