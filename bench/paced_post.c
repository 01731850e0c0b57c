/* paced_post.c -- bench producer: POSTs N envelopes at a fixed rate over keep-alive connections,
 * logging each 2xx time. */
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

typedef struct conn {
    int fd, state;
    char *out;
    size_t out_off, out_len, out_cap;
    char *in;
    size_t in_len, in_cap;
    long req;         /* request index in flight, -1 when none */
    uint64_t sent_ns; /* CLOCK_REALTIME when the request was written */
    double sent_mono;
} conn_t;

typedef struct opts {
    struct sockaddr_in addr;
    char hostport[64];
    const char *path, *log_path, *type, *token;
    char prefix[64];
    long count, batch, connections, body_bytes, timeout_s;
    double rate;
} opts_t;

static opts_t o;
static conn_t *conns;
static int ep, tfd = -1; /* tfd: timerfd that wakes the loop when the next request is due */
static long next_req, done_req, total_req;
static long ok_events, unacked_events, failed_requests, non2xx_requests, drops_without_progress;
static double *lat_ms, *sched_ms; /* 2xx latency from the send / from the request's due time */
static long lat_n;
static double max_behind_ms; /* how late the latest-sent request left, against its due time */
static FILE *logf;
static double t0;
static volatile sig_atomic_t stopping;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "paced_post: out of memory\n");
        abort();
    }
    return q;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long events_in(long req)
{
    long first = req * o.batch, left = o.count - first;
    return left < o.batch ? left : o.batch;
}

/* Request i is due when its first event's turn comes at o.rate events/s; rate 0 means now. */
static double due_at(long req)
{
    return o.rate > 0 ? t0 + (double)(req * o.batch) / o.rate : t0;
}

/* Appends n bytes of s, or reserves n bytes when s is NULL. */
static void out_put(conn_t *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    if (s != NULL) memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void put_envelope(conn_t *c, long ev)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "{\"type\":\"%s\",\"id\":\"%s-%ld\",\"occurred_at\":\"2026-11-27T10:00:00Z\","
                     "\"payload\":{\"conversation_id\":\"c_123\",\"seq\":%ld,\"text\":\"",
                     o.type, o.prefix, ev, ev);
    size_t pad = o.body_bytes > n + 3 ? (size_t)(o.body_bytes - n - 3) : 0;
    out_put(c, head, (size_t)n);
    out_put(c, NULL, pad);
    memset(c->out + c->out_len - pad, 'x', pad);
    out_put(c, "\"}}", 3);
}

static void send_request(conn_t *c, long req)
{
    char head[512];
    size_t body_start, body_len;
    long first = req * o.batch, n = events_in(req);
    int hl;

    /* Reserve room for the head; the body is built first so its length is known. */
    c->out_off = c->out_len = 0;
    if (c->out_cap < sizeof(head)) {
        c->out_cap = sizeof(head) * 4;
        c->out = xrealloc(c->out, c->out_cap);
    }
    c->out_len = body_start = sizeof(head);
    if (o.batch > 1) out_put(c, "[", 1);
    for (long i = 0; i < n; i++) {
        if (i > 0) out_put(c, ",", 1);
        put_envelope(c, first + i);
    }
    if (o.batch > 1) out_put(c, "]", 1);
    body_len = c->out_len - body_start;
    hl = snprintf(head, sizeof(head),
                  "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                  "application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                  o.path, o.hostport, body_len, o.token ? "Authorization: Bearer " : "",
                  o.token ? o.token : "", o.token ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof(head)) abort(); /* main() bounds the path and token */
    c->out_off = sizeof(head) - (size_t)hl;
    memcpy(c->out + c->out_off, head, (size_t)hl);
    c->req = req;
    c->state = C_BUSY;
    c->sent_ns = now_real_ns();
    c->sent_mono = now_mono();
    if ((c->sent_mono - due_at(req)) * 1000.0 > max_behind_ms)
        max_behind_ms = (c->sent_mono - due_at(req)) * 1000.0;
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w > 0)
            c->out_off += (size_t)w;
        else
            break; /* EAGAIN: EPOLLOUT finishes it; errors surface as EPOLLERR/HUP */
    }
}

