/* dlq_list.c -- `dlq list` on one gateway, or merged over several nodes oldest first. */
#include "cli/dlq_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/field.h"
#include "cli/output.h"
#include "cli/table.h"
#include "core/xalloc.h"

static const char *const dl_head[] = {"ID",       "SUBSCRIBER", "EVENT TYPE", "EVENT ID",
                                      "ATTEMPTS", "STATUS",     "DEAD AT",    "LAST ERROR"};
static const char *const dl_fields[] = {"id",       "subscriber",  "event_type", "event_id",
                                        "attempts", "last_status", "dead_at",    "last_error"};
enum { DL_NCOLS = 8 };

static const char dl_path[] = "/admin/dead-letters";

/* The table of a page and the hint about the next one. */
static void print_page(table_t *t, size_t n, const char *next)
{
    bool more = next != NULL;
    if (n > 0)
        table_print(t);
    else if (!more)
        puts("no dead letters");
    /* A filtered page scans a bounded stretch of the queue and may hold none. */
    if (more && n > 0) printf("(%zu shown; more with --cursor %s)\n", n, next);
    if (more && n == 0)
        printf("(none matched in the stretch scanned; continue with --cursor %s)\n", next);
}

void dlq_list_single(client_t *c, const client_filters_t *f, const char *limit, const char *cursor,
                     bool json)
{
    client_reply_t r;
    char *path = client_query_path(dl_path, f, limit, cursor);
    client_reply_init(c, &r, 0, path);
    free(path);
    client_perform(c, "GET", &r, 1);
    json_doc_t doc;
    if (client_reply_ok(c, &r, "GET") && json) {
        out_raw(&r);
    } else if (r.status && !c->failed && client_parse(c, &doc, &r)) {
        table_t t = {.ncols = DL_NCOLS, .head = dl_head};
        size_t n = table_from(&t, &doc, "items", dl_fields);
        char *next = field_text(&doc, 0, "next_cursor");
        print_page(&t, n, strcmp(next, "-") != 0 ? next : NULL);
        free(next);
        json_free(&doc);
    }
    client_reply_free(&r);
}

/* One node's page in a merged listing. */
typedef struct {
    client_reply_t reply;
    json_doc_t doc;
    bool ok;        /* answered, parsed, with an items array */
    int *tok;       /* the items' tokens */
    char **dead_at; /* the items' dead_at, "-" when none */
    size_t nitems;
    char *next; /* its next_cursor, NULL when null */
} page_t;

/* Takes reply as the page's and reads it; false (reported) when it failed or has no items
 * array. */
static bool page_load(client_t *c, page_t *p, const client_reply_t *reply)
{
    p->reply = *reply;
    if (!client_reply_ok(c, &p->reply, "GET") || !client_parse(c, &p->doc, &p->reply)) return false;
    int items = json_object_get(&p->doc, 0, "items", 5);
    if (items < 0 || p->doc.tok[items].type != JSMN_ARRAY) {
        client_report(c, &p->reply, "the answer has no items array: %.200s", p->reply.body.p);
        json_free(&p->doc);
        return false;
    }
    p->nitems = (size_t)p->doc.tok[items].size;
    p->tok = xcalloc(p->nitems, sizeof(*p->tok));
    p->dead_at = xcalloc(p->nitems, sizeof(*p->dead_at));
    for (size_t i = 0, e = (size_t)items + 1; i < p->nitems;
         i++, e = (size_t)json_skip(&p->doc, (int)e)) {
        p->tok[i] = (int)e;
        p->dead_at[i] = field_text(&p->doc, (int)e, "dead_at");
    }
    int nc = json_object_get(&p->doc, 0, "next_cursor", 11);
    p->next = nc >= 0 && json_is_string(&p->doc, nc) ? json_str_dup(&p->doc, nc) : NULL;
    p->ok = true;
    return true;
}

static void page_free(page_t *p)
{
    for (size_t i = 0; i < p->nitems; i++)
        free(p->dead_at[i]);
    free(p->dead_at);
    free(p->tok);
    free(p->next);
    if (p->ok) json_free(&p->doc);
    if (p->reply.url) client_reply_free(&p->reply);
}

/* Asks the nodes for pages (limits[node] items from cursor[node]; nodes with limits[node]
 * == 0 are not asked) and loads the answers into pages[node]. */
static void ask_pages(client_t *c, const client_filters_t *f, const size_t *limits,
                      const merge_pos_t *pos, page_t *pages)
{
    size_t n = c->nnodes, nasks = 0;
    client_reply_t *asks = xcalloc(n, sizeof(*asks));
    for (size_t i = 0; i < n; i++) {
        if (limits[i] == 0) continue;
        char lim[24];
        snprintf(lim, sizeof(lim), "%zu", limits[i]);
        char *path = client_query_path(dl_path, f, lim, pos[i].at);
        client_reply_init(c, &asks[nasks++], i, path);
        free(path);
    }
    client_perform(c, "GET", asks, nasks);
    for (size_t a = 0; a < nasks; a++)
        page_load(c, &pages[asks[a].node], &asks[a]);
    free(asks);
}

