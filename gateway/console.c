/* console.c -- GET /admin/ui/: serves the web console's files from the binary. */
#include "gateway/console.h"

#include <string.h>

#include "gateway/console_assets.h"
#include "gateway/httpkit.h"
#include "gateway/runtime.h"

/* The page loads only its own files and talks only to its own origin; no inline script or
 * style, so a payload that reached the DOM as markup still could not run. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, value,
                          strlen(value));
}

static const console_asset_t *find_asset(const char *name, size_t len)
{
    for (size_t i = 0; i < console_nassets; i++)
        if (strlen(console_assets[i].name) == len && memcmp(console_assets[i].name, name, len) == 0)
            return &console_assets[i];
    return NULL;
}

static bool etag_matches(h2o_req_t *req, const char *etag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i < 0) return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_contains_token(v.base, v.len, etag, strlen(etag), ',');
}

/* The files change only with the binary: a browser revalidates each time (no-cache) and
 * gets 304 while the ETag, a digest of the bytes, is the same. */
static void send_asset(h2o_req_t *req, const console_asset_t *a)
{
    static h2o_generator_t generator = {NULL, NULL};
    add_header(req, "content-security-policy", csp);
    add_header(req, "x-content-type-options", "nosniff");
    add_header(req, "x-frame-options", "DENY");
    add_header(req, "referrer-policy", "no-referrer");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, a->etag, strlen(a->etag));
    if (etag_matches(req, a->etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        req->res.content_length = 0;
        h2o_start_response(req, &generator);
        h2o_send(req, NULL, 0, 1);
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, a->content_type,
                   strlen(a->content_type));
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = a->len;
    h2o_iovec_t body = h2o_iovec_init(a->data, a->len);
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, 1);
}

/* Without admin_token the admin API serves loopback clients only, and so does its page. */
static bool allowed(h2o_req_t *req)
{
    const cfg_t *cfg = rt_config_hold();
    bool ok = cfg->admin_token != NULL || http_peer_is_loopback(req);
    rt_config_release(cfg);
    if (!ok)
        http_send_error(req, 403, "forbidden",
                        "without admin_token the admin API serves loopback clients only");
    return ok;
}

int console_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static const char root[] = "/admin/ui";
    if (!allowed(req)) return 0;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        http_send_not_allowed(req, "GET, HEAD");
        return 0;
    }
    h2o_iovec_t path = req->path_normalized;
    if (h2o_memis(path.base, path.len, H2O_STRLIT(root))) {
        /* Relative, so that it holds behind a proxy that mounts the gateway under a prefix. */
        h2o_send_redirect(req, 301, "Moved Permanently", H2O_STRLIT("ui/"));
        return 0;
    }
    /* h2o's prefix match guarantees "/admin/ui/..." here. */
    const char *name = path.base + sizeof(root);
    size_t len = path.len - sizeof(root);
    const console_asset_t *a =
        len == 0 ? find_asset(H2O_STRLIT("index.html")) : find_asset(name, len);
    if (!a) {
        http_send_error(req, 404, "not_found", "no such file in the console");
        return 0;
    }
    send_asset(req, a);
    return 0;
}
