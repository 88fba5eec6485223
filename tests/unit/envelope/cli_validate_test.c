/* Tests of the `switchyard validate` and `switchyard keygen` contract
 * (docs/cli.md): JSON lines out, exit 0/65/64/78, schemas, keys,
 * signatures by option or sidecar. They run the built binary. */
#include "envelope_fixtures.h"
#include "fixture.h"

#define SY_BIN SY_BINARY_DIR "/switchyard"

/* Runs cmd through sh; returns its exit code and its stdout in out (owned). */
static int run(const char *cmd, char **out)
{
    enum { CAP = 1 << 16 };
    *out = malloc(CAP);
    CHECK(*out != NULL);
    return fixture_run(cmd, *out, CAP);
}

/* Writes body to dir/name and returns the path (static buffer). */
static const char *put(const char *dir, const char *name, const char *body)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, body);
    return path;
}

TEST(valid_files_exit_0_with_one_line_each)
{
    char *dir = temp_dir(), cmd[1024], *out;
    put(dir, "a.json", BASE_EVENT);
    put(dir, "b.json", BASE_EVENT);
    snprintf(cmd, sizeof cmd, "%s validate %s/a.json %s/b.json", SY_BIN, dir, dir);
    CHECK_INT(run(cmd, &out), 0);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"file\":\"%s/a.json\",\"event_id\":\"evt-1\",\"valid\":true}\n"
             "{\"file\":\"%s/b.json\",\"event_id\":\"evt-1\",\"valid\":true}\n",
             dir, dir);
    CHECK_STR(out, want);
    free(out);
    fixture_rm_rf(dir);
}

TEST(stdin_json_lines_invalid_exits_65_with_error_object)
{
    char *dir = temp_dir(), cmd[1024], *out;
    char *bad = event_with("occurred_at", "\"2026-13-01T00:00:00Z\"");
    sy_buf lines = SY_BUF_INIT;
    sy_buf_printf(&lines, "%s\n\n%s\n", BASE_EVENT, bad);
    put(dir, "in.jsonl", sy_buf_str(&lines));
    snprintf(cmd, sizeof cmd, "%s validate - < %s/in.jsonl", SY_BIN, dir);
    CHECK_INT(run(cmd, &out), 65);
    char *second = strchr(out, '\n');
    CHECK(second != NULL);
    *second++ = '\0';
    CHECK_STR(out, "{\"line\":1,\"event_id\":\"evt-1\",\"valid\":true}");
    cJSON *j;
    sy_error e;
    CHECK(sy_json_parse(second, strlen(second), 0, NULL, &j, &e) == SY_OK);
    CHECK_INT(sy_json_get(j, "line")->valueint, 3);
    CHECK(cJSON_IsFalse(sy_json_get(j, "valid")));
    const cJSON *err = sy_json_get(j, "error");
    CHECK_STR(sy_json_get_string(err, "code"), "bad_timestamp");
    CHECK_STR(sy_json_get_string(err, "path"), "occurred_at");
    CHECK(strstr(sy_json_get_string(err, "message"), "month 13") != NULL);
    cJSON_Delete(j);
    free(out);
    free(bad);
    sy_buf_cleanup(&lines);
    fixture_rm_rf(dir);
}

TEST(bad_usage_exits_64)
{
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s validate --no-such-flag x 2>/dev/null", SY_BIN);
    CHECK_INT(run(cmd, &out), 64);
    free(out);
    snprintf(cmd, sizeof cmd, "%s validate --key-id k1 2>/dev/null", SY_BIN);
    CHECK_INT(run(cmd, &out), 64);
    free(out);
}

