/* admin_cli.c -- hookgate-admin: the operator's command line for the admin API of one
 * gateway or of several shared-nothing nodes (dead letters, subscribers, events), printing
 * tables or, with --json, the answers.
 *
 * With several nodes (--url a,b,c) every command asks all of them at once: counters are
 * summed, dead-letter pages merged oldest first with ids qualified by node ("2:25"), and a
 * node that does not answer is reported on stderr by name while the others' results are
 * still printed; the exit status is then 1. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/json.h"
#include "core/buf.h"
#include "core/xalloc.h"

static const char usage[] =
    "usage: hookgate-admin [--url URL[,URL...]] [--token TOKEN] [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  dlq list [FILTERS] [--limit N] [--cursor C]  list dead letters, oldest first\n"
    "  dlq show ID                 one dead letter with its event and attempt history\n"
    "  dlq retry ID                redrive one dead letter\n"
    "  dlq retry --all [FILTERS]   redrive every dead letter matching FILTERS\n"
    "  dlq delete ID               delete one dead letter\n"
    "  dlq purge FILTERS | --all   delete every dead letter matching FILTERS\n"
    "  subscribers [--per-node]    subscribers with their delivery counters\n"
    "  subscribers pause NAME      stop attempts to a subscriber (deliveries wait)\n"
    "  subscribers resume NAME     attempt its deliveries again\n"
    "  subscribers replay NAME [--type T] [--since TIME] [--until TIME]\n"
    "                              a new delivery to it of every stored event it matches\n"
    "  event ID                    an event and the state of each of its deliveries\n"
    "\n"
    "FILTERS: --subscriber NAME  --type TYPE  --since TIME  --until TIME\n"
    "  TIME is RFC 3339 (2026-11-27T10:00:00Z) or an age: 90s, 15m, 2h, 7d (that long ago).\n"
    "  For dlq, since/until bound dead_at; for replay, the event's occurred_at.\n"
    "\n"
    "Several nodes: give --url (or $HOOKGATE_URL) a comma-separated list. Every node is\n"
    "asked; counters are summed (--per-node shows each node's row); dead-letter ids are\n"
    "qualified by node, 2:25 being dead letter 25 of the second node in the list.\n"
    "\n"
    "Options:\n"
    "  --url URL      the gateway or nodes (default $HOOKGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN  the admin token (default $HOOKGATE_ADMIN_TOKEN)\n"
    "  --json         print the JSON answer instead of tables\n"
    "  --timeout S    give up on a node after S seconds (default 60)\n"
    "  -h, --help     show this help and exit\n"
    "  --version      print the version and exit\n"
    "\n"
    "Exit status: 0 done, 1 a request failed or a node did not answer (the reason is\n"
    "printed, naming the node), 2 usage.\n";

typedef struct {
    char *url; /* base URL without a trailing slash */
} node_t;

static struct {
    node_t *nodes;
    size_t nnodes;
    const char *token;
    bool json, all, per_node;
    const char *subscriber, *type, *since, *until, *limit, *cursor;
    long timeout_s;
} opt;

/* Set when any node failed; main returns 1 then. */
static bool failed;

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hookgate-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(see hookgate-admin --help)\n", stderr);
    va_end(ap);
    exit(2);
}

static bool cluster(void)
{
    return opt.nnodes > 1;
}

/* ---- HTTP: one request per node, all at once ---- */

/* One request and its answer. */
typedef struct {
    size_t node;               /* index into opt.nodes */
    char *url;                 /* the whole URL, owned */
    long status;               /* HTTP status; 0 when no answer came */
    core_buf_t body;           /* the answer, NUL-terminated */
    char err[CURL_ERROR_SIZE]; /* why no answer came */
} reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    core_buf_put(ctx, data, size * n);
    return size * n;
}

static void append_param(core_buf_t *q, const char *name, const char *value)
{
    if (!value) return;
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc) xalloc_die();
    core_buf_printf(q, "%c%s=%s", q->len ? '&' : '?', name, esc);
    curl_free(esc);
}

/* path plus a query of the filter options (when filters) and of limit and cursor (when
 * not NULL); malloc'd. */
static char *make_path(const char *path, bool filters, const char *limit, const char *cursor)
{
    core_buf_t u = {0}, q = {0};
    core_buf_put(&u, path, strlen(path));
    if (filters) {
        append_param(&q, "subscriber", opt.subscriber);
        append_param(&q, "type", opt.type);
        append_param(&q, "since", opt.since);
        append_param(&q, "until", opt.until);
    }
    append_param(&q, "limit", limit);
    append_param(&q, "cursor", cursor);
    core_buf_put(&u, q.p, q.len);
    core_buf_free(&q);
    return core_buf_cstr(&u);
}

/* prefix + the %-escaped id + suffix, malloc'd. */
static char *id_path(const char *prefix, const char *id, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc) xalloc_die();
    size_t n = strlen(prefix) + strlen(esc) + strlen(suffix) + 1;
    char *path = xmalloc(n);
    snprintf(path, n, "%s%s%s", prefix, esc, suffix);
    curl_free(esc);
    return path;
}

/* Prepares a request of path (with its query) to node i. */
static void reply_init(reply_t *r, size_t node, const char *path)
{
    *r = (reply_t){.node = node};
    core_buf_t u = {0};
    core_buf_printf(&u, "%s%s", opt.nodes[node].url, path);
    r->url = core_buf_cstr(&u);
}

static void reply_free(reply_t *r)
{
    free(r->url);
    core_buf_free(&r->body);
}

/* Sends every request in r at once with method and waits for all of them. Each ends with
 * a status, or with status 0 and the reason in err. */
