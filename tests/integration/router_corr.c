/* Correlation through `switchyard serve` processes against real servers
 * (docs/flow-control.md, "Correlation"): two serve processes share the
 * stream, one is SIGKILLed mid-stream and restarted; every wait_event step
 * is resumed exactly once by its own payment, also when the payment came
 * before the wait (lookback, the timer loop's scan after a restart),
 * cancel_on cancels exactly the correlated runs, events with no route but
 * a correlated type are neither unmatched nor dead letters, and what was
 * correlated shows in /metrics (describe: engine_corr.c). */
#include "serve_support.h"

#define CORR_RULES                                                                                 \
    "version: 1\n"                                                                                 \
    "defaults: { unmatched: dead_letter }\n"                                                       \
    "routes:\n"                                                                                    \
    "  - name: orders\n"                                                                           \
    "    match: { type: order.placed }\n"                                                          \
    "    start: { workflow: pay, id: \"p-{{ payload.n }}\", input: { n: \"{{ payload.n }}\" } }\n" \
    "workflows:\n"                                                                                 \
    "  pay:\n"                                                                                     \
    "    cancel_on:\n"                                                                             \
    "      - { type: order.canceled, where: event.payload.n == input.n }\n"                        \
    "    steps:\n"                                                                                 \
    "      - wait_event: payment.received\n"                                                       \
    "        name: payment\n"                                                                      \
    "        where: event.payload.n == input.n\n"                                                  \
    "        lookback: 1h\n"                                                                       \
    "        timeout: 1h\n"                                                                        \
    "      - complete: { paid: \"{{ steps.payment.result.n }}\" }\n"

#define N 120

TEST(waits_and_cancels_are_exactly_once_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "corr_serve2", CORR_RULES, 2);
    char id[64];
    int events = 0;
    for (int k = 0; k < N; k++) {
        /* even: paid, half of them before the order (lookback); odd: a
         * third of them canceled */
        if (k % 4 == 0) {
            snprintf(id, sizeof id, "pay-%d", k);
            publish(&fx, "payment.received", id, k);
            events++;
        }
        snprintf(id, sizeof id, "order-%d", k);
        publish(&fx, "order.placed", id, k);
        events++;
        if (k % 4 == 2) {
            snprintf(id, sizeof id, "pay-%d", k);
            publish(&fx, "payment.received", id, k);
            events++;
        }
        if (k % 2 == 1 && k % 3 == 0) {
            snprintf(id, sizeof id, "cancel-%d", k);
            publish(&fx, "order.canceled", id, k);
            events++;
        }
        if (k == N / 2)
            serve_kill(&fx, 0); /* mid-stream: batches and scans are in flight */
    }
    serve_up(&fx, 0);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox", events, 30000),
              events);
    int paid = N / 2, canceled = 0;
    for (int k = 1; k < N; k += 2)
        canceled += k % 3 == 0;
    CHECK_INT(
        rh_wait_count(fx.conninfo,
                      "SELECT count(*) FROM switchyard.workflow_ids WHERE status = 'completed'",
                      paid, 30000),
        paid);
    CHECK_INT(
        rh_wait_count(fx.conninfo,
                      "SELECT count(*) FROM switchyard.workflow_ids WHERE status = 'canceled'",
                      canceled, 30000),
        canceled);
    rh_sleep_ms(1000); /* redeliveries or a second scan would double something now */
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), N);
    CHECK_INT(
        rh_count(fx.conninfo,
                 "SELECT count(*) FROM switchyard.history_events WHERE type = 'event.received'"),
        paid);
    /* each run took its own payment */
    CHECK_INT(rh_count(fx.conninfo,
                       "SELECT count(*) FROM switchyard.runs WHERE status = 'completed'"
                       " AND result->>'paid' <> input->>'n'"),
              0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs WHERE status = 'canceled'"
                                    " AND (input->>'n')::int % 2 = 0"),
              0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.workflow_ids"
                                    " WHERE status = 'running'"),
              N - paid - canceled);
    /* what is left waiting is what the running runs wait for */
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.event_subs"),
              2 * (N - paid - canceled));
    serve_close(&fx);
}

TEST(what_was_correlated_shows_in_metrics)
{
    serve_fx fx;
    serve_open(&fx, "corr_metrics", CORR_RULES, 1);
    publish(&fx, "order.placed", "o1", 1);
    publish(&fx, "order.placed", "o2", 2);
    publish(&fx, "order.placed", "o3", 3);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.event_subs", 6, 20000),
              6);
    publish(&fx, "payment.received", "m1", 1);
    publish(&fx, "order.canceled", "c2", 2);
    publish(&fx, "order.canceled", "c9", 9); /* correlates with no run: acked, nothing else */
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.inbox", 6, 20000), 6);
    long waits = -1;
    for (int i = 0; i < 100 && waits != 1; i++, rh_sleep_ms(50))
        waits = metric(&fx, 0, "switchyard_flow_correlated_total{kind=\"wait_event\"} ");
    CHECK_INT(waits, 1);
    CHECK_INT(metric(&fx, 0, "switchyard_flow_correlated_total{kind=\"cancel_on\"} "), 1);
    CHECK_INT(metric(&fx, 0, "switchyard_events_unmatched_total "), 0);
    serve_close(&fx);
}

#define JOIN_RULES                                                                                 \
    "version: 1\n"                                                                                 \
    "defaults: { unmatched: dead_letter }\n"                                                       \
    "routes:\n"                                                                                    \
    "  - name: ship\n"                                                                             \
    "    join:\n"                                                                                  \
    "      key: \"{{ payload.n }}\"\n"                                                             \
    "      events: { paid: { type: j.paid }, packed: { type: j.packed } }\n"                       \
    "      window: 1h\n"                                                                           \
    "    start: { workflow: w, id: \"ship-{{ key }}\", input: { n: \"{{ key }}\" } }\n"           \
    "workflows:\n"                                                                                 \
    "  w:\n"                                                                                       \
    "    steps:\n"                                                                                 \
    "      - wait: never\n"

TEST(each_join_starts_once_across_two_serves_and_a_sigkill)
{
    serve_fx fx;
    serve_open(&fx, "corr_join2", JOIN_RULES, 2);
    char id[64];
    for (int k = 0; k < N; k++) {
        snprintf(id, sizeof id, "paid-%d", k);
        publish(&fx, "j.paid", id, k);
        if (k == N / 2)
            serve_kill(&fx, 0);
    }
    for (int k = 0; k < N; k++) {
        snprintf(id, sizeof id, "packed-%d", k);
        publish(&fx, "j.packed", id, k);
        if (k % 3 == 0) { /* a repeat of a part changes nothing */
            snprintf(id, sizeof id, "paid-again-%d", k);
            publish(&fx, "j.paid", id, k);
        }
    }
    serve_up(&fx, 0);
    CHECK_INT(rh_wait_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs", N, 30000), N);
    rh_sleep_ms(1000);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"), N);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.runs"
                                    " WHERE workflow_id <> 'ship-' || (input->>'n')"),
              0);
    /* a repeat of a part that came after its join started opened one of
     * its own, waiting (one that came before replaced the first: the two
     * processes decide which) */
    CHECK(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.join_keys") <= N / 3);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.join_keys j,"
                                    " json_object_keys(j.events) k WHERE k <> 'paid'"),
              0);
    CHECK_INT(rh_count(fx.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 0);
    CHECK_INT(metric(&fx, 0, "switchyard_events_unmatched_total "), 0);
    serve_close(&fx);
}
