/* ingest.h -- POST /events: validate, complete, fan out, and answer after the group commit. */
#ifndef HOOKGATE_INGEST_H
#define HOOKGATE_INGEST_H

#include <h2o.h>
#include <stddef.h>

#include "gateway/http.h"

/* Keeps the dependencies. Loop thread, before serving. */
void ingest_init(const http_deps_t *deps);
/* The h2o handler for /events. Loop thread. */
int ingest_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
