/* delivery.c -- the delivery worker: claims due deliveries, POSTs them with libcurl-multi
 * on one thread, and records every outcome through the writer. Per-subscriber state is in
 * delivery_subs.c, order index jobs in delivery_order.c; delivery_internal.h holds what
 * they share.
 *
 * The loop drives curl's socket API from epoll: curl_multi_perform would look at every
 * transfer on every wake-up, which costs O(connections) per request at high rates. An
 * eventfd in the same epoll set wakes the loop for new deliveries, committed outcomes
 * and stop. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "gateway/delivery_internal.h"
#include "gateway/health.h"
#include "gateway/metrics.h"
#include "gateway/runtime.h"

#define DELIVERY_NICE 10
#define TRIM_MAP_MS 10 /* period of store_trim_mapped_pages while the worker is awake */
#define TRIM_MAP_BUDGET ((size_t)32 << 20) /* store pages it leaves mapped between drops */
#define BACKLOG 8 /* outcomes awaiting their commit, per unit of the global cap */
#define REMOVED_REASON "subscriber removed"

/* Fixed header lines; curl only reads them. */
static char hdr_content_type[] = "Content-Type: application/json";
static char hdr_user_agent[] = "User-Agent: hookgate/" HOOKGATE_VERSION;
static char hdr_expect[] = "Expect:"; /* no 100-continue round trip */

/* ---- small helpers ---- */

void dlv__log(log_level_t level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_line(level, "delivery: %s", line);
}

/* ---- curl callbacks ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * nmemb; /* response bodies are not kept */
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ctx)
{
    req_t *r = ctx;
    attempt_header_line(&r->retry_after, line, size * nitems);
    return size * nitems;
}

void dlv__wake(struct dlv *d)
{
    uint64_t one = 1;
    /* Only EAGAIN can fail here (the counter is saturated), and then a wakeup is pending. */
    if (write(d->evfd, &one, sizeof(one)) < 0) return;
}

/* curl's socket callback: mirror what curl waits for into the epoll set. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ctx, void *sockp)
{
    struct dlv *d = ctx;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(d->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    /* sockp marks sockets already in the set; curl drops it when the socket goes. */
    int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(d->ep, op, fd, &ev) != 0) {
        if (errno == ENOENT)
            epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev);
        else if (errno == EEXIST)
            epoll_ctl(d->ep, EPOLL_CTL_MOD, fd, &ev);
    }
    if (!sockp) curl_multi_assign(d->multi, fd, d);
    return 0;
}

/* curl's timer callback: remember when curl wants socket_action(CURL_SOCKET_TIMEOUT). */
static int on_timer(CURLM *multi, long timeout_ms, void *ctx)
{
    struct dlv *d = ctx;
    (void)multi;
    d->timer_due = timeout_ms < 0 ? -1 : d->mono + timeout_ms;
    return 0;
}

/* ---- outcome ops (apply and on_done run on the writer thread) ---- */

static int on_apply(wr_op_t *op, store_wtxn_t *tx)
{
    xfer_t *x = container_of(op, xfer_t, op);
    const store_attempt_t *a = x->has_attempt ? &x->attempt : NULL;
    int rc;
    switch (x->res.verdict) {
    case ATTEMPT_DELIVERED: rc = store_ack(tx, x->id, a); break;
    case ATTEMPT_RETRY: rc = store_reschedule(tx, x->id, x->res.due_ms, a); break;
    /* stamped at commit time so dead letters enter the index in commit order */
    default:
        rc = x->corrupt ? store_bury_corrupt(tx, x->sub->name, x->due_ms, x->id, rt_now_ms())
                        : store_bury(tx, x->id, rt_now_ms(), a, x->reason);
        break;
    }
    x->apply_rc = rc;
    /* -ENOENT: the delivery was redriven, deleted or finished meanwhile; nothing to record. */
    return rc == -ENOENT ? 0 : rc;
}

