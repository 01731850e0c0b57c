/* ratelimit.h -- a subscriber's rate_limit_per_s as a pure limiter: the clock is passed in
 * (monotonic ms), nothing outside the struct is read or written.
 *
 * A sliding window of attempt start times: with burst = max(1, floor(rate / 10)), at most
 * burst attempts start in any window of burst / rate seconds (a tenth of a second from 10
 * per second up). So at most rate attempts start in any one second, never the 2 x rate a
 * token bucket allows right after an idle spell, and they are spread over the second
 * rather than sent in one volley; over a long run the rate is exactly rate per second.
 */
#ifndef HOOKGATE_RATELIMIT_H
#define HOOKGATE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double rate;       /* per second; 0: no limit */
    size_t burst;      /* max(1, floor(rate / 10)) */
    int64_t window_ms; /* burst / rate seconds, in ms (at least 1) */
    int64_t *starts;   /* ring of the last burst start times */
    size_t head, n;
} ratelimit_t;

/* Zero-initialised is "no limit". Sets the rate (0: none); a changed rate starts with an
 * empty window. Any thread (the struct is the caller's). */
void ratelimit_set(ratelimit_t *r, double rate);
/* How many attempts may start at now (SIZE_MAX without a limit). */
size_t ratelimit_available(const ratelimit_t *r, int64_t now);
/* Records one attempt started at now (call only when ratelimit_available was > 0). */
void ratelimit_take(ratelimit_t *r, int64_t now);
/* When the next attempt may start, at or after now (now when one may start already). */
int64_t ratelimit_next(const ratelimit_t *r, int64_t now);
void ratelimit_free(ratelimit_t *r);

#endif
