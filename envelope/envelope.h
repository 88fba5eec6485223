/* envelope.h: the canonical event envelope (envelope/README.md).
 *
 * Parses and validates one event body (JSON, protobuf or CloudEvents JSON,
 * chosen by content type), optionally checks its payload against a JSON
 * Schema by (type, schema_version) and its Ed25519 signature against a
 * keyring. Every rejection is an sy_error with a stable code, the JSON path
 * of the offending field and a human message.
 *
 * Knows nothing of NATS or Postgres: headers come in as plain strings.
 * Thread safety: an envelope_schemas / envelope_keyring is immutable after
 * load and may be shared by threads; an envelope belongs to one thread. */
#ifndef SY_ENVELOPE_H
#define SY_ENVELOPE_H

#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct envelope envelope;
typedef struct envelope_schemas envelope_schemas; /* compiled payload schemas */
typedef struct envelope_keyring envelope_keyring; /* Ed25519 public keys */

/* Stable error codes (sy_error.code). */
#define ENVELOPE_ERR_MISSING_FIELD "missing_field"
#define ENVELOPE_ERR_BAD_FIELD "bad_field"         /* wrong JSON type or bad characters */
#define ENVELOPE_ERR_BAD_TYPE "bad_type"           /* the `type` field's syntax */
#define ENVELOPE_ERR_BAD_TIMESTAMP "bad_timestamp"
#define ENVELOPE_ERR_BAD_TRACE_ID "bad_trace_id"
#define ENVELOPE_ERR_UNKNOWN_FIELD "unknown_field"
#define ENVELOPE_ERR_DUPLICATE_KEY "duplicate_key"
#define ENVELOPE_ERR_BAD_JSON "bad_json"
#define ENVELOPE_ERR_BAD_UTF8 "bad_utf8"
#define ENVELOPE_ERR_TOO_DEEP "too_deep"
#define ENVELOPE_ERR_TOO_LARGE "too_large"
#define ENVELOPE_ERR_BAD_PROTOBUF "bad_protobuf"
#define ENVELOPE_ERR_SCHEMA_MISMATCH "schema_mismatch"
#define ENVELOPE_ERR_NO_SCHEMA "no_schema"
#define ENVELOPE_ERR_BAD_SIGNATURE "bad_signature"
#define ENVELOPE_ERR_UNKNOWN_KEY "unknown_key" /* signed, but nobody can check it */
#define ENVELOPE_ERR_UNSIGNED "unsigned"
#define ENVELOPE_ERR_CLOCK_SKEW "clock_skew"

typedef enum {
    ENVELOPE_FORMAT_AUTO,       /* by content type; JSON when absent */
    ENVELOPE_FORMAT_JSON,
    ENVELOPE_FORMAT_PROTOBUF,
    ENVELOPE_FORMAT_CLOUDEVENTS,
} envelope_format;

/* Options for parsing; copied by the callee, never retained. */
typedef struct envelope_opts {
    size_t max_bytes;                  /* 0: 1 MiB */
    const envelope_schemas *schemas;   /* NULL: no payload validation */
    bool require_schema;               /* reject a (type, version) without schema */
    const envelope_keyring *keyring;   /* NULL: a signed event is unknown_key */
    bool require_signature;            /* every event must be signed */
    int64_t max_clock_skew_ms;         /* signed events: |now - occurred_at|; 0: 5 min */
    int64_t now_ms;                    /* 0: the real clock (tests pin it) */
} envelope_opts;

/* Transport metadata of one message; all borrowed, NULL when absent. */
typedef struct envelope_meta {
    const char *content_type;  /* "application/json", "application/protobuf",
                                  "application/cloudevents+json" */
    const char *key_id;        /* Sy-Key-Id header */
    const char *signature;     /* Sy-Signature header, base64 */
    /* Every header of the message as name, value, name, value, ... (nheaders
     * pairs; names compared case-insensitively): a ce-specversion header
     * makes the message a binary-mode CloudEvent, its ce-* headers its
     * attributes (envelope/README.md). NULL: none. */
    const char *const *headers;
    size_t nheaders;
    int64_t received_ms; /* when the transport received it (the stream's timestamp): a
                            CloudEvent's default time; 0: now */
} envelope_meta;

/* Parses and validates 'len' bytes at 'body' (not retained).
 * SY_OK: *out is a new envelope owned by the caller (envelope_free).
 * Otherwise *out is NULL, the status is SY_INVALID (or SY_NOMEM) and *err
 * holds code, path and message. Any thread. */
