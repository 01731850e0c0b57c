/* httpkit.c -- the request handlers' toolkit: JSON responses, errors, authorization. */
#include "gateway/httpkit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/xalloc.h"
#include "gateway/jbuf.h"

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large"; /* h2o's words for its own refusals */
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return ""; /* the reason phrase may be empty (RFC 9112, section 4) */
    }
}

void http_send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    req->res.status = status;
    req->res.reason = http_reason(status);
    /* Without a content length HTTP/1.1 falls back to chunked + close. */
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, 1);
}

void http_send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    http_send_body(req, status, "application/json", body, len);
}

void http_send_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    char text[128];
    snprintf(text, sizeof(text), "use %s", allow);
    http_send_error(req, 405, "method_not_allowed", text);
}

void http_send_error(h2o_req_t *req, int status, const char *code, const char *detail)
{
    jbuf_t b = {0};
    jbuf_puts(&b, "{\"error\":");
    jbuf_str(&b, code, strlen(code));
    jbuf_puts(&b, ",\"detail\":");
    jbuf_str(&b, detail, strlen(detail));
    jbuf_puts(&b, "}");
    http_send_json(req, status, b.p, b.len);
    jbuf_free(&b);
}

void http_send_too_large(h2o_req_t *req, uint64_t max_body_bytes)
{
    char detail[96];
    snprintf(detail, sizeof(detail), "body exceeds max_body_bytes (%llu)",
             (unsigned long long)max_body_bytes);
    http_send_error(req, 413, "payload_too_large", detail);
}

void http_send_unavailable(h2o_req_t *req, const char *code, const char *detail,
                           unsigned retry_after_s)
{
    char value[16];
    int n = snprintf(value, sizeof(value), "%u", retry_after_s);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, value, (size_t)n).base, (size_t)n);
    http_send_error(req, 503, code, detail);
}

/* The digests of the configured tokens (ingest_token, admin_token), each computed once
 * rather than on every request. Found by the token's text, not its address: a reload frees
 * a config's strings, and a new token may be allocated where an old one was. The text
 * compared is the configured token against its own copy, so no caller-given bytes are
 * compared by strcmp. */
#define TOKEN_DIGESTS 2
static struct {
    char *token;
    unsigned char digest[SHA256_DIGEST_LENGTH];
} token_digests[TOKEN_DIGESTS];
static unsigned token_digests_next; /* the slot to replace next */

static const unsigned char *token_digest(const char *token)
{
    for (size_t i = 0; i < TOKEN_DIGESTS; i++)
        if (token_digests[i].token && strcmp(token_digests[i].token, token) == 0)
            return token_digests[i].digest;
    unsigned slot = token_digests_next++ % TOKEN_DIGESTS;
    free(token_digests[slot].token);
    token_digests[slot].token = xstrdup(token);
    SHA256((const unsigned char *)token, strlen(token), token_digests[slot].digest);
    return token_digests[slot].digest;
}

bool http_bearer_ok(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0) return false;
    unsigned char given[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)v.base + 7, v.len - 7, given);
    return CRYPTO_memcmp(given, token_digest(token), sizeof(given)) == 0;
}

void http_peer_address(h2o_req_t *req, char out[HTTP_PEER_MAX])
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *addr = NULL;
    if (len != 0 && ss.ss_family == AF_INET)
        addr = &((const struct sockaddr_in *)&ss)->sin_addr;
    else if (len != 0 && ss.ss_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!addr || !inet_ntop(ss.ss_family, addr, out, HTTP_PEER_MAX))
        snprintf(out, HTTP_PEER_MAX, "unknown");
}

bool http_peer_is_loopback(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (len == 0) return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) return true;
        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}
