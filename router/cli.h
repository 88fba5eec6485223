/* cli.h: the subcommands of the `switchyard` binary (main.c dispatches).
 *
 * Each subcommand parses its own arguments (argv[0] is the subcommand name)
 * and returns a process exit code (SY_EXIT_* in status.h): 0 ok, 1 runtime
 * failure, 64 usage, 65 invalid input, 69 server unreachable, 78 config. */
#ifndef SY_CLI_H
#define SY_CLI_H

typedef int (*cli_fn)(int argc, char **argv);

int cli_testenv(int argc, char **argv);  /* cli_testenv.c */
int cli_bench(int argc, char **argv);    /* cli_bench.c */

#endif