TEST(unusable_schema_or_keys_exit_78)
{
    char *dir = temp_dir(), cmd[1024], *out;
    char sdir[600];
    snprintf(sdir, sizeof sdir, "%s/schemas/t.x", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", sdir);
    CHECK(system(cmd) == 0);
    put(sdir, "v1.json", "{\"type\":\"nope\"}");
    snprintf(cmd, sizeof cmd, "echo '%s' | %s validate --schemas %s/schemas 2>/dev/null",
             BASE_EVENT, SY_BIN, dir);
    CHECK_INT(run(cmd, &out), 78);
    free(out);
    put(dir, "keyring", "bogus line\n");
    snprintf(cmd, sizeof cmd, "echo '%s' | %s validate --keys %s/keyring 2>/dev/null", BASE_EVENT,
             SY_BIN, dir);
    CHECK_INT(run(cmd, &out), 78);
    free(out);
    fixture_rm_rf(dir);
}

TEST(schemas_apply_and_unknown_types_are_an_option)
{
    char *dir = temp_dir(), cmd[1024], *out;
    put(dir, "e.json", BASE_EVENT);
    /* the repository's schema for kg.gap.ready v1 accepts the base event */
    snprintf(cmd, sizeof cmd, "%s validate --schemas %s/schemas %s/e.json", SY_BIN, SY_SOURCE_DIR,
             dir);
    CHECK_INT(run(cmd, &out), 0);
    free(out);
    char *other = event_with("type", "\"no.schema.here\"");
    put(dir, "o.json", other);
    snprintf(cmd, sizeof cmd, "%s validate --schemas %s/schemas %s/o.json", SY_BIN, SY_SOURCE_DIR,
             dir);
    CHECK_INT(run(cmd, &out), 65);
    CHECK(strstr(out, "\"code\":\"no_schema\"") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s validate --schemas %s/schemas --allow-unknown-types %s/o.json",
             SY_BIN, SY_SOURCE_DIR, dir);
    CHECK_INT(run(cmd, &out), 0);
    free(out);
    free(other);
    fixture_rm_rf(dir);
}

TEST(signatures_by_option_and_by_sidecar)
{
    char *dir = temp_dir(), cmd[2048], *out, prefix[400];
    snprintf(prefix, sizeof prefix, "%s/k", dir);
    snprintf(cmd, sizeof cmd, "%s keygen --id k1 --out %s >/dev/null", SY_BIN, prefix);
    CHECK_INT(run(cmd, &out), 0);
    free(out);
    char secret[420], pub[420], *kid, *sig;
    snprintf(secret, sizeof secret, "%s.key", prefix);
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    char file[520];
    snprintf(file, sizeof file, "%s", put(dir, "e.json", BASE_EVENT));
    sy_error e;
    CHECK(envelope_sign(secret, BASE_EVENT, strlen(BASE_EVENT), &kid, &sig, &e) == SY_OK);
    /* unsigned but required: 65 */
    snprintf(cmd, sizeof cmd, "%s validate --keys %s --require-signatures %s", SY_BIN, pub, file);
    CHECK_INT(run(cmd, &out), 65);
    CHECK(strstr(out, "\"code\":\"unsigned\"") != NULL);
    free(out);
    /* by option (clock skew relaxed: the fixture event is from 2026-11-21) */
    snprintf(cmd, sizeof cmd,
             "%s validate --keys %s --require-signatures --max-clock-skew-ms 999999999999 "
             "--key-id %s --signature %s %s",
             SY_BIN, pub, kid, sig, file);
    CHECK_MSG(run(cmd, &out) == 0, "%s", out);
    free(out);
    /* by sidecar */
    char side[600];
    snprintf(side, sizeof side, "{\"key_id\":\"%s\",\"signature\":\"%s\"}", kid, sig);
    put(dir, "e.json.sig", side);
    snprintf(cmd, sizeof cmd,
             "%s validate --keys %s --require-signatures --max-clock-skew-ms 999999999999 %s",
             SY_BIN, pub, file);
    CHECK_MSG(run(cmd, &out) == 0, "%s", out);
    free(out);
    /* a tampered body no longer verifies */
    put(dir, "e.json", BASE_EVENT "\n");
    CHECK_INT(run(cmd, &out), 65);
    CHECK(strstr(out, "\"code\":\"bad_signature\"") != NULL);
    free(out);
    free(kid);
    free(sig);
    fixture_rm_rf(dir);
}

/* issue 19 item 2: printed valid:true, exit 0 (the signature was never checked) */
TEST(a_signature_with_no_keyring_is_invalid_unknown_key)
{
    char *dir = temp_dir(), cmd[1024], *out;
    const char *file = put(dir, "ev.json", BASE_EVENT);
    snprintf(cmd, sizeof cmd, "%s validate --key-id k1 --signature AAAA %s", SY_BIN, file);
    CHECK_INT(run(cmd, &out), 65);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"file\":\"%s\",\"event_id\":\"evt-1\",\"valid\":false,\"error\":{\"code\":"
             "\"unknown_key\",\"path\":\"Sy-Key-Id\",\"message\":\"no keyring is configured to "
             "verify key \\\"k1\\\"\"}}\n",
             file);
    CHECK_STR(out, want);
    free(out);
    fixture_rm_rf(dir);
}

TEST(keygen_usage_and_refusal_to_overwrite)
{
    char *dir = temp_dir(), cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "%s keygen --id k1 2>/dev/null", SY_BIN);
    CHECK_INT(run(cmd, &out), 64);
    free(out);
    snprintf(cmd, sizeof cmd, "%s keygen --id k1 --out %s/k >/dev/null", SY_BIN, dir);
    CHECK_INT(run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "%s keygen --id k1 --out %s/k 2>/dev/null", SY_BIN, dir);
    CHECK_INT(run(cmd, &out), 78);
    free(out);
    fixture_rm_rf(dir);
}
