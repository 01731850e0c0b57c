/* test_idset.c -- the in-flight id set: add/has/del, the UINT64_MAX id, growth, deletion
 * inside probe runs that wrap around the table, and random operations against a reference. */
#include "gateway/idset.h"

#include <stdlib.h>

#include "tests/unit/check.h"

/* The slot an id hashes to, as idset.c computes it: the tests pick ids by their home. */
static size_t home_of(const idset_t *s, uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & s->mask;
}

/* The first n ids from start on whose home slot is want. */
static void ids_at(const idset_t *s, size_t want, uint64_t start, uint64_t *out, size_t n)
{
    for (uint64_t id = start; n > 0; id++)
        if (home_of(s, id) == want) {
            *out++ = id;
            n--;
        }
}

/* The probe invariant: every stored id is reachable from its home without crossing an
 * empty slot, and count matches the occupied slots. */
static int invariant_ok(const idset_t *s)
{
    size_t used = 0;
    for (size_t j = 0; j <= s->mask; j++) {
        if (s->slots[j] == UINT64_MAX) continue;
        used++;
        for (size_t i = home_of(s, s->slots[j]); i != j; i = (i + 1) & s->mask)
            if (s->slots[i] == UINT64_MAX) return 0;
    }
    return used == s->count;
}

static void test_basics(void)
{
    idset_t s;
    idset_init(&s, 5);
    CHECK(s.mask + 1 == 8); /* rounded up to a power of two */
    CHECK(idset_count(&s) == 0);
    CHECK(!idset_has(&s, 0));
    CHECK(!idset_has(&s, 42));
    CHECK(idset_add(&s, 42));
    CHECK(!idset_add(&s, 42)); /* already there: not stored twice */
    CHECK(idset_count(&s) == 1);
    CHECK(idset_has(&s, 42));
    CHECK(idset_add(&s, 0));
    CHECK(idset_has(&s, 0));
    CHECK(!idset_has(&s, 43));
    CHECK(idset_del(&s, 42));
    CHECK(!idset_del(&s, 42));
    CHECK(!idset_has(&s, 42));
    CHECK(idset_has(&s, 0));
    CHECK(!idset_del(&s, 7));
    CHECK(idset_count(&s) == 1);
    CHECK(invariant_ok(&s));
    idset_free(&s);
    CHECK(s.slots == NULL);

    idset_init(&s, 0);
    CHECK(s.mask + 1 == 2);
    CHECK(idset_add(&s, 1) && idset_add(&s, 2) && idset_add(&s, 3));
    CHECK(idset_has(&s, 1) && idset_has(&s, 2) && idset_has(&s, 3));
    idset_free(&s);
}

/* UINT64_MAX is the empty-slot marker, yet a valid id. */
static void test_sentinel(void)
{
    idset_t s;
    idset_init(&s, 4);
    CHECK(!idset_has(&s, UINT64_MAX));
    CHECK(!idset_del(&s, UINT64_MAX));
    CHECK(idset_add(&s, UINT64_MAX));
    CHECK(!idset_add(&s, UINT64_MAX));
    CHECK(idset_has(&s, UINT64_MAX));
    CHECK(idset_count(&s) == 1);
    CHECK(s.count == 0); /* no slot used for it */
    CHECK(idset_add(&s, UINT64_MAX - 1));
    CHECK(idset_has(&s, UINT64_MAX - 1));
    for (uint64_t id = 0; id < 100; id++)
        idset_add(&s, id); /* growth keeps it */
    CHECK(idset_has(&s, UINT64_MAX));
    CHECK(idset_count(&s) == 102);
    CHECK(idset_del(&s, UINT64_MAX));
    CHECK(!idset_has(&s, UINT64_MAX));
    CHECK(idset_has(&s, UINT64_MAX - 1));
    CHECK(idset_count(&s) == 101);
    CHECK(invariant_ok(&s));
    idset_free(&s);
}

static void test_growth(void)
{
    idset_t s;
    idset_init(&s, 16);
    for (uint64_t id = 1; id <= 8; id++)
        idset_add(&s, id * 1000);
    CHECK(s.mask + 1 == 16); /* load 1/2 is still allowed */
    idset_add(&s, 9000);
    CHECK(s.mask + 1 == 32);
    for (uint64_t id = 10; id <= 100000; id++)
        idset_add(&s, id * 1000);
    CHECK(idset_count(&s) == 100000);
    CHECK((s.mask + 1) / 2 >= s.count);
    CHECK(invariant_ok(&s));
    int all = 1;
    for (uint64_t id = 1; id <= 100000; id++)
        if (!idset_has(&s, id * 1000) || idset_has(&s, id * 1000 + 1)) all = 0;
    CHECK(all);
    for (uint64_t id = 1; id <= 100000; id += 2)
        idset_del(&s, id * 1000);
    CHECK(idset_count(&s) == 50000);
    all = 1;
    for (uint64_t id = 1; id <= 100000; id++)
        if (idset_has(&s, id * 1000) != (id % 2 == 0)) all = 0;
    CHECK(all);
    CHECK(invariant_ok(&s));
    idset_free(&s);
}