static void perform(const char *method, reply_t *r, size_t n)
{
    struct curl_slist *hdrs = NULL;
    if (opt.token && opt.token[0]) {
        core_buf_t a = {0};
        core_buf_printf(&a, "Authorization: Bearer %s", opt.token);
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
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, opt.timeout_s * 1000L);
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
        reply_t *ri;
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

/* The same request (path with its query) to every node; returns nnodes replies. */
static reply_t *ask_all(const char *method, const char *path)
{
    reply_t *r = xcalloc(opt.nnodes, sizeof(*r));
    for (size_t i = 0; i < opt.nnodes; i++)
        reply_init(&r[i], i, path);
    perform(method, r, opt.nnodes);
    return r;
}

static void replies_free(reply_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reply_free(&r[i]);
    free(r);
}

/* ---- JSON answers ---- */

/* A field of the object at obj for display: strings decoded, null and absent as "-". */
static char *field(const json_doc_t *doc, int obj, const char *key)
{
    int t = json_object_get(doc, obj, key, strlen(key));
    if (t < 0 || json_tok_eq(doc, t, "null", 4)) return xstrdup("-");
    if (json_is_string(doc, t)) return json_str_dup(doc, t);
    size_t n;
    const char *p = json_value_ptr(doc, t, &n);
    return xmemdup0(p, n);
}

static long long field_int(const json_doc_t *doc, int obj, const char *key)
{
    int t = json_object_get(doc, obj, key, strlen(key));
    if (t < 0 || doc->tok[t].type != JSMN_PRIMITIVE) return 0;
    return strtoll(json_tok_ptr(doc, t), NULL, 10);
}

/* Reports a failure on stderr, naming the node when there are several; exit status 1. */
static void report(const reply_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const reply_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hookgate-admin: ", stderr);
    if (cluster()) fprintf(stderr, "node %zu (%s): ", r->node + 1, opt.nodes[r->node].url);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failed = true;
}

/* True for a 2xx answer. Otherwise reports it (the server's error code and detail, or why
 * there was no answer) and returns false. */
static bool reply_ok(const reply_t *r, const char *method)
{
    if (r->status >= 200 && r->status < 300) return true;
    if (r->status == 0) {
        report(r, "%s %s: %s", method, r->url, r->err);
        return false;
    }
    json_doc_t doc;
    char err[64];
    if (json_parse(&doc, r->body.p, r->body.len, 16, err, sizeof(err)) == 0 &&
        doc.tok[0].type == JSMN_OBJECT) {
        char *code = field(&doc, 0, "error"), *detail = field(&doc, 0, "detail");
        report(r, "HTTP %ld %s: %s", r->status, code, detail);
        free(code);
        free(detail);
        json_free(&doc);
    } else {
        report(r, "HTTP %ld: %.300s", r->status, r->body.p);
    }
    return false;
}

/* Parses a 2xx answer; reports it when it is not JSON. */
static bool parse(json_doc_t *doc, const reply_t *r)
{
    char err[200] = "not an object";
    if (json_parse(doc, r->body.p, r->body.len, 128, err, sizeof(err)) == 0) {
        if (doc->tok[0].type == JSMN_OBJECT) return true;
        json_free(doc);
    }
    report(r, "the answer is not a JSON object (%s): %.200s", err, r->body.p);
    return false;
}

static void put_json_string(core_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    size_t need = json_escape(NULL, 0, s, n);
    core_buf_reserve(b, need + 1);
    b->len += json_escape(b->p + b->len, need + 1, s, n);
}

/* With several nodes, --json prints {"nodes": [{"node", "url", "status", "answer" | "error"}]}:
 * each node's own answer, or why there is none. */
static void print_nodes_json(const reply_t *r, size_t n)
{
    core_buf_t b = {0};
    core_buf_put(&b, "{\"nodes\":[", 10);
    for (size_t i = 0; i < n; i++) {
        core_buf_printf(&b, "%s{\"node\":%zu,\"url\":", i ? "," : "", r[i].node + 1);
        put_json_string(&b, opt.nodes[r[i].node].url);
        json_doc_t doc;
        char err[8];
        if (r[i].status >= 200 && r[i].status < 300 &&
            json_parse(&doc, r[i].body.p, r[i].body.len, 128, err, sizeof(err)) == 0) {
            json_free(&doc);
            core_buf_printf(&b, ",\"status\":%ld,\"answer\":", r[i].status);
            core_buf_put(&b, r[i].body.p, r[i].body.len);
        } else if (r[i].status) {
            core_buf_printf(&b, ",\"status\":%ld,\"error\":", r[i].status);
            put_json_string(&b, r[i].body.p);
        } else {
            core_buf_put(&b, ",\"status\":null,\"error\":", 23);
            put_json_string(&b, r[i].err);
        }
        core_buf_putc(&b, '}');
    }
    core_buf_put(&b, "]}\n", 3);
    fwrite(b.p, 1, b.len, stdout);
    core_buf_free(&b);
}

/* Prints a single gateway's raw answer. */
static void print_raw(const reply_t *r)
{
    fwrite(r->body.p, 1, r->body.len, stdout);
    if (r->body.len && r->body.p[r->body.len - 1] != '\n') putchar('\n');
}

/* ---- tables ---- */

typedef struct {
    size_t ncols;
    const char *const *head;
    char **cells; /* row-major, owned */
    size_t nrows;
} table_t;

static void table_row(table_t *t, char **row)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(char *));
    t->nrows++;
}

/* Prints the table with columns padded to their widest cell; the last one unpadded. */
static void table_print(table_t *t)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c]) w[c] = n;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
            if (c + 1 < t->ncols)
                printf("%-*s  ", (int)w[c], s);
            else
                printf("%s\n", s);
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(w);
}

/* Rows of the array at key of the root object, each with the listed fields. */
static size_t table_from(table_t *t, const json_doc_t *doc, const char *key,
                         const char *const *fields)
{
    int arr = json_object_get(doc, 0, key, strlen(key));
    if (arr < 0 || doc->tok[arr].type != JSMN_ARRAY) return 0;
    char **row = xcalloc(t->ncols, sizeof(char *));
    for (int i = 0, e = arr + 1; i < doc->tok[arr].size; i++, e = json_skip(doc, e)) {
        for (size_t c = 0; c < t->ncols; c++)
            row[c] = field(doc, e, fields[c]);
        table_row(t, row);
    }
    free(row);
    return (size_t)doc->tok[arr].size;
}

