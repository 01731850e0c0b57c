/* curl_blast.c -- delivery ceiling: libcurl multi (socket API + epoll) POSTing N bodies over C
 * keep-alive connections. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

typedef struct blast {
    CURLM *multi;
    int ep;
    long timer_ms; /* -1: no timer armed */
    double timer_due;
    long requests, started, ok, errors;
} blast_t;

static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    blast_t *b = userp;
    struct epoll_event ev;

    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(b->ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(b->ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        epoll_ctl(b->ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    blast_t *b = userp;

    (void)multi;
    b->timer_ms = timeout_ms;
    b->timer_due = timeout_ms < 0 ? 0 : now_s() + (double)timeout_ms / 1000.0;
    return 0;
}

/* The header set of a hookgate delivery, with values of the same sizes: the ceiling sends
 * the same requests, only without producing them. Returns the list and its webhook-id line,
 * which start_request rewrites for each request. */
static struct curl_slist *delivery_headers(struct curl_slist **id_line)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: hookgate/0.0.0");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, "webhook-id: blast-000000-000000");
    for (*id_line = h; (*id_line)->next; *id_line = (*id_line)->next)
        ;
    h = curl_slist_append(h, "webhook-timestamp: 1764633600");
    h = curl_slist_append(h, "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=");
    if (h == NULL) abort();
    return h;
}

/* Each request gets a webhook-id of its own (same length), as deliveries do: the sink keeps
 * the set of ids it has answered, and that set must cost it as much here as for hookgate. */
static void start_request(blast_t *b, CURL *easy)
{
    char *id_line;
    unsigned long k = (unsigned long)b->started++;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &id_line);
    snprintf(id_line, sizeof("webhook-id: blast-000000-000000"), "webhook-id: blast-%06lu-%06lu",
             k / 1000000 % 1000000, k % 1000000);
    curl_multi_add_handle(b->multi, easy);
}

/* Counts finished transfers and puts each easy handle straight back to work while requests remain:
   re-adding a handle keeps its connection in the multi's cache, so no reconnects. */
static void reap(blast_t *b)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        long code = 0;

        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        if (msg->data.result == CURLE_OK && code >= 200 && code < 300)
            b->ok++;
        else
            b->errors++;
        curl_multi_remove_handle(b->multi, easy);
        if (b->started < b->requests) start_request(b, easy);
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --url URL --requests N --connections C [--body-bytes B] [--timeout-s S]\n"
            "  POSTs N JSON bodies of ~B bytes (default 600) over C keep-alive connections and "
            "prints requests/s\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long connections = 0, body_bytes = 600, timeout_s = 300;
    blast_t b = {.timer_ms = -1};
    CURL **easies;
    struct curl_slist **headers;
    char *body;
    int n, running = 0;
    double t0, t1;

    /* Every option takes a value, so options come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(a, "--url") == 0)
            url = v;
        else if (v != NULL && strcmp(a, "--requests") == 0)
            b.requests = atol(v);
        else if (v != NULL && strcmp(a, "--connections") == 0)
            connections = atol(v);
        else if (v != NULL && strcmp(a, "--body-bytes") == 0)
            body_bytes = atol(v);
        else if (v != NULL && strcmp(a, "--timeout-s") == 0)
            timeout_s = atol(v);
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (url == NULL || b.requests <= 0 || connections <= 0 || connections > 10000 ||
        body_bytes < 64 || body_bytes > 16 * 1024 * 1024 || timeout_s <= 0) {
        usage(argv[0]);
        return 2;
    }

    /* A delivery-shaped body: an envelope whose payload is padded to the requested size. */
    body = malloc((size_t)body_bytes + 1);
    if (body == NULL) abort();
    n = snprintf(
        body, (size_t)body_bytes + 1,
        "{\"type\":\"message_created\",\"id\":\"blast\",\"occurred_at\":\"2026-11-27T10:00:00Z\","
        "\"payload\":{\"text\":\"");
    while (n < body_bytes - 3)
        body[n++] = 'x';
    memcpy(body + n, "\"}}", 3);
    n += 3;
    body[n] = '\0';

    curl_global_init(CURL_GLOBAL_DEFAULT);
    b.multi = curl_multi_init();
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    curl_multi_setopt(b.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(b.multi, CURLMOPT_SOCKETDATA, &b);
    curl_multi_setopt(b.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(b.multi, CURLMOPT_TIMERDATA, &b);
    curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
    curl_multi_setopt(b.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections);
    curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, connections);

    easies = calloc((size_t)connections, sizeof(*easies));
    headers = calloc((size_t)connections, sizeof(*headers));
    if (easies == NULL || headers == NULL) abort();
    for (long i = 0; i < connections; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
        struct curl_slist *id_line;
        headers[i] = delivery_headers(&id_line);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, id_line->data);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
        easies[i] = e;
    }

    t0 = now_s();
    double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < connections && b.started < b.requests; i++)
        start_request(&b, easies[i]);
    curl_multi_socket_action(b.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    reap(&b);
    while (b.ok + b.errors < b.requests) {
        struct epoll_event evs[256];
        int wait_ms = 200, nev;

        if (now_s() - t0 > (double)timeout_s) {
            fprintf(stderr, "curl_blast: --timeout-s %ld reached\n", timeout_s);
            break;
        }
        if (b.timer_ms >= 0) {
            double left = (b.timer_due - now_s()) * 1000.0;
            wait_ms = left <= 0 ? 0 : left < 200 ? (int)left + 1 : 200;
        }
        nev = epoll_wait(b.ep, evs, 256, wait_ms);
        for (int i = 0; i < nev; i++) {
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(b.multi, evs[i].data.fd, flags, &running);
        }
        if (b.timer_ms >= 0 && now_s() >= b.timer_due) {
            b.timer_ms = -1;
            curl_multi_socket_action(b.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap(&b);
    }
    t1 = now_s();
    /* CPU per request: unlike the rate, other work on the machine hardly moves it. */
    double cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;

    printf("curl_blast: requests=%ld ok=%ld errors=%ld connections=%ld body_bytes=%d seconds=%.3f "
           "rps=%.0f cpu_us_per_request=%.2f\n",
           b.requests, b.ok, b.errors, connections, n, t1 - t0,
           (double)(b.ok + b.errors) / (t1 - t0),
           cpu_s * 1e6 / (double)(b.ok + b.errors ? b.ok + b.errors : 1));
    for (long i = 0; i < connections; i++) {
        curl_multi_remove_handle(b.multi, easies[i]);
        curl_easy_cleanup(easies[i]);
    }
    curl_multi_cleanup(b.multi);
    for (long i = 0; i < connections; i++)
        curl_slist_free_all(headers[i]);
    free(headers);
    curl_global_cleanup();
    free(easies);
    free(body);
    close(b.ep);
    return b.ok == b.requests ? 0 : 1;
}
