/* delivery.h -- the delivery worker: one thread driving libcurl's multi interface that
 * claims due deliveries from the store, POSTs them to subscribers and records each
 * outcome through the writer. The only module that touches libcurl. */
#ifndef HOOKGATE_DELIVERY_H
#define HOOKGATE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/circuit.h"
#include "gateway/writer.h"
#include "store/store.h"

typedef struct dlv dlv_t;

/* Starts the worker thread over st and w (both borrowed; they must outlive dlv_stop). It
 * takes the config in force and notices a reload at its next loop iteration (at least
 * once a second), so a SIGHUP applies to the next attempts; it reports its liveness to
 * health.h. Returns 0 with *out owned by the caller until dlv_stop, or a negative errno.
 * Main thread, once. */
int dlv_start(store_t *st, wr_t *w, dlv_t **out);
/* Wakes the worker because new deliveries were committed or the config changed. Any
 * thread; cheap when a wakeup is already pending. */
void dlv_notify(dlv_t *d);
/* Deliveries of subscriber currently being attempted (or awaiting their outcome's
 * commit); 0 for an unknown subscriber. Any thread. */
size_t dlv_in_flight(dlv_t *d, const char *subscriber);
/* A subscriber's circuit as the worker last left it (gateway/circuit.h): closed for an
 * unknown subscriber or one without a breaker; open_until_ms is the wall time at which
 * an open circuit lets its half-open attempt go, 0 unless open. now_ms: the wall clock.
 * Any thread. */
typedef struct {
    circuit_state_t state;
    int64_t open_until_ms;
} dlv_circuit_t;
void dlv_circuit(dlv_t *d, const char *subscriber, int64_t now_ms, dlv_circuit_t *out);
/* True while delivery id is being attempted (or its outcome awaits its commit). Any thread. */
bool dlv_is_in_flight(dlv_t *d, uint64_t id);
/* Stops claiming, lets in-flight attempts finish for up to grace_ms, abandons the rest (they
 * stay PENDING in the store and are retried at the next start), waits until the recorded
 * outcomes are committed (or failed), then joins and frees d. Call before wr_stop, from the
 * thread that called dlv_start. */
void dlv_stop(dlv_t *d, uint32_t grace_ms);

#endif