/* ---- dead-letter ids: "25" on a single gateway, "2:25" on node 2 of several ---- */

/* Splits a dead-letter id into its node and the node's own id (pointing into id). */
static size_t qualified_id(const char *id, const char **local)
{
    const char *colon = strchr(id, ':');
    if (!colon) {
        if (cluster())
            die_usage("dead letter %s: with several nodes, qualify the id with its node "
                      "(e.g. 2:%s)",
                      id, id);
        *local = id;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long node = strtoul(id, &end, 10);
    if (end != colon || end == id || errno || node < 1 || node > opt.nnodes || !colon[1])
        die_usage("dead letter %s: expected NODE:ID with NODE from 1 to %zu", id, opt.nnodes);
    *local = colon + 1;
    return node - 1;
}

/* ---- commands ---- */

static const char *const dl_head[] = {"ID",       "SUBSCRIBER", "EVENT TYPE", "EVENT ID",
                                      "ATTEMPTS", "STATUS",     "DEAD AT",    "LAST ERROR"};
static const char *const dl_fields[] = {"id",       "subscriber",  "event_type", "event_id",
                                        "attempts", "last_status", "dead_at",    "last_error"};

/* The table of a dead-letter page and the hint about the next one. */
static void print_dl_page(table_t *t, size_t n, const char *next)
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

/* dlq list on a single gateway: its page as it is. */
static void dlq_list_single(void)
{
    reply_t r;
    char *path = make_path("/admin/dead-letters", true, opt.limit, opt.cursor);
    reply_init(&r, 0, path);
    free(path);
    perform("GET", &r, 1);
    json_doc_t doc;
    if (reply_ok(&r, "GET") && opt.json) {
        print_raw(&r);
    } else if (r.status && !failed && parse(&doc, &r)) {
        table_t t = {.ncols = 8, .head = dl_head};
        size_t n = table_from(&t, &doc, "items", dl_fields);
        char *next = field(&doc, 0, "next_cursor");
        print_dl_page(&t, n, strcmp(next, "-") != 0 ? next : NULL);
        free(next);
        json_free(&doc);
    }
    reply_free(&r);
}

/* One node's place in a merged walk: a composite cursor is the nodes' cursors joined by '~'
 * in --url order, each empty (from the start), "-" (done) or the node's own cursor. */
typedef struct {
    char *cursor; /* NULL: from the start */
    bool done;
    reply_t page;
    json_doc_t doc;
    bool ok;   /* page answered and parsed */
    int items; /* token of its items array */
    int nitems;
    char *next;   /* its next_cursor, NULL when null */
    size_t taken; /* items of the page shown */
} walk_t;

typedef struct {
    size_t node;
    const json_doc_t *doc;
    int tok;
    char *dead_at;
} dl_item_t;

static int dl_item_cmp(const void *a, const void *b)
{
    const dl_item_t *x = a, *y = b;
    int c = strcmp(x->dead_at, y->dead_at);
    if (c) return c;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->tok < y->tok ? -1 : x->tok > y->tok;
}

/* Items of the page in doc (array token arr), the first n of them, appended to *items. */
static void collect(dl_item_t **items, size_t *nitems, size_t node, const json_doc_t *doc, int arr,
                    size_t n)
{
    for (size_t i = 0, e = (size_t)arr + 1; i < n; i++, e = (size_t)json_skip(doc, (int)e)) {
        *items = xrealloc(*items, (*nitems + 1) * sizeof(**items));
        (*items)[(*nitems)++] = (dl_item_t){node, doc, (int)e, field(doc, (int)e, "dead_at")};
    }
}

/* A page's items array and next cursor; false when the answer has no items array. */
static bool read_page(walk_t *w)
{
    w->items = json_object_get(&w->doc, 0, "items", 5);
    if (w->items < 0 || w->doc.tok[w->items].type != JSMN_ARRAY) {
        report(&w->page, "the answer has no items array: %.200s", w->page.body.p);
        return false;
    }
    w->nitems = w->doc.tok[w->items].size;
    int nc = json_object_get(&w->doc, 0, "next_cursor", 11);
    w->next = nc >= 0 && json_is_string(&w->doc, nc) ? json_str_dup(&w->doc, nc) : NULL;
    return true;
}

/* One item as JSON with its id qualified by node and a "node" member. */
static void put_qualified_item(core_buf_t *b, const dl_item_t *it)
{
    char *id = field(it->doc, it->tok, "id");
    core_buf_printf(b, "{\"id\":\"%zu:", it->node + 1);
    size_t at = b->len;
    put_json_string(b, id);
    /* put_json_string wrote "id": drop its opening quote to continue the string. */
    memmove(b->p + at, b->p + at + 1, b->len - at - 1);
    b->len--;
    core_buf_printf(b, ",\"node\":%zu", it->node + 1);
    free(id);
    const jsmntok_t *o = &it->doc->tok[it->tok];
    for (int i = 0, k = it->tok + 1; i < o->size; i++) {
        int v = k + 1;
        if (!json_tok_eq(it->doc, k, "id", 2)) {
            size_t kn, vn;
            const char *kp = json_value_ptr(it->doc, k, &kn);
            const char *vp = json_value_ptr(it->doc, v, &vn);
            core_buf_putc(b, ',');
            core_buf_put(b, kp, kn);
            core_buf_putc(b, ':');
            core_buf_put(b, vp, vn);
        }
        k = json_skip(it->doc, v);
    }
    core_buf_putc(b, '}');
}

/* dlq list over several nodes: one page of each, merged oldest first. An item is shown only
 * when no node that has more could still hold an older one, so that walking the composite
 * cursor lists every dead letter once and in dead_at order. For a node whose page was only
 * partly shown, the page is asked again with limit = the part shown, which gives the node's
 * own cursor right after it. */
static void dlq_list_cluster(void)
{
    long limit = 100;
    if (opt.limit) {
        char *end;
        errno = 0;
        limit = strtol(opt.limit, &end, 10);
        if (*end || end == opt.limit || errno || limit < 1 || limit > 1000)
            die_usage("--limit %s: expected 1 to 1000", opt.limit);
    }
    size_t n = opt.nnodes;
    walk_t *w = xcalloc(n, sizeof(*w));
    if (opt.cursor) {
        const char *p = opt.cursor;
        for (size_t i = 0; i < n; i++) {
            const char *end = strchr(p, '~');
            if ((end == NULL) != (i + 1 == n))
                die_usage("--cursor: not a cursor of this list of %zu nodes", n);
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == 1 && p[0] == '-')
                w[i].done = true;
            else if (len > 0)
                w[i].cursor = xmemdup0(p, len);
            p = end ? end + 1 : p + len;
        }
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    reply_t *asks = xcalloc(n, sizeof(*asks));
    size_t nasks = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].done) continue;
        char *path = make_path("/admin/dead-letters", true, lim, w[i].cursor);
        reply_init(&asks[nasks++], i, path);
        free(path);
    }
    perform("GET", asks, nasks);
    for (size_t a = 0; a < nasks; a++) {
        walk_t *wi = &w[asks[a].node];
        wi->page = asks[a];
        wi->ok = reply_ok(&wi->page, "GET") && parse(&wi->doc, &wi->page);
        if (wi->ok && !read_page(wi)) {
            json_free(&wi->doc);
            wi->ok = false;
        }
    }
    free(asks);

    /* The bound: nothing newer than the oldest "last item" of a node that has more. */
    const char *bound = NULL;
    bool stalled = false; /* a node scanned a stretch without a match and has more */
    char **lasts = xcalloc(n, sizeof(char *));
    dl_item_t *items = NULL;
    size_t nitems = 0;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].ok) continue;
        collect(&items, &nitems, i, &w[i].doc, w[i].items, (size_t)w[i].nitems);
        if (!w[i].next) continue;
        if (w[i].nitems == 0) {
            stalled = true;
            continue;
        }
        lasts[i] = xstrdup(items[nitems - 1].dead_at);
        if (!bound || strcmp(lasts[i], bound) < 0) bound = lasts[i];
    }
    qsort(items, nitems, sizeof(*items), dl_item_cmp);
    size_t shown = 0;
    while (shown < nitems && shown < (size_t)limit && !stalled &&
           (!bound || strcmp(items[shown].dead_at, bound) <= 0))
        w[items[shown++].node].taken++;

    /* Pages shown in part are asked again, up to the part shown, for the exact cursor. */
    reply_t *again = xcalloc(n, sizeof(*again));
    size_t nagain = 0;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].ok || w[i].taken == 0 || w[i].taken == (size_t)w[i].nitems) continue;
        snprintf(lim, sizeof(lim), "%zu", w[i].taken);
        char *path = make_path("/admin/dead-letters", true, lim, w[i].cursor);
        reply_init(&again[nagain++], i, path);
        free(path);
    }
    perform("GET", again, nagain);
    walk_t *w2 = xcalloc(n, sizeof(*w2));
    dl_item_t *out = NULL;
    size_t nout = 0;
    for (size_t s = 0; s < shown; s++)
        if (w[items[s].node].taken == (size_t)w[items[s].node].nitems) {
            out = xrealloc(out, (nout + 1) * sizeof(*out));
            out[nout++] = items[s];
            items[s].dead_at = NULL;
        }
    for (size_t a = 0; a < nagain; a++) {
        size_t i = again[a].node;
        w2[i].page = again[a];
        w2[i].ok = reply_ok(&w2[i].page, "GET") && parse(&w2[i].doc, &w2[i].page);
        if (w2[i].ok && !read_page(&w2[i])) {
            json_free(&w2[i].doc);
            w2[i].ok = false;
        }
        if (!w2[i].ok) {
            w[i].taken = 0; /* shown next time instead */
            continue;
        }
        collect(&out, &nout, i, &w2[i].doc, w2[i].items, (size_t)w2[i].nitems);
        free(w[i].next);
        w[i].next = w2[i].next;
        w2[i].next = NULL;
        w[i].taken = (size_t)w[i].nitems; /* the cursor now follows exactly what is shown */
    }
    free(again);
    qsort(out, nout, sizeof(*out), dl_item_cmp);

    /* The composite cursor. */
    core_buf_t cur = {0};
    bool more = false;
    for (size_t i = 0; i < n; i++) {
        const char *c;
        if (w[i].done)
            c = "-";
        else if (!w[i].ok || (w[i].taken == 0 && w[i].nitems > 0))
            c = w[i].cursor ? w[i].cursor : ""; /* not moved: ask again next time */
        else
            c = w[i].next ? w[i].next : "-";
        if (strcmp(c, "-") != 0) more = true;
        core_buf_printf(&cur, "%s%s", i ? "~" : "", c);
    }
    char *next = more ? core_buf_cstr(&cur) : NULL;

    if (opt.json) {
        core_buf_t b = {0};
        core_buf_put(&b, "{\"items\":[", 10);
        for (size_t i = 0; i < nout; i++) {
            if (i) core_buf_putc(&b, ',');
            put_qualified_item(&b, &out[i]);
        }
        core_buf_put(&b, "],\"next_cursor\":", 16);
        if (next)
            put_json_string(&b, next);
        else
            core_buf_put(&b, "null", 4);
        core_buf_put(&b, "}\n", 2);
        fwrite(b.p, 1, b.len, stdout);
        core_buf_free(&b);
    } else {
        table_t t = {.ncols = 8, .head = dl_head};
        char **row = xcalloc(t.ncols, sizeof(char *));
        for (size_t i = 0; i < nout; i++) {
            for (size_t c = 0; c < t.ncols; c++)
                row[c] = field(out[i].doc, out[i].tok, dl_fields[c]);
            core_buf_t q = {0};
            core_buf_printf(&q, "%zu:%s", out[i].node + 1, row[0]);
            free(row[0]);
            row[0] = core_buf_cstr(&q);
            table_row(&t, row);
        }
        free(row);
        print_dl_page(&t, nout, next);
    }
    core_buf_free(&cur);
    for (size_t i = 0; i < nitems; i++)
        free(items[i].dead_at);
    for (size_t i = 0; i < nout; i++)
        free(out[i].dead_at);
    free(items);
    free(out);
    for (size_t i = 0; i < n; i++) {
        free(lasts[i]);
        free(w[i].cursor);
        free(w[i].next);
        free(w2[i].next);
        if (w[i].ok) json_free(&w[i].doc);
        if (w2[i].ok) json_free(&w2[i].doc);
        if (w[i].page.url) reply_free(&w[i].page);
        if (w2[i].page.url) reply_free(&w2[i].page);
    }
    free(lasts);
    free(w);
    free(w2);
}