static void on_done(wr_op_t *op, int rc)
{
    xfer_t *x = container_of(op, xfer_t, op);
    struct dlv *d = x->d;
    x->done_rc = rc;
    /* The wakeup happens under the lock: the worker closes the eventfd only after it has
     * taken every op off this list, so it cannot be gone here. A non-empty list already
     * has a wakeup pending. */
    pthread_mutex_lock(&d->mu);
    bool was_empty = d->done_head == NULL;
    x->next = d->done_head;
    d->done_head = x;
    if (was_empty) dlv__wake(d);
    pthread_mutex_unlock(&d->mu);
}

/* ---- the worker ---- */

static xfer_t *xfer_get(struct dlv *d)
{
    xfer_t *x = d->free_list;
    if (x) {
        d->free_list = x->next;
    } else {
        x = xcalloc(1, sizeof(*x));
        x->d = d;
        x->op.apply = on_apply;
        x->op.on_done = on_done;
        x->op.relaxed = true; /* a lost outcome means one more delivery: at-least-once */
        x->all_next = d->all;
        d->all = x;
    }
    x->next = NULL;
    return x;
}

/* Takes ownership of claim c for sub s: the id joins the in-flight set until its outcome
 * is committed (or the attempt is abandoned at stop). */
static xfer_t *xfer_claim(struct dlv *d, sub_t *s, store_claim_t *c)
{
    xfer_t *x = xfer_get(d);
    x->claim = *c;
    x->corrupt = c->corrupt;
    x->due_ms = c->due_ms;
    x->id = c->id;
    x->attempts = c->attempts;
    x->probe = false;
    x->sub = s;
    pthread_mutex_lock(&d->inflight_mu);
    idset_add(&d->inflight, x->id);
    pthread_mutex_unlock(&d->inflight_mu);
    atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed);
    d->total++;
    return x;
}

static void xfer_release(struct dlv *d, xfer_t *x)
{
    pthread_mutex_lock(&d->inflight_mu);
    idset_del(&d->inflight, x->id);
    pthread_mutex_unlock(&d->inflight_mu);
    atomic_fetch_sub_explicit(&x->sub->in_flight, 1, memory_order_relaxed);
    d->total--;
    store_claim_clear(&x->claim);
    x->sub = NULL;
    x->next = d->free_list;
    d->free_list = x;
}

static void submit(struct dlv *d, xfer_t *x)
{
    /* An ordered subscriber's next delivery and a half-open circuit's verdict wait for this
     * outcome's commit; any other outcome may wait for company (cheaper commits). */
    const sub_t *s = x->sub;
    x->op.deferrable = !x->probe && !(s->prof && s->prof->cs->ordered);
    d->ncommitting++;
    wr_submit(d->w, &x->op);
}

static req_t *req_get(struct dlv *d)
{
    req_t *r = d->free_reqs;
    if (r) {
        d->free_reqs = r->next;
        return r;
    }
    r = xcalloc(1, sizeof(*r));
    r->all_next = d->all_reqs;
    d->all_reqs = r;
    CURL *e = r->easy = curl_easy_init();
    if (!e) xalloc_die();
    /* Options that never change for this handle; the per-request ones are set in
     * start_attempt, every time, so the handle needs no curl_easy_reset. */
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    return r;
}

/* Ends r's attempt (the handle is out of the multi) and returns it to the pool. */
static void req_put(struct dlv *d, req_t *r)
{
    d->nrunning--;
    r->x->sub->running--;
    r->x = NULL;
    dlv__profile_unref(r->prof);
    r->prof = NULL;
    r->next = d->free_reqs;
    d->free_reqs = r;
}