/* Runs that start at the last slot continue at slot 0: deleting inside them must pull
 * members back across the end of the table, and leave members at their home alone. */
static void test_wrap_around(void)
{
    idset_t s;
    idset_init(&s, 16);
    size_t last = s.mask;
    uint64_t a[3], z[2], y[1];
    ids_at(&s, last, 1, a, 3); /* home 15: slots 15, 0, 1 */
    ids_at(&s, 0, 1, z, 2);    /* home 0: slots 2, 3 */
    ids_at(&s, 2, 1, y, 1);    /* home 2: slot 4 */
    for (int i = 0; i < 3; i++)
        idset_add(&s, a[i]);
    for (int i = 0; i < 2; i++)
        idset_add(&s, z[i]);
    idset_add(&s, y[0]);
    CHECK(s.slots[last] == a[0] && s.slots[0] == a[1] && s.slots[1] == a[2]);
    CHECK(s.slots[2] == z[0] && s.slots[3] == z[1] && s.slots[4] == y[0]);
    CHECK(invariant_ok(&s));

    /* Deleting the run's head shifts everything back by one, across the wrap. */
    CHECK(idset_del(&s, a[0]));
    CHECK(s.slots[last] == a[1] && s.slots[0] == a[2] && s.slots[1] == z[0]);
    CHECK(s.slots[2] == z[1] && s.slots[3] == y[0] && s.slots[4] == UINT64_MAX);
    CHECK(invariant_ok(&s));
    CHECK(!idset_has(&s, a[0]));
    CHECK(idset_has(&s, a[1]) && idset_has(&s, a[2]) && idset_has(&s, z[0]) &&
          idset_has(&s, z[1]) && idset_has(&s, y[0]));

    /* Deleting at slot 0: z[0] and z[1] (home 0) move back, and y[0] back to its home. */
    CHECK(idset_del(&s, a[2]));
    CHECK(s.slots[last] == a[1] && s.slots[0] == z[0] && s.slots[1] == z[1]);
    CHECK(s.slots[2] == y[0] && s.slots[3] == UINT64_MAX);
    CHECK(invariant_ok(&s));

    /* A member whose home lies between the hole and itself stays put. */
    CHECK(idset_del(&s, z[0]));
    CHECK(s.slots[0] == z[1] && s.slots[1] == UINT64_MAX && s.slots[2] == y[0]);
    CHECK(invariant_ok(&s));

    /* Deleting the wrapped head leaves the rest reachable. */
    CHECK(idset_del(&s, a[1]));
    CHECK(s.slots[last] == UINT64_MAX);
    CHECK(idset_has(&s, z[1]) && idset_has(&s, y[0]));
    CHECK(idset_count(&s) == 2);
    CHECK(invariant_ok(&s));
    idset_free(&s);
}

static uint64_t rng_state = 0x1234567887654321ULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define UNIVERSE 300

/* Random adds and deletes over a small universe (so runs collide, wrap and shrink) in a
 * set that starts tiny, compared after every step with an array of flags. */
static void test_random(void)
{
    uint64_t ids[UNIVERSE];
    for (size_t i = 0; i < UNIVERSE; i++)
        ids[i] = i < 200 ? i : i < 299 ? rnd() : UINT64_MAX;
    bool in[UNIVERSE] = {false};
    size_t n = 0;
    idset_t s;
    idset_init(&s, 2);
    int same = 1, results = 1, invariant = 1;
    for (int step = 0; step < 20000 && same && results && invariant; step++) {
        size_t k = (size_t)(rnd() % UNIVERSE);
        /* Mostly adds early on, mostly deletes later, so the set grows then drains. */
        bool add = rnd() % 100 < (step < 10000 ? 65u : 35u);
        if (add) {
            if (idset_add(&s, ids[k]) != !in[k]) results = 0;
            if (!in[k]) n++;
            in[k] = true;
        } else {
            if (idset_del(&s, ids[k]) != in[k]) results = 0;
            if (in[k]) n--;
            in[k] = false;
        }
        for (size_t i = 0; i < UNIVERSE; i++)
            if (idset_has(&s, ids[i]) != in[i]) same = 0;
        if (idset_count(&s) != n) same = 0;
        if (step % 64 == 0 && !invariant_ok(&s)) invariant = 0;
    }
    CHECK(same);
    CHECK(results);
    CHECK(invariant);
    CHECK(invariant_ok(&s));
    idset_free(&s);
}

int main(void)
{
    test_basics();
    test_sentinel();
    test_growth();
    test_wrap_around();
    test_random();
    return check_done();
}
