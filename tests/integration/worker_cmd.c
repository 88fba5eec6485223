/* The reference worker (`switchyard worker`) against a real nats-server:
 * task.created messages are published by hand, shaped as the engine's
 * outcome envelope, and the reports the worker publishes are checked, as
 * well as the JetStream consumer's acks (docs/worker-protocol.md). */
#include "worker_helpers.h"

#include <sys/stat.h>

TEST(completes_with_json_result_input_and_env)
{
    wk_env e;
    wk_setup(&e, "wk_json");
    wk_spawn(&e, NULL,
             "in=$(cat); printf '{\"in\":%s,\"task\":\"%s\",\"attempt\":%s,\"wf\":\"%s\","
             "\"tp\":\"%s\"}' \"$in\" \"$SY_TASK_ID\" \"$SY_ATTEMPT\" \"$SY_WORKFLOW_ID\" "
             "\"$TRACEPARENT\"");
    wk_publish_task(&e, "task-1", 2, "wf-1", "{\"x\":42}", NULL);
    cJSON *st = wk_next_report(&e, "task.started", 10000, NULL);
    CHECK_MSG(st != NULL, "no task.started");
    CHECK_STR(wk_str(st, "task_id", NULL), "task-1");
    CHECK_INT(wk_num(st, "attempt", NULL), 2);
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "no task.completed");
    CHECK_STR(wk_str(done, "workflow_id", NULL), "wf-1");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(done, "result");
    CHECK_INT(wk_num(cJSON_GetObjectItemCaseSensitive(res, "in"), "x", NULL), 42);
    CHECK_STR(wk_str(res, "task", NULL), "task-1");
    CHECK_INT(wk_num(res, "attempt", NULL), 2);
    CHECK_STR(wk_str(res, "wf", NULL), "wf-1");
    const char *tp = wk_str(res, "tp", NULL);
    CHECK(tp && strncmp(tp, "00-" WK_TRACE "-", 36) == 0 && strlen(tp) == 55);
    CHECK_MSG(wk_consumer_idle(&e, 5000), "task message not acked after its report");
    cJSON_Delete(st);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(non_json_stdout_is_a_string_result)
{
    wk_env e;
    wk_setup(&e, "wk_str");
    wk_spawn(&e, NULL, "echo hello world");
    wk_publish_task(&e, "task-s", 1, "wf-s", NULL, NULL);
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "no task.completed");
    CHECK_STR(wk_str(done, "result", NULL), "hello world");
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(nonzero_exit_fails_retryable_with_stderr_tail)
{
    wk_env e;
    wk_setup(&e, "wk_fail");
    const char *opts[] = {"--non-retryable-exit-codes", "4,5", NULL};
    wk_spawn(&e, opts, "echo boom-on-stderr >&2; exit 3");
    wk_publish_task(&e, "task-f", 1, "wf-f", NULL, NULL);
    cJSON *f = wk_next_report(&e, "task.failed", 10000, NULL);
    CHECK_MSG(f != NULL, "no task.failed");
    CHECK_STR(wk_str(f, "error", "type"), "exit_code");
    CHECK_INT(wk_num(f, "error", "exit_code"), 3);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f, "error"), "retryable")));
    CHECK(strstr(wk_str(f, "error", "message"), "boom-on-stderr") != NULL);
    CHECK_MSG(wk_consumer_idle(&e, 5000), "failed task not acked");
    cJSON_Delete(f);
    wk_teardown(&e);
}

TEST(non_retryable_exit_code_is_reported_so)
{
    wk_env e;
    wk_setup(&e, "wk_nonretry");
    const char *opts[] = {"--non-retryable-exit-codes", "3,4", NULL};
    wk_spawn(&e, opts, "exit 4");
    wk_publish_task(&e, "task-n", 1, "wf-n", NULL, NULL);
    cJSON *f = wk_next_report(&e, "task.failed", 10000, NULL);
    CHECK_MSG(f != NULL, "no task.failed");
    CHECK_INT(wk_num(f, "error", "exit_code"), 4);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f, "error"), "retryable")));
    cJSON_Delete(f);
    wk_teardown(&e);
}

