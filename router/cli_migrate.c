/* cli_migrate.c: `switchyard migrate [--db CONNINFO] [--schema NAME] [-o json]`.
 * Applies the engine's pending numbered migrations (engine/migrations,
 * embedded in the binary) under the engine's advisory lock; safe to run
 * while services start, and a no-op when the schema is current. */
#include "cli.h"
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: switchyard migrate [--db CONNINFO] [--schema NAME] [-o json]\n"
                    "  --db defaults to $SWITCHYARD_DB\n");
    return SY_EXIT_USAGE;
}

int cli_migrate(int argc, char **argv)
{
    const char *db = getenv("SWITCHYARD_DB"), *schema = NULL;
    bool json = false;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--schema") == 0)
            schema = argv[i + 1];
        else if (strcmp(argv[i], "-o") == 0)
            json = strcmp(argv[i + 1], "json") == 0;
        else
            return usage();
    }
    if (!db)
        return usage();
    engine_opts eo = {.schema = schema};
    engine *eng = NULL;
    sy_error err = {0};
    int applied = 0;
    sy_status st = engine_new(&eo, NULL, &eng, &err);
    if (st == SY_OK)
        st = engine_migrate(eng, db, &applied, &err);
    engine_free(eng);
    if (st != SY_OK) {
        fprintf(stderr, "switchyard migrate: %s\n", err.message);
        return sy_status_exit_code(st);
    }
    if (json)
        printf("{\"applied\":%d}\n", applied);
    else
        printf("migrate: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
    return SY_EXIT_OK;
}
