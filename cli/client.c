/* client.c -- hookgate-admin's HTTP client: requests to the nodes, sent all at once, and
 * the failures it reports. */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/field.h"
#include "core/xalloc.h"

_Static_assert(CLIENT_ERR_SIZE >= CURL_ERROR_SIZE, "room for libcurl's error buffer");

int client_init(client_t *c, const char *url_list, const char *token, long timeout_s)
{
    *c = (client_t){.token = token, .timeout_s = timeout_s};
    if (!url_list || !url_list[0]) url_list = "http://127.0.0.1:8080";
    const char *p = url_list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == '/' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) {
            client_free(c);
            return -EINVAL;
        }
        c->urls = xrealloc(c->urls, (c->nnodes + 1) * sizeof(*c->urls));
        c->urls[c->nnodes++] = xmemdup0(p, len);
        if (!end) return 0;
        p = end + 1;
    }
}

void client_free(client_t *c)
{
    for (size_t i = 0; i < c->nnodes; i++)
        free(c->urls[i]);
    free(c->urls);
    c->urls = NULL;
    c->nnodes = 0;
}

static void append_param(core_buf_t *q, const char *name, const char *value)
{
    if (!value) return;
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc) xalloc_die();
    core_buf_printf(q, "%c%s=%s", q->len ? '&' : '?', name, esc);
    curl_free(esc);
}

char *client_query_path(const char *path, const client_filters_t *f, const char *limit,
                        const char *cursor)
{
    core_buf_t u = {0}, q = {0};
    core_buf_put(&u, path, strlen(path));
    if (f) {
        append_param(&q, "subscriber", f->subscriber);
        append_param(&q, "type", f->type);
        append_param(&q, "since", f->since);
        append_param(&q, "until", f->until);
    }
    append_param(&q, "limit", limit);
    append_param(&q, "cursor", cursor);
    core_buf_put(&u, q.p, q.len);
    core_buf_free(&q);
    return core_buf_cstr(&u);
}

char *client_id_path(const char *prefix, const char *id, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc) xalloc_die();
    core_buf_t b = {0};
    core_buf_printf(&b, "%s%s%s", prefix, esc, suffix);
    curl_free(esc);
    return core_buf_cstr(&b);
}

void client_reply_init(const client_t *c, client_reply_t *r, size_t node, const char *path)
{
    *r = (client_reply_t){.node = node};
    core_buf_t u = {0};
    core_buf_printf(&u, "%s%s", c->urls[node], path);
    r->url = core_buf_cstr(&u);
}

void client_reply_free(client_reply_t *r)
{
    free(r->url);
    core_buf_free(&r->body);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    core_buf_put(ctx, data, size * n);
    return size * n;
}

void client_perform(const client_t *c, const char *method, client_reply_t *r, size_t n)
{
    struct curl_slist *hdrs = NULL;
    if (c->token && c->token[0]) {
        core_buf_t a = {0};
        core_buf_printf(&a, "Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, core_buf_cstr(&a));
        core_buf_free(&a);
        if (!hdrs) xalloc_die();
    }
    CURLM *m = curl_multi_init();
    if (!m) xalloc_die();
    CURL **h = xcalloc(n, sizeof(*h));
    for (size_t i = 0; i < n; i++) {
        h[i] = curl_easy_init();
        if (!h[i]) xalloc_die();
        curl_easy_setopt(h[i], CURLOPT_URL, r[i].url);
        curl_easy_setopt(h[i], CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0) curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &r[i].body);
        curl_easy_setopt(h[i], CURLOPT_ERRORBUFFER, r[i].err);
        curl_easy_setopt(h[i], CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, c->timeout_s * 1000L);
        curl_easy_setopt(h[i], CURLOPT_USERAGENT, "hookgate-admin/" HOOKGATE_VERSION);
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, &r[i]);
        curl_multi_add_handle(m, h[i]);
    }
    int running = 1;
    while (running) {
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc == CURLM_OK && running) mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            for (size_t i = 0; i < n; i++)
                snprintf(r[i].err, sizeof(r[i].err), "%s", curl_multi_strerror(mc));
            break;
        }
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        client_reply_t *ri;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ri);
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &ri->status);
        } else if (!ri->err[0]) {
            snprintf(ri->err, sizeof(ri->err), "%s", curl_easy_strerror(msg->data.result));
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!r[i].status && !r[i].err[0]) snprintf(r[i].err, sizeof(r[i].err), "no answer");
        core_buf_cstr(&r[i].body);
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    free(h);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
}

client_reply_t *client_ask_all(const client_t *c, const char *method, const char *path)
{
    client_reply_t *r = xcalloc(c->nnodes, sizeof(*r));
    for (size_t i = 0; i < c->nnodes; i++)
        client_reply_init(c, &r[i], i, path);
    client_perform(c, method, r, c->nnodes);
    return r;
}

void client_replies_free(client_reply_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        client_reply_free(&r[i]);
    free(r);
}

void client_report(client_t *c, const client_reply_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hookgate-admin: ", stderr);
    if (client_cluster(c)) fprintf(stderr, "node %zu (%s): ", r->node + 1, c->urls[r->node]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    c->failed = true;
}

bool client_reply_ok(client_t *c, const client_reply_t *r, const char *method)
{
    if (r->status >= 200 && r->status < 300) return true;
    if (r->status == 0) {
        client_report(c, r, "%s %s: %s", method, r->url, r->err);
        return false;
    }
    json_doc_t doc;
    char err[64];
    if (json_parse(&doc, r->body.p, r->body.len, 16, err, sizeof(err)) != 0) {
        client_report(c, r, "HTTP %ld: %.300s", r->status, r->body.p);
        return false;
    }
    if (doc.tok[0].type == JSMN_OBJECT) {
        char *code = field_text(&doc, 0, "error"), *detail = field_text(&doc, 0, "detail");
        client_report(c, r, "HTTP %ld %s: %s", r->status, code, detail);
        free(code);
        free(detail);
    } else {
        client_report(c, r, "HTTP %ld: %.300s", r->status, r->body.p);
    }
    json_free(&doc);
    return false;
}

bool client_parse(client_t *c, json_doc_t *doc, const client_reply_t *r)
{
    char err[200] = "not an object";
    if (json_parse(doc, r->body.p, r->body.len, 128, err, sizeof(err)) == 0) {
        if (doc->tok[0].type == JSMN_OBJECT) return true;
        json_free(doc);
    }
    client_report(c, r, "the answer is not a JSON object (%s): %.200s", err, r->body.p);
    return false;
}
