/* cli_validate.c: `switchyard validate` (docs/cli.md).
 *
 *   switchyard validate [--schemas DIR] [--keys FILE] [--require-signatures]
 *                       [--allow-unknown-types] [--format json|protobuf|cloudevents]
 *                       [--key-id ID --signature B64] [--max-bytes N]
 *                       [--max-clock-skew-ms N] [FILE...|-]
 *
 * Each FILE holds one event; with `-` or no FILE, stdin holds JSON lines.
 * One JSON line per event on stdout: {"event_id":..,"valid":true} or
 * {"valid":false,"error":{"code":..,"path":..,"message":..}} (plus "file" or
 * "line" saying which input it was). A signature comes from --key-id and
 * --signature (one FILE only) or from a sidecar FILE.sig holding
 * {"key_id":"..","signature":".."}. With --schemas, a type without a schema
 * is invalid unless --allow-unknown-types. Exit: 0 all valid, 65 some
 * invalid, 64 usage, 78 unusable schema or key file, 1 unreadable input. */
#include "cli.h"
#include "cliopt.h"
#include "envelope.h"
#include "json.h"
#include "status.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct validate_args {
    const char *schemas_dir, *keys_file, *key_id, *signature;
    int format; /* index into FORMATS; -1: none given */
    int64_t max_bytes, max_clock_skew_ms; /* 0: envelope.h's defaults */
    bool require_signatures, allow_unknown;
    cliopt_rest files;
} validate_args;

typedef struct validate_cfg {
    const char *key_id, *signature, *content_type;
    envelope_opts opts;
    envelope_schemas *schemas;
    envelope_keyring *keyring;
} validate_cfg;

static const char *const FORMATS[] = {"json", "protobuf", "cloudevents", NULL};
static const char *const CONTENT_TYPES[] = {"application/json", "application/protobuf",
                                            "application/cloudevents+json"};

#define VAL_STR(opt, member, placeholder, text)                                                    \
    {                                                                                              \
        .name = opt, .kind = CLIOPT_STRING, CLIOPT_FIELD(validate_args, member),                   \
        .arg = placeholder, .help = text                                                           \
    }

static const cliopt_opt VALIDATE_OPTS[] = {
    VAL_STR("--schemas", schemas_dir, "DIR", "validate payloads against these schemas"),
    VAL_STR("--keys", keys_file, "FILE", "the keyring for signatures"),
    {.name = "--require-signatures", .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(validate_args, require_signatures), .help = "an unsigned event is invalid"},
    {.name = "--allow-unknown-types", .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(validate_args, allow_unknown),
     .help = "with --schemas: a type without one is ok"},
    {.name = "--format", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(validate_args, format),
     .choices = FORMATS, .help = "the events' encoding (default: JSON)"},
    VAL_STR("--key-id", key_id, "ID", "with --signature: the signature of the one FILE"),
    VAL_STR("--signature", signature, "BASE64", "with --key-id"),
    {.name = "--max-bytes", .kind = CLIOPT_INT, CLIOPT_FIELD(validate_args, max_bytes), .min = 1,
     .max = INT64_MAX, .arg = "N", .help = "the largest valid event"},
    {.name = "--max-clock-skew-ms", .kind = CLIOPT_INT,
     CLIOPT_FIELD(validate_args, max_clock_skew_ms), .min = 1, .max = INT64_MAX, .arg = "N",
     .help = "how far in the future occurred_at may be"},
    {.name = "-o", .kind = CLIOPT_CHOICE, .choices = cliopt_json_only,
     .help = "the output is JSON lines (accepted, the only format)"},
};

