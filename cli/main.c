/* main.c: the `switchyard` binary. Looks up the subcommand and runs it; all
 * the work lives in the components, wired together here in cli/. */
#include "cli.h"
#include "cliopt.h"
#include "status.h"

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* One line per command: name, function, help. */
#define COMMANDS(X)                                                                                \
    X(bench, cli_bench, "measure: envelope, rules, engine, ingest, roundtrip, schedules")          \
    X(publish, cli_publish, "publish an event (fills event_id, occurred_at, trace_id)")            \
    X(dlq, cli_dlq, "list, show and replay dead letters")                                          \
    X(join, cli_join, "list and describe the open joins of join routes")                           \
    X(replay, cli_replay, "backfill: route the events of a time window again, once per route")     \
    X(dev, cli_dev, "local nats-server + Postgres + switchyard with the example rules")            \
    X(serve, cli_serve, "run the router service (--config FILE)")                                  \
    X(check, cli_check, "load a rules file and run its embedded tests")                            \
    X(route, cli_route, "dry run: the actions rules would take for events")                        \
    X(validate, cli_validate, "validate envelopes (files, or JSON lines on stdin)")                \
    X(keygen, cli_keygen, "write an Ed25519 key pair for signing events")                          \
    X(testenv, cli_testenv, "run a command with throwaway nats-server and Postgres")               \
    X(worker, cli_worker, "run a command per task of a queue (the reference worker)")              \
    X(task, cli_task, "complete or fail a task (human tasks, operators)")                          \
    X(schedule, cli_schedule,                                                                      \
      "list, describe, pause, resume, trigger, backfill, delete, create, update schedules")        \
    X(workflow, cli_workflow,                                                                      \
      "start, signal, describe, list, history, cancel, terminate workflows")                       \
    X(migrate, cli_migrate, "apply the engine's database migrations")

static const char *const NAMES[] = {
#define COMMAND_NAME(name, fn, help) #name,
    COMMANDS(COMMAND_NAME)
#undef COMMAND_NAME
        NULL,
};

static const struct {
    cli_fn fn;
    const char *help;
} commands[] = {
#define COMMAND_ENTRY(name, fn, help) {fn, help},
    COMMANDS(COMMAND_ENTRY)
#undef COMMAND_ENTRY
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

typedef struct main_args {
    int command;
    cliopt_rest sub; /* argv[0] is the command's name */
} main_args;

static const cliopt_opt MAIN_OPTS[] = {
    {.name = "COMMAND", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(main_args, command), .choices = NAMES},
};

static const cliopt_cmd MAIN_CMD = {
    .name = "switchyard",
    .synopsis = "switchyard <command> [options]",
    CLIOPT_TABLE(MAIN_OPTS),
    .required = 1,
    .rest = CLIOPT_REST_SUBCOMMAND,
    .rest_offset = offsetof(main_args, sub),
};

static void usage(FILE *out)
{
    fprintf(out, "usage: switchyard <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", NAMES[i], commands[i].help);
    fprintf(out, "\nrun 'switchyard <command> --help' for a command's options\n");
}

int main(int argc, char **argv)
{
    /* No glibc fastbins: a batch frees thousands of small cJSON nodes, and
     * the next allocation above 1 KiB (a libpq result block) then stopped
     * to consolidate all of them: a tenth of the engine client's CPU. With
     * frees coalescing at once, bench engine's client costs 21 us per start
     * instead of 23-25 (interleaved runs). Set before any thread starts. */
    mallopt(M_MXFAST, 0);
    main_args a = {0};
    bool help = false;
    sy_error err;
    if (argc >= 2 && strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return SY_EXIT_OK;
    }
    if (cliopt_parse(&MAIN_CMD, argc, argv, &a, &help, &err) != SY_OK) {
        char text[SY_ERROR_TEXT_MAX];
        fprintf(stderr, "switchyard: %s\n", sy_error_text(&err, text, sizeof text));
        usage(stderr);
        return SY_EXIT_USAGE;
    }
    if (help) {
        usage(stdout);
        return SY_EXIT_OK;
    }
    return commands[a.command].fn(a.sub.argc, a.sub.argv);
}
