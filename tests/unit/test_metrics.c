/* test_metrics.c -- the Prometheus exposition: label escaping, histogram buckets, series. */
#include "gateway/metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static char *render(const metrics_gauges_t *g)
{
    jbuf_t b = {0};
    metrics_render(&b, g);
    jbuf_put(&b, "", 1);
    return b.p;
}

/* True when text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return true;
    return false;
}

static void test_empty(void)
{
    metrics_reset();
    metrics_gauges_t g = {0};
    char *t = render(&g);
    CHECK(has_line(t, "# TYPE hookgate_events_received_total counter"));
    CHECK(has_line(t, "hookgate_events_received_total 0"));
    CHECK(has_line(t, "# TYPE hookgate_ingest_duration_seconds histogram"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"+Inf\"} 0"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_count 0"));
    CHECK(has_line(t, "# TYPE hookgate_deliveries_total counter"));
    CHECK(strstr(t, "hookgate_deliveries_total{") == NULL);
    CHECK(has_line(t, "# TYPE hookgate_delivery_duration_seconds histogram"));
    free(t);
}

static void test_label_escaping(void)
{
    metrics_reset();
    metrics_delivery("a\"b\\c\nd", METRICS_DEAD, -1);
    metrics_sub_gauge_t subs[] = {{.name = "x\\\"", .pending = 3, .dead = 2, .in_flight = 1}};
    metrics_gauges_t g = {.subs = subs, .nsubs = 1};
    char *t = render(&g);
    CHECK(has_line(t,
                   "hookgate_deliveries_total{subscriber=\"a\\\"b\\\\c\\nd\",outcome=\"dead\"} 1"));
    CHECK(has_line(t, "hookgate_pending_deliveries{subscriber=\"x\\\\\\\"\"} 3"));
    CHECK(has_line(t, "hookgate_dead_letters{subscriber=\"x\\\\\\\"\"} 2"));
    CHECK(has_line(t, "hookgate_in_flight_deliveries{subscriber=\"x\\\\\\\"\"} 1"));
    /* every sample line of the exposition is one line: no raw newline leaked from a label */
    CHECK(strstr(t, "c\nd") == NULL);
    free(t);
}

