/* The HTTP API (docs/http-api.md) against `switchyard serve` on real
 * servers: lists, filters and the query box, keyset pages that stay stable
 * while runs are inserted, counts, detail and history, the admin token on
 * every mutation, the read token, validation errors that name the field,
 * body limits, escaping and the security headers, dead letters and their
 * replay, schedules, task queues and the recent events. */
#include "ui_helpers.h"

#include <poll.h>
#include <pthread.h>

static const char rules_with_schedule[] =
    "version: 1\n"
    "routes:\n"
    "  - name: start-order\n"
    "    match: { type: order.created }\n"
    "    start:\n"
    "      workflow: order\n"
    "      id: \"order-{{ payload.n }}\"\n"
    "      input: { n: \"{{ payload.n }}\", note: \"{{ payload.note }}\" }\n"
    "  - name: pay-order\n"
    "    match: { type: order.paid }\n"
    "    signal:\n"
    "      id: \"order-{{ payload.n }}\"\n"
    "      name: paid\n"
    "      payload: \"{{ payload }}\"\n"
    "      if_missing: dead_letter\n"
    "workflows:\n"
    "  order:\n"
    "    task_queue: orders\n"
    "    steps:\n"
    "      - wait: paid\n"
    "        timeout: 1d\n"
    "      - task: ship\n"
    "schedules:\n"
    "  - id: nightly\n"
    "    cron: \"0 3 * * *\"\n"
    "    workflow: order\n";

static void publish_orders(ui_srv *s, int from, int to)
{
    char id[32], payload[64];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof id, "ev-%d", i);
        snprintf(payload, sizeof payload, "{\"n\":%d,\"note\":\"x\"}", i);
        ui_publish(s, id, "order.created", payload);
    }
}

static void wait_runs(ui_srv *s, long n)
{
    CHECK_INT(rh_wait_count(s->conninfo, "SELECT count(*) FROM switchyard.runs", n, 20000), n);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

TEST(list_pages_are_stable_while_runs_are_inserted_and_filters_are_validated)
{
    ui_srv s;
    ui_start(&s, "pages", rules_with_schedule, false, NULL);
    publish_orders(&s, 0, 30);
    wait_runs(&s, 30);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows?limit=10", NULL, NULL, &j), 200);
    const cJSON *wf = get(j, "workflows");
    CHECK_INT(cJSON_GetArraySize(wf), 10);
    char seen[40][32];
    int nseen = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, wf) snprintf(seen[nseen++], 32, "%s", get(w, "workflow_id")->valuestring);
    char token[128];
    snprintf(token, sizeof token, "%s", get(j, "next_page_token")->valuestring);
    cJSON_Delete(j);
    /* newer runs arrive between pages: they are above the first page, so
     * the next pages neither repeat nor skip any of the 30 */
    publish_orders(&s, 30, 45);
    wait_runs(&s, 45);
    while (*token) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/workflows?limit=10&page_token=%s", token);
        CHECK_INT(ui_call(&s, "GET", path, NULL, NULL, &j), 200);
        cJSON_ArrayForEach(w, get(j, "workflows"))
        {
            CHECK(nseen < 40);
            snprintf(seen[nseen++], 32, "%s", get(w, "workflow_id")->valuestring);
        }
        const cJSON *t = get(j, "next_page_token");
        snprintf(token, sizeof token, "%s", cJSON_IsString(t) ? t->valuestring : "");
        cJSON_Delete(j);
    }
    CHECK_INT(nseen, 30);
    for (int i = 0; i < 30; i++) {
        char want[32];
        snprintf(want, sizeof want, "order-%d", i);
        int hits = 0;
        for (int k = 0; k < nseen; k++)
            hits += strcmp(seen[k], want) == 0;
        CHECK_MSG(hits == 1, "%s seen %d times", want, hits);
    }

    /* filters, the query box, counts */
    CHECK_INT(
        ui_call(
            &s, "GET",
            "/api/v1/workflows?q=status%20%3D%20running%20AND%20id%20%5E%3D%20order-4&limit=100",
            NULL, NULL, &j),
        200);
    CHECK_INT(cJSON_GetArraySize(get(j, "workflows")), 6); /* order-4, order-40..44 */
    cJSON_Delete(j);
    CHECK_INT(
        ui_call(&s, "GET", "/api/v1/workflows?queue=orders&type=order&limit=5", NULL, NULL, &j),
        200);
    CHECK_INT(cJSON_GetArraySize(get(j, "workflows")), 5);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/counts", NULL, NULL, &j), 200);
    CHECK_INT((int)get(get(j, "counts"), "running")->valuedouble, 45);
    CHECK(cJSON_IsFalse(get(j, "bounded")));
    cJSON_Delete(j);

    struct {
        const char *path, *field;
    } bad[] = {
        {"/api/v1/workflows?status=nope", "status"},
        {"/api/v1/workflows?limit=0", "limit"},
        {"/api/v1/workflows?limit=abc", "limit"},
        {"/api/v1/workflows?type=%3Cscript%3E", "type"},
        {"/api/v1/workflows?started_after=yesterday", "started_after"},
        {"/api/v1/workflows?page_token=zzz", "page_token"},
        {"/api/v1/workflows?q=colour%20%3D%20red", "q"},
        {"/api/v1/workflows?q=status%20%3D%20running%20OR%20x", "q"},
        {"/api/v1/workflows?q=status%20%3D%20running&status=failed", "status"},
        {"/api/v1/workflows/order-1?run_id=1%27%3B%20DROP", "run_id"},
        {"/api/v1/workflows/bad%20id", "workflow_id"},
        {"/api/v1/dead-letters?since=tomorrow", "since"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(ui_call(&s, "GET", bad[i].path, NULL, NULL, &j) == 400, "%s", bad[i].path);
        CHECK_MSG(strcmp(ui_err_field(j), bad[i].field) == 0, "%s: field %s", bad[i].path,
                  ui_err_field(j));
        cJSON_Delete(j);
    }
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/order-999", NULL, NULL, &j), 404);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/nothing-here", NULL, NULL, &j), 404);
    cJSON_Delete(j);
    ui_stop(&s);
}