static void print_kv(const json_doc_t *doc, const char *label, const char *key)
{
    char *v = field(doc, 0, key);
    printf("%-18s%s\n", label, v);
    free(v);
}

/* The node line shown above one node's answer when there are several. */
static void print_node(size_t node)
{
    if (cluster()) printf("%-18s%zu (%s)\n", "node:", node + 1, opt.nodes[node].url);
}

static void cmd_dlq_show(const char *qid)
{
    const char *id;
    size_t node = qualified_id(qid, &id);
    reply_t r;
    char *path = id_path("/admin/dead-letters/", id, "");
    reply_init(&r, node, path);
    free(path);
    perform("GET", &r, 1);
    json_doc_t doc;
    if (reply_ok(&r, "GET") && opt.json) {
        print_raw(&r);
    } else if (!failed && parse(&doc, &r)) {
        print_node(node);
        if (cluster())
            printf("%-18s%s\n", "id:", qid);
        else
            print_kv(&doc, "id:", "id");
        print_kv(&doc, "subscriber:", "subscriber");
        print_kv(&doc, "event id:", "event_id");
        print_kv(&doc, "event type:", "event_type");
        print_kv(&doc, "attempts:", "attempts");
        print_kv(&doc, "last status:", "last_status");
        print_kv(&doc, "last error:", "last_error");
        print_kv(&doc, "first attempt at:", "first_attempt_at");
        print_kv(&doc, "dead at:", "dead_at");
        static const char *const head[] = {"ATTEMPT AT", "STATUS", "DURATION MS", "ERROR"};
        static const char *const fields[] = {"at", "status", "duration_ms", "error"};
        table_t t = {.ncols = 4, .head = head};
        puts("\nhistory:");
        if (table_from(&t, &doc, "history", fields) == 0)
            puts("no attempts recorded");
        else
            table_print(&t);
        int ev = json_object_get(&doc, 0, "event", 5);
        if (ev >= 0) {
            size_t n;
            const char *p = json_value_ptr(&doc, ev, &n);
            printf("\nevent:\n%.*s\n", (int)n, p);
        }
        json_free(&doc);
    }
    reply_free(&r);
}

