/* Unit tests for the command-line parser (common/cliopt.h): every kind of
 * option, "=" values, "--", positionals and trailing arguments, each error
 * with its exact message, and that a failed parse writes nothing. The last
 * tests run the real subcommands' parse steps (cli.h, bench.h). */
#include "bench.h"
#include "cli.h"
#include "cliopt.h"
#include "cliopt.h"
#include "test.h"

#include <stddef.h>

typedef struct targs {
    const char *file, *file2, *name;
    int64_t count, wait_ms;
    int32_t small;
    int mode;
    uint32_t modes;
    bool verbose;
    cliopt_rest rest;
} targs;

static const char *const MODES[] = {"fast", "slow", NULL};

static const cliopt_opt OPTS[] = {
    {.name = "FILE", .kind = CLIOPT_STRING, CLIOPT_FIELD(targs, file)},
    {.name = "FILE2", .kind = CLIOPT_STRING, CLIOPT_FIELD(targs, file2)},
    {.name = "--name", .kind = CLIOPT_STRING, CLIOPT_FIELD(targs, name), .arg = "S"},
    {.name = "-n", .kind = CLIOPT_STRING, CLIOPT_FIELD(targs, name), .arg = "S"},
    {.name = "--count", .kind = CLIOPT_INT, CLIOPT_FIELD(targs, count), .min = 1, .max = 100},
    {.name = "--small", .kind = CLIOPT_INT, CLIOPT_FIELD(targs, small), .min = -5, .max = 5},
    {.name = "--big", .kind = CLIOPT_INT, CLIOPT_FIELD(targs, count), .min = INT64_MIN,
     .max = INT64_MAX},
    {.name = "--wait", .kind = CLIOPT_DURATION, CLIOPT_FIELD(targs, wait_ms)},
    {.name = "--timeout", .kind = CLIOPT_DURATION, CLIOPT_FIELD(targs, wait_ms), .min = 1,
     .max = 60000},
    {.name = "--mode", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(targs, mode), .choices = MODES},
    {.name = "--verbose", .kind = CLIOPT_FLAG, CLIOPT_FIELD(targs, verbose)},
    {.name = "--only", .kind = CLIOPT_CHOICES, CLIOPT_FIELD(targs, modes), .choices = MODES},
    {.name = "--legacy", .kind = CLIOPT_CHOICE, .choices = MODES}, /* checked, dropped */
};

static const cliopt_cmd CMD = {
    .name = "t", .synopsis = "t FILE [FILE2] [options]", CLIOPT_TABLE(OPTS), .required = 1};

#define DEFAULTS                                                                                   \
    {                                                                                              \
        .name = "default", .count = 7, .wait_ms = 42, .small = 1, .mode = 1                        \
    }

