/* deliveries.c -- enqueueing events, claiming, acking, rescheduling and burying deliveries,
 * and the dead letters: listing, kicking and deleting them one by one or in bulk. */
#include "store/store_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* ---- writes ---- */

int store_enqueue(store_wtxn_t *tx, const store_event_in_t *ev, bool *duplicate,
                  uint32_t *ndeliveries)
{
    store_t *st = tx->st;
    if (tx->err) return tx->err;
    if (ev->id_len == 0 || ev->id_len > st->max_key || ev->nsubscribers > UINT32_MAX ||
        ev->type_len > UINT32_MAX || ev->body_len > UINT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < ev->nsubscribers; i++) {
        size_t nl = strlen(ev->subscribers[i]);
        if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return -EINVAL;
    }

    /* The events table is the idempotency index. */
    uint64_t seq;
    codec_event_view_t view;
    int rc = store__find_event(tx->txn, st, ev->id, ev->id_len, &seq, &view);
    if (rc == 0) {
        *duplicate = true;
        *ndeliveries = view.ndeliveries;
        return 0;
    }
    if (rc == -EBADMSG) return -EIO;
    if (rc != -ENOENT) return tx->err = rc;
    rc = 0;
    for (size_t i = 0; i < ev->nsubscribers && rc == 0; i++)
        rc = store__counters_load(tx, ev->subscribers[i]);
    if (rc) return rc;

    size_t n = ev->nsubscribers, writes = tx->nwrites;
    uint64_t *ids = xmalloc(n * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = tx->next_delivery_id + i;
    seq = tx->next_event_seq;
    uint8_t k[8], sv[CODEC_EVENT_SEQ_LEN];
    store__id_key(k, seq);
    codec_put_le64(sv, seq);
    rc = codec_encode_event(&tx->buf, ev->received_ms, ev->id, ev->id_len, ev->type, ev->type_len,
                            ids, n, ev->body, ev->body_len);
    if (rc == 0) rc = store__tx_append(tx, st->received, k, 8, tx->buf.p, tx->buf.len);
    if (rc == 0) rc = store__tx_put(tx, st->events, ev->id, ev->id_len, sv, sizeof(sv));

    char *event_id = xmemdup0(ev->id, ev->id_len);
    char *event_type = xmemdup0(ev->type, ev->type_len);
    counters_delta_t dl = {.pending = 1};
    for (size_t i = 0; i < n && rc == 0; i++) {
        store_delivery_t d = {
            .id = ids[i],
            .event_id = event_id,
            .event_type = event_type,
            .subscriber = (char *)ev->subscribers[i],
            .state = STORE_PENDING,
            .created_ms = ev->received_ms,
            .next_attempt_ms = ev->received_ms,
            .last_error = "",
        };
        rc = store__save_delivery(tx, &d);
        if (rc == 0) rc = store__due_put(tx, &d);
        if (rc == 0) store__counters_change(tx, d.subscriber, &dl);
    }
    free(event_id);
    free(event_type);
    free(ids);
    if (rc) return store__op_end(tx, writes, rc);
    /* The ids are the transaction's only once the event is stored. */
    tx->next_delivery_id += n;
    tx->next_event_seq++;
    *duplicate = false;
    *ndeliveries = (uint32_t)n;
    return 0;
}

/* Records attempt a on PENDING delivery id: DELIVERED when delivered, else PENDING again,
 * due at due_ms. This is the work of every delivery outcome, so the record is rewritten
 * straight from its stored bytes (codec_encode_delivery_attempt) instead of being decoded
 * into allocations, and the counters change in the transaction's table, written once per
 * batch. Store work of a success: one read, one delete in due (and one in order), one
 * put of the record. */
static int record_outcome(store_wtxn_t *tx, uint64_t id, const store_attempt_t *a, bool delivered,
                          int64_t due_ms)
{
    store_t *st = tx->st;
    uint8_t k[8];
    MDB_val v;
    codec_delivery_view_t d;
    char name[KEY_MAX + 1];
    if (tx->err) return tx->err;
    if (!a) return -EINVAL;
    store__id_key(k, id);
    int rc = store__tx_get(tx, st->deliveries, k, 8, &v);
    if (rc) return rc;
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) return -EIO;
    if (d.state != STORE_PENDING) return -ENOENT;
    /* A PENDING record names a subscriber that fits a due key. */
    if (d.subscriber.len == 0 || d.subscriber.len + CODEC_DUE_KEY_EXTRA > st->max_key ||
        memchr(d.subscriber.p, '\0', d.subscriber.len))
        return -EIO;
    size_t nl = d.subscriber.len, el = store__error_len(a->error);
    memcpy(name, d.subscriber.p, nl);
    name[nl] = '\0';
    int64_t old_due = d.next_attempt_ms;
    /* Reads only (d stays valid): the counters, then the new record into tx->buf. */
    if ((rc = store__counters_load(tx, name))) return rc;
    if (codec_encode_delivery_attempt(&tx->buf, &d, delivered ? STORE_DELIVERED : STORE_PENDING,
                                      delivered ? 0 : due_ms, a, el))
        return -EINVAL;
    size_t writes = tx->nwrites;
    rc = store__index_del(tx, name, nl, old_due, id);
    if (rc == 0) rc = store__tx_put(tx, st->deliveries, k, 8, tx->buf.p, tx->buf.len);
    if (rc == 0 && !delivered) rc = store__index_put(tx, name, nl, due_ms, id);
    if (rc) return store__op_end(tx, writes, rc);
    if (delivered) {
        counters_delta_t dl = {
            .pending = -1, .delivered = true, .last_success_ms = a->at_ms + a->duration_ms};
        store__counters_change(tx, name, &dl);
    } else {
        char *err = xmemdup0(a->error ? a->error : "", el);
        counters_delta_t dl = {.failed = true, .last_error = err};
        store__counters_change(tx, name, &dl);
        free(err);
    }
    return 0;
}