/* The count the answers carry under key (requeued, deleted), summed over the nodes that
 * answered and printed as "<key> N <things>" plus, with several nodes, each node's part. */
static void print_counts(reply_t *r, size_t n, const char *method, const char *key, const char *one,
                         const char *many)
{
    long long sum = 0;
    core_buf_t parts = {0};
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
        json_doc_t doc;
        if (!reply_ok(&r[i], method) || !parse(&doc, &r[i])) continue;
        long long v = field_int(&doc, 0, key);
        json_free(&doc);
        sum += v;
        core_buf_printf(&parts, "%snode %zu: %lld", answered++ ? ", " : "", r[i].node + 1, v);
    }
    if (opt.json) {
        if (cluster())
            print_nodes_json(r, n);
        else if (answered)
            print_raw(&r[0]);
    } else if (answered) {
        printf("%s %lld %s", key, sum, sum == 1 ? one : many);
        if (cluster()) printf(" (%s)", core_buf_cstr(&parts));
        putchar('\n');
    }
    core_buf_free(&parts);
}

/* retry/delete of one dead letter (qid) or of a selection on every node (qid NULL). */
static void cmd_dlq_change(bool retry, const char *qid)
{
    const char *method = retry ? "POST" : "DELETE";
    reply_t *r;
    size_t n;
    if (qid) {
        const char *id;
        size_t node = qualified_id(qid, &id);
        char *path = id_path("/admin/dead-letters/", id, retry ? "/retry" : "");
        r = xcalloc(1, sizeof(*r));
        reply_init(r, node, path);
        free(path);
        perform(method, r, 1);
        n = 1;
    } else {
        char *path = make_path(retry ? "/admin/dead-letters/retry" : "/admin/dead-letters", true,
                               NULL, NULL);
        r = ask_all(method, path);
        free(path);
        n = opt.nnodes;
    }
    if (qid && cluster() && opt.json) {
        /* One node was asked: its answer as it is. */
        if (reply_ok(r, method)) print_raw(r);
    } else {
        print_counts(r, n, method, retry ? "requeued" : "deleted", "dead letter", "dead letters");
    }
    replies_free(r, n);
}

/* ---- subscribers ---- */

static const char *const sub_counters[] = {"pending", "in_flight", "delivered", "failed_attempts",
                                           "dead"};
enum { SUB_NCOUNTERS = 5, SUB_NCOLS = 11 };
static const char *const sub_head[SUB_NCOLS + 1] = {
    "NODE", "NAME",   "PENDING", "IN FLIGHT",    "DELIVERED", "FAILED ATTEMPTS",
    "DEAD", "PAUSED", "CIRCUIT", "LAST SUCCESS", "URL",       "LAST ERROR"};

