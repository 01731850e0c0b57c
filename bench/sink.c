/* sink.c -- bench subscriber: a single-threaded epoll HTTP/1.1 keep-alive server that answers and
 * counts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (64 * 1024 * 1024)
/* Stop reading from a client that pipelines faster than it reads its answers. */
#define MAX_PENDING_OUT (4 * 1024 * 1024)
#define MAX_ID_LEN 256

typedef struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    int close_after; /* close once out is flushed */
    int read_paused; /* MAX_PENDING_OUT reached; resume when out drains */
} conn_t;

typedef struct stats {
    uint64_t requests, ok, failed, unique_ok;
    uint64_t first_ns, last_ns;
} stats_t;

/* Distinct webhook-id values that were answered 2xx (open addressing, grows at 1/2 load). */
typedef struct idset {
    char **slots;
    size_t cap, len;
} idset_t;

static stats_t stats;
static idset_t ok_ids;
static double fail_rate;
static uint64_t rng_state;
static FILE *latency_log;
static volatile sig_atomic_t stopping;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "sink: out of memory\n");
        abort();
    }
    return q;
}

static uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the fail decision only needs to be cheap and roughly uniform. */
static double next_uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void idset_insert_owned(idset_t *set, char *key)
{
    size_t mask = set->cap - 1, i = hash_bytes(key, strlen(key)) & mask;
    while (set->slots[i] != NULL)
        i = (i + 1) & mask;
    set->slots[i] = key;
    set->len++;
}

/* Returns 1 when id was new. */
static int idset_add(idset_t *set, const char *id, size_t n)
{
    size_t mask, i;
    char *copy;

    if (set->len * 2 >= set->cap) {
        idset_t bigger = {NULL, set->cap ? set->cap * 2 : 1024, 0};
        bigger.slots = xrealloc(NULL, bigger.cap * sizeof(char *));
        memset(bigger.slots, 0, bigger.cap * sizeof(char *));
        for (size_t k = 0; k < set->cap; k++)
            if (set->slots[k] != NULL) idset_insert_owned(&bigger, set->slots[k]);
        free(set->slots);
        *set = bigger;
    }
    mask = set->cap - 1;
    for (i = hash_bytes(id, n) & mask; set->slots[i] != NULL; i = (i + 1) & mask)
        if (strlen(set->slots[i]) == n && memcmp(set->slots[i], id, n) == 0) return 0;
    copy = xrealloc(NULL, n + 1);
    memcpy(copy, id, n);
    copy[n] = '\0';
    set->slots[i] = copy;
    set->len++;
    return 1;
}

static void out_append(conn_t *c, const char *s, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void respond(conn_t *c, int status, const char *body, size_t body_len)
{
    char head[160];
    const char *reason = status == 200   ? "OK"
                         : status == 404 ? "Not Found"
                         : status == 500 ? "Internal Server Error"
                                         : "Bad Request";
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     reason, body_len, c->close_after ? "Connection: close\r\n" : "");
    out_append(c, head, (size_t)n);
    if (body_len > 0) out_append(c, body, body_len);
}

static const char *memmem_crlf2(const char *p, size_t n)
{
    return memmem(p, n, "\r\n\r\n", 4);
}

static int header_is(const char *name, size_t name_len, const char *want)
{
    return strlen(want) == name_len && strncasecmp(name, want, name_len) == 0;
}

static int value_has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, token, tl) == 0) return 1;
    return 0;
}

static void log_request(uint64_t t, const char *id, size_t id_len, int status)
{
    if (latency_log == NULL) return;
    if (id_len == 0)
        fprintf(latency_log, "%" PRIu64 " - %d\n", t, status);
    else
        fprintf(latency_log, "%" PRIu64 " %.*s %d\n", t, (int)id_len, id, status);
}

static void answer_control(conn_t *c, const char *target, size_t target_len)
{
    char body[256];
    int n;

    /* Whoever polls the count and then reads the log must find every counted request in it. */
    if (latency_log != NULL) fflush(latency_log);
    if (target_len == 6 && memcmp(target, "/count", 6) == 0) {
        n = snprintf(body, sizeof(body), "%" PRIu64, stats.requests);
    } else {
        n = snprintf(body, sizeof(body),
                     "{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64
                     ",\"unique_ok\":%" PRIu64 ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64 "}",
                     stats.requests, stats.ok, stats.failed, stats.unique_ok, stats.first_ns,
                     stats.last_ns);
    }
    respond(c, 200, body, (size_t)n);
}

