/* httpkit.c -- the request handlers' toolkit: JSON responses, errors, authorization. */
#include "gateway/httpkit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/jbuf.h"

void http_send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    /* Without a content length HTTP/1.1 falls back to chunked + close (PLATFORM.md). */
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

bool http_bearer_ok(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0) return false;
    unsigned char given[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)v.base + 7, v.len - 7, given);
    SHA256((const unsigned char *)token, strlen(token), want);
    return CRYPTO_memcmp(given, want, sizeof(want)) == 0;
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
