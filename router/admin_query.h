/* admin_query.h: the workflow list's query box (docs/http-api.md), e.g.
 *
 *   status = running AND type = gap-drain AND started >= 2026-01-01
 *
 * parsed into the fields of an engine_list_filter, which the engine turns
 * into parameterised SQL: the text of a query never reaches SQL. Pure (no
 * I/O), so the unit tests and the fuzzer call it directly.
 *
 * Grammar: cond (AND cond)*, AND in any case; cond is FIELD OP VALUE with
 *   status  =   running|completed|failed|canceled|terminated
 *   type    =   a workflow type            queue = a task queue
 *   id      ^=  a prefix (also: id = prefix*)
 *   started >, >=, <, <=  an RFC 3339 time or a date (YYYY-MM-DD, UTC)
 * VALUE is a bare word or a "double-quoted string" (\" and \\ escapes).
 * Each field at most once (started: once per direction). */
#ifndef SY_ROUTER_ADMIN_QUERY_H
#define SY_ROUTER_ADMIN_QUERY_H

#include "status.h"

#include <stdint.h>

typedef struct admin_query {
    char status[16], type[256], id_prefix[256], queue[256]; /* "" when not given */
    int64_t started_after_ms;                               /* inclusive; 0 when not given */
    int64_t started_before_ms;                              /* exclusive; 0 when not given */
} admin_query;

/* Parses text (at most 2000 bytes) into *out. SY_INVALID with err->path "q"
 * and a message "q:1:COL: ..." naming what is wrong where. */
sy_status admin_query_parse(const char *text, admin_query *out, sy_error *err) SY_MUST_USE;

#endif
