/* ingest.h -- POST /events: validate, complete, fan out, and answer after the group commit. */
#ifndef HOOKGATE_INGEST_H
#define HOOKGATE_INGEST_H

#include <h2o.h>
#include <stddef.h>

#include "gateway/http.h"

/* Registers the commit-completion receiver on ctx's queue. Loop thread, before serving. */
void ingest_init(h2o_context_t *ctx, const http_deps_t *deps);
void ingest_fini(void);
/* The h2o handler for /events. Loop thread. */
int ingest_on_req(h2o_handler_t *self, h2o_req_t *req);
/* Ingest requests submitted to the writer and not yet answered (or dropped). Loop thread. */
size_t ingest_pending(void);

#endif
