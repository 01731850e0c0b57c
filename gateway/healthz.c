/* healthz.c -- GET /healthz: the health checks as an HTTP answer. */
#include "gateway/healthz.h"

#include <string.h>

#include "gateway/health.h"
#include "gateway/http.h"
#include "gateway/jbuf.h"
#include "gateway/runtime.h"

int healthz_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        http_send_not_allowed(req, "GET, HEAD");
        return 0;
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    const char *check = "shutdown";
    char detail[160] = "the gateway is shutting down";
    if (!http_stopping() && health_check(rt_mono_ms(), &check, detail, sizeof(detail))) {
        http_send_json(req, 200, ok, sizeof(ok) - 1);
        return 0;
    }
    jbuf_t b = {0};
    jbuf_puts(&b, http_stopping() ? "{\"status\":\"unhealthy\",\"error\":\"shutting_down\""
                                  : "{\"status\":\"unhealthy\",\"error\":\"unhealthy\"");
    jbuf_puts(&b, ",\"check\":");
    jbuf_str(&b, check, strlen(check));
    jbuf_puts(&b, ",\"detail\":");
    jbuf_str(&b, detail, strlen(detail));
    jbuf_puts(&b, "}");
    http_send_json(req, 503, b.p, b.len);
    jbuf_free(&b);
    return 0;
}
