/* health.c -- subscriber health: the paused table, replay, and building and dropping the
 * order index of an ordered subscriber. */
#include "store/store_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* ---- subscriber health: pause and replay ---- */

int store_set_paused(store_wtxn_t *tx, const char *subscriber, bool paused, int64_t now_ms)
{
    size_t nl = strlen(subscriber);
    if (tx->err) return tx->err;
    if (nl == 0 || nl > tx->st->max_key) return -EINVAL;
    tx->paused_written = true;
    if (!paused) return store__tx_del(tx, tx->st->paused, subscriber, nl);
    uint8_t v[8];
    codec_put_le64(v, (uint64_t)now_ms);
    return store__tx_put(tx, tx->st->paused, subscriber, nl, v, sizeof(v));
}

uint64_t store_wtxn_event_seq_end(store_wtxn_t *tx)
{
    return tx->next_event_seq;
}

/* replayed index key: the event's sequence number, then the delivery id (both BE). */
void store__replayed_key(uint8_t k[16], uint64_t seq, uint64_t id)
{
    codec_put_be64(k, seq);
    codec_put_be64(k + 8, id);
}

/* Adds a PENDING delivery of the event with sequence number seq (record view v, read in
 * this transaction) for subscriber, due at now_ms, and links it to the event in the
 * replayed index. Keyed by sequence number, a replay walking in ingest order appends to
 * that index instead of rewriting event records. v points into the map, so what is needed
 * from it is copied before the first write. */
static int replay_event(store_wtxn_t *tx, uint64_t seq, const codec_event_view_t *v,
                        const char *subscriber, int64_t now_ms)
{
    store_t *st = tx->st;
    int rc = store__counters_load(tx, subscriber); /* before the first write */
    if (rc) return rc;
    char *event_id = xmemdup0(v->id.p, v->id.len);
    char *type = xmemdup0(v->type.p, v->type.len);
    store_delivery_t d = {
        .id = tx->next_delivery_id++,
        .event_id = event_id,
        .event_type = type,
        .subscriber = (char *)subscriber,
        .state = STORE_PENDING,
        .created_ms = now_ms,
        .next_attempt_ms = now_ms,
        .last_error = "",
    };
    counters_delta_t dl = {.pending = 1};
    uint8_t k[16];
    store__replayed_key(k, seq, d.id);
    rc = store__save_delivery(tx, &d);
    if (rc == 0) rc = store__due_put(tx, &d);
    if (rc == 0) rc = store__tx_put(tx, st->replayed, k, sizeof(k), "", 0);
    if (rc == 0) store__counters_change(tx, subscriber, &dl);
    free(event_id);
    free(type);
    return rc;
}

/* Calls fn(ctx, delivery id) for each delivery that replays added to event seq, in txn,
 * until fn returns false. Returns 0 or an LMDB code. */
int store__each_replayed(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
                         bool (*fn)(void *ctx, uint64_t id), void *ctx)
{
    MDB_cursor *c;
    uint8_t kb[16];
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc) return rc;
    store__replayed_key(kb, seq, 0);
    MDB_val k = store__val(kb, sizeof(kb)), v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || codec_get_be64(k.mv_data) != seq) break;
        if (!fn(ctx, codec_get_be64((const uint8_t *)k.mv_data + 8))) break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

bool store__id_list_add(void *ctx, uint64_t id)
{
    id_list_t *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
    }
    l->ids[l->n++] = id;
    return true;
}

int store_replay(store_wtxn_t *tx, const char *subscriber, uint64_t *cursor, uint64_t end_seq,
                 size_t max, int64_t now_ms, store_replay_select_t select, void *ctx, size_t *added,
                 bool *more)
{
    store_t *st = tx->st;
    MDB_cursor *c;
    *added = 0;
    *more = false;
    if (tx->err) return tx->err;
    size_t nl = strlen(subscriber);
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return -EINVAL;
    int rc = mdb_cursor_open(tx->txn, st->received, &c);
    if (rc) return store__tx_fail(tx, rc);
    uint64_t seq = *cursor;
    for (size_t examined = 0;; examined++) {
        uint8_t kb[8];
        MDB_val k, v;
        codec_event_view_t view;
        /* Sought afresh each time: the writes below may move the pages under a cursor. */
        store__id_key(kb, seq);
        k = store__val(kb, 8);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = store__tx_fail(tx, rc);
            break;
        }
        if (k.mv_size != 8 || codec_event_view(v.mv_data, v.mv_size, &view)) {
            rc = -EIO;
            break;
        }
        seq = codec_get_be64(k.mv_data);
        if (seq >= end_seq) break;
        if (examined == max) {
            *more = true;
            break;
        }
        if (select(ctx, view.type.p, view.type.len, view.body.p, view.body.len, view.received_ms)) {
            rc = replay_event(tx, seq, &view, subscriber, now_ms);
            if (rc == 0) (*added)++;
        }
        if (rc) break;
        seq++;
    }
    mdb_cursor_close(c);
    if (rc && !tx->err && *added > 0) {
        /* An event that cannot be replayed after others were: keep those and stop before
         * it, so the next call fails on it with nothing written. */
        *more = true;
        rc = 0;
    }
    if (rc == 0) *cursor = seq;
    return rc;
}

