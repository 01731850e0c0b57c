/* h2o_ceiling.c -- ingest ceiling: one h2o evloop thread answering POST /events with 202, storing
 * nothing. */
#include <errno.h>
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

static int on_events(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        static const char body[] = "{\"error\":\"method_not_allowed\",\"detail\":\"POST only\"}";
        req->res.status = 405;
        req->res.reason = "Method Not Allowed";
        req->res.content_length = sizeof(body) - 1;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
        h2o_send_inline(req, body, sizeof(body) - 1);
        return 0;
    }
    /* Without content_length, HTTP/1.1 falls back to chunked + close. */
    req->res.status = 202;
    req->res.reason = "Accepted";
    req->res.content_length = sizeof(ACCEPTED_BODY) - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, ACCEPTED_BODY, sizeof(ACCEPTED_BODY) - 1);
    return 0;
}

static int on_healthz(h2o_handler_t *self, h2o_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    (void)self;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = sizeof(body) - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, sizeof(body) - 1);
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
    const char *listen_arg = NULL;
    struct sockaddr_in sa;
    h2o_hostconf_t *host;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    struct sigaction act;
    int fd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_arg = argv[++i];
        } else {
            fprintf(stderr, "usage: %s --listen 127.0.0.1:PORT\n", argv[0]);
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

    if ((fd = open_listener(&sa)) < 0) {
        fprintf(stderr, "h2o_ceiling: cannot listen on %s: %s\n", listen_arg, strerror(-fd));
        return 1;
    }
    listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);
    fprintf(stderr, "h2o_ceiling: listening on %s\n", listen_arg);

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