static const cliopt_cmd VALIDATE_CMD = {
    .name = "validate",
    .synopsis = "switchyard validate [--schemas DIR] [--keys FILE] [--require-signatures]\n"
                "         [--allow-unknown-types] [--format json|protobuf|cloudevents]\n"
                "         [--key-id ID --signature BASE64] [--max-bytes N]"
                " [--max-clock-skew-ms N]\n"
                "         [FILE...|-]",
    CLIOPT_TABLE(VALIDATE_OPTS),
    .rest = CLIOPT_REST_ARGS,
    .rest_offset = offsetof(validate_args, files),
    .rest_arg = "FILE",
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, validate_args *out, bool *help, sy_error *err)
{
    validate_args a = *out;
    sy_status st = cliopt_parse(&VALIDATE_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    if ((a.key_id != NULL) != (a.signature != NULL))
        return sy_error_set(err, SY_USAGE, "missing_option", NULL,
                            "--key-id and --signature go together");
    if (a.key_id && a.files.argc != 1)
        return sy_error_set(err, SY_USAGE, "missing_argument", NULL,
                            "--key-id/--signature need exactly one FILE");
    *out = a;
    return SY_OK;
}

sy_status cli_validate_parse(int argc, char **argv, bool *help, sy_error *err)
{
    validate_args a = {.format = -1};
    return parse_args(argc, argv, &a, help, err);
}

static void print_result(const char *where_key, const char *where, long line, const envelope *env,
                         const sy_error *err, const char *body, size_t len)
{
    sy_buf b = SY_BUF_INIT;
    sy_buf_putc(&b, '{');
    if (where) {
        sy_json_append_string(&b, where_key);
        sy_buf_putc(&b, ':');
        sy_json_append_string(&b, where);
        sy_buf_putc(&b, ',');
    } else if (line > 0) {
        sy_buf_printf(&b, "\"line\":%ld,", line);
    }
    cJSON *probe = NULL;
    sy_error ignored;
    const char *id = env ? envelope_event_id(env) : NULL;
    if (!env && body && sy_json_parse(body, len, 0, NULL, &probe, &ignored) == SY_OK)
        id = sy_json_get_string(probe, "event_id"); /* best effort, for the reader */
    if (id) {
        sy_buf_puts(&b, "\"event_id\":");
        sy_json_append_string(&b, id);
        sy_buf_putc(&b, ',');
    }
    cJSON_Delete(probe);
    if (env) {
        sy_buf_puts(&b, "\"valid\":true}");
    } else {
        sy_buf_puts(&b, "\"valid\":false,\"error\":{\"code\":");
        sy_json_append_string(&b, err->code);
        sy_buf_puts(&b, ",\"path\":");
        sy_json_append_string(&b, err->path);
        sy_buf_puts(&b, ",\"message\":");
        sy_json_append_string(&b, err->message);
        sy_buf_puts(&b, "}}");
    }
    puts(sy_buf_str(&b));
    sy_buf_cleanup(&b);
}

static bool read_all(FILE *f, sy_buf *b)
{
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sy_buf_append(b, chunk, n);
    return !ferror(f);
}

/* Reads FILE.sig ({"key_id":..,"signature":..}) when it exists. Returns
 * false with err set when it exists but is unusable. */
static bool read_sidecar(const char *file, sy_buf *kid, sy_buf *sig, sy_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.sig", file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return true;
    sy_buf text = SY_BUF_INIT;
    cJSON *j = NULL;
    bool ok =
        read_all(f, &text) && sy_json_parse(sy_buf_str(&text), text.len, 0, NULL, &j, err) == SY_OK;
    fclose(f);
    const char *k = sy_json_get_string(j, "key_id"), *s = sy_json_get_string(j, "signature");
    if (ok && k && s) {
        sy_buf_puts(kid, k);
        sy_buf_puts(sig, s);
    } else {
        ok = false;
        sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_SIGNATURE, path,
                     "signature sidecar must be {\"key_id\": .., \"signature\": ..}");
    }
    cJSON_Delete(j);
    sy_buf_cleanup(&text);
    return ok;
}

