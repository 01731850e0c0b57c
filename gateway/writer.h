/* writer.h -- the group-commit writer: one thread that applies every queued store
 * operation (ingest, delivery outcomes, admin changes) in one transaction, answers each
 * once a flush has made it durable, and the gateway's fail-stop policy for a store that
 * can no longer commit. */
#ifndef HOOKGATE_WRITER_H
#define HOOKGATE_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* Exit status of a gateway stopped by the writer because its store can no longer commit. */
#define WR_EXIT_STORE_FAILED 3

typedef struct wr_op wr_op_t;

/* An operation queued for the next batch. The submitter owns the memory and must keep
 * it alive until on_done has been called. */
struct wr_op {
    /* Applies the operation inside the batch transaction (writer thread). Returns 0 when
     * it did its work (an outcome it records in its own struct, e.g. -ENOENT for an ack of
     * a deleted delivery, included), or a negative errno when it failed. When the store
     * says the transaction is still good (store_wtxn_error 0: the operation wrote
     * nothing, e.g. a record it needs cannot be decoded), the operation alone is answered
     * with that error at once and the rest of the batch commits; that is not a store
     * failure. Otherwise (the store error that broke the transaction: -ENOSPC, -EIO) the
     * batch failed. May run more than once: after a broken batch every operation is
     * retried alone, so apply must depend only on its inputs and overwrite its outputs. */
    int (*apply)(wr_op_t *op, store_wtxn_t *tx);
    /* Called on the writer thread once the operation is durable (rc 0; relaxed: once it
     * is committed), or with rc < 0 when it failed: nothing of it written, or (after a
     * failed flush) not known to be on disk although readers may already see it.
     * Must be quick: hand off and return. */
    void (*on_done)(wr_op_t *op, int rc);
    /* True when losing the operation to a machine crash only repeats work (delivery
     * outcomes, retention): it is answered as soon as its batch is committed (every reader
     * sees it), without waiting for the flush that makes the batch durable, and a batch of
     * only such operations never pays a flush of its own: the next commit, or the
     * store_sync of a later batch or of shutdown, makes it durable. */
    bool relaxed;
    /* True when a relaxed operation may also wait for company: while only such operations
     * are queued and the writer has taken no other for WR_DEFER_MS, it holds them up to
     * WR_DEFER_MS (or until WR_DEFER_BATCH are queued, or any other operation arrives) so
     * that a stream of them, a drain's outcomes, costs one commit and its flush per
     * hundreds instead of per few dozen. Not for an operation whose completion someone is
     * waiting on. */
    bool deferrable;
    /* True when the operation may have made deliveries due (new events, redrives): once it
     * is durable, the writer calls the announce hook (wr_set_announce). */
    bool announces;
    wr_op_t *next; /* the writer's queue link */
};

typedef struct wr wr_t;

#define WR_DEFER_MS 20      /* longest hold of deferrable-only operations */
#define WR_DEFER_BATCH 1024 /* ... or until this many are queued */

/* The store calls the writer makes, so that a test can run it over a fake store that
 * records them. wr_start fills them with the store_* functions of the same names; their
 * contract is store.h's: a successful commit makes the commits before it durable (its
 * flush carries their meta pages), sync makes every commit durable. */
typedef struct {
    int (*begin)(store_t *st, store_wtxn_t **out); /* store_wtxn_begin */
    int (*commit)(store_wtxn_t *tx);               /* store_wtxn_commit */
    void (*abort)(store_wtxn_t *tx);               /* store_wtxn_abort */
    int (*touch)(store_wtxn_t *tx);                /* store_touch */
    int (*sync)(store_t *st);                      /* store_sync */
    int (*error)(store_wtxn_t *tx);                /* store_wtxn_error */
} wr_store_ops_t;

/* Starts the writer thread over an open store. Returns 0 or a negative errno.
 *
 * Durability: an operation is answered (on_done with 0) only after a flush that followed
 * its batch's commit. While at least half as many operations as recent batches held are
 * queued behind a batch, the writer commits them at once and answers the batch after that
 * commit, whose flush carried its meta page: one flush per batch. When fewer are queued
 * (or none), it calls store_sync at once and answers the batch, then takes the queue as
 * the next batch: a lone request waits for one commit and one flush, and a few requests
 * behind a batch do not make it wait for a second flush. After a failed commit, the batch
 * before it is answered only after a successful store_sync (or failed with that sync's
 * error).
 *
 * Failures: an operation that fails by itself (apply's error with the transaction still
 * good) is answered with its error and is no store failure. A commit that fails, or an
 * error that breaks the transaction, is reported to health.h (so /healthz answers 503)
 * and the batch's operations are retried one by one. While commits fail, the writer probes the
 * store with a tiny commit once a second. When LMDB reports its fatal state
 * (-ENOTRECOVERABLE), or commits keep failing with I/O errors for the config's
 * store_failure_exit_ms, the writer logs one line and ends the process with
 * WR_EXIT_STORE_FAILED, so a supervisor restarts it: nothing unacknowledged was promised,
 * and a restart reopens the store from its last durable state. A full store (-ENOSPC) never
 * stops the process: it recovers by itself once space is freed. */
int wr_start(store_t *st, wr_t **out);
/* The same over the calls in ops (copied), which get st as it is. For tests. */
int wr_start_with(store_t *st, const wr_store_ops_t *ops, wr_t **out);
/* Sets the hook called on the writer thread after a commit that made an operation with
 * `announces` durable (e.g. dlv_notify). Call before submitting such operations. */
void wr_set_announce(wr_t *w, void (*announce)(void *ctx), void *ctx);
/* Queues op for the next batch. Any thread; never blocks on I/O. */
void wr_submit(wr_t *w, wr_op_t *op);
/* Commits everything submitted so far, stops the thread and frees w. Operations
 * submitted after wr_stop has begun are not allowed. */
void wr_stop(wr_t *w);

#endif
