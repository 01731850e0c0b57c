/* runtime.h -- process-wide state shared by the threads: the config in force (swapped
 * on SIGHUP) and the clock. */
#ifndef HOOKGATE_RUNTIME_H
#define HOOKGATE_RUNTIME_H

#include <stdint.h>

#include "config/config.h"

/* Takes a reference to the config in force; NULL before the first install. The config
 * stays valid until the matching rt_config_release, even across reloads: a replaced
 * config is freed when its last reference is released. Any thread. */
const cfg_t *rt_config_hold(void);
/* Takes one more reference to cfg, which the caller holds already; returns cfg. */
const cfg_t *rt_config_hold_again(const cfg_t *cfg);
/* Drops a reference taken by rt_config_hold (NULL is ignored). Any thread. */
void rt_config_release(const cfg_t *cfg);
/* Counts reloads: changes each time rt_config_install replaces the config. Any thread. */
uint64_t rt_config_generation(void);
/* Installs cfg as the config in force (ownership passes to the runtime). Any thread. */
void rt_config_install(cfg_t *cfg);
/* Frees the config in force; at exit, after every other thread stopped and released
 * its references. */
void rt_config_free_all(void);

/* One thread's cached reference to the config in force, for a path that takes the config
 * once per request: while no reload happened, taking and dropping it costs a read of the
 * generation and a counter of the thread's own, not the lock shared with the other threads.
 * The cache keeps one reference to the config in force, plus one to each replaced config
 * its users still hold (up to RT_CACHE_SLOTS - 1; beyond that it takes plain references).
 * Zero-initialize; owner thread only. Its reference to the config in force is freed by
 * rt_config_free_all. */
#define RT_CACHE_SLOTS 4
typedef struct {
    struct {
        const cfg_t *cfg; /* NULL: free */
        size_t users;
    } slot[RT_CACHE_SLOTS];
    int current; /* slot of the config in force, plus 1; 0: none */
    uint64_t generation;
} rt_config_cache_t;
/* Like rt_config_hold: the config in force, valid until rt_config_cache_release. */
const cfg_t *rt_config_cache_hold(rt_config_cache_t *c);
/* Drops a reference taken by rt_config_cache_hold (NULL is ignored). */
void rt_config_cache_release(rt_config_cache_t *c, const cfg_t *cfg);

/* Wall-clock unix time in ms (CLOCK_REALTIME) and a monotonic ms clock. */
int64_t rt_now_ms(void);
int64_t rt_mono_ms(void);

#endif
