/* log.c: JSON-lines logger (log.h). Builds each line in a stack buffer and
 * writes it with one write(2), so lines from several threads never mix. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void sy_log_init(sy_log *lg, sy_log_level level, int fd)
{
    lg->level = level;
    lg->fd = fd;
}

int sy_log_level_parse(const char *s)
{
    for (int i = 0; i <= SY_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

typedef struct {
    char buf[8192];
    size_t len;
} line_buf;

static void put_raw(line_buf *b, const char *s, size_t n)
{
    size_t room = sizeof b->buf - 2 - b->len; /* keep room for "}\n" */
    if (n > room)
        n = room;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

/* Appends s as a JSON string, escaping what JSON requires. */
static void put_str(line_buf *b, const char *s)
{
    put_raw(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put_raw(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put_raw(b, esc, 6);
        } else {
            put_raw(b, (const char *)p, 1);
        }
    }
    put_raw(b, "\"", 1);
}

void sy_log_write(const sy_log *lg, sy_log_level level, const char *msg, ...)
{
    line_buf b;
    b.len = 0;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    put_raw(&b, "{\"ts\":", 6);
    put_str(&b, ts);
    put_raw(&b, ",\"level\":", 9);
    put_str(&b, level_names[level]);
    put_raw(&b, ",\"msg\":", 7);
    put_str(&b, msg);
    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        if (!val)
            continue;
        put_raw(&b, ",", 1);
        put_str(&b, key);
        put_raw(&b, ":", 1);
        put_str(&b, val);
    }
    va_end(ap);
    b.buf[b.len++] = '}';
    b.buf[b.len++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < b.len) {
        ssize_t n = write(lg->fd, b.buf + off, b.len - (size_t)off);
        if (n <= 0)
            break;
        off += n;
    }
}
