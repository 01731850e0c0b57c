/* admin.h -- the /admin/ API (inspection and repair of events and dead letters, subscriber
 * counters). */
#ifndef HOOKGATE_ADMIN_H
#define HOOKGATE_ADMIN_H

#include <h2o.h>
#include <stddef.h>

#include "gateway/http.h"
#include "gateway/retention.h"

/* The retention job to nudge after dead letters are deleted (NULL: none). Main thread,
 * before http_serve. */
void admin_set_retention(ret_t *r);
/* Keeps the dependencies. Loop thread, before serving. */
void admin_init(const http_deps_t *deps);
/* The h2o handler for everything under /admin. Loop thread. */
int admin_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
