/* cli_keygen.c: `switchyard keygen --id KEYID --out PREFIX` writes an
 * Ed25519 key pair for signing events: PREFIX.key (secret, mode 0600) and
 * PREFIX.pub (a keyring line; see envelope/README.md). Never overwrites.
 * Exit 0 ok, 64 usage, 78 when a file cannot be created. */
#include "cli.h"
#include "envelope.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

int cli_keygen(int argc, char **argv)
{
    const char *id = NULL, *prefix = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            id = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: switchyard keygen --id KEYID --out PREFIX\n");
            return SY_EXIT_OK;
        } else {
            id = prefix = NULL;
            break;
        }
    }
    if (!id || !prefix) {
        fprintf(stderr, "usage: switchyard keygen --id KEYID --out PREFIX\n");
        return SY_EXIT_USAGE;
    }
    sy_error err;
    sy_error_clear(&err);
    sy_status st = envelope_keygen(id, prefix, &err);
    if (st != SY_OK) {
        fprintf(stderr, "switchyard keygen: %s\n", err.message);
        return sy_status_exit_code(st);
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub (add it to the keyring)\n", prefix, prefix);
    return SY_EXIT_OK;
}
