/* admin.c -- the /admin/ API (inspection and repair of events and dead letters, subscriber
 * counters).
 *
 * Reads go straight to the store (read transactions never block the writer). Changes go
 * through the writer like ingest does: a job is submitted, its on_done posts it back to the
 * loop thread, and only then is the answer sent. Bulk redrive and purge run as a chain of
 * small transactions of CHUNK dead letters each, resubmitted from the loop thread until the
 * selection is exhausted, so ingest never waits behind more than one of them. A bulk walk
 * stops at the dead letters buried after the request arrived: redriven letters that fail
 * again are not redriven a second time by the same request.
 *
 * Dead letters are named by their delivery id as a decimal string ("42"); query strings,
 * ids and cursors are parsed by query.c. */
#include "gateway/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/admin_health.h"
#include "gateway/civil.h"
#include "gateway/jbuf.h"
#include "gateway/query.h"
#include "gateway/runtime.h"

#define CHUNK 500 /* dead letters examined per bulk transaction */

typedef enum { OP_KICK, OP_DELETE } op_kind_t;

/* A change to dead letters on its way through the writer. */
typedef struct admin_job {
    wr_op_t op;
    http_deferred_t defer;
    op_kind_t kind;
    bool bulk;
    uint64_t id;                /* one dead letter */
    query_params_t params;      /* bulk: the selection */
    store_dead_filter_t f;      /* bulk; its strings point into params */
    store_dead_cursor_t cursor; /* bulk: where the next chunk starts */
    int64_t now_ms;             /* due time of redriven letters */
    /* Outputs of apply (it may run twice, so it only overwrites them). */
    store_dead_cursor_t next;
    size_t done;
    bool more;
    int rc; /* the commit's result */
    uint64_t total;
    char client[HTTP_PEER_MAX]; /* the peer's address, for the audit line */
} admin_job_t;

static struct {
    http_deps_t deps;
    ret_t *retention;
} adm;

/* ---- small helpers ---- */

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static void put_str_or_null(jbuf_t *b, const char *s)
{
    if (s && s[0])
        jbuf_str(b, s, strlen(s));
    else
        jbuf_puts(b, "null");
}

static void put_status(jbuf_t *b, int32_t status)
{
    if (status)
        jbuf_printf(b, "%d", status);
    else
        jbuf_puts(b, "null");
}

/* Parses the request's query string, accepting the groups in allowed (QUERY_*). Returns
 * false after sending a 400. */
static bool parse_params(h2o_req_t *req, unsigned allowed, query_params_t *p)
{
    const char *q = "";
    size_t n = 0;
    if (req->query_at != SIZE_MAX) {
        q = req->path.base + req->query_at + 1;
        n = req->path.len - req->query_at - 1;
    }
    char err[200];
    if (query_parse(q, n, allowed, p, err, sizeof(err)) == 0) return true;
    http_send_error(req, 400, "invalid_parameter", err);
    return false;
}

/* ---- reads ---- */

/* The API's state of delivery d: a PENDING one being attempted right now is "in_flight". */
static const char *state_name(const store_delivery_t *d)
{
    switch (d->state) {
    case STORE_PENDING: return dlv_is_in_flight(adm.deps.d, d->id) ? "in_flight" : "pending";
    case STORE_DELIVERED: return "delivered";
    case STORE_DEAD: return "dead";
    }
    return "unknown";
}

/* The DL object's fields, without the closing brace. */
static void put_dead_letter(jbuf_t *b, const store_delivery_t *d)
{
    jbuf_printf(b, "{\"id\":\"%llu\",\"event_id\":", (unsigned long long)d->id);
    jbuf_str(b, d->event_id, strlen(d->event_id));
    jbuf_puts(b, ",\"event_type\":");
    jbuf_str(b, d->event_type, strlen(d->event_type));
    jbuf_puts(b, ",\"subscriber\":");
    jbuf_str(b, d->subscriber, strlen(d->subscriber));
    jbuf_printf(b, ",\"attempts\":%u,\"last_status\":", d->attempts);
    put_status(b, d->last_status);
    jbuf_puts(b, ",\"last_error\":");
    put_str_or_null(b, d->last_error);
    jbuf_puts(b, ",\"first_attempt_at\":");
    jbuf_time(b, d->first_attempt_ms);
    jbuf_puts(b, ",\"dead_at\":");
    jbuf_time(b, d->dead_ms);
}

