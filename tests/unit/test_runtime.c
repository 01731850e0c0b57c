/* test_runtime.c -- reference-counted configs: a replaced config is freed exactly when its
 * last holder releases it, never earlier and never at exit only. cfg_free is replaced here
 * to count the frees. */
#include <stdlib.h>

#include "check.h"
#include "gateway/runtime.h"

static int freed[8];

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

    rt_config_free_all();
    CHECK(freed[7] == 1);
    CHECK(rt_config_hold() == NULL);
    return check_done();
}
