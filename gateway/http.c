/* http.c -- the h2o server: listener, connection and memory limits, request framing
 * checks, routes, deferred answers, graceful stop. */
#include "gateway/http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/framing.h"
#include "gateway/logrl.h"
#include "gateway/runtime.h"

/* h2o's own refusals of a request body (before any handler runs) are redirected inside
 * the server to this path, so that they too answer with a JSON error body. */
#define ERROR_PATH "/.hookgate/error/"
/* Kernel receive buffer of client connections: what one read can bring in at most, and so
 * how far one connection can pass the body cap between two checks. */
#define CONNECTION_RCVBUF 131072
/* A connection holding less than this is never paused: it is idle or between requests. */
#define PAUSE_MIN_BYTES 65536

/* One open client connection, for the limits. */
typedef struct {
    h2o_linklist_t link; /* srv.conns, oldest first */
    h2o_socket_t *sock;
    h2o_socket_cb paused_read; /* h2o's read callback while we hold the reading back */
} conn_t;

typedef struct {
    h2o_handler_t super;
    http_on_req_t on_req;
} route_t;

static struct {
    struct {
        const char *prefix;
        http_on_req_t on_req;
    } routes[HTTP_MAX_ROUTES];
    size_t nroutes;

    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_message_t stop_msg;
    h2o_multithread_receiver_t deferred; /* http_defer_return's messages */
    size_t deferred_pending;
    bool stopping;

    /* A stop may be asked for by the signal thread before the loop's receiver exists. */
    pthread_mutex_t control_lock;
    h2o_multithread_receiver_t control;
    bool control_ready;  /* under control_lock */
    bool stop_requested; /* under control_lock */

    /* Limits, loop thread. */
    size_t max_connections, connections;
    bool accept_paused;
    h2o_linklist_t conns;
    uint64_t max_body_held, body_held; /* bytes of request bodies being handled */
    uint64_t max_body_bytes;
    size_t paused; /* connections whose reading is held back */
    logrl_t admit_log, held_back_log, connections_log;

    /* A TLS context renewed by a reload (signal thread), taken up by the loop thread at
     * its next accept. */
    pthread_mutex_t tls_lock;
    SSL_CTX *tls_next;       /* under tls_lock */
    atomic_bool tls_waiting; /* tls_next is set */
} srv = {.control_lock = PTHREAD_MUTEX_INITIALIZER, .tls_lock = PTHREAD_MUTEX_INITIALIZER};

bool http_stopping(void)
{
    return srv.stopping;
}

void http_route(const char *prefix, http_on_req_t on_req)
{
    if (srv.nroutes == HTTP_MAX_ROUTES) abort(); /* a programming error */
    srv.routes[srv.nroutes].prefix = prefix;
    srv.routes[srv.nroutes].on_req = on_req;
    srv.nroutes++;
}

/* ---- deferred answers ---- */

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

/* ---- the checks made before every route ---- */

/* Rejects ambiguous HTTP/1 framing (framing.h) with 400 and a closed connection, so no
 * request hidden behind the body is ever served. h2o keeps the raw head at the start of
 * the connection's input buffer until the response is sent. */
static bool framing_ok(h2o_req_t *req)
{
    if (req->version >= 0x200) return true;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock || !sock->input || sock->input->size == 0) return true;
    size_t n = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    const char *why;
    if (framing_check(sock->input->bytes, n, &why) == 0) return true;
    req->http1_is_persistent = 0;
    http_send_error(req, 400, "bad_request", why);
    return false;
}

static void on_body_released(void *p)
{
    srv.body_held -= *(uint64_t *)p;
}

/* Counts the request's body as held until h2o disposes of the request, and refuses it
 * with 503 when the bodies held together would pass max_buffered_body_bytes. */
static bool admit_body(h2o_req_t *req)
{
    uint64_t len = req->entity.base ? req->entity.len : 0;
    if (len == 0) return true;
    if (srv.body_held + len > srv.max_body_held) {
        logrl_line(&srv.admit_log, LOG_WARN, rt_mono_ms(),
                   "http: request bodies in memory reached max_buffered_body_bytes (%llu); "
                   "answering 503",
                   (unsigned long long)srv.max_body_held);
        http_send_unavailable(req, "overloaded",
                              "too many request bytes are being processed; retry shortly", 1);
        return false;
    }
    srv.body_held += len;
    uint64_t *held = h2o_mem_alloc_shared(&req->pool, sizeof(*held), on_body_released);
    *held = len;
    return true;
}

static int on_route_req(h2o_handler_t *self, h2o_req_t *req)
{
    route_t *route = (route_t *)self;
    if (!framing_ok(req) || !admit_body(req)) return 0;
    return route->on_req(self, req);
}

/* h2o's refusals redirected here (see ERROR_PATH); the status is restored by h2o. */
static int on_error_doc(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    const char *status = req->path_normalized.base + sizeof(ERROR_PATH) - 1;
    size_t n = req->path_normalized.len - (sizeof(ERROR_PATH) - 1);
    if (n == 3 && memcmp(status, "413", 3) == 0)
        http_send_too_large(req, srv.max_body_bytes);
    else
        http_send_error(req, 400, "bad_request", "malformed request framing");
    return 0;
}

