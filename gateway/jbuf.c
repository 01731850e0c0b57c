/* jbuf.c -- a growable byte buffer for building JSON responses. */
#include "gateway/jbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"
#include "gateway/civil.h"

static void reserve(jbuf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) abort();
    b->cap = cap;
}

void jbuf_put(jbuf_t *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void jbuf_puts(jbuf_t *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

void jbuf_printf(jbuf_t *b, const char *fmt, ...)
{
    char small[256]; /* most pieces fit: one formatting pass */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n < sizeof(small)) {
        jbuf_put(b, small, (size_t)n);
        return;
    }
    reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jbuf_str(jbuf_t *b, const char *s, size_t n)
{
    size_t need = json_escape(NULL, 0, s, n);
    reserve(b, need);
    json_escape(b->p + b->len, need, s, n);
    b->len += need;
}

void jbuf_time(jbuf_t *b, int64_t unix_ms)
{
    if (unix_ms == 0) {
        jbuf_puts(b, "null");
        return;
    }
    char t[32];
    size_t n = civil_format_rfc3339(unix_ms, t);
    jbuf_put(b, "\"", 1);
    jbuf_put(b, t, n);
    jbuf_put(b, "\"", 1);
}

void jbuf_free(jbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
