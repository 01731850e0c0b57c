/* subscribers.c -- the subscriber commands: counters summed over the nodes, pause, resume
 * and replay on every node. */
#include "cli/subscribers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/field.h"
#include "cli/merge.h"
#include "cli/output.h"
#include "cli/table.h"
#include "core/xalloc.h"

/* In merge_sub_row_t's counter order. */
static const char *const sub_counters[MERGE_SUB_NCOUNTERS] = {"pending", "in_flight", "delivered",
                                                              "failed_attempts", "dead"};
enum { SUB_NCOLS = 11 };
static const char *const sub_head[SUB_NCOLS + 1] = {
    "NODE", "NAME",   "PENDING", "IN FLIGHT",    "DELIVERED", "FAILED ATTEMPTS",
    "DEAD", "PAUSED", "CIRCUIT", "LAST SUCCESS", "URL",       "LAST ERROR"};

/* 1, 0, or -1 when paused is not a boolean. */
static int paused_of(const json_doc_t *doc, int obj)
{
    int t = json_object_get(doc, obj, "paused", 6);
    if (t >= 0 && json_tok_eq(doc, t, "true", 4)) return 1;
    if (t >= 0 && json_tok_eq(doc, t, "false", 5)) return 0;
    return -1;
}

/* One subscriber of one node as a row (NAME .. LAST ERROR) into row[0..SUB_NCOLS-1]. */
static void node_row(const json_doc_t *doc, int obj, char **row)
{
    static const char *const paused[] = {"-", "no", "yes"};
    row[0] = field_text(doc, obj, "name");
    for (size_t c = 0; c < MERGE_SUB_NCOUNTERS; c++)
        row[1 + c] = field_text(doc, obj, sub_counters[c]);
    row[6] = xstrdup(paused[paused_of(doc, obj) + 1]);
    row[7] = field_text(doc, obj, "circuit");
    row[8] = field_text(doc, obj, "last_success_at");
    row[9] = field_text(doc, obj, "url");
    row[10] = field_text(doc, obj, "last_error");
}

/* One subscriber summed over the nodes as a row (NAME .. LAST ERROR). */
static void sum_row(const merge_sub_t *s, char **row)
{
    row[0] = xstrdup(s->name);
    for (size_t c = 0; c < MERGE_SUB_NCOUNTERS; c++) {
        core_buf_t b = {0};
        core_buf_printf(&b, "%lld", s->counters[c]);
        row[1 + c] = core_buf_cstr(&b);
    }
    row[6] = merge_sub_paused(s);
    row[7] = merge_sub_circuit(s);
    row[8] = xstrdup(s->last_success);
    row[9] = xstrdup(s->url);
    row[10] = xstrdup(s->last_error);
}

/* Adds node's subscribers (the array in doc) to subs. */
static void add_node(merge_subs_t *subs, size_t node, const json_doc_t *doc)
{
    int arr = json_object_get(doc, 0, "subscribers", 11);
    if (arr < 0 || doc->tok[arr].type != JSMN_ARRAY) return;
    for (int k = 0, e = arr + 1; k < doc->tok[arr].size; k++, e = json_skip(doc, e)) {
        merge_sub_row_t row = {.paused = paused_of(doc, e)};
        char *name = field_text(doc, e, "name");
        char *last_success = field_text(doc, e, "last_success_at");
        char *url = field_text(doc, e, "url");
        char *last_error = field_text(doc, e, "last_error");
        row.name = name;
        row.last_success_at = last_success;
        row.url = url;
        row.last_error = last_error;
        for (size_t c = 0; c < MERGE_SUB_NCOUNTERS; c++)
            row.counters[c] = field_int(doc, e, sub_counters[c]);
        int circuit = json_object_get(doc, e, "circuit", 7);
        char *state =
            circuit >= 0 && json_is_string(doc, circuit) ? json_str_dup(doc, circuit) : NULL;
        row.circuit = state;
        merge_subs_add(subs, node, &row, e);
        free(name);
        free(last_success);
        free(url);
        free(last_error);
        free(state);
    }
}

