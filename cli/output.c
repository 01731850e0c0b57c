/* output.c -- the answers as hookgate-admin prints them whole: as they came, wrapped per
 * node, or as counts summed over the nodes. */
#include "cli/output.h"

#include <stdio.h>

#include "cli/field.h"

void out_raw(const client_reply_t *r)
{
    fwrite(r->body.p, 1, r->body.len, stdout);
    if (r->body.len && r->body.p[r->body.len - 1] != '\n') putchar('\n');
}

void out_nodes_json(const client_t *c, const client_reply_t *r, size_t n)
{
    core_buf_t b = {0};
    core_buf_put(&b, "{\"nodes\":[", 10);
    for (size_t i = 0; i < n; i++) {
        core_buf_printf(&b, "%s{\"node\":%zu,\"url\":", i ? "," : "", r[i].node + 1);
        field_put_json_string(&b, c->urls[r[i].node]);
        json_doc_t doc;
        char err[8];
        if (r[i].status >= 200 && r[i].status < 300 &&
            json_parse(&doc, r[i].body.p, r[i].body.len, 128, err, sizeof(err)) == 0) {
            json_free(&doc);
            core_buf_printf(&b, ",\"status\":%ld,\"answer\":", r[i].status);
            core_buf_put(&b, r[i].body.p, r[i].body.len);
        } else if (r[i].status) {
            core_buf_printf(&b, ",\"status\":%ld,\"error\":", r[i].status);
            field_put_json_string(&b, r[i].body.p);
        } else {
            core_buf_put(&b, ",\"status\":null,\"error\":", 23);
            field_put_json_string(&b, r[i].err);
        }
        core_buf_putc(&b, '}');
    }
    core_buf_put(&b, "]}\n", 3);
    fwrite(b.p, 1, b.len, stdout);
    core_buf_free(&b);
}

void out_counts(client_t *c, const client_reply_t *r, size_t n, const char *method, const char *key,
                const char *one, const char *many, bool json)
{
    long long sum = 0;
    core_buf_t parts = {0};
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
        json_doc_t doc;
        if (!client_reply_ok(c, &r[i], method) || !client_parse(c, &doc, &r[i])) continue;
        long long v = field_int(&doc, 0, key);
        json_free(&doc);
        sum += v;
        core_buf_printf(&parts, "%snode %zu: %lld", answered++ ? ", " : "", r[i].node + 1, v);
    }
    if (json) {
        if (client_cluster(c))
            out_nodes_json(c, r, n);
        else if (answered)
            out_raw(&r[0]);
    } else if (answered) {
        printf("%s %lld %s", key, sum, sum == 1 ? one : many);
        if (client_cluster(c)) printf(" (%s)", core_buf_cstr(&parts));
        putchar('\n');
    }
    core_buf_free(&parts);
}
