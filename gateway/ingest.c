/* ingest.c -- POST /events: validate, complete, fan out, and answer after the group commit.
 *
 * The loop thread does all parsing and matching, then hands one job per request to the
 * writer. The writer commits whatever jobs arrived while its previous fsync ran, in one
 * transaction, and posts each job back through h2o's multithread queue; only then is the
 * 202 sent. A client that disconnects meanwhile changes nothing: its events are stored
 * (and delivered) all the same, and the job is freed when it comes back. */
#include "gateway/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include "core/xalloc.h"
#include "gateway/civil.h"
#include "gateway/envelope.h"
#include "gateway/match.h"
#include "gateway/metrics.h"
#include "gateway/runtime.h"

typedef struct {
    char id[ENVELOPE_ID_MAX + 1];
    size_t id_len;
    const char *type; /* inside body */
    size_t type_len;
    char *body; /* completed envelope, owned */
    size_t body_len;
    const char **subscribers; /* in the job's names; borrowed from the job's config */
    size_t nsubscribers;
    bool duplicate;
    uint32_t deliveries;
} ingest_item_t;

typedef struct ingest_job {
    wr_op_t op;
    http_deferred_t defer;
    const cfg_t *cfg;   /* held for the job's life: the items borrow its subscriber names */
    const char **names; /* the items' matches, cfg->nsubscribers slots per item */
    int rc;
    bool is_batch;
    size_t n;
    ingest_item_t items[];
} ingest_job_t;

static struct {
    http_deps_t deps;
    rt_config_cache_t cfg_cache; /* loop thread */
} ing;

static void job_free(ingest_job_t *job)
{
    for (size_t i = 0; i < job->n; i++)
        free(job->items[i].body);
    rt_config_cache_release(&ing.cfg_cache, job->cfg);
    free(job);
}

static int apply_job(wr_op_t *op, store_wtxn_t *tx)
{
    ingest_job_t *job = H2O_STRUCT_FROM_MEMBER(ingest_job_t, op, op);
    int64_t received_ms = rt_now_ms();
    for (size_t i = 0; i < job->n; i++) {
        ingest_item_t *it = &job->items[i];
        store_event_in_t in = {
            .id = it->id,
            .id_len = it->id_len,
            .type = it->type,
            .type_len = it->type_len,
            .body = it->body,
            .body_len = it->body_len,
            .received_ms = received_ms,
            .subscribers = it->subscribers,
            .nsubscribers = it->nsubscribers,
        };
        int rc = store_enqueue(tx, &in, &it->duplicate, &it->deliveries);
        if (rc != 0) return rc;
    }
    return 0;
}

