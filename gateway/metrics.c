/* metrics.c -- process counters and histograms, rendered as Prometheus text for GET /metrics. */
#include "gateway/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* Upper bounds in seconds. Ingest answers after an fsync'd group commit (sub-ms to tens of
 * ms); a delivery is an HTTP round trip bounded by the subscriber's timeout (10 s default). */
static const double ingest_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double delivery_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,  5,     10,   30,  60};
/* A commit or a flush: a tenth of a millisecond on a fast SSD, tens of ms on a busy disk. */
static const double store_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1};
#define NINGEST (sizeof(ingest_bounds) / sizeof(ingest_bounds[0]))
#define NDELIVERY (sizeof(delivery_bounds) / sizeof(delivery_bounds[0]))
#define NSTORE (sizeof(store_bounds) / sizeof(store_bounds[0]))
#define NBOUNDS_MAX 14
_Static_assert(NINGEST <= NBOUNDS_MAX && NDELIVERY <= NBOUNDS_MAX && NSTORE <= NBOUNDS_MAX,
               "a histogram's bounds");

/* A histogram over one of the bound lists above. */
typedef struct {
    uint64_t buckets[NBOUNDS_MAX + 1]; /* not cumulative; the one after the last bound is +Inf */
    uint64_t count;
    double sum;
} hist_t;

typedef struct {
    char *name;
    uint64_t outcomes[3]; /* by metrics_outcome_t */
    hist_t hist;
} sub_metrics_t;

/* One lock for all of it: a few increments per request or attempt, never held for I/O. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t events, dups, pruned;
    uint64_t committed_ops;
    hist_t ingest, commits, syncs;
    sub_metrics_t *subs;
    size_t nsubs, cap;
} m;

static size_t bucket_of(const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

static void hist_observe(hist_t *h, const double *bounds, size_t n, double seconds)
{
    h->buckets[bucket_of(bounds, n, seconds)]++;
    h->count++;
    h->sum += seconds;
}

/* The entry of name, created when missing. Called with mu held. */
static sub_metrics_t *sub_get(const char *name)
{
    for (size_t i = 0; i < m.nsubs; i++)
        if (strcmp(m.subs[i].name, name) == 0) return &m.subs[i];
    if (m.nsubs == m.cap) {
        m.cap = m.cap ? m.cap * 2 : 16;
        m.subs = xrealloc(m.subs, m.cap * sizeof(*m.subs));
    }
    sub_metrics_t *s = &m.subs[m.nsubs++];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    return s;
}

void metrics_events_received(uint64_t n, uint64_t dups)
{
    pthread_mutex_lock(&mu);
    m.events += n;
    m.dups += dups;
    pthread_mutex_unlock(&mu);
}

void metrics_observe_ingest(double seconds)
{
    if (seconds < 0) seconds = 0;
    pthread_mutex_lock(&mu);
    hist_observe(&m.ingest, ingest_bounds, NINGEST, seconds);
    pthread_mutex_unlock(&mu);
}

void metrics_delivery(const char *subscriber, metrics_outcome_t outcome, double seconds)
{
    pthread_mutex_lock(&mu);
    sub_metrics_t *s = sub_get(subscriber);
    s->outcomes[outcome]++;
    if (seconds >= 0) hist_observe(&s->hist, delivery_bounds, NDELIVERY, seconds);
    pthread_mutex_unlock(&mu);
}

void metrics_pruned(uint64_t n)
{
    pthread_mutex_lock(&mu);
    m.pruned += n;
    pthread_mutex_unlock(&mu);
}

void metrics_store_commit(uint64_t ops, double seconds)
{
    pthread_mutex_lock(&mu);
    m.committed_ops += ops;
    hist_observe(&m.commits, store_bounds, NSTORE, seconds);
    pthread_mutex_unlock(&mu);
}

void metrics_store_sync(double seconds)
{
    pthread_mutex_lock(&mu);
    hist_observe(&m.syncs, store_bounds, NSTORE, seconds);
    pthread_mutex_unlock(&mu);
}

/* A label value with \, " and newline escaped as the text format requires. */
static void put_label(jbuf_t *b, const char *s)
{
    jbuf_put(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '\\')
            jbuf_put(b, "\\\\", 2);
        else if (*s == '"')
            jbuf_put(b, "\\\"", 2);
        else if (*s == '\n')
            jbuf_put(b, "\\n", 2);
        else
            jbuf_put(b, s, 1);
    }
    jbuf_put(b, "\"", 1);
}