int store_ack(store_wtxn_t *tx, uint64_t id, const store_attempt_t *a)
{
    return record_outcome(tx, id, a, true, 0);
}

int store_reschedule(store_wtxn_t *tx, uint64_t id, int64_t due_ms, const store_attempt_t *a)
{
    return record_outcome(tx, id, a, false, due_ms);
}

/* Dead-letters *d (read or stood in for; cleared here). */
static int bury(store_wtxn_t *tx, store_delivery_t *d, int64_t now_ms, const store_attempt_t *a,
                const char *reason)
{
    if (d->state != STORE_PENDING) {
        store_delivery_clear(d);
        return -ENOENT;
    }
    /* New dead letters always go after every existing one in the dead index (even if the
     * clock stepped back), so paging through the list by (dead_ms, id) never misses one
     * that was committed while a client was paging. */
    int64_t newest = 0;
    int rc = store__counters_load(tx, d->subscriber);
    if (rc == 0) rc = store__last_dead_ms(tx, &newest);
    if (rc) {
        store_delivery_clear(d);
        return rc;
    }
    size_t writes = tx->nwrites;
    rc = store__due_del(tx, d);
    if (a) store__record_attempt(d, a);
    if (reason) store__replace_str(&d->last_error, store__error_dup(reason));
    d->state = STORE_DEAD;
    d->next_attempt_ms = 0;
    d->dead_ms = now_ms > newest ? now_ms : newest;
    counters_delta_t dl = {.pending = -1,
                           .dead = 1,
                           .failed = a != NULL,
                           .last_error = (a || reason) ? d->last_error : NULL};
    if (rc == 0) rc = store__save_delivery(tx, d);
    if (rc == 0) rc = store__dead_put(tx, d);
    if (rc == 0) store__counters_change(tx, d->subscriber, &dl);
    store_delivery_clear(d);
    return store__op_end(tx, writes, rc);
}

int store_bury(store_wtxn_t *tx, uint64_t id, int64_t now_ms, const store_attempt_t *a,
               const char *reason)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = store__read_delivery(tx, id, &d);
    if (rc == -EBADMSG) rc = -EIO;
    return rc ? rc : bury(tx, &d, now_ms, a, reason);
}

