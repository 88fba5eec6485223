/* The web UI in real headless Chromium (tests/browser/ui_browser.py,
 * driven over the DevTools protocol) against `switchyard serve` with real
 * workflows: reviews waiting for a signal, orders with a task a worker
 * reported on, a schedule, two dead letters (one replayable), an event no
 * route matches, and a payload holding markup. Screenshots go to
 * $SY_UI_SHOTS when set (docs/ui/ is made that way), else to a temporary
 * folder. */
#include "ui_helpers.h"

static const char rules[] =
    "version: 1\n"
    "routes:\n"
    "  - name: start-review\n"
    "    match: { type: review.requested }\n"
    "    start:\n"
    "      workflow: review\n"
    "      id: \"review-{{ payload.n }}\"\n"
    "      input: { n: \"{{ payload.n }}\", note: \"{{ payload.note }}\" }\n"
    "  - name: start-order\n"
    "    match: { type: order.created }\n"
    "    start: { workflow: order, id: \"order-{{ payload.n }}\", input: { n: \"{{ payload.n }}\" "
    "} }\n"
    "  - name: pay-order\n"
    "    match: { type: order.paid }\n"
    "    signal: { id: \"order-{{ payload.n }}\", name: paid, payload: \"{{ payload }}\", "
    "if_missing: dead_letter }\n"
    "workflows:\n"
    "  review:\n"
    "    task_queue: reviews\n"
    "    steps:\n"
    "      - wait: approve\n"
    "        timeout: 7d\n"
    "  order:\n"
    "    task_queue: orders\n"
    "    steps:\n"
    "      - wait: paid\n"
    "        timeout: 1d\n"
    "      - task: ship\n"
    "        retry: { initial_interval: 1h }\n"
    "schedules:\n"
    "  - id: nightly\n"
    "    cron: \"0 3 * * *\"\n"
    "    workflow: review\n";

TEST(every_page_in_headless_chromium)
{
    ui_srv s;
    ui_start(&s, "browser", rules, false, NULL);
    char id[32], payload[256];
    for (int i = 1; i <= 6; i++) {
        snprintf(id, sizeof id, "rv-%d", i);
        snprintf(payload, sizeof payload, "{\"n\":%d,\"note\":\"%s\"}", i,
                 i == 1 ? "<img src=x onerror=alert(1)><script>window.__pwned=1</script>"
                        : "please look");
        ui_publish(&s, id, "review.requested", payload);
    }
    for (int i = 1; i <= 3; i++) {
        snprintf(id, sizeof id, "or-%d", i);
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        ui_publish(&s, id, "order.created", payload);
    }
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.runs", 9, 20000), 9);
    ui_publish(&s, "pay-1", "order.paid", "{\"n\":1}");
    ui_publish(&s, "pay-9", "order.paid", "{\"n\":9}"); /* no order-9 yet: a dead letter */
    rh_publish(&s.n, s.subject, "{bad");
    ui_publish(&s, "noise-1", "nobody.listens", "{}");
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 2, 20000),
              2);
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);
    /* a worker took order-1's task: the queue shows it */
    char task_id[128], report[512];
    PGconn *c = PQconnectdb(s.conninfo);
    PGresult *r = PQexec(c, "SELECT task_id FROM switchyard.tasks LIMIT 1");
    CHECK(PQntuples(r) == 1);
    snprintf(task_id, sizeof task_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    snprintf(
        report, sizeof report,
        "{\"type\":\"task.started\",\"task_id\":\"%s\",\"attempt\":1,\"worker\":\"host-a:4242\"}",
        task_id);
    rh_publish(&s.n, "ubrowser.report.orders", report);
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.workers", 1, 20000), 1);
    /* a replay while order-9 is still missing fails again: the same dead
     * letter, failures 2, pending again (the page shows both) */
    char path[96];
    long dl =
        rh_count(s.conninfo, "SELECT id FROM switchyard.dead_letters WHERE event_id = 'pay-9'");
    snprintf(path, sizeof path, "/api/v1/dead-letters/%ld/replay", dl);
    CHECK_INT(ui_call(&s, "POST", path, UI_TOKEN, NULL, NULL), 200);
    CHECK_INT(rh_wait_count(s.conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters WHERE event_id = "
                            "'pay-9' AND failures = 2 AND replayed_at IS NULL",
                            1, 20000),
              1);
    ui_publish(&s, "or-9", "order.created", "{\"n\":9}"); /* now the dead letter can be replayed */
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.runs", 10, 20000), 10);

    const char *shots = getenv("SY_UI_SHOTS");
    char tmp[] = "/tmp/sy-ui-shots-XXXXXX";
    if (!shots || !*shots)
        shots = mkdtemp(tmp);
    char base[64], cmd[2048];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    snprintf(cmd, sizeof cmd,
             "python3 %s --base %s --token %s --nats %s --subject %s --shots %s 2>&1",
             fixture_source_path("tests/browser/ui_browser.py"), base, UI_TOKEN, fixture_nats_url(),
             s.subject, shots);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "the browser test failed (%d); screenshots in %s", rc, shots);
    if (shots == tmp) { /* passed: the temporary pictures are not needed */
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    ui_stop(&s);
}