static int count_args(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

/* Parses argv (NULL-terminated) with cmd into *a; the error in *err. */
static sy_status run(const cliopt_cmd *cmd, targs *a, char **argv, sy_error *err)
{
    bool help = true;
    sy_status st = cliopt_parse(cmd, count_args(argv), argv, a, &help, err);
    CHECK(!help);
    return st;
}

static targs ok(char **argv)
{
    targs a = DEFAULTS;
    sy_error err;
    sy_status st = run(&CMD, &a, argv, &err);
    CHECK_MSG(st == SY_OK, "%s: %s", err.path, err.message);
    return a;
}

/* The parse fails with code, "path: message", and leaves the struct alone. */
static void fails(const cliopt_cmd *cmd, char **argv, const char *code, const char *text)
{
    targs a = DEFAULTS, before = DEFAULTS;
    sy_error err;
    CHECK_INT(run(cmd, &a, argv, &err), SY_USAGE);
    CHECK_INT(err.status, SY_USAGE);
    CHECK_STR(err.code, code);
    char got[SY_ERROR_PATH_MAX + SY_ERROR_MSG_MAX + 4];
    snprintf(got, sizeof got, "%s%s%s", err.path, err.path[0] ? ": " : "", err.message);
    CHECK_STR(got, text);
    CHECK(memcmp(&a, &before, sizeof a) == 0);
}

TEST(defaults_stay_when_nothing_is_given)
{
    char *argv[] = {"t", "in.json", NULL};
    targs a = ok(argv);
    CHECK_STR(a.file, "in.json");
    CHECK(a.file2 == NULL);
    CHECK_STR(a.name, "default");
    CHECK_INT(a.count, 7);
    CHECK_INT(a.wait_ms, 42);
    CHECK_INT(a.mode, 1);
    CHECK(!a.verbose);
}

TEST(every_kind_with_a_separate_value)
{
    char *argv[] = {"t",      "--name", "ann",  "--count",  "100", "--small", "-5",
                    "--wait", "1h30m",  "--mode", "fast",   "--verbose", "f", NULL};
    targs a = ok(argv);
    CHECK_STR(a.name, "ann");
    CHECK_INT(a.count, 100);
    CHECK_INT(a.small, -5);
    CHECK_INT(a.wait_ms, 5400000);
    CHECK_INT(a.mode, 0);
    CHECK(a.verbose);
    CHECK_STR(a.file, "f");
}

TEST(equals_form_and_values_that_look_like_options)
{
    char *argv[] = {"t", "--name=a=b", "--count=3", "--mode=slow", "-n", "--verbose", "f",
                    "--wait=", NULL};
    targs a = DEFAULTS;
    sy_error err;
    CHECK_INT(run(&CMD, &a, argv, &err), SY_USAGE); /* "--wait=" is an empty duration */
    CHECK_STR(err.path, "--wait");
    argv[7] = NULL;
    a = ok(argv);
    CHECK_STR(a.name, "--verbose"); /* -n takes the next word, whatever it is */
    CHECK(!a.verbose);
    CHECK_INT(a.count, 3);
    CHECK_INT(a.mode, 1);
    char *eq[] = {"t", "f", "--name=a=b", "--name=", NULL};
    a = ok(eq);
    CHECK_STR(a.name, "");
}

TEST(durations_canonical_and_older_decimal_forms)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {{"500ms", 500}, {"30s", 30000},  {"5m", 300000},  {"0", 0},
                 {"2", 2000},    {"1.5s", 1500}, {"0.5", 500},    {"1.5h", 5400000},
                 {"1m30s", 90000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {"t", "f", "--wait", (char *)cases[i].text, NULL};
        CHECK_INT(ok(argv).wait_ms, cases[i].ms);
    }
}

TEST(integers_at_the_limits_of_int64)
{
    char *max[] = {"t", "f", "--big", "9223372036854775807", NULL};
    CHECK(ok(max).count == INT64_MAX);
    char *min[] = {"t", "f", "--big", "-9223372036854775808", NULL};
    CHECK(ok(min).count == INT64_MIN);
    char *over[] = {"t", "f", "--big", "9223372036854775808", NULL};
    fails(&CMD, over, "out_of_range",
          "--big: \"9223372036854775808\" is out of range (at least -9223372036854775808)");
}

TEST(positionals_between_options_and_after_dashdash)
{
    char *argv[] = {"t", "--count", "2", "a", "--verbose", "--", "-b", NULL};
    targs a = ok(argv);
    CHECK_STR(a.file, "a");
    CHECK_STR(a.file2, "-b");
    CHECK(a.verbose);
    char *dash[] = {"t", "-", NULL}; /* "-" alone is a positional (stdin) */
    CHECK_STR(ok(dash).file, "-");
}

TEST(help_comes_back_without_checking_the_rest)
{
    char *argv[] = {"t", "--count", "5", "-h", "--bogus", NULL};
    targs a = DEFAULTS, before = DEFAULTS;
    bool help = false;
    sy_error err;
    CHECK_INT(cliopt_parse(&CMD, 4, argv, &a, &help, &err), SY_OK);
    CHECK(help);
    CHECK(memcmp(&a, &before, sizeof a) == 0);
    char *late[] = {"t", "--bogus", "--help", NULL}; /* left to right: the error first */
    CHECK_INT(cliopt_parse(&CMD, 3, late, &a, &help, &err), SY_USAGE);
    CHECK(!help);
}

TEST(unknown_option)
{
    char *argv[] = {"t", "f", "--count", "3", "--colour", NULL};
    fails(&CMD, argv, "unknown_option", "unknown option \"--colour\"");
    char *eq[] = {"t", "f", "--colour=red", NULL};
    fails(&CMD, eq, "unknown_option", "unknown option \"--colour\"");
}

TEST(unknown_option_suggests_the_closest)
{
    char *argv[] = {"t", "f", "--cuont", "3", NULL};
    targs a = DEFAULTS;
    bool help;
    sy_error err;
    CHECK_INT(cliopt_parse(&CMD, 4, argv, &a, &help, &err), SY_USAGE);
    CHECK_STR(err.message, "unknown option \"--cuont\" (did you mean \"--count\"?)");
    char *choice[] = {"t", "f", "--mode", "slwo", NULL};
    CHECK_INT(cliopt_parse(&CMD, 4, choice, &a, &help, &err), SY_USAGE);
    CHECK_STR(err.message, "\"slwo\" is not one of fast, slow (did you mean \"slow\"?)");
    char *far[] = {"t", "f", "--zzzzzzzz", NULL};
    CHECK_INT(cliopt_parse(&CMD, 3, far, &a, &help, &err), SY_USAGE);
    CHECK_STR(err.message, "unknown option \"--zzzzzzzz\"");
}

TEST(missing_value)
{
    char *argv[] = {"t", "f", "--name", NULL};
    fails(&CMD, argv, "missing_value", "--name: missing value S");
    char *choice[] = {"t", "f", "--mode", NULL};
    fails(&CMD, choice, "missing_value", "--mode: missing value fast|slow");
}

TEST(flag_with_a_value)
{
    char *argv[] = {"t", "f", "--verbose=yes", NULL};
    fails(&CMD, argv, "unexpected_value", "--verbose: takes no value, got \"yes\"");
}

TEST(bad_integer_and_out_of_range)
{
    char *abc[] = {"t", "f", "--count", "abc", NULL};
    fails(&CMD, abc, "bad_integer", "--count: \"abc\" is not an integer");
    char *space[] = {"t", "f", "--count", " 5", NULL};
    fails(&CMD, space, "bad_integer", "--count: \" 5\" is not an integer");
    char *trail[] = {"t", "f", "--count", "5x", NULL};
    fails(&CMD, trail, "bad_integer", "--count: \"5x\" is not an integer");
    char *empty[] = {"t", "f", "--count=", NULL};
    fails(&CMD, empty, "bad_integer", "--count: \"\" is not an integer");
    char *zero[] = {"t", "f", "--count", "0", NULL};
    fails(&CMD, zero, "out_of_range", "--count: \"0\" is out of range (1 to 100)");
    char *small[] = {"t", "f", "--small", "6", NULL};
    fails(&CMD, small, "out_of_range", "--small: \"6\" is out of range (-5 to 5)");
    char *huge[] = {"t", "f", "--count", "99999999999999999999999", NULL};
    fails(&CMD, huge, "out_of_range",
          "--count: \"99999999999999999999999\" is out of range (1 to 100)");
}

TEST(bad_duration)
{
    char *argv[] = {"t", "f", "--wait", "5x", NULL};
    fails(&CMD, argv, "bad_duration",
          "--wait: invalid duration \"5x\": unknown unit at \"x\" (one of ms, s, m, h, d)");
    char *neg[] = {"t", "f", "--wait", "-1s", NULL};
    fails(&CMD, neg, "bad_duration",
          "--wait: invalid duration \"-1s\": negative durations are not allowed");
}

TEST(duration_out_of_range)
{
    char *zero[] = {"t", "f", "--timeout", "0s", NULL};
    fails(&CMD, zero, "out_of_range", "--timeout: \"0s\" is out of range (1 to 60000 ms)");
    char *big[] = {"t", "f", "--timeout", "2m", NULL};
    fails(&CMD, big, "out_of_range", "--timeout: \"2m\" is out of range (1 to 60000 ms)");
    char *fine[] = {"t", "f", "--timeout", "1m", NULL};
    CHECK_INT(ok(fine).wait_ms, 60000);
}

TEST(bad_choice_even_when_the_value_is_dropped)
{
    char *argv[] = {"t", "f", "--mode", "medium", NULL};
    fails(&CMD, argv, "bad_choice", "--mode: \"medium\" is not one of fast, slow");
    char *legacy[] = {"t", "f", "--legacy", "x", NULL};
    fails(&CMD, legacy, "bad_choice", "--legacy: \"x\" is not one of fast, slow");
    char *fine[] = {"t", "f", "--legacy", "slow", NULL};
    targs a = ok(fine), d = DEFAULTS;
    a.file = d.file;
    CHECK(memcmp(&a, &d, sizeof a) == 0); /* nothing but FILE was written */
}

TEST(a_repeatable_choice_collects_every_value_given)
{
    char *argv[] = {"t", "f", "--only", "slow", "--only=fast", "--only", "slow", NULL};
    targs a = ok(argv);
    CHECK_INT(a.modes, 3);
    char *one[] = {"t", "f", "--only", "slow", NULL};
    CHECK_INT(ok(one).modes, 2);
    char *none[] = {"t", "f", NULL};
    CHECK_INT(ok(none).modes, 0);
    char *bad[] = {"t", "f", "--only", "slow", "--only", "medium", NULL};
    fails(&CMD, bad, "bad_choice", "--only: \"medium\" is not one of fast, slow");
}

TEST(too_many_and_missing_positionals)
{
    char *many[] = {"t", "a", "b", "c", NULL};
    fails(&CMD, many, "unexpected_argument", "unexpected argument \"c\"");
    char *none[] = {"t", "--verbose", NULL};
    fails(&CMD, none, "missing_argument", "missing FILE");
}

TEST(a_later_error_leaves_earlier_values_unwritten)
{
    char *argv[] = {"t", "f", "--name", "x", "--count", "5", "--mode", "fast", "--count", "0",
                    NULL};
    fails(&CMD, argv, "out_of_range", "--count: \"0\" is out of range (1 to 100)");
}

/* ---- trailing arguments -------------------------------------------------------- */

static const cliopt_opt REST_OPTS[] = {
    {.name = "--verbose", .kind = CLIOPT_FLAG, CLIOPT_FIELD(targs, verbose)},
    {.name = "--only", .kind = CLIOPT_CHOICES, CLIOPT_FIELD(targs, modes), .choices = MODES},
    {.name = "MODE", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(targs, mode), .choices = MODES},
};

static const cliopt_cmd FILES_CMD = {.name = "files",
                                     .synopsis = "files [--verbose] [FILE...]",
                                     .opts = REST_OPTS,
                                     .n_opts = 1,
                                     .rest = CLIOPT_REST_ARGS,
                                     .rest_offset = offsetof(targs, rest),
                                     .rest_arg = "FILE"};

static const cliopt_cmd SUB_CMD = {.name = "sub",
                                   .synopsis = "sub MODE [its options]",
                                   CLIOPT_TABLE(REST_OPTS),
                                   .required = 1,
                                   .rest = CLIOPT_REST_SUBCOMMAND,
                                   .rest_offset = offsetof(targs, rest)};

static const cliopt_cmd EXEC_CMD = {.name = "exec",
                                    .synopsis = "exec [--verbose] -- CMD [ARGS...]",
                                    .opts = REST_OPTS,
                                    .n_opts = 1,
                                    .rest = CLIOPT_REST_COMMAND,
                                    .rest_offset = offsetof(targs, rest),
                                    .rest_arg = "CMD"};

TEST(trailing_files_start_at_the_first_positional)
{
    char *argv[] = {"files", "--verbose", "a", "--verbose", "-", NULL};
    targs a = DEFAULTS;
    sy_error err;
    CHECK_INT(run(&FILES_CMD, &a, argv, &err), SY_OK);
    CHECK(a.verbose);
    CHECK_INT(a.rest.argc, 3);
    CHECK(a.rest.argv == argv + 2);
    char *none[] = {"files", NULL};
    a = (targs)DEFAULTS;
    CHECK_INT(run(&FILES_CMD, &a, none, &err), SY_OK);
    CHECK_INT(a.rest.argc, 0);
    char *dd[] = {"files", "--", "--verbose", NULL};
    a = (targs)DEFAULTS;
    CHECK_INT(run(&FILES_CMD, &a, dd, &err), SY_OK);
    CHECK(!a.verbose);
    CHECK_STR(a.rest.argv[0], "--verbose");
}

TEST(a_subcommand_gets_its_own_argv)
{
    char *argv[] = {"sub", "--verbose", "slow", "--count", "x", NULL};
    targs a = DEFAULTS;
    sy_error err;
    CHECK_INT(run(&SUB_CMD, &a, argv, &err), SY_OK);
    CHECK_INT(a.mode, 1);
    CHECK_INT(a.rest.argc, 3);
    CHECK_STR(a.rest.argv[0], "slow");
    CHECK_STR(a.rest.argv[1], "--count");
    char *bad[] = {"sub", "medium", NULL};
    fails(&SUB_CMD, bad, "bad_choice", "MODE: \"medium\" is not one of fast, slow");
    char *none[] = {"sub", "--verbose", NULL};
    fails(&SUB_CMD, none, "missing_argument", "missing MODE (one of fast, slow)");
}

TEST(a_command_goes_after_dashdash)
{
    char *argv[] = {"exec", "--verbose", "--", "sh", "-c", "--verbose", NULL};
    targs a = DEFAULTS;
    sy_error err;
    CHECK_INT(run(&EXEC_CMD, &a, argv, &err), SY_OK);
    CHECK(a.verbose);
    CHECK_INT(a.rest.argc, 3);
    CHECK(a.rest.argv == argv + 3);
    CHECK(a.rest.argv[3] == NULL);
    char *none[] = {"exec", "--", NULL};
    fails(&EXEC_CMD, none, "missing_argument", "missing CMD after --");
    char *no_dd[] = {"exec", NULL};
    fails(&EXEC_CMD, no_dd, "missing_argument", "missing CMD after --");
    char *stray[] = {"exec", "sh", NULL};
    fails(&EXEC_CMD, stray, "unexpected_argument",
          "unexpected argument \"sh\" (CMD goes after --)");
}

TEST(usage_lists_every_option)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cliopt_usage(&CMD, f);
    fclose(f);
    CHECK(strstr(text, "usage: t FILE [FILE2] [options]\n") == text);
    CHECK(strstr(text, "  --count N ") != NULL);
    CHECK(strstr(text, "1 to 100") != NULL);
    CHECK(strstr(text, "  --mode fast|slow ") != NULL);
    CHECK(strstr(text, "  -h, --help ") != NULL);
    free(text);
}