static void on_job_committed(wr_op_t *op, int rc)
{
    ingest_job_t *job = H2O_STRUCT_FROM_MEMBER(ingest_job_t, op, op);
    job->rc = rc;
    http_defer_return(&job->defer);
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Writes {"id":..,"deliveries":n[,"duplicate":true]} for item at p (ids need no escaping);
 * returns the end. By hand: sprintf took about 1,400 instructions per answer. */
static char *format_result(char *p, const ingest_item_t *it)
{
    p = put(p, "{\"id\":\"", 7);
    p = put(p, it->id, it->id_len);
    p = put(p, "\",\"deliveries\":", 15);
    char digits[10];
    size_t n = 0;
    uint32_t d = it->deliveries;
    do {
        digits[sizeof(digits) - ++n] = (char)('0' + d % 10);
        d /= 10;
    } while (d);
    p = put(p, digits + sizeof(digits) - n, n);
    if (it->duplicate) p = put(p, ",\"duplicate\":true", 17);
    *p++ = '}';
    return p;
}

static void respond(ingest_job_t *job, h2o_req_t *req)
{
    if (job->rc == -ENOSPC) {
        http_send_unavailable(req, "store_full", "the event store is full; retry later", 30);
        return;
    }
    if (job->rc != 0) {
        http_send_unavailable(req, "store_error", "the event store failed to commit; retry", 5);
        return;
    }
    /* ids are <= 200 bytes of a charset that needs no escaping */
    size_t cap = 32 + job->n * (ENVELOPE_ID_MAX + 64);
    char *body = h2o_mem_alloc_pool(&req->pool, cap), *p = body;
    if (!job->is_batch) {
        p = format_result(p, &job->items[0]);
        http_send_json(req, job->items[0].duplicate ? 200 : 202, body, (size_t)(p - body));
        return;
    }
    p = put(p, "{\"results\":[", 12);
    for (size_t i = 0; i < job->n; i++) {
        if (i) *p++ = ',';
        p = format_result(p, &job->items[i]);
    }
    p = put(p, "]}", 2);
    http_send_json(req, 202, body, (size_t)(p - body));
}

/* Counts a job's events once committed and, when it is answered, the time since its
 * request arrived. */
static void record_metrics(const ingest_job_t *job)
{
    if (job->rc == 0) {
        uint64_t dups = 0;
        for (size_t i = 0; i < job->n; i++)
            dups += job->items[i].duplicate;
        metrics_events_received(job->n, dups);
    }
    if (job->defer.req) {
        struct timeval now;
        const struct timeval *t0 = &job->defer.req->timestamps.request_begin_at;
        gettimeofday(&now, NULL);
        metrics_observe_ingest((double)(now.tv_sec - t0->tv_sec) +
                               (double)(now.tv_usec - t0->tv_usec) / 1e6);
    }
}

/* Back on the loop thread after the commit. */
static void on_job_returned(http_deferred_t *d)
{
    ingest_job_t *job = H2O_STRUCT_FROM_MEMBER(ingest_job_t, defer, d);
    record_metrics(job);
    h2o_req_t *req = http_defer_end(d);
    if (req) respond(job, req);
    job_free(job);
}

void ingest_init(const http_deps_t *deps)
{
    ing.deps = *deps;
}

/* application/json, with or without parameters, in any case. */
static bool content_type_ok(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0) return true;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (v.len < n || strncasecmp(v.base, want, n) != 0) return false;
    return v.len == n || v.base[n] == ';' || v.base[n] == ' ';
}

/* Fills item i from envelope e of doc: id (given or generated), completed body, matches
 * (into names, room for every subscriber). now_text is formatted here, once per request,
 * for the first envelope without an occurred_at ("" until then). */
static void prepare_item(ingest_item_t *it, const json_doc_t *doc, const envelope_t *e,
                         const cfg_t *cfg, const char **names, int64_t now_ms, char *now_text)
{
    char gen_id[37];
    if (e->id) { /* its own, or its Idempotency-Key */
        memcpy(it->id, e->id, e->id_len);
        it->id_len = e->id_len;
    } else {
        unsigned char rnd[10];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) abort();
        envelope_uuid7(now_ms, rnd, gen_id);
        it->id_len = 36;
        memcpy(it->id, gen_id, 36);
    }
    it->id[it->id_len] = '\0';
    if (!e->has_occurred_at && !now_text[0]) civil_format_rfc3339(now_ms, now_text);
    size_t raw_len;
    const char *raw = json_value_ptr(doc, e->tok, &raw_len);
    envelope_complete(raw, raw_len, e->id_in_body ? NULL : it->id,
                      e->has_occurred_at ? NULL : now_text, &it->body, &it->body_len);
    /* type bytes need no escaping, so they sit unchanged inside the completed body */
    it->type = it->body + (e->type - raw) + (it->body_len - raw_len);
    it->type_len = e->type_len;

    it->subscribers = names;
    it->nsubscribers = 0;
    for (size_t s = 0; s < cfg->nsubscribers; s++) {
        const cfg_subscriber_t *sub = &cfg->subscribers[s];
        if (match_subscriber(sub, e->type, e->type_len, doc, e->tok))
            it->subscribers[it->nsubscribers++] = sub->name;
    }
}

/* Finds the Idempotency-Key header: sets *key (NULL when absent) and returns 0, or
 * answers 400 and returns -EINVAL when it is repeated or not an id. */
static int idempotency_key(h2o_req_t *req, h2o_iovec_t *key)
{
    static const char name[] = "idempotency-key"; /* h2o lowercases header names */
    ssize_t i = h2o_find_header_by_str(&req->headers, name, sizeof(name) - 1, -1);
    *key = h2o_iovec_init(NULL, 0);
    if (i < 0) return 0;
    if (h2o_find_header_by_str(&req->headers, name, sizeof(name) - 1, i) >= 0) {
        http_send_error(req, 400, "invalid_header", "Idempotency-Key: given more than once");
        return -EINVAL;
    }
    *key = req->headers.entries[i].value;
    if (!envelope_id_valid(key->base, key->len)) {
        http_send_error(req, 400, "invalid_header",
                        "Idempotency-Key: must match [A-Za-z0-9_:-]{1,200}");
        return -EINVAL;
    }
    return 0;
}