int store_bury_corrupt(store_wtxn_t *tx, const char *subscriber, int64_t due_ms, uint64_t id,
                       int64_t now_ms)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = store__read_delivery(tx, id, &d);
    if (rc == -ENOENT || rc == -EBADMSG)
        rc = store__corrupt_stand_in(tx, subscriber, due_ms, id, &d);
    return rc ? rc : bury(tx, &d, now_ms, NULL, "corrupt record");
}

int store_kick(store_wtxn_t *tx, uint64_t id, int64_t now_ms)
{
    store_delivery_t d;
    if (tx->err) return tx->err;
    int rc = store__load_delivery(tx, id, STORE_DEAD, &d);
    if (rc) return rc;
    if ((rc = store__counters_load(tx, d.subscriber))) {
        store_delivery_clear(&d);
        return rc;
    }
    size_t writes = tx->nwrites;
    rc = store__dead_del(tx, &d);
    d.state = STORE_PENDING;
    d.attempts = 0;
    d.next_attempt_ms = now_ms;
    d.dead_ms = 0;
    counters_delta_t dl = {.pending = 1, .dead = -1};
    if (rc == 0) rc = store__save_delivery(tx, &d);
    if (rc == 0) rc = store__due_put(tx, &d);
    if (rc == 0) store__counters_change(tx, d.subscriber, &dl);
    store_delivery_clear(&d);
    return store__op_end(tx, writes, rc);
}

int store_delete_dead(store_wtxn_t *tx, uint64_t id)
{
    store_delivery_t d;
    uint8_t k[8];
    if (tx->err) return tx->err;
    int rc = store__load_delivery(tx, id, STORE_DEAD, &d);
    if (rc) return rc;
    if ((rc = store__counters_load(tx, d.subscriber))) {
        store_delivery_clear(&d);
        return rc;
    }
    size_t writes = tx->nwrites;
    store__id_key(k, id);
    rc = store__dead_del(tx, &d);
    counters_delta_t dl = {.dead = -1};
    if (rc == 0) rc = store__tx_del(tx, tx->st->deliveries, k, 8);
    if (rc == 0) store__counters_change(tx, d.subscriber, &dl);
    store_delivery_clear(&d);
    return store__op_end(tx, writes, rc);
}

/* ---- the dead-letter index ---- */

/* Positions c on the first dead key after *cur (the start when {0,0}), or from f's since
 * bound when that lies further on. Returns 0 or an LMDB code (MDB_NOTFOUND at the end). */
static int dead_seek(MDB_cursor *c, const store_dead_filter_t *f, const store_dead_cursor_t *cur,
                     MDB_val *k)
{
    MDB_val v;
    uint8_t kb[CODEC_DEAD_KEY_LEN];
    bool start = cur->dead_ms == 0 && cur->id == 0;
    bool strict = !start;
    int64_t ms = cur->dead_ms;
    uint64_t id = cur->id;
    if (f && f->since_ms && (start || f->since_ms > cur->dead_ms)) {
        ms = f->since_ms;
        id = 0; /* ids start at 1: (since, 0) precedes every entry at since */
        strict = false;
    } else if (start) {
        return mdb_cursor_get(c, k, &v, MDB_FIRST);
    }
    codec_dead_key(kb, ms, id);
    *k = store__val(kb, sizeof(kb));
    int rc = mdb_cursor_get(c, k, &v, MDB_SET_RANGE);
    if (rc == 0 && strict && k->mv_size == sizeof(kb) && memcmp(k->mv_data, kb, sizeof(kb)) == 0)
        rc = mdb_cursor_get(c, k, &v, MDB_NEXT);
    return rc;
}

/* Parses dead key k; false when it lies beyond f's until bound. -EIO when malformed. */
static int dead_in_range(const MDB_val *k, const store_dead_filter_t *f, int64_t *dead_ms,
                         uint64_t *id, bool *in_range)
{
    if (codec_dead_key_parse(k->mv_data, k->mv_size, dead_ms, id)) return -EIO;
    *in_range = !(f && f->until_ms && *dead_ms > f->until_ms);
    return 0;
}

