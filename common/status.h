/* status.h: the one error type of switchyard.
 *
 * SY_STATUS_TABLE generates the status enum, its text and whether a failure
 * with that status is worth retrying (the router naks retryable failures and
 * terms the rest), so code, text and policy cannot drift apart. Details of a
 * failure travel in a caller-provided sy_error: a stable machine-readable
 * code (e.g. "missing_field"), the path of the offending field or the
 * file:line:col of the offending rule, and a human message in Postgres's
 * style (lower case, no final period). */
#ifndef SY_STATUS_H
#define SY_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#define SY_STATUS_TABLE(X)                                                                         \
    X(OK, "ok", false)                                                                             \
    X(NOMEM, "out of memory", true)                                                                \
    X(INVALID, "invalid input", false)                                                             \
    X(NOT_FOUND, "not found", false)                                                               \
    X(CONFLICT, "conflict", false)                                                                 \
    X(USAGE, "usage error", false)                                                                 \
    X(CONFIG, "configuration error", false)                                                        \
    X(IO, "i/o error", true)                                                                       \
    X(TIMEOUT, "timed out", true)                                                                  \
    X(DB_DOWN, "database unavailable", true)                                                       \
    X(DB, "database error", false)                                                                 \
    X(BUSY, "transient conflict, retry", true)                                                     \
    X(NATS_DOWN, "NATS unavailable", true)                                                         \
    X(NATS, "NATS error", false)                                                                   \
    X(INTERNAL, "internal error", false)

typedef enum {
#define SY_STATUS_ENUM(name, text, retry) SY_##name,
    SY_STATUS_TABLE(SY_STATUS_ENUM)
#undef SY_STATUS_ENUM
} sy_status;

#define SY_ERROR_CODE_MAX 48
#define SY_ERROR_PATH_MAX 256
#define SY_ERROR_MSG_MAX 512

/* Caller-allocated; every field is a NUL-terminated string (maybe empty). */
typedef struct sy_error {
    sy_status status;
    char code[SY_ERROR_CODE_MAX];    /* stable, machine-readable: "bad_timestamp" */
    char path[SY_ERROR_PATH_MAX];    /* "payload.items[3].id" or "rules.yaml:12:5" */
    char message[SY_ERROR_MSG_MAX];  /* human: could not parse "x": why */
} sy_error;

const char *sy_status_text(sy_status st);
bool sy_status_retryable(sy_status st);

/* Clears *err (NULL is a no-op). */
void sy_error_clear(sy_error *err);

/* Fills *err (NULL is allowed: details are dropped) and returns st, so that a
 * failure is reported in one line: `return sy_error_set(err, SY_INVALID,
 * "bad_type", "type", "...")`. code and path may be NULL. */
sy_status sy_error_set(sy_error *err, sy_status st, const char *code, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The text of a failure for a person (CLI output, dead-letter reasons):
 * "path: message", or the message alone when the path is empty or the
 * message names it already (begins with it, or quotes it: "\"type\" has an
 * empty segment"), so a path is never printed twice. The code is never part
 * of it: it is for machines, and JSON output carries it on its own. Writes
 * at most n bytes (NUL included) to buf and returns buf. */
#define SY_ERROR_TEXT_MAX (SY_ERROR_PATH_MAX + SY_ERROR_MSG_MAX + 2)
const char *sy_error_text(const sy_error *err, char *buf, size_t n);

/* Prefixes err->message with "context: " (for layering messages). */
void sy_error_prefix(sy_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Process exit codes of the CLI (docs/cli.md, sysexits.h values). */
enum {
    SY_EXIT_OK = 0,
    SY_EXIT_FAILURE = 1,
    SY_EXIT_USAGE = 64,
    SY_EXIT_DATAERR = 65,
    SY_EXIT_UNAVAILABLE = 69,
    SY_EXIT_CONFIG = 78,
};

/* Maps a status to the CLI's exit code. */
int sy_status_exit_code(sy_status st);

#define SY_MUST_USE __attribute__((warn_unused_result))

#endif
