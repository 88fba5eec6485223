/* ui_helpers.h: `switchyard serve` as a process for the HTTP API and web UI
 * tests (ui_api.c, ui_browser.c): its own database, stream, outcome prefix
 * and admin port, an admin token and optionally a read token; JSON
 * requests. Header only, on top of router_helpers.h. */
#ifndef SY_TEST_UI_HELPERS_H
#define SY_TEST_UI_HELPERS_H

#include "router_helpers.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/wait.h>

#define UI_TOKEN "admin-s3cret"
#define UI_READ_TOKEN "read-s3cret"

typedef struct ui_srv {
    pid_t pid;
    int port;
    char *conninfo, *rules, *token, *read_token, *cfg;
    char name[32];    /* stream UI_<name>, subjects ui.<name>.>, prefix u<name> */
    char subject[64]; /* where the tests publish events: ui.<name>.e */
    rh_nats n;
} ui_srv;

/* Starts serve on rules (text) and waits for /readyz. with_read: reads need
 * UI_READ_TOKEN. extra: more YAML appended to the config (may be NULL). */
static __attribute__((unused)) void ui_start(ui_srv *s, const char *name, const char *rules,
                                             bool with_read, const char *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->subject, sizeof s->subject, "ui.%s.e", name);
    char db[64], buf[128];
    snprintf(db, sizeof db, "ui_%s", name);
    s->conninfo = fixture_pg_fresh_db(db);
    snprintf(buf, sizeof buf, "%s-rules.yaml", name);
    s->rules = rh_write_file(buf, rules);
    snprintf(buf, sizeof buf, "%s-token", name);
    s->token = rh_write_file(buf, UI_TOKEN "\n");
    snprintf(buf, sizeof buf, "%s-read", name);
    s->read_token = rh_write_file(buf, UI_READ_TOKEN "\n");
    s->port = rh_free_port();
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\"}\n"
             "stream: {name: UI_%s, subjects: [ui.%s.>], storage: memory,"
             " outcomes_name: UIO_%s, outcomes_subjects: [\"u%s.>\"]}\n"
             "consumer: {batch_size: 64, fetch_wait: 20ms}\n"
             "engine: {subject_prefix: u%s}\n"
             "rules: {path: \"%s\"}\nadmin: {listen: \"127.0.0.1:%d\", token_file: \"%s\"}\n"
             "ui: {%s%s%s}\nlog: {level: warn}\n%s",
             fixture_nats_url(), s->conninfo, name, name, name, name, name, s->rules, s->port,
             s->token, with_read ? "read_token_file: \"" : "", with_read ? s->read_token : "",
             with_read ? "\"" : "", extra ? extra : "");
    snprintf(buf, sizeof buf, "%s-serve.yaml", name);
    s->cfg = rh_write_file(buf, yaml);
    s->pid = fixture_fork();
    if (s->pid == 0) {
        execl(fixture_switchyard_bin(), "switchyard", "serve", "--config", s->cfg, (char *)NULL);
        _exit(127);
    }
    char resp[4096];
    int status = 0;
    for (int i = 0; i < 300 && status != 200; i++, rh_sleep_ms(100))
        status = rh_http(s->port, "GET", "/readyz", NULL, resp, sizeof resp);
    CHECK_MSG(status == 200, "readyz: %d %s", status, resp);
    rh_nats_open(&s->n, fixture_nats_url());
}

static __attribute__((unused)) void ui_stop(ui_srv *s)
{
    rh_nats_close(&s->n);
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200 && waitpid(s->pid, &st, WNOHANG) == 0; i++)
        rh_sleep_ms(50);
    char *files[] = {s->rules, s->token, s->read_token, s->cfg};
    for (size_t i = 0; i < 4; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    free(s->conninfo);
}

/* The body of an HTTP response (after the blank line), borrowed. */
static __attribute__((unused)) const char *ui_body(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* A request whose JSON answer is parsed into *out (owned; NULL when not
 * JSON). Returns the status. */
static __attribute__((unused)) int ui_call(ui_srv *s, const char *method, const char *path,
                                           const char *token, const char *body, cJSON **out)
{
    static char resp[1 << 20];
    int st = rh_http_body(s->port, method, path, token, NULL, body, resp, sizeof resp);
    if (out)
        *out = cJSON_Parse(ui_body(resp));
    return st;
}

/* The "field" of an error answer ("" when none). */
static __attribute__((unused)) const char *ui_err_field(const cJSON *j)
{
    const cJSON *f =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "field");
    return cJSON_IsString(f) ? f->valuestring : "";
}

/* Publishes an event of type with payload (JSON text) and event_id id. */
static __attribute__((unused)) void ui_publish(ui_srv *s, const char *id, const char *type,
                                               const char *payload)
{
    char body[4096];
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"type\":\"%s\",\"source\":\"test\","
             "\"occurred_at\":\"2026-01-02T03:04:05Z\",\"trace_id\":"
             "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,\"payload\":%s}",
             id, type, payload);
    rh_publish(&s->n, s->subject, body);
}

#endif
