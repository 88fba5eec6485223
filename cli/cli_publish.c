/* cli_publish.c: `switchyard publish --subject S [--sign KEYFILE]
 * [--no-fill] [--nats URL] [FILE|-]`.
 *
 * Reads one JSON envelope (or JSON lines, one envelope each), fills in a
 * missing event_id, occurred_at and trace_id unless --no-fill, optionally
 * signs the exact bytes sent (Sy-Key-Id, Sy-Signature), publishes with
 * Nats-Msg-Id = event_id and waits for each PubAck. Prints one JSON line per
 * event: {"event_id":..,"stream_seq":N,"duplicate":false}. */
#include "buf.h"
#include "cli.h"
#include "cliopt.h"
#include "envelope.h"
#include "json.h"
#include "publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pub_args {
    const char *subject, *sign, *nats, *file;
    bool no_fill;
} pub_args;

static const cliopt_opt PUB_OPTS[] = {
    {.name = "FILE", .kind = CLIOPT_STRING, CLIOPT_FIELD(pub_args, file),
     .help = "one JSON envelope or JSON lines; - or none: stdin"},
    {.name = "--subject", .kind = CLIOPT_STRING, CLIOPT_FIELD(pub_args, subject), .arg = "S",
     .help = "the subject to publish to (required)"},
    {.name = "--sign", .kind = CLIOPT_STRING, CLIOPT_FIELD(pub_args, sign), .arg = "KEYFILE",
     .help = "sign with this Ed25519 key (switchyard keygen)"},
    {.name = "--no-fill", .kind = CLIOPT_FLAG, CLIOPT_FIELD(pub_args, no_fill),
     .help = "send as is: no event_id, occurred_at, trace_id filled in"},
    {.name = "--nats", .kind = CLIOPT_STRING, CLIOPT_FIELD(pub_args, nats), .arg = "URL",
     .help = "NATS (default $SWITCHYARD_NATS_URL)"},
};

static const cliopt_cmd PUB_CMD = {
    .name = "publish",
    .synopsis = "switchyard publish --subject S [--sign KEYFILE] [--no-fill] [--nats URL] [FILE|-]",
    CLIOPT_TABLE(PUB_OPTS),
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, pub_args *out, bool *help, sy_error *err)
{
    pub_args a = *out;
    sy_status st = cliopt_parse(&PUB_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if (!a.subject)
        return sy_error_set(err, SY_USAGE, "missing_option", NULL, "--subject S is required");
    *out = a;
    return SY_OK;
}

sy_status cli_publish_parse(int argc, char **argv, bool *help, sy_error *err)
{
    pub_args a = {0};
    return parse_args(argc, argv, &a, help, err);
}

static bool read_input(const char *path, sy_buf *out)
{
    FILE *f = !path || strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return false;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sy_buf_append(out, chunk, n);
    if (f != stdin)
        fclose(f);
    return true;
}

/* Publishes one event text; prints its line. Returns an exit code. */
static int publish_one(router_publisher *p, const pub_args *a, const char *text, size_t len)
{
    cJSON *obj = NULL;
    sy_error err = {0};
    if (sy_json_parse(text, len, 0, NULL, &obj, &err) != SY_OK || !cJSON_IsObject(obj)) {
        if (obj)
            fputs("switchyard publish: not a JSON object\n", stderr);
        else
            cliopt_fail("publish", err.status, &err);
        cJSON_Delete(obj);
        return SY_EXIT_DATAERR;
    }
    if (!a->no_fill)
        router_envelope_fill(obj);
    char *body = cJSON_PrintUnformatted(obj);
    const char *event_id = sy_json_get_string(obj, "event_id");
    cJSON *hdrs = cJSON_CreateObject();
    cJSON_AddStringToObject(hdrs, "Content-Type", "application/json");
    sy_status st = SY_OK;
    if (a->sign) {
        char *key_id = NULL, *sig = NULL;
        st = envelope_sign(a->sign, body, strlen(body), &key_id, &sig, &err);
        if (st == SY_OK) {
            cJSON_AddStringToObject(hdrs, "Sy-Key-Id", key_id);
            cJSON_AddStringToObject(hdrs, "Sy-Signature", sig);
        }
        free(key_id);
        free(sig);
    }
    uint64_t seq = 0;
    bool dup = false;
    if (st == SY_OK)
        st = router_publisher_send(p, a->subject, body, strlen(body), hdrs, event_id, &seq, &dup,
                                   &err);
    if (st == SY_OK) {
        sy_buf line = SY_BUF_INIT;
        sy_buf_puts(&line, "{\"event_id\":");
        sy_json_append_string(&line, event_id ? event_id : "");
        sy_buf_printf(&line, ",\"stream_seq\":%llu,\"duplicate\":%s}\n", (unsigned long long)seq,
                      dup ? "true" : "false");
        fputs(sy_buf_str(&line), stdout);
        sy_buf_cleanup(&line);
    } else {
        cliopt_fail("publish", err.status, &err);
    }
    cJSON_Delete(hdrs);
    free(body);
    cJSON_Delete(obj);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}

int cli_publish(int argc, char **argv)
{
    pub_args a = {0};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&PUB_CMD, pst, &perr);
    int rc = SY_EXIT_OK;
    sy_buf in = SY_BUF_INIT;
    if (!read_input(a.file, &in)) {
        fprintf(stderr, "switchyard publish: could not read %s\n", a.file);
        return SY_EXIT_DATAERR;
    }
    router_publisher *p = NULL;
    sy_error err = {0};
    if (router_publisher_new(router_cli_nats_url(a.nats), &p, &err) != SY_OK) {
        cliopt_fail("publish", err.status, &err);
        sy_buf_cleanup(&in);
        return SY_EXIT_UNAVAILABLE;
    }
    /* one JSON document, or JSON lines */
    cJSON *whole = NULL;
    if (sy_json_parse(sy_buf_str(&in), in.len, 0, NULL, &whole, &err) == SY_OK) {
        rc = publish_one(p, &a, sy_buf_str(&in), in.len);
    } else {
        const char *s = sy_buf_str(&in);
        while (*s && rc == SY_EXIT_OK) {
            size_t n = strcspn(s, "\n");
            if (strspn(s, " \t\r") < n)
                rc = publish_one(p, &a, s, n);
            s += n + (s[n] == '\n');
        }
    }
    cJSON_Delete(whole);
    router_publisher_free(p);
    sy_buf_cleanup(&in);
    return rc;
}
