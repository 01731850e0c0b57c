/* test_runtime.c -- reference-counted configs: a replaced config is freed exactly when its
 * last holder releases it, never earlier and never at exit only. cfg_free is replaced here
 * to count the frees. */
#include <stdlib.h>

#include "check.h"
#include "gateway/runtime.h"

static int freed[16];

void cfg_free(cfg_t *cfg)
{
    freed[cfg->max_connections]++; /* the slot number stands in for identity */
    free(cfg);
}

static cfg_t *make(uint32_t slot)
{
    cfg_t *c = calloc(1, sizeof(*c));
    c->max_connections = slot;
    return c;
}

int main(void)
{
    CHECK(rt_config_hold() == NULL);
    uint64_t gen0 = rt_config_generation();
    cfg_t *a = make(1);
    rt_config_install(a);
    CHECK(rt_config_generation() == gen0 + 1);

    /* Unheld: a reload frees the old config at once (it used to be kept until exit). */
    rt_config_install(make(2));
    CHECK(freed[1] == 1);

    /* Held: the old config outlives the reload until the last release. */
    const cfg_t *held = rt_config_hold();
    CHECK(held->max_connections == 2);
    const cfg_t *again = rt_config_hold_again(held);
    CHECK(again == held);
    rt_config_install(make(3));
    CHECK(freed[2] == 0);
    rt_config_release(held);
    CHECK(freed[2] == 0);
    rt_config_release(again);
    CHECK(freed[2] == 1);

    /* The config in force is never freed by releases. */
    const cfg_t *now = rt_config_hold();
    CHECK(now->max_connections == 3);
    rt_config_release(now);
    CHECK(freed[3] == 0);
    rt_config_release(NULL);

    /* Many reloads with a holder each time: every one is freed once released. */
    const cfg_t *holders[4];
    for (uint32_t i = 0; i < 4; i++) {
        rt_config_install(make(4 + i));
        holders[i] = rt_config_hold();
    }
    CHECK(freed[3] == 1);
    for (int i = 0; i < 4; i++)
        rt_config_release(holders[i]);
    CHECK(freed[4] == 1 && freed[5] == 1 && freed[6] == 1 && freed[7] == 0);

    /* A thread's cache holds the config in force once, whatever its users do; it notices
     * a reload at its next hold and drops the replaced config then (unused) or with its
     * last user. */
    rt_config_cache_t cache = {0};
    const cfg_t *c1 = rt_config_cache_hold(&cache);
    const cfg_t *c2 = rt_config_cache_hold(&cache);
    CHECK(c1 == c2 && c1->max_connections == 7);
    rt_config_cache_release(&cache, c1);
    rt_config_cache_release(&cache, c2);
    rt_config_install(make(8));
    CHECK(freed[7] == 0); /* the cache's reference */
    const cfg_t *c3 = rt_config_cache_hold(&cache);
    CHECK(c3->max_connections == 8 && freed[7] == 1);
    rt_config_install(make(9));
    const cfg_t *c4 = rt_config_cache_hold(&cache);
    CHECK(c4->max_connections == 9 && freed[8] == 0); /* c3 is still in use */
    rt_config_cache_release(&cache, c3);
    CHECK(freed[8] == 1);

    /* More replaced configs in use than the cache has slots: plain references, each freed
     * with its last user all the same. */
    const cfg_t *users[6];
    for (uint32_t i = 0; i < 6; i++) {
        rt_config_install(make(10 + i));
        users[i] = rt_config_cache_hold(&cache);
        CHECK(users[i]->max_connections == 10 + i);
    }
    rt_config_cache_release(&cache, c4);
    CHECK(freed[9] == 1);
    for (int i = 0; i < 6; i++)
        rt_config_cache_release(&cache, users[i]);
    CHECK(freed[10] == 1 && freed[11] == 1 && freed[12] == 1 && freed[13] == 1 && freed[14] == 1 &&
          freed[15] == 0);
    rt_config_cache_release(&cache, NULL);

    rt_config_free_all();
    CHECK(freed[15] == 1);
    CHECK(rt_config_hold() == NULL);
    return check_done();
}
