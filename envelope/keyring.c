/* keyring.c: Ed25519 signatures on envelopes (envelope/README.md).
 *
 * A publisher signs the exact body bytes; the router verifies them with
 * libsodium against a keyring that also says which sources and types each
 * key may emit, and which sources must be signed. Key files and the keyring
 * format are described in envelope/README.md. Only this file includes
 * sodium.h; libsodium's -1 becomes an sy_status here. */
#include "envelope_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYRING_ERR "bad_keyring"
#define KEY_ID_MAX 64
#define MAX_GLOBS 16

typedef struct keyring_key {
    char id[KEY_ID_MAX + 1];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char *sources[MAX_GLOBS], *types[MAX_GLOBS]; /* owned globs */
    size_t nsources, ntypes;
} keyring_key;

struct envelope_keyring {
    keyring_key *keys;
    size_t nkeys;
    char *required[MAX_GLOBS]; /* owned source globs that must be signed */
    size_t nrequired;
};

/* ---- globs ------------------------------------------------------------------ */

bool envelope__type_glob(const char *pattern, const char *type)
{
    const char *p = pattern, *t = type;
    for (;;) {
        size_t pl = strcspn(p, "."), tl = strcspn(t, ".");
        if (pl == 1 && *p == '>')
            return tl > 0;
        if (!(pl == 1 && *p == '*') && (pl != tl || strncmp(p, t, pl) != 0))
            return false;
        if (!p[pl] || !t[tl])
            return !p[pl] && !t[tl];
        p += pl + 1;
        t += tl + 1;
    }
}

static bool any_source(char *const *globs, size_t n, const char *source)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], source, 0) == 0)
            return true;
    return false;
}

static bool any_type(char *const *globs, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (envelope__type_glob(globs[i], type))
            return true;
    return false;
}

/* ---- keyring file --------------------------------------------------------------- */

bool envelope__key_id_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= KEY_ID_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

static sy_status cfg_error(sy_error *err, const char *path, size_t line, const char *msg,
                           const char *arg)
{
    char where[SY_ERROR_PATH_MAX];
    snprintf(where, sizeof where, "%s:%zu", path, line);
    return sy_error_set(err, SY_CONFIG, KEYRING_ERR, where, "%s:%zu: %s%s%s", path, line, msg,
                        arg ? ": " : "", arg ? arg : "");
}

/* Splits a comma list into owned globs. */
static bool split_globs(const char *list, char **out, size_t *n)
{
    while (*list) {
        size_t len = strcspn(list, ",");
        if (len == 0 || *n == MAX_GLOBS)
            return false;
        out[*n] = strndup(list, len);
        if (!out[*n])
            return false;
        (*n)++;
        list += len + (list[len] == ',');
    }
    return *n > 0;
}

