/* json.h: a strict JSON parser producing a cJSON tree, and small helpers.
 *
 * cJSON's own parser accepts duplicate keys (the last one silently wins for
 * some lookups, the first for others), does not check UTF-8 and has no depth
 * limit. Every JSON that comes from outside (event bodies, payloads, rules in
 * JSON, API bodies) goes through sy_json_parse instead, which rejects:
 *   - anything that is not RFC 8259 JSON (incl. trailing garbage, a BOM,
 *     leading zeros, NaN, single quotes, comments)      code "bad_json"
 *   - a duplicate key in any object                      code "duplicate_key"
 *   - invalid UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated
 *     sequences) and lone surrogate \u escapes           code "bad_utf8"
 *   - nesting deeper than max_depth                      code "too_deep"
 *   - "\u0000" inside a string (a cJSON string is NUL-terminated; accepting
 *     it would silently truncate the value)              code "bad_json"
 * Errors carry the JSON path of the offending value in err->path
 * ("payload.items[3].id"; "" for the root; a key that is not a plain
 * identifier is written ["like this"]) and the byte offset, line and column
 * in err->message.
 *
 * Key lookup: cJSON_GetObjectItem compares keys case-INsensitively, so
 * {"Type": ...} would be found as "type". Never use it; use
 * cJSON_GetObjectItemCaseSensitive (or sy_json_get, which is the same).
 *
 * Numbers become cJSON doubles (as cJSON_Parse does): integers beyond 2^53
 * lose precision, so ids that large belong in strings.
 *
 * The tree is built with malloc and freed by cJSON_Delete with cJSON's
 * default hooks (nobody may call cJSON_InitHooks). */
#ifndef SY_JSON_H
#define SY_JSON_H

#include "buf.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SY_JSON_DEFAULT_DEPTH 32

#define SY_JSON_ERR_BAD_JSON "bad_json"
#define SY_JSON_ERR_DUPLICATE_KEY "duplicate_key"
#define SY_JSON_ERR_BAD_UTF8 "bad_utf8"
#define SY_JSON_ERR_TOO_DEEP "too_deep"

/* Parses exactly 'len' bytes at 'text' (not retained; need not be
 * NUL-terminated; NULL when len is 0) as one JSON value of any kind. max_depth: the deepest
 * allowed nesting of objects/arrays (the root container is depth 1; 0 means
 * SY_JSON_DEFAULT_DEPTH). path_prefix (borrowed, may be NULL or "") is
 * prepended to error paths, e.g. "payload" when parsing a payload on its own.
 * SY_OK: *out is a new tree owned by the caller (cJSON_Delete).
 * SY_INVALID: *out is NULL, *err has code, path and message. SY_NOMEM. */
sy_status sy_json_parse(const char *text, size_t len, size_t max_depth, const char *path_prefix,
                        cJSON **out, sy_error *err) SY_MUST_USE;

/* True when the len bytes at s are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool sy_json_utf8_valid(const char *s, size_t len);

/* Case-sensitive member lookup (borrowed; NULL when absent or obj is not an
 * object). */
const cJSON *sy_json_get(const cJSON *obj, const char *key);

/* Borrowed string value of member 'key', NULL when absent or not a string. */
const char *sy_json_get_string(const cJSON *obj, const char *key);

/* Appends ".key" (or "key" when b is empty, or ["key"] when key is not
 * [A-Za-z0-9_$-]+) to a JSON path being built in b. */
void sy_json_path_key(sy_buf *b, const char *key);

/* Appends "[index]" to a JSON path being built in b. */
void sy_json_path_index(sy_buf *b, size_t index);

/* Appends v to b as compact JSON text (strings escaped as JSON needs). */
void sy_json_append(sy_buf *b, const cJSON *v);

/* Appends s to b as a JSON string literal, quotes included. */
void sy_json_append_string(sy_buf *b, const char *s);

#endif
