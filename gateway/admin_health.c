/* admin_health.c -- pause, resume and replay of one subscriber through the admin API.
 *
 * Each change goes through the writer like the dead-letter operations in admin.c: the job
 * is submitted, its on_done posts it back to the loop thread, and only then is the answer
 * sent. The writer announces every committed job to the delivery worker, which reads the
 * paused flags again and claims the replayed deliveries.
 *
 * A replay walks the stored events in ingest order in transactions of CHUNK events each,
 * resubmitted from the loop thread until the walk is done, so ingest never waits behind
 * more than one of them. It stops at the events stored after the request arrived: those
 * were fanned out at ingest already. The selection uses the config in force when the
 * request arrived (held for the whole walk). */
#include "gateway/admin_health.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/civil.h"
#include "gateway/http.h"
#include "gateway/jbuf.h"
#include "gateway/query.h"
#include "gateway/replay.h"
#include "gateway/runtime.h"

#define CHUNK 64 /* events examined per replay transaction */

typedef enum { ACT_PAUSE, ACT_RESUME, ACT_REPLAY } action_t;

typedef struct {
    wr_op_t op;
    http_deferred_t defer;
    action_t action;
    const cfg_t *cfg;            /* held until the job ends */
    const cfg_subscriber_t *sub; /* in cfg */
    char client[HTTP_PEER_MAX];  /* for the audit line */
    int64_t now_ms;
    /* replay */
    query_params_t params;
    replay_sel_t sel; /* its type points into params */
    uint64_t cursor, end_seq;
    /* Outputs of apply (it may run twice, so it only overwrites them). */
    uint64_t next;
    size_t added;
    bool more;
    int rc; /* the commit's result */
    uint64_t total;
} health_job_t;

static http_deps_t deps;

static bool select_event(void *ctx, const char *type, size_t type_len, const char *body,
                         size_t body_len, int64_t received_ms)
{
    const health_job_t *job = ctx;
    return replay_selects(job->sub, &job->sel, type, type_len, body, body_len, received_ms);
}

static int apply_job(wr_op_t *op, store_wtxn_t *tx)
{
    health_job_t *job = H2O_STRUCT_FROM_MEMBER(health_job_t, op, op);
    job->added = 0;
    job->more = false;
    if (job->action != ACT_REPLAY)
        return store_set_paused(tx, job->sub->name, job->action == ACT_PAUSE, job->now_ms);
    /* Set by the first chunk: the events stored after it are not part of this replay. */
    if (job->end_seq == 0) job->end_seq = store_wtxn_event_seq_end(tx);
    job->next = job->cursor;
    return store_replay(tx, job->sub->name, &job->next, job->end_seq, CHUNK, job->now_ms,
                        select_event, job, &job->added, &job->more);
}

static void on_job_committed(wr_op_t *op, int rc)
{
    health_job_t *job = H2O_STRUCT_FROM_MEMBER(health_job_t, op, op);
    job->rc = rc;
    http_defer_return(&job->defer);
}

static void audit(const health_job_t *job)
{
    const char *name = job->sub->name;
    if (job->action != ACT_REPLAY) {
        log_audit(job->client, job->action == ACT_PAUSE ? "pause" : "resume", "subscriber=%s%s",
                  name, job->rc == 0 ? "" : " (not applied: the store failed)");
        return;
    }
    char since[32] = "-", until[32] = "-";
    if (job->sel.has_since) civil_format_rfc3339(job->sel.since_ms, since);
    if (job->sel.has_until) civil_format_rfc3339(job->sel.until_ms, until);
    log_audit(job->client, "replay", "subscriber=%s type=%s since=%s until=%s requeued=%llu%s",
              name, job->params.type[0] ? job->params.type : "-", since, until,
              (unsigned long long)job->total, job->rc == 0 ? "" : " (stopped early)");
}

static void respond(health_job_t *job, h2o_req_t *req)
{
    if (job->rc != 0 || (job->more && http_stopping())) {
        char detail[200];
        const char *why = job->rc == -ENOSPC ? "the store is full"
                          : job->rc != 0     ? "the store failed to commit"
                                             : "the gateway is shutting down";
        if (job->action == ACT_REPLAY)
            snprintf(detail, sizeof(detail), "%s; %llu deliveries were requeued before it stopped",
                     why, (unsigned long long)job->total);
        else
            snprintf(detail, sizeof(detail), "%s", why);
        const char *code = job->rc == -ENOSPC ? "store_full"
                           : job->rc != 0     ? "store_error"
                                              : "shutting_down";
        http_send_unavailable(req, code, detail, 5);
        return;
    }
    jbuf_t b = {0};
    if (job->action == ACT_REPLAY) {
        jbuf_printf(&b, "{\"requeued\":%llu}", (unsigned long long)job->total);
    } else {
        jbuf_puts(&b, "{\"name\":");
        jbuf_str(&b, job->sub->name, strlen(job->sub->name));
        jbuf_printf(&b, ",\"paused\":%s}", job->action == ACT_PAUSE ? "true" : "false");
    }
    http_send_json(req, job->action == ACT_REPLAY ? 202 : 200, b.p, b.len);
    jbuf_free(&b);
}

