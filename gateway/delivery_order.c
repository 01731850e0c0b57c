/* delivery_order.c -- the delivery worker's order index jobs: each keeps one subscriber's
 * order index in step with its `ordered` setting, one bounded writer transaction at a time
 * (store_order_step). */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "gateway/delivery_internal.h"

#define ORDER_STEP_MAX 512 /* order entries one index job step writes, per transaction */

/* apply and on_done run on the writer thread */
static int on_order_apply(wr_op_t *op, store_wtxn_t *tx)
{
    order_job_t *j = container_of(op, order_job_t, op);
    j->cur_out = j->cur; /* apply may run twice: start from the input again */
    j->apply_rc = store_order_step(tx, j->name, j->on, &j->cur_out, ORDER_STEP_MAX, &j->more);
    return j->apply_rc;
}

static void on_order_done(wr_op_t *op, int rc)
{
    order_job_t *j = container_of(op, order_job_t, op);
    struct dlv *d = j->d;
    pthread_mutex_lock(&d->mu); /* as delivery.c's on_done: the eventfd outlives this */
    j->done_rc = rc;
    j->done = true;
    dlv__wake(d);
    pthread_mutex_unlock(&d->mu);
}

/* Takes the answer of the job's last step: submits the next, or ends the job. */
void dlv__order_job_poll(struct dlv *d, int64_t mono)
{
    order_job_t *j = &d->job;
    if (!j->running) return;
    pthread_mutex_lock(&d->mu);
    bool done = j->done;
    int rc = j->done_rc;
    pthread_mutex_unlock(&d->mu);
    if (!done) return;
    j->running = false;
    j->done = false;
    if (rc == 0 && j->more && !atomic_load(&d->stopping)) {
        j->cur = j->cur_out;
        j->running = true;
        wr_submit(d->w, &j->op);
        return;
    }
    /* Steps left while stopping: the next start takes the job up from the store's state. */
    if (rc < 0) {
        logrl_line(&d->rl_order, LOG_WARN, mono,
                   "delivery: subscriber %s: cannot %s its order index (%s); trying again", j->name,
                   j->on ? "build" : "drop", strerror(-rc));
        d->reconcile_after = mono + POLL_MAX_MS;
    } else if (!j->more) {
        dlv__log(LOG_INFO, "subscriber %s: order index %s", j->name, j->on ? "built" : "dropped");
        dlv__sub_get(d, j->name)->next_due_ms = INT64_MIN; /* ordered claims may start */
    }
    free(j->name);
    j->name = NULL;
    d->reconcile = true; /* another subscriber may need one */
}

/* Starts a job for the first configured subscriber whose order index does not match its
 * `ordered` setting: built for an ordered one (until then it claims nothing), dropped for
 * the others, so that their deliveries cost no order entries. */
void dlv__order_reconcile(struct dlv *d, int64_t mono)
{
    if (!d->reconcile || d->job.running || mono < d->reconcile_after) return;
    d->reconcile = false;
    for (size_t i = 0; i < d->cfg->nsubscribers; i++) {
        const cfg_subscriber_t *cs = &d->cfg->subscribers[i];
        store_order_state_t state;
        int rc = store_order_state(d->st, cs->name, &state);
        if (rc < 0) {
            logrl_line(&d->rl_order, LOG_WARN, mono,
                       "delivery: subscriber %s: cannot read its order index state: %s", cs->name,
                       strerror(-rc));
            d->reconcile = true; /* this one again later; the others now */
            d->reconcile_after = mono + POLL_MAX_MS;
            continue;
        }
        if (cs->ordered ? state == STORE_ORDER_COMPLETE : state == STORE_ORDER_NONE) continue;
        order_job_t *j = &d->job;
        j->name = xstrdup(cs->name);
        j->on = cs->ordered;
        memset(&j->cur, 0, sizeof(j->cur));
        j->running = true;
        wr_submit(d->w, &j->op);
        return;
    }
}

void dlv__order_job_init(struct dlv *d)
{
    d->job.d = d;
    d->job.op.apply = on_order_apply;
    d->job.op.on_done = on_order_done;
    d->job.op.relaxed = true; /* a step lost to a crash is redone from the store's state */
}
