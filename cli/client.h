/* client.h -- hookgate-admin's HTTP client: the nodes it talks to, one request per node sent
 * all at once (libcurl multi), and the failures it reports on stderr, naming the node when
 * there are several. Main thread only; curl_global_init must have run. */
#ifndef HOOKGATE_CLI_CLIENT_H
#define HOOKGATE_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/json.h"
#include "core/buf.h"

enum { CLIENT_ERR_SIZE = 256 }; /* libcurl's CURL_ERROR_SIZE */

/* The nodes and how to reach them. */
typedef struct {
    char **urls; /* base URLs without a trailing slash, in --url order; owned */
    size_t nnodes;
    const char *token; /* the admin token, or NULL; borrowed */
    long timeout_s;    /* per request */
    bool failed;       /* set when anything was reported: the exit status is then 1 */
} client_t;

/* The filters of list and bulk requests; NULL members are left out of the query. */
typedef struct {
    const char *subscriber, *type, *since, *until;
} client_filters_t;

/* One request and its answer. */
typedef struct {
    size_t node;               /* index into the client's urls */
    char *url;                 /* the whole URL, owned */
    long status;               /* HTTP status; 0 when no answer came */
    core_buf_t body;           /* the answer, NUL-terminated after client_perform */
    char err[CLIENT_ERR_SIZE]; /* why no answer came */
} client_reply_t;

/* Takes the nodes from url_list, one URL or a comma-separated list (NULL or empty: the
 * default http://127.0.0.1:8080); blanks around a URL and trailing slashes are dropped.
 * Returns 0, or -EINVAL when a node in the list is empty (c then needs no client_free). */
int client_init(client_t *c, const char *url_list, const char *token, long timeout_s);
void client_free(client_t *c);

static inline bool client_cluster(const client_t *c)
{
    return c->nnodes > 1;
}

/* path plus a query of the filters (when f) and of limit and cursor (when not NULL), each
 * %-escaped. Malloc'd. */
char *client_query_path(const char *path, const client_filters_t *f, const char *limit,
                        const char *cursor);
/* prefix + the %-escaped id + suffix. Malloc'd. */
char *client_id_path(const char *prefix, const char *id, const char *suffix);

/* Prepares a request of path (with its query) to node; client_reply_free frees it. */
void client_reply_init(const client_t *c, client_reply_t *r, size_t node, const char *path);
void client_reply_free(client_reply_t *r);

/* Sends r[0..n-1] at once with method and waits for all of them. Each ends with a status,
 * or with status 0 and the reason in err. */
void client_perform(const client_t *c, const char *method, client_reply_t *r, size_t n);

/* The same request to every node, performed; returns nnodes replies (client_replies_free). */
client_reply_t *client_ask_all(const client_t *c, const char *method, const char *path);
void client_replies_free(client_reply_t *r, size_t n);

/* Reports a failure of r's node on stderr and sets c->failed. */
void client_report(client_t *c, const client_reply_t *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True for a 2xx answer. Otherwise reports it (the server's error code and detail, or why
 * there was no answer) and returns false. */
bool client_reply_ok(client_t *c, const client_reply_t *r, const char *method);

/* Parses r's answer into doc (borrowing r's body) and returns true when it is a JSON object;
 * otherwise reports it and returns false (doc then needs no json_free). */
bool client_parse(client_t *c, json_doc_t *doc, const client_reply_t *r);

#endif
