/* fuzz_envelope.c: libFuzzer target for envelope parsing and validation.
 *
 * The first input byte picks the wire format (JSON, protobuf, CloudEvents)
 * and whether a payload schema set is applied; the rest is the body. Every
 * input must come back as SY_OK with a complete envelope or SY_INVALID with
 * a code, never crash, leak or hang. Accepted envelopes are re-encoded
 * (JSON and protobuf) and must parse again to the same canonical JSON. */
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
    envelope_meta pm = {"application/protobuf", NULL, NULL};
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const types[] = {"application/json", "application/protobuf",
                                        "application/cloudevents+json", NULL};
    envelope_meta meta = {types[data[0] & 3], NULL, NULL};
    envelope_opts opts = {0};
    opts.now_ms = 1795255200000LL;
    opts.max_bytes = 64 * 1024;
    if (data[0] & 4)
        opts.schemas = fuzz_schemas();
    envelope *env = NULL;
    sy_error e;
    sy_error_clear(&e);
    sy_status st = envelope_parse((const char *)data + 1, size - 1, &meta, &opts, &env, &e);
    if (st == SY_OK) {
        if (!env || !envelope_event_id(env) || !envelope_json(env))
            abort();
        check_round_trip(env);
    } else if (env || e.code[0] == '\0') {
        abort();
    }
    envelope_free(env);
    return 0;
}
