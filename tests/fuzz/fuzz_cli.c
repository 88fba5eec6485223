/* Fuzz target for the command line: the input, split on NUL bytes, is the
 * argv after a subcommand's name, and goes to the real parse step of every
 * subcommand and benchmark (cli.h, bench.h), then to a table holding every
 * kind of option (common/cliopt.h). Each parse must succeed, or fail with
 * SY_USAGE and a message; a failed parse must leave its struct untouched, and
 * a successful one may only point into argv. */
#include "bench.h"
#include "cli.h"
#include "cliopt.h"
#include "cliopt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    cli_parse_fn fn;
} parsers[] = {
    {"workflow", cli_workflow_parse},
    {"schedule", cli_schedule_parse},
    {"dlq", cli_dlq_parse},
    {"worker", cli_worker_parse},
    {"replay", cli_replay_parse},
    {"publish", cli_publish_parse},
    {"serve", cli_serve_parse},
    {"task", cli_task_parse},
    {"join", cli_join_parse},
    {"validate", cli_validate_parse},
    {"route", cli_route_parse},
    {"check", cli_check_parse},
    {"keygen", cli_keygen_parse},
    {"migrate", cli_migrate_parse},
    {"dev", cli_dev_parse},
    {"testenv", cli_testenv_parse},
    {"bench", cli_bench_parse},
    {"engine", bench_engine_parse},
    {"envelope", bench_envelope_parse},
    {"rules", bench_rules_parse},
    {"schedules", bench_schedules_parse},
    {"roundtrip", bench_roundtrip_parse},
    {"ingest", bench_ingest_parse},
    {"relay", bench_relay_parse},
    {"ui", bench_ui_parse},
    {"faults", bench_faults_parse},
    {"flow", bench_flow_parse},
};

/* Every kind, positionals and trailing files: for the no-half-apply check. */
typedef struct sink {
    const char *a, *b, *s;
    int64_t i, d;
    int32_t small;
    int c;
    bool f;
    cliopt_rest rest;
} sink;

static const char *const CHOICES[] = {"json", "text", "yaml", NULL};

static const cliopt_opt SINK_OPTS[] = {
    {.name = "A", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(sink, c), .choices = CHOICES},
    {.name = "B", .kind = CLIOPT_STRING, CLIOPT_FIELD(sink, b)},
    {.name = "--s", .kind = CLIOPT_STRING, CLIOPT_FIELD(sink, s)},
    {.name = "-s", .kind = CLIOPT_STRING, CLIOPT_FIELD(sink, a)},
    {.name = "--int", .kind = CLIOPT_INT, CLIOPT_FIELD(sink, i), .min = INT64_MIN + 1, .max = 7},
    {.name = "--small", .kind = CLIOPT_INT, CLIOPT_FIELD(sink, small), .min = -3, .max = 1000},
    {.name = "--dur", .kind = CLIOPT_DURATION, CLIOPT_FIELD(sink, d)},
    {.name = "--choice", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(sink, c), .choices = CHOICES},
    {.name = "--flag", .kind = CLIOPT_FLAG, CLIOPT_FIELD(sink, f)},
};

static const cliopt_cmd SINK_CMD = {.name = "sink",
                                    .synopsis = "sink A [B] [options] [FILE...]",
                                    CLIOPT_TABLE(SINK_OPTS),
                                    .required = 1,
                                    .rest = CLIOPT_REST_ARGS,
                                    .rest_offset = offsetof(sink, rest)};

static bool in_argv(const char *p, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return true;
    return false;
}

static void check_sink(int argc, char **argv)
{
    sink s, before;
    memset(&s, 0xA5, sizeof s);
    s.a = s.b = s.s = NULL;
    memcpy(&before, &s, sizeof s);
    bool help = false;
    sy_error err;
    sy_status st = cliopt_parse(&SINK_CMD, argc, argv, &s, &help, &err);
    if (st != SY_OK || help) {
        if (memcmp(&s, &before, sizeof s) != 0)
            __builtin_trap(); /* half-applied */
        if (st != SY_OK && (st != SY_USAGE || !err.message[0]))
            __builtin_trap();
        return;
    }
    const char *strs[] = {s.a, s.b, s.s};
    for (size_t i = 0; i < 3; i++)
        if (strs[i] && !in_argv(strs[i], argv, argc))
            __builtin_trap();
    if (s.rest.argc < 0 || s.rest.argc > argc || (s.rest.argc && s.rest.argv[s.rest.argc]))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 1;
    /* a final NUL ends the last word rather than starting an empty one */
    for (size_t at = 0; at < size && argc <= MAX_ARGS; at += strlen(buf + at) + 1)
        argv[argc++] = buf + at;
    argv[argc] = NULL;
    for (size_t i = 0; i < sizeof parsers / sizeof parsers[0]; i++) {
        argv[0] = (char *)parsers[i].name;
        bool help = false;
        sy_error err;
        sy_status st = parsers[i].fn(argc, argv, &help, &err);
        if (st != SY_OK && (st != SY_USAGE || !err.message[0]))
            __builtin_trap(); /* every failure is a usage error that says why */
    }
    argv[0] = "sink";
    check_sink(argc, argv);
    free(buf);
    return 0;
}
