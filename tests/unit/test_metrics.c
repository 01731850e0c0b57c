/* test_metrics.c -- the Prometheus exposition: label escaping, histogram buckets, series. */
#include "gateway/metrics.h"

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

int main(void)
{
    test_empty();
    test_label_escaping();
    test_histograms();
    test_counters_and_series();
    metrics_reset();
    return check_done();
}
