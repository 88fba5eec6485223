/* End to end: workflows on a real engine whose tasks are run by real
 * `switchyard worker` processes (or examples/worker.py) over a real
 * nats-server, reports applied by the engine's report consumer, timeouts and
 * retries fired by the engine's timers (worker_engine.h). */
#include "worker_engine.h"

#define TASK(name, retry, timeouts)                                                                \
    "{\"type\":\"" name "\",\"task_queue\":\"q1\",\"steps\":[{\"kind\":\"task\",\"name\":\"run\"," \
    "\"task\":\"run\",\"queue\":\"q1\",\"input\":{\"x\":1},\"retry\":" retry                       \
    ",\"timeouts\":" timeouts ",\"continue_on_failure\":false}]}"
#define RETRY(max)                                                                                 \
    "{\"initial_interval_ms\":100,\"backoff\":1.0,\"maximum_interval_ms\":100,"                    \
    "\"maximum_attempts\":" #max ",\"non_retryable\":[\"bad_input\"]}"
#define TIMEOUTS(hb)                                                                               \
    "{\"schedule_to_start_ms\":0,\"start_to_close_ms\":60000,"                                     \
    "\"schedule_to_close_ms\":0,\"heartbeat_ms\":" #hb "}"

static const char DEFS[] = "{\"simple\":" TASK(
    "simple", RETRY(3),
    TIMEOUTS(
        0)) ","
            "\"beat\":" TASK(
                "beat", RETRY(3),
                TIMEOUTS(
                    1500)) ","
                           "\"beat1\":" TASK(
                               "beat1", RETRY(1),
                               TIMEOUTS(
                                   1000)) ","
                                          "\"retry5\":" TASK(
                                              "retry5", RETRY(5),
                                              TIMEOUTS(
                                                  0)) ","
                                                      "\"retry2\":" TASK(
                                                          "retry2", RETRY(2),
                                                          TIMEOUTS(
                                                              0)) ","
                                                                  "\"human\":{\"type\":\"human\","
                                                                  "\"task_queue\":\"q1\",\"steps\":"
                                                                  "[{\"kind\":\"human\","
                                                                  "\"name\":\"approve\",\"task\":"
                                                                  "\"approve\",\"input\":{},"
                                                                  "\"deadline_ms\":0,\"assignee\":"
                                                                  "null}]}}";

TEST(workflow_task_run_by_worker_command_completes)
{
    we_fx fx;
    we_open(&fx, "we_simple", DEFS);
    wk_spawn(&fx.wk, NULL, "cat");
    we_start(&fx, "simple", "wf-simple", NULL);
    CHECK_STR(we_wait_closed(&fx, "wf-simple", 20000), "completed");
    /* `cat` echoed the task input {"x":1} as its result */
    char *res =
        we_query(&fx, "SELECT result->>'x' FROM runs WHERE workflow_id = $1", "wf-simple", NULL);
    CHECK_STR(res, "1");
    free(res);
    CHECK_INT(we_history_count(&fx, "wf-simple", "task.completed"), 1);
    CHECK_INT(we_history_count(&fx, "wf-simple", "task.started"), 1);
    we_close(&fx);
}

TEST(sigkilled_worker_task_retried_elsewhere_completes_once)
{
    we_fx fx;
    we_open(&fx, "we_sigkill", DEFS);
    char pidfile[128], cmd[256];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_we_sigkill_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "echo $$ > %s; sleep 60", pidfile);
    const char *fast[] = {"--heartbeat", "300ms", NULL};
    pid_t a = wk_spawn(&fx.wk, fast, cmd);
    we_start(&fx, "beat", "wf-kill", NULL);
    CHECK_MSG(we_wait_task(&fx, "wf-kill", "started", 15000), "task never started");
    long child = wk_read_pid(pidfile, 5000);
    kill(a, SIGKILL);
    CHECK_INT(wk_wait_exit(&fx.wk, a, 5000), 128 + SIGKILL);
    if (child > 0)
        kill(-(pid_t)child, SIGKILL);
    wk_spawn(&fx.wk, fast, "echo \"done-$SY_ATTEMPT\"");
    CHECK_STR(we_wait_closed(&fx, "wf-kill", 30000), "completed");
    char *res =
        we_query(&fx, "SELECT result #>> '{}' FROM runs WHERE workflow_id = $1", "wf-kill", NULL);
    CHECK_STR(res, "done-2");
    free(res);
    CHECK_INT(we_history_count(&fx, "wf-kill", "task.timed_out"), 1);
    CHECK_INT(we_history_count(&fx, "wf-kill", "task.completed"), 1);
    unlink(pidfile);
    we_close(&fx);
}

