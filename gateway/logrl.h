/* logrl.h -- rate-limited log lines: a repeated message is logged at once the first time,
 * then at most once per second with the number of repeats folded in, so a fault that
 * repeats at thousands per second (a full disk, a dead store) cannot flood the log. */
#ifndef HOOKGATE_LOGRL_H
#define HOOKGATE_LOGRL_H

#include <stdint.h>
#include <stdio.h>

#include "core/log.h"

#define LOGRL_PERIOD_MS 1000

/* One limiter per message site; zero-initialised (static or calloc) is ready to use.
 * Not thread-safe: a limiter belongs to one thread. */
typedef struct {
    int64_t next_ms;     /* monotonic time from which the next line may be written */
    uint64_t suppressed; /* repeats not yet reported */
} logrl_t;

/* Writes the message as a log line at level (core/log.h) unless l logged less than
 * LOGRL_PERIOD_MS before mono_ms; a suppressed line is only counted, and the next written
 * line says how many were. Returns 1 when a line was written, 0 when it was suppressed. */
__attribute__((format(printf, 4, 5))) int logrl_line(logrl_t *l, log_level_t level, int64_t mono_ms,
                                                     const char *fmt, ...);

/* The same at level warn. With out == stderr the line goes to the log (core/log.h); any
 * other stream (a unit test's) receives the bare "hookgate: <message>\n". */
__attribute__((format(printf, 4, 5))) int logrl_printf(logrl_t *l, FILE *out, int64_t mono_ms,
                                                       const char *fmt, ...);

#endif
