/* The router's pipeline against real servers: events start and signal
 * workflows; duplicates have one effect; invalid events are dead-lettered
 * with their reason in one delivery while valid ones in the same batch
 * proceed; a broken rules file on reload keeps the old set routing. */
#include "router_helpers.h"

#include "router.h"

static void publish_event(rt *t, const char *subj, const char *id, const char *type, int n)
{
    char body[512], subject[128];
    rh_event(body, sizeof body, id, type, n);
    snprintf(subject, sizeof subject, "%s", subj);
    rh_publish(&t->n, subject, body);
}

TEST(valid_events_start_and_signal_workflows)
{
    rt t = {0};
    rt_start(&t, "rt_valid");
    char id[64];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "created-%d", i);
        publish_event(&t, "rt.rt_valid.orders", id, "order.created", i);
    }
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.runs", 20, 20000), 20);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "paid-%d", i);
        publish_event(&t, "rt.rt_valid.orders", id, "order.paid", i);
    }
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.history_events WHERE type = 'workflow.signaled'",
                            20, 20000),
              20);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.inbox"), 40);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    CHECK(atomic_load(&router_get_metrics(t.r)->routed) == 40);
    /* each signal found its run's state in the engine's cache: the
     * engine's totals reach the router's metrics */
    CHECK_INT(atomic_load(&router_get_metrics(t.r)->engine[ENGINE_STAT_STATE_HITS]), 20);
    CHECK_INT(atomic_load(&router_get_metrics(t.r)->engine[ENGINE_STAT_STATE_MISSES]), 0);
    rt_stop(&t);
}

TEST(duplicates_have_one_effect)
{
    rt t = {0};
    rt_start(&t, "rt_dup");
    publish_event(&t, "rt.rt_dup.x", "c-1", "order.created", 1);
    publish_event(&t, "rt.rt_dup.x", "c-1", "order.created", 1);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    for (int i = 0; i < 3; i++) /* the same signal event three times */
        publish_event(&t, "rt.rt_dup.x", "p-1", "order.paid", 1);
    router_metrics *m = router_get_metrics(t.r);
    for (int i = 0; i < 200 && atomic_load(&m->acked) < 5; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(&m->acked), 5);
    CHECK_INT(atomic_load(&m->duplicates), 3);
    CHECK_INT(rh_count(t.conninfo,
                       "SELECT count(*) FROM switchyard.history_events WHERE type = 'workflow.signaled'"),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs"), 1);
    rt_stop(&t);
}

static jsConsumerInfo *consumer_info(rt *t)
{
    jsConsumerInfo *ci = NULL;
    CHECK_INT(js_GetConsumerInfo(&ci, t->n.js, t->cfg.stream_name, t->cfg.consumer_name, NULL,
                                 NULL),
              NATS_OK);
    return ci;
}

TEST(invalid_events_are_dead_lettered_once_while_valid_ones_proceed)
{
    rt t = {0};
    rt_start(&t, "rt_invalid");
    const char *subj = "rt.rt_invalid.mixed";
    publish_event(&t, subj, "ok-1", "order.created", 1);
    rh_publish(&t.n, subj, "{not json");
    rh_publish(&t.n, subj, "{\"event_id\":\"m-1\",\"type\":\"order.created\"}");
    publish_event(&t, subj, "bad-id-1", "kg.bad", 7);
    publish_event(&t, subj, "ok-2", "order.created", 2);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 3, 20000),
              3);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.runs", 2, 20000), 2);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                   "WHERE code = 'bad_json' AND stream_seq = 2 "
                                   "AND body = convert_to('{not json', 'UTF8')"),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                   "WHERE code = 'missing_field' AND stream_seq = 3"),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters "
                                   "WHERE event_id = 'bad-id-1' AND stream_seq = 4 "
                                   "AND subject = 'rt.rt_invalid.mixed'"),
              1);
    /* one delivery each: nothing redelivered, nothing left pending */
    jsConsumerInfo *ci = NULL;
    for (int i = 0; i < 100; i++) {
        jsConsumerInfo_Destroy(ci);
        ci = consumer_info(&t);
        if (ci->NumAckPending == 0)
            break;
        rh_sleep_ms(50);
    }
    CHECK_INT(ci->Delivered.Consumer, 5);
    CHECK_INT(ci->NumRedelivered, 0);
    CHECK_INT(ci->NumAckPending, 0);
    jsConsumerInfo_Destroy(ci);
    CHECK_INT(atomic_load(&router_get_metrics(t.r)->termed), 3);
    rt_stop(&t);
}

