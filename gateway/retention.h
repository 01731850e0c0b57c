/* retention.h -- the background job that prunes delivered events (and with them their
 * idempotency entries) once they are older than retention_hours. */
#ifndef HOOKGATE_RETENTION_H
#define HOOKGATE_RETENTION_H

#include "gateway/writer.h"
#include "store/store.h"

typedef struct ret ret_t;

/* Starts the job's thread. Every pass goes through the writer in small transactions, so
 * ingest never waits behind it for more than one of them. retention_hours is read from
 * the config in force (rt_config_hold) at every pass. Returns 0 or a negative errno.
 * Start after wr_start. */
int retention_start(store_t *st, wr_t *w, ret_t **out);
/* Asks for a pass over every stored event at the next tick, e.g. after dead letters were
 * deleted (their events may have become prunable). Any thread; r may be NULL (no-op). */
void retention_rescan(ret_t *r);
/* Stops the thread after the transaction it may be waiting for, then frees r. Call before
 * wr_stop. */
void retention_stop(ret_t *r);

#endif
