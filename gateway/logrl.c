/* logrl.c -- rate-limited log lines. */
#include "gateway/logrl.h"

#include <inttypes.h>
#include <stdarg.h>

/* Decides whether l may write now; if so formats the message, with the count of
 * suppressed repeats folded in, into line and restarts the period. */
__attribute__((format(printf, 5, 0))) static int admit(logrl_t *l, int64_t mono_ms, char *line,
                                                       size_t size, const char *fmt, va_list ap)
{
    if (l->next_ms != 0 && mono_ms < l->next_ms) {
        l->suppressed++;
        return 0;
    }
    int n = vsnprintf(line, size, fmt, ap);
    size_t used = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
    if (l->suppressed > 0)
        snprintf(line + used, size - used, " (repeated %" PRIu64 " more times in the last period)",
                 l->suppressed);
    l->suppressed = 0;
    l->next_ms = mono_ms + LOGRL_PERIOD_MS;
    return 1;
}

int logrl_line(logrl_t *l, log_level_t level, int64_t mono_ms, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int written = admit(l, mono_ms, line, sizeof(line), fmt, ap);
    va_end(ap);
    if (written) log_line(level, "%s", line);
    return written;
}

int logrl_printf(logrl_t *l, FILE *out, int64_t mono_ms, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int written = admit(l, mono_ms, line, sizeof(line), fmt, ap);
    va_end(ap);
    if (!written) return 0;
    if (out == stderr)
        log_line(LOG_WARN, "%s", line);
    else
        fprintf(out, "hookgate: %s\n", line);
    return 1;
}
