/* Integration tests of `switchyard schedule ...` (cli/cli_schedule.c):
 * the binary against a real, migrated database. */
#include "schedule_support.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* A rules file with the "quick" workflow (trigger and backfill need the
 * definitions); its path in a static buffer. */
static const char *rules_file(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sy-sched-cli-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("version: 1\nworkflows:\n  quick:\n    task_queue: qq\n    steps:\n"
          "      - complete: { ok: true }\n",
          f);
    fclose(f);
    return path;
}

/* Runs "switchyard schedule ARGS" with SWITCHYARD_DB and SWITCHYARD_RULES set
 * and returns its exit code; stdout (and stderr, when errors is true) goes
 * to out (cap bytes). */
static int run_cli(sched_fx *fx, const char *args, bool errors, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "SWITCHYARD_DB='%s' SWITCHYARD_RULES='%s' '%s' schedule %s %s",
             fx->conninfo, rules_file(), fixture_switchyard_bin(), args,
             errors ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(rules_file()); /* rewritten by the next call */
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#define cli(fx, args, out, cap) run_cli(fx, args, false, out, cap)
#define cli_err(fx, args, out, cap) run_cli(fx, args, true, out, cap)

TEST(cli_create_describe_update_and_list)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_cli_crud");
    char out[8192];
    CHECK_INT(cli(&fx,
                  "create nightly --cron '0 3 * * *' --workflow quick --timezone "
                  "Europe/Berlin --catchup-window 30m -o json",
                  out, sizeof out),
              0);
    CHECK_STR(out, "{\"id\":\"nightly\",\"created\":true}\n");
    CHECK_INT(cli(&fx, "update nightly --overlap buffer_all --jitter 1m", out, sizeof out), 0);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM schedules WHERE schedule_id = 'nightly' AND "
                        "overlap = 'buffer_all' AND jitter_ms = 60000 AND cron = '0 3 * * *' "
                        "AND catchup_window_ms = 1800000 AND timezone = 'Europe/Berlin'",
                        NULL, NULL),
              1);
    CHECK_INT(cli(&fx, "describe nightly --upcoming 1 -o json", out, sizeof out), 0);
    cJSON *d = cJSON_Parse(out);
    CHECK_MSG(d != NULL, "describe printed %s", out);
    CHECK_STR(sy_json_get_string(d, "overlap"), "buffer_all");
    CHECK_INT(cJSON_GetArraySize(sy_json_get(d, "upcoming")), 1);
    cJSON_Delete(d);
    CHECK_INT(cli(&fx, "list", out, sizeof out), 0);
    CHECK(strstr(out, "nightly") != NULL && strstr(out, "Europe/Berlin") != NULL);
    sched_fx_close(&fx);
}

TEST(cli_rejects_bad_cron_with_the_parser_message)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_cli_badcron");
    char out[4096];
    CHECK_INT(cli_err(&fx, "create x --cron '0 25 * * *' --workflow quick", out, sizeof out), 65);
    CHECK(strstr(out, "cron: field 2 (hour): 25 is out of range 0-23 (column 3)") != NULL);
    CHECK_INT(cli_err(&fx, "create x --cron '* * * * *' --workflow quick --timezone Mars/Base", out,
                      sizeof out),
              65);
    CHECK(strstr(out, "unknown time zone \"Mars/Base\"") != NULL);
    CHECK_INT(cli_err(&fx, "frobnicate x", out, sizeof out), 64);
    CHECK_INT(cli_err(&fx, "describe nope", out, sizeof out), 1);
    CHECK(strstr(out, "no schedule \"nope\"") != NULL);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 0);
    sched_fx_close(&fx);
}

/* @every ignores zones: create and update refuse one other than UTC */
TEST(cli_rejects_a_timezone_with_every)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_cli_every_tz");
    char out[4096];
    CHECK_INT(cli_err(&fx, "create x --cron '@every 24h' --workflow quick --timezone Europe/Berlin",
                      out, sizeof out),
              65);
    CHECK(strstr(out, "timezone \"Europe/Berlin\" has no effect on \"@every 24h\"") != NULL);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 0);
    CHECK_INT(cli(&fx, "create x --cron '0 3 * * *' --workflow quick --timezone Europe/Berlin", out,
                  sizeof out),
              0);
    CHECK_INT(cli_err(&fx, "update x --cron '@every 1h'", out, sizeof out), 65);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules WHERE cron = '0 3 * * *'", NULL, NULL),
              1);
    CHECK_INT(
        cli(&fx, "create y --cron '@every 1h' --workflow quick --timezone UTC", out, sizeof out),
        0);
    sched_fx_close(&fx);
}

TEST(cli_pause_resume_trigger_backfill_delete)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_cli_ops");
    char out[4096];
    CHECK_INT(cli(&fx, "create h --cron '0 * * * *' --workflow quick --overlap allow_all", out,
                  sizeof out),
              0);
    CHECK_INT(cli(&fx, "pause h --note 'db migration'", out, sizeof out), 0);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM schedules WHERE paused AND note = 'db migration'",
                        NULL, NULL),
              1);
    CHECK_INT(cli(&fx, "resume h", out, sizeof out), 0);
    CHECK_INT(sched_col(&fx, "h", "paused::int"), 0);
    CHECK_INT(cli(&fx, "trigger h -o json", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "\"started\":true") != NULL, "%s", out);
    CHECK_INT(cli(&fx, "backfill h --start 2030-01-01T00:00:00Z --end 2030-01-01T03:00:00Z -o json",
                  out, sizeof out),
              0);
    CHECK_STR(out,
              "{\"slots\":3,\"started\":3,\"skipped\":0,\"buffered\":0,\"already_fired\":0}\n");
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM workflow_ids WHERE workflow_id LIKE 'h:%'", NULL,
                        NULL),
              4);
    CHECK_INT(cli(&fx, "delete h", out, sizeof out), 0);
    CHECK_INT(cli(&fx, "delete h", out, sizeof out), 1);
    CHECK_INT(sched_int(&fx, "SELECT count(*) FROM schedules", NULL, NULL), 0);
    sched_fx_close(&fx);
}
