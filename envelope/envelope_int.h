/* envelope_int.h: shared between the envelope component's own files only
 * (envelope.c, envelope_proto.c, envelope_ce.c, schema*.c, keyring.c). */
#ifndef SY_ENVELOPE_INT_H
#define SY_ENVELOPE_INT_H

#include "envelope.h"

#define ENVELOPE_DEFAULT_MAX_BYTES (1024 * 1024)
#define ENVELOPE_DEFAULT_SKEW_MS (5 * 60 * 1000)
#define ENVELOPE_MAX_DEPTH 32

/* The envelope: one cJSON object in canonical form plus borrowed views of
 * its members, so accessors cost nothing and envelope_json is free. */
struct envelope {
    cJSON *json; /* owned: exactly the envelope's members */
    const char *event_id, *type, *source, *occurred_at, *subject, *trace_id; /* into json */
    int64_t occurred_at_ms;
    int64_t schema_version;
    const cJSON *payload; /* into json */
    /* A CloudEvent's trace context beyond its trace id (never members of
     * json): the parent id of its traceparent attribute ("" without one)
     * and its tracestate attribute (owned, NULL without one or without a
     * traceparent, which W3C says it is meaningless without). */
    char trace_parent[17];
    char *tracestate;
};

/* The member names to use in error paths, in the order event_id, type,
 * source, occurred_at, subject, trace_id, schema_version, payload
 * (CloudEvents reports its own attribute names). */
typedef const char *const envelope__names[8];
extern envelope__names envelope__json_names;

/* Validates the canonical object root (taken: owned by *out on success,
 * freed on failure) and returns a new envelope. unknown members are an
 * error when check_unknown. */
sy_status envelope__from_json(cJSON *root, const envelope__names names, bool check_unknown,
                              envelope **out, sy_error *err) SY_MUST_USE;

/* Decodes a protobuf body into a canonical object (owned by the caller). */
sy_status envelope__proto_decode(const char *body, size_t len, cJSON **out,
                                 sy_error *err) SY_MUST_USE;

/* Maps a CloudEvent into a validated envelope: structured mode (the JSON
 * event format in body), or binary (attributes in meta's ce-* headers, data
 * in body). received_ms: the default time (0: now). envelope_ce.c. */
sy_status envelope__ce_parse(const char *body, size_t len, const envelope_meta *meta, bool binary,
                             int64_t received_ms, envelope **out, sy_error *err) SY_MUST_USE;
extern envelope__names envelope__ce_names;

/* Whether meta's headers make a binary-mode CloudEvent (ce-specversion). */
bool envelope__ce_binary(const envelope_meta *meta);

/* A CloudEvent's members under the envelope's names, as far as they are
 * there (id, type, source, the traceparent's trace id), for envelope_peek.
 * NULL when its attributes cannot be read. Owned. */
cJSON *envelope__ce_peek(const char *body, size_t len, const envelope_meta *meta, bool binary);

/* Checks the payload of env against schemas; ENVELOPE_ERR_NO_SCHEMA when the
 * (type, version) has none and require is set. */
sy_status envelope__schema_check(const envelope_schemas *s, const envelope *env, bool require,
                                 sy_error *err) SY_MUST_USE;

/* Verifies meta's signature over body with the keyring and checks the
 * key's grants and the clock skew (opts already defaulted). */
sy_status envelope__signature_check(const envelope_keyring *k, const char *body, size_t len,
                                    const envelope_meta *meta, const envelope *env,
                                    const envelope_opts *opts, sy_error *err) SY_MUST_USE;

/* ---- payload schemas (schema_compile.c, schema_validate.c) ---------------- */

#include <regex.h>

typedef struct schema_node schema_node;

enum {
    SCHEMA_T_NULL = 1 << 0,
    SCHEMA_T_BOOLEAN = 1 << 1,
    SCHEMA_T_OBJECT = 1 << 2,
    SCHEMA_T_ARRAY = 1 << 3,
    SCHEMA_T_NUMBER = 1 << 4,
    SCHEMA_T_STRING = 1 << 5,
    SCHEMA_T_INTEGER = 1 << 6,
};

enum { SCHEMA_FMT_NONE, SCHEMA_FMT_DATE_TIME, SCHEMA_FMT_UUID };

typedef struct schema_prop {
    char *name; /* owned */
    schema_node *schema;
} schema_prop;

/* One compiled (sub)schema. Every pointer to another node is borrowed from
 * the owning schema document's node list; cJSON pointers borrow its tree. */
struct schema_node {
    bool always_false;  /* the boolean schema `false` */
    unsigned types;     /* SCHEMA_T_* mask; 0 = any */
    schema_prop *props; /* owned array */
    size_t nprops;
    char **required; /* owned array of owned names */
    size_t nrequired;
    bool no_additional;      /* additionalProperties: false */
    schema_node *additional; /* additionalProperties: <schema> */
    const cJSON *enum_values, *const_value;
    bool has_min, has_max, has_xmin, has_xmax;
    double min, max, xmin, xmax;
    long min_len, max_len, min_items, max_items; /* -1: unset */
    regex_t pattern;
    bool has_pattern;
    char *pattern_src; /* owned, for messages */
    int format;
    schema_node *items;
    schema_node *ref;
    schema_node **all_of, **any_of, **one_of; /* owned arrays */
    size_t nall_of, nany_of, none_of;
};

/* One payload schema: (type, version) -> compiled root. */
typedef struct schema_doc {
    char *type; /* owned */
    int64_t version;
    cJSON *json;         /* owned source tree (enum/const point into it) */
    schema_node *root;   /* borrowed from nodes */
    schema_node **nodes; /* owned: every node of this document */
    size_t nnodes;
} schema_doc;

struct envelope_schemas {
    schema_doc *docs; /* owned, sorted by (type, version) */
    size_t ndocs;
};

/* Compiles one schema tree (taken) as doc's root; SY_CONFIG with 'file' in
 * err->path and the schema location in the message. */
sy_status envelope__schema_compile(cJSON *json, const char *file, schema_doc *doc,
                                   sy_error *err) SY_MUST_USE;
void envelope__schema_doc_cleanup(schema_doc *doc);

/* Validates v against node; path_prefix names v ("payload"). err may be NULL
 * (then only the verdict is computed). */
sy_status envelope__schema_validate(const schema_node *node, const cJSON *v,
                                    const char *path_prefix, sy_error *err) SY_MUST_USE;

/* Key ids: 1-64 of [A-Za-z0-9._:-] (keyring.c). */
bool envelope__key_id_ok(const char *s);

/* Type glob match used by keyring grants: `*` one segment, `>` the rest. */
bool envelope__type_glob(const char *pattern, const char *type);

#endif