static int conn_open(conn_t *c)
{
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -errno;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&o.addr, sizeof(o.addr)) != 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(c->fd);
        c->fd = -1;
        return e;
    }
    c->state = C_CONNECTING;
    c->in_len = 0;
    c->req = -1;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void finish_request(conn_t *c, int status)
{
    uint64_t ack = now_real_ns();
    long n = events_in(c->req), first = c->req * o.batch;
    int good = status >= 200 && status < 300;

    if (status < 0)
        failed_requests++;
    else
        drops_without_progress = 0;
    if (status >= 0 && !good) non2xx_requests++;
    if (good) {
        ok_events += n;
        double now = now_mono();
        sched_ms[lat_n] = (now - due_at(c->req)) * 1000.0;
        lat_ms[lat_n++] = (now - c->sent_mono) * 1000.0;
    } else {
        unacked_events += n;
    }
    if (logf != NULL && good)
        for (long i = 0; i < n; i++)
            fprintf(logf, "%s-%ld %" PRIu64 " %" PRIu64 " %d\n", o.prefix, first + i, c->sent_ns,
                    ack, status);
    done_req++;
    c->req = -1;
}

static void conn_drop(conn_t *c)
{
    drops_without_progress++;
    if (c->req >= 0) finish_request(c, -1);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_DOWN;
}

/* Returns the byte length of the complete response at the start of buf, 0 if incomplete, -1 if
 *malformed. status and *close_conn are set when complete. */
static long parse_response(const char *buf, size_t len, int *status, int *close_conn, int eof)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4), *line, *eol;
    size_t head, cl = 0;
    int has_cl = 0, chunked = 0;

    if (end == NULL) return 0;
    head = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    *close_conn = buf[7] == '0';
    eol = memmem(buf, head, "\r\n", 2);
    for (line = eol + 2; line < end + 2; line = eol + 2) {
        const char *colon, *v;
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if ((colon = memchr(line, ':', (size_t)(eol - line))) == NULL) continue;
        for (v = colon + 1; v < eol && *v == ' '; v++)
            ;
        if ((size_t)(colon - line) == 14 && strncasecmp(line, "content-length", 14) == 0) {
            has_cl = 1;
            cl = strtoul(v, NULL, 10);
        } else if ((size_t)(colon - line) == 17 &&
                   strncasecmp(line, "transfer-encoding", 17) == 0) {
            chunked = memmem(v, (size_t)(eol - v), "chunked", 7) != NULL;
        } else if ((size_t)(colon - line) == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (memmem(v, (size_t)(eol - v), "close", 5) != NULL) *close_conn = 1;
        }
    }
    if (chunked) {
        size_t p = head;
        for (;;) {
            const char *crlf = memmem(buf + p, len - p, "\r\n", 2);
            size_t sz;
            if (crlf == NULL) return 0;
            sz = strtoul(buf + p, NULL, 16);
            p = (size_t)(crlf - buf) + 2;
            if (sz == 0) return len >= p + 2 ? (long)(p + 2) : 0; /* no trailers expected */
            if (len < p + sz + 2) return 0;
            p += sz + 2;
        }
    }
    if (has_cl || *status == 204 || *status == 304 || (*status >= 100 && *status < 200))
        return len >= head + cl ? (long)(head + cl) : 0;
    /* Close-delimited body. */
    *close_conn = 1;
    return eof ? (long)len : 0;
}

static void on_readable(conn_t *c)
{
    int eof = 0;

    for (;;) {
        ssize_t n;
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = xrealloc(c->in, c->in_cap);
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno != EAGAIN) eof = 1;
        break;
    }
    while (c->in_len > 0 && c->req >= 0) {
        int status = 0, close_conn = 0;
        long used = parse_response(c->in, c->in_len, &status, &close_conn, eof);
        if (used == 0) break;
        if (used < 0) {
            conn_drop(c);
            return;
        }
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        if (status >= 100 && status < 200) continue; /* interim response: the final one follows */
        finish_request(c, status);
        c->state = C_IDLE;
        if (close_conn) {
            conn_drop(c);
            return;
        }
    }
    if (eof) conn_drop(c);
}

