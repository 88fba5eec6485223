/* `switchyard workflow` and `task` against a real, migrated database: the
 * outcome events they write go to the engine's subject prefix, so a
 * service with engine.subject_prefix other than "sy" can be operated from
 * the command line (a cancel written to sy.* never reaches its workers). */
#include "schedule_support.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(const char *conninfo, const char *env, const char *args)
{
    char rules[64], cmd[4096];
    snprintf(rules, sizeof rules, "/tmp/sy-wf-cli-%d.yaml", (int)getpid());
    FILE *f = fopen(rules, "w");
    CHECK(f != NULL);
    fputs("version: 1\nworkflows:\n  waiter:\n    task_queue: qw\n    steps:\n"
          "      - task: work\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s SWITCHYARD_DB='%s' '%s' %s --rules '%s' >/dev/null", env,
             conninfo, fixture_switchyard_bin(), args, rules);
    int rc = system(cmd);
    unlink(rules);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long long subjects(sched_fx *fx, const char *like)
{
    return sched_int(fx, "SELECT count(*) FROM outbox_messages WHERE subject LIKE $1", like, NULL);
}

TEST(workflow_commands_write_outcomes_under_the_subject_prefix)
{
    sched_fx fx;
    sched_fx_open(&fx, "wf_cli_prefix");
    CHECK_INT(run(fx.conninfo, "", "workflow start --type waiter --id w1 --subject-prefix xy"), 0);
    CHECK_INT(subjects(&fx, "xy.workflow.started.waiter"), 1);
    CHECK_INT(subjects(&fx, "xy.task.created.qw"), 1);
    CHECK_INT(run(fx.conninfo, "", "workflow cancel w1 --subject-prefix xy"), 0);
    CHECK_STR(sched_wf_status(&fx, "w1"), "canceled");
    CHECK_INT(subjects(&fx, "xy.task.canceled.qw"), 1);
    CHECK_INT(subjects(&fx, "xy.workflow.canceled.waiter"), 1);
    CHECK_INT(subjects(&fx, "sy.%"), 0);
    sched_fx_close(&fx);
}

TEST(the_prefix_comes_from_the_environment_as_serve_reads_it)
{
    sched_fx fx;
    sched_fx_open(&fx, "wf_cli_prefix_env");
    CHECK_INT(run(fx.conninfo, "SWITCHYARD_ENGINE_SUBJECT_PREFIX=ev",
                  "workflow start --type waiter --id w2"),
              0);
    CHECK_INT(subjects(&fx, "ev.task.created.qw"), 1);
    CHECK_INT(run(fx.conninfo, "", "workflow start --type waiter --id w3"), 0);
    CHECK_INT(subjects(&fx, "sy.task.created.qw"), 1); /* neither: the default */
    sched_fx_close(&fx);
}
