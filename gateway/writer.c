/* writer.c -- group commit: one thread turns every operation queued while the previous
 * commit was in flight into one fsync'd LMDB transaction. */
#include "gateway/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct wr {
    store_t *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    wr_op_t *head, *tail; /* FIFO of submitted operations */
    bool stopping;
};

/* The batch is the whole queue, taken at once: everything that arrived while the
 * previous commit was being fsync'd. */
static wr_op_t *take_batch(wr_t *w, bool *stop)
{
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stopping)
        pthread_cond_wait(&w->wake, &w->lock);
    wr_op_t *batch = w->head;
    w->head = w->tail = NULL;
    *stop = w->stopping && !batch;
    pthread_mutex_unlock(&w->lock);
    return batch;
}

/* Applies the list of ops in one transaction and commits it. */
static int commit_ops(store_t *st, wr_op_t *ops)
{
    store_wtxn_t *tx;
    int rc = store_wtxn_begin(st, &tx);
    if (rc != 0) return rc;
    for (wr_op_t *op = ops; op; op = op->next) {
        if ((rc = op->apply(op, tx)) != 0) {
            store_wtxn_abort(tx);
            return rc;
        }
    }
    return store_wtxn_commit(tx);
}

static void finish_ops(wr_op_t *ops, int rc)
{
    while (ops) {
        wr_op_t *next = ops->next; /* on_done may free the op */
        ops->on_done(ops, rc);
        ops = next;
    }
}

static void *writer_main(void *arg)
{
    wr_t *w = arg;
    for (;;) {
        bool stop;
        wr_op_t *batch = take_batch(w, &stop);
        if (stop) return NULL;
        int rc = commit_ops(w->st, batch);
        if (rc == 0) {
            finish_ops(batch, 0);
            continue;
        }
        /* The batch broke (usually MDB_MAP_FULL): retry each operation alone, so one
         * event that no longer fits does not fail the outcomes riding with it. */
        fprintf(stderr, "hookgate: store: batch commit failed (%s); retrying one by one\n",
                rc == -ENOSPC ? "store full" : "I/O error");
        for (wr_op_t *op = batch; op;) {
            wr_op_t *next = op->next;
            op->next = NULL;
            finish_ops(op, commit_ops(w->st, op));
            op = next;
        }
    }
}

int wr_start(store_t *st, wr_t **out)
{
    wr_t *w = calloc(1, sizeof(*w));
    if (!w) abort();
    w->st = st;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void wr_submit(wr_t *w, wr_op_t *op)
{
    op->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void wr_stop(wr_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
