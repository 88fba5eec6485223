/* cli.h: the subcommands of the `switchyard` binary (main.c dispatches).
 *
 * Each subcommand parses its arguments (argv[0] is the subcommand name) with
 * cliopt (common/cliopt.h, through cliopt_parse) and returns a process
 * exit code (SY_EXIT_* in status.h): 0 ok, 1 runtime failure, 64 usage, 65
 * invalid input, 69 server unreachable, 78 config. */
#ifndef SY_CLI_H
#define SY_CLI_H

#include "status.h"

#include <stdbool.h>

typedef int (*cli_fn)(int argc, char **argv);

int cli_testenv(int argc, char **argv);  /* cli_testenv.c */
int cli_bench(int argc, char **argv);    /* cli_bench.c */
int cli_check(int argc, char **argv);    /* cli_check.c */
int cli_route(int argc, char **argv);    /* cli_route.c */
int cli_serve(int argc, char **argv);    /* cli_serve.c */
int cli_publish(int argc, char **argv);  /* cli_publish.c */
int cli_dlq(int argc, char **argv);      /* cli_dlq.c */
int cli_join(int argc, char **argv);     /* cli_join.c */
int cli_replay(int argc, char **argv);   /* cli_replay.c */
int cli_dev(int argc, char **argv);      /* cli_dev.c */
int cli_validate(int argc, char **argv); /* cli_validate.c */
int cli_keygen(int argc, char **argv);   /* cli_keygen.c */
int cli_worker(int argc, char **argv);   /* cli_worker.c */
int cli_task(int argc, char **argv);     /* cli_task.c */
int cli_schedule(int argc, char **argv); /* cli_schedule.c */
int cli_workflow(int argc, char **argv); /* cli_workflow.c */
int cli_migrate(int argc, char **argv);  /* cli_migrate.c */

/* The engine's subject prefix for commands that write outcome events
 * (workflow, task): the --subject-prefix flag (may be NULL), else
 * $SWITCHYARD_ENGINE_SUBJECT_PREFIX (serve's override of
 * engine.subject_prefix), else NULL (the engine's "sy"). Borrowed.
 * In cli_workflow.c. */
const char *cli_subject_prefix(const char *flag);

/* The parse step of each subcommand, for tests and the fuzz target
 * (tests/fuzz/fuzz_cli.c): parses argv exactly as the command does, into a
 * struct it then drops. Pure: no I/O, no environment, no side effects.
 * SY_OK (*help true after -h/--help) or SY_USAGE with *err filled. */
typedef sy_status (*cli_parse_fn)(int argc, char **argv, bool *help, sy_error *err);

sy_status cli_testenv_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_bench_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_check_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_route_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_serve_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_publish_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_dlq_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_join_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_replay_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_dev_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_validate_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_keygen_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_worker_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_task_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_schedule_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_workflow_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status cli_migrate_parse(int argc, char **argv, bool *help, sy_error *err);

#endif
