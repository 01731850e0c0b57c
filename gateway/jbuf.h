/* jbuf.h -- a growable byte buffer for building JSON responses. */
#ifndef HOOKGATE_JBUF_H
#define HOOKGATE_JBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *p;
    size_t len, cap;
} jbuf_t;

/* Appends raw bytes / a formatted string / a JSON string literal (escaped) / an RFC 3339
 * UTC time or null when unix_ms is 0. Out of memory aborts. Free with jbuf_free. */
void jbuf_put(jbuf_t *b, const char *s, size_t n);
void jbuf_puts(jbuf_t *b, const char *s);
void jbuf_printf(jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jbuf_str(jbuf_t *b, const char *s, size_t n);
void jbuf_time(jbuf_t *b, int64_t unix_ms);
void jbuf_free(jbuf_t *b);

#endif