static void store_failed(h2o_req_t *req)
{
    http_send_error(req, 500, "store_error", "reading the store failed");
}

/* Answers a failed lookup: 404 with not_found as the detail for -ENOENT, 500 for any other
 * error. Returns false, sending nothing, when rc is 0. */
static bool lookup_failed(h2o_req_t *req, int rc, const char *not_found)
{
    if (rc == -ENOENT)
        http_send_error(req, 404, "not_found", not_found);
    else if (rc != 0)
        store_failed(req);
    return rc != 0;
}

/* GET /admin/dead-letters */
static void list_dead(h2o_req_t *req)
{
    query_params_t p;
    if (!parse_params(req, QUERY_FILTERS | QUERY_PAGING, &p)) return;
    store_dead_filter_t f = query_filter(&p);
    store_delivery_t *items = xcalloc(p.limit, sizeof(*items));
    store_dead_cursor_t cur = p.cursor;
    bool more;
    int n = store_list_dead(adm.deps.st, &f, &cur, p.limit, items, &more);
    if (n < 0) {
        free(items);
        store_failed(req);
        return;
    }
    jbuf_t b = {0};
    jbuf_puts(&b, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i) jbuf_puts(&b, ",");
        put_dead_letter(&b, &items[i]);
        jbuf_puts(&b, "}");
        store_delivery_clear(&items[i]);
    }
    free(items);
    jbuf_puts(&b, "],\"next_cursor\":");
    if (more) {
        char cursor[QUERY_CURSOR_LEN + 1];
        query_format_cursor(&cur, cursor);
        jbuf_printf(&b, "\"%s\"", cursor);
    } else {
        jbuf_puts(&b, "null");
    }
    jbuf_puts(&b, "}");
    http_send_json(req, 200, b.p, b.len);
    jbuf_free(&b);
}

/* GET /admin/dead-letters/{id} */
static void show_dead(h2o_req_t *req, uint64_t id)
{
    store_delivery_t d;
    int rc = store_get_delivery(adm.deps.st, id, &d);
    if (rc == 0 && d.state != STORE_DEAD) {
        store_delivery_clear(&d);
        rc = -ENOENT;
    }
    if (lookup_failed(req, rc, "no dead letter with this id")) return;
    jbuf_t b = {0};
    put_dead_letter(&b, &d);
    jbuf_puts(&b, ",\"event\":");
    store_event_t ev;
    if (store_get_event(adm.deps.st, d.event_id, strlen(d.event_id), &ev) == 0) {
        jbuf_put(&b, ev.body, ev.body_len);
        store_event_clear(&ev);
    } else {
        jbuf_puts(&b, "null"); /* cannot happen while the delivery exists; stay valid JSON */
    }
    jbuf_puts(&b, ",\"history\":[");
    for (size_t i = 0; i < d.nhistory; i++) {
        const store_attempt_t *a = &d.history[i];
        if (i) jbuf_puts(&b, ",");
        jbuf_puts(&b, "{\"at\":");
        jbuf_time(&b, a->at_ms);
        jbuf_puts(&b, ",\"status\":");
        put_status(&b, a->status);
        jbuf_puts(&b, ",\"error\":");
        put_str_or_null(&b, a->error);
        jbuf_printf(&b, ",\"duration_ms\":%u}", a->duration_ms);
    }
    jbuf_puts(&b, "]}");
    store_delivery_clear(&d);
    http_send_json(req, 200, b.p, b.len);
    jbuf_free(&b);
}

static void put_delivery_summary(jbuf_t *b, const store_delivery_t *d)
{
    jbuf_puts(b, "{\"subscriber\":");
    jbuf_str(b, d->subscriber, strlen(d->subscriber));
    jbuf_printf(b, ",\"state\":\"%s\",\"attempts\":%u,\"next_attempt_at\":", state_name(d),
                d->attempts);
    jbuf_time(b, d->state == STORE_PENDING ? d->next_attempt_ms : 0);
    jbuf_puts(b, ",\"last_status\":");
    put_status(b, d->last_status);
    jbuf_puts(b, ",\"last_error\":");
    put_str_or_null(b, d->last_error);
    jbuf_puts(b, "}");
}

