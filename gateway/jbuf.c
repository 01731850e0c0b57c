/* jbuf.c -- JSON text on a core buffer: string literals and times. */
#include "gateway/jbuf.h"

#include "config/json.h"
#include "gateway/civil.h"

void jbuf_str(jbuf_t *b, const char *s, size_t n)
{
    size_t need = json_escape(NULL, 0, s, n);
    core_buf_reserve(b, need);
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
    core_buf_putc(b, '"');
    core_buf_put(b, t, n);
    core_buf_putc(b, '"');
}
