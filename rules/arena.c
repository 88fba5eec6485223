/* arena.c: the allocation arena behind a rules_set and behind one-off
 * compiled expressions, plus diagnostics helpers. Everything a set owns
 * (strings, ASTs, regexes) goes here, so a set that fails to load half-way
 * is freed whole with one call. */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE 16384

struct rules_arena_block {
    struct rules_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct rules_arena_cleanup {
    struct rules_arena_cleanup *next;
    regex_t *re;
};

void *rules__alloc(rules_arena *a, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct rules_arena_block *b = a->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > BLOCK_SIZE ? size : BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b)
            abort();
        b->used = 0;
        b->cap = cap;
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *rules__strndup(rules_arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = rules__alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rules__strdup(rules_arena *a, const char *s)
{
    return s ? rules__strndup(a, s, strlen(s)) : NULL;
}

regex_t *rules__regex(rules_arena *a)
{
    return rules__alloc(a, sizeof(regex_t));
}

void rules__regex_compiled(rules_arena *a, regex_t *re)
{
    struct rules_arena_cleanup *c = malloc(sizeof *c);
    if (!c)
        abort();
    c->re = re;
    c->next = a->cleanups;
    a->cleanups = c;
}

void rules__arena_free(rules_arena *a)
{
    while (a->cleanups) {
        struct rules_arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        regfree(c->re);
        free(c);
    }
    while (a->blocks) {
        struct rules_arena_block *b = a->blocks;
        a->blocks = b->next;
        free(b);
    }
}

/* ---- diagnostics ---------------------------------------------------------- */

void rules_diags_cleanup(rules_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->len; i++)
        free(d->lines[i]);
    free(d->lines);
    d->lines = NULL;
    d->len = d->cap = 0;
}

void rules__diag_add(rules_diags *d, const char *line)
{
    if (!d)
        return;
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **p = realloc(d->lines, cap * sizeof *p);
        if (!p)
            abort();
        d->lines = p;
        d->cap = cap;
    }
    char *s = strdup(line);
    if (!s)
        abort();
    d->lines[d->len++] = s;
}

static void diag_v(rules_diags *d, const char *file, int line, int col, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    sy_buf b = SY_BUF_INIT;
    sy_buf_printf(&b, "%s:%d:%d: %s", file ? file : "<rules>", line, col, msg);
    rules__diag_add(d, sy_buf_str(&b));
    sy_buf_cleanup(&b);
}

void rules__diag(rules_diags *d, const rnode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_v(d, at ? at->file : NULL, at ? at->line : 1, at ? at->col : 1, fmt, ap);
    va_end(ap);
}

void rules__diag_at(rules_diags *d, const char *file, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_v(d, file, line, col, fmt, ap);
    va_end(ap);
}