/* ---- order indexes ---- */

/* Marks name (loaded with counters_load) with state, in the table and in the transaction's
 * slot, so that the writes after it in this transaction follow it. */
static int set_order_state(store_wtxn_t *tx, const char *name, store_order_state_t state)
{
    size_t nl = strlen(name);
    uint8_t b = (uint8_t)state;
    int rc = state == STORE_ORDER_NONE ? store__tx_del(tx, tx->st->ordered, name, nl)
                                       : store__tx_put(tx, tx->st->ordered, name, nl, &b, 1);
    if (rc == 0) store__counters_find(tx, name, store__name_hash(name))->order = state;
    return rc;
}

/* Deletes up to max order entries of name (nl bytes); *left when some remain. */
static int order_drop(store_wtxn_t *tx, const char *name, size_t nl, size_t max, bool *left)
{
    MDB_cursor *c;
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, name, nl);
    prefix[nl] = '\0';
    *left = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->order, &c);
    if (rc) return store__tx_fail(tx, rc);
    for (size_t n = 0;; n++) {
        MDB_val k = store__val(prefix, nl + 1), v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND ||
            (rc == 0 && (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0))) {
            rc = 0;
            break;
        }
        if (rc == 0 && n == max) {
            *left = true;
            break;
        }
        if (rc == 0) {
            rc = mdb_cursor_del(c, 0);
            tx->nwrites++;
        }
        if (rc) {
            rc = store__tx_fail(tx, rc);
            break;
        }
    }
    mdb_cursor_close(c);
    return rc;
}

/* The last due entry of name (nl bytes): *any is false when it has none. */
static int last_due(store_wtxn_t *tx, const char *name, size_t nl, int64_t *due_ms, uint64_t *id,
                    bool *any)
{
    MDB_cursor *c;
    uint8_t after[KEY_MAX];
    memcpy(after, name, nl);
    after[nl] = '\1'; /* just past every key name + '\0' + ... */
    *any = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->due, &c);
    if (rc) return store__tx_fail(tx, rc);
    MDB_val k = store__val(after, nl + 1), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    size_t kn;
    if (rc == 0 && codec_due_key_parse(k.mv_data, k.mv_size, &kn, due_ms, id) == 0 && kn == nl &&
        memcmp(k.mv_data, name, nl) == 0)
        *any = true;
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store__tx_fail(tx, rc);
}

/* LMDB's default key order: bytes, then length. */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int r = memcmp(a, b, al < bl ? al : bl);
    return r ? r : (al > bl) - (al < bl);
}

/* Adds the order entries of up to max due entries of name (nl bytes), from cur's position
 * up to its end entry; *left when some remain. */
static int order_fill(store_wtxn_t *tx, const char *name, size_t nl, store_order_cursor_t *cur,
                      size_t max, bool *left)
{
    MDB_cursor *c;
    uint8_t end[KEY_MAX];
    size_t endl = codec_due_key(end, name, nl, cur->end_due_ms, cur->end_id);
    *left = false;
    int rc = mdb_cursor_open(tx->txn, tx->st->due, &c);
    if (rc) return store__tx_fail(tx, rc);
    for (size_t n = 0;; n++) {
        uint8_t kb[KEY_MAX], ok[KEY_MAX], dv[8];
        MDB_val k = store__val(kb, codec_due_key(kb, name, nl, cur->due_ms, cur->id)), v;
        int64_t due;
        uint64_t id;
        size_t kn;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (rc == 0 && key_cmp(k.mv_data, k.mv_size, end, endl) > 0)) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = store__tx_fail(tx, rc);
            break;
        }
        if (n == max) {
            *left = true;
            break;
        }
        if (codec_due_key_parse(k.mv_data, k.mv_size, &kn, &due, &id) || kn != nl) {
            rc = store__tx_fail(tx, MDB_CORRUPTED);
            break;
        }
        codec_put_be64(dv, codec_time_key(due));
        if ((rc = store__tx_put(tx, tx->st->order, ok, codec_order_key(ok, name, nl, id), dv, 8)))
            break;
        cur->due_ms = due;
        cur->id = id + 1; /* the next key after this one */
    }
    mdb_cursor_close(c);
    return rc;
}

/* Building: phase 0 drops what an older index left (unmarked meanwhile, so no write adds to
 * it), then marks BUILDING and notes the last due entry: every delivery due from then on
 * gets its order entry from the write that makes it due, and phase 1 adds those due
 * before, up to that entry; then COMPLETE. A delivery rescheduled meanwhile got its entry
 * from the reschedule, wherever it moved. */