/* Everything that decides on the request before it is parsed. Returns 0 when it was
 * answered, 1 when it goes on; *key is the Idempotency-Key (base NULL when none). */
static int ingest_check(h2o_req_t *req, const cfg_t *cfg, h2o_iovec_t *key)
{
    if (cfg->ingest_token && !http_bearer_ok(req, cfg->ingest_token)) {
        http_send_error(req, 401, "unauthorized", "a valid Authorization: Bearer token is required");
        return 0;
    }
    if (http_stopping()) {
        http_send_unavailable(req, "shutting_down", "the gateway is shutting down; retry", 5);
        return 0;
    }
    if (!content_type_ok(req)) {
        http_send_error(req, 415, "unsupported_media_type", "Content-Type must be application/json");
        return 0;
    }
    if (req->entity.len > cfg->max_body_bytes) {
        http_send_too_large(req, cfg->max_body_bytes);
        return 0;
    }
    return idempotency_key(req, key) == 0;
}

int ingest_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/events"))) {
        http_send_error(req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        http_send_not_allowed(req, "POST");
        return 0;
    }
    const cfg_t *cfg = rt_config_cache_hold(&ing.cfg_cache);
    h2o_iovec_t key;
    if (!ingest_check(req, cfg, &key)) {
        rt_config_cache_release(&ing.cfg_cache, cfg);
        return 0;
    }
    const char *text = req->entity.base ? req->entity.base : "";
    size_t len = req->entity.len;
    /* A batch's array adds one level above the envelopes' own 64. */
    size_t lead = 0;
    while (lead < len && (text[lead] == ' ' || text[lead] == '\n' || text[lead] == '\t' ||
                          text[lead] == '\r'))
        lead++;
    int max_depth = ENVELOPE_MAX_DEPTH + (lead < len && text[lead] == '[');
    json_doc_t doc;
    char err[256];
    if (json_parse(&doc, text, len, max_depth, err, sizeof(err)) != 0) {
        char detail[300];
        snprintf(detail, sizeof(detail), "invalid JSON: %s", err);
        http_send_error(req, 400, "invalid_json", detail);
        rt_config_cache_release(&ing.cfg_cache, cfg);
        return 0;
    }
    static envelope_t envs[ENVELOPE_MAX_BATCH]; /* loop thread only */
    size_t n;
    bool is_batch;
    if (envelope_validate(&doc, envs, &n, &is_batch, err, sizeof(err)) != 0) {
        json_free(&doc);
        http_send_error(req, 400, "invalid_envelope", err);
        rt_config_cache_release(&ing.cfg_cache, cfg);
        return 0;
    }
    char key_err[512]; /* names two ids of up to 200 bytes */
    if (envelope_apply_key(key.base, key.len, envs, n, is_batch, key_err, sizeof(key_err)) != 0) {
        json_free(&doc);
        http_send_error(req, 400, "idempotency_key_mismatch", key_err);
        rt_config_cache_release(&ing.cfg_cache, cfg);
        return 0;
    }

    /* One allocation: the job, its items, then the items' subscriber names. */
    size_t items_size = sizeof(ingest_job_t) + n * sizeof(ingest_item_t);
    ingest_job_t *job = xcalloc(1, items_size + n * cfg->nsubscribers * sizeof(const char *));
    job->names = (const char **)((char *)job + items_size);
    job->n = n;
    job->cfg = cfg;
    job->is_batch = is_batch;
    int64_t now_ms = rt_now_ms();
    char now_text[32] = "";
    for (size_t i = 0; i < n; i++) {
        prepare_item(&job->items[i], &doc, &envs[i], cfg, job->names + i * cfg->nsubscribers,
                     now_ms, now_text);
        job->op.announces = job->op.announces || job->items[i].nsubscribers > 0;
    }
    json_free(&doc);

    http_defer(&job->defer, req, on_job_returned);
    job->op.apply = apply_job;
    job->op.on_done = on_job_committed;
    wr_submit(ing.deps.w, &job->op);
    return 0;
}