/* GET /admin/events/{id} */
static void get_event(h2o_req_t *req, const char *id, size_t id_len)
{
    store_event_t ev;
    int rc = store_get_event(adm.deps.st, id, id_len, &ev);
    if (lookup_failed(req, rc, "no event with this id")) return;
    jbuf_t b = {0};
    jbuf_puts(&b, "{\"event\":");
    jbuf_put(&b, ev.body, ev.body_len);
    jbuf_puts(&b, ",\"deliveries\":[");
    size_t shown = 0;
    for (size_t i = 0; i < ev.ndeliveries; i++) {
        store_delivery_t d;
        if (store_get_delivery(adm.deps.st, ev.delivery_ids[i], &d) != 0) continue; /* deleted */
        if (shown++) jbuf_puts(&b, ",");
        put_delivery_summary(&b, &d);
        store_delivery_clear(&d);
    }
    jbuf_puts(&b, "]}");
    http_send_json(req, 200, b.p, b.len);
    jbuf_free(&b);
    store_event_clear(&ev);
}

/* GET /admin/subscribers: the configured subscribers with their durable counters. */
static void list_subscribers(h2o_req_t *req)
{
    query_params_t p;
    if (!parse_params(req, 0, &p)) return;
    const cfg_t *cfg = rt_config_hold();
    jbuf_t b = {0};
    jbuf_puts(&b, "{\"subscribers\":[");
    for (size_t i = 0; i < cfg->nsubscribers; i++) {
        const cfg_subscriber_t *s = &cfg->subscribers[i];
        store_counters_t c;
        bool paused;
        dlv_circuit_t circuit;
        dlv_circuit(adm.deps.d, s->name, rt_now_ms(), &circuit);
        if (store_is_paused(adm.deps.st, s->name, &paused) != 0 ||
            store_get_counters(adm.deps.st, s->name, &c) != 0) {
            jbuf_free(&b);
            rt_config_release(cfg);
            store_failed(req);
            return;
        }
        if (i) jbuf_puts(&b, ",");
        jbuf_puts(&b, "{\"name\":");
        jbuf_str(&b, s->name, strlen(s->name));
        jbuf_puts(&b, ",\"url\":");
        jbuf_str(&b, s->url, strlen(s->url));
        jbuf_puts(&b, ",\"events\":[");
        for (size_t e = 0; e < s->nevents; e++) {
            if (e) jbuf_puts(&b, ",");
            jbuf_str(&b, s->events[e], strlen(s->events[e]));
        }
        jbuf_printf(&b,
                    "],\"pending\":%llu,\"in_flight\":%zu,\"delivered\":%llu,"
                    "\"failed_attempts\":%llu,\"dead\":%llu,\"last_success_at\":",
                    (unsigned long long)c.pending, dlv_in_flight(adm.deps.d, s->name),
                    (unsigned long long)c.delivered, (unsigned long long)c.failed_attempts,
                    (unsigned long long)c.dead);
        jbuf_time(&b, c.last_success_ms);
        jbuf_puts(&b, ",\"last_error\":");
        put_str_or_null(&b, c.last_error);
        jbuf_printf(&b, ",\"paused\":%s,\"circuit\":\"%s\",\"circuit_open_until\":",
                    paused ? "true" : "false", circuit_state_name(circuit.state));
        jbuf_time(&b, circuit.open_until_ms);
        jbuf_puts(&b, "}");
        store_counters_clear(&c);
    }
    jbuf_puts(&b, "]}");
    rt_config_release(cfg);
    http_send_json(req, 200, b.p, b.len);
    jbuf_free(&b);
}

/* ---- changes through the writer ---- */

static int apply_job(wr_op_t *op, store_wtxn_t *tx)
{
    admin_job_t *job = H2O_STRUCT_FROM_MEMBER(admin_job_t, op, op);
    job->done = 0;
    job->more = false;
    if (!job->bulk) {
        int rc = job->kind == OP_KICK ? store_kick(tx, job->id, job->now_ms)
                                      : store_delete_dead(tx, job->id);
        job->done = rc == 0;
        return rc == -ENOENT ? 0 : rc; /* not a dead letter: a 404, the batch is fine */
    }
    job->next = job->cursor;
    if (job->kind == OP_KICK)
        return store_kick_dead(tx, &job->f, &job->next, CHUNK, job->now_ms, &job->done, &job->more);
    return store_delete_dead_matching(tx, &job->f, &job->next, CHUNK, &job->done, &job->more);
}

