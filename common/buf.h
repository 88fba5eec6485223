/* buf.h: a growable byte buffer, always NUL-terminated (like Redis's sds,
 * but a plain struct). Used wherever text is built: JSON, SQL arrays,
 * messages. Allocation failure aborts: out of memory while building a string
 * leaves nothing sane to do, and it keeps every caller free of checks. */
#ifndef SY_BUF_H
#define SY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct sy_buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len, cap;
} sy_buf;

#define SY_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Makes room for extra more bytes and the NUL (buf.c). */
void sy_buf__grow(sy_buf *b, size_t extra);

/* Inline: the engine's JSON and array writers call these per byte and per
 * token; a call into buf.c each time was 5-8% of its CPU. */
static inline void sy_buf_append(sy_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap)
        sy_buf__grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static inline void sy_buf_putc(sy_buf *b, char c)
{
    if (b->len + 2 > b->cap)
        sy_buf__grow(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void sy_buf_puts(sy_buf *b, const char *s);
void sy_buf_printf(sy_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sy_buf_reset(sy_buf *b);            /* len = 0, keeps memory */
char *sy_buf_take(sy_buf *b);            /* returns owned data ("" if empty); b is reset */
const char *sy_buf_str(const sy_buf *b); /* borrowed; "" when empty */
void sy_buf_cleanup(sy_buf *b);

/* Copies src into dst[size] (size > 0), truncated and always terminated;
 * what snprintf(dst, size, "%s", src) does, without parsing a format on
 * the hot paths. True when it was truncated. */
bool sy_strlcpy(char *dst, size_t size, const char *src);

/* Concatenates the strings that follow size into dst[size] (size > 0),
 * truncated and always terminated: snprintf("%s%s..") for the IDs and
 * subjects the engine builds for every event, without the format parsing
 * that was a twelfth of its CPU. True when it was truncated. The macro
 * ends the list with a typed null pointer (a bare NULL may be an int). */
#define sy_concat(dst, size, ...) sy_concat_((dst), (size), __VA_ARGS__, (const char *)0)
bool sy_concat_(char *dst, size_t size, ...) __attribute__((sentinel));

/* v in decimal into out (at least 21 bytes); returns out. */
char *sy_i64(char *out, long long v);

#endif
