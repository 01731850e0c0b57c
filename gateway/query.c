/* query.c -- the admin API's query strings and ids: percent-decoding and strict validation. */
#include "gateway/query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway/civil.h"

/* The longest decoded value looked at: more than any valid value (a type is at most 200). */
#define VALUE_MAX 256
/* The longest decoded name: more than any known one, so a longer name is unknown. */
#define NAME_MAX_LEN 32

enum { K_SUBSCRIBER, K_TYPE, K_SINCE, K_UNTIL, K_LIMIT, K_CURSOR, K_COUNT };
static const char *const names[K_COUNT] = {"subscriber", "type",  "since",
                                           "until",      "limit", "cursor"};

static int fail(char *err, size_t errlen, const char *fmt, const char *name)
{
    snprintf(err, errlen, fmt, name);
    return -EINVAL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* %XX-decodes s/n into out (cap bytes, NUL-terminated). -EINVAL on a bad escape or an
 * escaped NUL (no value holds one, and it would cut the C string); -E2BIG when the result
 * does not fit. */
static int decode(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
            if (lo < 0 || (hi | lo) == 0) return -EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= cap) return -E2BIG;
        out[o++] = c;
    }
    out[o] = '\0';
    *len = o;
    return 0;
}

static bool parse_cursor(const char *s, size_t n, store_dead_cursor_t *c)
{
    if (n != QUERY_CURSOR_LEN) return false;
    uint64_t half[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int v = hex_value(s[i]);
        if (v < 0) return false;
        half[i / 16] = half[i / 16] << 4 | (uint64_t)v;
    }
    /* dead_ms is stored with its sign bit flipped so that the hex sorts like the index */
    c->dead_ms = (int64_t)(half[0] ^ (1ull << 63));
    c->id = half[1];
    return true;
}

/* Validates one decoded value of parameter k into p. */
static int set_value(query_params_t *p, int k, const char *v, size_t n, char *err, size_t errlen)
{
    const char *name = names[k];
    switch (k) {
    case K_SUBSCRIBER:
        if (!cfg_name_valid(v, n))
            return fail(err, errlen, "%s: expected a subscriber name ([A-Za-z0-9_.-]{1,64})", name);
        memcpy(p->subscriber, v, n + 1);
        return 0;
    case K_TYPE:
        if (!cfg_event_type_valid(v, n))
            return fail(err, errlen, "%s: expected an event type ([A-Za-z0-9_.:-]{1,200})", name);
        memcpy(p->type, v, n + 1);
        return 0;
    case K_SINCE:
    case K_UNTIL: {
        bool since = k == K_SINCE;
        if (!civil_parse_rfc3339(v, n, since, since ? &p->since_ms : &p->until_ms))
            return fail(err, errlen,
                        "%s: expected an RFC 3339 date-time, e.g. 2026-11-27T10:00:00Z", name);
        *(since ? &p->has_since : &p->has_until) = true;
        return 0;
    }
    case K_LIMIT: {
        uint64_t limit;
        if (!query_parse_id(v, n, &limit) || limit > QUERY_LIMIT_MAX)
            return fail(err, errlen, "%s: expected an integer from 1 to 1000", name);
        p->limit = (size_t)limit;
        return 0;
    }
    default:
        if (!parse_cursor(v, n, &p->cursor))
            return fail(err, errlen, "%s: not a cursor returned by this API", name);
        return 0;
    }
}

/* One name=value segment (value NULL when there is no '='). */
static int parse_one(query_params_t *p, unsigned allowed, unsigned *seen, const char *rname,
                     size_t rnlen, const char *rval, size_t rvlen, char *err, size_t errlen)
{
    char name[NAME_MAX_LEN + 1], value[VALUE_MAX + 1];
    size_t nlen, vlen;
    int rc = decode(rname, rnlen, name, sizeof(name), &nlen);
    if (rc == -EINVAL) return fail(err, errlen, "%s", "malformed %-escape in a parameter name");
    if (rc == -E2BIG) {
        snprintf(name, sizeof(name), "%.*s", (int)(sizeof(name) - 4), rname);
        strcat(name, "...");
    }
    int k = -1;
    for (int i = 0; rc == 0 && i < K_COUNT; i++)
        if (nlen == strlen(names[i]) && memcmp(name, names[i], nlen) == 0) k = i;
    if (k < 0 || !(allowed & (k <= K_UNTIL ? QUERY_FILTERS : QUERY_PAGING)))
        return fail(err, errlen, "unknown parameter '%s'", name);
    if (*seen & (1u << k)) return fail(err, errlen, "parameter '%s' given twice", names[k]);
    *seen |= 1u << k;
    /* An empty value used to mean "no filter": one mistyped script then deleted every
     * dead letter. Leaving a parameter out is the only way to say that. */
    if (rvlen == 0)
        return fail(err, errlen, "%s: must not be empty; leave the parameter out instead",
                    names[k]);
    rc = decode(rval, rvlen, value, sizeof(value), &vlen);
    if (rc == -EINVAL) return fail(err, errlen, "%s: malformed %%-escape", names[k]);
    if (rc == -E2BIG) return fail(err, errlen, "%s: value too long", names[k]);
    return set_value(p, k, value, vlen, err, errlen);
}

int query_parse(const char *q, size_t n, unsigned allowed, query_params_t *out, char *err,
                size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->limit = QUERY_LIMIT_DEFAULT;
    unsigned seen = 0;
    const char *end = q + n;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop > q) {
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *val = eq ? eq + 1 : stop;
            int rc = parse_one(out, allowed, &seen, q, (size_t)((eq ? eq : stop) - q), val,
                               (size_t)(stop - val), err, errlen);
            if (rc != 0) return rc;
        }
        q = stop + 1;
    }
    if (out->has_since && out->has_until && out->since_ms > out->until_ms)
        return fail(err, errlen, "%s", "since is later than until");
    return 0;
}

store_dead_filter_t query_filter(const query_params_t *p)
{
    store_dead_filter_t f = {.subscriber = p->subscriber[0] ? p->subscriber : NULL,
                             .type = p->type[0] ? p->type : NULL};
    if (p->has_since) f.since_ms = p->since_ms == 0 ? 1 : p->since_ms;
    if (p->has_until) f.until_ms = p->until_ms == 0 ? -1 : p->until_ms;
    return f;
}

bool query_parse_id(const char *s, size_t n, uint64_t *id)
{
    if (n < 1 || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *id = v;
    return v != 0;
}

void query_format_cursor(const store_dead_cursor_t *c, char out[QUERY_CURSOR_LEN + 1])
{
    snprintf(out, QUERY_CURSOR_LEN + 1, "%016llx%016llx",
             (unsigned long long)((uint64_t)c->dead_ms ^ (1ull << 63)), (unsigned long long)c->id);
}
