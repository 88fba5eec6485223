/* config_load.c: validation, loading and secrets of the router's
 * configuration (config.h); the YAML walk and the environment overrides
 * are in config.c. */
#include "config.h"

#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- validation -------------------------------------------------------------- */

static sy_status need_readable(const char *path, const char *setting, sy_error *err)
{
    if (path && access(path, R_OK) != 0)
        return sy_error_set(err, SY_CONFIG, "bad_config", setting, "%s: cannot read \"%s\": %s",
                            setting, path, strerror(errno));
    return SY_OK;
}

static sy_status validate_nats(const router_config *c, sy_error *err)
{
    int methods = (c->nats_credentials_file != NULL) + (c->nats_nkey_seed_file != NULL) +
                  (c->nats_user != NULL || c->nats_password_file != NULL) +
                  (c->nats_token_file != NULL);
    if (methods > 1)
        return sy_error_set(err, SY_CONFIG, "bad_config", "nats",
                            "nats: choose one of credentials_file, nkey_seed_file, "
                            "user + password_file, token_file");
    if ((c->nats_user != NULL) != (c->nats_password_file != NULL))
        return sy_error_set(err, SY_CONFIG, "bad_config", "nats.user",
                            "nats: user and password_file go together");
    if (c->nats_nkey_seed_file && !c->nats_nkey_public)
        return sy_error_set(err, SY_CONFIG, "bad_config", "nats.nkey_public",
                            "nats: nkey_seed_file needs nkey_public (the user's public key)");
    if ((c->nats_tls_cert_file != NULL) != (c->nats_tls_key_file != NULL))
        return sy_error_set(err, SY_CONFIG, "bad_config", "nats.tls",
                            "nats.tls: cert_file and key_file go together");
    const struct {
        const char *p, *name;
    } files[] = {{c->nats_credentials_file, "nats.credentials_file"},
                 {c->nats_nkey_seed_file, "nats.nkey_seed_file"},
                 {c->nats_password_file, "nats.password_file"},
                 {c->nats_token_file, "nats.token_file"},
                 {c->nats_tls_ca_file, "nats.tls.ca_file"},
                 {c->nats_tls_cert_file, "nats.tls.cert_file"},
                 {c->nats_tls_key_file, "nats.tls.key_file"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        sy_status st = need_readable(files[i].p, files[i].name, err);
        if (st != SY_OK)
            return st;
    }
    return SY_OK;
}

/* Rejects a password written into the conninfo itself: secrets live in files. */
static bool conninfo_has_password(const char *ci)
{
    if (strncmp(ci, "postgres://", 11) == 0 || strncmp(ci, "postgresql://", 13) == 0) {
        const char *at_sign = strchr(ci, '@'), *colon = strchr(ci + 11, ':');
        return strstr(ci, "password=") || (at_sign && colon && colon < at_sign);
    }
    for (const char *p = strstr(ci, "password"); p; p = strstr(p + 1, "password")) {
        const char *q = p + 8;
        while (*q == ' ')
            q++;
        if (*q == '=' && (p == ci || p[-1] == ' '))
            return true;
    }
    return false;
}

sy_status router_config_validate(const router_config *c, sy_error *err)
{
    if (c->nats_urls.len == 0)
        return sy_error_set(err, SY_CONFIG, "bad_config", "nats.urls", "nats.urls: is empty");
    if (!c->pg_conninfo)
        return sy_error_set(err, SY_CONFIG, "missing_setting", "postgres.conninfo",
                            "postgres.conninfo: is required");
    if (conninfo_has_password(c->pg_conninfo))
        return sy_error_set(err, SY_CONFIG, "bad_config", "postgres.conninfo",
                            "postgres.conninfo: must not hold a password (use "
                            "postgres.password_file or postgres.passfile)");
    if (c->pg_password_file && c->pg_passfile)
        return sy_error_set(err, SY_CONFIG, "bad_config", "postgres",
                            "postgres: choose one of password_file, passfile");
    if (!c->rules_path)
        return sy_error_set(err, SY_CONFIG, "missing_setting", "rules.path",
                            "rules.path: is required");
    if (c->stream_subjects.len == 0 && c->stream_create)
        return sy_error_set(err, SY_CONFIG, "bad_config", "stream.subjects",
                            "stream.subjects: is empty");
    if (c->require_signature && !c->keyring)
        return sy_error_set(err, SY_CONFIG, "bad_config", "envelope.keyring",
                            "envelope.keyring: require_signature needs a keyring");
    sy_status st = validate_nats(c, err);
    if (st == SY_OK)
        st = need_readable(c->pg_password_file, "postgres.password_file", err);
    if (st == SY_OK)
        st = need_readable(c->admin_token_file, "admin.token_file", err);
    if (st == SY_OK)
        st = need_readable(c->ui_read_token_file, "ui.read_token_file", err);
    if (st == SY_OK)
        st = need_readable(c->rules_path, "rules.path", err);
    if (st == SY_OK)
        st = need_readable(c->keyring, "envelope.keyring", err);
    return st;
}

/* ---- loading and secrets ------------------------------------------------------- */

static sy_status read_file(const char *path, sy_buf *out, size_t max, sy_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sy_error_set(err, SY_CONFIG, "bad_config", path, "could not open \"%s\": %s", path,
                            strerror(errno));
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        sy_buf_append(out, chunk, n);
        if (out->len > max) {
            fclose(f);
            return sy_error_set(err, SY_CONFIG, "bad_config", path, "\"%s\" is too large", path);
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed)
        return sy_error_set(err, SY_CONFIG, "bad_config", path, "could not read \"%s\"", path);
    return SY_OK;
}

sy_status router_config_load(router_config *cfg, const char *path, char *const *envp,
                             sy_error *err)
{
    router_config_init(cfg);
    sy_buf text = SY_BUF_INIT;
    sy_status st = read_file(path, &text, 1 << 20, err);
    if (st == SY_OK)
        st = router_config_parse(cfg, path, sy_buf_str(&text), text.len, err);
    if (st == SY_OK)
        st = router_config_apply_env(cfg, envp, err);
    if (st == SY_OK)
        st = router_config_validate(cfg, err);
    sy_buf_cleanup(&text);
    if (st != SY_OK)
        router_config_cleanup(cfg);
    return st;
}

sy_status router_config_read_secret(const char *path, char **out, sy_error *err)
{
    *out = NULL;
    sy_buf b = SY_BUF_INIT;
    sy_status st = read_file(path, &b, 64 << 10, err);
    if (st != SY_OK) {
        sy_buf_cleanup(&b);
        return st;
    }
    size_t n = strcspn(sy_buf_str(&b), "\r\n");
    while (n > 0 && isspace((unsigned char)b.data[n - 1]))
        n--;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, sy_buf_str(&b), n);
    s[n] = '\0';
    if (b.data)
        explicit_bzero(b.data, b.cap);
    sy_buf_cleanup(&b);
    if (n == 0) {
        free(s);
        return sy_error_set(err, SY_CONFIG, "bad_config", path, "\"%s\" is empty", path);
    }
    *out = s;
    return SY_OK;
}