static void put_header(jbuf_t *b, const char *name, const char *type, const char *help)
{
    jbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The _bucket/_sum/_count lines of one histogram; sub is NULL for an unlabelled one. */
static void put_hist(jbuf_t *b, const char *name, const char *sub, const double *bounds, size_t n,
                     const hist_t *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += h->buckets[i];
        jbuf_printf(b, "%s_bucket{", name);
        if (sub) {
            jbuf_puts(b, "subscriber=");
            put_label(b, sub);
            jbuf_puts(b, ",");
        }
        if (i < n)
            jbuf_printf(b, "le=\"%g\"} %llu\n", bounds[i], (unsigned long long)cum);
        else
            jbuf_printf(b, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    const char *open = sub ? "{subscriber=" : "";
    jbuf_printf(b, "%s_sum%s", name, open);
    if (sub) {
        put_label(b, sub);
        jbuf_puts(b, "}");
    }
    jbuf_printf(b, " %.9g\n%s_count%s", h->sum, name, open);
    if (sub) {
        put_label(b, sub);
        jbuf_puts(b, "}");
    }
    jbuf_printf(b, " %llu\n", (unsigned long long)h->count);
}

typedef enum { G_PENDING, G_IN_FLIGHT, G_DEAD } gauge_t;

/* One gauge family with a value per subscriber of g. */
static void put_sub_gauge(jbuf_t *b, const metrics_gauges_t *g, const char *name, const char *help,
                          gauge_t which)
{
    put_header(b, name, "gauge", help);
    for (size_t i = 0; i < g->nsubs; i++) {
        const metrics_sub_gauge_t *s = &g->subs[i];
        uint64_t v = which == G_PENDING     ? s->pending
                     : which == G_IN_FLIGHT ? s->in_flight
                                            : s->dead;
        jbuf_printf(b, "%s{subscriber=", name);
        put_label(b, s->name);
        jbuf_printf(b, "} %llu\n", (unsigned long long)v);
    }
}

void metrics_render(jbuf_t *b, const metrics_gauges_t *g)
{
    static const char *const outcome_names[] = {"success", "failure", "dead"};
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < g->nsubs; i++)
        sub_get(g->subs[i].name);

    put_header(b, "hookgate_events_received_total", "counter",
               "Envelopes accepted by POST /events (duplicates included).");
    jbuf_printf(b, "hookgate_events_received_total %llu\n", (unsigned long long)m.events);
    put_header(b, "hookgate_events_duplicate_total", "counter",
               "Accepted envelopes whose id was already stored (nothing new delivered).");
    jbuf_printf(b, "hookgate_events_duplicate_total %llu\n", (unsigned long long)m.dups);
    put_header(b, "hookgate_ingest_duration_seconds", "histogram",
               "Time from the arrival of an ingest request to its response after the commit.");
    put_hist(b, "hookgate_ingest_duration_seconds", NULL, ingest_bounds, NINGEST, &m.ingest);

    put_header(b, "hookgate_deliveries_total", "counter",
               "Delivery outcomes: success (2xx), failure (failed attempt, retried), "
               "dead (dead-lettered).");
    for (size_t i = 0; i < m.nsubs; i++) {
        for (int o = 0; o < 3; o++) {
            jbuf_puts(b, "hookgate_deliveries_total{subscriber=");
            put_label(b, m.subs[i].name);
            jbuf_printf(b, ",outcome=\"%s\"} %llu\n", outcome_names[o],
                        (unsigned long long)m.subs[i].outcomes[o]);
        }
    }
    put_header(b, "hookgate_delivery_duration_seconds", "histogram",
               "Duration of delivery attempts (HTTP round trips).");
    for (size_t i = 0; i < m.nsubs; i++)
        put_hist(b, "hookgate_delivery_duration_seconds", m.subs[i].name, delivery_bounds,
                 NDELIVERY, &m.subs[i].hist);
    put_header(b, "hookgate_retention_pruned_events_total", "counter",
               "Events (with their deliveries and idempotency entries) deleted by retention.");
    jbuf_printf(b, "hookgate_retention_pruned_events_total %llu\n", (unsigned long long)m.pruned);
    put_header(b, "hookgate_store_commit_duration_seconds", "histogram",
               "Store commits (one transaction for a batch of operations), their data flush "
               "included.");
    put_hist(b, "hookgate_store_commit_duration_seconds", NULL, store_bounds, NSTORE, &m.commits);
    put_header(b, "hookgate_store_committed_operations_total", "counter",
               "Operations (ingest requests, delivery outcomes, admin changes, retention steps) "
               "in those commits.");
    jbuf_printf(b, "hookgate_store_committed_operations_total %llu\n",
                (unsigned long long)m.committed_ops);
    put_header(b, "hookgate_store_sync_duration_seconds", "histogram",
               "Flushes of the store that no commit carried (a batch with nothing queued "
               "behind it).");
    put_hist(b, "hookgate_store_sync_duration_seconds", NULL, store_bounds, NSTORE, &m.syncs);
    pthread_mutex_unlock(&mu);

    put_sub_gauge(b, g, "hookgate_pending_deliveries",
                  "Deliveries not yet delivered nor dead-lettered (in-flight ones included).",
                  G_PENDING);
    put_sub_gauge(b, g, "hookgate_in_flight_deliveries", "Deliveries being attempted right now.",
                  G_IN_FLIGHT);
    put_sub_gauge(b, g, "hookgate_dead_letters", "Deliveries in the dead-letter queue.", G_DEAD);
    put_header(b, "hookgate_store_file_bytes", "gauge", "Size of the store's data file.");
    jbuf_printf(b, "hookgate_store_file_bytes %llu\n", (unsigned long long)g->store_file_bytes);
    put_header(b, "hookgate_store_used_bytes", "gauge", "Bytes of the store's map in use.");
    jbuf_printf(b, "hookgate_store_used_bytes %llu\n", (unsigned long long)g->store_used_bytes);
}

/* The gauge table of one scrape; entries are zeroed when added. */
typedef struct {
    metrics_sub_gauge_t *subs;
    bool *owned; /* the name was copied (a subscriber from the store, not from the config) */
    size_t n, cap;
} gauge_table_t;

static void gauge_add(gauge_table_t *t, const char *name, bool copy)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->subs[i].name, name) == 0) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->subs = xrealloc(t->subs, t->cap * sizeof(*t->subs));
        t->owned = xrealloc(t->owned, t->cap * sizeof(*t->owned));
    }
    metrics_sub_gauge_t *g = &t->subs[t->n];
    memset(g, 0, sizeof(*g));
    g->name = copy ? xstrdup(name) : name;
    t->owned[t->n++] = copy;
}