int store_order_step(store_wtxn_t *tx, const char *subscriber, bool on, store_order_cursor_t *cur,
                     size_t max, bool *more)
{
    *more = false;
    if (tx->err) return tx->err;
    size_t nl = strlen(subscriber);
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > tx->st->max_key) return -EINVAL;
    int rc = store__counters_load(tx, subscriber);
    if (rc) return rc;
    store_order_state_t state =
        store__counters_find(tx, subscriber, store__name_hash(subscriber))->order;
    size_t writes = tx->nwrites;
    bool left = false;
    if (!on || cur->phase == 0) {
        if (on && state == STORE_ORDER_COMPLETE) return 0;
        if (state != STORE_ORDER_NONE) rc = set_order_state(tx, subscriber, STORE_ORDER_NONE);
        if (rc == 0) rc = order_drop(tx, subscriber, nl, max, &left);
        if (rc == 0 && on && !left) {
            bool any;
            rc = last_due(tx, subscriber, nl, &cur->end_due_ms, &cur->end_id, &any);
            if (rc == 0)
                rc = set_order_state(tx, subscriber,
                                     any ? STORE_ORDER_BUILDING : STORE_ORDER_COMPLETE);
            cur->phase = 1;
            cur->due_ms = INT64_MIN;
            cur->id = 0;
            left = any;
        }
    } else if (state != STORE_ORDER_BUILDING) {
        cur->phase = 0; /* unmarked under this job: start over */
        left = true;
    } else {
        rc = order_fill(tx, subscriber, nl, cur, max, &left);
        if (rc == 0 && !left) rc = set_order_state(tx, subscriber, STORE_ORDER_COMPLETE);
    }
    *more = rc == 0 && left;
    return store__op_end(tx, writes, rc);
}

/* Reads subscriber's entry in dbi (a table keyed by subscriber name) in a read transaction
 * of its own, and copies up to cap bytes of its value to buf while LMDB's pointer into the
 * map is still valid. *len is the value's length, or SIZE_MAX when there is no entry (or
 * the name cannot be a key). */
static int read_subscriber_entry(store_t *st, MDB_dbi dbi, const char *subscriber, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    MDB_txn *txn;
    MDB_val v;
    size_t nl = strlen(subscriber);
    *len = SIZE_MAX;
    if (nl == 0 || nl > st->max_key) return 0;
    int rc = store__rtxn_begin(st, &txn);
    if (rc) return rc;
    MDB_val k = store__val(subscriber, nl);
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) {
        *len = v.mv_size;
        memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? store__map_err(rc) : 0;
}

int store_order_state(store_t *st, const char *subscriber, store_order_state_t *out)
{
    uint8_t b;
    size_t len;
    *out = STORE_ORDER_NONE;
    int rc = read_subscriber_entry(st, st->ordered, subscriber, &b, 1, &len);
    if (rc || len == SIZE_MAX) return rc;
    MDB_val v = {len, &b};
    return store__order_state_parse(&v, out);
}

int store_is_paused(store_t *st, const char *subscriber, bool *paused)
{
    uint8_t b;
    size_t len;
    int rc = read_subscriber_entry(st, st->paused, subscriber, &b, 1, &len);
    *paused = rc == 0 && len != SIZE_MAX;
    return rc;
}

int store_paused_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = store__rcursor_begin(st, st->paused, &txn, &c);
    if (rc) return rc;
    int mrc;
    MDB_val k, v;
    char name[KEY_MAX + 1];
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 0 || k.mv_size > KEY_MAX) continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        fn(ctx, name);
    }
    if (mrc != MDB_NOTFOUND) rc = store__map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

int store_pending_subscribers(store_t *st, void (*fn)(void *ctx, const char *name), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = store__rcursor_begin(st, st->due, &txn, &c);
    if (rc) return rc;
    int mrc;
    MDB_val k, v;
    char name[KEY_MAX + 1];
    /* After each name, jump past all of its keys (name + '\0' + ...) to name + '\1'. */
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
        size_t nl;
        int64_t due;
        uint64_t id;
        if (codec_due_key_parse(k.mv_data, k.mv_size, &nl, &due, &id)) {
            rc = -EIO;
            break;
        }
        memcpy(name, k.mv_data, nl);
        name[nl] = '\0';
        fn(ctx, name);
        name[nl] = '\1';
        k = store__val(name, nl + 1);
    }
    if (rc == 0 && mrc != MDB_NOTFOUND) rc = store__map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

int store_get_counters(store_t *st, const char *subscriber, store_counters_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    size_t nl = strlen(subscriber);
    memset(out, 0, sizeof(*out));
    int rc = 0;
    if (nl > 0 && nl <= st->max_key) {
        if ((rc = store__rtxn_begin(st, &txn))) return rc;
        MDB_val k = store__val(subscriber, nl);
        rc = mdb_get(txn, st->counters, &k, &v);
        if (rc == 0)
            rc = codec_decode_counters(v.mv_data, v.mv_size, out) ? -EIO : 0;
        else
            rc = rc == MDB_NOTFOUND ? 0 : store__map_err(rc);
        mdb_txn_abort(txn);
    }
    if (rc == 0 && !out->last_error) out->last_error = xstrdup("");
    return rc;
}