/* Every POST endpoint, without a token, with a wrong one and with the
 * read token: 401, and nothing changed. */
TEST(every_mutation_needs_the_admin_token)
{
    ui_srv s;
    ui_start(&s, "auth", rules_with_schedule, true, NULL);
    publish_orders(&s, 1, 2);
    wait_runs(&s, 1);
    const char *posts[][2] = {
        {"/api/v1/workflows/order-1/signal", "{\"signal\":\"paid\",\"payload\":{}}"},
        {"/api/v1/workflows/order-1/cancel", "{}"},
        {"/api/v1/workflows/order-1/terminate", "{\"reason\":\"x\"}"},
        {"/api/v1/tasks/x:ship/retry", NULL},
        {"/api/v1/schedules/nightly/pause", "{}"},
        {"/api/v1/schedules/nightly/resume", "{}"},
        {"/api/v1/schedules/nightly/trigger", "{}"},
        {"/api/v1/schedules/nightly/backfill",
         "{\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-03T00:00:00Z\"}"},
        {"/api/v1/dead-letters/1/replay", NULL},
        {"/api/v1/dead-letters/replay", "{\"code\":\"x\"}"},
        {"/api/v1/rules/reload", NULL},
    };
    const char *bad_tokens[] = {NULL, "wrong", UI_READ_TOKEN};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        for (size_t t = 0; t < 3; t++) {
            cJSON *j = NULL;
            int st = ui_call(&s, "POST", posts[i][0], bad_tokens[t], posts[i][1], &j);
            CHECK_MSG(st == 401, "%s with %s: %d", posts[i][0],
                      bad_tokens[t] ? bad_tokens[t] : "none", st);
            cJSON_Delete(j);
        }
    CHECK_INT(
        rh_count(s.conninfo, "SELECT count(*) FROM switchyard.runs WHERE status <> 'running'"), 0);
    CHECK_INT(rh_count(s.conninfo, "SELECT count(*) FROM switchyard.schedules WHERE paused"), 0);

    /* reads: the read token or the admin token */
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows", NULL, NULL, &j), 401);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows", "wrong", NULL, &j), 401);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows", UI_READ_TOKEN, NULL, &j), 200);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/order-1", UI_TOKEN, NULL, &j), 200);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/live", NULL, NULL, &j), 401);
    cJSON_Delete(j);
    /* what the UI needs to know before it has a token */
    CHECK_INT(ui_call(&s, "GET", "/api/v1/ui-config", NULL, NULL, &j), 200);
    CHECK(cJSON_IsTrue(get(j, "read_token_required")));
    cJSON_Delete(j);

    /* with the token: the signal moves the run on to its task */
    CHECK_INT(ui_call(&s, "POST", "/api/v1/workflows/order-1/signal", UI_TOKEN,
                      "{\"signal\":\"paid\",\"payload\":{\"amount\":3},\"request_id\":\"r-1\"}",
                      &j),
              200);
    CHECK_MSG(strcmp(get(j, "signal")->valuestring, "applied") == 0, "%s",
              cJSON_PrintUnformatted(j));
    cJSON_Delete(j);
    /* the same request again (a double click): one signal */
    CHECK_INT(ui_call(&s, "POST", "/api/v1/workflows/order-1/signal", UI_TOKEN,
                      "{\"signal\":\"paid\",\"payload\":{\"amount\":3},\"request_id\":\"r-1\"}",
                      &j),
              200);
    CHECK_MSG(strcmp(get(j, "signal")->valuestring, "duplicate") == 0, "%s",
              cJSON_PrintUnformatted(j));
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/order-1", UI_TOKEN, NULL, &j), 200);
    const cJSON *tasks = get(j, "tasks");
    CHECK_INT(cJSON_GetArraySize(tasks), 1);
    CHECK_MSG(strcmp(get(cJSON_GetArrayItem(tasks, 0), "name")->valuestring, "ship") == 0, "%s",
              cJSON_PrintUnformatted(j));
    CHECK_INT(cJSON_GetArraySize(get(j, "buffered_signals")), 0);
    CHECK_MSG(strcmp(get(get(j, "current_step"), "step")->valuestring, "ship") == 0 ||
                  strcmp(get(get(j, "current_step"), "event")->valuestring, "task.scheduled") == 0,
              "%s", cJSON_PrintUnformatted(get(j, "current_step")));
    cJSON_Delete(j);
    CHECK_INT(
        ui_call(&s, "GET", "/api/v1/workflows/order-1/history?download=1", UI_TOKEN, NULL, &j),
        200);
    CHECK(cJSON_GetArraySize(get(j, "events")) >= 3);
    cJSON_Delete(j);

    /* validation, naming the field */
    struct {
        const char *path, *body, *field;
        int status;
    } bad[] = {
        {"/api/v1/workflows/order-1/terminate", "{}", "reason", 400},
        {"/api/v1/workflows/order-1/terminate", "{\"reason\":\"x\",\"force\":true}", "force", 400},
        {"/api/v1/workflows/order-1/signal", "{\"payload\":{}}", "signal", 400},
        {"/api/v1/workflows/order-1/signal", "{\"signal\":\"a b\"}", "signal", 400},
        {"/api/v1/workflows/order-1/signal", "{\"signal\":\"x\",\"request_id\":\"<x>\"}",
         "request_id", 400},
        {"/api/v1/workflows/order-1/signal", "{\"signal\":\"x\",\"signal\":\"y\"}", "signal", 400},
        {"/api/v1/workflows/order-1/signal", "[1]", "", 400},
        {"/api/v1/schedules/nightly/backfill", "{\"start\":\"2026-01-02T00:00:00Z\"}", "end", 400},
        {"/api/v1/schedules/nightly/backfill",
         "{\"start\":\"2026-01-02T00:00:00Z\",\"end\":\"2026-01-01T00:00:00Z\"}", "end", 400},
        {"/api/v1/schedules/nightly/trigger", "{\"overlap\":\"sometimes\"}", "overlap", 400},
        {"/api/v1/dead-letters/replay", "{}", "code", 400},
        {"/api/v1/workflows/order-77/cancel", "{}", "", 404},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = ui_call(&s, "POST", bad[i].path, UI_TOKEN, bad[i].body, &j);
        CHECK_MSG(st == bad[i].status, "%s %s: %d", bad[i].path, bad[i].body, st);
        CHECK_MSG(!*bad[i].field || strcmp(ui_err_field(j), bad[i].field) == 0, "%s %s: field %s",
                  bad[i].path, bad[i].body, ui_err_field(j));
        cJSON_Delete(j);
    }
    /* not JSON as declared, and too big a body */
    static char resp[8192];
    CHECK_INT(rh_http_body(s.port, "POST", "/api/v1/workflows/order-1/cancel", UI_TOKEN,
                           "text/plain", "{}", resp, sizeof resp),
              415);
    char *big = malloc(200000);
    memset(big, 'a', 199999);
    big[199999] = 0;
    memcpy(big, "{\"reason\":\"", 11);
    CHECK_INT(rh_http_body(s.port, "POST", "/api/v1/workflows/order-1/cancel", UI_TOKEN, NULL, big,
                           resp, sizeof resp),
              413);
    free(big);
    CHECK_INT(
        rh_count(s.conninfo, "SELECT count(*) FROM switchyard.runs WHERE status <> 'running'"), 0);

    CHECK_INT(ui_call(&s, "POST", "/api/v1/workflows/order-1/terminate", UI_TOKEN,
                      "{\"reason\":\"by the test\"}", &j),
              200);
    cJSON_Delete(j);
    CHECK_INT(
        rh_count(s.conninfo, "SELECT count(*) FROM switchyard.runs WHERE status = 'terminated'"),
        1);
    ui_stop(&s);
}

