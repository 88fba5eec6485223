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
    {"testenv", cli_testenv, "run a command with throwaway nats-server and Postgres"},
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