/* Builds the request headers of x's attempt into r (no allocation once hbuf is big enough). */
static void build_headers(req_t *r, const xfer_t *x, int64_t ts)
{
    const profile_t *p = r->prof;
    const char *id = x->claim.event_id ? x->claim.event_id : "";
    size_t idlen = strlen(id);
    size_t need = attempt_headers_size(idlen, p->nkeys);
    if (need > r->hcap) {
        r->hcap = need + 64;
        r->hbuf = xrealloc(r->hbuf, r->hcap);
    }
    struct curl_slist *h = r->hdr;
    h[0].data = hdr_content_type;
    h[1].data = hdr_user_agent;
    h[2].data = hdr_expect;
    int n = attempt_headers(id, idlen, ts, p->keys, p->nkeys, x->claim.body ? x->claim.body : "",
                            x->claim.body_len, r->hbuf);
    size_t last = 2;
    for (char *b = r->hbuf; n-- > 0; b += strlen(b) + 1)
        h[++last].data = b;
    for (size_t i = 0; i < last; i++)
        h[i].next = &h[i + 1];
    h[last].next = p->custom;
}

/* Decides the outcome of x's attempt (in: how it went, completed here), records the
 * attempt in x's op and submits it; the body is freed. */
static void record_attempt(struct dlv *d, xfer_t *x, const cfg_retry_t *policy, attempt_in_t *in,
                           int64_t duration_ms, double seconds, const instant_t *t)
{
    in->attempt = x->attempts + 1;
    in->policy = policy;
    in->now_ms = t->now;
    in->rand01 = attempt_rand01(&d->rng);
    attempt_decide(in, &x->res);
    x->reason = NULL;
    x->has_attempt = true;
    x->attempt.at_ms = x->at_ms;
    x->attempt.status = (int32_t)in->status;
    x->attempt.duration_ms = duration_ms < 0            ? 0
                             : duration_ms > UINT32_MAX ? UINT32_MAX
                                                        : (uint32_t)duration_ms;
    x->attempt.error = x->res.error;
    x->seconds = seconds >= 0 ? seconds : (double)x->attempt.duration_ms / 1e3;
    if (x->res.verdict != ATTEMPT_DELIVERED) dlv__log_failure(x->sub, x->res.error, t->mono);
    dlv__note_health(x, dlv__policy_breaker(x->sub), in, t);
    store_claim_clear(&x->claim);
    submit(d, x);
}

/* Dead-letters x without an attempt: its record is corrupt (the store names the error), or
 * its subscriber was removed (reason replaces its last error). */
static void bury_claim(struct dlv *d, xfer_t *x, const char *reason)
{
    x->res.verdict = ATTEMPT_DEAD;
    x->has_attempt = false;
    x->seconds = -1;
    x->reason = reason;
    store_claim_clear(&x->claim);
    submit(d, x);
}

static attempt_transport_t transport_of(CURLcode res)
{
    switch (res) {
    case CURLE_OK: return ATTEMPT_RESPONSE;
    case CURLE_OPERATION_TIMEDOUT: return ATTEMPT_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return ATTEMPT_CONNECT_ERROR;
    default: return ATTEMPT_OTHER_ERROR;
    }
}

/* Turns r's finished attempt (ran: it was in the multi) into its outcome op and frees the
 * request. */
static void finish_attempt(struct dlv *d, req_t *r, CURLcode res, bool ran, const instant_t *t)
{
    xfer_t *x = r->x;
    long status = 0;
    curl_off_t us = -1; /* curl's timer has microseconds: loopback round trips are < 1 ms */
    if (ran) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &us);
    }
    attempt_in_t in = {
        .transport = transport_of(res),
        .status = status,
        .error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res),
        .retry_after = r->retry_after.value,
        .retry_after_len = r->retry_after.len,
    };
    /* Before req_put: the policy lives in the profile r holds. */
    record_attempt(d, x, &r->prof->cs->retry, &in, t->mono - r->t0_mono,
                   us >= 0 ? (double)us / 1e6 : -1, t);
    req_put(d, r);
}

