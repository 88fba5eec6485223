/* status.c: text, retry policy and exit codes for sy_status (status.h). */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *text;
    bool retryable;
} status_info[] = {
#define SY_STATUS_INFO(name, text, retry) {text, retry},
    SY_STATUS_TABLE(SY_STATUS_INFO)
#undef SY_STATUS_INFO
};

#define STATUS_COUNT (sizeof status_info / sizeof status_info[0])

const char *sy_status_text(sy_status st)
{
    return (size_t)st < STATUS_COUNT ? status_info[st].text : "unknown status";
}

bool sy_status_retryable(sy_status st)
{
    return (size_t)st < STATUS_COUNT && status_info[st].retryable;
}

void sy_error_clear(sy_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

sy_status sy_error_set(sy_error *err, sy_status st, const char *code, const char *path,
                       const char *fmt, ...)
{
    if (!err)
        return st;
    err->status = st;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return st;
}

/* Whether msg already names path: begins with it as a word, or quotes it. */
static bool names_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && (msg[n] == ':' || msg[n] == ' ' || msg[n] == '\0'))
        return true;
    for (const char *q = strchr(msg, '"'); q; q = strchr(q + 1, '"'))
        if (strncmp(q + 1, path, n) == 0 && q[n + 1] == '"')
            return true;
    return false;
}

const char *sy_error_text(const sy_error *err, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    if (!err->path[0] || names_path(err->message, err->path))
        snprintf(buf, n, "%s", err->message);
    else
        snprintf(buf, n, "%s: %s", err->path, err->message);
    return buf;
}

void sy_error_prefix(sy_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[SY_ERROR_MSG_MAX], old[SY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}

int sy_status_exit_code(sy_status st)
{
    switch (st) {
    case SY_OK:
        return SY_EXIT_OK;
    case SY_USAGE:
        return SY_EXIT_USAGE;
    case SY_INVALID:
        return SY_EXIT_DATAERR;
    case SY_CONFIG:
        return SY_EXIT_CONFIG;
    case SY_DB_DOWN:
    case SY_NATS_DOWN:
        return SY_EXIT_UNAVAILABLE;
    default:
        return SY_EXIT_FAILURE;
    }
}
