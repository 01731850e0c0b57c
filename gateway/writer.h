/* writer.h -- the group-commit writer: one thread that applies every queued store
 * operation (ingest, delivery outcomes, admin changes) in one fsync'd transaction. */
#ifndef HOOKGATE_WRITER_H
#define HOOKGATE_WRITER_H

#include <stdbool.h>

#include "store/store.h"

typedef struct wr_op wr_op_t;

/* An operation queued for the next batch. The submitter owns the memory and must keep
 * it alive until on_done has been called. */
struct wr_op {
    /* Applies the operation inside the batch transaction (writer thread). Returns 0
     * when the transaction is still good, whatever the operation's own outcome (which it
     * records in its own struct, e.g. -ENOENT for an ack of a deleted delivery), or the
     * store error that broke the transaction (-ENOSPC, -EIO). May run more than once: after
     * a broken batch every operation is retried alone, so apply must depend only on its
     * inputs and overwrite its outputs. */
    int (*apply)(wr_op_t *op, store_wtxn_t *tx);
    /* Called on the writer thread once the batch is durable (rc 0) or when the operation
     * failed alone (rc < 0, nothing of it written). Must be quick: hand off and return. */
    void (*on_done)(wr_op_t *op, int rc);
    /* True when losing the operation to a machine crash only repeats work (delivery
     * outcomes, retention): a batch of only such operations is committed with
     * store_wtxn_commit_relaxed, one device flush instead of two. */
    bool relaxed;
    wr_op_t *next; /* the writer's queue link */
};

typedef struct wr wr_t;

/* Starts the writer thread over an open store. Returns 0 or a negative errno. */
int wr_start(store_t *st, wr_t **out);
/* Queues op for the next batch. Any thread; never blocks on I/O. */
void wr_submit(wr_t *w, wr_op_t *op);
/* Commits everything submitted so far, stops the thread and frees w. Operations
 * submitted after wr_stop has begun are not allowed. */
void wr_stop(wr_t *w);

#endif
