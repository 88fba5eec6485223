/* Shared helpers for the envelope unit tests: a valid base event and
 * variations of it, and parse-and-expect-error checks. */
#ifndef SY_ENVELOPE_FIXTURES_H
#define SY_ENVELOPE_FIXTURES_H

#include "envelope.h"
#include "json.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE_EVENT                                                                                 \
    "{\"event_id\":\"evt-1\",\"type\":\"kg.gap.ready\",\"source\":\"monolith\","                   \
    "\"occurred_at\":\"2026-11-21T10:00:00Z\",\"subject\":\"gap/42\","                             \
    "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"                      \
    "\"payload\":{\"gap_id\":42,\"priority\":3,\"kind\":\"kg\"}}"
#define BASE_EVENT_MS 1795255200000LL

/* BASE_EVENT with member key set to the raw JSON value (NULL: removed).
 * Owned: free(). */
static inline char *event_with(const char *key, const char *raw)
{
    cJSON *j = NULL, *v = NULL;
    sy_error e;
    CHECK(sy_json_parse(BASE_EVENT, strlen(BASE_EVENT), 0, NULL, &j, &e) == SY_OK);
    if (raw)
        CHECK_MSG(sy_json_parse(raw, strlen(raw), 0, NULL, &v, &e) == SY_OK, "raw %s", raw);
    if (cJSON_GetObjectItemCaseSensitive(j, key))
        cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (v)
        cJSON_AddItemToObject(j, key, v);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

/* Parses body with opts (NULL: defaults, clock pinned to the event time). */
static inline sy_status parse_body(const char *body, size_t len, const envelope_meta *meta,
                                   const envelope_opts *opts, envelope **env, sy_error *e)
{
    envelope_opts o = {0};
    if (opts)
        o = *opts;
    if (o.now_ms == 0)
        o.now_ms = BASE_EVENT_MS;
    sy_error_clear(e);
    return envelope_parse(body, len, meta, &o, env, e);
}

/* Expects body to be rejected with code and path; returns nothing. */
static inline void expect_invalid_meta(const char *body, size_t len, const envelope_meta *meta,
                                       const envelope_opts *opts, const char *code,
                                       const char *path)
{
    envelope *env = (envelope *)1;
    sy_error e;
    sy_status st = parse_body(body, len, meta, opts, &env, &e);
    CHECK_MSG(st == SY_INVALID, "expected %s at %s, got status %d for %s", code, path, st, body);
    CHECK(env == NULL);
    CHECK_MSG(strcmp(e.code, code) == 0 && strcmp(e.path, path) == 0,
              "expected %s at \"%s\", got %s at \"%s\" (%s)", code, path, e.code, e.path,
              e.message);
    CHECK(e.message[0] != '\0');
}

static inline void expect_invalid(const char *body, const char *code, const char *path)
{
    expect_invalid_meta(body, strlen(body), NULL, NULL, code, path);
}

/* Takes body (owned) and expects it to be rejected. */
static inline void expect_invalid_take(char *body, const char *code, const char *path)
{
    expect_invalid(body, code, path);
    free(body);
}

static inline envelope *expect_valid(const char *body)
{
    envelope *env = NULL;
    sy_error e;
    sy_status st = parse_body(body, strlen(body), NULL, NULL, &env, &e);
    CHECK_MSG(st == SY_OK, "rejected: %s at \"%s\": %s", e.code, e.path, e.message);
    return env;
}

static inline void expect_valid_take(char *body)
{
    envelope_free(expect_valid(body));
    free(body);
}

/* A fresh temporary directory (owned string). */
static inline char *temp_dir(void)
{
    char *d = strdup("/tmp/sy-envelope-test-XXXXXX");
    CHECK(mkdtemp(d) != NULL);
    return d;
}

static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    CHECK(fclose(f) == 0);
}

#endif