/* Strings from events reach the API as JSON strings only, under headers
 * that forbid a browser to read them as anything else. */
TEST(malicious_strings_come_back_as_json_under_strict_headers)
{
    ui_srv s;
    ui_start(&s, "xss", rules_with_schedule, false, NULL);
    ui_publish(&s, "ev-x", "order.created", "{\"n\":5,\"note\":\"<script>alert(1)</script>\"}");
    rh_publish(&s.n, s.subject, "<img src=x onerror=alert(1)>");
    wait_runs(&s, 1);
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000),
              1);
    static char resp[65536];
    CHECK_INT(rh_http(s.port, "GET", "/api/v1/workflows/order-5", NULL, resp, sizeof resp), 200);
    CHECK(strstr(resp, "Content-Type: application/json") != NULL);
    CHECK(strstr(resp, "X-Content-Type-Options: nosniff") != NULL);
    CHECK(strstr(resp, "Content-Security-Policy: default-src 'none'; script-src 'self'") != NULL);
    cJSON *j = cJSON_Parse(ui_body(resp));
    CHECK(j != NULL);
    CHECK_MSG(strcmp(get(get(j, "input"), "note")->valuestring, "<script>alert(1)</script>") == 0,
              "%s", ui_body(resp));
    cJSON_Delete(j);
    CHECK_INT(rh_http(s.port, "GET", "/api/v1/dead-letters/1", NULL, resp, sizeof resp), 200);
    j = cJSON_Parse(ui_body(resp));
    CHECK_MSG(strcmp(get(j, "body")->valuestring, "<img src=x onerror=alert(1)>") == 0, "%s",
              ui_body(resp));
    cJSON_Delete(j);
    /* the UI's own files: the same policy, no inline script anywhere */
    CHECK_INT(rh_http(s.port, "GET", "/ui/", NULL, resp, sizeof resp), 200);
    CHECK(strstr(resp, "Content-Security-Policy: default-src 'none'; script-src 'self'") != NULL);
    CHECK(strstr(resp, "X-Frame-Options: DENY") != NULL);
    CHECK(strstr(ui_body(resp), "<script>") == NULL);
    CHECK_INT(rh_http(s.port, "GET", "/ui", NULL, resp, sizeof resp), 302);
    CHECK_INT(rh_http(s.port, "GET", "/ui/../admin.c", NULL, resp, sizeof resp), 404);
    ui_stop(&s);
}

