/* examples/worker.py (a worker in plain Python over a raw NATS socket)
 * against a real nats-server: it takes hand-published task.created
 * messages from its durable pull consumer, publishes started, heartbeat
 * and completed/failed reports, and acks only after them. */
#include "worker_helpers.h"

static pid_t spawn_py(wk_env *e, const char *max_tasks)
{
    const char *argv[] = {"python3",     fixture_source_path("examples/worker.py"),
                          "--nats",      fixture_nats_url(),
                          "--prefix",    e->prefix,
                          "--queue",     e->queue,
                          "--max-tasks", max_tasks,
                          "--no-claim",  NULL}; /* no engine here: worker_e2e has one */
    return wk_spawn_argv(e, argv);
}

TEST(example_worker_completes_a_task)
{
    wk_env e;
    wk_setup(&e, "wk_py");
    wk_publish_task(&e, "py-1", 3, "wf-py", "{\"n\":7}", NULL);
    pid_t py = spawn_py(&e, "1");
    cJSON *st = wk_next_report(&e, "task.started", 15000, NULL);
    CHECK_MSG(st != NULL, "worker.py sent no task.started");
    CHECK_STR(wk_str(st, "task_id", NULL), "py-1");
    CHECK_INT(wk_num(st, "attempt", NULL), 3);
    int beats = 0;
    cJSON *done = wk_next_report(&e, "task.completed", 15000, &beats);
    CHECK_MSG(done != NULL, "worker.py sent no task.completed");
    CHECK_INT(beats, 1);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(done, "result");
    CHECK_INT(wk_num(cJSON_GetObjectItemCaseSensitive(res, "echo"), "n", NULL), 7);
    CHECK_STR(wk_str(res, "by", NULL), "worker.py");
    CHECK_STR(wk_str(done, "workflow_id", NULL), "wf-py");
    CHECK_INT(wk_wait_exit(&e, py, 15000), 0);
    CHECK_MSG(wk_consumer_idle(&e, 5000), "worker.py did not ack the task");
    cJSON_Delete(st);
    cJSON_Delete(done);
    wk_teardown(&e);
}

TEST(example_worker_reports_a_non_retryable_failure)
{
    wk_env e;
    wk_setup(&e, "wk_pyfail");
    wk_publish_task(&e, "py-f", 1, "wf-pyf", "{\"fail\":\"bad_input\"}", NULL);
    pid_t py = spawn_py(&e, "1");
    cJSON *f = wk_next_report(&e, "task.failed", 15000, NULL);
    CHECK_MSG(f != NULL, "worker.py sent no task.failed");
    CHECK_STR(wk_str(f, "error", "type"), "bad_input");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f, "error"), "retryable")));
    CHECK_INT(wk_wait_exit(&e, py, 15000), 0);
    CHECK_MSG(wk_consumer_idle(&e, 5000), "worker.py did not ack the failed task");
    cJSON_Delete(f);
    wk_teardown(&e);
}