/* ---- the real commands ------------------------------------------------------------- */

static sy_status real(cli_parse_fn fn, char **argv, sy_error *err)
{
    bool help = false;
    return fn(count_args(argv), argv, &help, err);
}

TEST(commands_accept_their_documented_invocations)
{
    sy_error err;
    char *w[] = {"worker", "--queue", "gap-drain", "--grace", "200ms", "--timeout", "1.5",
                 "--log-level", "warn", "--non-retryable-exit-codes", "3,4", "--", "cat", NULL};
    CHECK_MSG(real(cli_worker_parse, w, &err) == SY_OK, "%s", err.message);
    char *s[] = {"schedule", "create", "nightly", "--cron", "0 3 * * *", "--workflow", "quick",
                 "--catchup-window", "30m", "-o", "json", NULL};
    CHECK_MSG(real(cli_schedule_parse, s, &err) == SY_OK, "%s", err.message);
    char *wf[] = {"workflow", "list", "-o", "json", "--since", "1h", NULL};
    CHECK_MSG(real(cli_workflow_parse, wf, &err) == SY_OK, "%s", err.message);
    char *d[] = {"dlq", "replay", "--id", "1", "--nats", "nats://x", NULL};
    CHECK_MSG(real(cli_dlq_parse, d, &err) == SY_OK, "%s", err.message);
    char *p[] = {"publish", "--subject", "events.kg", "-", NULL};
    CHECK_MSG(real(cli_publish_parse, p, &err) == SY_OK, "%s", err.message);
    char *v[] = {"validate", "--schemas", "schemas", "a.json", "b.json", NULL};
    CHECK_MSG(real(cli_validate_parse, v, &err) == SY_OK, "%s", err.message);
    char *t[] = {"testenv", "--", "ctest", "--test-dir", "build", NULL};
    CHECK_MSG(real(cli_testenv_parse, t, &err) == SY_OK, "%s", err.message);
    char *b[] = {"engine", "--batch", "128", "--sessions", "4", NULL};
    CHECK_MSG(real(bench_engine_parse, b, &err) == SY_OK, "%s", err.message);
    char *e[] = {"envelope", "--seconds", "0.5", NULL};
    CHECK_MSG(real(bench_envelope_parse, e, &err) == SY_OK, "%s", err.message);
    char *f[] = {"faults", "--short", "--scenario", "nats", "--scenario", "bad-input", NULL};
    CHECK_MSG(real(bench_faults_parse, f, &err) == SY_OK, "%s", err.message);
    char *g[] = {"faults", "--scenario", "nat", NULL};
    CHECK_INT(real(bench_faults_parse, g, &err), SY_USAGE);
}