TEST(dead_letters_are_listed_shown_and_replayed_with_each_result)
{
    ui_srv s;
    ui_start(&s, "dlq", rules_with_schedule, false, NULL);
    /* a payment for an order that does not exist yet: refused, dead-lettered */
    ui_publish(&s, "pay-7", "order.paid", "{\"n\":7}");
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000),
              1);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET",
                      "/api/v1/dead-letters?code=workflow_not_found&type=order.paid&source=test",
                      NULL, NULL, &j),
              200);
    CHECK_INT(cJSON_GetArraySize(get(j, "dead_letters")), 1);
    const cJSON *dl = cJSON_GetArrayItem(get(j, "dead_letters"), 0);
    CHECK(strcmp(get(dl, "type")->valuestring, "order.paid") == 0);
    int id = (int)get(dl, "id")->valuedouble;
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/dead-letters?type=other", NULL, NULL, &j), 200);
    CHECK_INT(cJSON_GetArraySize(get(j, "dead_letters")), 0);
    cJSON_Delete(j);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/dead-letters/%d", id);
    CHECK_INT(ui_call(&s, "GET", path, NULL, NULL, &j), 200);
    CHECK(strstr(get(j, "body")->valuestring, "\"pay-7\"") != NULL);
    CHECK(cJSON_IsObject(get(j, "headers")));
    cJSON_Delete(j);

    /* replayed before the order exists: dead-lettered again, and said so */
    snprintf(path, sizeof path, "/api/v1/dead-letters/%d/replay", id);
    CHECK_INT(ui_call(&s, "POST", path, UI_TOKEN, NULL, &j), 200);
    CHECK(cJSON_IsTrue(get(j, "replayed")));
    cJSON_Delete(j);
    /* the same dead letter, updated (issue 19: not a new one) */
    CHECK_INT(rh_wait_count(s.conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters WHERE failures = 2 AND"
                            " replayed_at IS NULL",
                            1, 20000),
              1);
    CHECK_INT(rh_count(s.conninfo, "SELECT count(*) FROM switchyard.dead_letters"), 1);
    snprintf(path, sizeof path, "/api/v1/dead-letters/%d", id);
    CHECK_INT(ui_call(&s, "GET", path, NULL, NULL, &j), 200);
    CHECK_MSG(strcmp(get(get(j, "replay"), "status")->valuestring, "dead_lettered") == 0, "%s",
              cJSON_PrintUnformatted(j));
    CHECK_INT((int)get(get(j, "replay"), "dead_letter_id")->valuedouble, id);
    CHECK_INT((int)get(j, "failures")->valuedouble, 2);
    cJSON_Delete(j);

    /* the order starts; replay all matching: pending again, it applies */
    publish_orders(&s, 7, 8);
    wait_runs(&s, 1);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/dead-letters/replay", UI_TOKEN,
                      "{\"code\":\"workflow_not_found\",\"type\":\"order.paid\"}", &j),
              200);
    CHECK_INT(cJSON_GetArraySize(get(j, "results")), 1);
    int id2 = (int)get(cJSON_GetArrayItem(get(j, "results"), 0), "id")->valuedouble;
    CHECK_INT(id2, id);
    cJSON_Delete(j);
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.tasks WHERE name = 'ship'",
                            1, 20000),
              1);
    snprintf(path, sizeof path, "/api/v1/dead-letters/%d", id2);
    CHECK_INT(ui_call(&s, "GET", path, NULL, NULL, &j), 200);
    CHECK_MSG(strcmp(get(get(j, "replay"), "status")->valuestring, "applied") == 0, "%s",
              cJSON_PrintUnformatted(j));
    cJSON_Delete(j);
    ui_stop(&s);
}

