/* admin.c -- the /admin/ API: inspection and repair of events and dead letters. */
#include "gateway/admin.h"

#include <errno.h>
#include <string.h>

#include "gateway/jbuf.h"
#include "gateway/runtime.h"

static http_deps_t deps;

void admin_init(const http_deps_t *d)
{
    deps = *d;
}

static const char *state_name(store_state_t s)
{
    switch (s) {
    case STORE_PENDING: return "pending";
    case STORE_DELIVERED: return "delivered";
    case STORE_DEAD: return "dead";
    }
    return "unknown";
}

static void put_delivery_summary(jbuf_t *b, const store_delivery_t *d)
{
    jbuf_puts(b, "{\"subscriber\":");
    jbuf_str(b, d->subscriber, strlen(d->subscriber));
    jbuf_printf(b, ",\"state\":\"%s\",\"attempts\":%u,\"next_attempt_at\":", state_name(d->state),
                d->attempts);
    jbuf_time(b, d->state == STORE_PENDING ? d->next_attempt_ms : 0);
    if (d->last_status)
        jbuf_printf(b, ",\"last_status\":%d", d->last_status);
    else
        jbuf_puts(b, ",\"last_status\":null");
    jbuf_puts(b, ",\"last_error\":");
    if (d->last_error && d->last_error[0])
        jbuf_str(b, d->last_error, strlen(d->last_error));
    else
        jbuf_puts(b, "null");
    jbuf_puts(b, "}");
}

/* GET /admin/events/{id} */
static void get_event(h2o_req_t *req, const char *id, size_t id_len)
{
    store_event_t ev;
    int rc = store_get_event(deps.st, id, id_len, &ev);
    if (rc == -ENOENT) {
        http_send_error(req, 404, "not_found", "no event with this id");
        return;
    }
    if (rc != 0) {
        http_send_error(req, 500, "store_error", "reading the event failed");
        return;
    }
    jbuf_t b = {0};
    jbuf_puts(&b, "{\"event\":");
    jbuf_put(&b, ev.body, ev.body_len);
    jbuf_puts(&b, ",\"deliveries\":[");
    size_t shown = 0;
    for (size_t i = 0; i < ev.ndeliveries; i++) {
        store_delivery_t d;
        if (store_get_delivery(deps.st, ev.delivery_ids[i], &d) != 0) continue; /* deleted */
        if (shown++) jbuf_puts(&b, ",");
        put_delivery_summary(&b, &d);
        store_delivery_clear(&d);
    }
    jbuf_puts(&b, "]}");
    http_send_json(req, 200, b.p, b.len);
    jbuf_free(&b);
    store_event_clear(&ev);
}

/* admin_token set: Bearer required; unset: loopback clients only. */
static bool authorized(h2o_req_t *req)
{
    const cfg_t *cfg = rt_config();
    if (cfg->admin_token) {
        if (http_bearer_ok(req, cfg->admin_token)) return true;
        http_send_error(req, 401, "unauthorized", "a valid Authorization: Bearer token is required");
        return false;
    }
    if (http_peer_is_loopback(req)) return true;
    http_send_error(req, 403, "forbidden", "without admin_token the admin API serves loopback clients only");
    return false;
}

int admin_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!authorized(req)) return 0;
    h2o_iovec_t path = req->path_normalized;
    static const char events[] = "/admin/events/";
    size_t elen = sizeof(events) - 1;
    bool is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (path.len > elen && memcmp(path.base, events, elen) == 0) {
        if (!is_get) {
            http_send_error(req, 405, "method_not_allowed", "use GET");
            return 0;
        }
        get_event(req, path.base + elen, path.len - elen);
        return 0;
    }
    http_send_error(req, 404, "not_found", "no such admin endpoint");
    return 0;
}
