/* Unit tests for Ed25519 signatures: keygen, signing, the keyring file and
 * verification (grants, required sources, clock skew). */
#include "envelope_fixtures.h"

#include <sys/stat.h>

typedef struct keys {
    char *dir;
    char prefix[256], secret[256], pub[256], keyring[256];
    envelope_keyring *kr;
} keys;

/* Generates key "k1" and a keyring made of 'lines' (with %s for the public
 * key line's "ed25519:..." token) in a fresh directory. */
static void keys_setup(keys *k, const char *lines)
{
    sy_error e;
    k->dir = temp_dir();
    snprintf(k->prefix, sizeof k->prefix, "%s/k1", k->dir);
    snprintf(k->secret, sizeof k->secret, "%s.key", k->prefix);
    snprintf(k->pub, sizeof k->pub, "%s.pub", k->prefix);
    snprintf(k->keyring, sizeof k->keyring, "%s/keyring", k->dir);
    CHECK_MSG(envelope_keygen("k1", k->prefix, &e) == SY_OK, "%s", e.message);
    FILE *f = fopen(k->pub, "r");
    char line[512], token[200] = "";
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "key k1 %199s", token) == 1)
            break;
    fclose(f);
    CHECK(strncmp(token, "ed25519:", 8) == 0);
    char text[2048];
    snprintf(text, sizeof text, lines, token);
    write_file(k->keyring, text);
    k->kr = NULL;
    CHECK_MSG(envelope_keyring_load(k->keyring, &k->kr, &e) == SY_OK, "%s", e.message);
}

static void keys_cleanup(keys *k)
{
    envelope_keyring_free(k->kr);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", k->dir);
    CHECK(system(cmd) == 0);
    free(k->dir);
}

static sy_status verify_body(const keys *k, const char *body, const char *key_id, const char *sig,
                             bool require, sy_error *e)
{
    envelope_opts o = {0};
    o.keyring = k->kr;
    o.require_signature = require;
    envelope_meta m = {.key_id = key_id, .signature = sig};
    envelope *env = NULL;
    sy_status st = parse_body(body, strlen(body), &m, &o, &env, e);
    envelope_free(env);
    return st;
}

static char *sign(const keys *k, const char *body)
{
    char *kid = NULL, *sig = NULL;
    sy_error e;
    CHECK_MSG(envelope_sign(k->secret, body, strlen(body), &kid, &sig, &e) == SY_OK, "%s",
              e.message);
    CHECK_STR(kid, "k1");
    free(kid);
    return sig;
}

#define ALL_KEYRING "key k1 %s sources=* types=>\n"

TEST(keygen_writes_secret_0600_and_a_keyring_line)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    struct stat sb;
    CHECK(stat(k.secret, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    sy_error e;
    envelope_keyring *kr = NULL;
    CHECK_INT(envelope_keyring_load(k.pub, &kr, &e), SY_OK); /* .pub is a valid keyring */
    envelope_keyring_free(kr);
    CHECK_INT(envelope_keygen("k1", k.prefix, &e), SY_CONFIG); /* never overwrites */
    CHECK_INT(envelope_keygen("bad id", k.prefix, &e), SY_USAGE);
    keys_cleanup(&k);
}

TEST(signed_event_verifies)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    char *sig = sign(&k, BASE_EVENT);
    sy_error e;
    CHECK_MSG(verify_body(&k, BASE_EVENT, "k1", sig, true, &e) == SY_OK, "%s", e.message);
    free(sig);
    keys_cleanup(&k);
}