TEST(schedules_task_queues_and_recent_events)
{
    ui_srv s;
    ui_start(&s, "ops", rules_with_schedule, false, NULL);
    /* serve answers the API while its schedule loop may still be syncing the
     * rules file's schedules: wait for the row (a fresh clone saw 0 here) */
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.schedules", 1, 20000), 1);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/schedules", NULL, NULL, &j), 200);
    CHECK_INT(cJSON_GetArraySize(get(j, "schedules")), 1);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/schedules/nightly/pause", UI_TOKEN,
                      "{\"note\":\"maintenance\"}", &j),
              200);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/schedules/nightly", NULL, NULL, &j), 200);
    CHECK(cJSON_IsTrue(get(j, "paused")));
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/schedules/nightly/resume", UI_TOKEN, NULL, &j), 200);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/schedules/nightly/trigger", UI_TOKEN, NULL, &j), 200);
    CHECK_MSG(cJSON_IsTrue(get(j, "started")), "%s", cJSON_PrintUnformatted(j));
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/schedules/nightly/backfill", UI_TOKEN,
                      "{\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-03T00:00:00Z\"}", &j),
              200);
    CHECK_INT((int)get(j, "started")->valuedouble, 2);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/schedules/nightly", NULL, NULL, &j), 200);
    CHECK_INT(cJSON_GetArraySize(get(j, "recent_firings")), 3);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "POST", "/api/v1/schedules/nope/pause", UI_TOKEN, NULL, &j), 404);
    cJSON_Delete(j);

    /* events: what each did, and the one that did nothing */
    publish_orders(&s, 1, 3);
    ui_publish(&s, "ev-nothing", "nobody.cares", "{}");
    wait_runs(&s, 5); /* 3 fired by the schedule: the order starts before it is paid */
    ui_publish(&s, "pay-1", "order.paid", "{\"n\":1}");
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);
    for (int i = 0; i < 50; i++, rh_sleep_ms(100)) {
        CHECK_INT(ui_call(&s, "GET", "/api/v1/events", NULL, NULL, &j), 200);
        if (cJSON_GetArraySize(get(j, "events")) == 4)
            break;
        cJSON_Delete(j);
        j = NULL;
    }
    CHECK(j != NULL);
    const cJSON *ev = get(j, "events"), *e, *by_id[4] = {NULL};
    const char *ids[4] = {"ev-1", "ev-2", "ev-nothing", "pay-1"};
    cJSON_ArrayForEach(e, ev) for (int i = 0; i < 4;
                                   i++) if (!strcmp(get(e, "event_id")->valuestring, ids[i]))
        by_id[i] = e;
    for (int i = 0; i < 4; i++)
        CHECK_MSG(by_id[i], "%s missing: %s", ids[i], cJSON_PrintUnformatted(ev));
    CHECK(strcmp(get(by_id[2], "outcome")->valuestring, "unmatched") == 0);
    const cJSON *sig = cJSON_GetArrayItem(get(by_id[3], "actions"), 0);
    CHECK(strcmp(get(sig, "route")->valuestring, "pay-order") == 0);
    CHECK(strcmp(get(sig, "action")->valuestring, "signal") == 0);
    CHECK(strcmp(get(sig, "workflow_id")->valuestring, "order-1") == 0);
    CHECK(cJSON_IsTrue(get(by_id[0], "started")));
    cJSON_Delete(j);

    /* task queues: the ship task waits on queue orders */
    CHECK_INT(ui_call(&s, "GET", "/api/v1/task-queues", NULL, NULL, &j), 200);
    const cJSON *q0 = cJSON_GetArrayItem(get(j, "queues"), 0);
    CHECK_MSG(q0 && strcmp(get(q0, "queue")->valuestring, "orders") == 0, "%s",
              cJSON_PrintUnformatted(j));
    CHECK_INT((int)get(q0, "scheduled")->valuedouble, 1);
    cJSON_Delete(j);
    ui_stop(&s);
}

