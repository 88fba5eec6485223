/* Unit tests of router/config.c: the YAML configuration of `switchyard
 * serve`, its file:line:col errors, unknown keys, environment overrides and
 * the secrets kept out of the conninfo. */
#include "buf.h"
#include "config.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sy_status parse(router_config *c, const char *yaml, sy_error *err)
{
    router_config_init(c);
    return router_config_parse(c, "sy.yaml", yaml, strlen(yaml), err);
}

/* Writes text to a new temporary file; returns its path (owned). */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/sy-config-test-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

TEST(parses_every_section)
{
    router_config c;
    sy_error err = {0};
    const char *y = "nats:\n  urls: [nats://a:4222, nats://b:4222]\n  name: r1\n"
                    "postgres:\n  conninfo: host=/tmp dbname=sy\n  migrate: false\n"
                    "stream: { name: EV, subjects: [ev.>, more.*], storage: memory }\n"
                    "consumer:\n  name: c1\n  pipelines: 3\n  batch_size: 500\n"
                    "  ack_wait: 1m\n  max_deliver: 7\n  backoff: [1s, 10s]\n"
                    "limits: { max_event_bytes: 64KiB }\n"
                    "rules: { path: /etc/sy/rules.yaml, unmatched: dead_letter }\n"
                    "engine: { state_cache: 100000 }\n"
                    "admin: { listen: 127.0.0.1:9999 }\nlog: { level: debug }\n";
    CHECK_INT(parse(&c, y, &err), SY_OK);
    CHECK_INT(c.nats_urls.len, 2);
    CHECK_STR(c.nats_urls.items[1], "nats://b:4222");
    CHECK_STR(c.pg_conninfo, "host=/tmp dbname=sy");
    CHECK(!c.pg_migrate);
    CHECK_STR(c.stream_name, "EV");
    CHECK_INT(c.stream_subjects.len, 2);
    CHECK_INT(c.stream_storage, ROUTER_STORAGE_MEMORY);
    CHECK_INT(c.pipelines, 3);
    CHECK_INT(c.batch_size, 500);
    CHECK_INT(c.ack_wait_ms, 60000);
    CHECK_INT(c.max_deliver, 7);
    CHECK_INT(c.backoff.len, 2);
    CHECK_INT(c.backoff.items[1], 10000);
    CHECK_INT(c.max_event_bytes, 65536);
    CHECK_INT(c.unmatched_dead_letter, 1);
    CHECK_INT(c.state_cache, 100000);
    CHECK_STR(c.admin_listen, "127.0.0.1:9999");
    CHECK_INT(c.log_level, SY_LOG_DEBUG);
    router_config_cleanup(&c);
}

TEST(defaults_apply_when_absent)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "postgres: {conninfo: dbname=x}\n", &err), SY_OK);
    CHECK_STR(c.nats_urls.items[0], "nats://127.0.0.1:4222");
    CHECK_STR(c.stream_subjects.items[0], "events.>");
    CHECK_STR(c.admin_listen, "127.0.0.1:8088");
    CHECK_INT(c.batch_size, 256);
    CHECK_INT(c.state_cache, 4096);
    CHECK(c.stream_create);
    router_config_cleanup(&c);
}

TEST(unknown_key_is_an_error_with_line_and_column)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "consumer:\n  batch_sise: 10\n", &err), SY_CONFIG);
    CHECK_STR(err.path, "sy.yaml:2:3");
    CHECK_MSG(strstr(err.message, "sy.yaml:2:3: unknown key \"batch_sise\"") != NULL, "%s",
              err.message);
    router_config_cleanup(&c);
}

TEST(unknown_section_is_an_error)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "nats: {}\nnatz: {}\n", &err), SY_CONFIG);
    CHECK_STR(err.path, "sy.yaml:2:1");
    CHECK(strstr(err.message, "unknown section \"natz\"") != NULL);
    router_config_cleanup(&c);
}