TEST(heartbeat_timeout_fails_the_attempt)
{
    we_fx fx;
    we_open(&fx, "we_hbtimeout", DEFS);
    char pidfile[128], cmd[256];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_we_hb_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "echo $$ > %s; sleep 20", pidfile);
    pid_t w = wk_spawn(&fx.wk, NULL, cmd);
    we_start(&fx, "beat1", "wf-hb", NULL);
    CHECK_MSG(we_wait_task(&fx, "wf-hb", "started", 15000), "task never started");
    /* a hung worker: alive, holding the task, sending nothing */
    kill(w, SIGSTOP);
    CHECK_STR(we_wait_closed(&fx, "wf-hb", 15000), "failed");
    CHECK_INT(we_history_count(&fx, "wf-hb", "task.timed_out"), 1);
    CHECK_INT(we_history_count(&fx, "wf-hb", "task.completed"), 0);
    long child = wk_read_pid(pidfile, 1000);
    if (child > 0)
        kill(-(pid_t)child, SIGKILL);
    kill(w, SIGKILL);
    kill(w, SIGCONT);
    unlink(pidfile);
    we_close(&fx);
}

TEST(non_retryable_exit_code_fails_without_retry)
{
    we_fx fx;
    we_open(&fx, "we_nonretry", DEFS);
    const char *opts[] = {"--non-retryable-exit-codes", "3", NULL};
    wk_spawn(&fx.wk, opts, "echo nope >&2; exit 3");
    we_start(&fx, "retry5", "wf-nr", NULL);
    CHECK_STR(we_wait_closed(&fx, "wf-nr", 20000), "failed");
    CHECK_INT(we_history_count(&fx, "wf-nr", "task.failed"), 1);
    CHECK_INT(we_count(&fx, "SELECT max(attempt) FROM tasks WHERE workflow_id = $1", "wf-nr", NULL),
              1);
    we_close(&fx);
}

TEST(retries_exhausted_fail_the_workflow)
{
    we_fx fx;
    we_open(&fx, "we_exhaust", DEFS);
    wk_spawn(&fx.wk, NULL, "exit 1");
    we_start(&fx, "retry2", "wf-ex", NULL);
    CHECK_STR(we_wait_closed(&fx, "wf-ex", 20000), "failed");
    CHECK_INT(we_history_count(&fx, "wf-ex", "task.failed"), 2);
    CHECK_INT(we_count(&fx, "SELECT max(attempt) FROM tasks WHERE workflow_id = $1", "wf-ex", NULL),
              2);
    we_close(&fx);
}

