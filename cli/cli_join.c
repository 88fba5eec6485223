/* cli_join.c: `switchyard join list|describe`, the partial state of join
 * routes (docs/flow-control.md, "Joins"): which keys have a join open, the
 * parts that arrived, the parts still missing and the window's deadline.
 * Reads through the engine (engine_join_list / engine_join_get) in one
 * transaction; "now" is sy_clock's (SWITCHYARD_TEST_TIME_OFFSET_MS), so a
 * join past its window is not listed even before retention deletes it.
 *
 *   switchyard join list [--route NAME] [--limit N] [--page TOKEN]
 *   switchyard join describe ROUTE KEY
 *   common: [--db CONNINFO] [--schema NAME] [--namespace NS] [-o json] */
#include "buf.h"
#include "cli.h"
#include "cliopt.h"
#include "clock.h"
#include "engine.h"
#include "json.h"
#include "list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct join_args {
    const char *verb, *route, *key, *db, *schema, *ns, *page, *route_opt;
    int64_t limit;
    int verb_ix;
    bool json;
} join_args;

static const char *const VERBS[] = {"list", "describe", NULL};

#define JOIN_STR(opt, member, placeholder, text)                                                   \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(join_args, member), .arg = placeholder,   \
        .help = text                                                                               \
    }

static const cliopt_opt JOIN_OPTS[] = {
    {.name = "VERB", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(join_args, verb_ix), .choices = VERBS},
    JOIN_STR("ROUTE", route, NULL, "describe: the join route"),
    JOIN_STR("KEY", key, NULL, "describe: the join's key"),
    JOIN_STR("--route", route_opt, "NAME", "list: only this join route's"),
    {.name = "--limit",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(join_args, limit),
     .min = 1,
     .max = 1000,
     .arg = "N",
     .help = "list: at most N a page (default 100)"},
    JOIN_STR("--page", page, "TOKEN", "list: the page after this next_page_token"),
    JOIN_STR("--db", db, "CONNINFO", "Postgres (default $SWITCHYARD_DB)"),
    JOIN_STR("--schema", schema, "NAME", "the engine's schema"),
    JOIN_STR("--namespace", ns, "NS", "the joins' namespace"),
    {.name = "-o",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(join_args, json),
     .choices = cliopt_output_formats,
     .help = "output format"},
};

static const cliopt_cmd JOIN_CMD = {
    .name = "join",
    .synopsis = "switchyard join list [--route NAME] [--limit N] [--page TOKEN]\n"
                "       switchyard join describe ROUTE KEY\n"
                "  common: [--db CONNINFO] [--schema NAME] [--namespace NS] [-o json];\n"
                "  --db defaults to $SWITCHYARD_DB",
    CLIOPT_TABLE(JOIN_OPTS),
    .required = 1,
};

/* Pure: argv in, *out written only on success. */
static sy_status parse_args(int argc, char **argv, join_args *out, bool *help, sy_error *err)
{
    join_args a = *out;
    sy_status st = cliopt_parse(&JOIN_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    a.verb = VERBS[a.verb_ix];
    bool describe = strcmp(a.verb, "describe") == 0;
    if (describe && (!a.route || !a.key))
        return sy_error_set(err, SY_USAGE, "missing_argument", NULL,
                            "describe needs a join route and a key");
    if (!describe && a.route)
        return sy_error_set(err, SY_USAGE, "bad_argument", NULL,
                            "list takes no positional arguments (--route NAME filters)");
    *out = a;
    return SY_OK;
}

sy_status cli_join_parse(int argc, char **argv, bool *help, sy_error *err)
{
    join_args a = {.limit = 100};
    return parse_args(argc, argv, &a, help, err);
}

static void print_names(sy_buf *b, const cJSON *arr)
{
    if (!cJSON_IsArray(arr)) {
        sy_buf_puts(b, "?");
        return;
    }
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        sy_buf_printf(b, "%s%s", n++ ? "," : "", it->valuestring);
    }
    if (!n)
        sy_buf_puts(b, "-");
}

static void list_row(const cJSON *o)
{
    sy_buf arrived = SY_BUF_INIT, missing = SY_BUF_INIT;
    print_names(&arrived, sy_json_get(o, "arrived"));
    print_names(&missing, sy_json_get(o, "missing"));
    const char *route = sy_json_get_string(o, "route"), *key = sy_json_get_string(o, "key");
    const char *deadline = sy_json_get_string(o, "deadline");
    printf("%-20s %-24s %-24s %-24s %s\n", route ? route : "", key ? key : "", sy_buf_str(&arrived),
           sy_buf_str(&missing), deadline ? deadline : "");
    sy_buf_cleanup(&arrived);
    sy_buf_cleanup(&missing);
}

static sy_status do_list(engine_session *s, const join_args *a, int64_t now, sy_error *err)
{
    engine_join_filter f = {
        .route = a->route_opt, .limit = (size_t)a->limit, .page_token = a->page, .now_ms = now};
    cJSON *l = NULL;
    sy_status st = engine_join_list(s, &f, &l, err);
    if (st != SY_OK)
        return st;
    if (!a->json)
        printf("%-20s %-24s %-24s %-24s %s\n", "ROUTE", "KEY", "ARRIVED", "MISSING", "DEADLINE");
    cli_list_print(l, "joins", a->json, list_row);
    cJSON_Delete(l);
    return SY_OK;
}

static sy_status do_describe(engine_session *s, const join_args *a, int64_t now, sy_error *err)
{
    cJSON *d = NULL;
    sy_status st = engine_join_get(s, a->route, a->key, now, &d, err);
    if (st != SY_OK)
        return st;
    const cJSON *v;
    cJSON_ArrayForEach(v, d)
    {
        sy_buf b = SY_BUF_INIT;
        if (a->json)
            break;
        if (cJSON_IsString(v))
            sy_buf_puts(&b, v->valuestring);
        else
            sy_json_append(&b, v);
        printf("%-12s %s\n", v->string, sy_buf_str(&b));
        sy_buf_cleanup(&b);
    }
    if (a->json) {
        sy_buf b = SY_BUF_INIT;
        sy_json_append(&b, d);
        printf("%s\n", sy_buf_str(&b));
        sy_buf_cleanup(&b);
    }
    cJSON_Delete(d);
    return SY_OK;
}

static sy_status run(const join_args *a, sy_error *err)
{
    sy_clock clock;
    sy_clock_init(&clock);
    engine_opts eo = {.schema = a->schema, .namespace_ = a->ns};
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_status st = engine_new(&eo, NULL, &eng, err);
    if (st == SY_OK)
        st = engine_session_open(eng, a->db, false, &s, err);
    if (st == SY_OK)
        st = engine_begin(s, err);
    if (st == SY_OK) {
        int64_t now = sy_clock_now_ms(&clock);
        st = strcmp(a->verb, "list") == 0 ? do_list(s, a, now, err) : do_describe(s, a, now, err);
        if (st == SY_OK)
            st = engine_commit(s, err);
        else
            engine_rollback(s);
    }
    engine_session_close(s);
    engine_free(eng);
    return st;
}

int cli_join(int argc, char **argv)
{
    join_args a = {.limit = 100};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&JOIN_CMD, pst, &perr);
    if (!cliopt_db("join", &a.db))
        return SY_EXIT_USAGE;
    sy_error err;
    sy_error_clear(&err);
    sy_status st = run(&a, &err);
    if (st != SY_OK) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "join %s", a.verb);
        return cliopt_fail(cmd, st, &err);
    }
    return SY_EXIT_OK;
}