TEST(bad_values_name_their_position)
{
    const struct {
        const char *yaml, *where, *needle;
    } cases[] = {
        {"consumer:\n  ack_wait: 30 seconds\n", "sy.yaml:2:13", "not a valid duration"},
        {"consumer:\n  batch_size: 0\n", "sy.yaml:2:15", "out of range"},
        {"engine:\n  state_cache: -1\n", "sy.yaml:2:16", "out of range"},
        {"consumer:\n  pipelines: many\n", "sy.yaml:2:14", "not a valid integer"},
        {"stream:\n  create: perhaps\n", "sy.yaml:2:11", "not a boolean"},
        {"log:\n  level: loud\n", "sy.yaml:2:10", "not one of: debug, info"},
        {"limits:\n  max_event_bytes: 3TB\n", "sy.yaml:2:20", "not a valid size"},
        {"consumer:\n  backoff: [1s, {a: 1}]\n", "sy.yaml:2:17", "must be scalars"},
        {"rules: [a]\n", "sy.yaml:1:8", "must be a mapping"},
        {"nats:\n  urls: [a]\n  urls: [b]\n", "sy.yaml:3:3", "duplicate key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        router_config c;
        sy_error err = {0};
        CHECK_INT(parse(&c, cases[i].yaml, &err), SY_CONFIG);
        CHECK_STR(err.path, cases[i].where);
        CHECK_MSG(strstr(err.message, cases[i].needle) != NULL, "case %zu: %s", i, err.message);
        router_config_cleanup(&c);
    }
}

TEST(yaml_syntax_error_has_position)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "nats:\n  urls: [a, b\n", &err), SY_CONFIG);
    CHECK_MSG(strncmp(err.path, "sy.yaml:3:", 10) == 0, "%s", err.path);
    router_config_cleanup(&c);
}

TEST(relative_paths_are_relative_to_the_file)
{
    router_config c;
    sy_error err = {0};
    router_config_init(&c);
    const char *y = "rules: {path: rules.yaml}\nadmin: {token_file: /abs/token}\n";
    CHECK_INT(router_config_parse(&c, "/etc/sy/serve.yaml", y, strlen(y), &err), SY_OK);
    CHECK_STR(c.rules_path, "/etc/sy/rules.yaml");
    CHECK_STR(c.admin_token_file, "/abs/token");
    router_config_cleanup(&c);
}

TEST(environment_overrides_the_file)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "consumer: {batch_size: 10}\npostgres: {conninfo: dbname=a}\n", &err),
              SY_OK);
    char *env[] = {"PATH=/bin",
                   "SWITCHYARD_CONSUMER_BATCH_SIZE=512",
                   "SWITCHYARD_NATS_URL=nats://x:1,nats://y:2",
                   "SWITCHYARD_DB=dbname=b",
                   "SWITCHYARD_NATS_TLS_ENABLED=true",
                   "SWITCHYARD_TEST_TIME_OFFSET_MS=5",
                   NULL};
    CHECK_INT(router_config_apply_env(&c, env, &err), SY_OK);
    CHECK_INT(c.batch_size, 512);
    CHECK_INT(c.nats_urls.len, 2);
    CHECK_STR(c.nats_urls.items[1], "nats://y:2");
    CHECK_STR(c.pg_conninfo, "dbname=b");
    CHECK(c.nats_tls);
    router_config_cleanup(&c);
}

TEST(bad_environment_value_names_the_variable)
{
    router_config c;
    sy_error err = {0};
    router_config_init(&c);
    char *env[] = {"SWITCHYARD_CONSUMER_ACK_WAIT=forever", NULL};
    CHECK_INT(router_config_apply_env(&c, env, &err), SY_CONFIG);
    CHECK_STR(err.path, "env SWITCHYARD_CONSUMER_ACK_WAIT");
    router_config_cleanup(&c);
}

TEST(validate_requires_conninfo_and_rules)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "rules: {path: /dev/null}\n", &err), SY_OK);
    CHECK_INT(router_config_validate(&c, &err), SY_CONFIG);
    CHECK_STR(err.path, "postgres.conninfo");
    router_config_cleanup(&c);
    CHECK_INT(parse(&c, "postgres: {conninfo: dbname=a}\n", &err), SY_OK);
    CHECK_INT(router_config_validate(&c, &err), SY_CONFIG);
    CHECK_STR(err.path, "rules.path");
    router_config_cleanup(&c);
}

TEST(password_in_conninfo_is_refused)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c,
                    "postgres: {conninfo: 'dbname=a password=hunter2'}\n"
                    "rules: {path: /dev/null}\n",
                    &err),
              SY_OK);
    CHECK_INT(router_config_validate(&c, &err), SY_CONFIG);
    CHECK_STR(err.path, "postgres.conninfo");
    CHECK(strstr(err.message, "hunter2") == NULL);
    router_config_cleanup(&c);
}

TEST(two_nats_auth_methods_are_refused)
{
    char *tok = temp_file("t0ken\n");
    router_config c;
    sy_error err = {0};
    sy_buf y = SY_BUF_INIT;
    sy_buf_printf(&y,
                  "nats: {token_file: %s, credentials_file: %s}\n"
                  "postgres: {conninfo: dbname=a}\nrules: {path: /dev/null}\n",
                  tok, tok);
    CHECK_INT(parse(&c, sy_buf_str(&y), &err), SY_OK);
    CHECK_INT(router_config_validate(&c, &err), SY_CONFIG);
    CHECK_STR(err.path, "nats");
    router_config_cleanup(&c);
    sy_buf_cleanup(&y);
    unlink(tok);
    free(tok);
}

