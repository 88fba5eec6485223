/* fuzz_envelope.c: libFuzzer target for envelope parsing and validation.
 *
 * The first input byte picks the content type (JSON, protobuf, CloudEvents
 * structured, none: bits 0-1), whether a payload schema set is applied (bit
 * 2) and whether headers come first (bit 3: "name: value" lines up to an
 * empty line, as a binary-mode CloudEvent brings them); the rest is the
 * body. Every input must come back as SY_OK with a complete envelope or
 * SY_INVALID with a code, never crash, leak or hang; a refused one is also
 * peeked at (envelope_peek), as the router does for its dead letter.
 * Accepted envelopes are re-encoded (JSON and protobuf) and must parse
 * again to the same canonical JSON. */
#include "envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char fuzz_schema[] =
    "{\"type\":\"object\",\"properties\":{\"gap_id\":{\"type\":\"integer\",\"minimum\":1},"
    "\"kind\":{\"enum\":[\"kg\",\"web\"]},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"pattern\":\"^[a-z-]+$\",\"maxLength\":8}},\"n\":{\"anyOf\":[{\"type\":"
    "\"null\"},{\"$ref\":\"#/$defs/n\"}]}},\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":"
    "{\"n\":{\"$ref\":\"#/$defs/n\"}}}}}";

/* Built once per process from a temp dir; immutable afterwards. */
static envelope_schemas *fuzz_schemas(void)
{
    static envelope_schemas *s;
    static int tried;
    if (tried)
        return s;
    tried = 1;
    char dir[] = "/tmp/sy-fuzz-envelope-XXXXXX", path[128];
    if (!mkdtemp(dir))
        return NULL;
    snprintf(path, sizeof path, "%s/kg.gap.ready", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/kg.gap.ready/v1.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(fuzz_schema, f);
        fclose(f);
    }
    sy_error e;
    if (envelope_schemas_load(dir, &s, &e) != SY_OK)
        abort(); /* the fixed schema must compile */
    unlink(path);
    snprintf(path, sizeof path, "%s/kg.gap.ready", dir);
    rmdir(path);
    rmdir(dir);
    return s;
}

static void check_round_trip(const envelope *env)
{
    char *json = envelope_to_json(env);
    envelope *again = NULL;
    sy_error e;
    if (envelope_parse(json, strlen(json), NULL, NULL, &again, &e) != SY_OK)
        abort();
    char *json2 = envelope_to_json(again);
    if (strcmp(json, json2) != 0)
        abort();
    uint8_t *pb = NULL;
    size_t len = 0;
    envelope_meta pm = {.content_type = "application/protobuf"};
    envelope *from_pb = NULL;
    if (envelope_to_protobuf(env, &pb, &len, &e) != SY_OK ||
        envelope_parse((const char *)pb, len, &pm, NULL, &from_pb, &e) != SY_OK)
        abort();
    char *json3 = envelope_to_json(from_pb);
    if (strcmp(json, json3) != 0)
        abort();
    free(json);
    free(json2);
    free(json3);
    free(pb);
    envelope_free(again);
    envelope_free(from_pb);
}

enum { MAX_HEADERS = 32 };

/* Splits "name: value\n" lines off the front of text (up to an empty line)
 * into pairs (pointers into text, which is modified); returns the pairs
 * and moves *body past them. */
static size_t split_headers(char *text, char **body, const char *pairs[2 * MAX_HEADERS])
{
    size_t n = 0;
    char *p = text;
    while (*p && *p != '\n' && n < MAX_HEADERS) {
        char *eol = strchr(p, '\n'), *colon = strchr(p, ':');
        if (!eol)
            break;
        *eol = '\0';
        if (colon && colon < eol) {
            *colon = '\0';
            pairs[2 * n] = p;
            pairs[2 * n + 1] = colon + 1;
            n++;
        }
        p = eol + 1;
    }
    *body = *p == '\n' ? p + 1 : p;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *copy = NULL; /* headers first: a NUL-terminated copy to split */
    const char *pairs[2 * MAX_HEADERS];
    size_t npairs = 0;
    const char *body = (const char *)data + 1;
    size_t blen = size - 1;
    if (data[0] & 8) {
        copy = malloc(size);
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        char *b = NULL;
        npairs = split_headers(copy, &b, pairs);
        body = b;
        blen = strlen(b); /* the body stops at a NUL in this mode */
    }
    static const char *const types[] = {"application/json", "application/protobuf",
                                        "application/cloudevents+json", NULL};
    envelope_meta meta = {.content_type = types[data[0] & 3],
                          .headers = pairs,
                          .nheaders = npairs,
                          .received_ms = 1795255200123LL};
    envelope_opts opts = {0};
    opts.now_ms = 1795255200000LL;
    opts.max_bytes = 64 * 1024;
    if (data[0] & 4)
        opts.schemas = fuzz_schemas();
    envelope *env = NULL;
    sy_error e;
    sy_error_clear(&e);
    sy_status st = envelope_parse(body, blen, &meta, &opts, &env, &e);
    if (st == SY_OK) {
        if (!env || !envelope_event_id(env) || !envelope_json(env))
            abort();
        check_round_trip(env);
    } else if (env || e.code[0] == '\0') {
        abort();
    } else {
        envelope_fields f;
        envelope_peek(body, blen, &meta, &opts, &f);
        envelope_fields_cleanup(&f);
    }
    envelope_free(env);
    free(copy);
    return 0;
}
