/* delivery.h -- the delivery worker: one thread driving libcurl's multi interface that
 * claims due deliveries from the store, POSTs them to subscribers and records each
 * outcome through the writer. The only module that touches libcurl. */
#ifndef HOOKGATE_DELIVERY_H
#define HOOKGATE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/writer.h"
#include "store/store.h"

typedef struct dlv dlv_t;

/* Starts the worker thread. Subscribers and retry policies are read from rt_config() at
 * each claim, so a SIGHUP reload applies to the next attempts. Returns 0 or a negative errno. */
int dlv_start(store_t *st, wr_t *w, dlv_t **out);
/* Wakes the worker because new deliveries were committed or the config changed. Any thread. */
void dlv_notify(dlv_t *d);
/* Deliveries of subscriber currently being attempted (or awaiting their outcome's commit). */
size_t dlv_in_flight(dlv_t *d, const char *subscriber);
/* True while delivery id is being attempted (or its outcome awaits its commit). Any thread. */
bool dlv_is_in_flight(dlv_t *d, uint64_t id);
/* Stops claiming, lets in-flight attempts finish for up to grace_ms, abandons the rest (they
 * stay PENDING in the store and are retried at the next start), waits until the recorded
 * outcomes are submitted to the writer, then joins and frees d. Call before wr_stop. */
void dlv_stop(dlv_t *d, uint32_t grace_ms);

#endif
