/* retention.c -- the background job that prunes delivered events older than retention_hours.
 *
 * Once a second the job continues its scan of the events in ingest order from where the
 * previous one stopped, up to the cutoff; events still waiting for a delivery (pending or
 * dead-lettered) are skipped and stay. Skipped events can become prunable later, so every
 * RESCAN_MS (or when asked, e.g. after dead letters were deleted) the scan starts over from
 * the oldest event. Events younger than SETTLE_MS are left for a later tick even with
 * retention_hours 0, so that the scan usually meets them already delivered instead of
 * skipping them until the next rescan. Each step examines at most CHUNK events in one
 * transaction of the writer, riding in its group commits like any other operation. */
#include "gateway/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/logrl.h"
#include "gateway/metrics.h"
#include "gateway/runtime.h"

#define TICK_MS 1000
#define SETTLE_MS 1000
#define RESCAN_MS 60000
#define CHUNK 256

struct ret {
    store_t *st;
    wr_t *w;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* stop, rescan and op completion */
    bool stopping, rescan;

    /* The one operation in the writer at a time: inputs, then outputs. */
    wr_op_t op;
    int64_t cutoff_ms;
    uint64_t cursor_in;
    uint64_t cursor_out;
    size_t pruned;
    bool more;
    store_prune_corrupt_t corrupt;
    logrl_t corrupt_log; /* retention thread */
    bool op_done;        /* under mu */
    int rc;
};

static int on_apply(wr_op_t *op, store_wtxn_t *tx)
{
    struct ret *r = (struct ret *)((char *)op - offsetof(struct ret, op));
    r->cursor_out = r->cursor_in; /* apply may run twice: start from the input again */
    return store_prune(tx, r->cutoff_ms, CHUNK, &r->cursor_out, &r->pruned, &r->more, &r->corrupt);
}

static void on_done(wr_op_t *op, int rc)
{
    struct ret *r = (struct ret *)((char *)op - offsetof(struct ret, op));
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->op_done = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

/* One step through the writer; waits for it whatever happens, since the writer owns the op
 * until on_done. */
static int prune_step(struct ret *r, int64_t cutoff_ms, uint64_t *cursor, bool *more)
{
    r->cutoff_ms = cutoff_ms;
    r->cursor_in = *cursor;
    r->op_done = false;
    wr_submit(r->w, &r->op);
    pthread_mutex_lock(&r->mu);
    while (!r->op_done)
        pthread_cond_wait(&r->cond, &r->mu);
    int rc = r->rc;
    pthread_mutex_unlock(&r->mu);
    if (rc != 0) return rc;
    *cursor = r->cursor_out;
    *more = r->more;
    if (r->pruned) metrics_pruned(r->pruned);
    if (r->corrupt.n)
        logrl_line(&r->corrupt_log, LOG_ERROR, rt_mono_ms(),
                   "retention: kept %zu event(s) with a record that cannot be decoded (the "
                   "last: event sequence number %llu, delivery %llu; 0 is its event record)",
                   r->corrupt.n, (unsigned long long)r->corrupt.seq,
                   (unsigned long long)r->corrupt.delivery_id);
    return 0;
}

static bool stopping(struct ret *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* Scans from *cursor to the cutoff. Returns 0 or the store error that ended the pass. */
static int pass(struct ret *r, uint64_t *cursor)
{
    int64_t now = rt_now_ms();
    const cfg_t *cfg = rt_config_hold();
    int64_t cutoff = now - (int64_t)cfg->retention_hours * 3600000;
    rt_config_release(cfg);
    if (cutoff > now - SETTLE_MS) cutoff = now - SETTLE_MS;
    bool more = true;
    while (more && !stopping(r)) {
        int rc = prune_step(r, cutoff, cursor, &more);
        if (rc != 0) return rc;
    }
    return 0;
}

/* Waits until the next tick or until stop; returns false on stop and sets *full when a
 * rescan was asked for. */
static bool wait_tick(struct ret *r, bool *full)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += TICK_MS / 1000;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping && pthread_cond_timedwait(&r->cond, &r->mu, &until) != ETIMEDOUT)
        ;
    bool go = !r->stopping;
    *full = r->rescan;
    r->rescan = false;
    pthread_mutex_unlock(&r->mu);
    return go;
}

static void *retention_main(void *arg)
{
    struct ret *r = arg;
    pthread_setname_np(pthread_self(), "hookgate-ret");
    uint64_t cursor = 0;
    int64_t last_full = rt_mono_ms();
    bool err_logged = false, asked;
    while (wait_tick(r, &asked)) {
        int64_t mono = rt_mono_ms();
        if (asked || mono - last_full >= RESCAN_MS) {
            cursor = 0;
            last_full = mono;
        }
        int rc = pass(r, &cursor);
        if (rc != 0 && !err_logged)
            log_line(LOG_ERROR,
                     "retention: pruning failed (%s); retrying every second "
                     "(logged once until it succeeds)",
                     strerror(-rc));
        err_logged = rc != 0;
    }
    return NULL;
}

int retention_start(store_t *st, wr_t *w, ret_t **out)
{
    struct ret *r = xcalloc(1, sizeof(*r));
    r->st = st;
    r->w = w;
    r->op.apply = on_apply;
    r->op.on_done = on_done;
    r->op.relaxed = true; /* a prune undone by a crash is simply redone */
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&r->thread, NULL, retention_main, r);
    if (rc != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

void retention_rescan(ret_t *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->rescan = true;
    pthread_mutex_unlock(&r->mu);
}

void retention_stop(ret_t *r)
{
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