TEST(password_file_goes_into_the_conninfo_only)
{
    char *pw = temp_file("s3cr'et\n");
    router_config c;
    sy_error err = {0};
    sy_buf y = SY_BUF_INIT;
    sy_buf_printf(&y,
                  "postgres: {conninfo: 'host=h dbname=a', password_file: %s}\n"
                  "rules: {path: /dev/null}\n",
                  pw);
    CHECK_INT(parse(&c, sy_buf_str(&y), &err), SY_OK);
    CHECK_INT(router_config_validate(&c, &err), SY_OK);
    char *ci = NULL;
    CHECK_INT(router_config_pg_conninfo(&c, &ci, &err), SY_OK);
    CHECK_STR(ci, "host=h dbname=a password='s3cr\\'et'");
    free(ci);
    sy_buf d = SY_BUF_INIT;
    router_config_describe(&c, &d);
    CHECK(strstr(sy_buf_str(&d), "s3cr") == NULL);
    sy_buf_cleanup(&d);
    router_config_cleanup(&c);
    sy_buf_cleanup(&y);
    unlink(pw);
    free(pw);
}

TEST(credentials_directory_is_expanded_from_the_environment)
{
    router_config c;
    sy_error err = {0};
    router_config_init(&c);
    const char *y =
        "postgres: {conninfo: dbname=a, password_file: \"${CREDENTIALS_DIRECTORY}/pg\"}\n"
        "admin: {token_file: $CREDENTIALS_DIRECTORY/admin-token}\n"
        "rules: {path: rules.yaml}\n";
    CHECK_INT(router_config_parse(&c, "/etc/sy/serve.yaml", y, strlen(y), &err), SY_OK);
    /* not anchored at the file's folder like a relative path */
    CHECK_STR(c.pg_password_file, "${CREDENTIALS_DIRECTORY}/pg");
    char *env[] = {"CREDENTIALS_DIRECTORY=/run/credentials/switchyard.service",
                   "SWITCHYARD_NATS_TOKEN_FILE=${CREDENTIALS_DIRECTORY}/nats-token", NULL};
    CHECK_INT(router_config_apply_env(&c, env, &err), SY_OK);
    CHECK_STR(c.pg_password_file, "/run/credentials/switchyard.service/pg");
    CHECK_STR(c.admin_token_file, "/run/credentials/switchyard.service/admin-token");
    CHECK_STR(c.nats_token_file, "/run/credentials/switchyard.service/nats-token");
    CHECK_STR(c.rules_path, "/etc/sy/rules.yaml");
    router_config_cleanup(&c);
}

TEST(credentials_directory_unset_is_an_error_naming_the_setting)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(
        parse(&c,
              "postgres: {conninfo: dbname=a, password_file: \"${CREDENTIALS_DIRECTORY}/pg\"}\n",
              &err),
        SY_OK);
    char *env[] = {"PATH=/bin", NULL};
    CHECK_INT(router_config_apply_env(&c, env, &err), SY_CONFIG);
    CHECK(strstr(err.message, "postgres.password_file") != NULL);
    CHECK(strstr(err.message, "LoadCredential") != NULL);
    router_config_cleanup(&c);
    char *rel[] = {"CREDENTIALS_DIRECTORY=relative/dir", NULL};
    CHECK_INT(parse(&c, "admin: {token_file: \"${CREDENTIALS_DIRECTORY}/t\"}\n", &err), SY_OK);
    CHECK_INT(router_config_apply_env(&c, rel, &err), SY_CONFIG);
    router_config_cleanup(&c);
}

TEST(load_reads_file_env_and_validates)
{
    char *path = temp_file("postgres: {conninfo: dbname=a}\nrules: {path: /dev/null}\n");
    router_config c;
    sy_error err = {0};
    char *env[] = {"SWITCHYARD_LOG_LEVEL=warn", NULL};
    CHECK_INT(router_config_load(&c, path, env, &err), SY_OK);
    CHECK_INT(c.log_level, SY_LOG_WARN);
    router_config_cleanup(&c);
    CHECK_INT(router_config_load(&c, "/nonexistent/sy.yaml", NULL, &err), SY_CONFIG);
    unlink(path);
    free(path);
}

TEST(empty_file_is_an_error)
{
    router_config c;
    sy_error err = {0};
    CHECK_INT(parse(&c, "", &err), SY_CONFIG);
    CHECK_STR(err.path, "sy.yaml:1:1");
    router_config_cleanup(&c);
}