TEST(commands_report_precise_errors)
{
    sy_error err;
    char *b[] = {"engine", "--batch", "abc", NULL};
    CHECK_INT(real(bench_engine_parse, b, &err), SY_USAGE);
    CHECK_STR(err.path, "--batch");
    CHECK_STR(err.message, "\"abc\" is not an integer");
    char *s[] = {"engine", "--sessions", "17", NULL};
    CHECK_INT(real(bench_engine_parse, s, &err), SY_USAGE);
    CHECK_STR(err.message, "\"17\" is out of range (1 to 16)");
    char *wf[] = {"workflow", "strat", NULL};
    CHECK_INT(real(cli_workflow_parse, wf, &err), SY_USAGE);
    CHECK(strstr(err.message, "(did you mean \"start\"?)") != NULL);
    char *st[] = {"workflow", "start", "--id", "x", "--rules", "r.yaml", NULL};
    CHECK_INT(real(cli_workflow_parse, st, &err), SY_USAGE);
    CHECK_STR(err.message, "start needs --type T");
    char *q[] = {"worker", "--queue", "a.b", "--", "cat", NULL};
    CHECK_INT(real(cli_worker_parse, q, &err), SY_USAGE);
    CHECK_STR(err.path, "--queue");
    char *since[] = {"dlq", "list", "--since", "yesterday", NULL};
    CHECK_INT(real(cli_dlq_parse, since, &err), SY_USAGE);
    CHECK_STR(err.path, "--since");
    char *sub[] = {"publish", "ev.json", NULL};
    CHECK_INT(real(cli_publish_parse, sub, &err), SY_USAGE);
    CHECK_STR(err.message, "--subject S is required");
}

TEST(dlq_show_without_id_is_a_usage_error_before_any_connection)
{
    bool help = false;
    sy_error err;
    char *argv[] = {"dlq", "show", NULL};
    CHECK_INT(cli_dlq_parse(2, argv, &help, &err), SY_USAGE);
    CHECK_STR(err.path, "--id");
    char *ok_argv[] = {"dlq", "show", "--id", "7", NULL};
    CHECK_INT(cli_dlq_parse(4, ok_argv, &help, &err), SY_OK);
}