static bool is_uri(const char *ci)
{
    return strncmp(ci, "postgres://", 11) == 0 || strncmp(ci, "postgresql://", 13) == 0;
}

/* Appends key=value to a conninfo: quoted for the key=value form,
 * percent-encoded as a query parameter for the URI form. */
static void conninfo_add(sy_buf *b, bool uri, const char *key, const char *value)
{
    if (uri) {
        sy_buf_printf(b, "%c%s=", strchr(sy_buf_str(b), '?') ? '&' : '?', key);
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (isalnum(*p) || strchr("-._~", *p))
                sy_buf_putc(b, (char)*p);
            else
                sy_buf_printf(b, "%%%02X", *p);
        return;
    }
    sy_buf_printf(b, " %s='", key);
    for (const char *p = value; *p; p++) {
        if (*p == '\'' || *p == '\\')
            sy_buf_putc(b, '\\');
        sy_buf_putc(b, *p);
    }
    sy_buf_putc(b, '\'');
}

sy_status router_config_pg_conninfo(const router_config *cfg, char **out, sy_error *err)
{
    *out = NULL;
    if (!cfg->pg_conninfo)
        return sy_error_set(err, SY_CONFIG, "missing_setting", "postgres.conninfo",
                            "postgres.conninfo: is required");
    bool uri = is_uri(cfg->pg_conninfo);
    sy_buf b = SY_BUF_INIT;
    sy_buf_puts(&b, cfg->pg_conninfo);
    if (cfg->pg_passfile)
        conninfo_add(&b, uri, "passfile", cfg->pg_passfile);
    if (cfg->pg_password_file) {
        char *pw = NULL;
        sy_status st = router_config_read_secret(cfg->pg_password_file, &pw, err);
        if (st != SY_OK) {
            sy_buf_cleanup(&b);
            return st;
        }
        conninfo_add(&b, uri, "password", pw);
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    *out = sy_buf_take(&b);
    return SY_OK;
}

static void describe_list(sy_buf *b, const char *name, const router_strlist *l)
{
    sy_buf_printf(b, "%s:", name);
    for (size_t i = 0; i < l->len; i++)
        sy_buf_printf(b, " %s", l->items[i]);
    sy_buf_putc(b, '\n');
}

void router_config_describe(const router_config *c, sy_buf *b)
{
    sy_buf_printf(b, "config: %s\n", c->source && *c->source ? c->source : "(built in)");
    describe_list(b, "nats.urls", &c->nats_urls);
    sy_buf_printf(b, "nats.auth: %s\n",
                  c->nats_credentials_file ? "credentials file"
                  : c->nats_nkey_seed_file ? "nkey seed file"
                  : c->nats_user           ? "user + password file"
                  : c->nats_token_file     ? "token file"
                                           : "none");
    sy_buf_printf(b, "nats.tls: %s\n", c->nats_tls || c->nats_tls_ca_file ? "on" : "off");
    sy_buf_printf(b, "postgres.conninfo: %s%s\n", c->pg_conninfo,
                  c->pg_password_file ? " (+ password from file)" : "");
    sy_buf_printf(b, "stream: %s (create: %s)\n", c->stream_name, c->stream_create ? "yes" : "no");
    describe_list(b, "stream.subjects", &c->stream_subjects);
    sy_buf_printf(b, "consumer: %s, pipelines %lld, batch_size %lld, ack_wait %lldms, "
                     "max_deliver %lld\n",
                  c->consumer_name, (long long)c->pipelines, (long long)c->batch_size,
                  (long long)c->ack_wait_ms, (long long)c->max_deliver);
    sy_buf_printf(b, "engine: namespace %s, report_consumers %lld, state_cache %lld\n",
                  c->engine_namespace ? c->engine_namespace : "default",
                  (long long)c->report_consumers, (long long)c->state_cache);
    sy_buf_printf(b, "rules: %s (unmatched: %s)\n", c->rules_path,
                  c->unmatched_dead_letter ? "dead_letter" : "ack");
    sy_buf_printf(b, "admin: %s (token: %s)\n", c->admin_listen,
                  c->admin_token_file ? "from file" : "none: state-changing API disabled");
    sy_buf_printf(b, "ui: %s (reads: %s)\n", c->ui_enabled ? "/ui/ and /api/v1/" : "off",
                  c->ui_read_token_file ? "need the read or admin token" : "open");
}
