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

const cfg_t *rt_config_cache_hold(rt_config_cache_t *c)
{
    uint64_t generation = rt_config_generation();
    if (c->current && c->generation == generation) {
        c->slot[c->current - 1].users++;
        return c->slot[c->current - 1].cfg;
    }
    if (c->current) { /* replaced: dropped now, or when its last user releases it */
        int s = c->current - 1;
        c->current = 0;
        if (c->slot[s].users == 0) {
            rt_config_release(c->slot[s].cfg);
            c->slot[s].cfg = NULL;
        }
    }
    int free_slot = -1;
    for (int s = 0; s < RT_CACHE_SLOTS && free_slot < 0; s++)
        if (!c->slot[s].cfg) free_slot = s;
    const cfg_t *cfg = rt_config_hold();
    if (free_slot < 0 || !cfg) return cfg; /* a plain reference */
    c->slot[free_slot].cfg = cfg;
    c->slot[free_slot].users = 1;
    c->current = free_slot + 1;
    c->generation = generation;
    return cfg;
}

/* A reference is a reference: a plain one to a config that also has a slot may be counted
 * off the slot, and the slot's later user then releases plainly; the runtime's count stays
 * above the number of users either way. */
void rt_config_cache_release(rt_config_cache_t *c, const cfg_t *cfg)
{
    if (!cfg) return;
    for (int s = 0; s < RT_CACHE_SLOTS; s++) {
        if (c->slot[s].cfg != cfg || c->slot[s].users == 0) continue;
        if (--c->slot[s].users == 0 && c->current != s + 1) {
            rt_config_release(cfg);
            c->slot[s].cfg = NULL;
        }
        return;
    }
    rt_config_release(cfg);
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
