/* http.c -- the h2o front end: listener, routing, JSON responses, graceful stop. */
#include "gateway/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/admin.h"
#include "gateway/ingest.h"
#include "gateway/jbuf.h"

static struct {
    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t control;
    h2o_multithread_message_t stop_msg;
    h2o_multithread_receiver_t deferred; /* http_defer_return's messages */
    size_t deferred_pending;
    atomic_bool stop_sent;
    bool stopping;
    http_deps_t deps;
} srv;

bool http_stopping(void)
{
    return srv.stopping;
}

void http_send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    /* Without a content length HTTP/1.1 falls back to chunked + close (PLATFORM.md). */
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, 1);
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

bool http_bearer_ok(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t tlen = strlen(token);
    if (v.len != 7 + tlen || strncasecmp(v.base, "Bearer ", 7) != 0) return false;
    return CRYPTO_memcmp(v.base + 7, token, tlen) == 0;
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

static void on_req_disposed(void *p)
{
    http_deferred_t **slot = p;
    if (*slot) (*slot)->req = NULL;
}

void http_defer(http_deferred_t *d, h2o_req_t *req, void (*on_return)(http_deferred_t *d))
{
    d->req = req;
    d->on_return = on_return;
    d->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*d->slot), on_req_disposed);
    *d->slot = d;
    srv.deferred_pending++;
}

void http_defer_return(http_deferred_t *d)
{
    h2o_multithread_send_message(&srv.deferred, &d->msg);
}

h2o_req_t *http_defer_end(http_deferred_t *d)
{
    srv.deferred_pending--;
    if (d->req) *d->slot = NULL; /* the pool may be disposed after the owner freed d */
    return d->req;
}

static void on_deferred(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    (void)rcv;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        http_deferred_t *d = H2O_STRUCT_FROM_MEMBER(http_deferred_t, msg, msg);
        d->on_return(d);
    }
}

static int on_healthz(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static const char ok[] = "{\"status\":\"ok\"}";
    if (srv.stopping) {
        http_send_error(req, 503, "shutting_down", "the gateway is shutting down");
        return 0;
    }
    http_send_json(req, 200, ok, sizeof(ok) - 1);
    return 0;
}

static int on_not_found(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    http_send_error(req, 404, "not_found", "no such endpoint");
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err) return;
    /* Drain a few pending connections per wake-up rather than one. */
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) return;
        h2o_accept(&srv.accept_ctx, sock);
    }
}

static void on_control(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    (void)rcv;
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    if (srv.stopping) return;
    srv.stopping = true;
    if (srv.listener) {
        h2o_socket_read_stop(srv.listener);
        h2o_socket_close(srv.listener);
        srv.listener = NULL;
    }
    fprintf(stderr, "hookgate: stopping: no longer accepting connections\n");
}

void http_request_stop(void)
{
    if (atomic_exchange(&srv.stop_sent, true)) return;
    h2o_multithread_send_message(&srv.control, &srv.stop_msg);
}

static int open_listener(const cfg_t *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", cfg->listen_port);
    int gai = getaddrinfo(cfg->listen_host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "listen %s: %s", cfg->listen, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen %s: %s", cfg->listen, strerror(e));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -e;
    }
    freeaddrinfo(res);
    return fd;
}

static void register_handler(h2o_hostconf_t *host, const char *path,
                             int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, path, 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}

int http_serve(const cfg_t *cfg, const http_deps_t *deps, char *err, size_t errlen)
{
    int fd = open_listener(cfg, err, errlen);
    if (fd < 0) return fd;
    srv.deps = *deps;

    h2o_config_init(&srv.conf);
    /* Bodies between max_body_bytes and this bound get hookgate's JSON 413; h2o itself
     * answers larger ones (with a plain-text 413) without buffering them. */
    srv.conf.max_request_entity_size = cfg->max_body_bytes * 4 + 65536;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    register_handler(host, "/events", ingest_on_req);
    register_handler(host, "/admin", admin_on_req);
    register_handler(host, "/healthz", on_healthz);
    register_handler(host, "/metrics", admin_on_metrics);
    register_handler(host, "/", on_not_found);

    h2o_context_init(&srv.ctx, h2o_evloop_create(), &srv.conf);
    srv.accept_ctx.ctx = &srv.ctx;
    srv.accept_ctx.hosts = srv.conf.hosts;
    h2o_multithread_register_receiver(srv.ctx.queue, &srv.control, on_control);
    h2o_multithread_register_receiver(srv.ctx.queue, &srv.deferred, on_deferred);
    ingest_init(&srv.deps);
    admin_init(&srv.deps);

    srv.listener = h2o_evloop_socket_create(srv.ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(srv.listener, on_accept);
    fprintf(stderr, "hookgate: listening on %s\n", cfg->listen);

    while (!srv.stopping || srv.deferred_pending > 0)
        h2o_evloop_run(srv.ctx.loop, srv.stopping ? 10 : INT32_MAX);
    /* Give the last responses a moment to reach their sockets. */
    uint64_t until = h2o_now(srv.ctx.loop) + 200;
    while (h2o_now(srv.ctx.loop) < until)
        h2o_evloop_run(srv.ctx.loop, 10);

    h2o_multithread_unregister_receiver(srv.ctx.queue, &srv.control);
    h2o_multithread_unregister_receiver(srv.ctx.queue, &srv.deferred);
    return 0;
}