static char *paused_cell(const json_doc_t *doc, int obj)
{
    int t = json_object_get(doc, obj, "paused", 6);
    if (t >= 0 && json_tok_eq(doc, t, "true", 4)) return xstrdup("yes");
    if (t >= 0 && json_tok_eq(doc, t, "false", 5)) return xstrdup("no");
    return xstrdup("-");
}

/* One subscriber of one node as a row (NAME .. LAST ERROR) into row[0..SUB_NCOLS-1]. */
static void sub_row(const json_doc_t *doc, int obj, char **row)
{
    row[0] = field(doc, obj, "name");
    for (size_t c = 0; c < SUB_NCOUNTERS; c++)
        row[1 + c] = field(doc, obj, sub_counters[c]);
    row[6] = paused_cell(doc, obj);
    row[7] = field(doc, obj, "circuit");
    row[8] = field(doc, obj, "last_success_at");
    row[9] = field(doc, obj, "url");
    row[10] = field(doc, obj, "last_error");
}

/* One subscriber over the nodes. */
typedef struct {
    char *name;
    long long counters[SUB_NCOUNTERS];
    char *last_success, *url, *last_error; /* "-" when none */
    bool url_differs;
    size_t nodes, paused, paused_known;
    size_t circuit_closed, circuit_open, circuit_half_open, circuit_known;
    int *tok; /* per node: its item, or -1 */
} sub_sum_t;

static sub_sum_t *sub_find(sub_sum_t **subs, size_t *nsubs, const char *name)
{
    for (size_t i = 0; i < *nsubs; i++)
        if (strcmp((*subs)[i].name, name) == 0) return &(*subs)[i];
    *subs = xrealloc(*subs, (*nsubs + 1) * sizeof(**subs));
    sub_sum_t *s = &(*subs)[(*nsubs)++];
    *s = (sub_sum_t){.name = xstrdup(name)};
    s->tok = xmalloc(opt.nnodes * sizeof(int));
    for (size_t i = 0; i < opt.nnodes; i++)
        s->tok[i] = -1;
    return s;
}

/* "yes"/"no" when every node agrees, else "k/n" paused. */
static char *paused_sum(const sub_sum_t *s)
{
    if (s->paused_known < s->nodes) return xstrdup("-");
    if (s->paused == 0) return xstrdup("no");
    if (s->paused == s->nodes) return xstrdup("yes");
    core_buf_t b = {0};
    core_buf_printf(&b, "%zu/%zu", s->paused, s->nodes);
    return core_buf_cstr(&b);
}

/* The state when every node agrees, else e.g. "open:1/3,half_open:1/3". */
static char *circuit_sum(const sub_sum_t *s)
{
    if (s->circuit_known < s->nodes) return xstrdup("-");
    if (s->circuit_closed == s->nodes) return xstrdup("closed");
    if (s->circuit_open == s->nodes) return xstrdup("open");
    if (s->circuit_half_open == s->nodes) return xstrdup("half_open");
    core_buf_t b = {0};
    if (s->circuit_open) core_buf_printf(&b, "open:%zu/%zu", s->circuit_open, s->nodes);
    if (s->circuit_half_open)
        core_buf_printf(&b, "%shalf_open:%zu/%zu", b.len ? "," : "", s->circuit_half_open,
                        s->nodes);
    return core_buf_cstr(&b);
}

static void sub_add(sub_sum_t *s, size_t node, const json_doc_t *doc, int obj)
{
    s->tok[node] = obj;
    s->nodes++;
    for (size_t c = 0; c < SUB_NCOUNTERS; c++)
        s->counters[c] += field_int(doc, obj, sub_counters[c]);
    char *v = field(doc, obj, "last_success_at");
    if (!s->last_success || (strcmp(v, "-") != 0 && (strcmp(s->last_success, "-") == 0 ||
                                                     strcmp(v, s->last_success) > 0))) {
        free(s->last_success);
        s->last_success = v;
    } else {
        free(v);
    }
    v = field(doc, obj, "url");
    if (!s->url) {
        s->url = v;
    } else {
        if (strcmp(v, s->url) != 0) s->url_differs = true;
        free(v);
    }
    v = field(doc, obj, "last_error");
    if (!s->last_error || (strcmp(s->last_error, "-") == 0 && strcmp(v, "-") != 0)) {
        free(s->last_error);
        core_buf_t b = {0};
        /* The node is named: each node has its own last error. */
        if (strcmp(v, "-") != 0)
            core_buf_printf(&b, "%zu: %s", node + 1, v);
        else
            core_buf_printf(&b, "-");
        s->last_error = core_buf_cstr(&b);
    }
    free(v);
    char *p = paused_cell(doc, obj);
    if (strcmp(p, "-") != 0) s->paused_known++;
    if (strcmp(p, "yes") == 0) s->paused++;
    free(p);
    int c = json_object_get(doc, obj, "circuit", 7);
    if (c >= 0 && json_is_string(doc, c)) {
        s->circuit_known++;
        if (json_str_equals(doc, c, "closed", 6)) s->circuit_closed++;
        if (json_str_equals(doc, c, "open", 4)) s->circuit_open++;
        if (json_str_equals(doc, c, "half_open", 9)) s->circuit_half_open++;
    }
}

