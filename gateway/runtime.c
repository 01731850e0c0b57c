/* runtime.c -- the config in force (swapped on SIGHUP) and the clocks. */
#include "gateway/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static _Atomic(cfg_t *) current;

/* Replaced configs are kept until exit: a reload is rare and a thread may still be
 * reading the old one, so freeing it early would need reference counting for no gain. */
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static cfg_t **retired;
static size_t nretired;

const cfg_t *rt_config(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

void rt_config_install(cfg_t *cfg)
{
    cfg_t *old = atomic_exchange_explicit(&current, cfg, memory_order_acq_rel);
    if (!old) return;
    pthread_mutex_lock(&retired_lock);
    retired = realloc(retired, (nretired + 1) * sizeof(*retired));
    if (!retired) abort();
    retired[nretired++] = old;
    pthread_mutex_unlock(&retired_lock);
}

void rt_config_free_all(void)
{
    cfg_free(atomic_exchange(&current, NULL));
    for (size_t i = 0; i < nretired; i++)
        cfg_free(retired[i]);
    free(retired);
    retired = NULL;
    nretired = 0;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rt_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t rt_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
