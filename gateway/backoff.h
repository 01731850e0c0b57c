/* backoff.h -- the retry schedule and Retry-After parsing: pure functions, no clock reads. */
#ifndef HOOKGATE_BACKOFF_H
#define HOOKGATE_BACKOFF_H

#include <stdint.h>

#include "config/config.h"

/* Due time of the next attempt after failed attempt number attempt (1, 2, ...):
 * now_ms + min(max_delay_ms, initial_delay_ms * multiplier^(attempt-1)) randomised by
 * +-jitter; rand01 is a uniform random number in [0, 1) supplied by the caller. The
 * randomised delay never exceeds max_delay_ms and is never negative. */
int64_t backoff_next_due(uint32_t attempt, const cfg_retry_t *policy, int64_t now_ms,
                         double rand01);

/* Parses a Retry-After header value: delta-seconds or an HTTP-date (IMF-fixdate, also
 * RFC 850 and asctime forms). On success stores the delay from now_ms (>= 0, dates in
 * the past give 0) in *delay_ms and returns 0; -EINVAL when the value is malformed. */
int backoff_parse_retry_after(const char *value, size_t len, int64_t now_ms, int64_t *delay_ms);

#endif