static void on_pending_subscriber(void *arg, const char *name)
{
    gauge_add(arg, name, true);
}

int metrics_scrape(jbuf_t *b, const cfg_t *cfg, const metrics_source_t *src, char *err,
                   size_t errlen)
{
    gauge_table_t t = {0};
    for (size_t i = 0; i < cfg->nsubscribers; i++)
        gauge_add(&t, cfg->subscribers[i].name, false);
    metrics_gauges_t g = {0};
    int rc = src->pending_subscribers(src->ctx, on_pending_subscriber, &t);
    if (rc != 0)
        snprintf(err, errlen, "listing the subscribers with pending deliveries failed: %s",
                 strerror(-rc));
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        metrics_sub_gauge_t *s = &t.subs[i];
        s->in_flight = src->in_flight(src->ctx, s->name);
        rc = src->counters(src->ctx, s->name, &s->pending, &s->dead);
        if (rc != 0)
            snprintf(err, errlen, "reading the counters of subscriber %s failed: %s", s->name,
                     strerror(-rc));
    }
    if (rc == 0) {
        rc = src->usage(src->ctx, &g.store_file_bytes, &g.store_used_bytes);
        if (rc != 0) snprintf(err, errlen, "reading the store's size failed: %s", strerror(-rc));
    }
    if (rc == 0) {
        g.subs = t.subs;
        g.nsubs = t.n;
        metrics_render(b, &g);
    }
    for (size_t i = 0; i < t.n; i++)
        if (t.owned[i]) free((char *)t.subs[i].name);
    free(t.subs);
    free(t.owned);
    return rc;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < m.nsubs; i++)
        free(m.subs[i].name);
    free(m.subs);
    memset(&m, 0, sizeof(m));
    pthread_mutex_unlock(&mu);
}