/* Reads from fd until want appears or timeout_ms passes; true when seen. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, const char *want, int timeout_ms)
{
    int64_t end = (int64_t)time(NULL) * 1000 + timeout_ms;
    while (!strstr(buf, want) && (int64_t)time(NULL) * 1000 < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = read(fd, buf + *len, cap - 1 - *len);
            if (r <= 0)
                return false;
            *len += (size_t)r;
            buf[*len] = 0;
        }
    }
    return strstr(buf, want) != NULL;
}

TEST(live_stream_reports_commits_from_the_one_listener)
{
    ui_srv s;
    ui_start(&s, "live", rules_with_schedule, false, NULL);
    int fd[3];
    static char buf[3][65536];
    size_t len[3] = {0};
    for (int i = 0; i < 3; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(connect(fd[i], (struct sockaddr *)&a, sizeof a) == 0);
        const char *req = "GET /api/v1/live HTTP/1.1\r\nHost: x\r\n\r\n";
        CHECK(write(fd[i], req, strlen(req)) == (ssize_t)strlen(req));
        buf[i][0] = 0;
        CHECK_MSG(read_until(fd[i], buf[i], sizeof buf[i], &len[i], "event: hello", 5000), "%s",
                  buf[i]);
        CHECK(strstr(buf[i], "text/event-stream") != NULL);
    }
    publish_orders(&s, 3, 4);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(
            read_until(fd[i], buf[i], sizeof buf[i], &len[i], "\"workflow_id\":\"order-3\"", 10000),
            "%s", buf[i]);
        CHECK(strstr(buf[i], "event: changes") != NULL);
    }
    /* the recent events are announced too */
    CHECK_MSG(read_until(fd[0], buf[0], sizeof buf[0], &len[0], "event: events", 5000), "%s",
              buf[0]);
    /* one listener for all three: one LISTEN connection in Postgres */
    CHECK_INT(rh_count(s.conninfo,
                       "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND query LIKE 'LISTEN switchyard_changes%'"),
              1);
    /* two browsers go away: the server forgets them and goes on serving
     * the third (it crashed here once, touching a freed request) */
    close(fd[1]);
    close(fd[2]);
    rh_sleep_ms(200);
    publish_orders(&s, 5, 6);
    CHECK_MSG(
        read_until(fd[0], buf[0], sizeof buf[0], &len[0], "\"workflow_id\":\"order-5\"", 10000),
        "%s", buf[0]);
    char resp[256];
    CHECK_INT(rh_http(s.port, "GET", "/livez", NULL, resp, sizeof resp), 200);
    close(fd[0]);
    ui_stop(&s);
}

