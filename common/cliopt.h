/* cliopt.h: the one command-line parser of the `switchyard` subcommands.
 *
 * A command declares a static table of its options and positional arguments
 * (cliopt_opt), each naming the field of the command's own arguments struct
 * that it fills (CLIOPT_FIELD), and a cliopt_cmd around it. cliopt_parse then
 * accepts "--name value", "--name=value", flags without a value, positionals
 * anywhere between the options, "--" (everything after it is positional),
 * trailing arguments (FILE..., a subcommand's argv, or CMD ARGS... after
 * "--") and "-h"/"--help". cliopt_usage prints the help the table generates.
 *
 * Parsing is pure (no I/O, no allocation, no global state) and never
 * half-applies: the struct is written only when all of argv is valid. Errors
 * are SY_USAGE with err->path naming the option ("--batch") and err->message
 * saying what is wrong with which value ("\"abc\" is not an integer"), so a
 * caller prints "switchyard bench engine: --batch: \"abc\" is not an integer". */
#ifndef SY_CLIOPT_H
#define SY_CLIOPT_H

#include "status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cliopt_kind {
    CLIOPT_STRING,   /* const char *: the value itself, borrowed from argv */
    CLIOPT_INT,      /* an integer field of 1, 2, 4 or 8 bytes: a decimal in [min, max] */
    CLIOPT_DURATION, /* int64_t milliseconds: "500ms", "30s", "1h30m" (duration.h), or a
                      * decimal with one optional unit ms|s|m|h ("1.5s"; bare: seconds) */
    CLIOPT_CHOICE,   /* an integer field: the index of the value in choices */
    CLIOPT_FLAG,     /* bool: set to true; takes no value */
    CLIOPT_CHOICES,  /* a uint32_t field: repeatable, each value (one of choices, at most
                      * 32) sets bit 1 << its index ("--scenario a --scenario b") */
} cliopt_kind;

/* One option or positional argument. Initialize with designated initializers:
 *   {.name = "--batch", .kind = CLIOPT_INT, CLIOPT_FIELD(bench_opts, batch),
 *    .min = 1, .max = 65536, .arg = "N", .help = "events per transaction"} */
typedef struct cliopt_opt {
    const char *name; /* as typed: "--batch", "-o"; no leading '-': a positional ("ID"),
                       * filled in table order */
    cliopt_kind kind;
    size_t offset, size;        /* the field (CLIOPT_FIELD); size 0: checked, then dropped */
    const char *arg;            /* the value's placeholder in the help ("N"); NULL: from kind */
    const char *help;           /* one line, or NULL */
    int64_t min, max;           /* CLIOPT_INT: the accepted range (min < max);
                                   CLIOPT_DURATION: in ms, checked when max > 0 */
    const char *const *choices; /* CLIOPT_CHOICE, CLIOPT_CHOICES: NULL-terminated */
} cliopt_opt;

#define CLIOPT_FIELD(type, member)                                                                 \
    .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

/* What a command does with arguments beyond its positionals. */
typedef enum cliopt_rest_kind {
    CLIOPT_REST_NONE,       /* one more argument is an error */
    CLIOPT_REST_ARGS,       /* the first one and everything after it (FILE...) */
    CLIOPT_REST_SUBCOMMAND, /* the last positional and everything after it, options included:
                             * the argv of a subcommand (argv[0] is its name) */
    CLIOPT_REST_COMMAND,    /* what follows "--", at least one word: CMD ARGS... */
} cliopt_rest_kind;

/* Trailing arguments: a slice of the caller's argv (borrowed, NULL-terminated
 * when argv is, as main's is). */
typedef struct cliopt_rest {
    char **argv;
    int argc;
} cliopt_rest;

typedef struct cliopt_cmd {
    const char *name;       /* "bench engine": for messages */
    const char *synopsis;   /* "switchyard bench engine [options]": the help's first line(s) */
    const cliopt_opt *opts; /* options and positionals; CLIOPT_TABLE(array) sets both */
    size_t n_opts;
    size_t required; /* the first `required` positionals must be given */
    cliopt_rest_kind rest;
    size_t rest_offset;   /* the cliopt_rest field, unless CLIOPT_REST_NONE */
    const char *rest_arg; /* the trailing arguments in messages and help: "CMD [ARGS...]" */
} cliopt_cmd;

#define CLIOPT_TABLE(array) .opts = (array), .n_opts = sizeof(array) / sizeof((array)[0])

/* Parses argv[1..argc) (argv[0] is the command's name; argv is borrowed and
 * string fields point into it) into the struct at out as cmd's table says.
 * An unknown option or choice gets a "did you mean" (closest.h).
 * SY_OK: the fields named by the arguments given are written, the others
 * keep what the caller put there (its defaults); *help is true when -h or
 * --help came first among the options, and then nothing else was checked.
 * SY_USAGE: *out is untouched, *help false, *err says which option or
 * argument is wrong and why (codes: unknown_option, missing_value,
 * unexpected_value, bad_integer, out_of_range, bad_duration, bad_choice,
 * unexpected_argument, missing_argument). Any thread. */
sy_status cliopt_parse(const cliopt_cmd *cmd, int argc, char **argv, void *out, bool *help,
                       sy_error *err) SY_MUST_USE;

/* Prints "usage: SYNOPSIS" and one line per positional and option (with its
 * placeholder, help, range or choices), then -h, --help. */
void cliopt_usage(const cliopt_cmd *cmd, FILE *out);

/* The helpers every command's main step shares (they were cli/cli_util). */

/* Prints "switchyard <cmd>: [path: ]message" to stderr for a failed command
 * and returns its exit code (sy_status_exit_code(st)). cmd and err borrowed. */
int cliopt_fail(const char *cmd, sy_status st, const sy_error *err);

/* After a parse that failed or asked for help: st == SY_OK (help) prints
 * cmd's usage to stdout and returns SY_EXIT_OK; otherwise prints
 * "switchyard <cmd>: [path: ]message" and the synopsis to stderr and returns
 * SY_EXIT_USAGE. */
int cliopt_usage_exit(const cliopt_cmd *cmd, sy_status st, const sy_error *err);

/* --db for a command that needs Postgres: *db as given, else $SWITCHYARD_DB.
 * Neither: prints "switchyard <cmd>: give --db CONNINFO or set SWITCHYARD_DB"
 * to stderr and returns false (the caller exits with SY_EXIT_USAGE). */
bool cliopt_db(const char *cmd, const char **db);

/* The values of -o: "text" (0) and "json" (1), for a CLIOPT_CHOICE into a bool. */
extern const char *const cliopt_output_formats[];
/* "-o json" where JSON lines are the only output (accepted, changes nothing). */
extern const char *const cliopt_json_only[];

/* A --since/--until time: an RFC 3339 time or a duration ago ("1h"). Pure
 * check for a parse step: SY_OK, or SY_USAGE with *err naming opt. */
sy_status cliopt_check_time(const char *opt, const char *s, sy_error *err) SY_MUST_USE;

/* The instant (ms since the epoch) a time that passed cliopt_check_time
 * names, "ago" counted from now_ms. */
int64_t cliopt_time(const char *s, int64_t now_ms);

#endif
