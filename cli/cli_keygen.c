/* cli_keygen.c: `switchyard keygen --id KEYID --out PREFIX` writes an
 * Ed25519 key pair for signing events: PREFIX.key (secret, mode 0600) and
 * PREFIX.pub (a keyring line; see envelope/README.md). Never overwrites.
 * Exit 0 ok, 64 usage, 78 when a file cannot be created. */
#include "cli.h"
#include "cliopt.h"
#include "envelope.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

typedef struct keygen_args {
    const char *id, *prefix;
} keygen_args;

static const cliopt_opt KEYGEN_OPTS[] = {
    {.name = "--id", .kind = CLIOPT_STRING, CLIOPT_FIELD(keygen_args, id), .arg = "KEYID",
     .help = "the key's ID in the keyring (required)"},
    {.name = "--out", .kind = CLIOPT_STRING, CLIOPT_FIELD(keygen_args, prefix), .arg = "PREFIX",
     .help = "writes PREFIX.key and PREFIX.pub (required)"},
};

static const cliopt_cmd KEYGEN_CMD = {
    .name = "keygen",
    .synopsis = "switchyard keygen --id KEYID --out PREFIX",
    CLIOPT_TABLE(KEYGEN_OPTS),
};

/* Pure: argv in, *out written only on success. */
static sy_status parse_args(int argc, char **argv, keygen_args *out, bool *help, sy_error *err)
{
    keygen_args a = *out;
    sy_status st = cliopt_parse(&KEYGEN_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if (!a.id || !a.prefix)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "%s is required",
                            a.id ? "--out PREFIX" : "--id KEYID");
    *out = a;
    return SY_OK;
}

sy_status cli_keygen_parse(int argc, char **argv, bool *help, sy_error *err)
{
    keygen_args a = {0};
    return parse_args(argc, argv, &a, help, err);
}

int cli_keygen(int argc, char **argv)
{
    keygen_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&KEYGEN_CMD, pst, &perr);
    const char *id = a.id, *prefix = a.prefix;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = envelope_keygen(id, prefix, &err);
    if (st != SY_OK) {
        cliopt_fail("keygen", err.status, &err);
        return sy_status_exit_code(st);
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub (add it to the keyring)\n", prefix, prefix);
    return SY_EXIT_OK;
}