static void on_job_committed(wr_op_t *op, int rc)
{
    admin_job_t *job = H2O_STRUCT_FROM_MEMBER(admin_job_t, op, op);
    job->rc = rc;
    /* Redriven letters are due now: the writer announces them to the delivery worker. */
    if (rc == 0 && job->done > 0 && job->kind == OP_DELETE)
        retention_rescan(adm.retention); /* their events may be prunable now */
    http_defer_return(&job->defer);
}

static void respond(admin_job_t *job, h2o_req_t *req)
{
    const char *verb = job->kind == OP_KICK ? "requeued" : "deleted";
    char detail[200];
    if (job->rc != 0 || (job->more && http_stopping())) {
        const char *why = job->rc == -ENOSPC ? "the store is full"
                          : job->rc != 0     ? "the store failed to commit"
                                             : "the gateway is shutting down";
        snprintf(detail, sizeof(detail), "%s; %llu dead letters were %s before it stopped", why,
                 (unsigned long long)job->total, verb);
        const char *code = job->rc == -ENOSPC ? "store_full"
                           : job->rc != 0     ? "store_error"
                                              : "shutting_down";
        http_send_unavailable(req, code, detail, 5);
        return;
    }
    if (!job->bulk && job->total == 0) {
        http_send_error(req, 404, "not_found", "no dead letter with this id");
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"%s\":%llu}", verb, (unsigned long long)job->total);
    http_send_json(req, job->kind == OP_KICK ? 202 : 200, body, (size_t)len);
}

/* One audit line per finished change: who, which letters were selected, how many were
 * changed, and why it stopped short if it did. Written whether or not the client is still
 * there to receive the answer. */
static void audit(const admin_job_t *job)
{
    const char *action = job->kind == OP_KICK ? "redrive" : job->bulk ? "purge" : "delete";
    const char *verb = job->kind == OP_KICK ? "requeued" : "deleted";
    const char *stopped = job->rc == -ENOSPC ? " (stopped: the store is full)"
                          : job->rc != 0     ? " (stopped: the store failed to commit)"
                          : job->more        ? " (stopped: shutting down)"
                                             : "";
    if (!job->bulk) {
        log_audit(job->client, action, "id=%llu %s%s", (unsigned long long)job->id,
                  job->total ? verb : "not found (no dead letter with this id)", stopped);
        return;
    }
    const query_params_t *p = &job->params;
    char since[32] = "-", until[32] = "-";
    if (p->has_since) civil_format_rfc3339(p->since_ms, since);
    if (p->has_until) civil_format_rfc3339(p->until_ms, until);
    log_audit(job->client, action, "subscriber=%s type=%s since=%s until=%s %s=%llu%s",
              *p->subscriber ? p->subscriber : "*", *p->type ? p->type : "*", since, until, verb,
              (unsigned long long)job->total, stopped);
}

/* Back on the loop thread after a chunk's commit. */
static void on_job_returned(http_deferred_t *d)
{
    admin_job_t *job = H2O_STRUCT_FROM_MEMBER(admin_job_t, defer, d);
    if (job->rc == 0) {
        job->total += job->done;
        job->cursor = job->next;
    }
    /* The next chunk goes in as a fresh operation, behind whatever ingest queued meanwhile. */
    if (job->rc == 0 && job->bulk && job->more && !http_stopping()) {
        job->now_ms = rt_now_ms();
        wr_submit(adm.deps.w, &job->op);
        return;
    }
    audit(job);
    h2o_req_t *req = http_defer_end(d);
    if (req) respond(job, req);
    free(job);
}

/* Submits a change; a bulk one (p not NULL) selects with p's filters. */
static void submit(h2o_req_t *req, op_kind_t kind, uint64_t id, const query_params_t *p)
{
    if (http_stopping()) {
        http_send_unavailable(req, "shutting_down", "the gateway is shutting down; retry", 5);
        return;
    }
    admin_job_t *job = xcalloc(1, sizeof(*job));
    job->kind = kind;
    job->id = id;
    job->now_ms = rt_now_ms();
    http_peer_address(req, job->client);
    if (p) {
        job->bulk = true;
        job->params = *p;
        job->f = query_filter(&job->params);
        /* Letters buried from now on are not part of this request (see the top). */
        if (!job->f.until_ms || job->f.until_ms > job->now_ms) job->f.until_ms = job->now_ms;
    }
    http_defer(&job->defer, req, on_job_returned);
    job->op.apply = apply_job;
    job->op.on_done = on_job_committed;
    job->op.announces = kind == OP_KICK;
    wr_submit(adm.deps.w, &job->op);
}

