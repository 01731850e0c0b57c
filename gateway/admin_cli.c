/* admin_cli.c -- hookgate-admin: the operator's command line for a running gateway's admin API
 * (dead letters, subscribers, events), printing tables or, with --json, the raw answers. */
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
    "usage: hookgate-admin [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  dlq list [FILTERS] [--limit N] [--cursor C]  list dead letters, oldest first\n"
    "  dlq show ID                 one dead letter with its event and attempt history\n"
    "  dlq retry ID                redrive one dead letter\n"
    "  dlq retry --all [FILTERS]   redrive every dead letter matching FILTERS\n"
    "  dlq delete ID               delete one dead letter\n"
    "  dlq purge FILTERS | --all   delete every dead letter matching FILTERS\n"
    "  subscribers                 subscribers with their delivery counters\n"
    "  event ID                    an event and the state of each of its deliveries\n"
    "\n"
    "FILTERS: --subscriber NAME  --type TYPE  --since TIME  --until TIME\n"
    "  TIME is RFC 3339 (2026-11-27T10:00:00Z) or an age: 90s, 15m, 2h, 7d (that long ago).\n"
    "\n"
    "Options:\n"
    "  --url URL      the gateway (default $HOOKGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN  the admin token (default $HOOKGATE_ADMIN_TOKEN)\n"
    "  --json         print the server's JSON instead of tables\n"
    "  -h, --help     show this help and exit\n"
    "\n"
    "Exit status: 0 done, 1 the request failed (the server's reason is printed), 2 usage.\n";

static struct {
    const char *url, *token;
    bool json, all;
    const char *subscriber, *type, *since, *until, *limit, *cursor;
} opt;

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

/* ---- HTTP ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    core_buf_put(ctx, data, size * n);
    return size * n;
}

/* A query string from the filter options (and paging ones when paging). */
static void append_param(CURL *c, core_buf_t *q, const char *name, const char *value)
{
    if (!value) return;
    char *esc = curl_easy_escape(c, value, 0);
    if (!esc) xalloc_die();
    core_buf_printf(q, "%c%s=%s", q->len ? '&' : '?', name, esc);
    curl_free(esc);
}

/* Sends method path(+filters); returns the status and the body in *body (NUL-terminated;
 * free with core_buf_free). A transport failure is printed and exits 1. */
