/* dlq.c -- the dead-letter commands on one dead letter or on a selection on every node. */
#include "cli/dlq.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli/field.h"
#include "cli/output.h"
#include "cli/table.h"

static void print_kv(const json_doc_t *doc, const char *label, const char *key)
{
    char *v = field_text(doc, 0, key);
    printf("%-18s%s\n", label, v);
    free(v);
}

static void print_dead_letter(const client_t *c, const json_doc_t *doc, size_t node,
                              const char *qid)
{
    if (client_cluster(c)) {
        printf("%-18s%zu (%s)\n", "node:", node + 1, c->urls[node]);
        printf("%-18s%s\n", "id:", qid);
    } else {
        print_kv(doc, "id:", "id");
    }
    print_kv(doc, "subscriber:", "subscriber");
    print_kv(doc, "event id:", "event_id");
    print_kv(doc, "event type:", "event_type");
    print_kv(doc, "attempts:", "attempts");
    print_kv(doc, "last status:", "last_status");
    print_kv(doc, "last error:", "last_error");
    print_kv(doc, "first attempt at:", "first_attempt_at");
    print_kv(doc, "dead at:", "dead_at");
    static const char *const head[] = {"ATTEMPT AT", "STATUS", "DURATION MS", "ERROR"};
    static const char *const fields[] = {"at", "status", "duration_ms", "error"};
    table_t t = {.ncols = 4, .head = head};
    puts("\nhistory:");
    if (table_from(&t, doc, "history", fields) == 0)
        puts("no attempts recorded");
    else
        table_print(&t);
    int ev = json_object_get(doc, 0, "event", 5);
    if (ev >= 0) {
        size_t n;
        const char *p = json_value_ptr(doc, ev, &n);
        printf("\nevent:\n%.*s\n", (int)n, p);
    }
}

void dlq_show(client_t *c, size_t node, const char *id, const char *qid, bool json)
{
    client_reply_t r;
    char *path = client_id_path("/admin/dead-letters/", id, "");
    client_reply_init(c, &r, node, path);
    free(path);
    client_perform(c, "GET", &r, 1);
    json_doc_t doc;
    if (client_reply_ok(c, &r, "GET") && json) {
        out_raw(&r);
    } else if (!c->failed && client_parse(c, &doc, &r)) {
        print_dead_letter(c, &doc, node, qid);
        json_free(&doc);
    }
    client_reply_free(&r);
}

void dlq_change_one(client_t *c, bool retry, size_t node, const char *id, bool json)
{
    const char *method = retry ? "POST" : "DELETE";
    client_reply_t r;
    char *path = client_id_path("/admin/dead-letters/", id, retry ? "/retry" : "");
    client_reply_init(c, &r, node, path);
    free(path);
    client_perform(c, method, &r, 1);
    if (client_cluster(c) && json) {
        /* One node was asked: its answer as it is. */
        if (client_reply_ok(c, &r, method)) out_raw(&r);
    } else {
        out_counts(c, &r, 1, method, retry ? "requeued" : "deleted", "dead letter", "dead letters",
                   json);
    }
    client_reply_free(&r);
}

void dlq_change_all(client_t *c, bool retry, const client_filters_t *f, bool json)
{
    const char *method = retry ? "POST" : "DELETE";
    char *path = client_query_path(retry ? "/admin/dead-letters/retry" : "/admin/dead-letters", f,
                                   NULL, NULL);
    client_reply_t *r = client_ask_all(c, method, path);
    free(path);
    out_counts(c, r, c->nnodes, method, retry ? "requeued" : "deleted", "dead letter",
               "dead letters", json);
    client_replies_free(r, c->nnodes);
}
