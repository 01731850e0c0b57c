/* h2o_ceiling.c -- ingest ceilings: one h2o evloop thread answering POST /events with 202.
 *
 * Plain, it stores nothing: the bound of the HTTP stack. With --durable FILE each body is
 * appended to FILE and answered only after an fdatasync that covers it, many requests per
 * flush (a flusher thread takes whatever arrived during the previous flush): the bound of any
 * gateway that acknowledges after one flush on this disk. FILE is written full of zeros at
 * start and then overwritten in a ring, so no flush has to commit a new file size or extent.
 * --meta-page adds LMDB's commit protocol (see write_meta): the bound of a store built on it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <h2o.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static volatile sig_atomic_t stopping;

static const char ACCEPTED_BODY[] = "{\"id\":\"x\",\"deliveries\":1}";

#define RING_BYTES (64u << 20)
#define META_BYTES 4096u /* two of them follow the ring */

/* A request waiting for its flush; *slot lives in the request's pool and is cleared when the
 * pool goes first (the client went away). */
struct held {
    h2o_req_t *req;
    struct held **slot;
    struct held *next;
};

/* The requests of one flush and their bodies, end to end. */
struct batch {
    h2o_multithread_message_t msg;
    struct held *first, **last;
    char *bytes;
    size_t len, cap;
};

static struct {
    int fd; /* -1: plain mode */
    bool meta_page;
    off_t ring_at;
    h2o_multithread_receiver_t flushed;
    pthread_mutex_t mu;
    pthread_cond_t arrived;
    struct batch *filling; /* under mu */
} durable = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .arrived = PTHREAD_COND_INITIALIZER};

static struct batch *batch_new(void)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL) abort();
    b->last = &b->first;
    return b;
}

static void send_json(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    /* Without content_length, HTTP/1.1 falls back to chunked + close. */
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, len);
}

static void send_accepted(h2o_req_t *req)
{
    send_json(req, 202, "Accepted", ACCEPTED_BODY, sizeof(ACCEPTED_BODY) - 1);
}

static void on_held_disposed(void *p)
{
    struct held **slot = p;
    if (*slot) (*slot)->req = NULL;
}

/* Loop thread: queues the body for the flusher. */
static void hold_until_flushed(h2o_req_t *req)
{
    struct held *h = malloc(sizeof(*h));
    if (h == NULL) abort();
    h->req = req;
    h->next = NULL;
    h->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*h->slot), on_held_disposed);
    *h->slot = h;
    pthread_mutex_lock(&durable.mu);
    struct batch *b = durable.filling;
    if (b->len + req->entity.len > b->cap) {
        b->cap = 2 * (b->len + req->entity.len);
        if ((b->bytes = realloc(b->bytes, b->cap)) == NULL) abort();
    }
    memcpy(b->bytes + b->len, req->entity.base, req->entity.len);
    b->len += req->entity.len;
    *b->last = h;
    b->last = &h->next;
    pthread_cond_signal(&durable.arrived);
    pthread_mutex_unlock(&durable.mu);
}

static void write_ring(const char *bytes, size_t len)
{
    while (len > 0) {
        size_t room = RING_BYTES - (size_t)durable.ring_at, n = len < room ? len : room;
        ssize_t w = pwrite(durable.fd, bytes, n, durable.ring_at);
        if (w < 0) {
            perror("h2o_ceiling: pwrite");
            exit(1);
        }
        durable.ring_at = (durable.ring_at + w) % RING_BYTES;
        bytes += w;
        len -= (size_t)w;
    }
}

static void flush_or_exit(void)
{
    if (fdatasync(durable.fd) != 0) {
        perror("h2o_ceiling: fdatasync");
        exit(1);
    }
}

/* LMDB's commit with MDB_NOMETASYNC: data pages, a flush, then a meta page that only the
 * next flush makes durable; so a batch is answered after the flush that follows its meta
 * write: the next batch's, or a flush of its own when nothing is waiting. */
static void write_meta(uint64_t seq)
{
    static char page[META_BYTES];
    memcpy(page, &seq, sizeof(seq));
    if (pwrite(durable.fd, page, sizeof(page), RING_BYTES + (off_t)(seq % 2) * META_BYTES) !=
        (ssize_t)sizeof(page)) {
        perror("h2o_ceiling: pwrite");
        exit(1);
    }
}

static void *flusher_main(void *arg)
{
    (void)arg;
    struct batch *unflushed = NULL; /* --meta-page: meta written, not yet flushed */
    for (uint64_t seq = 1;; seq++) {
        pthread_mutex_lock(&durable.mu);
        if (unflushed && durable.filling->first == NULL) {
            pthread_mutex_unlock(&durable.mu);
            flush_or_exit();
            h2o_multithread_send_message(&durable.flushed, &unflushed->msg);
            unflushed = NULL;
            continue;
        }
        while (durable.filling->first == NULL)
            pthread_cond_wait(&durable.arrived, &durable.mu);
        struct batch *b = durable.filling;
        durable.filling = batch_new();
        pthread_mutex_unlock(&durable.mu);
        write_ring(b->bytes, b->len);
        flush_or_exit();
        if (!durable.meta_page) {
            h2o_multithread_send_message(&durable.flushed, &b->msg);
            continue;
        }
        if (unflushed) h2o_multithread_send_message(&durable.flushed, &unflushed->msg);
        write_meta(seq);
        unflushed = b;
    }
    return NULL;
}