static int on_not_found(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    http_send_error(req, 404, "not_found", "no such endpoint");
    return 0;
}

/* ---- connections ---- */

static void on_accept(h2o_socket_t *listener, const char *err);

static uint64_t buffered(const h2o_socket_t *sock)
{
    return sock->input && sock->input->bytes ? sock->input->capacity : 0;
}

static void pause_reading(conn_t *c)
{
    c->paused_read = c->sock->_cb.read;
    h2o_socket_read_stop(c->sock);
    srv.paused++;
}

static void resume_reading(conn_t *c)
{
    h2o_socket_read_start(c->sock, c->paused_read);
    c->paused_read = NULL;
    srv.paused--;
}

/* h2o reads a whole request body into the connection's buffer before a handler sees it,
 * so the bound on body memory is kept here, after every turn of the event loop (one read
 * per ready connection, each at most CONNECTION_RCVBUF): while all connections together
 * buffer more than max_buffered_body_bytes, only one connection that is receiving a body
 * may go on reading (so some request always completes and frees its memory); the others
 * are held back, their clients blocked by TCP flow control, until the total falls under
 * the cap. A client held back longer than h2o's request timeout is disconnected. */
static void check_buffers(void)
{
    uint64_t total = 0;
    for (h2o_linklist_t *n = srv.conns.next; n != &srv.conns; n = n->next)
        total += buffered(H2O_STRUCT_FROM_MEMBER(conn_t, link, n)->sock);
    bool over = total > srv.max_body_held;
    if (!over && srv.paused == 0) return; /* the common case: nothing to hold or release */
    conn_t *reader = NULL, *oldest_paused = NULL;
    size_t held_back = 0;
    for (h2o_linklist_t *n = srv.conns.next; n != &srv.conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        if (c->paused_read) {
            if (!over) {
                resume_reading(c);
            } else {
                held_back++;
                if (!oldest_paused) oldest_paused = c;
            }
        } else if (over && h2o_socket_is_reading(c->sock) && buffered(c->sock) >= PAUSE_MIN_BYTES) {
            if (!reader) {
                reader = c;
            } else {
                pause_reading(c);
                held_back++;
            }
        }
    }
    if (over && !reader && oldest_paused) {
        resume_reading(oldest_paused);
        held_back--;
    }
    if (held_back > 0)
        logrl_line(&srv.held_back_log, LOG_WARN, rt_mono_ms(),
                   "http: request bodies buffered (%llu bytes) exceed max_buffered_body_bytes; "
                   "%zu connections held back",
                   (unsigned long long)total, held_back);
}

static void on_connection_closed(void *data)
{
    conn_t *c = data;
    if (c->paused_read) srv.paused--;
    h2o_linklist_unlink(&c->link);
    free(c);
    srv.connections--;
    if (srv.accept_paused && srv.connections < srv.max_connections && srv.listener) {
        srv.accept_paused = false;
        h2o_socket_read_start(srv.listener, on_accept);
    }
}

/* At max_connections the listener stops accepting: new clients wait in the kernel's
 * backlog until a connection closes, rather than each adding a buffer's worth of memory. */
void http_set_tls(SSL_CTX *tls)
{
    pthread_mutex_lock(&srv.tls_lock);
    SSL_CTX *superseded = srv.tls_next; /* given before the loop took it up */
    srv.tls_next = tls;
    atomic_store(&srv.tls_waiting, true);
    pthread_mutex_unlock(&srv.tls_lock);
    SSL_CTX_free(superseded);
}

/* Puts a context given to http_set_tls in force for the connections accepted from now on.
 * Each open connection holds a reference to its own context, so the old one is only
 * dropped here and freed by OpenSSL when its last connection closes. */
static void take_up_tls(void)
{
    if (!atomic_load(&srv.tls_waiting)) return;
    pthread_mutex_lock(&srv.tls_lock);
    SSL_CTX *next = srv.tls_next;
    srv.tls_next = NULL;
    atomic_store(&srv.tls_waiting, false);
    pthread_mutex_unlock(&srv.tls_lock);
    if (!srv.accept_ctx.ssl_ctx) { /* serving plain HTTP: that needs a restart to change */
        SSL_CTX_free(next);
        return;
    }
    SSL_CTX_free(srv.accept_ctx.ssl_ctx);
    srv.accept_ctx.ssl_ctx = next;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err) return;
    take_up_tls();
    /* Drain a few pending connections per wake-up rather than one. */
    for (int i = 0; i < 16; i++) {
        if (srv.connections >= srv.max_connections) {
            srv.accept_paused = true;
            h2o_socket_read_stop(listener);
            logrl_line(&srv.connections_log, LOG_WARN, rt_mono_ms(),
                       "http: max_connections (%zu) reached; new connections wait",
                       srv.max_connections);
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) return;
        srv.connections++;
        conn_t *c = xcalloc(1, sizeof(*c));
        c->sock = sock;
        h2o_linklist_insert(&srv.conns, &c->link);
        sock->on_close.cb = on_connection_closed;
        sock->on_close.data = c;
        h2o_accept(&srv.accept_ctx, sock);
    }
}

