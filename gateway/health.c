/* health.c -- the state behind /healthz, in atomics shared by the threads. */
#include "gateway/health.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int_fast64_t failing_since = -1; /* -1: the last commit succeeded */
static atomic_int last_error;                 /* errno of the last failed commit */
static atomic_int_fast64_t worker_progress_ms;
static atomic_bool worker_running;

void health_commit_failed(int rc, int64_t mono_ms)
{
    atomic_store(&last_error, -rc);
    int_fast64_t expected = -1;
    atomic_compare_exchange_strong(&failing_since, &expected, mono_ms);
}

void health_commit_ok(void)
{
    atomic_store(&failing_since, -1);
}

int64_t health_failing_since(void)
{
    return atomic_load(&failing_since);
}

void health_worker_progress(int64_t mono_ms)
{
    atomic_store_explicit(&worker_progress_ms, mono_ms, memory_order_relaxed);
}

void health_worker_running(bool running, int64_t mono_ms)
{
    atomic_store(&worker_progress_ms, mono_ms);
    atomic_store(&worker_running, running);
}

bool health_check(int64_t mono_ms, const char **check, char *detail, size_t detail_len)
{
    int64_t since = atomic_load(&failing_since);
    if (since >= 0) {
        *check = "store";
        snprintf(detail, detail_len, "store commits have been failing for %lld ms (%s)",
                 (long long)(mono_ms - since), strerror(atomic_load(&last_error)));
        return false;
    }
    if (atomic_load(&worker_running)) {
        int64_t quiet = mono_ms - atomic_load(&worker_progress_ms);
        if (quiet > HEALTH_WORKER_STALL_MS) {
            *check = "delivery_worker";
            snprintf(detail, detail_len, "the delivery worker has made no progress for %lld ms",
                     (long long)quiet);
            return false;
        }
    }
    return true;
}