static void cmd_subscribers(void)
{
    reply_t *r = ask_all("GET", "/admin/subscribers");
    size_t n = opt.nnodes;
    json_doc_t *docs = xcalloc(n, sizeof(*docs));
    bool *ok = xcalloc(n, sizeof(bool));
    for (size_t i = 0; i < n; i++)
        ok[i] = reply_ok(&r[i], "GET") && (opt.json || parse(&docs[i], &r[i]));
    if (opt.json) {
        if (cluster())
            print_nodes_json(r, n);
        else if (ok[0])
            print_raw(&r[0]);
        replies_free(r, n);
        free(docs);
        free(ok);
        return;
    }
    sub_sum_t *subs = NULL;
    size_t nsubs = 0, answered = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) continue;
        answered++;
        int arr = json_object_get(&docs[i], 0, "subscribers", 11);
        if (arr < 0 || docs[i].tok[arr].type != JSMN_ARRAY) continue;
        for (int k = 0, e = arr + 1; k < docs[i].tok[arr].size; k++, e = json_skip(&docs[i], e)) {
            char *name = field(&docs[i], e, "name");
            sub_add(sub_find(&subs, &nsubs, name), i, &docs[i], e);
            free(name);
        }
    }
    /* With a single gateway the node column is left out. */
    bool node_col = cluster() && opt.per_node;
    table_t t = {.ncols = node_col ? SUB_NCOLS + 1 : SUB_NCOLS,
                 .head = node_col ? sub_head : sub_head + 1};
    char *row[SUB_NCOLS + 1];
    for (size_t s = 0; s < nsubs; s++) {
        sub_sum_t *su = &subs[s];
        if (!cluster() || opt.per_node) {
            for (size_t i = 0; i < n; i++) {
                if (su->tok[i] < 0) continue;
                if (node_col) {
                    core_buf_t b = {0};
                    core_buf_printf(&b, "%zu", i + 1);
                    row[0] = core_buf_cstr(&b);
                }
                sub_row(&docs[i], su->tok[i], row + node_col);
                table_row(&t, row);
            }
            continue;
        }
        row[0] = xstrdup(su->name);
        for (size_t c = 0; c < SUB_NCOUNTERS; c++) {
            core_buf_t b = {0};
            core_buf_printf(&b, "%lld", su->counters[c]);
            row[1 + c] = core_buf_cstr(&b);
        }
        row[6] = paused_sum(su);
        row[7] = circuit_sum(su);
        row[8] = xstrdup(su->last_success);
        row[9] = xstrdup(su->url);
        row[10] = xstrdup(su->last_error);
        table_row(&t, row);
    }
    if (t.nrows > 0)
        table_print(&t);
    else if (answered)
        puts("no subscribers configured");
    else
        free(t.cells);
    /* Nodes should share one config: say where they do not. */
    for (size_t s = 0; s < nsubs && cluster(); s++) {
        if (subs[s].nodes < answered)
            printf("(%s is configured on %zu of the %zu nodes that answered)\n", subs[s].name,
                   subs[s].nodes, answered);
        if (subs[s].url_differs)
            printf("(%s has a different URL on some nodes; --per-node shows each)\n", subs[s].name);
    }
    for (size_t s = 0; s < nsubs; s++) {
        free(subs[s].name);
        free(subs[s].last_success);
        free(subs[s].url);
        free(subs[s].last_error);
        free(subs[s].tok);
    }
    free(subs);
    for (size_t i = 0; i < n; i++)
        if (ok[i]) json_free(&docs[i]);
    free(docs);
    free(ok);
    replies_free(r, n);
}

/* pause, resume or replay on every node. */
static void cmd_subscriber_action(const char *action, const char *name)
{
    char *base = id_path("/admin/subscribers/", name, "");
    core_buf_t p = {0};
    core_buf_printf(&p, "%s/%s", base, action);
    free(base);
    bool replay = strcmp(action, "replay") == 0;
    char *path = make_path(core_buf_cstr(&p), replay, NULL, NULL);
    core_buf_free(&p);
    reply_t *r = ask_all("POST", path);
    free(path);
    size_t n = opt.nnodes;
    if (replay) {
        print_counts(r, n, "POST", "requeued", "delivery", "deliveries");
    } else {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            if (reply_ok(&r[i], "POST")) done++;
        if (opt.json && cluster())
            print_nodes_json(r, n);
        else if (opt.json && done)
            print_raw(&r[0]);
        else if (done && cluster())
            printf("%s %s on %zu of %zu nodes\n", name, action[0] == 'p' ? "paused" : "resumed",
                   done, n);
        else if (done)
            printf("%s %s\n", name, action[0] == 'p' ? "paused" : "resumed");
    }
    replies_free(r, n);
}

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
 * node is asked, and 404 from a node only means "not here". */
static void cmd_event(const char *id)
{
    char *path = id_path("/admin/events/", id, "");
    reply_t *r = ask_all("GET", path);
    free(path);
    size_t n = opt.nnodes, found = 0;
    if (opt.json && cluster()) {
        for (size_t i = 0; i < n; i++) {
            if (r[i].status >= 200 && r[i].status < 300)
                found++;
            else if (r[i].status != 404)
                reply_ok(&r[i], "GET");
        }
        print_nodes_json(r, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (cluster() && r[i].status == 404) continue;
            json_doc_t doc;
            if (!reply_ok(&r[i], "GET")) continue;
            if (opt.json) {
                print_raw(&r[i]);
                found++;
                continue;
            }
            if (!parse(&doc, &r[i])) continue;
            if (found++) putchar('\n');
            if (cluster()) printf("node %zu (%s):\n", i + 1, opt.nodes[i].url);
            print_event(&doc);
            json_free(&doc);
        }
    }
    if (cluster() && found == 0) {
        fprintf(stderr, "hookgate-admin: no event %s on %s\n", id,
                failed ? "the nodes that answered" : "any node");
        failed = true;
    }
    replies_free(r, n);
}

/* ---- arguments ---- */

/* A TIME option: RFC 3339 passes through (the server validates it); an age such as 15m
 * becomes the RFC 3339 time that long ago. */
static const char *time_arg(const char *name, const char *s)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    long long unit = 0;
    if (end != s && end[0] && !end[1] && n >= 0 && errno == 0) {
        switch (end[0]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        }
    }
    if (!unit) return s;
    if (n > 100000LL * 86400 / unit) die_usage("--%s %s: too far back", name, s);
    time_t t = time(NULL) - (time_t)(n * unit);
    struct tm tm;
    static char out[2][32]; /* since and until */
    char *o = out[strcmp(name, "since") == 0 ? 0 : 1];
    gmtime_r(&t, &tm);
    strftime(o, sizeof(out[0]), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return o;
}

static bool has_filters(void)
{
    return opt.subscriber || opt.type || opt.since || opt.until;
}