/* Back on the loop thread after a commit. */
static void on_job_returned(http_deferred_t *d)
{
    health_job_t *job = H2O_STRUCT_FROM_MEMBER(health_job_t, defer, d);
    if (job->rc == 0) {
        job->total += job->added;
        job->cursor = job->next;
    }
    /* The next chunk goes in as a fresh operation, behind whatever ingest queued meanwhile. */
    if (job->rc == 0 && job->action == ACT_REPLAY && job->more && !http_stopping()) {
        job->now_ms = rt_now_ms();
        wr_submit(deps.w, &job->op);
        return;
    }
    audit(job);
    h2o_req_t *req = http_defer_end(d);
    if (req) respond(job, req);
    rt_config_release(job->cfg);
    free(job);
}

/* Parses the replay's query: type, since, until (on occurred_at, inclusive). Returns false
 * after sending a 400. */
static bool parse_replay(h2o_req_t *req, health_job_t *job)
{
    const char *q = "";
    size_t n = 0;
    if (req->query_at != SIZE_MAX) {
        q = req->path.base + req->query_at + 1;
        n = req->path.len - req->query_at - 1;
    }
    char err[200];
    query_params_t *p = &job->params;
    if (query_parse(q, n, QUERY_FILTERS, p, err, sizeof(err)) != 0) {
        http_send_error(req, 400, "invalid_parameter", err);
        return false;
    }
    if (p->subscriber[0]) {
        http_send_error(req, 400, "invalid_parameter",
                        "unknown parameter 'subscriber' (the subscriber is named in the path)");
        return false;
    }
    /* retention_hours 0 prunes delivered events at once: what is still stored is fair game. */
    int64_t retention_ms = (int64_t)job->cfg->retention_hours * 3600000;
    job->sel = (replay_sel_t){
        .type = p->type,
        .has_since = p->has_since,
        .has_until = p->has_until,
        .since_ms = p->since_ms,
        .until_ms = p->until_ms,
        .min_received_ms = retention_ms > 0 ? job->now_ms - retention_ms : INT64_MIN,
    };
    return true;
}

void admin_health_on_req(h2o_req_t *req, const char *tail, size_t n)
{
    static const struct {
        const char *suffix;
        action_t action;
    } actions[] = {{"/pause", ACT_PAUSE}, {"/resume", ACT_RESUME}, {"/replay", ACT_REPLAY}};
    size_t i = 0, sl = 0;
    for (; i < sizeof(actions) / sizeof(actions[0]); i++) {
        sl = strlen(actions[i].suffix);
        if (n > sl && memcmp(tail + n - sl, actions[i].suffix, sl) == 0) break;
    }
    if (i == sizeof(actions) / sizeof(actions[0])) {
        http_send_error(req, 404, "not_found", "no such admin endpoint");
        return;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        http_send_not_allowed(req, "POST");
        return;
    }
    char name[QUERY_SUBSCRIBER_MAX + 1];
    size_t nl = n - sl;
    const cfg_t *cfg = rt_config_hold();
    const cfg_subscriber_t *sub = NULL;
    if (nl <= QUERY_SUBSCRIBER_MAX && cfg_name_valid(tail, nl)) {
        memcpy(name, tail, nl);
        name[nl] = '\0';
        sub = cfg_find_subscriber(cfg, name);
    }
    if (!sub) {
        rt_config_release(cfg);
        http_send_error(req, 404, "not_found", "no configured subscriber with this name");
        return;
    }
    health_job_t *job = xcalloc(1, sizeof(*job));
    job->action = actions[i].action;
    job->cfg = cfg;
    job->sub = sub;
    job->now_ms = rt_now_ms();
    if (job->action == ACT_REPLAY && !parse_replay(req, job)) {
        rt_config_release(cfg);
        free(job);
        return;
    }
    if (job->action != ACT_REPLAY && req->query_at != SIZE_MAX &&
        req->query_at + 1 < req->path.len) {
        rt_config_release(cfg);
        free(job);
        http_send_error(req, 400, "invalid_parameter", "this endpoint takes no parameters");
        return;
    }
    if (http_stopping()) {
        rt_config_release(cfg);
        free(job);
        http_send_unavailable(req, "shutting_down", "the gateway is shutting down; retry", 5);
        return;
    }
    http_peer_address(req, job->client);
    http_defer(&job->defer, req, on_job_returned);
    job->op.apply = apply_job;
    job->op.on_done = on_job_committed;
    job->op.announces = true; /* the worker reads paused flags again, claims replayed ones */
    wr_submit(deps.w, &job->op);
}

void admin_health_init(const http_deps_t *d)
{
    deps = *d;
}
