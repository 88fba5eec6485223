/* Integration tests of the overlap policies: each schedule runs the
 * "waiter" workflow, which stays running until stopped, so the second slot
 * always finds the first one running. */
#include "schedule_support.h"

#define WAITER(policy) "\"cron\":\"* * * * *\",\"workflow\":\"waiter\",\"overlap\":\"" policy "\""
#define T0 at("2030-01-01 00:00:00")
#define SLOT(n) (T0 + (n)*60000)

TEST(skip_drops_a_slot_while_the_previous_runs)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_skip");
    sched_create(&fx, "s", WAITER("skip"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(2)), 0);
    CHECK_INT(sched_col(&fx, "s", "skipped_count"), 1);
    CHECK_INT(sched_int(&fx,
                        "SELECT count(*) FROM outbox_messages WHERE body::jsonb->>'type' = "
                        "'switchyard.schedule.skipped' AND body::jsonb->'payload'->>'reason' = "
                        "'overlap' AND body::jsonb->'payload'->>'workflow_id' = "
                        "'s:2030-01-01T00:02:00Z'",
                        NULL, NULL),
              1);
    sched_terminate(&fx, "s:2030-01-01T00:01:00Z");
    CHECK_INT(sched_run(&fx, SLOT(3)), 1); /* free again */
    CHECK_STR(sched_wf_status(&fx, "s:2030-01-01T00:03:00Z"), "running");
    sched_fx_close(&fx);
}

TEST(buffer_one_keeps_one_slot_and_runs_it_after)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_buf1");
    sched_create(&fx, "b", WAITER("buffer_one"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(2)), 0); /* buffered */
    CHECK_INT(sched_run(&fx, SLOT(3)), 0); /* buffer full: skipped */
    CHECK_INT(sched_col(&fx, "b", "jsonb_array_length(buffered)"), 1);
    CHECK_INT(sched_col(&fx, "b", "skipped_count"), 1);
    sched_terminate(&fx, "b:2030-01-01T00:01:00Z");
    CHECK_INT(sched_run(&fx, SLOT(3) + 1000), 1); /* the buffered 00:02 slot */
    CHECK_STR(sched_wf_status(&fx, "b:2030-01-01T00:02:00Z"), "running");
    CHECK_STR(sched_wf_status(&fx, "b:2030-01-01T00:03:00Z"), "");
    CHECK_INT(sched_col(&fx, "b", "jsonb_array_length(buffered)"), 0);
    sched_fx_close(&fx);
}

TEST(buffer_all_runs_every_slot_in_order)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_bufall");
    sched_create(&fx, "a", WAITER("buffer_all"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(3)), 0); /* 00:02 and 00:03 buffered */
    CHECK_INT(sched_col(&fx, "a", "jsonb_array_length(buffered)"), 2);
    sched_terminate(&fx, "a:2030-01-01T00:01:00Z");
    CHECK_INT(sched_run(&fx, SLOT(3) + 1000), 1);
    CHECK_STR(sched_wf_status(&fx, "a:2030-01-01T00:02:00Z"), "running");
    sched_terminate(&fx, "a:2030-01-01T00:02:00Z");
    CHECK_INT(sched_run(&fx, SLOT(3) + 2000), 1);
    CHECK_STR(sched_wf_status(&fx, "a:2030-01-01T00:03:00Z"), "running");
    CHECK_INT(sched_col(&fx, "a", "skipped_count"), 0);
    sched_fx_close(&fx);
}

TEST(cancel_other_cancels_the_previous_run)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_cancel");
    sched_create(&fx, "c", WAITER("cancel_other"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(2)), 1);
    CHECK_STR(sched_wf_status(&fx, "c:2030-01-01T00:01:00Z"), "canceled");
    CHECK_STR(sched_wf_status(&fx, "c:2030-01-01T00:02:00Z"), "running");
    sched_fx_close(&fx);
}

TEST(terminate_other_terminates_the_previous_run)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_term");
    sched_create(&fx, "t", WAITER("terminate_other"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(2)), 1);
    CHECK_STR(sched_wf_status(&fx, "t:2030-01-01T00:01:00Z"), "terminated");
    CHECK_STR(sched_wf_status(&fx, "t:2030-01-01T00:02:00Z"), "running");
    sched_fx_close(&fx);
}

TEST(allow_all_runs_them_side_by_side)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_allow");
    sched_create(&fx, "w", WAITER("allow_all"), T0);
    CHECK_INT(sched_run(&fx, SLOT(1)), 1);
    CHECK_INT(sched_run(&fx, SLOT(2)), 1);
    CHECK_STR(sched_wf_status(&fx, "w:2030-01-01T00:01:00Z"), "running");
    CHECK_STR(sched_wf_status(&fx, "w:2030-01-01T00:02:00Z"), "running");
    sched_fx_close(&fx);
}

TEST(catchup_of_several_slots_obeys_the_policy)
{
    sched_fx fx;
    sched_fx_open(&fx, "sched_ov_catchup");
    sched_create(&fx, "k", WAITER("skip"), T0);
    /* five slots due at once: the first starts, the other four overlap it */
    CHECK_INT(sched_run(&fx, SLOT(5)), 1);
    CHECK_INT(sched_col(&fx, "k", "skipped_count"), 4);
    CHECK_STR(sched_wf_status(&fx, "k:2030-01-01T00:01:00Z"), "running");
    sched_fx_close(&fx);
}