/* Whether the DEAD delivery id in txn matches f's subscriber and type; *v is its record. */
static bool dead_matches(store_t *st, MDB_txn *txn, uint64_t id, const store_dead_filter_t *f,
                         MDB_val *v)
{
    uint8_t k[8];
    store__id_key(k, id);
    MDB_val key = store__val(k, 8);
    codec_delivery_view_t d;
    if (mdb_get(txn, st->deliveries, &key, v) || codec_delivery_view(v->mv_data, v->mv_size, &d) ||
        d.state != STORE_DEAD)
        return false;
    if (f && f->subscriber && !store__str_eq(d.subscriber, f->subscriber)) return false;
    if (f && f->type && !store__str_eq(d.event_type, f->type)) return false;
    return true;
}

/* Whether an entry after *cur exists within f's time bounds. */
static int dead_more(MDB_cursor *c, const store_dead_filter_t *f, const store_dead_cursor_t *cur,
                     bool *more)
{
    MDB_val k;
    int64_t ms;
    uint64_t id;
    int rc = dead_seek(c, f, cur, &k);
    if (rc == MDB_NOTFOUND) {
        *more = false;
        return 0;
    }
    if (rc) return store__map_err(rc);
    return dead_in_range(&k, f, &ms, &id, more);
}

/* The bounded bulk walk shared by kick and delete: examines at most max entries. */
static int dead_bulk(store_wtxn_t *tx, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                     size_t max, bool kick, int64_t now_ms, size_t *done, bool *more)
{
    MDB_cursor *c;
    *done = 0;
    *more = false;
    if (tx->err) return tx->err;
    int rc = mdb_cursor_open(tx->txn, tx->st->dead, &c);
    if (rc) return store__tx_fail(tx, rc);
    for (size_t examined = 0; examined < max; examined++) {
        MDB_val k;
        int64_t ms;
        uint64_t id;
        bool in_range;
        /* Re-seek every time: the previous step may have deleted entries. */
        rc = dead_seek(c, f, cursor, &k);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            goto out; /* exhausted: *more stays false */
        }
        if (rc) {
            rc = store__tx_fail(tx, rc);
            goto out;
        }
        if ((rc = dead_in_range(&k, f, &ms, &id, &in_range)) || !in_range) goto out;
        store_dead_cursor_t before = *cursor;
        cursor->dead_ms = ms;
        cursor->id = id;
        MDB_val v;
        if (!dead_matches(tx->st, tx->txn, id, f, &v)) continue;
        rc = kick ? store_kick(tx, id, now_ms) : store_delete_dead(tx, id);
        if (rc && !tx->err && *done > 0) {
            /* This letter cannot be changed (a record it needs is corrupt): keep what was
             * done and stop before it, so the next call fails on it with nothing written. */
            *cursor = before;
            *more = true;
            rc = 0;
            goto out;
        }
        if (rc) goto out;
        (*done)++;
    }
    rc = dead_more(c, f, cursor, more);
out:
    mdb_cursor_close(c);
    return rc;
}

int store_kick_dead(store_wtxn_t *tx, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t max, int64_t now_ms, size_t *done, bool *more)
{
    return dead_bulk(tx, f, cursor, max, true, now_ms, done, more);
}

int store_delete_dead_matching(store_wtxn_t *tx, const store_dead_filter_t *f,
                               store_dead_cursor_t *cursor, size_t max, size_t *done, bool *more)
{
    return dead_bulk(tx, f, cursor, max, false, 0, done, more);
}

void store_claim_clear(store_claim_t *c)
{
    free(c->event_id);
    free(c->body);
    memset(c, 0, sizeof(*c));
}

/* Fills out with PENDING delivery id and its event's body, read in txn. A delivery the
 * due index names but whose record or event is missing or undecodable is handed out as
 * corrupt rather than failing the claim: the caller buries it, so it is neither retried
 * forever nor holding back the deliveries due after it. -ESTALE when the record says it
 * is not PENDING: the record wins over a stale index entry, which is passed over. */
