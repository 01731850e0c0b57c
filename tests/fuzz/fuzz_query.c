/* fuzz_query.c -- libFuzzer driver for the admin query parser: no input may crash it; what
 * it accepts is valid, and its canonical form parses back to the same result. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/civil.h"
#include "gateway/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 3339 can only write years 0000..9999. */
#define MS_MIN (-62167219200000LL)
#define MS_MAX 253402300799999LL

static void put_time(char *q, size_t cap, const char *name, int64_t ms)
{
    char t[32];
    civil_format_rfc3339(ms, t);
    size_t n = strlen(q);
    snprintf(q + n, cap - n, "&%s=%s", name, t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    query_params_t p, again;
    char err[200];
    err[0] = '\0';
    if (query_parse(in, size, QUERY_FILTERS | QUERY_PAGING, &p, err, sizeof(err)) != 0) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) abort();
    } else {
        if (p.limit < 1 || p.limit > QUERY_LIMIT_MAX) abort();
        if (p.subscriber[0] && !cfg_name_valid(p.subscriber, strlen(p.subscriber))) abort();
        if (p.type[0] && !cfg_event_type_valid(p.type, strlen(p.type))) abort();
        if (p.has_since && p.has_until && p.since_ms > p.until_ms) abort();
        /* Only what the filter groups allow: a paging parameter is unknown without them. */
        if (query_parse(in, size, 0, &again, err, sizeof(err)) == 0 &&
            (p.subscriber[0] || p.type[0] || p.has_since || p.has_until ||
             p.limit != QUERY_LIMIT_DEFAULT || p.cursor.dead_ms || p.cursor.id))
            abort();
        char q[1024], cur[QUERY_CURSOR_LEN + 1];
        query_format_cursor(&p.cursor, cur);
        snprintf(q, sizeof(q), "limit=%zu&cursor=%s", p.limit, cur);
        if (p.subscriber[0])
            snprintf(q + strlen(q), sizeof(q) - strlen(q), "&subscriber=%s", p.subscriber);
        if (p.type[0]) snprintf(q + strlen(q), sizeof(q) - strlen(q), "&type=%s", p.type);
        bool writable = true;
        if (p.has_since) {
            writable &= p.since_ms >= MS_MIN && p.since_ms <= MS_MAX;
            put_time(q, sizeof(q), "since", p.since_ms);
        }
        if (p.has_until) {
            writable &= p.until_ms >= MS_MIN && p.until_ms <= MS_MAX;
            put_time(q, sizeof(q), "until", p.until_ms);
        }
        if (writable && (query_parse(q, strlen(q), QUERY_FILTERS | QUERY_PAGING, &again, err,
                                     sizeof(err)) != 0 ||
                         memcmp(&p, &again, sizeof(p)) != 0))
            abort();
    }
    /* An id reads back from its decimal form. */
    uint64_t id, id2;
    if (query_parse_id(in, size, &id)) {
        char dec[24];
        int n = snprintf(dec, sizeof(dec), "%" PRIu64, id);
        if (id == 0 || !query_parse_id(dec, (size_t)n, &id2) || id2 != id) abort();
    }
    return 0;
}
