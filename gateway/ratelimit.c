/* ratelimit.c -- a subscriber's start-rate limiter (ratelimit.h). */
#include "gateway/ratelimit.h"

#include <math.h>
#include <stdlib.h>

#include "core/xalloc.h"

/* The oldest start kept, which leaves the window first. */
static int64_t oldest(const ratelimit_t *r)
{
    return r->starts[(r->head + r->burst - r->n) % r->burst];
}

void ratelimit_set(ratelimit_t *r, double rate)
{
    if (rate == r->rate) return;
    ratelimit_free(r);
    if (rate <= 0) return;
    r->rate = rate;
    r->burst = rate < 20 ? 1 : (size_t)floor(rate / 10);
    double w = ceil((double)r->burst * 1000.0 / rate);
    r->window_ms = w < 1 ? 1 : (int64_t)w;
    r->starts = xcalloc(r->burst, sizeof(*r->starts));
}

size_t ratelimit_available(const ratelimit_t *r, int64_t now)
{
    if (r->rate <= 0) return SIZE_MAX;
    /* Starts older than the window no longer count. */
    size_t live = r->n;
    for (size_t k = r->n; k > 0; k--) {
        int64_t t = r->starts[(r->head + r->burst - k) % r->burst];
        if (now - t < r->window_ms) break;
        live--;
    }
    return r->burst - live;
}

void ratelimit_take(ratelimit_t *r, int64_t now)
{
    if (r->rate <= 0) return;
    r->starts[r->head] = now;
    r->head = (r->head + 1) % r->burst;
    if (r->n < r->burst) r->n++;
}

int64_t ratelimit_next(const ratelimit_t *r, int64_t now)
{
    if (r->rate <= 0 || r->n < r->burst) return now;
    int64_t at = oldest(r) + r->window_ms;
    return at > now ? at : now;
}

void ratelimit_free(ratelimit_t *r)
{
    free(r->starts);
    *r = (ratelimit_t){0};
}