void subs_list(client_t *c, bool per_node, bool json)
{
    client_reply_t *r = client_ask_all(c, "GET", "/admin/subscribers");
    size_t n = c->nnodes;
    json_doc_t *docs = xcalloc(n, sizeof(*docs));
    bool *ok = xcalloc(n, sizeof(bool));
    for (size_t i = 0; i < n; i++)
        ok[i] = client_reply_ok(c, &r[i], "GET") && (json || client_parse(c, &docs[i], &r[i]));
    if (json) {
        if (client_cluster(c))
            out_nodes_json(c, r, n);
        else if (ok[0])
            out_raw(&r[0]);
        client_replies_free(r, n);
        free(docs);
        free(ok);
        return;
    }
    merge_subs_t subs;
    merge_subs_init(&subs, n);
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) continue;
        answered++;
        add_node(&subs, i, &docs[i]);
    }
    /* With a single gateway the node column is left out. */
    bool node_col = client_cluster(c) && per_node;
    table_t t = {.ncols = node_col ? SUB_NCOLS + 1 : SUB_NCOLS,
                 .head = node_col ? sub_head : sub_head + 1};
    char *row[SUB_NCOLS + 1];
    for (size_t s = 0; s < subs.n; s++) {
        const merge_sub_t *su = &subs.v[s];
        if (client_cluster(c) && !per_node) {
            sum_row(su, row);
            table_row(&t, row);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (su->ref[i] < 0) continue;
            if (node_col) {
                core_buf_t b = {0};
                core_buf_printf(&b, "%zu", i + 1);
                row[0] = core_buf_cstr(&b);
            }
            node_row(&docs[i], su->ref[i], row + node_col);
            table_row(&t, row);
        }
    }
    if (t.nrows > 0)
        table_print(&t);
    else if (answered)
        puts("no subscribers configured");
    else
        table_free(&t);
    /* Nodes should share one config: say where they do not. */
    for (size_t s = 0; s < subs.n && client_cluster(c); s++) {
        if (subs.v[s].nodes < answered)
            printf("(%s is configured on %zu of the %zu nodes that answered)\n", subs.v[s].name,
                   subs.v[s].nodes, answered);
        if (subs.v[s].url_differs)
            printf("(%s has a different URL on some nodes; --per-node shows each)\n",
                   subs.v[s].name);
    }
    merge_subs_free(&subs);
    for (size_t i = 0; i < n; i++)
        if (ok[i]) json_free(&docs[i]);
    free(docs);
    free(ok);
    client_replies_free(r, n);
}

void subs_action(client_t *c, const char *action, const char *name, const client_filters_t *f,
                 bool json)
{
    char *base = client_id_path("/admin/subscribers/", name, "");
    core_buf_t p = {0};
    core_buf_printf(&p, "%s/%s", base, action);
    free(base);
    char *path = client_query_path(core_buf_cstr(&p), f, NULL, NULL);
    core_buf_free(&p);
    client_reply_t *r = client_ask_all(c, "POST", path);
    free(path);
    size_t n = c->nnodes;
    if (strcmp(action, "replay") == 0) {
        out_counts(c, r, n, "POST", "requeued", "delivery", "deliveries", json);
    } else {
        const char *done_word = strcmp(action, "pause") == 0 ? "paused" : "resumed";
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            if (client_reply_ok(c, &r[i], "POST")) done++;
        if (json && client_cluster(c))
            out_nodes_json(c, r, n);
        else if (json && done)
            out_raw(&r[0]);
        else if (done && client_cluster(c))
            printf("%s %s on %zu of %zu nodes\n", name, done_word, done, n);
        else if (done)
            printf("%s %s\n", name, done_word);
    }
    client_replies_free(r, n);
}