static const char rules_retry[] = "version: 1\n"
                                  "routes:\n"
                                  "  - name: start-job\n"
                                  "    match: { type: job.created }\n"
                                  "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                                  "workflows:\n"
                                  "  job:\n"
                                  "    task_queue: jobs\n"
                                  "    steps:\n"
                                  "      - task: work\n"
                                  "        retry: { initial_interval: 1h, maximum_attempts: 5 }\n";

/* A worker's failure puts the task in backoff for an hour; "retry now"
 * schedules attempt 2 at once, and the worker shows on its queue. */
TEST(retry_a_failed_task_now_and_see_its_worker)
{
    ui_srv s;
    ui_start(&s, "retry", rules_retry, false, NULL);
    ui_publish(&s, "job-ev-1", "job.created", "{\"n\":1}");
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/job-1", NULL, NULL, &j), 200);
    char task_id[200];
    snprintf(task_id, sizeof task_id, "%s",
             get(cJSON_GetArrayItem(get(j, "tasks"), 0), "task_id")->valuestring);
    cJSON_Delete(j);
    char path[300], report[600], subject[64];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/retry", task_id);
    CHECK_INT(ui_call(&s, "POST", path, UI_TOKEN, NULL, &j), 404); /* not in backoff yet */
    CHECK(strcmp(get(get(j, "error"), "code")->valuestring, "not_in_backoff") == 0);
    cJSON_Delete(j);
    snprintf(report, sizeof report,
             "{\"type\":\"task.failed\",\"task_id\":\"%s\",\"attempt\":1,\"worker\":\"host-a:42\","
             "\"error\":{\"type\":\"boom\",\"message\":\"it broke\"}}",
             task_id);
    snprintf(subject, sizeof subject, "uretry.report.jobs");
    rh_publish(&s.n, subject, report);
    CHECK_INT(rh_wait_count(s.conninfo,
                            "SELECT count(*) FROM switchyard.tasks WHERE status = 'backoff'", 1,
                            20000),
              1);
    CHECK_INT(ui_call(&s, "POST", path, UI_TOKEN, NULL, &j), 200);
    cJSON_Delete(j);
    CHECK_INT(rh_wait_count(s.conninfo,
                            "SELECT count(*) FROM switchyard.tasks WHERE attempt = 2 AND status = "
                            "'scheduled'",
                            1, 20000),
              1);
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.workers", 1, 20000), 1);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/task-queues", NULL, NULL, &j), 200);
    const cJSON *q0 = cJSON_GetArrayItem(get(j, "queues"), 0);
    CHECK_MSG(q0 && !strcmp(get(q0, "queue")->valuestring, "jobs"), "%s",
              cJSON_PrintUnformatted(j));
    const cJSON *w0 = cJSON_GetArrayItem(get(q0, "workers"), 0);
    CHECK_MSG(w0 && !strcmp(get(w0, "worker")->valuestring, "host-a:42"), "%s",
              cJSON_PrintUnformatted(j));
    CHECK_INT((int)get(w0, "failed")->valuedouble, 1);
    CHECK(get(q0, "failure_rate")->valuedouble == 1.0);
    cJSON_Delete(j);
    ui_stop(&s);
}