/* Validates one file; returns the exit code it deserves. */
static int validate_file(const validate_cfg *c, const char *file)
{
    FILE *f = fopen(file, "rb");
    sy_buf body = SY_BUF_INIT, kid = SY_BUF_INIT, sig = SY_BUF_INIT;
    if (!f || !read_all(f, &body)) {
        fprintf(stderr, "switchyard validate: could not read \"%s\": %s\n", file, strerror(errno));
        if (f)
            fclose(f);
        sy_buf_cleanup(&body);
        return SY_EXIT_FAILURE;
    }
    fclose(f);
    sy_error err;
    sy_error_clear(&err);
    envelope *env = NULL;
    envelope_meta meta = {
        .content_type = c->content_type, .key_id = c->key_id, .signature = c->signature};
    bool sidecar_ok = c->key_id || read_sidecar(file, &kid, &sig, &err);
    if (!c->key_id && kid.len) {
        meta.key_id = sy_buf_str(&kid);
        meta.signature = sy_buf_str(&sig);
    }
    sy_status st = sidecar_ok
                       ? envelope_parse(sy_buf_str(&body), body.len, &meta, &c->opts, &env, &err)
                       : SY_INVALID;
    print_result("file", file, 0, env, &err, sy_buf_str(&body), body.len);
    envelope_free(env);
    sy_buf_cleanup(&body);
    sy_buf_cleanup(&kid);
    sy_buf_cleanup(&sig);
    return st == SY_OK ? SY_EXIT_OK : SY_EXIT_DATAERR;
}

static int validate_lines(const validate_cfg *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = SY_EXIT_OK;
    envelope_meta meta = {.content_type = c->content_type};
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (strspn(line, " \t") == (size_t)n)
            continue; /* blank line */
        sy_error err;
        sy_error_clear(&err);
        envelope *env = NULL;
        if (envelope_parse(line, (size_t)n, &meta, &c->opts, &env, &err) != SY_OK)
            rc = SY_EXIT_DATAERR;
        print_result(NULL, NULL, lineno, env, &err, line, (size_t)n);
        envelope_free(env);
    }
    free(line);
    return rc;
}

static int load_config(validate_cfg *c, const validate_args *a)
{
    sy_error err;
    sy_error_clear(&err);
    if (a->schemas_dir && envelope_schemas_load(a->schemas_dir, &c->schemas, &err) != SY_OK) {
        cliopt_fail("validate", err.status, &err);
        return SY_EXIT_CONFIG;
    }
    if (a->keys_file && envelope_keyring_load(a->keys_file, &c->keyring, &err) != SY_OK) {
        cliopt_fail("validate", err.status, &err);
        return SY_EXIT_CONFIG;
    }
    c->opts.schemas = c->schemas;
    c->opts.keyring = c->keyring;
    return SY_EXIT_OK;
}

static void config_from(validate_cfg *c, const validate_args *a)
{
    memset(c, 0, sizeof *c);
    c->key_id = a->key_id;
    c->signature = a->signature;
    c->content_type = a->format >= 0 ? CONTENT_TYPES[a->format] : NULL;
    c->opts.require_signature = a->require_signatures;
    c->opts.require_schema = a->schemas_dir && !a->allow_unknown;
    if (a->max_bytes)
        c->opts.max_bytes = (size_t)a->max_bytes;
    if (a->max_clock_skew_ms)
        c->opts.max_clock_skew_ms = a->max_clock_skew_ms;
}

int cli_validate(int argc, char **argv)
{
    validate_args a = {.format = -1};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&VALIDATE_CMD, pst, &perr);
    validate_cfg c;
    config_from(&c, &a);
    int rc = load_config(&c, &a);
    if (rc == SY_EXIT_OK &&
        (a.files.argc == 0 || (a.files.argc == 1 && strcmp(a.files.argv[0], "-") == 0))) {
        rc = validate_lines(&c);
    } else if (rc == SY_EXIT_OK) {
        for (int i = 0; i < a.files.argc; i++) {
            int one = validate_file(&c, a.files.argv[i]);
            /* a runtime failure outranks invalid input, which outranks ok */
            if (one == SY_EXIT_FAILURE || (one == SY_EXIT_DATAERR && rc == SY_EXIT_OK))
                rc = one;
        }
    }
    fflush(stdout);
    envelope_schemas_free(c.schemas);
    envelope_keyring_free(c.keyring);
    return rc;
}