/* Parses one request from c->in at *pos. Returns 1 when a request was consumed, 0 when more bytes
   are needed, -1 when the connection must close after what is queued. */
static int handle_one(conn_t *c, size_t *pos, uint64_t recv_ns)
{
    const char *start = c->in + *pos, *end_hdr, *line, *eol, *sp1, *sp2;
    size_t avail = c->in_len - *pos, head_len, body_len = 0, target_len, id_len = 0;
    const char *id = NULL;
    int is_get, http10, keep_alive_10 = 0, close_asked = 0;

    if ((end_hdr = memmem_crlf2(start, avail)) == NULL) {
        if (avail > MAX_HEADER_BYTES) {
            c->close_after = 1;
            respond(c, 400, NULL, 0);
            return -1;
        }
        return 0;
    }
    head_len = (size_t)(end_hdr - start) + 4;
    eol = memmem(start, head_len, "\r\n", 2);
    sp1 = memchr(start, ' ', (size_t)(eol - start));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        c->close_after = 1;
        respond(c, 400, NULL, 0);
        return -1;
    }
    is_get = (sp1 - start == 3 && memcmp(start, "GET", 3) == 0);
    http10 = (eol - sp2 - 1 == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0);
    target_len = (size_t)(sp2 - sp1 - 1);

    for (line = eol + 2; line < end_hdr + 2; line = eol + 2) {
        const char *colon, *v, *ve;
        eol = memmem(line, (size_t)(end_hdr + 2 - line), "\r\n", 2);
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL) continue;
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;
        if (header_is(line, (size_t)(colon - line), "content-length")) {
            body_len = 0;
            if (v == ve) {
                c->close_after = 1;
                respond(c, 400, NULL, 0);
                return -1;
            }
            for (const char *d = v; d < ve; d++) {
                if (*d < '0' || *d > '9' || body_len > MAX_BODY_BYTES) {
                    c->close_after = 1;
                    respond(c, 400, NULL, 0);
                    return -1;
                }
                body_len = body_len * 10 + (size_t)(*d - '0');
            }
        } else if (header_is(line, (size_t)(colon - line), "transfer-encoding")) {
            /* Deliveries carry Content-Length; chunked uploads are out of scope for this sink. */
            c->close_after = 1;
            respond(c, 400, NULL, 0);
            return -1;
        } else if (header_is(line, (size_t)(colon - line), "connection")) {
            if (value_has_token(v, (size_t)(ve - v), "close")) close_asked = 1;
            if (value_has_token(v, (size_t)(ve - v), "keep-alive")) keep_alive_10 = 1;
        } else if (header_is(line, (size_t)(colon - line), "webhook-id")) {
            id = v;
            id_len = (size_t)(ve - v) < MAX_ID_LEN ? (size_t)(ve - v) : MAX_ID_LEN;
        }
    }
    if (body_len > MAX_BODY_BYTES) {
        c->close_after = 1;
        respond(c, 400, NULL, 0);
        return -1;
    }
    if (avail < head_len + body_len) {
        if (c->in_cap < *pos + head_len + body_len) {
            c->in_cap = *pos + head_len + body_len;
            c->in = xrealloc(c->in, c->in_cap);
        }
        return 0;
    }
    /* Only now: closing early would drop a request whose body is still arriving. */
    if (close_asked || (http10 && !keep_alive_10)) c->close_after = 1;
    *pos += head_len + body_len;

    if (is_get && ((target_len == 6 && memcmp(sp1 + 1, "/count", 6) == 0) ||
                   (target_len == 6 && memcmp(sp1 + 1, "/stats", 6) == 0))) {
        answer_control(c, sp1 + 1, target_len);
    } else {
        int status = (fail_rate > 0 && next_uniform() < fail_rate) ? 500 : 200;
        if (stats.requests++ == 0) stats.first_ns = recv_ns;
        stats.last_ns = recv_ns;
        if (status == 200) {
            stats.ok++;
            if (id_len > 0 && idset_add(&ok_ids, id, id_len)) stats.unique_ok++;
        } else {
            stats.failed++;
        }
        log_request(recv_ns, id, id_len, status);
        respond(c, status, NULL, 0);
    }
    return c->close_after ? -1 : 1;
}