static void start_attempt(struct dlv *d, xfer_t *x, profile_t *p, const instant_t *t)
{
    x->at_ms = t->now;
    if (p->unsignable) {
        attempt_in_t in = {.transport = ATTEMPT_NOT_SENT, .error = ATTEMPT_UNSIGNABLE};
        record_attempt(d, x, &p->cs->retry, &in, 0, 0, t);
        return;
    }
    req_t *r = req_get(d);
    r->x = x;
    r->prof = p;
    p->refs++;
    r->t0_mono = t->mono;
    r->errbuf[0] = '\0';
    r->retry_after.len = 0;
    build_headers(r, x, x->at_ms / 1000);

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, p->cs->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (void *)(x->claim.body ? x->claim.body : ""));
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->claim.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->cs->timeout_ms);
    d->nrunning++;
    x->sub->running++;
    CURLMcode mc = curl_multi_add_handle(d->multi, e);
    if (mc != CURLM_OK) {
        snprintf(r->errbuf, sizeof(r->errbuf), "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        finish_attempt(d, r, CURLE_FAILED_INIT, false, t);
    }
}

static instant_t tick(struct dlv *d)
{
    instant_t t = {.now = rt_now_ms(), .mono = rt_mono_ms()};
    d->mono = t.mono;
    return t;
}

/* Turns the attempts curl has finished into outcomes. The clocks are read when the first
 * one is found, not taken from the start of the loop turn, which may have spent
 * milliseconds claiming: a circuit's open period and an attempt's duration start from when
 * the answer was seen. */
static void read_finished(struct dlv *d)
{
    CURLMsg *m;
    int left;
    instant_t t;
    bool have_t = false;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        if (!have_t) {
            t = tick(d);
            have_t = true;
        }
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result; /* m dies with remove_handle */
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        curl_multi_remove_handle(d->multi, e);
        finish_attempt(d, (req_t *)(void *)priv, res, true, &t);
    }
}

/* Takes the ops whose outcome is durable (or failed) and releases their claims. */
static void drain_done(struct dlv *d, int64_t mono)
{
    pthread_mutex_lock(&d->mu);
    xfer_t *x = d->done_head;
    d->done_head = NULL;
    pthread_mutex_unlock(&d->mu);
    while (x) {
        xfer_t *next = x->next;
        sub_t *s = x->sub;
        d->ncommitting--;
        if (x->done_rc < 0) {
            /* The delivery is still due in the store: claiming it again at once would retry
             * it at the loop's pace while the store cannot record anything. */
            s->hold_until_mono = mono + POLL_MAX_MS;
            logrl_line(&d->rl_record, LOG_WARN, mono,
                       "delivery: cannot record an outcome (%s); the delivery stays pending "
                       "and is attempted again",
                       strerror(-x->done_rc));
        } else if (x->apply_rc == 0) {
            static const metrics_outcome_t outcome[] = {
                [ATTEMPT_DELIVERED] = METRICS_SUCCESS,
                [ATTEMPT_RETRY] = METRICS_FAILURE,
                [ATTEMPT_DEAD] = METRICS_DEAD,
            };
            metrics_delivery(s->name, outcome[x->res.verdict], x->seconds);
            if (x->res.verdict == ATTEMPT_RETRY && x->res.due_ms < s->next_due_ms)
                s->next_due_ms = x->res.due_ms;
        }
        /* An ordered subscriber's next delivery may start now (or its head is due later). */
        if (s->prof && s->prof->cs->ordered) s->next_due_ms = INT64_MIN;
        xfer_release(d, x);
        x = next;
    }
}

/* store_claim_due's skip callback: the in-flight set. */
static bool skip_in_flight(void *ctx, uint64_t id)
{
    return idset_has(ctx, id);
}

static store_claim_t *scratch(struct dlv *d, size_t n)
{
    if (n > d->scratch_cap) {
        d->scratch_cap = n;
        d->scratch = xrealloc(d->scratch, n * sizeof(*d->scratch));
    }
    return d->scratch;
}

/* The caps bound concurrent HTTP attempts, globally and per subscriber. An attempt whose
 * outcome waits for the writer's fsync no longer loads the subscriber, so it frees its slot
 * and its body at once; its id stays in the in-flight set until the commit. Holding slots
 * through the commit halved throughput in the drain benchmark (each slot then idles for a
 * whole group commit per request), and a deeper queue of outcomes lets each commit carry
 * more of them. The outcomes waiting are bounded too: BACKLOG times the global cap, a few
 * hundred bytes each. */