static void test_histograms(void)
{
    metrics_reset();
    metrics_observe_ingest(0.001); /* exactly on a bound: le is inclusive */
    metrics_observe_ingest(0.0011);
    metrics_observe_ingest(100); /* beyond the last bound */
    metrics_observe_ingest(-1);  /* clock step: counted as 0 */
    char *t = render(&(metrics_gauges_t){0});
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"0.0005\"} 1"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"0.001\"} 2"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"0.0025\"} 3"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"10\"} 3"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_bucket{le=\"+Inf\"} 4"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_count 4"));
    CHECK(has_line(t, "hookgate_ingest_duration_seconds_sum 100.0021"));
    free(t);

    metrics_delivery("crm", METRICS_SUCCESS, 0.02);
    metrics_delivery("crm", METRICS_FAILURE, 7);
    metrics_delivery("crm", METRICS_DEAD, -1); /* buried without an attempt: no observation */
    t = render(&(metrics_gauges_t){0});
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"crm\",outcome=\"success\"} 1"));
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"crm\",outcome=\"failure\"} 1"));
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"crm\",outcome=\"dead\"} 1"));
    CHECK(
        has_line(t, "hookgate_delivery_duration_seconds_bucket{subscriber=\"crm\",le=\"0.01\"} 0"));
    CHECK(has_line(t,
                   "hookgate_delivery_duration_seconds_bucket{subscriber=\"crm\",le=\"0.025\"} 1"));
    CHECK(has_line(t, "hookgate_delivery_duration_seconds_bucket{subscriber=\"crm\",le=\"5\"} 1"));
    CHECK(has_line(t, "hookgate_delivery_duration_seconds_bucket{subscriber=\"crm\",le=\"10\"} 2"));
    CHECK(
        has_line(t, "hookgate_delivery_duration_seconds_bucket{subscriber=\"crm\",le=\"+Inf\"} 2"));
    CHECK(has_line(t, "hookgate_delivery_duration_seconds_count{subscriber=\"crm\"} 2"));
    CHECK(has_line(t, "hookgate_delivery_duration_seconds_sum{subscriber=\"crm\"} 7.02"));
    free(t);

    metrics_store_commit(25, 0.0004);
    metrics_store_commit(0, 0.003);
    metrics_store_sync(0.0001); /* on a bound */
    t = render(&(metrics_gauges_t){0});
    CHECK(has_line(t, "# TYPE hookgate_store_commit_duration_seconds histogram"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_bucket{le=\"0.00025\"} 0"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_bucket{le=\"0.0005\"} 1"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_bucket{le=\"0.0025\"} 1"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_bucket{le=\"0.005\"} 2"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_bucket{le=\"+Inf\"} 2"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_count 2"));
    CHECK(has_line(t, "hookgate_store_commit_duration_seconds_sum 0.0034"));
    CHECK(has_line(t, "# TYPE hookgate_store_committed_operations_total counter"));
    CHECK(has_line(t, "hookgate_store_committed_operations_total 25"));
    CHECK(has_line(t, "hookgate_store_sync_duration_seconds_bucket{le=\"0.0001\"} 1"));
    CHECK(has_line(t, "hookgate_store_sync_duration_seconds_count 1"));
    free(t);
}

static void test_counters_and_series(void)
{
    metrics_reset();
    metrics_events_received(5, 2);
    metrics_events_received(1, 0);
    metrics_pruned(7);
    /* a configured subscriber without outcomes yet still gets all three series */
    metrics_sub_gauge_t subs[] = {{.name = "fresh"}};
    char *t = render(&(metrics_gauges_t){.subs = subs, .nsubs = 1, .store_used_bytes = 4096});
    CHECK(has_line(t, "hookgate_events_received_total 6"));
    CHECK(has_line(t, "hookgate_events_duplicate_total 2"));
    CHECK(has_line(t, "hookgate_retention_pruned_events_total 7"));
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"fresh\",outcome=\"success\"} 0"));
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"fresh\",outcome=\"failure\"} 0"));
    CHECK(has_line(t, "hookgate_deliveries_total{subscriber=\"fresh\",outcome=\"dead\"} 0"));
    CHECK(has_line(t, "hookgate_delivery_duration_seconds_count{subscriber=\"fresh\"} 0"));
    CHECK(has_line(t, "hookgate_pending_deliveries{subscriber=\"fresh\"} 0"));
    CHECK(has_line(t, "hookgate_store_used_bytes 4096"));
    /* every family is declared once */
    CHECK(strstr(strstr(t, "# TYPE hookgate_deliveries_total") + 1,
                 "# TYPE hookgate_deliveries_total") == NULL);
    free(t);
    metrics_reset();
    t = render(&(metrics_gauges_t){0});
    CHECK(has_line(t, "hookgate_events_received_total 0"));
    free(t);
}

/* A fake store for metrics_scrape: subscriber i has pending 10 + i and dead 20 + i; a read
 * fails with -EIO where asked to. */
typedef struct {
    const char *const *pending_names; /* what the listing reports */
    size_t npending;
    bool fail_listing, fail_usage;
    const char *fail_counters_of; /* NULL: none fails */
    size_t counter_reads;
} fake_t;

static int fake_pending(void *ctx, void (*fn)(void *arg, const char *name), void *arg)
{
    fake_t *f = ctx;
    if (f->fail_listing) return -EIO;
    for (size_t i = 0; i < f->npending; i++)
        fn(arg, f->pending_names[i]);
    return 0;
}

static int fake_counters(void *ctx, const char *subscriber, uint64_t *pending, uint64_t *dead)
{
    fake_t *f = ctx;
    f->counter_reads++;
    if (f->fail_counters_of && strcmp(subscriber, f->fail_counters_of) == 0) return -EIO;
    *pending = 10 + strlen(subscriber);
    *dead = 20 + strlen(subscriber);
    return 0;
}

static size_t fake_in_flight(void *ctx, const char *subscriber)
{
    (void)ctx;
    return strlen(subscriber) % 2;
}

static int fake_usage(void *ctx, uint64_t *file_bytes, uint64_t *used_bytes)
{
    fake_t *f = ctx;
    if (f->fail_usage) return -EIO;
    *file_bytes = 8192;
    *used_bytes = 4096;
    return 0;
}

/* Runs metrics_scrape on f over a config with subscribers "a" and "bb"; returns its result
 * and the text (NUL-terminated, possibly empty) in *text. */
static int scrape(fake_t *f, char **text, char *err, size_t errlen)
{
    cfg_subscriber_t subs[] = {{.name = "a"}, {.name = "bb"}};
    cfg_t cfg = {.subscribers = subs, .nsubscribers = 2};
    metrics_source_t src = {.ctx = f,
                            .pending_subscribers = fake_pending,
                            .counters = fake_counters,
                            .in_flight = fake_in_flight,
                            .usage = fake_usage};
    jbuf_t b = {0};
    err[0] = '\0';
    int rc = metrics_scrape(&b, &cfg, &src, err, errlen);
    jbuf_put(&b, "", 1);
    *text = b.p;
    return rc;
}

static void test_scrape(void)
{
    metrics_reset();
    static const char *const removed[] = {"bb", "gone"}; /* bb is configured too */
    fake_t f = {.pending_names = removed, .npending = 2};
    char err[200], *t;
    CHECK(scrape(&f, &t, err, sizeof(err)) == 0);
    CHECK(has_line(t, "hookgate_pending_deliveries{subscriber=\"a\"} 11"));
    CHECK(has_line(t, "hookgate_dead_letters{subscriber=\"bb\"} 22"));
    CHECK(has_line(t, "hookgate_in_flight_deliveries{subscriber=\"a\"} 1"));
    /* a subscriber known only to the store is shown, once, after the configured ones */
    CHECK(has_line(t, "hookgate_dead_letters{subscriber=\"gone\"} 24"));
    CHECK(strstr(t, "hookgate_pending_deliveries{subscriber=\"bb\"}") ==
          strstr(t, "hookgate_pending_deliveries{subscriber=\"bb\"} 12"));
    CHECK(strstr(strstr(t, "pending_deliveries{subscriber=\"bb\"}") + 1,
                 "pending_deliveries{subscriber=\"bb\"}") == NULL);
    CHECK(strstr(t, "pending_deliveries{subscriber=\"bb\"}") <
          strstr(t, "pending_deliveries{subscriber=\"gone\"}"));
    CHECK(has_line(t, "hookgate_store_file_bytes 8192"));
    CHECK(f.counter_reads == 3);
    free(t);
}

/* Defect 4: a failed counters read showed whatever the gauge table held
 * (hookgate_dead_letters{...} 93885989456656). Now any failed read fails the scrape. */
static void test_scrape_failures(void)
{
    static const char *const removed[] = {"gone"};
    char err[200], *t;
    fake_t f = {.pending_names = removed, .npending = 1, .fail_counters_of = "gone"};
    CHECK(scrape(&f, &t, err, sizeof(err)) == -EIO);
    CHECK(t[0] == '\0');
    CHECK_STR(err, "reading the counters of subscriber gone failed: Input/output error");
    free(t);
    f = (fake_t){.fail_counters_of = "a"};
    CHECK(scrape(&f, &t, err, sizeof(err)) == -EIO && t[0] == '\0');
    CHECK(f.counter_reads == 1); /* stops at the first failure */
    free(t);
    f = (fake_t){.fail_listing = true};
    CHECK(scrape(&f, &t, err, sizeof(err)) == -EIO && t[0] == '\0');
    CHECK(strstr(err, "pending deliveries failed") != NULL);
    free(t);
    f = (fake_t){.fail_usage = true};
    CHECK(scrape(&f, &t, err, sizeof(err)) == -EIO && t[0] == '\0');
    CHECK(strstr(err, "store's size failed") != NULL);
    free(t);
    /* and the next good scrape is whole again */
    f = (fake_t){0};
    CHECK(scrape(&f, &t, err, sizeof(err)) == 0 &&
          has_line(t, "hookgate_dead_letters{subscriber=\"a\"} 21"));
    free(t);
}

int main(void)
{
    test_empty();
    test_label_escaping();
    test_histograms();
    test_counters_and_series();
    test_scrape();
    test_scrape_failures();
    metrics_reset();
    return check_done();
}
