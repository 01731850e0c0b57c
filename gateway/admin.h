/* admin.h -- the /admin/ API (inspection and repair of events and dead letters, subscriber
 * counters) and GET /metrics. */
#ifndef HOOKGATE_ADMIN_H
#define HOOKGATE_ADMIN_H

#include <h2o.h>
#include <stddef.h>

#include "gateway/http.h"
#include "gateway/retention.h"

/* The retention job to nudge after dead letters are deleted (NULL: none). Main thread,
 * before http_serve. */
void admin_set_retention(ret_t *r);
/* Keeps the dependencies and registers the receiver of committed changes on ctx's queue.
 * Loop thread, before serving. */
void admin_init(h2o_context_t *ctx, const http_deps_t *deps);
/* Unregisters the receiver; once admin_pending() is 0. Loop thread. */
void admin_fini(void);
/* The h2o handler for everything under /admin. Loop thread. */
int admin_on_req(h2o_handler_t *self, h2o_req_t *req);
/* The h2o handler for GET /metrics (Prometheus text; served like /healthz, without
 * admin authentication). Loop thread. */
int admin_on_metrics(h2o_handler_t *self, h2o_req_t *req);
/* Changes submitted to the writer and not yet answered (a bulk one counts until its last
 * chunk). The serving loop must not exit while this is non-zero. Loop thread. */
size_t admin_pending(void);

#endif
