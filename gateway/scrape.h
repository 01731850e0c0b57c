/* scrape.h -- GET /metrics: Prometheus text, served like /healthz (no admin
 * authentication). */
#ifndef HOOKGATE_SCRAPE_H
#define HOOKGATE_SCRAPE_H

#include <h2o.h>

#include "gateway/httpkit.h"

/* Keeps the store the gauges are read from and the delivery worker that knows what is in
 * flight (both borrowed; they outlive the serving loop). Main thread, before serving. */
void scrape_init(const http_deps_t *deps);
/* The h2o handler for /metrics: 200 with the exposition, or 500 with a JSON error body when
 * a store read fails (Prometheus then reports the target down rather than a wrong value).
 * Loop thread. */
int scrape_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
