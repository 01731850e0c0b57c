/* idset.c -- set of 64-bit ids: open addressing, linear probing, backward-shift deletion. */
#include "gateway/idset.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define EMPTY UINT64_MAX

/* The murmur3 finaliser's first half: delivery ids are sequential, and masking them
 * unmixed would put every run of ids into one probe run. */
static size_t home(const idset_t *s, uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & s->mask;
}

static void alloc_slots(idset_t *s, size_t cap)
{
    s->slots = xmalloc(cap * sizeof(*s->slots));
    memset(s->slots, 0xff, cap * sizeof(*s->slots)); /* every slot EMPTY */
    s->mask = cap - 1;
}

void idset_init(idset_t *s, size_t cap)
{
    size_t c = 2;
    while (c < cap)
        c *= 2;
    alloc_slots(s, c);
    s->count = 0;
    s->has_max = false;
}

void idset_free(idset_t *s)
{
    free(s->slots);
    s->slots = NULL;
    s->mask = 0;
    s->count = 0;
    s->has_max = false;
}

bool idset_has(const idset_t *s, uint64_t id)
{
    if (id == EMPTY) return s->has_max;
    /* The load stays under 1/2, so every probe run ends at an empty slot. */
    for (size_t i = home(s, id);; i = (i + 1) & s->mask) {
        if (s->slots[i] == id) return true;
        if (s->slots[i] == EMPTY) return false;
    }
}

/* The free slot that ends id's probe run; id is known to be absent. */
static size_t free_slot(const idset_t *s, uint64_t id)
{
    size_t i = home(s, id);
    while (s->slots[i] != EMPTY)
        i = (i + 1) & s->mask;
    return i;
}

bool idset_add(idset_t *s, uint64_t id)
{
    if (id == EMPTY) {
        bool added = !s->has_max;
        s->has_max = true;
        return added;
    }
    if ((s->count + 1) * 2 > s->mask + 1) {
        uint64_t *old = s->slots;
        size_t oldcap = s->mask + 1;
        alloc_slots(s, oldcap * 2);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i] != EMPTY) s->slots[free_slot(s, old[i])] = old[i];
        free(old);
    }
    /* One walk of the probe run: it either meets id or ends on the slot for it. */
    size_t i = home(s, id);
    for (; s->slots[i] != EMPTY; i = (i + 1) & s->mask)
        if (s->slots[i] == id) return false;
    s->slots[i] = id;
    s->count++;
    return true;
}

bool idset_del(idset_t *s, uint64_t id)
{
    if (id == EMPTY) {
        bool was = s->has_max;
        s->has_max = false;
        return was;
    }
    size_t i = home(s, id);
    while (s->slots[i] != id) {
        if (s->slots[i] == EMPTY) return false;
        i = (i + 1) & s->mask;
    }
    s->count--;
    /* Pull later members of the probe run back into the hole at i, so no lookup stops
     * early there. A member at j whose home k lies cyclically in (i, j] must stay: moved
     * to i it would sit before its home. */
    for (size_t j = i;;) {
        s->slots[i] = EMPTY;
        for (;;) {
            j = (j + 1) & s->mask;
            if (s->slots[j] == EMPTY) return true;
            size_t k = home(s, s->slots[j]);
            bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) break;
        }
        s->slots[i] = s->slots[j];
        i = j;
    }
}

size_t idset_count(const idset_t *s)
{
    return s->count + (s->has_max ? 1 : 0);
}
