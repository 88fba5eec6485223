/* keyfile.c: Ed25519 key pairs on disk: `switchyard keygen` writes them,
 * publishers sign with the secret half (envelope_sign).
 *
 *   <prefix>.key  mode 0600: "secret <key id> ed25519:<base64 64-byte key>"
 *   <prefix>.pub  a keyring line: "key <key id> ed25519:<base64> sources=* types=>"
 *
 * Existing files are never overwritten, and a secret key file readable by
 * group or others is refused, as ssh does. Secret bytes are wiped from
 * memory after use. */
#include "envelope_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_ERR "bad_key_file"

static sy_status write_new_file(const char *path, mode_t mode, const char *text, sy_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return sy_error_set(err, SY_CONFIG, KEYFILE_ERR, path, "could not create \"%s\": %s", path,
                            strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return sy_error_set(err, SY_IO, KEYFILE_ERR, path, "could not write \"%s\": %s", path,
                                strerror(e));
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(path);
        return sy_error_set(err, SY_IO, KEYFILE_ERR, path, "could not write \"%s\"", path);
    }
    return SY_OK;
}

sy_status envelope_keygen(const char *key_id, const char *prefix, sy_error *err)
{
    if (!envelope__key_id_ok(key_id))
        return sy_error_set(err, SY_USAGE, KEYFILE_ERR, "key_id",
                            "key id must be 1 to 64 of [A-Za-z0-9._:-]");
    if (sodium_init() < 0)
        return sy_error_set(err, SY_INTERNAL, "sodium", "", "libsodium failed to initialise");
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pk64[sodium_base64_ENCODED_LEN(sizeof pk, sodium_base64_VARIANT_ORIGINAL)];
    char sk64[sodium_base64_ENCODED_LEN(sizeof sk, sodium_base64_VARIANT_ORIGINAL)];
    char text[512], path[4096];
    crypto_sign_keypair(pk, sk);
    sodium_bin2base64(pk64, sizeof pk64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sk64, sizeof sk64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "# switchyard secret key: keep private\nsecret %s ed25519:%s\n",
             key_id, sk64);
    snprintf(path, sizeof path, "%s.key", prefix);
    sy_status st = write_new_file(path, 0600, text, err);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk64, sizeof sk64);
    sodium_memzero(text, sizeof text);
    if (st != SY_OK)
        return st;
    snprintf(text, sizeof text,
             "# switchyard keyring line: narrow sources= and types= before use\n"
             "key %s ed25519:%s sources=* types=>\n",
             key_id, pk64);
    char pub[4096];
    snprintf(pub, sizeof pub, "%s.pub", prefix);
    st = write_new_file(pub, 0644, text, err);
    if (st != SY_OK)
        unlink(path);
    return st;
}

/* Reads "secret ID ed25519:B64" from path into id and sk. */
static sy_status read_secret(const char *path, char id[65], unsigned char *sk, sy_error *err)
{
    struct stat sb;
    FILE *f = fopen(path, "r");
    if (!f)
        return sy_error_set(err, SY_CONFIG, KEYFILE_ERR, path, "could not open \"%s\": %s", path,
                            strerror(errno));
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077)) {
        fclose(f);
        return sy_error_set(err, SY_CONFIG, KEYFILE_ERR, path,
                            "secret key file \"%s\" is accessible by group or others (chmod 600)",
                            path);
    }
    char line[512], b64[256];
    sy_status st = sy_error_set(err, SY_CONFIG, KEYFILE_ERR, path,
                                "no \"secret <id> ed25519:<key>\" line in \"%s\"", path);
    while (fgets(line, sizeof line, f)) {
        size_t got = 0;
        if (sscanf(line, "secret %64s ed25519:%255s", id, b64) != 2)
            continue;
        if (sodium_base642bin(sk, crypto_sign_SECRETKEYBYTES, b64, strlen(b64), NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0 &&
            got == crypto_sign_SECRETKEYBYTES) {
            sy_error_clear(err);
            st = SY_OK;
        }
        break;
    }
    sodium_memzero(line, sizeof line);
    sodium_memzero(b64, sizeof b64);
    fclose(f);
    return st;
}

sy_status envelope_sign(const char *secret_key_path, const char *body, size_t len, char **key_id,
                        char **sig_b64, sy_error *err)
{
    *key_id = NULL;
    *sig_b64 = NULL;
    if (sodium_init() < 0)
        return sy_error_set(err, SY_INTERNAL, "sodium", "", "libsodium failed to initialise");
    unsigned char sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    char id[65];
    sy_status st = read_secret(secret_key_path, id, sk, err);
    if (st != SY_OK)
        return st;
    crypto_sign_detached(sig, NULL, (const unsigned char *)body, len, sk);
    sodium_memzero(sk, sizeof sk);
    size_t n = sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(n);
    char *kid = strdup(id);
    if (!b64 || !kid) {
        free(b64);
        free(kid);
        return sy_error_set(err, SY_NOMEM, "nomem", "", "out of memory");
    }
    sodium_bin2base64(b64, n, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    *key_id = kid;
    *sig_b64 = b64;
    return SY_OK;
}
