/* idset.h -- a set of 64-bit ids (the delivery worker's in-flight deliveries): open
 * addressing with linear probing and backward-shift deletion, so lookups stay O(1) under
 * constant churn without tombstones. Pure, no I/O; not thread-safe (callers lock). */
#ifndef HOOKGATE_IDSET_H
#define HOOKGATE_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fields are private to idset.c. UINT64_MAX marks a free slot, so that id is kept in
 * has_max instead of a slot. */
typedef struct {
    uint64_t *slots;
    size_t mask;  /* capacity - 1, capacity a power of two */
    size_t count; /* ids in slots (has_max not included) */
    bool has_max;
} idset_t;

/* Makes s an empty set with room for about cap/2 ids before it grows (cap is rounded up
 * to a power of two, at least 2). Out of memory aborts. Free with idset_free. */
void idset_init(idset_t *s, size_t cap);
/* Frees the slots; s may be initialised again. */
void idset_free(idset_t *s);

/* True when id is in s. */
bool idset_has(const idset_t *s, uint64_t id);
/* Adds id (growing s as needed, out of memory aborts). Returns true when it was added,
 * false when it was already there. */
bool idset_add(idset_t *s, uint64_t id);
/* Removes id. Returns true when it was there. */
bool idset_del(idset_t *s, uint64_t id);
/* Number of ids in s. */
size_t idset_count(const idset_t *s);

#endif
