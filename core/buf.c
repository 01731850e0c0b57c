/* buf.c -- a growable byte buffer. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define MIN_CAP 256

void core_buf_reserve(core_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n) return;
    size_t need = b->len + n;
    if (need < n) xalloc_die(); /* more than memory can hold */
    size_t cap = b->cap ? b->cap : MIN_CAP;
    while (cap < need)
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void core_buf_put(core_buf_t *b, const void *s, size_t n)
{
    if (n == 0) return;
    core_buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void core_buf_putc(core_buf_t *b, char c)
{
    core_buf_reserve(b, 1);
    b->p[b->len++] = c;
}

void core_buf_vprintf(core_buf_t *b, const char *fmt, va_list ap)
{
    /* Formats straight into the free space; a second pass only when it was too small. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    if (n < 0) abort(); /* a malformed format: a bug */
    if (n > 0 && (size_t)n >= room) {
        core_buf_reserve(b, (size_t)n + 1);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    b->len += (size_t)n;
}

void core_buf_printf(core_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *core_buf_cstr(core_buf_t *b)
{
    core_buf_reserve(b, 1);
    b->p[b->len] = '\0';
    return b->p;
}

void core_buf_reset(core_buf_t *b)
{
    b->len = 0;
}

void core_buf_free(core_buf_t *b)
{
    free(b->p);
    *b = (core_buf_t){0};
}