static int parse_url(const char *url)
{
    const char *p, *slash, *colon;
    char host[64];
    long port;

    if (strncmp(url, "http://", 7) != 0) return -EINVAL;
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL) slash = p + strlen(p);
    if ((size_t)(slash - p) >= sizeof(o.hostport)) return -EINVAL;
    memcpy(o.hostport, p, (size_t)(slash - p));
    o.hostport[slash - p] = '\0';
    o.path = *slash ? slash : "/";
    colon = strrchr(o.hostport, ':');
    if (colon == NULL) return -EINVAL;
    memcpy(host, o.hostport, (size_t)(colon - o.hostport));
    host[colon - o.hostport] = '\0';
    port = atol(colon + 1);
    if (port < 1 || port > 65535) return -EINVAL;
    o.addr.sin_family = AF_INET;
    o.addr.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &o.addr.sin_addr) == 1 ? 0 : -EINVAL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, double p)
{
    long i;
    if (lat_n == 0) return 0;
    i = (long)(p / 100.0 * (double)lat_n);
    return v[i >= lat_n ? lat_n - 1 : i];
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --url http://127.0.0.1:PORT/events --count N [--rate EVENTS_PER_S (0 = "
            "unpaced)]\n"
            "          [--connections C] [--batch B] [--body-bytes B] [--type T] [--id-prefix P] "
            "[--token T]\n"
            "          [--log FILE (id send_ns ack_ns status per 2xx event)] [--timeout-s S]\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    struct sigaction act;
    double t_end;
    long sent_events;
    int rc;

    o.connections = 16;
    o.batch = 1;
    o.body_bytes = 600;
    o.timeout_s = 300;
    o.type = "message_created";
    snprintf(o.prefix, sizeof(o.prefix), "pp%lx%x", (long)time(NULL), (unsigned)getpid());
    /* Every option takes a value, so options come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage(argv[0]);
            return 2;
        }
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--count") == 0)
            o.count = atol(v);
        else if (strcmp(a, "--rate") == 0)
            o.rate = atof(v);
        else if (strcmp(a, "--connections") == 0)
            o.connections = atol(v);
        else if (strcmp(a, "--batch") == 0)
            o.batch = atol(v);
        else if (strcmp(a, "--body-bytes") == 0)
            o.body_bytes = atol(v);
        else if (strcmp(a, "--type") == 0)
            o.type = v;
        else if (strcmp(a, "--id-prefix") == 0)
            snprintf(o.prefix, sizeof(o.prefix), "%s", v);
        else if (strcmp(a, "--token") == 0)
            o.token = v;
        else if (strcmp(a, "--log") == 0)
            o.log_path = v;
        else if (strcmp(a, "--timeout-s") == 0)
            o.timeout_s = atol(v);
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (url == NULL || parse_url(url) != 0 || o.count <= 0 || o.rate < 0 || o.connections <= 0 ||
        o.connections > 4096 || o.batch <= 0 || o.batch > 1000 || o.body_bytes < 64 ||
        o.timeout_s <= 0 || strlen(o.type) > 64 || strlen(o.path) > 200 ||
        (o.token != NULL && strlen(o.token) > 200)) {
        usage(argv[0]);
        return 2;
    }
    if (o.log_path != NULL) {
        if ((logf = fopen(o.log_path, "w")) == NULL) {
            fprintf(stderr, "paced_post: %s: %s\n", o.log_path, strerror(errno));
            return 1;
        }
        setvbuf(logf, NULL, _IOFBF, 1 << 20);
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    total_req = (o.count + o.batch - 1) / o.batch;
    lat_ms = xrealloc(NULL, (size_t)total_req * sizeof(double));
    sched_ms = xrealloc(NULL, (size_t)total_req * sizeof(double));
    conns = xrealloc(NULL, (size_t)o.connections * sizeof(conn_t));
    memset(conns, 0, (size_t)o.connections * sizeof(conn_t));
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd >= 0) {
        struct epoll_event tev;
        tev.events = EPOLLIN;
        tev.data.ptr = NULL;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0) {
            close(tfd);
            tfd = -1;
        }
    }
    for (long i = 0; i < o.connections; i++) {
        conns[i].fd = -1;
        conns[i].req = -1;
        if ((rc = conn_open(&conns[i])) != 0) {
            fprintf(stderr, "paced_post: connect %s: %s\n", o.hostport, strerror(-rc));
            return 1;
        }
    }

    t0 = now_mono();
    t_end = t0 + (double)o.timeout_s;
    while (done_req < total_req && !stopping) {
        struct epoll_event evs[256];
        double now = now_mono(), wait_s = 0.2;
        int nev;

        if (now > t_end) {
            fprintf(stderr, "paced_post: --timeout-s %ld reached\n", o.timeout_s);
            break;
        }
        if (drops_without_progress > 1000) {
            fprintf(stderr, "paced_post: %s keeps dropping connections without answering\n",
                    o.hostport);
            break;
        }
        /* Hand due requests to idle connections; reconnect dropped ones while work remains. */
        for (long i = 0; i < o.connections && next_req < total_req; i++) {
            conn_t *c = &conns[i];
            if (c->state == C_DOWN && conn_open(c) != 0) continue;
            if (c->state == C_IDLE && due_at(next_req) <= now) send_request(c, next_req++);
        }
        if (next_req < total_req) wait_s = due_at(next_req) - now_mono();
        /* A request that was due and is still unsent found no idle connection: wait for one to
         * answer instead of spinning (the spin would take the CPU from whatever shares it, e.g.
         * the sink). */
        if (next_req < total_req && due_at(next_req) <= now) wait_s = 0.2;
        if (wait_s < 0) wait_s = 0;
        if (wait_s > 0.2) wait_s = 0.2;
        /* epoll_wait counts whole milliseconds, which would send up to 1 ms late (and bias the
         * latency from the due time); the timerfd fires at the due time itself. */
        if (tfd >= 0 && wait_s > 0 && wait_s < 0.2) {
            struct itimerspec its;
            double due = due_at(next_req);
            memset(&its, 0, sizeof(its));
            its.it_value.tv_sec = (time_t)due;
            its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
            if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            nev = epoll_wait(ep, evs, 256, 200);
        } else {
            nev = epoll_wait(ep, evs, 256, (int)(wait_s * 1000.0 + 0.999));
        }
        for (int i = 0; i < nev; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) { /* the timer: just consume its count (EAGAIN if re-armed since) */
                uint64_t expirations;
                ssize_t r = read(tfd, &expirations, sizeof(expirations));
                (void)r;
                continue;
            }
            if (c->fd < 0) continue;
            if (evs[i].events & EPOLLERR) {
                conn_drop(c);
                continue;
            }
            if (c->state == C_CONNECTING && (evs[i].events & EPOLLOUT)) c->state = C_IDLE;
            if (c->state == C_BUSY && (evs[i].events & EPOLLOUT)) {
                while (c->out_off < c->out_len) {
                    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                    if (w <= 0) break;
                    c->out_off += (size_t)w;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) on_readable(c);
        }
    }
    t_end = now_mono();
    if (logf != NULL) fclose(logf);
    sent_events = next_req * o.batch < o.count ? next_req * o.batch : o.count;
    qsort(lat_ms, (size_t)lat_n, sizeof(double), cmp_double);
    qsort(sched_ms, (size_t)lat_n, sizeof(double), cmp_double);
    /* sched_*: from the time the request was due (t0 + i*B/R), so time spent waiting for a free
     * connection counts too (no coordinated omission); equal to p50/p99 when nothing was late. */
    printf("paced_post: events=%ld sent=%ld ok=%ld unacked=%ld non2xx_requests=%ld "
           "failed_requests=%ld requests=%ld seconds=%.3f "
           "events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f sched_p50_ms=%.3f sched_p99_ms=%.3f "
           "max_behind_ms=%.3f\n",
           o.count, sent_events, ok_events, unacked_events, non2xx_requests, failed_requests,
           done_req, t_end - t0, (double)ok_events / (t_end - t0), pct(lat_ms, 50),
           pct(lat_ms, 99), pct(sched_ms, 50), pct(sched_ms, 99), max_behind_ms);
    return ok_events == o.count ? 0 : 1;
}
