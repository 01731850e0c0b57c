/* logrl.c -- rate-limited log lines. */
#include "gateway/logrl.h"

#include <inttypes.h>
#include <stdarg.h>

int logrl_printf(logrl_t *l, FILE *out, int64_t mono_ms, const char *fmt, ...)
{
    if (l->next_ms != 0 && mono_ms < l->next_ms) {
        l->suppressed++;
        return 0;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (l->suppressed > 0)
        fprintf(out, "hookgate: %s (repeated %" PRIu64 " more times in the last period)\n", line,
                l->suppressed);
    else
        fprintf(out, "hookgate: %s\n", line);
    l->suppressed = 0;
    l->next_ms = mono_ms + LOGRL_PERIOD_MS;
    return 1;
}
