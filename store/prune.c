/* prune.c -- retention: deleting events whose deliveries are all finished. */
#include "store/store_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* ---- retention ---- */

/* Whether delivery id is DELIVERED or gone; *corrupt when its record cannot be decoded
 * (then it counts as not finished: the event is kept). */
static int delivery_finished(store_wtxn_t *tx, uint64_t id, bool *finished, bool *corrupt)
{
    uint8_t k[8];
    MDB_val v;
    codec_delivery_view_t d;
    store__id_key(k, id);
    int rc = store__tx_get(tx, tx->st->deliveries, k, 8, &v);
    *finished = true;
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) {
        *finished = false;
        *corrupt = true;
        return 0;
    }
    *finished = d.state == STORE_DELIVERED;
    return 0;
}

/* Whether every delivery of the event (sequence number seq) is DELIVERED or gone, those
 * that replays added included. *corrupt_id: the first delivery met whose record cannot be
 * decoded (0: none); the event is then not finished. */
static int event_finished(store_wtxn_t *tx, const codec_event_view_t *ev, uint64_t seq,
                          bool *finished, uint64_t *corrupt_id)
{
    bool corrupt = false;
    uint64_t id = 0;
    *finished = true;
    int rc = 0;
    for (uint32_t i = 0; i < ev->ndeliveries && *finished && rc == 0; i++)
        rc = delivery_finished(tx, id = codec_event_view_id(ev, i), finished, &corrupt);
    id_list_t extra = {0};
    if (rc == 0 && *finished) {
        int mrc = store__each_replayed(tx->txn, tx->st->replayed, seq, store__id_list_add, &extra);
        if (mrc) rc = store__tx_fail(tx, mrc);
    }
    for (size_t i = 0; i < extra.n && *finished && rc == 0; i++)
        rc = delivery_finished(tx, id = extra.ids[i], finished, &corrupt);
    free(extra.ids);
    *corrupt_id = corrupt ? id : 0;
    return rc;
}

/* Deletes the event with sequence number seq (rkey, its received key): its record, its
 * events entry, its deliveries, those replays added and their links. */
static int prune_event(store_wtxn_t *tx, const uint8_t rkey[8])
{
    store_t *st = tx->st;
    MDB_val v;
    store_event_t ev;
    id_list_t extra = {0};
    uint64_t seq = codec_get_be64(rkey);
    int rc = store__tx_get(tx, st->received, rkey, 8, &v);
    if (rc) return rc == -ENOENT ? -EIO : rc;
    if (codec_decode_event(v.mv_data, v.mv_size, &ev)) return -EIO;
    int mrc = store__each_replayed(tx->txn, st->replayed, seq, store__id_list_add, &extra);
    if (mrc) rc = store__tx_fail(tx, mrc);
    for (size_t i = 0; i < ev.ndeliveries && rc == 0; i++) {
        uint8_t k[8];
        store__id_key(k, ev.delivery_ids[i]);
        rc = store__tx_del(tx, st->deliveries, k, 8);
    }
    for (size_t i = 0; i < extra.n && rc == 0; i++) {
        uint8_t k[8], rk[16];
        store__id_key(k, extra.ids[i]);
        store__replayed_key(rk, seq, extra.ids[i]);
        rc = store__tx_del(tx, st->deliveries, k, 8);
        if (rc == 0) rc = store__tx_del(tx, st->replayed, rk, sizeof(rk));
    }
    free(extra.ids);
    if (rc == 0) rc = store__tx_del(tx, st->events, ev.id, strlen(ev.id));
    if (rc == 0) rc = store__tx_del(tx, st->received, rkey, 8);
    store_event_clear(&ev);
    return rc;
}

/* The received table is keyed by an ingest sequence number, and *cursor is the sequence
 * number of the next event to examine (0 and 1 both mean the oldest). A sequence number
 * is an exact position, so a scan makes progress however many kept events share one
 * millisecond. Events are examined in ingest order and the scan stops at the first one
 * received at or after cutoff_ms: after a clock step back, an older event behind it is
 * pruned by a later pass, never too early. An event with a record that cannot be decoded
 * (its own record in received, or a delivery's) is kept and reported in
 * *corrupt, and the scan goes on past it: one damaged record must not stop retention. */
int store_prune(store_wtxn_t *tx, int64_t cutoff_ms, size_t max, uint64_t *cursor, size_t *pruned,
                bool *more, store_prune_corrupt_t *corrupt)
{
    store_t *st = tx->st;
    MDB_cursor *c;
    *pruned = 0;
    *more = false;
    memset(corrupt, 0, sizeof(*corrupt));
    if (tx->err) return tx->err;
    int rc = mdb_cursor_open(tx->txn, st->received, &c);
    if (rc) return store__tx_fail(tx, rc);
    uint64_t seq = *cursor;
    for (size_t examined = 0;; examined++) {
        uint8_t kb[8];
        MDB_val k, v;
        codec_event_view_t view;
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
        if (k.mv_size != 8) {
            rc = store__tx_fail(tx, MDB_CORRUPTED); /* the table itself is damaged */
            break;
        }
        seq = codec_get_be64(k.mv_data);
        bool bad = codec_event_view(v.mv_data, v.mv_size, &view) != 0;
        if (!bad && view.received_ms >= cutoff_ms) break;
        if (examined == max) {
            *more = true;
            break;
        }
        memcpy(kb, k.mv_data, 8);
        bool finished = false;
        uint64_t corrupt_id = 0;
        if (bad) {
            corrupt->n++; /* its record is damaged: keep it */
            corrupt->seq = seq;
            corrupt->delivery_id = 0;
            seq++;
            continue;
        }
        if ((rc = event_finished(tx, &view, seq, &finished, &corrupt_id))) break;
        if (corrupt_id) {
            corrupt->n++;
            corrupt->seq = seq;
            corrupt->delivery_id = corrupt_id;
        }
        if (finished) {
            if ((rc = prune_event(tx, kb))) break;
            (*pruned)++;
        }
        seq++;
    }
    mdb_cursor_close(c);
    if (rc == 0) *cursor = seq;
    return rc;
}
