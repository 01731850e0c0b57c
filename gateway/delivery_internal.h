/* delivery_internal.h -- what the delivery worker's files share: its state and the calls
 * between them. delivery.c runs the loop, the claims, the attempts and their outcomes;
 * delivery_subs.c keeps per-subscriber state (profiles, circuit, pause, rate limit);
 * delivery_order.c keeps order indexes in step with the config. Only those files include
 * this (its functions carry the dlv__ prefix); the worker's interface is delivery.h. */
#ifndef HOOKGATE_DELIVERY_INTERNAL_H
#define HOOKGATE_DELIVERY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/log.h"
#include "gateway/attempt.h"
#include "gateway/circuit.h"
#include "gateway/delivery.h"
#include "gateway/idset.h"
#include "gateway/logrl.h"
#include "gateway/ratelimit.h"
#include "gateway/sign.h"
#include "gateway/writer.h"
#include "store/store.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define POLL_MAX_MS 1000 /* longest sleep: also the period of the safety sweeps */
#define PAUSED_UNREAD UINT64_MAX

/* ---- per-subscriber state ---- */

/* What one config snapshot says about a subscriber, prepared once per snapshot: the
 * decoded signing keys and the custom header list. Shared by its running attempts
 * (refcounted, worker thread only) so a reload never pulls it from under them. */
typedef struct {
    unsigned refs;
    const cfg_t *cfg;           /* held while the profile lives */
    const cfg_subscriber_t *cs; /* in cfg */
    struct curl_slist *custom;  /* the subscriber's headers; NULL when none */
    sign_key_t *keys;
    size_t nkeys;
    bool unsignable; /* a secret cannot be decoded: attempts are not sent (never unsigned) */
} profile_t;

typedef struct {
    char *name;
    atomic_size_t in_flight; /* claimed and not yet committed; read by other threads */
    size_t running;          /* of those, HTTP attempts under way */
    profile_t *prof;         /* NULL while the subscriber is not in the config in force */
    int64_t next_due_ms;     /* earliest known due time of an unclaimed delivery */
    uint64_t fails;          /* failed attempts not yet reported in the log */
    int64_t fail_log_next;   /* mono time from which the next report may be logged */
    int64_t hold_until_mono; /* no claims before: an outcome of this subscriber could not be
                                recorded, and its delivery must not be retried at once */
    /* Health and flow control (README "Subscriber health and flow control"). */
    bool paused;          /* as last read from the store */
    bool paused_read;     /* dlv__refresh_paused's scratch */
    circuit_t circuit;    /* mono times */
    ratelimit_t rate;     /* mono times */
    uint64_t fail_streak; /* failed attempts since the last success, for the recovery line */
    /* The circuit as shown to other threads: circuit_state_t, and the wall time at which an
     * open circuit lets its probe go (0 when closed). */
    atomic_int shown_state;
    _Atomic int64_t shown_open_until_ms;
} sub_t;

/* The clocks, read once per loop iteration or per batch of events and handed to the
 * decisions, which never read them themselves. */
typedef struct {
    int64_t now;  /* rt_now_ms() */
    int64_t mono; /* rt_mono_ms() */
} instant_t;

/* ---- deliveries and HTTP attempts ---- */

struct xfer;

/* An HTTP attempt under way: an easy handle, the request headers and what the callbacks
 * capture. Pooled with its handle, so the steady state allocates nothing here per request;
 * there are only as many as attempts ever ran at once. */
typedef struct req {
    CURL *easy;
    struct req *next;     /* free list */
    struct req *all_next; /* every req ever made, for stop and free */
    struct xfer *x;       /* the delivery being attempted; NULL while idle */
    profile_t *prof;      /* held while running */
    int64_t t0_mono;
    /* Request headers: fixed nodes and nodes pointing into hbuf, chained to prof->custom. */
    struct curl_slist hdr[6];
    char *hbuf;
    size_t hcap;
    char errbuf[CURL_ERROR_SIZE];
    attempt_retry_after_t retry_after;
} req_t;

/* One claimed delivery, from the claim until its outcome is committed; also the op the
 * writer applies. Its body is freed as soon as the attempt ends, so an outcome waiting for
 * the commit costs only this small struct. */