static int run_cli(const char *const *argv)
{
    pid_t pid = 0;
    CHECK_INT(posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ), 0);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(human_task_completed_from_the_cli)
{
    we_fx fx;
    we_open(&fx, "we_human", DEFS);
    we_start(&fx, "human", "wf-human", NULL);
    char *task_id =
        we_query(&fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", "wf-human", NULL);
    CHECK(task_id != NULL);
    const char *argv[] = {fixture_switchyard_bin(), "task", "complete",  task_id, "--result",
                          "{\"approved\":true}",    "--db", fx.conninfo, NULL};
    CHECK_INT(run_cli(argv), 0);
    CHECK_STR(we_wait_closed(&fx, "wf-human", 10000), "completed");
    char *res = we_query(&fx, "SELECT result->>'approved' FROM runs WHERE workflow_id = $1",
                         "wf-human", NULL);
    CHECK_STR(res, "true");
    /* a second completion is refused, not applied */
    CHECK_INT(run_cli(argv), 1);
    free(res);
    free(task_id);
    /* and one rejected by a person fails its workflow */
    we_start(&fx, "human", "wf-human-no", NULL);
    task_id =
        we_query(&fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", "wf-human-no", NULL);
    CHECK(task_id != NULL);
    const char *fail[] = {fixture_switchyard_bin(),
                          "task",
                          "fail",
                          task_id,
                          "--error-type",
                          "rejected",
                          "--message",
                          "not this time",
                          "--db",
                          fx.conninfo,
                          NULL};
    CHECK_INT(run_cli(fail), 0);
    CHECK_STR(we_wait_closed(&fx, "wf-human-no", 10000), "failed");
    res = we_query(&fx, "SELECT error->>'type' FROM runs WHERE workflow_id = $1", "wf-human-no",
                   NULL);
    CHECK_STR(res, "rejected");
    free(res);
    free(task_id);
    we_close(&fx);
}

TEST(canceling_the_workflow_kills_its_running_command)
{
    we_fx fx;
    we_open(&fx, "we_cancel", DEFS);
    char pidfile[128], cmd[256];
    snprintf(pidfile, sizeof pidfile, "/tmp/sy_we_cancel_%d.pid", (int)getpid());
    unlink(pidfile);
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; wait", pidfile);
    wk_spawn(&fx.wk, NULL, cmd);
    we_start(&fx, "simple", "wf-cancel", NULL);
    long bg = wk_read_pid(pidfile, 15000);
    CHECK_MSG(bg > 0, "the command did not start");
    /* cancel once task.started is applied: a cancel racing it hits an engine
     * bug (stale runs.next_seq after the row lock, see the report) */
    CHECK_MSG(we_wait_task(&fx, "wf-cancel", "started", 10000), "task.started not applied");
    sy_error err;
    sy_error_clear(&err);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    CHECK_MSG(engine_cancel(fx.s, "wf-cancel", "test", NULL, &err) == SY_OK, "cancel: %s",
              err.message);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    CHECK_MSG(wk_pid_gone((pid_t)bg, 10000), "the command survived the cancel");
    CHECK_STR(we_wait_closed(&fx, "wf-cancel", 10000), "canceled");
    unlink(pidfile);
    we_close(&fx);
}

/* Queues the tasks of wf-canceled and wf-terminated while no worker runs,
 * closes both workflows, then starts wf-open. */
static void queue_tasks_of_closed_workflows(we_fx *fx)
{
    we_start(fx, "simple", "wf-canceled", NULL);
    we_start(fx, "simple", "wf-terminated", NULL);
    for (int i = 0; i < 100 && we_count(fx, "SELECT count(*) FROM outbox", NULL, NULL) > 0; i++)
        usleep(100 * 1000); /* their task.created are in the stream */
    sy_error err;
    sy_error_clear(&err);
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_cancel(fx->s, "wf-canceled", "test", NULL, &err) == SY_OK, "cancel: %s",
              err.message);
    CHECK_MSG(engine_terminate(fx->s, "wf-terminated", "test", NULL, &err) == SY_OK,
              "terminate: %s", err.message);
    CHECK_INT(engine_commit(fx->s, &err), SY_OK);
    CHECK_STR(we_wait_closed(fx, "wf-canceled", 10000), "canceled");
    CHECK_STR(we_wait_closed(fx, "wf-terminated", 10000), "terminated");
    we_start(fx, "simple", "wf-open", NULL);
}

/* A task queued while no worker runs, whose workflow is canceled (or
 * terminated) meanwhile, is never started by a worker that comes later:
 * the engine answers its task.started "closed" (the claim check), and the
 * worker acks the message without running the command. A task of a running
 * workflow on the same queue runs. */
TEST(tasks_of_closed_workflows_are_never_started)
{
    we_fx fx;
    we_open(&fx, "we_closed", DEFS);
    char log[128], cmd[256];
    snprintf(log, sizeof log, "/tmp/sy_we_closed_%d.log", (int)getpid());
    unlink(log);
    snprintf(cmd, sizeof cmd, "echo \"$SY_WORKFLOW_ID\" >> %s", log);
    queue_tasks_of_closed_workflows(&fx);
    wk_spawn(&fx.wk, NULL, cmd);
    CHECK_STR(we_wait_closed(&fx, "wf-open", 15000), "completed");
    CHECK_MSG(wk_consumer_idle(&fx.wk, 10000), "a task message was left unacked");
    FILE *f = fopen(log, "r");
    char ran[512] = "";
    size_t n = f ? fread(ran, 1, sizeof ran - 1, f) : 0;
    ran[n] = '\0';
    if (f)
        fclose(f);
    CHECK_STR(ran, "wf-open\n");
    unlink(log);
    we_close(&fx);
}

TEST(example_python_worker_completes_a_workflow_task)
{
    we_fx fx;
    we_open(&fx, "we_python", DEFS);
    const char *argv[] = {"python3",     fixture_source_path("examples/worker.py"),
                          "--nats",      fixture_nats_url(),
                          "--prefix",    fx.wk.prefix,
                          "--queue",     "q1",
                          "--max-tasks", "1",
                          NULL};
    pid_t py = wk_spawn_argv(&fx.wk, argv);
    we_start(&fx, "simple", "wf-py", NULL);
    CHECK_STR(we_wait_closed(&fx, "wf-py", 20000), "completed");
    char *res =
        we_query(&fx, "SELECT result->>'by' FROM runs WHERE workflow_id = $1", "wf-py", NULL);
    CHECK_STR(res, "worker.py");
    free(res);
    CHECK_INT(wk_wait_exit(&fx.wk, py, 10000), 0);
    we_close(&fx);
}

/* examples/worker.py makes the claim check too (docs/worker-protocol.md):
 * the tasks of a canceled and a terminated workflow, queued before it
 * started, are acked without running (it ran them and reported
 * task.completed before), the open one runs. */
TEST(example_python_worker_never_starts_a_task_of_a_closed_workflow)
{
    we_fx fx;
    we_open(&fx, "we_pyclosed", DEFS);
    queue_tasks_of_closed_workflows(&fx);
    const char *argv[] = {"python3",     fixture_source_path("examples/worker.py"),
                          "--nats",      fixture_nats_url(),
                          "--prefix",    fx.wk.prefix,
                          "--queue",     "q1",
                          "--max-tasks", "3",
                          NULL};
    pid_t py = wk_spawn_argv(&fx.wk, argv);
    CHECK_STR(we_wait_closed(&fx, "wf-open", 20000), "completed");
    CHECK_INT(wk_wait_exit(&fx.wk, py, 15000), 0);
    CHECK_MSG(wk_consumer_idle(&fx.wk, 10000), "a task message was left unacked");
    /* the reports it sent: one task.completed, wf-open's */
    int completed = 0;
    cJSON *r = NULL;
    while ((r = wk_next_report(&fx.wk, "task.completed", 1000, NULL)) != NULL) {
        completed++;
        CHECK_STR(wk_str(r, "workflow_id", NULL), "wf-open");
        cJSON_Delete(r);
    }
    CHECK_INT(completed, 1);
    we_close(&fx);
}

static void publish_report(we_fx *fx, const char *body)
{
    char subj[128];
    snprintf(subj, sizeof subj, "%s.report.q1", fx->wk.prefix);
    jsPubAck *pa = NULL;
    CHECK_INT(js_Publish(&pa, fx->wk.js, subj, body, (int)strlen(body), NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
}

static bool wait_stats(we_fx *fx, uint64_t applied, uint64_t ignored, uint64_t invalid)
{
    for (int waited = 0; waited <= 10000; waited += 50) {
        engine_reports_stats st = engine_reports_get_stats(fx->rep);
        if (st.applied == applied && st.ignored == ignored && st.invalid == invalid)
            return true;
        usleep(50 * 1000);
    }
    engine_reports_stats st = engine_reports_get_stats(fx->rep);
    fprintf(stderr, "stats: applied %llu ignored %llu invalid %llu\n",
            (unsigned long long)st.applied, (unsigned long long)st.ignored,
            (unsigned long long)st.invalid);
    return false;
}

TEST(stale_unknown_and_invalid_reports_are_counted_not_applied)
{
    we_fx fx;
    we_open(&fx, "we_stale", DEFS);
    we_start(&fx, "simple", "wf-stale", NULL);
    char *task_id =
        we_query(&fx, "SELECT task_id FROM tasks WHERE workflow_id = $1", "wf-stale", NULL);
    CHECK(task_id != NULL);
    char body[512];
    publish_report(&fx, "not json");
    publish_report(&fx, "{\"type\":\"task.completed\",\"task_id\":\"x\",\"attempt\":1,\"oops\":1}");
    publish_report(&fx, "{\"type\":\"task.completed\",\"task_id\":\"no-such-task\",\"attempt\":1}");
    snprintf(body, sizeof body,
             "{\"type\":\"task.completed\",\"task_id\":\"%s\",\"attempt\":7,\"result\":1}",
             task_id);
    publish_report(&fx, body);
    CHECK_MSG(wait_stats(&fx, 0, 2, 2), "2 invalid and 2 ignored reports expected");
    char *status =
        we_query(&fx, "SELECT status FROM workflow_ids WHERE workflow_id = $1", "wf-stale", NULL);
    CHECK_STR(status, "running");
    free(status);
    snprintf(body, sizeof body,
             "{\"type\":\"task.completed\",\"task_id\":\"%s\",\"attempt\":1,\"result\":2}",
             task_id);
    publish_report(&fx, body);
    CHECK_STR(we_wait_closed(&fx, "wf-stale", 10000), "completed");
    /* the same completion again (a re-sent report): ignored, not applied twice */
    publish_report(&fx, body);
    CHECK_MSG(wait_stats(&fx, 1, 3, 2), "a duplicate completion must be ignored");
    CHECK_INT(we_history_count(&fx, "wf-stale", "task.completed"), 1);
    free(task_id);
    we_close(&fx);
}
