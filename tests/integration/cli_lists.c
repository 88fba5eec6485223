/* Every list command prints one shape (cli/list.h, docs/cli.md "Lists"):
 * with -o json one object {"<noun>": [...], "next_page_token": TOKEN|null},
 * and --page TOKEN walks the pages to the end; a bad value of an enum filter
 * is a usage error (exit 64), never an empty list. The built binary against
 * a real, migrated database. */
#include "fixture.h"
#include "json.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct lists_fx {
    char *db;
    char rules[64];
} lists_fx;

static const char RULES[] = "version: 1\n"
                            "workflows:\n"
                            "  w:\n"
                            "    task_queue: lq\n"
                            "    steps:\n"
                            "      - task: work\n"
                            "      - wait: go\n"
                            "  h:\n"
                            "    steps:\n"
                            "      - human: review\n"
                            "        assignee: \"{{ input.owner | default('auditors') }}\"\n";

/* Runs "switchyard ARGS --db DB" (args may hold %s for the rules file);
 * stdout into out. Returns the exit code. */
static int sy(lists_fx *fx, const char *args, char *out, size_t cap)
{
    char a[2048], cmd[4096];
    snprintf(a, sizeof a, args, fx->rules);
    snprintf(cmd, sizeof cmd, "'%s' %s --db '%s' 2>/dev/null", fixture_switchyard_bin(), a, fx->db);
    return fixture_run(cmd, out, cap);
}

static void exec_sql(const char *db, const char *sql)
{
    PGconn *c = PQconnectdb(db);
    PGresult *r = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* A migrated database with 3 workflows (and their histories) with a task
 * on queue lq each, 2 with a human task (assigned to ops and ada), 3
 * schedules and 3 dead letters. */
static void lists_open(lists_fx *fx, const char *name)
{
    fx->db = fixture_pg_fresh_db(name);
    snprintf(fx->rules, sizeof fx->rules, "/tmp/sy-cli-lists-%d.yaml", (int)getpid());
    FILE *f = fopen(fx->rules, "w");
    CHECK(f != NULL);
    fputs(RULES, f);
    fclose(f);
    char out[4096];
    CHECK_INT(sy(fx, "migrate", out, sizeof out), 0);
    for (int i = 1; i <= 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "workflow start --type w --id w-%d --rules %%s", i);
        CHECK_INT(sy(fx, args, out, sizeof out), 0);
        snprintf(args, sizeof args, "schedule create s-%d --cron '@every 1h' --workflow w", i);
        CHECK_INT(sy(fx, args, out, sizeof out), 0);
    }
    CHECK_INT(sy(fx, "workflow start --type h --id h-1 --input '{\"owner\":\"ops\"}' --rules %s",
                 out, sizeof out),
              0);
    CHECK_INT(sy(fx, "workflow start --type h --id h-2 --input '{\"owner\":\"ada\"}' --rules %s",
                 out, sizeof out),
              0);
    exec_sql(fx->db,
             "INSERT INTO switchyard.dead_letters (event_id, code, message) VALUES"
             " ('d-1', 'bad_type', 'x'), ('d-2', 'bad_type', 'y'), ('d-3', 'unsigned', 'z')");
}

static void lists_close(lists_fx *fx)
{
    unlink(fx->rules);
    free(fx->db);
}

/* Parses one list answer: exactly the two members, the items an array.
 * Returns the number of items; *next the token (owned) or NULL. */
static int check_shape(const char *text, const char *noun, char **next)
{
    cJSON *o = cJSON_Parse(text);
    CHECK_MSG(cJSON_IsObject(o), "not one JSON object: %s", text);
    CHECK_MSG(cJSON_GetArraySize(o) == 2, "%s: more than items and token: %s", noun, text);
    const cJSON *items = sy_json_get(o, noun), *tok = sy_json_get(o, "next_page_token");
    CHECK_MSG(cJSON_IsArray(items), "%s: no \"%s\" array: %s", noun, noun, text);
    CHECK_MSG(cJSON_IsString(tok) || cJSON_IsNull(tok), "%s: next_page_token: %s", noun, text);
    *next = cJSON_IsString(tok) ? strdup(tok->valuestring) : NULL;
    int n = cJSON_GetArraySize(items);
    cJSON_Delete(o);
    return n;
}

/* Walks "<args> -o json --limit 1 [--page T]" to the end: want pages of one
 * item each, then a null token; and without --limit, all on one page. */
static void walk(lists_fx *fx, const char *args, const char *noun, int want)
{
    static char out[1 << 16];
    char cmd[1024], *next = NULL;
    int total = 0, pages = 0;
    do {
        if (next)
            snprintf(cmd, sizeof cmd, "%s -o json --limit 1 --page '%s'", args, next);
        else
            snprintf(cmd, sizeof cmd, "%s -o json --limit 1", args);
        free(next);
        CHECK_INT(sy(fx, cmd, out, sizeof out), 0);
        total += check_shape(out, noun, &next);
        CHECK_MSG(++pages <= want + 1, "%s: the pages never end", args);
    } while (next);
    CHECK_MSG(total == want && pages == want, "%s: %d items on %d pages, want %d", args, total,
              pages, want);
    snprintf(cmd, sizeof cmd, "%s -o json", args);
    CHECK_INT(sy(fx, cmd, out, sizeof out), 0);
    CHECK_INT(check_shape(out, noun, &next), want);
    CHECK(next == NULL);
}