typedef struct xfer {
    wr_op_t op;
    struct dlv *d;
    struct xfer *next;     /* free list, or the list of done ops */
    struct xfer *all_next; /* every xfer ever made, for stop and free */
    sub_t *sub;
    uint64_t id;
    uint32_t attempts;   /* made before this one */
    store_claim_t claim; /* event id and body, until the attempt ends */
    int64_t at_ms;
    /* The outcome op's inputs and outputs. */
    attempt_result_t res; /* verdict, due time and error text */
    const char *reason;   /* ATTEMPT_DEAD without an attempt: replaces last_error */
    bool corrupt;         /* the claim was corrupt: buried by its due key */
    int64_t due_ms;       /* the claim's due time */
    bool has_attempt;
    bool probe;              /* the half-open circuit's single attempt */
    store_attempt_t attempt; /* attempt.error points at res.error */
    double seconds;          /* the attempt's duration for metrics; -1 without one */
    int apply_rc, done_rc;
} xfer_t;

/* The job that keeps one subscriber's order index in step with its `ordered` setting
 * (store_order_step), one bounded step per writer transaction; also the op the writer
 * applies. One at a time. */
typedef struct {
    wr_op_t op;
    struct dlv *d;
    char *name;                        /* the subscriber; NULL when no job runs */
    bool on;                           /* build (true) or drop */
    store_order_cursor_t cur, cur_out; /* the step's input, and its output */
    bool more;
    int apply_rc;
    int done_rc;  /* under d->mu */
    bool done;    /* under d->mu: on_done ran */
    bool running; /* worker thread: submitted, its answer not taken yet */
} order_job_t;

struct dlv {
    store_t *st;
    wr_t *w;
    CURLM *multi;
    int ep;   /* epoll: curl's sockets and evfd */
    int evfd; /* eventfd that wakes the loop; any thread writes it */
    pthread_t thread;
    atomic_bool stopping;
    atomic_bool notified;
    /* store_paused_changes when the paused flags were last read; PAUSED_UNREAD forces a
     * read (at start, and after a reload made new sub_t's). */
    uint64_t paused_seen;
    uint32_t grace_ms; /* written before stopping is set */

    pthread_mutex_t mu; /* guards done_head and the wakeups of on_done */
    xfer_t *done_head;  /* ops whose on_done ran, not yet seen by the worker */

    pthread_mutex_t subs_mu;     /* guards growth of subs for dlv_in_flight's readers */
    pthread_mutex_t inflight_mu; /* guards changes of inflight for dlv_is_in_flight's readers */
    sub_t **subs;
    size_t nsubs, subs_cap;

    /* Worker thread only from here on. */
    int64_t timer_due; /* curl's timer as a mono time; -1 when none */
    int64_t mono;      /* mono time of the last clock read: curl sets its timer often */
    const cfg_t *cfg;  /* held; profiles hold the configs they point into */
    uint64_t cfg_gen;  /* rt_config_generation() when cfg was taken */
    sub_t **map;       /* map[i] is the state of cfg->subscribers[i] */
    size_t rr;         /* round-robin start, so no subscriber always gets the global cap first */
    idset_t inflight;
    size_t total; /* claimed and not yet committed, all subscribers */
    size_t nrunning, ncommitting;
    xfer_t *free_list, *all;
    req_t *free_reqs, *all_reqs;
    store_claim_t *scratch;
    size_t scratch_cap;
    uint64_t rng;
    bool removed_more; /* the last removed-subscriber batch was full: look again soon */
    /* Messages that can repeat at the loop's or the delivery rate, one limiter each. */
    logrl_t rl_claim, rl_list, rl_record, rl_corrupt, rl_removed, rl_order;
    order_job_t job;
    bool reconcile;          /* look for an order index to build or drop */
    int64_t reconcile_after; /* mono: not before (after a failure) */
};

/* delivery.c */
/* One log line, prefixed "delivery: ". */
__attribute__((format(printf, 2, 3))) void dlv__log(log_level_t level, const char *fmt, ...);
/* Wakes the worker's loop; any thread. */
void dlv__wake(struct dlv *d);

/* delivery_subs.c */
void dlv__profile_unref(profile_t *p);
sub_t *dlv__sub_get(struct dlv *d, const char *name);
bool dlv__sync_config(struct dlv *d);
void dlv__log_failure(sub_t *s, const char *error, int64_t mono);
const cfg_breaker_t *dlv__policy_breaker(const sub_t *s);
void dlv__note_health(xfer_t *x, const cfg_breaker_t *b, const attempt_in_t *in,
                      const instant_t *t);
size_t dlv__health_allowance(sub_t *s, size_t spare, const instant_t *t, int64_t *blocked_until);
bool dlv__refresh_paused(struct dlv *d, int64_t mono);

/* delivery_order.c */
void dlv__order_job_init(struct dlv *d);
void dlv__order_job_poll(struct dlv *d, int64_t mono);
void dlv__order_reconcile(struct dlv *d, int64_t mono);

#endif
