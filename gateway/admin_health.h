/* admin_health.h -- the admin API's subscriber health endpoints: POST
 * /admin/subscribers/{name}/pause, .../resume and .../replay. */
#ifndef HOOKGATE_ADMIN_HEALTH_H
#define HOOKGATE_ADMIN_HEALTH_H

#include <h2o.h>
#include <stddef.h>

#include "gateway/httpkit.h"

/* Keeps the dependencies. Loop thread, before serving. */
void admin_health_init(const http_deps_t *deps);
/* Serves an authorized request for /admin/subscribers/<tail> (tail/n: what follows the
 * slash, not NUL-terminated): 404 for an unknown action or subscriber, 405 for a method
 * other than POST, 400 for bad replay parameters. Loop thread. */
void admin_health_on_req(h2o_req_t *req, const char *tail, size_t n);

#endif
