/* http.h -- the h2o server: listener, connection and memory limits, request framing
 * checks, routes, answers deferred to another thread, graceful stop. Handlers register
 * their routes; the server knows none of them. */
#ifndef HOOKGATE_HTTP_H
#define HOOKGATE_HTTP_H

#include <h2o.h>
#include <stdbool.h>

#include "config/config.h"
#include "gateway/httpkit.h"

/* A route's handler; self is the server's, not to be used. Loop thread. */
typedef int (*http_on_req_t)(h2o_handler_t *self, h2o_req_t *req);

/* Sends requests whose path starts with prefix (h2o's prefix match: "/admin" also takes
 * "/admin/x") to on_req, after the server's own checks (framing, memory). Main thread,
 * before http_serve; at most HTTP_MAX_ROUTES. */
#define HTTP_MAX_ROUTES 16
void http_route(const char *prefix, http_on_req_t on_req);

/* Binds cfg's listen address (error text in err on failure, returning a negative errno
 * before anything runs), then serves on the calling thread until http_request_stop;
 * returns 0 once the answers deferred to other threads have been sent. With tls (see
 * gateway/tls.h) every connection is TLS; with NULL, plain HTTP. The server owns tls from
 * the call on, and frees it before returning, whatever the result. */
int http_serve(const cfg_t *cfg, SSL_CTX *tls, char *err, size_t errlen);
/* Replaces the TLS context (a renewed certificate) for connections accepted from now on;
 * open connections keep theirs. Takes ownership of tls. A server serving plain HTTP stays
 * plain (it frees tls). Any thread, at any time. */
void http_set_tls(SSL_CTX *tls);
/* Asks the serving loop to stop: it stops accepting, and returns once deferred answers
 * are sent. Any thread, at any time: a request made before the loop runs is kept, and
 * the loop stops as soon as it starts. */
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

#endif
