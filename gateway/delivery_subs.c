/* delivery_subs.c -- the delivery worker's per-subscriber state: the profile each config
 * snapshot gives a subscriber (decoded keys, header list), and its health: failure
 * reports, circuit breaker, pause flags and how many attempts it may start. Worker thread
 * only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "gateway/delivery_internal.h"
#include "gateway/runtime.h"

#define FAIL_LOG_MS 10000 /* at most one failure report per subscriber per period */

void dlv__profile_unref(profile_t *p)
{
    if (!p || --p->refs > 0) return;
    curl_slist_free_all(p->custom);
    free(p->keys);
    rt_config_release(p->cfg);
    free(p);
}

static profile_t *profile_new(const cfg_t *cfg, const cfg_subscriber_t *cs)
{
    profile_t *p = xcalloc(1, sizeof(*p));
    p->refs = 1;
    p->cfg = rt_config_hold_again(cfg);
    p->cs = cs;
    /* config.c has checked names and values (no control characters, none reserved). */
    for (size_t i = 0; i < cs->nheaders; i++) {
        const cfg_header_t *h = &cs->headers[i];
        size_t n = strlen(h->name) + strlen(h->value) + 3;
        char *line = xcalloc(1, n);
        snprintf(line, n, "%s: %s", h->name, h->value);
        struct curl_slist *l = curl_slist_append(p->custom, line);
        free(line);
        if (!l) xalloc_die();
        p->custom = l;
    }
    p->keys = xcalloc(cs->nsecrets, sizeof(*p->keys));
    size_t bad;
    if (attempt_keys(cs->secrets, cs->nsecrets, p->keys, &bad) == 0) {
        p->nkeys = cs->nsecrets;
    } else {
        p->unsignable = true; /* logged once per config; each attempt records the error */
        dlv__log(LOG_ERROR,
             "subscriber %s: secret %zu cannot be decoded; its deliveries fail without being "
             "sent until the config is fixed",
             cs->name, bad);
    }
    return p;
}

/* The state of subscriber name, created on first sight. Worker thread. */
sub_t *dlv__sub_get(struct dlv *d, const char *name)
{
    for (size_t i = 0; i < d->nsubs; i++)
        if (strcmp(d->subs[i]->name, name) == 0) return d->subs[i];
    sub_t *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(name);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->shown_state, (int)CIRCUIT_CLOSED);
    atomic_init(&s->shown_open_until_ms, 0);
    s->next_due_ms = INT64_MIN;
    pthread_mutex_lock(&d->subs_mu);
    if (d->nsubs == d->subs_cap) {
        d->subs_cap = d->subs_cap ? d->subs_cap * 2 : 16;
        d->subs = xrealloc(d->subs, d->subs_cap * sizeof(*d->subs));
    }
    d->subs[d->nsubs++] = s;
    pthread_mutex_unlock(&d->subs_mu);
    return s;
}

/* Failed attempts are logged at most once per FAIL_LOG_MS per subscriber, with a count:
 * a dead subscriber must not flood the log at the delivery rate. */
void dlv__log_failure(sub_t *s, const char *error, int64_t mono)
{
    s->fails++;
    if (mono < s->fail_log_next) return;
    if (s->fails > 1)
        dlv__log(LOG_WARN,
             "subscriber %s: attempt failed: %s (%" PRIu64
             " failed attempts since the last report)",
             s->name, error, s->fails);
    else
        dlv__log(LOG_WARN, "subscriber %s: attempt failed: %s", s->name, error);
    s->fails = 0;
    s->fail_log_next = mono + FAIL_LOG_MS;
}

/* The breaker in force for s (off while s is not configured). */
const cfg_breaker_t *dlv__policy_breaker(const sub_t *s)
{
    static const cfg_breaker_t off = {0};
    return s->prof ? &s->prof->cs->breaker : &off;
}

static void publish_circuit(sub_t *s, const instant_t *t)
{
    const circuit_t *c = &s->circuit;
    int64_t until = c->state == CIRCUIT_OPEN ? t->now + (c->open_until - t->mono) : 0;
    atomic_store(&s->shown_open_until_ms, until);
    atomic_store(&s->shown_state, (int)c->state);
}

/* Feeds the outcome of x's attempt to its subscriber's circuit and failure streak, and
 * logs what changed. A failed half-open probe is never dead-lettered because its attempts
 * ran out: it waits for the circuit like the deliveries behind it (410 still buries). */
