/* cli_migrate.c: `switchyard migrate [--db CONNINFO] [--schema NAME] [-o json]`.
 * Applies the engine's pending numbered migrations (engine/migrations,
 * embedded in the binary) under the engine's advisory lock; safe to run
 * while services start, and a no-op when the schema is current. */
#include "cli.h"
#include "cliopt.h"
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct migrate_args {
    const char *db, *schema;
    bool json;
} migrate_args;

static const cliopt_opt MIGRATE_OPTS[] = {
    {.name = "--db", .kind = CLIOPT_STRING, CLIOPT_FIELD(migrate_args, db), .arg = "CONNINFO",
     .help = "Postgres (default $SWITCHYARD_DB)"},
    {.name = "--schema", .kind = CLIOPT_STRING, CLIOPT_FIELD(migrate_args, schema),
     .arg = "NAME", .help = "the engine's schema"},
    {.name = "-o", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(migrate_args, json),
     .choices = cliopt_output_formats, .help = "output format"},
};

static const cliopt_cmd MIGRATE_CMD = {
    .name = "migrate",
    .synopsis = "switchyard migrate [--db CONNINFO] [--schema NAME] [-o json]\n"
                "  --db defaults to $SWITCHYARD_DB",
    CLIOPT_TABLE(MIGRATE_OPTS),
};

sy_status cli_migrate_parse(int argc, char **argv, bool *help, sy_error *err)
{
    migrate_args a = {0};
    return cliopt_parse(&MIGRATE_CMD, argc, argv, &a, help, err);
}

int cli_migrate(int argc, char **argv)
{
    migrate_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&MIGRATE_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&MIGRATE_CMD, pst, &perr);
    const char *db = a.db, *schema = a.schema;
    bool json = a.json;
    if (!cliopt_db("migrate", &db))
        return SY_EXIT_USAGE;
    engine_opts eo = {.schema = schema};
    engine *eng = NULL;
    sy_error err = {0};
    int applied = 0;
    sy_status st = engine_new(&eo, NULL, &eng, &err);
    if (st == SY_OK)
        st = engine_migrate(eng, db, &applied, &err);
    engine_free(eng);
    if (st != SY_OK) {
        cliopt_fail("migrate", err.status, &err);
        return sy_status_exit_code(st);
    }
    if (json)
        printf("{\"applied\":%d}\n", applied);
    else
        printf("migrate: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
    return SY_EXIT_OK;
}