/* One item as JSON with its id qualified by node and a "node" member after it. */
static void put_item(core_buf_t *b, const page_t *p, const merge_item_t *it)
{
    const json_doc_t *doc = &p->doc;
    int obj = p->tok[it->index];
    char *id = field_text(doc, obj, "id");
    char *qid = merge_id_format(it->node, id);
    core_buf_put(b, "{\"id\":", 6);
    field_put_json_string(b, qid);
    core_buf_printf(b, ",\"node\":%zu", it->node + 1);
    free(qid);
    free(id);
    const jsmntok_t *o = &doc->tok[obj];
    for (int i = 0, k = obj + 1; i < o->size; i++) {
        int v = k + 1;
        if (!json_tok_eq(doc, k, "id", 2)) {
            size_t kn, vn;
            const char *kp = json_value_ptr(doc, k, &kn);
            const char *vp = json_value_ptr(doc, v, &vn);
            core_buf_putc(b, ',');
            core_buf_put(b, kp, kn);
            core_buf_putc(b, ':');
            core_buf_put(b, vp, vn);
        }
        k = json_skip(doc, v);
    }
    core_buf_putc(b, '}');
}

static void print_merged(const page_t *const *src, const merge_item_t *out, size_t nout,
                         const char *next, bool json)
{
    if (json) {
        core_buf_t b = {0};
        core_buf_put(&b, "{\"items\":[", 10);
        for (size_t i = 0; i < nout; i++) {
            if (i) core_buf_putc(&b, ',');
            put_item(&b, src[out[i].node], &out[i]);
        }
        core_buf_put(&b, "],\"next_cursor\":", 16);
        if (next)
            field_put_json_string(&b, next);
        else
            core_buf_put(&b, "null", 4);
        core_buf_put(&b, "}\n", 2);
        fwrite(b.p, 1, b.len, stdout);
        core_buf_free(&b);
        return;
    }
    table_t t = {.ncols = DL_NCOLS, .head = dl_head};
    char *row[DL_NCOLS];
    for (size_t i = 0; i < nout; i++) {
        const page_t *p = src[out[i].node];
        int obj = p->tok[out[i].index];
        for (size_t col = 0; col < DL_NCOLS; col++)
            row[col] = field_text(&p->doc, obj, dl_fields[col]);
        char *qid = merge_id_format(out[i].node, row[0]);
        free(row[0]);
        row[0] = qid;
        table_row(&t, row);
    }
    print_page(&t, nout, next);
}

/* Every node's page is asked for at once and merge_select picks what can be shown oldest
 * first. A node whose page was shown only in part is asked again with limit = the part
 * shown: the node's own cursor then points right after what was shown, so walking the
 * composite cursor lists every dead letter once and in dead_at order. */
void dlq_list_merged(client_t *c, const client_filters_t *f, size_t limit, const merge_pos_t *pos,
                     bool json)
{
    size_t n = c->nnodes;
    page_t *first = xcalloc(n, sizeof(*first)), *again = xcalloc(n, sizeof(*again));
    size_t *limits = xcalloc(n, sizeof(*limits));
    for (size_t i = 0; i < n; i++)
        limits[i] = pos[i].done ? 0 : limit;
    ask_pages(c, f, limits, pos, first);

    merge_page_t *mp = xcalloc(n, sizeof(*mp));
    for (size_t i = 0; i < n; i++)
        mp[i] = (merge_page_t){.answered = first[i].ok,
                               .dead_at = (const char *const *)first[i].dead_at,
                               .nitems = first[i].nitems,
                               .more = first[i].next != NULL};
    size_t *taken = xcalloc(n, sizeof(*taken));
    merge_item_t *shown;
    size_t nshown = merge_select(mp, n, limit, taken, &shown);

    /* Pages shown in part are asked again, up to the part shown, for the exact cursor. */
    for (size_t i = 0; i < n; i++)
        limits[i] = first[i].ok && taken[i] < first[i].nitems ? taken[i] : 0;
    ask_pages(c, f, limits, pos, again);

    /* What is shown: the items of pages shown whole, and the pages asked again. */
    merge_item_t *out = xcalloc(nshown, sizeof(*out));
    size_t nout = 0;
    for (size_t s = 0; s < nshown; s++)
        if (taken[shown[s].node] == first[shown[s].node].nitems) out[nout++] = shown[s];
    const page_t **src = xcalloc(n, sizeof(*src));
    for (size_t i = 0; i < n; i++) {
        src[i] = &first[i];
        if (limits[i] == 0) continue;
        if (!again[i].ok) {
            taken[i] = 0; /* shown next time instead */
            continue;
        }
        src[i] = &again[i];
        out = xrealloc(out, (nout + again[i].nitems) * sizeof(*out));
        for (size_t j = 0; j < again[i].nitems; j++)
            out[nout++] = (merge_item_t){i, j, again[i].dead_at[j]};
        free(first[i].next);
        first[i].next = again[i].next;
        again[i].next = NULL;
        taken[i] = first[i].nitems; /* the cursor now follows exactly what is shown */
    }
    merge_sort(out, nout);

    /* The next composite cursor; a node that failed or showed nothing stays where it was. */
    merge_pos_t *next_pos = xcalloc(n, sizeof(*next_pos));
    for (size_t i = 0; i < n; i++) {
        if (pos[i].done || !first[i].ok || (taken[i] == 0 && first[i].nitems > 0))
            next_pos[i] = pos[i];
        else
            next_pos[i] = (merge_pos_t){.at = first[i].next, .done = !first[i].next};
    }
    char *next = merge_cursor_format(next_pos, n);
    print_merged(src, out, nout, next, json);

    free(next);
    free(next_pos);
    free(src);
    free(out);
    free(shown);
    free(taken);
    free(mp);
    free(limits);
    for (size_t i = 0; i < n; i++) {
        page_free(&first[i]);
        page_free(&again[i]);
    }
    free(first);
    free(again);
}