TEST(every_list_has_one_shape_and_pages_to_the_end)
{
    lists_fx fx;
    lists_open(&fx, "cli_lists_shape");
    walk(&fx, "workflow list", "workflows", 5);
    walk(&fx, "workflow list --status running", "workflows", 5);
    walk(&fx, "workflow history w-1", "events", 2); /* workflow.started, task.scheduled */
    walk(&fx, "schedule list", "schedules", 3);
    walk(&fx, "dlq list", "dead_letters", 3);
    walk(&fx, "dlq list --code bad_type", "dead_letters", 2);
    walk(&fx, "task list", "tasks", 5);
    walk(&fx, "task list --queue lq", "tasks", 3);
    lists_close(&fx);
}

TEST(text_lists_say_where_the_next_page_is)
{
    lists_fx fx;
    lists_open(&fx, "cli_lists_text");
    char out[8192];
    const char *cmds[] = {"workflow list --limit 2", "schedule list --limit 2",
                          "dlq list --limit 2", "workflow history w-1 --limit 1",
                          "task list --limit 2"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        CHECK_INT(sy(&fx, cmds[i], out, sizeof out), 0);
        CHECK_MSG(strstr(out, "next page: --page ") != NULL, "%s:\n%s", cmds[i], out);
    }
    lists_close(&fx);
}

TEST(a_bad_enum_filter_or_page_token_is_a_usage_error)
{
    lists_fx fx;
    lists_open(&fx, "cli_lists_usage");
    char out[4096];
    const char *cmds[] = {
        "workflow list --status bogus",   "workflow list --status Running", "dlq list --page abc",
        "workflow history w-1 --page x1", "schedule list --limit 0",        "dlq list -o yaml",
        "task list --status bogus",       "task list --status Pending",     "task complete"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        CHECK_MSG(sy(&fx, cmds[i], out, sizeof out) == 64, "%s: not a usage error", cmds[i]);
    /* and the message says which option and what it takes */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' workflow list --status bogus --db '%s' 2>&1",
             fixture_switchyard_bin(), fx.db);
    CHECK_INT(fixture_run(cmd, out, sizeof out), 64);
    CHECK_MSG(strstr(out, "--status") && strstr(out, "running"), "%s", out);
    lists_close(&fx);
}

/* The tasks of `task list -o json ARGS` (owned). */
static cJSON *tasks(lists_fx *fx, const char *args)
{
    static char out[1 << 16];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "task list -o json %s", args);
    CHECK_INT(sy(fx, cmd, out, sizeof out), 0);
    cJSON *o = cJSON_Parse(out);
    CHECK_MSG(o != NULL, "%s", out);
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(o, "tasks");
    cJSON_Delete(o);
    return t;
}

/* `task list`: the pending tasks, human ones with their rendered assignee,
 * filtered by queue, assignee and status (issue 19 item 22: operators found
 * them only through workflow describe). */
TEST(task_list_shows_pending_tasks_by_queue_and_assignee)
{
    lists_fx fx;
    lists_open(&fx, "cli_lists_tasks");
    cJSON *t = tasks(&fx, "--queue human");
    CHECK_INT(cJSON_GetArraySize(t), 2);
    const cJSON *it;
    cJSON_ArrayForEach(it, t)
    {
        CHECK(cJSON_IsTrue(sy_json_get(it, "human")));
        CHECK_STR(sy_json_get_string(it, "status"), "scheduled");
        CHECK_STR(sy_json_get_string(it, "workflow_type"), "h");
        CHECK_STR(sy_json_get_string(it, "name"), "review");
    }
    cJSON_Delete(t);
    t = tasks(&fx, "--assignee ops");
    CHECK_INT(cJSON_GetArraySize(t), 1);
    CHECK_STR(sy_json_get_string(cJSON_GetArrayItem(t, 0), "assignee"), "ops");
    CHECK_STR(sy_json_get_string(cJSON_GetArrayItem(t, 0), "workflow_id"), "h-1");
    char *ops_task = strdup(sy_json_get_string(cJSON_GetArrayItem(t, 0), "task_id"));
    cJSON_Delete(t);
    t = tasks(&fx, "--queue lq");
    CHECK(cJSON_IsNull(sy_json_get(cJSON_GetArrayItem(t, 0), "assignee")));
    cJSON_Delete(t);
    /* a completed task leaves the pending list and is found by its status */
    char out[4096], args[512];
    snprintf(args, sizeof args, "task complete '%s' --result '{\"ok\":true}'", ops_task);
    CHECK_INT(sy(&fx, args, out, sizeof out), 0);
    t = tasks(&fx, "--assignee ops");
    CHECK_INT(cJSON_GetArraySize(t), 0);
    cJSON_Delete(t);
    t = tasks(&fx, "--status completed");
    CHECK_INT(cJSON_GetArraySize(t), 1);
    CHECK_STR(sy_json_get_string(cJSON_GetArrayItem(t, 0), "task_id"), ops_task);
    cJSON_Delete(t);
    t = tasks(&fx, "--status all");
    CHECK_INT(cJSON_GetArraySize(t), 5);
    cJSON_Delete(t);
    /* text: one row a task, the assignee in its column */
    CHECK_INT(sy(&fx, "task list --queue human", out, sizeof out), 0);
    CHECK(strstr(out, "ASSIGNEE") && strstr(out, "ada") && !strstr(out, "ops"));
    free(ops_task);
    lists_close(&fx);
}