static size_t global_spare(const struct dlv *d)
{
    size_t cap = d->cfg->max_in_flight;
    size_t http = d->nrunning < cap ? cap - d->nrunning : 0;
    size_t mem = d->total < (BACKLOG + 1) * cap ? (BACKLOG + 1) * cap - d->total : 0;
    return http < mem ? http : mem;
}

static size_t sub_spare(const struct dlv *d, const sub_t *s)
{
    size_t lim = s->prof->cs->max_in_flight;
    size_t spare = s->running < lim ? lim - s->running : 0;
    size_t g = global_spare(d);
    return spare < g ? spare : g;
}

/* Starts the attempts of got claims of s, burying corrupt records instead. */
static void adopt_claims(struct dlv *d, sub_t *s, store_claim_t *c, int got, const instant_t *t)
{
    for (int i = 0; i < got; i++) {
        xfer_t *x = xfer_claim(d, s, &c[i]);
        if (!c[i].corrupt) {
            ratelimit_take(&s->rate, t->mono);
            x->probe = circuit_started(&s->circuit);
            start_attempt(d, x, s->prof, t);
            continue;
        }
        logrl_line(&d->rl_corrupt, LOG_WARN, t->mono,
                   "delivery: subscriber %s: delivery %" PRIu64
                   " has a corrupt record; dead-lettered without an attempt",
                   s->name, x->id);
        bury_claim(d, x, NULL);
    }
}

/* Claims and starts what is due at t for every configured subscriber with spare capacity.
 * sweep: new deliveries may have been committed, so every subscriber's known next due
 * time is stale; one without capacity now claims as soon as it has some. Sets *wait_ms to
 * how long the loop may sleep before something becomes due. Returns false when a store
 * read failed. */
static bool claim_round(struct dlv *d, bool sweep, const instant_t *t, int64_t *wait_ms)
{
    bool read_ok = !sweep || dlv__refresh_paused(d, t->mono);
    int64_t earliest = INT64_MAX;
    size_t n = d->cfg->nsubscribers;
    for (size_t k = 0; k < n; k++) {
        sub_t *s = d->map[(d->rr + k) % n];
        if (sweep) s->next_due_ms = INT64_MIN;
        if (t->mono < s->hold_until_mono) {
            int64_t held_until = t->now + (s->hold_until_mono - t->mono);
            if (held_until < earliest) earliest = held_until;
            continue;
        }
        if (s->paused) continue; /* a resume notifies the worker */
        size_t spare = sub_spare(d, s);
        if (spare == 0) continue; /* a finishing attempt wakes the loop */
        int64_t blocked_until;
        spare = dlv__health_allowance(s, spare, t, &blocked_until);
        if (spare == 0) {
            if (blocked_until < earliest) earliest = blocked_until;
            continue;
        }
        if (s->next_due_ms <= t->now) {
            store_claim_t *c = scratch(d, spare);
            int64_t next_due = INT64_MAX;
            int got = s->prof->cs->ordered
                          ? store_claim_first(d->st, s->name, t->now, skip_in_flight, &d->inflight,
                                              c, &next_due)
                          : store_claim_due(d->st, s->name, t->now, spare, skip_in_flight,
                                            &d->inflight, c, &next_due);
            if (got < 0) {
                logrl_line(&d->rl_claim, LOG_WARN, t->mono,
                           "delivery: subscriber %s: cannot read due deliveries: %s", s->name,
                           strerror(-got));
                read_ok = false;
                s->next_due_ms = t->now + POLL_MAX_MS;
                continue;
            }
            s->next_due_ms = next_due;
            adopt_claims(d, s, c, got, t);
            if (sub_spare(d, s) == 0) continue;
        }
        if (s->next_due_ms < earliest) earliest = s->next_due_ms;
    }
    d->rr++;
    int64_t wait = earliest == INT64_MAX ? POLL_MAX_MS : earliest - t->now;
    *wait_ms = wait < 1 ? 1 : wait > POLL_MAX_MS ? POLL_MAX_MS : wait;
    return read_ok;
}

