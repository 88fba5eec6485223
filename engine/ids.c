/* ids.c: the engine's leaf helpers for identifiers and time: hex, random
 * bytes, the FNV hash, UUIDv7 run ids, trace ids, SHA-256 and RFC 3339
 * timestamps. Every other engine file may call these; this file calls
 * nothing of the engine, so the dependencies inside engine/ point one way. */
#include "engine_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Lower-case hex of n bytes into out (2n chars and a NUL). */
void engine__hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

void engine__random(unsigned char *out, size_t n)
{
    if (getrandom(out, n, 0) != (ssize_t)n)
        randombytes_buf(out, n);
}

uint64_t engine__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* A UUIDv7: 48 bits of Unix milliseconds, then random bits. Time-ordered
 * run ids keep the btrees keyed by them (runs, history, tasks) appending at
 * their right edge instead of touching random pages. */
void engine__uuid7(const unsigned char rnd[16], int64_t ms, char out[37])
{
    unsigned char b[16];
    memcpy(b, rnd, 16);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* RFC 4122 variant */
    char h[33];
    engine__hex(b, 16, h);
    static const int group[] = {8, 4, 4, 4, 12};
    const char *src = h;
    for (int g = 0; g < 5; g++) {
        memcpy(out, src, (size_t)group[g]);
        out += group[g];
        src += group[g];
        *out++ = g < 4 ? '-' : 0;
    }
}

void engine__uuid(char out[37])
{
    unsigned char raw[16];
    engine__random(raw, sizeof raw);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    engine__uuid7(raw, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out);
}

void engine__trace_id(char out[33])
{
    unsigned char raw[16];
    engine__random(raw, sizeof raw);
    engine__hex(raw, sizeof raw, out);
}

void engine__sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)data, len);
    engine__hex(h, sizeof h, out);
}

void engine__rfc3339(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}
