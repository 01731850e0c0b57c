/* http.h -- the h2o front end: listener, routing, JSON responses, graceful stop. */
#ifndef HOOKGATE_HTTP_H
#define HOOKGATE_HTTP_H

#include <h2o.h>
#include <stdbool.h>

#include "config/config.h"
#include "gateway/delivery.h"
#include "gateway/writer.h"
#include "store/store.h"

/* What the request handlers work with. */
typedef struct {
    store_t *st;
    wr_t *w;
    dlv_t *d;
} http_deps_t;

/* Binds cfg's listen address (error text in err on failure, returning a negative errno
 * before anything runs), then serves on the calling thread until http_request_stop;
 * returns 0 once in-flight ingest commits have been answered. */
int http_serve(const cfg_t *cfg, const http_deps_t *deps, char *err, size_t errlen);
/* Asks the serving loop to stop: it stops accepting, answers new ingest requests with
 * 503, and returns once pending ingest responses are sent. Any thread. */
void http_request_stop(void);
/* True once a stop was requested (loop thread). */
bool http_stopping(void);

/* A request answered later, after work on another thread (the writer). Embedded in the
 * handler's job, which may outlive the request: a client that disconnects meanwhile
 * changes nothing, and its request is never touched once h2o has disposed of it. */
typedef struct http_deferred {
    h2o_req_t *req;               /* NULL once the client went away */
    struct http_deferred **slot;  /* in req's pool: clears req when the pool is disposed */
    h2o_multithread_message_t msg;
    void (*on_return)(struct http_deferred *d); /* loop thread, after each http_defer_return */
} http_deferred_t;

/* Ties d to req and counts it as pending: the serving loop does not return while any is.
 * Loop thread. */
void http_defer(http_deferred_t *d, h2o_req_t *req, void (*on_return)(http_deferred_t *d));
/* Hands d back to the loop thread, where d->on_return runs. Any thread. */
void http_defer_return(http_deferred_t *d);
/* Ends d (it is no longer pending) and returns its request to answer, or NULL when the
 * client went away. Loop thread. */
h2o_req_t *http_defer_end(http_deferred_t *d);

/* Sends a JSON response; body is copied. Loop thread. */
void http_send_json(h2o_req_t *req, int status, const char *body, size_t len);
/* Sends {"error": code, "detail": detail}. Loop thread. */
void http_send_error(h2o_req_t *req, int status, const char *code, const char *detail);
/* True when the request's Authorization is "Bearer <token>", compared in constant time. */
bool http_bearer_ok(h2o_req_t *req, const char *token);
/* True when the peer is a loopback address. */
bool http_peer_is_loopback(h2o_req_t *req);

#endif
