/* buf.c: see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sy_buf__grow(sy_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        abort();
    b->data = p;
    b->cap = cap;
}

void sy_buf_puts(sy_buf *b, const char *s)
{
    sy_buf_append(b, s, strlen(s));
}

void sy_buf_printf(sy_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    sy_buf__grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sy_buf_reset(sy_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *sy_buf_take(sy_buf *b)
{
    char *p = b->data ? b->data : strdup("");
    if (!p)
        abort();
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *sy_buf_str(const sy_buf *b)
{
    return b->data ? b->data : "";
}

void sy_buf_cleanup(sy_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool sy_strlcpy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    bool cut = n >= size;
    if (cut)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return cut;
}

bool sy_concat_(char *dst, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    size_t len = 0;
    bool cut = false;
    for (const char *s = va_arg(ap, const char *); s && !cut; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        if (n >= size - len) { /* len < size always: room for the terminator */
            n = size - 1 - len;
            cut = true;
        }
        memcpy(dst + len, s, n);
        len += n;
    }
    va_end(ap);
    dst[len] = '\0';
    return cut;
}

char *sy_i64(char *out, long long v)
{
    char tmp[21];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int k = 0;
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
    return out;
}
