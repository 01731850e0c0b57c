/* jbuf.h -- JSON text on a core buffer (core/buf.h): string literals and times, plus the
 * buffer's plain appends under the names the handlers use. */
#ifndef HOOKGATE_JBUF_H
#define HOOKGATE_JBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

/* The text is b.p[0 .. b.len), not NUL-terminated; {0} is empty; free with jbuf_free.
 * Out of memory aborts. Any thread, one thread at a time per buffer. */
typedef core_buf_t jbuf_t;

/* Raw bytes / a C string / a formatted piece, appended as they are. */
static inline void jbuf_put(jbuf_t *b, const char *s, size_t n)
{
    core_buf_put(b, s, n);
}

static inline void jbuf_puts(jbuf_t *b, const char *s)
{
    core_buf_put(b, s, strlen(s));
}

#define jbuf_printf core_buf_printf

/* s/n as a JSON string literal: quoted and escaped (ill-formed UTF-8 becomes \ufffd). */
void jbuf_str(jbuf_t *b, const char *s, size_t n);
/* An RFC 3339 UTC time in quotes, or null when unix_ms is 0. */
void jbuf_time(jbuf_t *b, int64_t unix_ms);

static inline void jbuf_free(jbuf_t *b)
{
    core_buf_free(b);
}

#endif