TEST(tampered_body_fails_verification)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    char *sig = sign(&k, BASE_EVENT);
    char *other = event_with("source", "\"monolith2\"");
    sy_error e;
    CHECK_INT(verify_body(&k, other, "k1", sig, false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    CHECK_STR(e.path, "Sy-Signature");
    /* the exact bytes count: re-serialising the same event breaks the signature */
    char spaced[sizeof BASE_EVENT + 1];
    snprintf(spaced, sizeof spaced, "%s ", BASE_EVENT);
    CHECK_INT(verify_body(&k, spaced, "k1", sig, false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    free(other);
    free(sig);
    keys_cleanup(&k);
}

TEST(signature_header_problems)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    char *sig = sign(&k, BASE_EVENT);
    sy_error e;
    CHECK_INT(verify_body(&k, BASE_EVENT, "k2", sig, false, &e), SY_INVALID);
    CHECK_STR(e.code, "unknown_key");
    CHECK_STR(e.path, "Sy-Key-Id");
    CHECK_STR(e.message, "unknown key id \"k2\"");
    CHECK_INT(verify_body(&k, BASE_EVENT, "k1", NULL, false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    CHECK_INT(verify_body(&k, BASE_EVENT, NULL, sig, false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    CHECK_INT(verify_body(&k, BASE_EVENT, "k1", "not base64!", false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    CHECK_INT(verify_body(&k, BASE_EVENT, "k1", "AAAA", false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    free(sig);
    keys_cleanup(&k);
}

TEST(unsigned_events_pass_unless_required)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    sy_error e;
    CHECK_INT(verify_body(&k, BASE_EVENT, NULL, NULL, false, &e), SY_OK);
    CHECK_INT(verify_body(&k, BASE_EVENT, NULL, NULL, true, &e), SY_INVALID);
    CHECK_STR(e.code, "unsigned");
    keys_cleanup(&k);
}

TEST(keyring_can_require_signatures_per_source)
{
    keys k;
    keys_setup(&k, ALL_KEYRING "require-signature mono*,billing\n");
    sy_error e;
    CHECK_INT(verify_body(&k, BASE_EVENT, NULL, NULL, false, &e), SY_INVALID); /* monolith */
    CHECK_STR(e.code, "unsigned");
    char *other = event_with("source", "\"web\"");
    CHECK_INT(verify_body(&k, other, NULL, NULL, false, &e), SY_OK);
    free(other);
    keys_cleanup(&k);
}

TEST(key_grants_limit_sources_and_types)
{
    keys k;
    keys_setup(&k, "key k1 %s sources=billing types=kg.*,other.>\n");
    char *sig = sign(&k, BASE_EVENT);
    sy_error e;
    CHECK_INT(verify_body(&k, BASE_EVENT, "k1", sig, false, &e), SY_INVALID);
    CHECK_STR(e.code, "bad_signature");
    CHECK_STR(e.path, "source");
    free(sig);
    char *body = event_with("source", "\"billing\"");
    sig = sign(&k, body);
    CHECK_INT(verify_body(&k, body, "k1", sig, false, &e), SY_INVALID); /* kg.* is one segment */
    CHECK_STR(e.path, "type");
    free(sig);
    free(body);
    keys_cleanup(&k);
}

TEST(type_globs)
{
    keys k;
    keys_setup(&k, "key k1 %s sources=billing types=kg.>\n");
    char *body = event_with("source", "\"billing\"");
    char *sig = sign(&k, body);
    sy_error e;
    CHECK_MSG(verify_body(&k, body, "k1", sig, false, &e) == SY_OK, "%s", e.message);
    free(sig);
    free(body);
    keys_cleanup(&k);
}

TEST(signed_events_have_a_max_clock_skew)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    char *sig = sign(&k, BASE_EVENT);
    envelope_opts o = {0};
    o.keyring = k.kr;
    o.now_ms = BASE_EVENT_MS + 5 * 60 * 1000 + 1; /* default skew 5 minutes */
    envelope_meta m = {.key_id = "k1", .signature = sig};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &m, &o, "clock_skew", "occurred_at");
    o.now_ms = BASE_EVENT_MS - 5 * 60 * 1000 - 1;
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &m, &o, "clock_skew", "occurred_at");
    o.max_clock_skew_ms = 10 * 60 * 1000;
    envelope *env;
    sy_error e;
    CHECK_INT(parse_body(BASE_EVENT, strlen(BASE_EVENT), &m, &o, &env, &e), SY_OK);
    envelope_free(env);
    /* unsigned events are not held to the skew */
    o.max_clock_skew_ms = 1;
    CHECK_INT(parse_body(BASE_EVENT, strlen(BASE_EVENT), NULL, &o, &env, &e), SY_OK);
    envelope_free(env);
    free(sig);
    keys_cleanup(&k);
}

static void keyring_fails(const char *text, const char *line_suffix)
{
    char *dir = temp_dir(), path[300], want[320];
    snprintf(path, sizeof path, "%s/keyring", dir);
    write_file(path, text);
    envelope_keyring *kr = (envelope_keyring *)1;
    sy_error e;
    CHECK_INT(envelope_keyring_load(path, &kr, &e), SY_CONFIG);
    CHECK(kr == NULL);
    CHECK_STR(e.code, "bad_keyring");
    snprintf(want, sizeof want, "%s%s", path, line_suffix);
    CHECK_STR(e.path, want);
    unlink(path);
    rmdir(dir);
    free(dir);
}

TEST(bad_keyring_files_name_the_line)
{
    const char *pk = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    char text[512];
    snprintf(text, sizeof text, "# c\n\nkey a %s sources=* types=>\nkey a %s sources=* types=>\n",
             pk, pk);
    keyring_fails(text, ":4"); /* duplicate id */
    keyring_fails("key a ed25519:AAAA sources=* types=>\n", ":1");
    snprintf(text, sizeof text, "key a %s sources=*\n", pk);
    keyring_fails(text, ":1"); /* types= missing */
    snprintf(text, sizeof text, "key a %s sources=* types=> colour=blue\n", pk);
    keyring_fails(text, ":1");
    keyring_fails("\nfrobnicate\n", ":2");
    keyring_fails("require-signature\n", ":1");
    envelope_keyring *kr;
    sy_error e;
    CHECK_INT(envelope_keyring_load("/nonexistent/keyring", &kr, &e), SY_CONFIG);
}

TEST(secret_key_readable_by_others_is_refused)
{
    keys k;
    keys_setup(&k, ALL_KEYRING);
    CHECK(chmod(k.secret, 0644) == 0);
    char *kid = NULL, *sig = NULL;
    sy_error e;
    CHECK_INT(envelope_sign(k.secret, "x", 1, &kid, &sig, &e), SY_CONFIG);
    CHECK(kid == NULL && sig == NULL);
    keys_cleanup(&k);
}

TEST(signature_without_keyring_cannot_be_trusted)
{
    envelope_opts o = {0};
    o.require_signature = true;
    envelope_meta m = {.key_id = "k1", .signature = "AAAA"};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &m, &o, "unknown_key", "Sy-Key-Id");
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), NULL, &o, "unsigned", "Sy-Signature");
}

/* No keyring and no require_signature: a signature nobody can check is
 * rejected, never taken for a signed event (it was accepted unchecked). */
TEST(signature_with_no_keyring_configured_is_an_unknown_key)
{
    envelope_meta m = {.key_id = "k1", .signature = "AAAA"};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &m, NULL, "unknown_key", "Sy-Key-Id");
    envelope *env = NULL;
    sy_error e;
    CHECK_INT(parse_body(BASE_EVENT, strlen(BASE_EVENT), &m, NULL, &env, &e), SY_INVALID);
    CHECK_STR(e.message, "no keyring is configured to verify key \"k1\"");
    /* half a signature is still a malformed one, keyring or not */
    envelope_meta half = {.signature = "AAAA"};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &half, NULL, "bad_signature", "Sy-Key-Id");
    envelope_meta half2 = {.key_id = "k1", .signature = ""};
    expect_invalid_meta(BASE_EVENT, strlen(BASE_EVENT), &half2, NULL, "bad_signature",
                        "Sy-Signature");
    /* no signature headers at all: unsigned and accepted, as before */
    envelope_free(expect_valid(BASE_EVENT));
}