static bool decode_b64(const char *s, unsigned char *out, size_t want)
{
    size_t got = 0;
    return sodium_base642bin(out, want, s, strlen(s), NULL, &got, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           got == want;
}

/* "key ID ed25519:B64 sources=a,b types=x.>" */
static sy_status parse_key_line(char **tok, size_t ntok, keyring_key *k, const char *path,
                                size_t line, sy_error *err)
{
    if (ntok < 5)
        return cfg_error(err, path, line,
                         "expected: key <id> ed25519:<public key> "
                         "sources=<globs> types=<globs>",
                         NULL);
    if (!envelope__key_id_ok(tok[1]))
        return cfg_error(err, path, line, "bad key id", tok[1]);
    snprintf(k->id, sizeof k->id, "%s", tok[1]);
    if (strncmp(tok[2], "ed25519:", 8) != 0 || !decode_b64(tok[2] + 8, k->pk, sizeof k->pk))
        return cfg_error(err, path, line, "expected ed25519:<base64 of 32 bytes>", NULL);
    for (size_t i = 3; i < ntok; i++) {
        bool ok;
        if (strncmp(tok[i], "sources=", 8) == 0 && k->nsources == 0)
            ok = split_globs(tok[i] + 8, k->sources, &k->nsources);
        else if (strncmp(tok[i], "types=", 6) == 0 && k->ntypes == 0)
            ok = split_globs(tok[i] + 6, k->types, &k->ntypes);
        else
            return cfg_error(err, path, line, "unexpected", tok[i]);
        if (!ok)
            return cfg_error(err, path, line, "bad glob list (1 to 16 comma-separated globs)",
                             tok[i]);
    }
    if (k->nsources == 0 || k->ntypes == 0)
        return cfg_error(err, path, line, "a key needs both sources= and types=", NULL);
    return SY_OK;
}

static sy_status add_key(envelope_keyring *kr, char **tok, size_t ntok, const char *path,
                         size_t line, sy_error *err)
{
    keyring_key *nk = realloc(kr->keys, (kr->nkeys + 1) * sizeof *nk);
    if (!nk)
        return sy_error_set(err, SY_NOMEM, "nomem", path, "out of memory");
    kr->keys = nk;
    keyring_key *k = &kr->keys[kr->nkeys++];
    memset(k, 0, sizeof *k);
    sy_status st = parse_key_line(tok, ntok, k, path, line, err);
    for (size_t i = 0; st == SY_OK && i + 1 < kr->nkeys; i++)
        if (strcmp(kr->keys[i].id, k->id) == 0)
            st = cfg_error(err, path, line, "duplicate key id", k->id);
    return st;
}

static sy_status parse_line(envelope_keyring *kr, char *s, const char *path, size_t line,
                            sy_error *err)
{
    char *tok[24];
    size_t ntok = 0;
    for (char *save = NULL, *t = strtok_r(s, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (ntok == 24)
            return cfg_error(err, path, line, "too many fields", NULL);
        tok[ntok++] = t;
    }
    if (ntok == 0 || tok[0][0] == '#')
        return SY_OK;
    if (strcmp(tok[0], "key") == 0)
        return add_key(kr, tok, ntok, path, line, err);
    if (strcmp(tok[0], "require-signature") == 0) {
        if (ntok != 2 || !split_globs(tok[1], kr->required, &kr->nrequired))
            return cfg_error(err, path, line, "expected: require-signature <source globs>", NULL);
        return SY_OK;
    }
    return cfg_error(err, path, line, "unknown directive", tok[0]);
}

sy_status envelope_keyring_load(const char *path, envelope_keyring **out, sy_error *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return sy_error_set(err, SY_INTERNAL, "sodium", "", "libsodium failed to initialise");
    FILE *f = fopen(path, "r");
    if (!f)
        return sy_error_set(err, SY_CONFIG, KEYRING_ERR, path, "could not open keyring \"%s\": %s",
                            path, strerror(errno));
    envelope_keyring *kr = calloc(1, sizeof *kr);
    char buf[4096];
    size_t line = 0;
    sy_status st = kr ? SY_OK : sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    while (st == SY_OK && fgets(buf, sizeof buf, f)) {
        line++;
        if (!strchr(buf, '\n') && !feof(f))
            st = cfg_error(err, path, line, "line too long", NULL);
        else
            st = parse_line(kr, buf, path, line, err);
    }
    fclose(f);
    if (st != SY_OK) {
        envelope_keyring_free(kr);
        return st;
    }
    *out = kr;
    return SY_OK;
}

void envelope_keyring_free(envelope_keyring *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nkeys; i++) {
        for (size_t j = 0; j < k->keys[i].nsources; j++)
            free(k->keys[i].sources[j]);
        for (size_t j = 0; j < k->keys[i].ntypes; j++)
            free(k->keys[i].types[j]);
    }
    for (size_t j = 0; j < k->nrequired; j++)
        free(k->required[j]);
    free(k->keys);
    free(k);
}

/* ---- verification ---------------------------------------------------------------- */

static const keyring_key *find_key(const envelope_keyring *k, const char *id)
{
    for (size_t i = 0; k && i < k->nkeys; i++)
        if (strcmp(k->keys[i].id, id) == 0)
            return &k->keys[i];
    return NULL;
}

static sy_status bad_sig(sy_error *err, const char *path, const char *msg, const char *arg)
{
    return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_BAD_SIGNATURE, path, "%s%s%s%s", msg,
                        arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
}

static sy_status verify(const keyring_key *key, const char *body, size_t len, const char *sig_b64,
                        const envelope *env, sy_error *err)
{
    if (!any_source(key->sources, key->nsources, env->source))
        return bad_sig(err, "source", "the signing key may not emit source", env->source);
    if (!any_type(key->types, key->ntypes, env->type))
        return bad_sig(err, "type", "the signing key may not emit type", env->type);
    unsigned char sig[crypto_sign_BYTES];
    if (!decode_b64(sig_b64, sig, sizeof sig))
        return bad_sig(err, "Sy-Signature", "the signature is not base64 of 64 bytes", NULL);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)body, len, key->pk) != 0)
        return bad_sig(err, "Sy-Signature", "the signature does not match the body for key",
                       key->id);
    return SY_OK;
}

sy_status envelope__signature_check(const envelope_keyring *k, const char *body, size_t len,
                                    const envelope_meta *meta, const envelope *env,
                                    const envelope_opts *opts, sy_error *err)
{
    bool key_id = meta->key_id && *meta->key_id, sig = meta->signature && *meta->signature;
    bool required =
        opts->require_signature || (k && any_source(k->required, k->nrequired, env->source));
    if (!key_id && !sig)
        return required ? sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNSIGNED, "Sy-Signature",
                                       "events from source \"%s\" must be signed", env->source)
                        : SY_OK;
    if (!key_id || !sig)
        return bad_sig(err, key_id ? "Sy-Signature" : "Sy-Key-Id",
                       "Sy-Key-Id and Sy-Signature must be given together", NULL);
    if (!k)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_KEY, "Sy-Key-Id",
                            "no keyring is configured to verify key \"%s\"", meta->key_id);
    const keyring_key *key = find_key(k, meta->key_id);
    if (!key)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_UNKNOWN_KEY, "Sy-Key-Id",
                            "unknown key id \"%s\"", meta->key_id);
    sy_status st = verify(key, body, len, meta->signature, env, err);
    if (st != SY_OK)
        return st;
    int64_t skew = opts->now_ms - env->occurred_at_ms;
    if (skew < 0)
        skew = -skew;
    if (skew > opts->max_clock_skew_ms)
        return sy_error_set(err, SY_INVALID, ENVELOPE_ERR_CLOCK_SKEW, "occurred_at",
                            "signed event's \"occurred_at\" is %lld ms away from now, over the "
                            "allowed %lld ms",
                            (long long)skew, (long long)opts->max_clock_skew_ms);
    return SY_OK;
}