static int claim_fill(store_t *st, MDB_txn *txn, uint64_t id, store_claim_t *out)
{
    uint8_t k[8];
    codec_delivery_view_t d;
    codec_event_view_t e;
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->corrupt = true;
    store__id_key(k, id);
    MDB_val key = store__val(k, 8), v;
    int rc = mdb_get(txn, st->deliveries, &key, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return store__map_err(rc);
    if (codec_delivery_view(v.mv_data, v.mv_size, &d)) return 0;
    if (d.state != STORE_PENDING) return -ESTALE;
    uint64_t seq;
    rc = d.event_id.len > 0 ? store__find_event(txn, st, d.event_id.p, d.event_id.len, &seq, &e)
                            : -ENOENT;
    if (rc == -ENOENT || rc == -EBADMSG) return 0;
    if (rc) return rc;
    out->corrupt = false;
    out->attempts = d.attempts;
    out->first_attempt_ms = d.first_attempt_ms;
    out->event_id = xmemdup0(d.event_id.p, d.event_id.len);
    out->body = xmemdup0(e.body.p, e.body.len);
    out->body_len = e.body.len;
    return 0;
}

/* The due index is per subscriber, so a subscriber at its concurrency limit (everything
 * skipped) or with a large backlog costs only its own range: the scan starts at its
 * first key and stops at the first entry that is neither claimed nor skipped. */
int store_claim_due(store_t *st, const char *subscriber, int64_t now_ms, size_t max,
                    bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                    int64_t *next_due_ms)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t nl = strlen(subscriber), n = 0;
    *next_due_ms = INT64_MAX;
    if (nl + CODEC_DUE_KEY_EXTRA > st->max_key) return 0; /* such a name has no deliveries */
    int rc = store__rcursor_begin(st, st->due, &txn, &c);
    if (rc) return rc;
    int mrc;
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, subscriber, nl);
    prefix[nl] = '\0';
    MDB_val k = store__val(prefix, nl + 1), v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t kn;
        int64_t due;
        uint64_t id;
        if (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0) break;
        if (codec_due_key_parse(k.mv_data, k.mv_size, &kn, &due, &id) || kn != nl) {
            rc = -EIO;
            break;
        }
        if (skip && skip(ctx, id)) continue;
        if (n == max || due > now_ms) {
            *next_due_ms = due;
            break;
        }
        if ((rc = claim_fill(st, txn, id, &out[n])) == -ESTALE) {
            rc = 0;
            continue;
        }
        if (rc) break;
        out[n++].due_ms = due;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = store__map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        while (n > 0)
            store_claim_clear(&out[--n]);
        *next_due_ms = INT64_MAX;
        return rc;
    }
    return (int)n;
}

/* The ordered subscriber's next delivery is the first entry of its range in the order
 * index: the lowest delivery id still PENDING, whatever its due time. */
int store_claim_first(store_t *st, const char *subscriber, int64_t now_ms,
                      bool (*skip)(void *ctx, uint64_t id), void *ctx, store_claim_t *out,
                      int64_t *next_due_ms)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t nl = strlen(subscriber);
    int n = 0;
    *next_due_ms = INT64_MAX;
    if (nl == 0 || nl + CODEC_DUE_KEY_EXTRA > st->max_key) return 0;
    int rc = store__rtxn_begin(st, &txn);
    if (rc) return rc;
    /* Only a COMPLETE index names the first pending delivery. */
    MDB_val nk = store__val(subscriber, nl), nv;
    int mrc = mdb_get(txn, st->ordered, &nk, &nv);
    if (mrc == MDB_NOTFOUND ||
        (mrc == 0 && (nv.mv_size != 1 || *(const uint8_t *)nv.mv_data != STORE_ORDER_COMPLETE))) {
        mdb_txn_abort(txn);
        return 0;
    }
    if (mrc == 0) mrc = mdb_cursor_open(txn, st->order, &c);
    if (mrc) {
        mdb_txn_abort(txn);
        return store__map_err(mrc);
    }
    uint8_t prefix[KEY_MAX];
    memcpy(prefix, subscriber, nl);
    prefix[nl] = '\0';
    MDB_val k = store__val(prefix, nl + 1), v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        size_t kn;
        uint64_t id;
        if (k.mv_size < nl + 1 || memcmp(k.mv_data, prefix, nl + 1) != 0) break;
        if (codec_order_key_parse(k.mv_data, k.mv_size, &kn, &id) || kn != nl || v.mv_size != 8) {
            rc = -EIO;
            break;
        }
        int64_t due = codec_time_from_key(codec_get_be64(v.mv_data));
        if (skip && skip(ctx, id)) break; /* the head is being attempted: nothing else may */
        if (due > now_ms) {
            *next_due_ms = due;
            break;
        }
        if ((rc = claim_fill(st, txn, id, out)) == -ESTALE) {
            rc = 0; /* a stale entry: the record says it is finished */
            continue;
        }
        if (rc == 0) {
            out->due_ms = due;
            n = 1;
        }
        break;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = store__map_err(mrc);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        if (n) store_claim_clear(out);
        *next_due_ms = INT64_MAX;
        return rc;
    }
    return n;
}