typedef struct {
    const cfg_t *cfg;
    char **names;
    size_t n, cap;
} removed_t;

static void on_pending_subscriber(void *ctx, const char *name)
{
    removed_t *r = ctx;
    if (cfg_find_subscriber(r->cfg, name)) return;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->names = xrealloc(r->names, r->cap * sizeof(*r->names));
    }
    r->names[r->n++] = xstrdup(name);
}

/* Dead-letters the pending deliveries of subscribers no longer configured, in batches
 * bounded by the global cap. All of them, not only the due ones: nobody will ever be
 * waiting for those attempts. Returns false when a store read failed. */
static bool bury_removed(struct dlv *d, int64_t mono)
{
    removed_t r = {.cfg = d->cfg};
    int rc = store_pending_subscribers(d->st, on_pending_subscriber, &r);
    if (rc < 0)
        logrl_line(&d->rl_list, LOG_WARN, mono,
                   "delivery: cannot list subscribers with pending deliveries: %s", strerror(-rc));
    bool read_ok = rc >= 0;
    d->removed_more = false;
    for (size_t i = 0; i < r.n; i++) {
        size_t spare = global_spare(d);
        if (spare == 0) {
            d->removed_more = true;
            break;
        }
        sub_t *s = dlv__sub_get(d, r.names[i]);
        store_claim_t *c = scratch(d, spare);
        int64_t next_due;
        int got = store_claim_due(d->st, s->name, INT64_MAX, spare, skip_in_flight, &d->inflight, c,
                                  &next_due);
        if (got < 0) {
            logrl_line(&d->rl_claim, LOG_WARN, mono,
                       "delivery: subscriber %s (removed): cannot read pending deliveries: %s",
                       s->name, strerror(-got));
            read_ok = false;
            continue;
        }
        if (got > 0)
            logrl_line(&d->rl_removed, LOG_WARN, mono,
                       "delivery: subscriber %s is no longer configured: dead-lettering %d "
                       "pending deliveries",
                       s->name, got);
        if ((size_t)got == spare) d->removed_more = true;
        for (int j = 0; j < got; j++)
            bury_claim(d, xfer_claim(d, s, &c[j]), REMOVED_REASON);
    }
    for (size_t i = 0; i < r.n; i++)
        free(r.names[i]);
    free(r.names);
    return read_ok;
}

/* At the end of the grace period: attempts still running are dropped without an
 * outcome, so they stay PENDING in the store and are retried after the restart. */
static void abandon_running(struct dlv *d)
{
    size_t n = 0;
    for (req_t *r = d->all_reqs; r; r = r->all_next) {
        xfer_t *x = r->x;
        if (!x) continue;
        curl_multi_remove_handle(d->multi, r->easy);
        req_put(d, r);
        xfer_release(d, x);
        n++;
    }
    if (n > 0) dlv__log(LOG_WARN, "grace period over: %zu attempts abandoned (still pending)", n);
}

/* Reads the clocks; curl's timer callback uses d->mono as its base. */

static void run_timer(struct dlv *d, int64_t mono)
{
    if (d->timer_due < 0 || mono < d->timer_due) return;
    d->timer_due = -1;
    int running;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* Waits up to wait_ms for socket events or a wakeup, and hands socket events to curl.
 * Returns the clocks read when the wait ended. */
static instant_t wait_events(struct dlv *d, int64_t wait_ms)
{
    if (d->timer_due >= 0) {
        /* A fresh read: the loop's work since its last one would delay curl's timer. */
        int64_t t = d->timer_due - rt_mono_ms();
        if (t < wait_ms) wait_ms = t;
    }
    struct epoll_event evs[64];
    int n = epoll_wait(d->ep, evs, 64, wait_ms < 0 ? 0 : (int)wait_ms);
    instant_t t = tick(d);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == d->evfd) {
            uint64_t v;
            if (read(d->evfd, &v, sizeof(v)) < 0) continue; /* EAGAIN: already cleared */
            continue;
        }
        int flags = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP)) flags |= CURL_CSELECT_IN;
        if (evs[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (evs[i].events & EPOLLERR) flags |= CURL_CSELECT_ERR;
        int running;
        curl_multi_socket_action(d->multi, fd, flags, &running);
    }
    return t;
}

