/* cli_validate.c: `switchyard validate` (DESIGN.md section 8).
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
#include "envelope.h"
#include "json.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct validate_cfg {
    const char *schemas_dir, *keys_file, *key_id, *signature, *content_type;
    envelope_opts opts;
    envelope_schemas *schemas;
    envelope_keyring *keyring;
    int first_file, argc;
    char **argv;
} validate_cfg;

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "switchyard validate: %s\n", why);
    fprintf(stderr,
            "usage: switchyard validate [--schemas DIR] [--keys FILE] [--require-signatures]\n"
            "         [--allow-unknown-types] [--format json|protobuf|cloudevents]\n"
            "         [--key-id ID --signature BASE64] [--max-bytes N] [--max-clock-skew-ms N]\n"
            "         [FILE...|-]\n");
    return why ? SY_EXIT_USAGE : SY_EXIT_OK;
}

static const char *content_type_of(const char *format)
{
    if (strcmp(format, "json") == 0)
        return "application/json";
    if (strcmp(format, "protobuf") == 0)
        return "application/protobuf";
    if (strcmp(format, "cloudevents") == 0)
        return "application/cloudevents+json";
    return NULL;
}

static bool parse_count(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *s && !*end && *out > 0;
}

static int parse_args(int argc, char **argv, validate_cfg *c)
{
    bool allow_unknown = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "-") != 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(NULL), -1;
        if (strcmp(a, "--require-signatures") == 0) {
            c->opts.require_signature = true;
            continue;
        }
        if (strcmp(a, "--allow-unknown-types") == 0) {
            allow_unknown = true;
            continue;
        }
        if (!v)
            return usage("unknown option or missing value");
        i++;
        if (strcmp(a, "--schemas") == 0)
            c->schemas_dir = v;
        else if (strcmp(a, "--keys") == 0)
            c->keys_file = v;
        else if (strcmp(a, "--key-id") == 0)
            c->key_id = v;
        else if (strcmp(a, "--signature") == 0)
            c->signature = v;
        else if (strcmp(a, "-o") == 0 && strcmp(v, "json") == 0)
            continue;
        else if (strcmp(a, "--format") == 0 && (c->content_type = content_type_of(v)))
            continue;
        else if (strcmp(a, "--max-bytes") == 0 && parse_count(v, &n))
            c->opts.max_bytes = (size_t)n;
        else if (strcmp(a, "--max-clock-skew-ms") == 0 && parse_count(v, &n))
            c->opts.max_clock_skew_ms = n;
        else
            return usage("unknown option or bad value");
    }
    c->opts.require_schema = c->schemas_dir && !allow_unknown;
    c->first_file = i;
    c->argc = argc;
    c->argv = argv;
    if ((c->key_id != NULL) != (c->signature != NULL))
        return usage("--key-id and --signature go together");
    if (c->key_id && argc - i != 1)
        return usage("--key-id/--signature need exactly one FILE");
    return 0;
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
    envelope_meta meta = {c->content_type, c->key_id, c->signature};
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
    envelope_meta meta = {c->content_type, NULL, NULL};
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

static int load_config(validate_cfg *c)
{
    sy_error err;
    sy_error_clear(&err);
    if (c->schemas_dir && envelope_schemas_load(c->schemas_dir, &c->schemas, &err) != SY_OK) {
        fprintf(stderr, "switchyard validate: %s\n", err.message);
        return SY_EXIT_CONFIG;
    }
    if (c->keys_file && envelope_keyring_load(c->keys_file, &c->keyring, &err) != SY_OK) {
        fprintf(stderr, "switchyard validate: %s\n", err.message);
        return SY_EXIT_CONFIG;
    }
    c->opts.schemas = c->schemas;
    c->opts.keyring = c->keyring;
    return SY_EXIT_OK;
}

int cli_validate(int argc, char **argv)
{
    validate_cfg c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(argc, argv, &c);
    if (rc != 0)
        return rc < 0 ? SY_EXIT_OK : rc;
    rc = load_config(&c);
    if (rc == SY_EXIT_OK && (c.first_file == argc ||
                             (argc - c.first_file == 1 && strcmp(argv[c.first_file], "-") == 0))) {
        rc = validate_lines(&c);
    } else if (rc == SY_EXIT_OK) {
        for (int i = c.first_file; i < argc; i++) {
            int one = validate_file(&c, argv[i]);
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