/* A wait's timeout timer stays in the table until it fires stale; the
 * detail shows only the timers that still matter. */
TEST(detail_shows_only_live_timers)
{
    ui_srv s;
    ui_start(&s, "timers", rules_with_schedule, false, NULL);
    publish_orders(&s, 4, 5);
    wait_runs(&s, 1);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/order-4", NULL, NULL, &j), 200);
    CHECK_INT(cJSON_GetArraySize(get(j, "timers")), 1); /* the wait's timeout */
    CHECK(strcmp(get(cJSON_GetArrayItem(get(j, "timers"), 0), "kind")->valuestring,
                 "wait_timeout") == 0);
    cJSON_Delete(j);
    ui_publish(&s, "pay-4", "order.paid", "{\"n\":4}");
    CHECK_INT(rh_wait_count(s.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/workflows/order-4", NULL, NULL, &j), 200);
    CHECK_MSG(cJSON_GetArraySize(get(j, "timers")) == 0, "%s",
              cJSON_PrintUnformatted(get(j, "timers")));
    CHECK(rh_count(s.conninfo, "SELECT count(*) FROM switchyard.timers") >=
          1); /* still in the table */
    cJSON_Delete(j);
    ui_stop(&s);
}

/* GET /api/v1/joins: the open joins of join routes, what arrived and what
 * is missing; /api/v1/joins/<route>/<key>: one, with its parts. */
static const char rules_join[] = "version: 1\n"
                                 "routes:\n"
                                 "  - name: hand-over\n"
                                 "    join:\n"
                                 "      key: \"{{ payload.order_id }}\"\n"
                                 "      events:\n"
                                 "        packed: { type: order.packed }\n"
                                 "        labelled: { type: label.printed }\n"
                                 "      window: 1d\n"
                                 "    start: { workflow: hand, id: \"hand-{{ key }}\" }\n"
                                 "workflows:\n"
                                 "  hand:\n"
                                 "    steps:\n"
                                 "      - task: go\n";

TEST(open_joins_are_listed_with_their_missing_parts)
{
    ui_srv s;
    ui_start(&s, "joins", rules_join, false, NULL);
    ui_publish(&s, "p-1", "order.packed", "{\"order_id\":\"A1\"}");
    ui_publish(&s, "p-2", "order.packed", "{\"order_id\":\"B2\"}");
    ui_publish(&s, "l-2", "label.printed", "{\"order_id\":\"B2\"}"); /* B2 starts */
    wait_runs(&s, 1);
    cJSON *j = NULL;
    CHECK_INT(ui_call(&s, "GET", "/api/v1/joins", NULL, NULL, &j), 200);
    const cJSON *js = get(j, "joins");
    CHECK_MSG(cJSON_GetArraySize(js) == 1, "%s", cJSON_PrintUnformatted(j));
    const cJSON *a1 = cJSON_GetArrayItem(js, 0);
    CHECK_STR(get(a1, "key")->valuestring, "A1");
    CHECK_STR(cJSON_GetArrayItem(get(a1, "arrived"), 0)->valuestring, "packed");
    CHECK_STR(cJSON_GetArrayItem(get(a1, "missing"), 0)->valuestring, "labelled");
    CHECK(cJSON_IsString(get(a1, "deadline")));
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/joins?route=other", NULL, NULL, &j), 200);
    CHECK_INT(cJSON_GetArraySize(get(j, "joins")), 0);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/joins/hand-over/A1", NULL, NULL, &j), 200);
    CHECK_STR(get(get(get(j, "events"), "packed"), "event_id")->valuestring, "p-1");
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/joins/hand-over/B2", NULL, NULL, &j), 404);
    cJSON_Delete(j);
    CHECK_INT(ui_call(&s, "GET", "/api/v1/joins?page_token=xyz", NULL, NULL, &j), 400);
    cJSON_Delete(j);
    ui_stop(&s);
}
