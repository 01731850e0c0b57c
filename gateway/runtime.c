/* runtime.c -- the config in force (swapped on SIGHUP), with reference counts, and the clocks. */
#include "gateway/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/xalloc.h"

/* A config and the references to it. Holding and releasing take the lock: both are rare
 * next to the work done with a config (a request, a claim round), and a lock makes
 * "load the pointer, then count the reference" safe against a concurrent reload. */
typedef struct installed {
    cfg_t *cfg;
    size_t refs; /* holders, plus one while it is the config in force */
    struct installed *next;
} installed_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static installed_t *all; /* the config in force first, then replaced ones still held */
static atomic_uint_fast64_t generation;

const cfg_t *rt_config_hold(void)
{
    pthread_mutex_lock(&lock);
    const cfg_t *cfg = NULL;
    if (all) {
        all->refs++;
        cfg = all->cfg;
    }
    pthread_mutex_unlock(&lock);
    return cfg;
}

const cfg_t *rt_config_hold_again(const cfg_t *cfg)
{
    pthread_mutex_lock(&lock);
    for (installed_t *in = all; in; in = in->next) {
        if (in->cfg == cfg) {
            in->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return cfg;
}

/* Unlinks and frees *link's config when nobody holds it. Called with the lock held. */
static void drop(installed_t **link)
{
    installed_t *in = *link;
    if (--in->refs > 0) return;
    *link = in->next;
    cfg_free(in->cfg);
    free(in);
}

void rt_config_release(const cfg_t *cfg)
{
    if (!cfg) return;
    pthread_mutex_lock(&lock);
    for (installed_t **link = &all; *link; link = &(*link)->next) {
        if ((*link)->cfg == cfg) {
            drop(link);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

uint64_t rt_config_generation(void)
{
    return atomic_load(&generation);
}

void rt_config_install(cfg_t *cfg)
{
    installed_t *in = xcalloc(1, sizeof(*in));
    in->cfg = cfg;
    in->refs = 1;
    pthread_mutex_lock(&lock);
    in->next = all;
    all = in;
    if (in->next) drop(&in->next); /* the old one is no longer in force */
    pthread_mutex_unlock(&lock);
    atomic_fetch_add(&generation, 1);
}

void rt_config_free_all(void)
{
    pthread_mutex_lock(&lock);
    while (all) {
        installed_t *next = all->next;
        cfg_free(all->cfg);
        free(all);
        all = next;
    }
    pthread_mutex_unlock(&lock);
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
