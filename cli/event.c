/* event.c -- `event ID`: an event and its deliveries, from whichever nodes hold it. */
#include "cli/event.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli/output.h"
#include "cli/table.h"

static void print_event(const json_doc_t *doc)
{
    int ev = json_object_get(doc, 0, "event", 5);
    if (ev >= 0) {
        size_t n;
        const char *p = json_value_ptr(doc, ev, &n);
        printf("event:\n%.*s\n\n", (int)n, p);
    }
    static const char *const head[] = {"SUBSCRIBER",   "STATE",       "ATTEMPTS",
                                       "NEXT ATTEMPT", "LAST STATUS", "LAST ERROR"};
    static const char *const fields[] = {"subscriber",      "state",       "attempts",
                                         "next_attempt_at", "last_status", "last_error"};
    table_t t = {.ncols = 6, .head = head};
    if (table_from(&t, doc, "deliveries", fields) == 0)
        puts("no deliveries (no subscriber matched)");
    else
        table_print(&t);
}

/* An event is stored on the node its key hashed to (on several after keys moved): every
 * node is asked. */
void event_show(client_t *c, const char *id, bool json)
{
    char *path = client_id_path("/admin/events/", id, "");
    client_reply_t *r = client_ask_all(c, "GET", path);
    free(path);
    size_t n = c->nnodes, found = 0;
    bool cluster = client_cluster(c);
    if (json && cluster) {
        for (size_t i = 0; i < n; i++) {
            if (r[i].status >= 200 && r[i].status < 300)
                found++;
            else if (r[i].status != 404)
                client_reply_ok(c, &r[i], "GET");
        }
        out_nodes_json(c, r, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (cluster && r[i].status == 404) continue;
            json_doc_t doc;
            if (!client_reply_ok(c, &r[i], "GET")) continue;
            if (json) {
                out_raw(&r[i]);
                found++;
                continue;
            }
            if (!client_parse(c, &doc, &r[i])) continue;
            if (found++) putchar('\n');
            if (cluster) printf("node %zu (%s):\n", i + 1, c->urls[i]);
            print_event(&doc);
            json_free(&doc);
        }
    }
    if (cluster && found == 0) {
        fprintf(stderr, "hookgate-admin: no event %s on %s\n", id,
                c->failed ? "the nodes that answered" : "any node");
        c->failed = true;
    }
    client_replies_free(r, n);
}
