/* query.h -- the admin API's query strings and ids: percent-decoding and strict validation
 * of the dead-letter filters and paging parameters, dead-letter ids and list cursors. Pure:
 * bytes in, a struct or an error text out; no allocation, no I/O. */
#ifndef HOOKGATE_QUERY_H
#define HOOKGATE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/store.h"

#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX 1000
#define QUERY_SUBSCRIBER_MAX 64 /* cfg_name_valid's bound */
#define QUERY_CURSOR_LEN 32     /* hex digits of a cursor */

/* The parameter groups a request accepts (a bit set); any other parameter is a 400. */
#define QUERY_FILTERS 1u /* subscriber, type, since, until */
#define QUERY_PAGING 2u  /* limit, cursor */

/* A parsed query. Absent parameters leave their defaults: empty strings, no bounds,
 * QUERY_LIMIT_DEFAULT, the cursor {0, 0} (the first page). */
typedef struct {
    char subscriber[QUERY_SUBSCRIBER_MAX + 1]; /* "" when absent */
    char type[CFG_EVENT_TYPE_MAX + 1];         /* "" when absent */
    bool has_since, has_until;
    int64_t since_ms, until_ms; /* inclusive, in whole ms (a finer fraction rounded inwards) */
    size_t limit;               /* 1..QUERY_LIMIT_MAX */
    store_dead_cursor_t cursor;
} query_params_t;

/* Parses the query string q/n (the bytes after '?', not NUL-terminated; n may be 0),
 * accepting the groups in allowed. %XX escapes are decoded ('+' stays '+': no valid value
 * holds a space, and an offset like +02:00 often arrives unescaped); empty segments
 * ("a=1&&b=2") are skipped. Unknown, repeated, empty or malformed parameters, and since
 * later than until, are errors. Returns 0 and fills *out, or -EINVAL with a text naming
 * the parameter in err (e.g. "subscriber: must not be empty; leave the parameter out
 * instead"). Any thread. */
int query_parse(const char *q, size_t n, unsigned allowed, query_params_t *out, char *err,
                size_t errlen);

/* The store's dead-letter filter for p; its strings point into p. The store reads a bound
 * of 0 as "none", so an exact epoch bound is nudged by 1 ms (nothing is dead that early). */
store_dead_filter_t query_filter(const query_params_t *p);

/* A dead-letter id: 1..20 decimal digits naming a value in 1..UINT64_MAX. Returns false for
 * anything else. Any thread. */
bool query_parse_id(const char *s, size_t n, uint64_t *id);

/* Writes the opaque list cursor for c: QUERY_CURSOR_LEN lowercase hex digits and a NUL.
 * query_parse's "cursor" reads it back. Any thread. */
void query_format_cursor(const store_dead_cursor_t *c, char out[QUERY_CURSOR_LEN + 1]);

#endif