TEST(broken_rules_on_reload_keep_the_old_set)
{
    rt t = {0};
    rt_start(&t, "rt_reload");
    char before[80], after[80];
    router_rules_hash(t.r, before, sizeof before);
    FILE *f = fopen(t.rules, "w");
    CHECK(f != NULL);
    fputs("version: 1\nroutes:\n  - name: x\n    match: { type: [unclosed\n", f);
    fclose(f);
    sy_error err = {0};
    CHECK(router_reload(t.r, &err) != SY_OK);
    CHECK_MSG(strstr(err.message, t.rules) != NULL || strstr(err.path, t.rules) != NULL,
              "error names the file: %s / %s", err.path, err.message);
    router_rules_hash(t.r, after, sizeof after);
    CHECK_STR(after, before);
    CHECK_INT(atomic_load(&router_get_metrics(t.r)->reload_failures), 1);
    publish_event(&t, "rt.rt_reload.a", "after-reload-1", "order.created", 5);
    CHECK_INT(rh_wait_count(t.conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE workflow_id = 'order-5'",
                            1, 20000),
              1);
    rt_stop(&t);
}

TEST(signal_to_a_missing_workflow_is_dead_lettered_and_termed)
{
    rt t = {0};
    rt_start(&t, "rt_missing");
    publish_event(&t, "rt.rt_missing.a", "paid-nobody", "order.paid", 99);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs"), 0);
    router_metrics *m = router_get_metrics(t.r);
    for (int i = 0; i < 100 && atomic_load(&m->termed) < 1; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(&m->termed), 1);
    CHECK_INT(atomic_load(&m->acked), 0);
    rt_stop(&t);
}

/* A task step without a queue of its own runs on the queue its start asked
 * for (the route's task_queue, `workflow start --queue`), else on the
 * workflow's task_queue; a step's own queue wins over both. */
static const char queue_rules[] = "version: 1\n"
                                  "routes:\n"
                                  "  - name: plain\n"
                                  "    match: { type: job.plain }\n"
                                  "    start: { workflow: job, id: \"plain-{{ payload.n }}\" }\n"
                                  "  - name: fast\n"
                                  "    match: { type: job.fast }\n"
                                  "    start:\n"
                                  "      workflow: job\n"
                                  "      id: \"fast-{{ payload.n }}\"\n"
                                  "      task_queue: fast\n"
                                  "  - name: pinned\n"
                                  "    match: { type: job.pinned }\n"
                                  "    start:\n"
                                  "      workflow: pinned\n"
                                  "      id: \"pinned-{{ payload.n }}\"\n"
                                  "      task_queue: fast\n"
                                  "workflows:\n"
                                  "  job:\n"
                                  "    task_queue: slow\n"
                                  "    steps:\n"
                                  "      - task: work\n"
                                  "  pinned:\n"
                                  "    task_queue: slow\n"
                                  "    steps:\n"
                                  "      - task: work\n"
                                  "        queue: gpu\n";

static long task_on(rt *t, const char *wid, const char *queue)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM switchyard.tasks WHERE workflow_id = '%s' AND queue = '%s'", wid,
             queue);
    return rh_wait_count(t->conninfo, sql, 1, 20000);
}

TEST(a_start_queue_override_reaches_the_tasks)
{
    rt t = {0};
    rt_start_rules(&t, "rt_queue", queue_rules);
    publish_event(&t, "rt.rt_queue.a", "q-plain", "job.plain", 1);
    publish_event(&t, "rt.rt_queue.a", "q-fast", "job.fast", 1);
    publish_event(&t, "rt.rt_queue.a", "q-pinned", "job.pinned", 1);
    CHECK_INT(task_on(&t, "plain-1", "slow"), 1);
    CHECK_INT(task_on(&t, "fast-1", "fast"), 1);
    CHECK_INT(task_on(&t, "pinned-1", "gpu"), 1);
    /* `workflow start --queue` is the same override */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s workflow start --type job --id cli-1 --queue cliq --rules %s --db '%s' >/dev/null",
             fixture_switchyard_bin(), t.rules, t.conninfo);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(task_on(&t, "cli-1", "cliq"), 1);
    rt_stop(&t);
}
