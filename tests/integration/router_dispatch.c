/* A task queue's dispatch limit through two `switchyard serve` processes
 * against real servers (docs/flow-control.md, "Task dispatch"): one is
 * SIGKILLed mid-stream and restarted; every task created is held or in
 * flight, none lost and none twice, and no more than the limit are in
 * flight (ordering and finishes: engine_dispatch.c). */
#include "serve_support.h"

#define DISPATCH_RULES                                                                             \
    "version: 1\n"                                                                                 \
    "routes:\n"                                                                                    \
    "  - name: jobs\n"                                                                             \
    "    match: { type: job.d }\n"                                                                 \
    "    start: { workflow: wd, id: \"d-{{ payload.n }}\", input: { n: \"{{ payload.n }}\" } }\n"  \
    "workflows:\n"                                                                                 \
    "  wd:\n"                                                                                      \
    "    task_queue: dq\n"                                                                         \
    "    priority: \"{{ input.n }}\"\n"                                                            \
    "    steps:\n"                                                                                 \
    "      - task: t\n"                                                                            \
    "        max_in_flight: 3\n"

#define N 120

TEST(no_held_task_is_lost_or_released_twice_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "dispatch_serve2", DISPATCH_RULES, 2);
    char id[64];
    for (int k = 0; k < N; k++) {
        snprintf(id, sizeof id, "job-%d", k);
        publish(&fx, "job.d", id, k);
        if (k == N / 2)
            serve_kill(&fx, 0); /* mid-stream: batches are in flight */
    }
    serve_up(&fx, 0);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox", N, 30000), N);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.tasks"), N);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.dispatch_in_flight"), 3);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.dispatch_pending"), N - 3);
    /* each task once: held or in flight, never both */
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(DISTINCT task_id) FROM (SELECT task_id FROM"
                                    " switchyard.dispatch_pending UNION ALL SELECT task_id FROM"
                                    " switchyard.dispatch_in_flight) x"),
              N);
    serve_close(&fx);
}