static void no_filters(const char *what)
{
    if (has_filters() || opt.all || opt.limit || opt.cursor)
        die_usage("%s takes no filter or paging options", what);
}

static void no_per_node(const char *what)
{
    if (opt.per_node) die_usage("%s takes no --per-node", what);
}

static void run_subscribers(int argc, char **argv)
{
    if (argc == 1) {
        no_filters("subscribers");
        cmd_subscribers();
        return;
    }
    const char *action = argv[1];
    if (argc != 3) die_usage("subscribers %s needs one subscriber NAME", action);
    no_per_node(action);
    if (strcmp(action, "pause") == 0 || strcmp(action, "resume") == 0) {
        no_filters(strcmp(action, "pause") == 0 ? "subscribers pause" : "subscribers resume");
    } else if (strcmp(action, "replay") == 0) {
        if (opt.subscriber || opt.all || opt.limit || opt.cursor)
            die_usage("subscribers replay takes --type, --since and --until only");
    } else {
        die_usage("unknown subscribers command: %s", action);
    }
    cmd_subscriber_action(action, argv[2]);
}

static void run(int argc, char **argv)
{
    if (argc < 1) die_usage("no command given");
    const char *cmd = argv[0];
    if (strcmp(cmd, "subscribers") == 0) {
        run_subscribers(argc, argv);
        return;
    }
    no_per_node(cmd);
    if (strcmp(cmd, "event") == 0 && argc == 2) {
        no_filters("event");
        cmd_event(argv[1]);
    } else if (strcmp(cmd, "dlq") == 0 && argc >= 2) {
        const char *sub = argv[1];
        const char *id = argc == 3 ? argv[2] : NULL;
        if (argc > 3) die_usage("too many arguments");
        if (strcmp(sub, "list") == 0 && !id) {
            if (opt.all) die_usage("dlq list takes no --all");
            if (cluster())
                dlq_list_cluster();
            else
                dlq_list_single();
        } else if ((strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0) && id) {
            no_filters(sub[0] == 's' ? "dlq show" : "dlq delete");
            if (sub[0] == 's')
                cmd_dlq_show(id);
            else
                cmd_dlq_change(false, id);
        } else if (strcmp(sub, "retry") == 0) {
            if (id) {
                no_filters("dlq retry ID");
                cmd_dlq_change(true, id);
            } else {
                if (!opt.all) die_usage("dlq retry needs an ID, or --all [FILTERS]");
                if (opt.limit || opt.cursor) die_usage("dlq retry takes no paging options");
                cmd_dlq_change(true, NULL);
            }
        } else if (strcmp(sub, "purge") == 0 && !id) {
            /* Deleting the whole queue must be asked for explicitly. */
            if (!has_filters() && !opt.all)
                die_usage("dlq purge needs FILTERS, or --all to delete every dead letter");
            if (opt.limit || opt.cursor) die_usage("dlq purge takes no paging options");
            cmd_dlq_change(false, NULL);
        } else {
            die_usage("unknown dlq command or wrong arguments: dlq %s", sub);
        }
    } else {
        die_usage("unknown command or wrong arguments: %s", cmd);
    }
}

/* --url: one URL or a comma-separated list; "http://host:port/" and "http://host:port"
 * name the same node. */
static void parse_urls(const char *list)
{
    if (!list || !list[0]) list = "http://127.0.0.1:8080";
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == '/' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) die_usage("--url %s: an empty node in the list", list);
        opt.nodes = xrealloc(opt.nodes, (opt.nnodes + 1) * sizeof(*opt.nodes));
        opt.nodes[opt.nnodes++].url = xmemdup0(p, len);
        if (!end) break;
        p = end + 1;
    }
}

int main(int argc, char **argv)
{
    enum {
        O_URL = 1000,
        O_TOKEN,
        O_JSON,
        O_ALL,
        O_SUB,
        O_TYPE,
        O_SINCE,
        O_UNTIL,
        O_LIMIT,
        O_CURSOR,
        O_PER_NODE,
        O_TIMEOUT,
        O_VERSION
    };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"json", no_argument, NULL, O_JSON},
        {"all", no_argument, NULL, O_ALL},
        {"subscriber", required_argument, NULL, O_SUB},
        {"type", required_argument, NULL, O_TYPE},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"limit", required_argument, NULL, O_LIMIT},
        {"cursor", required_argument, NULL, O_CURSOR},
        {"per-node", no_argument, NULL, O_PER_NODE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *urls = getenv("HOOKGATE_URL");
    opt.token = getenv("HOOKGATE_ADMIN_TOKEN");
    opt.timeout_s = 60;
    int o;
    char *end;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: urls = optarg; break;
        case O_TOKEN: opt.token = optarg; break;
        case O_JSON: opt.json = true; break;
        case O_ALL: opt.all = true; break;
        case O_SUB: opt.subscriber = optarg; break;
        case O_TYPE: opt.type = optarg; break;
        case O_SINCE: opt.since = time_arg("since", optarg); break;
        case O_UNTIL: opt.until = time_arg("until", optarg); break;
        case O_LIMIT: opt.limit = optarg; break;
        case O_CURSOR: opt.cursor = optarg; break;
        case O_PER_NODE: opt.per_node = true; break;
        case O_TIMEOUT:
            errno = 0;
            opt.timeout_s = strtol(optarg, &end, 10);
            if (*end || end == optarg || errno || opt.timeout_s < 1 || opt.timeout_s > 86400)
                die_usage("--timeout %s: expected seconds from 1 to 86400", optarg);
            break;
        case 'h': fputs(usage, stdout); return 0;
        case O_VERSION: puts("hookgate-admin " HOOKGATE_VERSION); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    parse_urls(urls);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    run(argc - optind, argv + optind);
    curl_global_cleanup();
    for (size_t i = 0; i < opt.nnodes; i++)
        free(opt.nodes[i].url);
    free(opt.nodes);
    return failed ? 1 : 0;
}
