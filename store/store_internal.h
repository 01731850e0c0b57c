/* store_internal.h -- what the .c files of store/ share: the store and write-transaction
 * structs and the record helpers. Private to store/: NOT part of store.h's public interface;
 * nothing outside store/ may include it. Its functions carry the store__ prefix, which
 * marks them internal (libuv's uv__ convention). */
#ifndef HOOKGATE_STORE_INTERNAL_H
#define HOOKGATE_STORE_INTERNAL_H

#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/codec.h"
#include "store/store.h"

#define KEY_MAX 511    /* LMDB's default maximum key size; our key buffers are this big */
#define ERROR_MAX 1024 /* bytes kept of an error string, so that records stay bounded */

struct store {
    int lock_fd; /* dir/lock, flock'ed exclusively while the store is open */
    MDB_env *env;
    MDB_dbi meta, events, received, deliveries, due, dead, counters, order, paused, replayed,
        ordered;
    size_t max_key;
    uint32_t opened_version; /* the format found at open; an older one is upgraded there */
    /* Next ids as last committed; read and written by the writer thread only. */
    uint64_t next_delivery_id, next_event_seq;
    /* Writer thread only. unsynced: a commit's meta page may not be on disk yet (it is
     * flushed by the next commit or store_sync). flush_failed: a commit or sync failed
     * since the last meta page that was written afresh, so a flush alone proves nothing. */
    bool unsynced, flush_failed;
    /* LMDB's read-only map of the file, found by the first store_trim_mapped_pages; the
     * delivery worker's thread only, as are the two fields below. */
    void *map_addr;
    size_t map_len;
    int statm_fd;                /* /proc/self/statm, opened by the first trim; -1 before */
    uint64_t mapped_floor_bytes; /* file-backed RSS right after the last drop */
    /* Committed transactions that wrote the paused table (store_paused_changes). */
    _Atomic uint64_t paused_changes;
};

/* One subscriber's counters as the transaction leaves them: read once, changed in memory
 * by each write, and put back once at commit, so that a batch of outcomes for one
 * subscriber costs one counters write instead of one per outcome. With them, whether the
 * subscriber has an order index to keep. */
typedef struct {
    char *name; /* NULL: a free slot */
    uint64_t hash;
    store_counters_t c;
    bool dirty;
    store_order_state_t order; /* its order index state, read with the counters */
} counters_slot_t;

struct store_wtxn {
    store_t *st;
    MDB_txn *txn;
    /* Ids handed out by this transaction; they become the store's on commit, so an
     * aborted transaction gives its ids back. */
    uint64_t next_delivery_id, next_event_seq;
    /* The first LMDB error that broke the transaction (a store failure); every later call
     * returns it. An operation's own error (a record it cannot decode, -ENOENT) is only
     * returned: the operation wrote nothing, and the transaction stays good. */
    int err;
    size_t nwrites;          /* puts and deletes so far: tells whether a failing operation wrote */
    bool paused_written;     /* counted in paused_changes once committed */
    counters_slot_t *cslots; /* open addressing, ccap a power of two (0: none yet) */
    size_t ccap, cused;
    core_buf_t buf;
};

/* A change to apply to one subscriber's counters. */
typedef struct {
    int pending, dead; /* -1, 0 or +1 */
    bool delivered, failed;
    int64_t last_success_ms; /* 0: unchanged */
    const char *last_error;  /* NULL: unchanged */
} counters_delta_t;

/* A growable list of delivery ids. */
typedef struct {
    uint64_t *ids;
    size_t n, cap;
} id_list_t;

/* ---- store.c: shared helpers, write transactions and record helpers ---- */

size_t store__error_len(const char *s);
char *store__error_dup(const char *s);
void store__replace_str(char **dst, char *src);
int store__map_err(int rc);
MDB_val store__val(const void *p, size_t n);
bool store__str_eq(codec_str_t s, const char *c);
int store__tx_fail(store_wtxn_t *tx, int rc);
int store__tx_put(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v,
                  size_t vl);
/* Puts k after every key of dbi (MDB_APPEND: the page it fills is left full, not split in
 * two); a key that is not the greatest breaks the transaction. */
int store__tx_append(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, const void *v,
                     size_t vl);
int store__tx_del(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl);
int store__op_end(store_wtxn_t *tx, size_t writes, int rc);
int store__tx_get(store_wtxn_t *tx, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v);
void store__id_key(uint8_t k[8], uint64_t id);
/* Looks event id up in txn: its sequence number (*seq, from the events table) and its record
 * (*v, a view into the map, from received). -ENOENT when the id is not stored; -EBADMSG when
 * its events entry or the record it names is missing, cannot be decoded or is another
 * event's (a damaged store); other LMDB errors as store__map_err. */
int store__find_event(MDB_txn *txn, const store_t *st, const char *id, size_t id_len,
                      uint64_t *seq, codec_event_view_t *v);
int store__read_delivery(store_wtxn_t *tx, uint64_t id, store_delivery_t *d);
int store__load_delivery(store_wtxn_t *tx, uint64_t id, store_state_t want, store_delivery_t *d);
int store__corrupt_stand_in(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                            store_delivery_t *d);
int store__save_delivery(store_wtxn_t *tx, const store_delivery_t *d);
int store__order_state_parse(const MDB_val *v, store_order_state_t *out);
uint64_t store__name_hash(const char *name);
counters_slot_t *store__counters_find(store_wtxn_t *tx, const char *name, uint64_t h);
int store__counters_load(store_wtxn_t *tx, const char *name);
void store__counters_change(store_wtxn_t *tx, const char *name, const counters_delta_t *dl);
int store__index_put(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id);
int store__index_del(store_wtxn_t *tx, const char *name, size_t nl, int64_t due_ms, uint64_t id);
int store__due_put(store_wtxn_t *tx, const store_delivery_t *d);
int store__due_del(store_wtxn_t *tx, const store_delivery_t *d);
int store__dead_put(store_wtxn_t *tx, const store_delivery_t *d);
int store__last_dead_ms(store_wtxn_t *tx, int64_t *out);
int store__dead_del(store_wtxn_t *tx, const store_delivery_t *d);
void store__record_attempt(store_delivery_t *d, const store_attempt_t *a);
int store__rtxn_begin(store_t *st, MDB_txn **txn);
/* A read transaction with a cursor on dbi; on failure nothing is left open. The caller
 * closes the cursor and aborts the transaction. */
int store__rcursor_begin(store_t *st, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **c);

/* ---- health.c: the replayed index, shared with deliveries.c and prune.c ---- */

void store__replayed_key(uint8_t k[16], uint64_t seq, uint64_t id);
int store__each_replayed(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
                         bool (*fn)(void *ctx, uint64_t id), void *ctx);
bool store__id_list_add(void *ctx, uint64_t id);

#endif
