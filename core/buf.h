/* buf.h -- a growable byte buffer, for text (JSON answers, error lists, URLs) and binary
 * records alike. Out of memory aborts (core/xalloc.h).
 *
 * A zeroed core_buf_t ({0}) is an empty buffer; p stays NULL until the first byte is
 * reserved. The buffer owns p until core_buf_free, or until a caller takes it (see
 * core_buf_cstr). The contents are not NUL-terminated unless core_buf_cstr made them so.
 * Pure: no I/O; a buffer is used by one thread at a time. */
#ifndef HOOKGATE_CORE_BUF_H
#define HOOKGATE_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap; /* bytes in use, bytes allocated */
} core_buf_t;

/* Makes room for n more bytes (cap - len >= n); p may move. The caller may then write up
 * to n bytes at p + len and add what it wrote to len. */
void core_buf_reserve(core_buf_t *b, size_t n);
/* Appends n bytes (s may be NULL when n == 0) / one byte / a formatted string. */
void core_buf_put(core_buf_t *b, const void *s, size_t n);
void core_buf_putc(core_buf_t *b, char c);
void core_buf_printf(core_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void core_buf_vprintf(core_buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Puts a NUL after the contents (not counted in len) and returns p, never NULL. The
 * caller may keep p as a malloc'd string and drop b instead of freeing it. */
char *core_buf_cstr(core_buf_t *b);
/* Empties b and keeps its memory for reuse. */
void core_buf_reset(core_buf_t *b);
/* Frees the memory; b is an empty buffer again. */
void core_buf_free(core_buf_t *b);

#endif