TEST(heartbeats_while_the_command_runs)
{
    wk_env e;
    wk_setup(&e, "wk_beat");
    const char *opts[] = {"--heartbeat", "200ms", NULL};
    wk_spawn(&e, opts, "sleep 1.5; echo 1");
    wk_publish_task(&e, "task-h", 1, "wf-h", NULL, NULL);
    int beats = 0;
    cJSON *done = wk_next_report(&e, "task.completed", 10000, &beats);
    CHECK_MSG(done != NULL, "no task.completed");
    CHECK_MSG(beats >= 3, "only %d heartbeats in 1.5 s at a 200 ms period", beats);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(timeout_kills_the_process_group)
{
    wk_env e;
    wk_setup(&e, "wk_timeout");
    char pidfile[256], cmd[512];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_wk_timeout_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; sleep 60", pidfile);
    const char *opts[] = {"--timeout", "1s", NULL};
    wk_spawn(&e, opts, cmd);
    wk_publish_task(&e, "task-t", 1, "wf-t", NULL, NULL);
    long bg = wk_read_pid(pidfile, 10000);
    CHECK_MSG(bg > 0, "the command did not start");
    cJSON *f = wk_next_report(&e, "task.failed", 10000, NULL);
    CHECK_MSG(f != NULL, "no task.failed after the timeout");
    CHECK_STR(wk_str(f, "error", "type"), "timeout");
    CHECK_MSG(wk_pid_gone((pid_t)bg, 3000), "background child of the command survived");
    unlink(pidfile);
    cJSON_Delete(f);
    wk_teardown(&e);
}

TEST(cancel_event_kills_the_running_command)
{
    wk_env e;
    wk_setup(&e, "wk_cancel");
    char pidfile[256], cmd[512];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_wk_cancel_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; wait", pidfile);
    wk_spawn(&e, NULL, cmd);
    wk_publish_task(&e, "task-c", 1, "wf-cancel", NULL, NULL);
    long bg = wk_read_pid(pidfile, 10000);
    CHECK_MSG(bg > 0, "the command did not start");
    wk_publish_raw(&e, "workflow.canceled.test",
                   "{\"type\":\"switchyard.workflow.canceled\",\"payload\":"
                   "{\"workflow_id\":\"wf-cancel\",\"workflow_type\":\"test\"}}");
    CHECK_MSG(wk_pid_gone((pid_t)bg, 5000), "the command survived the cancel");
    CHECK_MSG(wk_consumer_idle(&e, 5000), "canceled task not acked");
    cJSON *f = wk_next_report(&e, "task.completed", 500, NULL);
    CHECK_MSG(f == NULL, "a canceled task reported completion");
    unlink(pidfile);
    wk_teardown(&e);
}

TEST(killed_worker_task_is_redelivered_to_another)
{
    wk_env e;
    wk_setup(&e, "wk_sigkill");
    char pidfile[256], cmd[512];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_wk_sigkill_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "echo $$ > %s; sleep 60", pidfile);
    const char *opts[] = {"--ack-wait", "1s", NULL};
    pid_t a = wk_spawn(&e, opts, cmd);
    wk_publish_task(&e, "task-k", 1, "wf-k", NULL, NULL);
    cJSON *s1 = wk_next_report(&e, "task.started", 10000, NULL);
    CHECK_MSG(s1 != NULL, "first worker did not start the task");
    long child = wk_read_pid(pidfile, 5000);
    kill(a, SIGKILL);
    CHECK_INT(wk_wait_exit(&e, a, 5000), 128 + SIGKILL);
    if (child > 0)
        kill(-(pid_t)child, SIGKILL); /* the orphaned command, in its own group */
    wk_spawn(&e, opts, "echo second");
    cJSON *s2 = wk_next_report(&e, "task.started", 15000, NULL);
    CHECK_MSG(s2 != NULL, "the task was not redelivered");
    CHECK(strcmp(wk_str(s1, "worker", NULL), wk_str(s2, "worker", NULL)) != 0);
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "no completion after redelivery");
    CHECK_STR(wk_str(done, "result", NULL), "second");
    cJSON *again = wk_next_report(&e, "task.completed", 2500, NULL);
    CHECK_MSG(again == NULL, "the task completed twice");
    unlink(pidfile);
    cJSON_Delete(s1);
    cJSON_Delete(s2);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(sigterm_lets_the_running_task_finish)
{
    wk_env e;
    wk_setup(&e, "wk_term");
    const char *opts[] = {"--grace", "20s", NULL};
    pid_t w = wk_spawn(&e, opts, "sleep 1; echo finished");
    wk_publish_task(&e, "task-g", 1, "wf-g", NULL, NULL);
    cJSON *s = wk_next_report(&e, "task.started", 10000, NULL);
    CHECK_MSG(s != NULL, "no task.started");
    kill(w, SIGTERM);
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "the running task did not finish after SIGTERM");
    CHECK_STR(wk_str(done, "result", NULL), "finished");
    CHECK_INT(wk_wait_exit(&e, w, 10000), 0);
    CHECK_MSG(wk_consumer_idle(&e, 5000), "finished task not acked");
    cJSON_Delete(s);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(sigterm_after_grace_hands_the_task_back)
{
    wk_env e;
    wk_setup(&e, "wk_handback");
    const char *opts[] = {"--grace", "300ms", NULL};
    pid_t w = wk_spawn(&e, opts, "sleep 60");
    wk_publish_task(&e, "task-b", 1, "wf-b", NULL, NULL);
    cJSON *s = wk_next_report(&e, "task.started", 10000, NULL);
    CHECK_MSG(s != NULL, "no task.started");
    kill(w, SIGTERM);
    CHECK_INT(wk_wait_exit(&e, w, 10000), 0);
    CHECK_MSG(wk_next_report(&e, "task.failed", 300, NULL) == NULL, "a handed-back task failed");
    wk_spawn(&e, NULL, "echo again");
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "the handed-back task was not run again");
    CHECK_STR(wk_str(done, "result", NULL), "again");
    cJSON_Delete(s);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(unparseable_task_is_terminated_and_others_run)
{
    wk_env e;
    wk_setup(&e, "wk_bad");
    char subj[64];
    snprintf(subj, sizeof subj, "task.created.%s", e.queue);
    wk_publish_raw(&e, subj, "not json");
    wk_publish_raw(&e, subj, "{\"payload\":{\"attempt\":1}}");
    wk_publish_task(&e, "task-ok", 1, "wf-ok", NULL, NULL);
    wk_spawn(&e, NULL, "echo ok");
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "the good task did not run");
    CHECK_STR(wk_str(done, "task_id", NULL), "task-ok");
    CHECK_MSG(wk_consumer_idle(&e, 5000), "bad task messages left unacked");
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(concurrency_runs_tasks_in_parallel)
{
    wk_env e;
    wk_setup(&e, "wk_conc");
    char dir[128], cmd[512];
    snprintf(dir, sizeof dir, "/tmp/sy_wk_conc_%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(mkdir(dir, 0700), 0);
    /* a barrier: each command waits (up to 10 s) until all 4 have started,
     * which only happens when they run at the same time */
    snprintf(cmd, sizeof cmd,
             "touch %s/$SY_TASK_ID; i=0; while [ $(ls %s | wc -l) -lt 4 ] && [ $i -lt 100 ]; "
             "do sleep 0.1; i=$((i+1)); done; ls %s | wc -l",
             dir, dir, dir);
    const char *opts[] = {"--concurrency", "4", NULL};
    wk_spawn(&e, opts, cmd);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        wk_publish_task(&e, id, 1, id, NULL, NULL);
    }
    for (int i = 0; i < 4; i++) {
        cJSON *done = wk_next_report(&e, "task.completed", 20000, NULL);
        CHECK_MSG(done != NULL, "task %d of 4 did not complete", i);
        CHECK_INT(wk_num(done, "result", NULL), 4);
        cJSON_Delete(done);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
    wk_teardown(&e);
}

TEST(worker_started_before_the_stream_waits_for_it)
{
    wk_env e;
    wk_setup(&e, "wk_nostream");
    CHECK_INT(js_DeleteStream(e.js, e.stream, NULL, NULL), NATS_OK);
    pid_t w = wk_spawn(&e, NULL, "echo late");
    usleep(1500 * 1000);
    CHECK_MSG(kill(w, 0) == 0 && wk_wait_exit(&e, w, 0) < 0, "the worker exited without a stream");
    wk_create_stream(&e);
    wk_publish_task(&e, "task-late", 1, "wf-late", NULL, NULL);
    cJSON *done = wk_next_report(&e, "task.completed", 10000, NULL);
    CHECK_MSG(done != NULL, "the worker did not pick up the stream once it existed");
    CHECK_STR(wk_str(done, "result", NULL), "late");
    cJSON_Delete(done);
    wk_teardown(&e);
}
