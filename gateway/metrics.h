/* metrics.h -- process counters and histograms, rendered as Prometheus text for GET /metrics.
 *
 * The hooks are cheap and thread-safe: ingest calls them on the loop thread, the delivery
 * worker on its own thread, retention on its thread. Values live in memory and start at
 * zero with the process (Prometheus handles counter resets); the durable per-subscriber
 * figures (pending, dead letters) come from the store at scrape time as gauges. */
#ifndef HOOKGATE_METRICS_H
#define HOOKGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "gateway/jbuf.h"

/* What became of one delivery attempt (or of a delivery buried without an attempt). */
typedef enum {
    METRICS_SUCCESS, /* a 2xx: the delivery is done */
    METRICS_FAILURE, /* a failed attempt that will be retried */
    METRICS_DEAD,    /* the delivery went to the dead-letter queue */
} metrics_outcome_t;

/* n envelopes accepted by POST /events, dups of them duplicates (already stored). Any thread. */
void metrics_events_received(uint64_t n, uint64_t dups);
/* One ingest request answered after the store round trip, seconds since it arrived. Any thread. */
void metrics_observe_ingest(double seconds);
/* One outcome for subscriber (copied on first use). seconds is the attempt's duration, or
 * negative when no attempt was made (e.g. its subscriber was removed): then only the
 * counter moves. Any thread. */
void metrics_delivery(const char *subscriber, metrics_outcome_t outcome, double seconds);
/* n events deleted by retention. Any thread. */
void metrics_pruned(uint64_t n);
/* One successful store commit of ops writer operations, taking seconds (its data flush
 * included; measured on the monotonic clock). The writer thread. */
void metrics_store_commit(uint64_t ops, double seconds);
/* One explicit flush of the store (store_sync), taking seconds. The writer thread. */
void metrics_store_sync(double seconds);

/* Gauges read from the store at scrape time, one per subscriber. */
typedef struct {
    const char *name;
    uint64_t pending; /* undelivered, outside the dead-letter queue (in-flight included) */
    uint64_t in_flight;
    uint64_t dead;
} metrics_sub_gauge_t;

typedef struct {
    const metrics_sub_gauge_t *subs;
    size_t nsubs;
    uint64_t store_file_bytes, store_used_bytes;
} metrics_gauges_t;

/* Appends the whole exposition (text format 0.0.4) to b: the counters and histograms above
 * plus the gauges in g. Every subscriber named in g gets its deliveries_total series even
 * before its first outcome. Any thread. */
void metrics_render(jbuf_t *b, const metrics_gauges_t *g);

/* Where metrics_scrape reads the gauges: the store and the delivery worker in the gateway,
 * fakes in the unit tests. The int functions return 0 or a negative errno. */
typedef struct {
    void *ctx;
    /* Calls fn(arg, name) for each subscriber with pending deliveries, configured or not. */
    int (*pending_subscribers)(void *ctx, void (*fn)(void *arg, const char *name), void *arg);
    /* The durable pending and dead counts of one subscriber. */
    int (*counters)(void *ctx, const char *subscriber, uint64_t *pending, uint64_t *dead);
    /* Deliveries of one subscriber being attempted right now. */
    size_t (*in_flight)(void *ctx, const char *subscriber);
    /* Size of the store's data file and of the part of its map in use. */
    int (*usage)(void *ctx, uint64_t *file_bytes, uint64_t *used_bytes);
} metrics_source_t;

/* One scrape: the gauges of cfg's subscribers (in config order) and of every other
 * subscriber with pending deliveries (removed by a reload, not yet buried), read from src,
 * then metrics_render into b. When a read fails nothing is appended to b (a scrape never
 * shows a made-up value) and its negative errno is returned with err saying what failed.
 * cfg is borrowed for the call. Any thread. */
int metrics_scrape(jbuf_t *b, const cfg_t *cfg, const metrics_source_t *src, char *err,
                   size_t errlen);

/* Content-Type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Frees the per-subscriber table and zeroes everything; at exit, after every thread that
 * calls the hooks has stopped (and between unit tests). */
void metrics_reset(void);

#endif