static void conn_free(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Returns -1 when the connection is finished (closed or failed), else 0. */
static int flush_out(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        } else {
            return -1;
        }
    }
    c->out_off = c->out_len = 0;
    return c->close_after ? -1 : 0;
}

/* Reads until EAGAIN (edge-triggered), answering every complete request. Returns -1 to close. */
static int on_readable(conn_t *c)
{
    int eof = 0;

    c->read_paused = 0;
    while (!eof && !c->close_after) {
        size_t pos = 0;
        uint64_t recv_ns;
        ssize_t n;
        int r;

        if (c->out_len - c->out_off > MAX_PENDING_OUT) {
            if (flush_out(c) < 0) return -1;
            if (c->out_len - c->out_off > MAX_PENDING_OUT) {
                c->read_paused = 1;
                break;
            }
        }
        if (c->in_cap - c->in_len < 16384) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
            c->in = xrealloc(c->in, c->in_cap);
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            eof = 1;
            continue;
        }
        c->in_len += (size_t)n;
        recv_ns = now_realtime_ns();
        while ((r = handle_one(c, &pos, recv_ns)) == 1)
            ;
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
        if (r < 0) break;
    }
    if (flush_out(c) < 0) return -1;
    return eof ? -1 : 0;
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
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --listen 127.0.0.1:PORT [--fail-rate F] [--seed N] [--latency-log FILE] "
            "[--max-seconds S]\n"
            "  answers 200 (or 500 with probability F) with an empty body; GET /count and GET "
            "/stats report counts\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *listen_arg = NULL, *log_path = NULL;
    long max_seconds = 3600;
    struct sockaddr_in sa;
    struct sigaction act;
    struct epoll_event ev, events[256];
    struct timespec t0, tn;
    int lfd, ep, one = 1;

    rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    /* Every option takes a value, so options come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(a, "--listen") == 0) {
            listen_arg = v;
        } else if (v != NULL && strcmp(a, "--fail-rate") == 0) {
            fail_rate = atof(v);
        } else if (v != NULL && strcmp(a, "--seed") == 0) {
            rng_state = strtoull(v, NULL, 10) | 1;
        } else if (v != NULL && strcmp(a, "--latency-log") == 0) {
            log_path = v;
        } else if (v != NULL && strcmp(a, "--max-seconds") == 0) {
            max_seconds = atol(v);
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (listen_arg == NULL || parse_listen(listen_arg, &sa) != 0 || fail_rate < 0 ||
        fail_rate > 1 || max_seconds <= 0) {
        usage(argv[0]);
        return 2;
    }
    if (log_path != NULL) {
        if ((latency_log = fopen(log_path, "w")) == NULL) {
            fprintf(stderr, "sink: %s: %s\n", log_path, strerror(errno));
            return 1;
        }
        setvbuf(latency_log, NULL, _IOFBF, 1 << 20);
    }

    signal(SIGPIPE, SIG_IGN);
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, SOMAXCONN) != 0) {
        fprintf(stderr, "sink: cannot listen on %s: %s\n", listen_arg, strerror(errno));
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    fprintf(stderr, "sink: listening on %s fail_rate=%.3f\n", listen_arg, fail_rate);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!stopping) {
        int n = epoll_wait(ep, events, (int)(sizeof(events) / sizeof(events[0])), 200);
        clock_gettime(CLOCK_MONOTONIC, &tn);
        if (tn.tv_sec - t0.tv_sec >= max_seconds) {
            fprintf(stderr, "sink: --max-seconds %ld reached\n", max_seconds);
            break;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = xrealloc(NULL, sizeof(*c));
                    memset(c, 0, sizeof(*c));
                    c->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    if (on_readable(c) < 0) conn_free(ep, c);
                }
                continue;
            }
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                conn_free(ep, c);
                continue;
            }
            if ((events[i].events & EPOLLOUT) && flush_out(c) < 0) {
                conn_free(ep, c);
                continue;
            }
            if (((events[i].events & (EPOLLIN | EPOLLRDHUP)) || c->read_paused) &&
                on_readable(c) < 0)
                conn_free(ep, c);
        }
    }
    if (latency_log != NULL) fclose(latency_log);
    printf("requests=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " unique_ok=%" PRIu64 "\n",
           stats.requests, stats.ok, stats.failed, stats.unique_ok);
    fflush(stdout);
    return 0;
}
