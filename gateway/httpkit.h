/* httpkit.h -- the request handlers' toolkit: JSON responses, errors and the checks of who
 * is asking. Everything here runs on the HTTP loop thread. */
#ifndef HOOKGATE_HTTPKIT_H
#define HOOKGATE_HTTPKIT_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/delivery.h"
#include "gateway/writer.h"
#include "store/store.h"

/* What the request handlers work with. */
typedef struct {
    store_t *st;
    wr_t *w;
    dlv_t *d;
} http_deps_t;

/* The reason phrase of status for the status line ("Method Not Allowed"); "" for a status
 * without a registered phrase. A static string. */
const char *http_reason(int status);
/* Sends a response of content type ctype (a static string); body is copied. */
void http_send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* Sends a JSON response; body is copied. */
void http_send_json(h2o_req_t *req, int status, const char *body, size_t len);
/* Sends {"error": code, "detail": detail}. */
void http_send_error(h2o_req_t *req, int status, const char *code, const char *detail);
/* Sends 405 method_not_allowed with Allow: allow (a static string), e.g. "GET, DELETE". */
void http_send_not_allowed(h2o_req_t *req, const char *allow);
/* Sends 413 payload_too_large naming the limit max_body_bytes. */
void http_send_too_large(h2o_req_t *req, uint64_t max_body_bytes);
/* Sends 503 {"error": code, "detail": detail} with Retry-After: retry_after_s. */
void http_send_unavailable(h2o_req_t *req, const char *code, const char *detail,
                           unsigned retry_after_s);
/* True when the request's Authorization is "Bearer <token>". The comparison is of SHA-256
 * digests in constant time, so neither the token's bytes nor its length leak through
 * timing. */
bool http_bearer_ok(h2o_req_t *req, const char *token);
/* The peer's IP address as text ("127.0.0.1", "::1"), or "unknown"; for audit lines. */
#define HTTP_PEER_MAX 46 /* INET6_ADDRSTRLEN */
void http_peer_address(h2o_req_t *req, char out[HTTP_PEER_MAX]);
/* True when the peer is a loopback address. */
bool http_peer_is_loopback(h2o_req_t *req);

#endif