/* ---- stop ---- */

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
    log_line(LOG_INFO, "stopping: no longer accepting connections");
}

void http_request_stop(void)
{
    pthread_mutex_lock(&srv.control_lock);
    if (!srv.stop_requested) {
        srv.stop_requested = true;
        if (srv.control_ready) h2o_multithread_send_message(&srv.control, &srv.stop_msg);
    }
    pthread_mutex_unlock(&srv.control_lock);
}

/* Opens the control channel; a stop asked for before it existed is delivered now. */
static void control_open(void)
{
    h2o_multithread_register_receiver(srv.ctx.queue, &srv.control, on_control);
    pthread_mutex_lock(&srv.control_lock);
    srv.control_ready = true;
    if (srv.stop_requested) h2o_multithread_send_message(&srv.control, &srv.stop_msg);
    pthread_mutex_unlock(&srv.control_lock);
}

static void control_close(void)
{
    pthread_mutex_lock(&srv.control_lock);
    srv.control_ready = false;
    pthread_mutex_unlock(&srv.control_lock);
    h2o_multithread_unregister_receiver(srv.ctx.queue, &srv.control);
}

/* ---- serving ---- */

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
    /* Accepted connections inherit SO_RCVBUF and TCP_NODELAY (h2o's accept4 path counts on
     * the listener for the latter, as the ceiling does): a write goes out at once instead of
     * Nagle holding it until the client ACKs the one before, a delayed-ACK stall of up to
     * 40 ms whenever an answer takes two writes. */
    int one = 1, rcvbuf = CONNECTION_RCVBUF;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
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

static void register_handler(h2o_hostconf_t *host, const char *path, http_on_req_t on_req,
                             http_on_req_t target)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, path, 0);
    route_t *route = (route_t *)h2o_create_handler(pathconf, sizeof(*route));
    route->super.on_req = on_req;
    route->on_req = target;
}

int http_serve(const cfg_t *cfg, SSL_CTX *tls, char *err, size_t errlen)
{
    int fd = open_listener(cfg, err, errlen);
    if (fd < 0) {
        SSL_CTX_free(tls);
        return fd;
    }

    /* Limits bound at start-up (a reload does not change them). */
    srv.max_connections = cfg->max_connections;
    srv.max_body_held = cfg->max_buffered_body_bytes;
    srv.max_body_bytes = cfg->max_body_bytes;

    h2o_config_init(&srv.conf);
    /* h2o buffers a whole body before any handler runs: it refuses a declared
     * Content-Length over the limit before reading, and a chunked body as it crosses it. */
    srv.conf.max_request_entity_size = cfg->max_body_bytes;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv.conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    for (size_t i = 0; i < srv.nroutes; i++)
        register_handler(host, srv.routes[i].prefix, on_route_req, srv.routes[i].on_req);
    register_handler(host, ERROR_PATH, on_error_doc, NULL);
    register_handler(host, "/", on_not_found, NULL);
    h2o_errordoc_t docs[] = {
        {400, h2o_iovec_init(H2O_STRLIT(ERROR_PATH "400"))},
        {413, h2o_iovec_init(H2O_STRLIT(ERROR_PATH "413"))},
    };
    h2o_errordoc_register(&host->fallback_path, docs, sizeof(docs) / sizeof(docs[0]));

    h2o_context_init(&srv.ctx, h2o_evloop_create(), &srv.conf);
    h2o_linklist_init_anchor(&srv.conns);
    srv.accept_ctx.ctx = &srv.ctx;
    srv.accept_ctx.hosts = srv.conf.hosts;
    srv.accept_ctx.ssl_ctx = tls; /* h2o_accept runs the handshake first when set */
    h2o_multithread_register_receiver(srv.ctx.queue, &srv.deferred, on_deferred);
    control_open();

    srv.listener = h2o_evloop_socket_create(srv.ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(srv.listener, on_accept);
    log_line(LOG_INFO, "listening on %s (%s)", cfg->listen, tls ? "https" : "http");

    while (!srv.stopping || srv.deferred_pending > 0) {
        h2o_evloop_run(srv.ctx.loop, srv.stopping ? 10 : INT32_MAX);
        check_buffers();
    }
    /* Give the last responses a moment to reach their sockets. */
    uint64_t until = h2o_now(srv.ctx.loop) + 200;
    while (h2o_now(srv.ctx.loop) < until)
        h2o_evloop_run(srv.ctx.loop, 10);

    control_close();
    h2o_multithread_unregister_receiver(srv.ctx.queue, &srv.deferred);
    SSL_CTX_free(srv.accept_ctx.ssl_ctx);
    srv.accept_ctx.ssl_ctx = NULL;
    pthread_mutex_lock(&srv.tls_lock);
    SSL_CTX_free(srv.tls_next);
    srv.tls_next = NULL;
    pthread_mutex_unlock(&srv.tls_lock);
    return 0;
}