sy_status envelope_parse(const char *body, size_t len, const envelope_meta *meta,
                         const envelope_opts *opts, envelope **out, sy_error *err) SY_MUST_USE;

void envelope_free(envelope *env); /* NULL is a no-op */

/* What could be read of an event that envelope_parse refused, for its dead
 * letter: each of event_id, type, source and trace_id (CloudEvents: id,
 * type, source, the traceparent's trace id) that is present and passes its
 * own field rule, else NULL. Strings owned by the struct. */
typedef struct envelope_fields {
    char *event_id, *type, *source, *trace_id;
} envelope_fields;

/* Fills *out (always; all NULL when nothing could be read, e.g. a body that
 * is not JSON or over opts->max_bytes) from body in the format meta names,
 * as envelope_parse would read it. opts may be NULL. Any thread. */
void envelope_peek(const char *body, size_t len, const envelope_meta *meta,
                   const envelope_opts *opts, envelope_fields *out);
void envelope_fields_cleanup(envelope_fields *f); /* frees the strings; NULL is a no-op */

/* Borrowed accessors, valid as long as env. subject is NULL when absent. */
const char *envelope_event_id(const envelope *env);
const char *envelope_type(const envelope *env);
const char *envelope_source(const envelope *env);
const char *envelope_occurred_at(const envelope *env);  /* as given, RFC 3339 */
int64_t envelope_occurred_at_ms(const envelope *env);   /* Unix epoch milliseconds */
const char *envelope_subject(const envelope *env);
const char *envelope_trace_id(const envelope *env);
/* A CloudEvent's W3C trace context attributes: the parent id (16 hex) of
 * its traceparent, "" without one (every other format: ""), and its
 * tracestate as given (checked as W3C's), NULL without one or without a
 * traceparent. The router's NATS headers take precedence over both
 * (router/README.md). */
const char *envelope_trace_parent(const envelope *env);
const char *envelope_tracestate(const envelope *env);
int64_t envelope_schema_version(const envelope *env);
const cJSON *envelope_payload(const envelope *env);
/* The whole envelope as a JSON object {event_id, type, ..., payload}: the
 * context that rules' `where` expressions and templates read. Borrowed. */
const cJSON *envelope_json(const envelope *env);

/* Builds a validated envelope from parts (used by `switchyard publish`,
 * rules' embedded tests and the engine's emit step). payload is borrowed
 * (deep-copied). Same validation as envelope_parse. */
sy_status envelope_new(const char *event_id, const char *type, const char *source,
                       const char *occurred_at, const char *subject, const char *trace_id,
                       int64_t schema_version, const cJSON *payload, envelope **out,
                       sy_error *err) SY_MUST_USE;

/* Canonical JSON encoding (compact, fixed member order). Owned: free(). */
char *envelope_to_json(const envelope *env);

/* Protobuf encoding. SY_OK: *buf is owned (free()), *len its size. */
sy_status envelope_to_protobuf(const envelope *env, uint8_t **buf, size_t *len,
                               sy_error *err) SY_MUST_USE;

/* Payload schemas: loads every schemas/events/<type>/v<N>.json under dir and
 * compiles them. A schema that does not compile is SY_CONFIG with the file
 * in err->path. SY_OK: *out owned (envelope_schemas_free). */
sy_status envelope_schemas_load(const char *dir, envelope_schemas **out, sy_error *err) SY_MUST_USE;
void envelope_schemas_free(envelope_schemas *s);

/* Keyring file (format in envelope/README.md). SY_CONFIG with file:line on
 * a bad file. SY_OK: *out owned (envelope_keyring_free). */
sy_status envelope_keyring_load(const char *path, envelope_keyring **out, sy_error *err) SY_MUST_USE;
void envelope_keyring_free(envelope_keyring *k);

/* Signs body with a secret key file written by envelope_keygen; *sig_b64 is
 * owned (free()). */
sy_status envelope_sign(const char *secret_key_path, const char *body, size_t len,
                        char **key_id, char **sig_b64, sy_error *err) SY_MUST_USE;

/* Writes a new key pair: <prefix>.key (secret, mode 0600) and <prefix>.pub
 * (a keyring line). key_id is recorded in both. */
sy_status envelope_keygen(const char *key_id, const char *prefix, sy_error *err) SY_MUST_USE;

#endif
