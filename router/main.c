/* main.c: the `switchyard` binary. Looks up the subcommand and runs it; all
 * the work lives in the components, wired together in router/. */
#include "cli.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    cli_fn fn;
    const char *help;
} commands[] = {
    {"bench", cli_bench, "measure: envelope, rules, engine, ingest, roundtrip, schedules"},
    {"publish", cli_publish, "publish an event (fills event_id, occurred_at, trace_id)"},
    {"dlq", cli_dlq, "list, show and replay dead letters"},
    {"dev", cli_dev, "local nats-server + Postgres + switchyard with the example rules"},
    {"serve", cli_serve, "run the router service (--config FILE)"},
    {"check", cli_check, "load a rules file and run its embedded tests"},
    {"route", cli_route, "dry run: the actions rules would take for events"},
    {"validate", cli_validate, "validate envelopes (files, or JSON lines on stdin)"},
    {"keygen", cli_keygen, "write an Ed25519 key pair for signing events"},
    {"testenv", cli_testenv, "run a command with throwaway nats-server and Postgres"},
    {"worker", cli_worker, "run a command per task of a queue (the reference worker)"},
    {"task", cli_task, "complete or fail a task (human tasks, operators)"},
    {"schedule", cli_schedule, "list, describe, pause, resume, trigger, backfill, delete, create, update schedules"},
    {"workflow", cli_workflow, "start, signal, describe, list, history, cancel, terminate workflows"},
    {"migrate", cli_migrate, "apply the engine's database migrations"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: switchyard <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nrun 'switchyard <command> --help' for a command's options\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SY_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return SY_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "switchyard: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return SY_EXIT_USAGE;
}