static void *worker_main(void *arg)
{
    struct dlv *d = arg;
    pthread_setname_np(pthread_self(), "hookgate-dlv");
    /* Producers wait for ingest; deliveries can catch up a moment later. When the CPUs are
     * busy, the scheduler favours the front end and the writer over this thread. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), DELIVERY_NICE) != 0)
        dlv__log(LOG_WARN, "cannot lower the delivery thread's priority: %s", strerror(errno));
    health_worker_running(true, rt_mono_ms());
    bool stopping = false;
    int64_t deadline = 0;
    int64_t next_sweep = INT64_MIN, next_removed = INT64_MIN, next_trim = INT64_MIN;
    for (;;) {
        instant_t t = tick(d);
        drain_done(d, t.mono);
        /* Claims read event bodies all over the store: without this the process's RSS grows
         * towards the store's size (mapped page cache). A failure costs nothing but RSS. */
        if (t.mono >= next_trim) {
            next_trim = t.mono + TRIM_MAP_MS;
            (void)store_trim_mapped_pages(d->st, TRIM_MAP_BUDGET);
        }
        dlv__order_job_poll(d, t.mono);
        if (!stopping && atomic_load(&d->stopping)) {
            stopping = true;
            deadline = t.mono + d->grace_ms;
            if (d->nrunning > 0)
                dlv__log(LOG_INFO, "stopping: waiting up to %" PRIu32 " ms for %zu attempts",
                     d->grace_ms, d->nrunning);
        }
        int64_t wait = POLL_MAX_MS;
        bool changed = !stopping && dlv__sync_config(d);
        if (changed) {
            d->reconcile = true;
            d->paused_seen = PAUSED_UNREAD;
        }
        if (!stopping && d->cfg) {
            dlv__order_reconcile(d, t.mono);
            bool sweep = atomic_exchange(&d->notified, false) || changed || t.mono >= next_sweep;
            if (sweep) next_sweep = t.mono + POLL_MAX_MS;
            bool read_ok = claim_round(d, sweep, &t, &wait);
            if (changed || d->removed_more || t.mono >= next_removed) {
                next_removed = t.mono + POLL_MAX_MS;
                read_ok = bury_removed(d, t.mono) && read_ok;
            }
            if (read_ok) health_worker_progress(t.mono);
            if (next_sweep - t.mono < wait) wait = next_sweep - t.mono;
        }
        run_timer(d, t.mono); /* new transfers start from curl's timer */
        read_finished(d);
        if (stopping) {
            if (d->nrunning > 0 && t.mono >= deadline) abandon_running(d);
            if (d->nrunning == 0 && d->ncommitting == 0 && !d->job.running) break;
            if (d->nrunning > 0 && deadline - t.mono < wait) wait = deadline - t.mono;
        }
        t = wait_events(d, wait);
        run_timer(d, t.mono);
        read_finished(d);
    }
    health_worker_running(false, rt_mono_ms());
    return NULL;
}

/* ---- public API ---- */

/* Frees what dlv_start made besides the thread and the pooled transfers. */
static void close_all(struct dlv *d)
{
    if (d->multi) curl_multi_cleanup(d->multi);
    if (d->evfd >= 0) close(d->evfd);
    if (d->ep >= 0) close(d->ep);
    idset_free(&d->inflight);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->subs_mu);
    pthread_mutex_destroy(&d->inflight_mu);
    free(d);
    curl_global_cleanup();
}

