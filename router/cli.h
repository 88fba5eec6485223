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
int cli_check(int argc, char **argv);    /* cli_check.c */
int cli_route(int argc, char **argv);    /* cli_route.c */
int cli_serve(int argc, char **argv);    /* cli_serve.c */
int cli_publish(int argc, char **argv);  /* cli_publish.c */
int cli_dlq(int argc, char **argv);      /* cli_dlq.c */
int cli_dev(int argc, char **argv);      /* cli_dev.c */
int cli_validate(int argc, char **argv); /* cli_validate.c */
int cli_keygen(int argc, char **argv);   /* cli_keygen.c */
int cli_worker(int argc, char **argv);   /* cli_worker.c */
int cli_task(int argc, char **argv);     /* cli_task.c */
int cli_schedule(int argc, char **argv); /* cli_schedule.c */
int cli_workflow(int argc, char **argv); /* cli_workflow.c */
int cli_migrate(int argc, char **argv);  /* cli_migrate.c */

#endif