static long call(const char *method, const char *path, bool filters, bool paging, core_buf_t *body)
{
    CURL *c = curl_easy_init();
    if (!c) xalloc_die();
    core_buf_t q = {0};
    if (filters) {
        append_param(c, &q, "subscriber", opt.subscriber);
        append_param(c, &q, "type", opt.type);
        append_param(c, &q, "since", opt.since);
        append_param(c, &q, "until", opt.until);
    }
    if (paging) {
        append_param(c, &q, "limit", opt.limit);
        append_param(c, &q, "cursor", opt.cursor);
    }
    core_buf_t u = {0};
    core_buf_printf(&u, "%s%s%s", opt.url, path, core_buf_cstr(&q));
    core_buf_free(&q);
    char *url = core_buf_cstr(&u);

    struct curl_slist *hdrs = NULL;
    char *auth = NULL;
    if (opt.token && opt.token[0]) {
        size_t alen = strlen(opt.token) + 32;
        auth = xmalloc(alen);
        snprintf(auth, alen, "Authorization: Bearer %s", opt.token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    *body = (core_buf_t){0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hookgate-admin/" HOOKGATE_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    free(auth);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "hookgate-admin: %s %s: %s\n", method, url,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        free(url);
        exit(1);
    }
    free(url);
    core_buf_cstr(body);
    return status;
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

/* ---- JSON answers ---- */

static void parse(json_doc_t *doc, const core_buf_t *b)
{
    char err[200];
    if (json_parse(doc, b->p, b->len, 128, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookgate-admin: the server's answer is not JSON (%s): %.200s\n", err,
                b->p);
        exit(1);
    }
}

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

/* Checks the status; on an error prints the server's error code and detail and exits 1. */
static void expect_ok(long status, const core_buf_t *b)
{
    if (status >= 200 && status < 300) return;
    json_doc_t doc;
    char err[64];
    if (json_parse(&doc, b->p, b->len, 16, err, sizeof(err)) == 0 &&
        doc.tok[0].type == JSMN_OBJECT) {
        char *code = field(&doc, 0, "error"), *detail = field(&doc, 0, "detail");
        fprintf(stderr, "hookgate-admin: HTTP %ld %s: %s\n", status, code, detail);
        free(code);
        free(detail);
        json_free(&doc);
    } else {
        fprintf(stderr, "hookgate-admin: HTTP %ld: %.300s\n", status, b->p);
    }
    exit(1);
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

/* ---- commands ---- */

/* Prints the raw answer for --json; returns true when it did. */
static bool raw(const core_buf_t *b)
{
    if (!opt.json) return false;
    fwrite(b->p, 1, b->len, stdout);
    if (b->len && b->p[b->len - 1] != '\n') putchar('\n');
    return true;
}

static void cmd_dlq_list(void)
{
    core_buf_t b;
    expect_ok(call("GET", "/admin/dead-letters", true, true, &b), &b);
    if (!raw(&b)) {
        json_doc_t doc;
        parse(&doc, &b);
        static const char *const head[] = {"ID",       "SUBSCRIBER", "EVENT TYPE", "EVENT ID",
                                           "ATTEMPTS", "STATUS",     "DEAD AT",    "LAST ERROR"};
        static const char *const fields[] = {"id",       "subscriber",  "event_type", "event_id",
                                             "attempts", "last_status", "dead_at",    "last_error"};
        table_t t = {.ncols = 8, .head = head};
        size_t n = table_from(&t, &doc, "items", fields);
        char *next = field(&doc, 0, "next_cursor");
        bool more = strcmp(next, "-") != 0;
        if (n > 0)
            table_print(&t);
        else if (!more)
            puts("no dead letters");
        /* A filtered page scans a bounded stretch of the queue and may hold none. */
        if (more && n > 0) printf("(%zu shown; more with --cursor %s)\n", n, next);
        if (more && n == 0)
            printf("(none matched in the stretch scanned; continue with --cursor %s)\n", next);
        free(next);
        json_free(&doc);
    }
    core_buf_free(&b);
}

static void print_kv(const json_doc_t *doc, const char *label, const char *key)
{
    char *v = field(doc, 0, key);
    printf("%-18s%s\n", label, v);
    free(v);
}

static void cmd_dlq_show(const char *id)
{
    core_buf_t b;
    char *path = id_path("/admin/dead-letters/", id, "");
    expect_ok(call("GET", path, false, false, &b), &b);
    free(path);
    if (!raw(&b)) {
        json_doc_t doc;
        parse(&doc, &b);
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
    core_buf_free(&b);
}

/* retry/delete of one dead letter (id) or of a selection (id NULL). */
static void cmd_dlq_change(bool retry, const char *id)
{
    core_buf_t b;
    char *path = id ? id_path("/admin/dead-letters/", id, retry ? "/retry" : "")
                    : xstrdup(retry ? "/admin/dead-letters/retry" : "/admin/dead-letters");
    expect_ok(call(retry ? "POST" : "DELETE", path, id == NULL, false, &b), &b);
    free(path);
    if (!raw(&b)) {
        json_doc_t doc;
        parse(&doc, &b);
        char *n = field(&doc, 0, retry ? "requeued" : "deleted");
        printf("%s %s dead letter%s\n", retry ? "requeued" : "deleted", n,
               strcmp(n, "1") == 0 ? "" : "s");
        free(n);
        json_free(&doc);
    }
    core_buf_free(&b);
}

static void cmd_subscribers(void)
{
    core_buf_t b;
    expect_ok(call("GET", "/admin/subscribers", false, false, &b), &b);
    if (!raw(&b)) {
        json_doc_t doc;
        parse(&doc, &b);
        static const char *const head[] = {
            "NAME", "PENDING",      "IN FLIGHT", "DELIVERED", "FAILED ATTEMPTS",
            "DEAD", "LAST SUCCESS", "URL",       "LAST ERROR"};
        static const char *const fields[] = {
            "name", "pending",         "in_flight", "delivered", "failed_attempts",
            "dead", "last_success_at", "url",       "last_error"};
        table_t t = {.ncols = 9, .head = head};
        if (table_from(&t, &doc, "subscribers", fields) == 0)
            puts("no subscribers configured");
        else
            table_print(&t);
        json_free(&doc);
    }
    core_buf_free(&b);
}

static void cmd_event(const char *id)
{
    core_buf_t b;
    char *path = id_path("/admin/events/", id, "");
    expect_ok(call("GET", path, false, false, &b), &b);
    free(path);
    if (!raw(&b)) {
        json_doc_t doc;
        parse(&doc, &b);
        int ev = json_object_get(&doc, 0, "event", 5);
        if (ev >= 0) {
            size_t n;
            const char *p = json_value_ptr(&doc, ev, &n);
            printf("event:\n%.*s\n\n", (int)n, p);
        }
        static const char *const head[] = {"SUBSCRIBER",   "STATE",       "ATTEMPTS",
                                           "NEXT ATTEMPT", "LAST STATUS", "LAST ERROR"};
        static const char *const fields[] = {"subscriber",      "state",       "attempts",
                                             "next_attempt_at", "last_status", "last_error"};
        table_t t = {.ncols = 6, .head = head};
        if (table_from(&t, &doc, "deliveries", fields) == 0)
            puts("no deliveries (no subscriber matched)");
        else
            table_print(&t);
        json_free(&doc);
    }
    core_buf_free(&b);
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

static int run(int argc, char **argv)
{
    if (argc < 1) die_usage("no command given");
    const char *cmd = argv[0];
    if (strcmp(cmd, "subscribers") == 0 && argc == 1) {
        no_filters("subscribers");
        cmd_subscribers();
    } else if (strcmp(cmd, "event") == 0 && argc == 2) {
        no_filters("event");
        cmd_event(argv[1]);
    } else if (strcmp(cmd, "dlq") == 0 && argc >= 2) {
        const char *sub = argv[1];
        const char *id = argc == 3 ? argv[2] : NULL;
        if (argc > 3) die_usage("too many arguments");
        if (strcmp(sub, "list") == 0 && !id) {
            if (opt.all) die_usage("dlq list takes no --all");
            cmd_dlq_list();
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
    return 0;
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
        O_CURSOR
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opt.url = getenv("HOOKGATE_URL");
    opt.token = getenv("HOOKGATE_ADMIN_TOKEN");
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: opt.url = optarg; break;
        case O_TOKEN: opt.token = optarg; break;
        case O_JSON: opt.json = true; break;
        case O_ALL: opt.all = true; break;
        case O_SUB: opt.subscriber = optarg; break;
        case O_TYPE: opt.type = optarg; break;
        case O_SINCE: opt.since = time_arg("since", optarg); break;
        case O_UNTIL: opt.until = time_arg("until", optarg); break;
        case O_LIMIT: opt.limit = optarg; break;
        case O_CURSOR: opt.cursor = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!opt.url || !opt.url[0]) opt.url = "http://127.0.0.1:8080";
    /* "http://host:port/" and "http://host:port" name the same gateway. */
    char *url = xstrdup(opt.url);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    opt.url = url;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(argc - optind, argv + optind);
    curl_global_cleanup();
    free(url);
    return rc;
}