/* Loop thread: answers the requests of flushed batches. */
static void on_flushed(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    (void)rcv;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        struct batch *b = H2O_STRUCT_FROM_MEMBER(struct batch, msg, msg);
        for (struct held *h = b->first, *next; h != NULL; h = next) {
            next = h->next;
            if (h->req) {
                *h->slot = NULL;
                send_accepted(h->req);
            }
            free(h);
        }
        free(b->bytes);
        free(b);
    }
}

static int open_ring(const char *path)
{
    static char zeros[1 << 20];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    for (off_t at = 0; at < (off_t)(RING_BYTES + 2 * META_BYTES); at += (off_t)sizeof(zeros)) {
        if (pwrite(fd, zeros, sizeof(zeros), at) != (ssize_t)sizeof(zeros)) {
            int e = errno ? -errno : -ENOSPC;
            close(fd);
            return e;
        }
    }
    if (fsync(fd) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int on_events(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        static const char body[] = "{\"error\":\"method_not_allowed\",\"detail\":\"POST only\"}";
        send_json(req, 405, "Method Not Allowed", body, sizeof(body) - 1);
        return 0;
    }
    if (durable.fd >= 0)
        hold_until_flushed(req);
    else
        send_accepted(req);
    return 0;
}

static int on_healthz(h2o_handler_t *self, h2o_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    (void)self;
    send_json(req, 200, "OK", body, sizeof(body) - 1);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;

    if (err != NULL) return;
    /* Drain the backlog: a burst of connects (wrk -c256) otherwise costs one loop turn each. */
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&accept_ctx, sock);
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) return -EINVAL;
    return 0;
}

static int open_listener(const struct sockaddr_in *sa)
{
    int fd, one = 1;

    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static void register_handler(h2o_hostconf_t *host, const char *path,
                             int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, path, 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}

int main(int argc, char **argv)
{
    const char *listen_arg = NULL, *durable_path = NULL;
    struct sockaddr_in sa;
    h2o_hostconf_t *host;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    struct sigaction act;
    int fd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_arg = argv[++i];
        } else if (strcmp(argv[i], "--durable") == 0 && i + 1 < argc) {
            durable_path = argv[++i];
        } else if (strcmp(argv[i], "--meta-page") == 0) {
            durable.meta_page = true;
        } else {
            fprintf(stderr, "usage: %s --listen 127.0.0.1:PORT [--durable FILE [--meta-page]]\n",
                    argv[0]);
            return 2;
        }
    }
    if (listen_arg == NULL || parse_listen(listen_arg, &sa) != 0) {
        fprintf(stderr, "h2o_ceiling: --listen 127.0.0.1:PORT is required\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    h2o_config_init(&config);
    config.max_request_entity_size = 1048576;
    host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    register_handler(host, "/events", on_events);
    register_handler(host, "/healthz", on_healthz);

    loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    if (durable_path != NULL) {
        pthread_t flusher;
        if ((durable.fd = open_ring(durable_path)) < 0) {
            fprintf(stderr, "h2o_ceiling: cannot prepare %s: %s\n", durable_path,
                    strerror(-durable.fd));
            return 1;
        }
        durable.filling = batch_new();
        h2o_multithread_register_receiver(ctx.queue, &durable.flushed, on_flushed);
        if (pthread_create(&flusher, NULL, flusher_main, NULL) != 0) {
            fprintf(stderr, "h2o_ceiling: cannot start the flusher thread\n");
            return 1;
        }
    }

    if ((fd = open_listener(&sa)) < 0) {
        fprintf(stderr, "h2o_ceiling: cannot listen on %s: %s\n", listen_arg, strerror(-fd));
        return 1;
    }
    listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);
    fprintf(stderr, "h2o_ceiling: listening on %s%s\n", listen_arg,
            !durable_path       ? ""
            : durable.meta_page ? ", answering after the flush that follows a meta page"
                                : ", answering after fdatasync");

    /* A bounded wait lets the loop notice the stop flag set by the signal handler. */
    while (!stopping && h2o_evloop_run(loop, 200) == 0)
        ;
    /* The context is not disposed: h2o 2.2.5 asserts when connections are still open, and the
       process is exiting anyway. */
    h2o_socket_read_stop(listener);
    h2o_socket_close(listener);
    h2o_evloop_run(loop, 0);
    return 0;
}