int dlv_start(store_t *st, wr_t *w, dlv_t **out)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -EIO;
    struct dlv *d = xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->subs_mu, NULL);
    pthread_mutex_init(&d->inflight_mu, NULL);
    idset_init(&d->inflight, 1024);
    d->st = st;
    d->w = w;
    d->timer_due = -1;
    dlv__order_job_init(d);
    d->multi = curl_multi_init();
    d->ep = epoll_create1(EPOLL_CLOEXEC);
    d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = d->evfd};
    if (!d->multi || d->ep < 0 || d->evfd < 0 ||
        epoll_ctl(d->ep, EPOLL_CTL_ADD, d->evfd, &ev) != 0) {
        int err = d->multi ? errno : ENOMEM;
        close_all(d);
        return -err;
    }
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, (void *)d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, (void *)d);
    atomic_init(&d->stopping, false);
    atomic_init(&d->notified, true);
    d->paused_seen = PAUSED_UNREAD;
    if (getrandom(&d->rng, sizeof(d->rng), 0) != (ssize_t)sizeof(d->rng))
        d->rng = (uint64_t)rt_mono_ms() ^ ((uint64_t)getpid() << 32);

    /* The worker takes no signals: they belong to the thread that waits for them, and a
     * SIGPIPE from a dead peer must only turn into EPIPE here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&d->thread, NULL, worker_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close_all(d);
        return -rc;
    }
    *out = d;
    return 0;
}

void dlv_notify(dlv_t *d)
{
    /* Already set: a wakeup is pending and the worker has not looked yet. */
    if (!atomic_exchange(&d->notified, true)) dlv__wake(d);
}

size_t dlv_in_flight(dlv_t *d, const char *subscriber)
{
    size_t n = 0;
    pthread_mutex_lock(&d->subs_mu);
    for (size_t i = 0; i < d->nsubs; i++) {
        if (strcmp(d->subs[i]->name, subscriber) == 0) {
            n = atomic_load_explicit(&d->subs[i]->in_flight, memory_order_relaxed);
            break;
        }
    }
    pthread_mutex_unlock(&d->subs_mu);
    return n;
}

void dlv_circuit(dlv_t *d, const char *subscriber, int64_t now_ms, dlv_circuit_t *out)
{
    out->state = CIRCUIT_CLOSED;
    out->open_until_ms = 0;
    pthread_mutex_lock(&d->subs_mu);
    for (size_t i = 0; i < d->nsubs; i++) {
        if (strcmp(d->subs[i]->name, subscriber) != 0) continue;
        out->state = (circuit_state_t)atomic_load(&d->subs[i]->shown_state);
        out->open_until_ms = atomic_load(&d->subs[i]->shown_open_until_ms);
        break;
    }
    pthread_mutex_unlock(&d->subs_mu);
    /* Its period is over: the probe goes as soon as the worker looks. */
    if (out->state == CIRCUIT_OPEN && now_ms >= out->open_until_ms) out->state = CIRCUIT_HALF_OPEN;
    if (out->state != CIRCUIT_OPEN) out->open_until_ms = 0;
}

bool dlv_is_in_flight(dlv_t *d, uint64_t id)
{
    /* The worker alone changes the set (under the lock); its own lookups need none. */
    pthread_mutex_lock(&d->inflight_mu);
    bool in = idset_has(&d->inflight, id);
    pthread_mutex_unlock(&d->inflight_mu);
    return in;
}

void dlv_stop(dlv_t *d, uint32_t grace_ms)
{
    d->grace_ms = grace_ms;
    atomic_store(&d->stopping, true);
    dlv__wake(d);
    pthread_join(d->thread, NULL);

    for (xfer_t *x = d->all, *next; x; x = next) {
        next = x->all_next;
        free(x);
    }
    for (req_t *r = d->all_reqs, *next; r; r = next) {
        next = r->all_next;
        curl_easy_cleanup(r->easy);
        free(r->hbuf);
        free(r);
    }
    for (size_t i = 0; i < d->nsubs; i++) {
        dlv__profile_unref(d->subs[i]->prof);
        ratelimit_free(&d->subs[i]->rate);
        free(d->subs[i]->name);
        free(d->subs[i]);
    }
    free(d->subs);
    free(d->map);
    free(d->scratch);
    free(d->job.name);
    rt_config_release(d->cfg);
    close_all(d);
}