/* ---- routing ---- */

/* admin_token set: Bearer required; unset: loopback clients only. */
static bool authorized(h2o_req_t *req)
{
    const cfg_t *cfg = rt_config_hold();
    bool has_token = cfg->admin_token != NULL;
    bool ok = has_token ? http_bearer_ok(req, cfg->admin_token) : http_peer_is_loopback(req);
    rt_config_release(cfg);
    if (ok) return true;
    if (has_token) {
        http_send_error(req, 401, "unauthorized",
                        "a valid Authorization: Bearer token is required");
        return false;
    }
    http_send_error(req, 403, "forbidden",
                    "without admin_token the admin API serves loopback clients only");
    return false;
}

static bool has_prefix(h2o_iovec_t s, const char *prefix, size_t *rest)
{
    size_t n = strlen(prefix);
    if (s.len < n || memcmp(s.base, prefix, n) != 0) return false;
    *rest = n;
    return true;
}

/* /admin/dead-letters/{id} and /admin/dead-letters/{id}/retry; tail is after the slash. */
static void route_dead_letter(h2o_req_t *req, const char *tail, size_t n)
{
    static const char retry[] = "/retry";
    size_t rl = sizeof(retry) - 1;
    bool is_retry = n > rl && memcmp(tail + n - rl, retry, rl) == 0;
    size_t idlen = is_retry ? n - rl : n;
    query_params_t p;
    if (is_retry && !method_is(req, "POST")) {
        http_send_not_allowed(req, "POST");
        return;
    }
    if (!is_retry && !method_is(req, "GET") && !method_is(req, "DELETE")) {
        http_send_not_allowed(req, "GET, DELETE");
        return;
    }
    if (!parse_params(req, 0, &p)) return;
    uint64_t id;
    if (!query_parse_id(tail, idlen, &id)) {
        http_send_error(req, 404, "not_found", "no dead letter with this id");
        return;
    }
    if (is_retry)
        submit(req, OP_KICK, id, NULL);
    else if (method_is(req, "GET"))
        show_dead(req, id);
    else
        submit(req, OP_DELETE, id, NULL);
}

int admin_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!authorized(req)) return 0;
    h2o_iovec_t path = req->path_normalized;
    size_t at;
    query_params_t p;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/dead-letters"))) {
        if (method_is(req, "GET")) {
            list_dead(req);
        } else if (method_is(req, "DELETE")) {
            if (parse_params(req, QUERY_FILTERS, &p)) submit(req, OP_DELETE, 0, &p);
        } else {
            http_send_not_allowed(req, "GET, DELETE");
        }
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/dead-letters/retry"))) {
        if (!method_is(req, "POST"))
            http_send_not_allowed(req, "POST");
        else if (parse_params(req, QUERY_FILTERS, &p))
            submit(req, OP_KICK, 0, &p);
    } else if (has_prefix(path, "/admin/dead-letters/", &at) && path.len > at) {
        route_dead_letter(req, path.base + at, path.len - at);
    } else if (has_prefix(path, "/admin/events/", &at) && path.len > at) {
        if (!method_is(req, "GET"))
            http_send_not_allowed(req, "GET");
        else if (parse_params(req, 0, &p))
            get_event(req, path.base + at, path.len - at);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/subscribers"))) {
        if (!method_is(req, "GET"))
            http_send_not_allowed(req, "GET");
        else
            list_subscribers(req);
    } else if (has_prefix(path, "/admin/subscribers/", &at) && path.len > at) {
        admin_health_on_req(req, path.base + at, path.len - at);
    } else {
        http_send_error(req, 404, "not_found", "no such admin endpoint");
    }
    return 0;
}

/* ---- life cycle ---- */

void admin_set_retention(ret_t *r)
{
    adm.retention = r;
}

void admin_init(const http_deps_t *deps)
{
    adm.deps = *deps;
    admin_health_init(deps);
}
