/* scrape.c -- GET /metrics: metrics_scrape over the store and the delivery worker. */
#include "gateway/scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "gateway/http.h"
#include "gateway/metrics.h"
#include "gateway/runtime.h"

/* What the gauges are read from; the readers' ctx. */
static http_deps_t scr;

static int read_pending_subscribers(void *ctx, void (*fn)(void *arg, const char *name), void *arg)
{
    return store_pending_subscribers(((http_deps_t *)ctx)->st, fn, arg);
}

static int read_counters(void *ctx, const char *subscriber, uint64_t *pending, uint64_t *dead)
{
    store_counters_t c;
    int rc = store_get_counters(((http_deps_t *)ctx)->st, subscriber, &c);
    if (rc != 0) return rc;
    *pending = c.pending;
    *dead = c.dead;
    store_counters_clear(&c);
    return 0;
}

static size_t read_in_flight(void *ctx, const char *subscriber)
{
    return dlv_in_flight(((http_deps_t *)ctx)->d, subscriber);
}

static int read_usage(void *ctx, uint64_t *file_bytes, uint64_t *used_bytes)
{
    return store_usage(((http_deps_t *)ctx)->st, file_bytes, used_bytes);
}

/* The subscriber health gauges of every configured subscriber: paused (from the store) and
 * circuit open (from the worker; half-open counts as open: the subscriber is not trusted
 * yet). Returns 0 or the store's error. */
static int put_health(jbuf_t *b, const cfg_t *cfg)
{
    bool *paused = xcalloc(cfg->nsubscribers ? cfg->nsubscribers : 1, sizeof(*paused));
    for (size_t i = 0; i < cfg->nsubscribers; i++) {
        int rc = store_is_paused(scr.st, cfg->subscribers[i].name, &paused[i]);
        if (rc != 0) {
            free(paused);
            return rc;
        }
    }
    jbuf_puts(b, "# HELP hookgate_subscriber_paused 1 while the subscriber is paused\n"
                 "# TYPE hookgate_subscriber_paused gauge\n");
    for (size_t i = 0; i < cfg->nsubscribers; i++)
        jbuf_printf(b, "hookgate_subscriber_paused{subscriber=\"%s\"} %d\n",
                    cfg->subscribers[i].name, paused[i] ? 1 : 0);
    free(paused);
    jbuf_puts(b, "# HELP hookgate_subscriber_circuit_open 1 while the subscriber's circuit "
                 "breaker is open or half-open\n"
                 "# TYPE hookgate_subscriber_circuit_open gauge\n");
    int64_t now = rt_now_ms();
    for (size_t i = 0; i < cfg->nsubscribers; i++) {
        dlv_circuit_t c;
        dlv_circuit(scr.d, cfg->subscribers[i].name, now, &c);
        jbuf_printf(b, "hookgate_subscriber_circuit_open{subscriber=\"%s\"} %d\n",
                    cfg->subscribers[i].name, c.state == CIRCUIT_CLOSED ? 0 : 1);
    }
    return 0;
}

int scrape_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        http_send_not_allowed(req, "GET");
        return 0;
    }
    const metrics_source_t src = {.ctx = &scr,
                                  .pending_subscribers = read_pending_subscribers,
                                  .counters = read_counters,
                                  .in_flight = read_in_flight,
                                  .usage = read_usage};
    jbuf_t b = {0};
    char err[200];
    const cfg_t *cfg = rt_config_hold();
    int rc = metrics_scrape(&b, cfg, &src, err, sizeof(err));
    if (rc == 0 && (rc = put_health(&b, cfg)) != 0)
        snprintf(err, sizeof(err), "cannot read paused subscribers: %s", strerror(-rc));
    rt_config_release(cfg);
    if (rc != 0) {
        jbuf_free(&b);
        http_send_error(req, 500, "store_error", err);
        return 0;
    }
    http_send_body(req, 200, METRICS_CONTENT_TYPE, b.p, b.len);
    jbuf_free(&b);
    return 0;
}

void scrape_init(const http_deps_t *deps)
{
    scr = *deps;
}
