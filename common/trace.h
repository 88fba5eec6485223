/* trace.h: W3C trace context (traceparent) and the span ids of switchyard's hops.
 *
 * Every hop of one event (the routed event, its workflow, each outcome
 * event, the worker's run of a task, each report) is a span of the event's
 * trace. A hop's span id is derived from the hop's own identity (an
 * event_id, a run_id, ...) with sy_span_id, so it is the same wherever and
 * however often it is computed (a re-published outcome event keeps its
 * span), and needs no storage; its parent is the span of the hop that
 * caused it (docs/operations.md, "following one trace"). Pure functions,
 * any thread. */
#ifndef SY_TRACE_H
#define SY_TRACE_H

#include "status.h"

#include <stddef.h>

#define SY_SPAN_ID_LEN 16     /* hex digits */
#define SY_TRACEPARENT_MAX 56 /* "00-" 32 "-" 16 "-" 2, NUL */
#define SY_TRACESTATE_MAX 512 /* W3C: characters, without the NUL */

/* The span id of the hop named by id (FNV-1a 64 of its bytes, never all
 * zero), as 16 lowercase hex digits in out. */
void sy_span_id(const char *id, char out[SY_SPAN_ID_LEN + 1]);

/* Parses a W3C traceparent "<version>-<32 hex trace id>-<16 hex parent
 * id>-<2 hex flags>" (version 00 exactly so; a later version may append
 * "-..." fields, which are ignored). Hex is lowercase; neither id may be all
 * zero; version ff is invalid. SY_OK: trace (33) and parent (17) are
 * filled (either may be NULL). SY_INVALID: err says why, path "traceparent". */
sy_status sy_traceparent_parse(const char *s, char *trace, char *parent, sy_error *err) SY_MUST_USE;

/* Checks a W3C tracestate header: at most 32 comma-separated list members
 * key=value, at most 512 characters, printable ASCII. SY_INVALID with path
 * "tracestate" otherwise. An empty one is valid. */
sy_status sy_tracestate_check(const char *s, sy_error *err) SY_MUST_USE;

/* "00-<trace>-<span>-01" into out (SY_TRACEPARENT_MAX bytes). */
void sy_traceparent_format(const char *trace, const char *span, char out[SY_TRACEPARENT_MAX]);

#endif