int store_get_event(store_t *st, const char *id, size_t id_len, store_event_t *out)
{
    MDB_txn *txn;
    memset(out, 0, sizeof(*out));
    if (id_len == 0 || id_len > st->max_key) return -ENOENT;
    int rc = store__rtxn_begin(st, &txn);
    if (rc) return rc;
    uint64_t seq;
    codec_event_view_t view;
    rc = store__find_event(txn, st, id, id_len, &seq, &view);
    if (rc == -EBADMSG) rc = -EIO;
    if (rc == 0) {
        codec_event_copy(&view, out);
        /* The deliveries replays added follow the event's own. */
        id_list_t l = {out->delivery_ids, out->ndeliveries, out->ndeliveries};
        int mrc = store__each_replayed(txn, st->replayed, seq, store__id_list_add, &l);
        out->delivery_ids = l.ids;
        out->ndeliveries = l.n;
        if (mrc) {
            rc = store__map_err(mrc);
            store_event_clear(out);
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

int store_get_delivery(store_t *st, uint64_t id, store_delivery_t *out)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t kb[8];
    memset(out, 0, sizeof(*out));
    int rc = store__rtxn_begin(st, &txn);
    if (rc) return rc;
    store__id_key(kb, id);
    MDB_val k = store__val(kb, 8);
    rc = mdb_get(txn, st->deliveries, &k, &v);
    if (rc == 0)
        rc = codec_decode_delivery(v.mv_data, v.mv_size, out) ? -EIO : 0;
    else
        rc = store__map_err(rc);
    mdb_txn_abort(txn);
    out->id = rc == 0 ? id : 0;
    return rc;
}

int store_list_dead(store_t *st, const store_dead_filter_t *f, store_dead_cursor_t *cursor,
                    size_t limit, store_delivery_t *out, bool *more)
{
    MDB_txn *txn;
    MDB_cursor *c;
    size_t n = 0;
    *more = false;
    int rc = store__rcursor_begin(st, st->dead, &txn, &c);
    if (rc) return rc;
    int mrc;
    MDB_val k, v;
    size_t examined = 0;
    for (mrc = dead_seek(c, f, cursor, &k); mrc == 0 && n < limit;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        store_dead_cursor_t pos;
        bool in_range;
        if ((rc = dead_in_range(&k, f, &pos.dead_ms, &pos.id, &in_range)) || !in_range) break;
        if (examined++ == STORE_DEAD_SCAN_MAX) {
            *more = true; /* resume after *cursor, the last entry examined */
            break;
        }
        *cursor = pos;
        if (!dead_matches(st, txn, pos.id, f, &v)) continue;
        if (codec_decode_delivery(v.mv_data, v.mv_size, &out[n])) {
            rc = -EIO;
            break;
        }
        out[n++].id = pos.id;
    }
    if (rc == 0 && mrc && mrc != MDB_NOTFOUND) rc = store__map_err(mrc);
    if (rc == 0 && n == limit) rc = dead_more(c, f, cursor, more);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc) {
        while (n > 0)
            store_delivery_clear(&out[--n]);
        return rc;
    }
    return (int)n;
}
