/* healthz.h -- GET /healthz: 200 {"status":"ok"} while the gateway can take and deliver
 * events; otherwise 503 naming the failing check (health.h). */
#ifndef HOOKGATE_HEALTHZ_H
#define HOOKGATE_HEALTHZ_H

#include <h2o.h>

/* The h2o handler for /healthz. Loop thread. */
int healthz_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