void dlv__note_health(xfer_t *x, const cfg_breaker_t *b, const attempt_in_t *in,
                        const instant_t *t)
{
    sub_t *s = x->sub;
    bool gone = in->transport == ATTEMPT_RESPONSE && in->status == 410;
    circuit_result_t r = x->res.verdict == ATTEMPT_DELIVERED ? CIRCUIT_SUCCESS
                         : gone                              ? CIRCUIT_NEUTRAL
                                                             : CIRCUIT_FAILURE;
    circuit_change_t ch = circuit_record(&s->circuit, b, x->probe, r, t->mono);
    if (ch == CIRCUIT_OPENED) {
        dlv__log(LOG_WARN,
             "subscriber %s: circuit opened for %" PRIu64 " ms (%s; last error: %s); "
             "its deliveries wait, keeping their attempt counts",
             s->name, s->circuit.open_for_ms,
             x->probe ? "the half-open attempt failed" : "too many consecutive failures",
             x->res.error);
    } else if (ch == CIRCUIT_CLOSED_AGAIN) {
        dlv__log(LOG_INFO, "subscriber %s: circuit closed: the half-open attempt succeeded", s->name);
    }
    if (x->probe && r == CIRCUIT_FAILURE && x->res.verdict == ATTEMPT_DEAD) {
        x->res.verdict = ATTEMPT_RETRY;
        x->res.due_ms = t->now + (s->circuit.open_until - t->mono);
    }
    publish_circuit(s, t);
    if (r == CIRCUIT_FAILURE) {
        s->fail_streak++;
    } else if (r == CIRCUIT_SUCCESS && s->fail_streak > 0) {
        dlv__log(LOG_INFO,
             "subscriber %s: recovered: an attempt succeeded after %" PRIu64 " failed attempts",
             s->name, s->fail_streak);
        s->fail_streak = 0;
    }
}

/* Adopts a new config snapshot: fresh profiles (keys decoded, header lists built) for
 * its subscribers, none for the ones it dropped. Returns true when the config changed. */
bool dlv__sync_config(struct dlv *d)
{
    uint64_t gen = rt_config_generation();
    if (d->cfg && gen == d->cfg_gen) return false;
    const cfg_t *cfg = rt_config_hold();
    if (!cfg) return false;
    rt_config_release(d->cfg);
    d->cfg = cfg;
    d->cfg_gen = gen;
    for (size_t i = 0; i < d->nsubs; i++) {
        dlv__profile_unref(d->subs[i]->prof);
        d->subs[i]->prof = NULL;
    }
    d->map = xrealloc(d->map, cfg->nsubscribers * sizeof(*d->map));
    for (size_t i = 0; i < cfg->nsubscribers; i++) {
        sub_t *s = dlv__sub_get(d, cfg->subscribers[i].name);
        s->prof = profile_new(cfg, &cfg->subscribers[i]);
        s->next_due_ms = INT64_MIN;
        ratelimit_set(&s->rate, cfg->subscribers[i].rate_limit_per_s);
        d->map[i] = s;
    }
    /* Idle keep-alive connections worth caching: at most one per concurrent request. The
     * per-host limit stays 0 (none): our per-subscriber caps bound concurrency, and a curl
     * queue would only hide waiting time inside the attempt's timeout. */
    long maxconn = cfg->max_in_flight > 0 ? (long)cfg->max_in_flight : 1;
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, maxconn);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    return true;
}

/* How many of spare attempts s may start at t under its circuit, ordering and rate limit.
 * When none may, *blocked_until is the wall time at which that may change by itself
 * (INT64_MAX when only a finishing attempt can change it: that wakes the loop). */
size_t dlv__health_allowance(sub_t *s, size_t spare, const instant_t *t, int64_t *blocked_until)
{
    const cfg_subscriber_t *cs = s->prof->cs;
    size_t busy = atomic_load_explicit(&s->in_flight, memory_order_relaxed);
    *blocked_until = INT64_MAX;
    circuit_state_t before = s->circuit.state;
    size_t n = circuit_allowance(&s->circuit, &cs->breaker, t->mono, busy);
    if (s->circuit.state != before) publish_circuit(s, t);
    if (n == 0) {
        if (s->circuit.state == CIRCUIT_OPEN)
            *blocked_until = t->now + (s->circuit.open_until - t->mono);
        return 0;
    }
    if (cs->ordered && busy > 0) return 0; /* the previous one's outcome comes first */
    size_t rate = ratelimit_available(&s->rate, t->mono);
    if (rate == 0) {
        *blocked_until = t->now + (ratelimit_next(&s->rate, t->mono) - t->mono);
        return 0;
    }
    if (cs->ordered) n = 1;
    if (rate < n) n = rate;
    return spare < n ? spare : n;
}

static void on_paused(void *ctx, const char *name)
{
    struct dlv *d = ctx;
    for (size_t i = 0; i < d->nsubs; i++)
        if (strcmp(d->subs[i]->name, name) == 0) d->subs[i]->paused_read = true;
}

/* Reads which subscribers are paused when a pause or resume has committed since the last
 * read (its announce makes the next round a sweep), so the many sweeps that follow ingest
 * commits cost no read. On a failed read the flags stay as they were and the next sweep
 * reads again. Returns false when the read failed. */
bool dlv__refresh_paused(struct dlv *d, int64_t mono)
{
    uint64_t changes = store_paused_changes(d->st);
    if (changes == d->paused_seen) return true;
    for (size_t i = 0; i < d->nsubs; i++)
        d->subs[i]->paused_read = false;
    int rc = store_paused_subscribers(d->st, on_paused, d);
    if (rc < 0) {
        logrl_line(&d->rl_list, LOG_WARN, mono, "delivery: cannot read paused subscribers: %s",
                   strerror(-rc));
        return false;
    }
    for (size_t i = 0; i < d->nsubs; i++) {
        sub_t *s = d->subs[i];
        if (s->paused == s->paused_read) continue;
        s->paused = s->paused_read;
        dlv__log(LOG_INFO, "subscriber %s: %s", s->name, s->paused ? "paused" : "resumed");
    }
    d->paused_seen = changes;
    return true;
}
