/* test_query.c -- admin query strings: decoding, strict validation, ids and cursors. */
#include "gateway/query.h"

#include <errno.h>
#include <string.h>

#include "tests/unit/check.h"

static query_params_t p;
static char err[200];

/* Parses q (NUL-terminated here) with every parameter group allowed. */
static int parse(const char *q)
{
    err[0] = '\0';
    return query_parse(q, strlen(q), QUERY_FILTERS | QUERY_PAGING, &p, err, sizeof(err));
}

/* True when q is rejected with an error text starting with want. */
static bool rejected(const char *q, const char *want)
{
    int rc = parse(q);
    bool ok = rc == -EINVAL && strncmp(err, want, strlen(want)) == 0;
    if (!ok) printf("# %s -> %d \"%s\" (want \"%s\")\n", q, rc, err, want);
    return ok;
}

static void test_defaults(void)
{
    CHECK(parse("") == 0);
    CHECK(p.subscriber[0] == '\0' && p.type[0] == '\0');
    CHECK(!p.has_since && !p.has_until);
    CHECK(p.limit == QUERY_LIMIT_DEFAULT);
    CHECK(p.cursor.dead_ms == 0 && p.cursor.id == 0);
    store_dead_filter_t f = query_filter(&p);
    CHECK(!f.subscriber && !f.type && f.since_ms == 0 && f.until_ms == 0);
    /* empty segments are nothing */
    CHECK(parse("&&limit=5&") == 0 && p.limit == 5);
}

static void test_values(void)
{
    CHECK(parse("subscriber=crm.eu-1_a&type=order.created:v2&limit=1000") == 0);
    CHECK_STR(p.subscriber, "crm.eu-1_a");
    CHECK_STR(p.type, "order.created:v2");
    CHECK(p.limit == 1000);
    store_dead_filter_t f = query_filter(&p);
    CHECK_STR(f.subscriber, "crm.eu-1_a");
    CHECK_STR(f.type, "order.created:v2");
    CHECK(parse("limit=1") == 0 && p.limit == 1);
    /* the longest valid values */
    char q[300] = "subscriber=";
    memset(q + strlen(q), 'a', 64);
    CHECK(parse(q) == 0 && strlen(p.subscriber) == 64);
    strcat(q, "a");
    CHECK(rejected(q, "subscriber: expected a subscriber name"));
    strcpy(q, "type=");
    memset(q + 5, 't', 200);
    q[205] = '\0';
    CHECK(parse(q) == 0 && strlen(p.type) == 200);
    strcat(q, "t");
    CHECK(rejected(q, "type: expected an event type"));
}

static void test_percent_decoding(void)
{
    CHECK(parse("%73ubscriber=%63rm%2Ea") == 0); /* escapes in names and values */
    CHECK_STR(p.subscriber, "crm.a");
    CHECK(parse("type=a%3ab") == 0); /* lowercase hex */
    CHECK_STR(p.type, "a:b");
    /* '+' stays '+', so an offset needs no escaping (and an escaped one works too) */
    CHECK(parse("since=2026-11-27T11:00:00+01:00") == 0);
    int64_t plain = p.since_ms;
    CHECK(parse("since=2026-11-27T11:00:00%2B01:00") == 0 && p.since_ms == plain);
    CHECK(parse("since=2026-11-27T10:00:00Z") == 0 && p.since_ms == plain);
    CHECK(rejected("subscriber=a+b", "subscriber: expected a subscriber name"));
    CHECK(rejected("subscriber=a%20b", "subscriber: expected a subscriber name"));
}

static void test_bad_escapes(void)
{
    CHECK(rejected("since=%zz", "since: malformed %-escape"));
    CHECK(rejected("type=a%2", "type: malformed %-escape"));
    CHECK(rejected("type=a%", "type: malformed %-escape"));
    CHECK(rejected("type=a%00b", "type: malformed %-escape")); /* a NUL would cut the value */
    CHECK(rejected("lim%6=1", "malformed %-escape in a parameter name"));
    CHECK(rejected("%=1", "malformed %-escape in a parameter name"));
}

static void test_unknown_and_duplicates(void)
{
    CHECK(rejected("bogus=1", "unknown parameter 'bogus'"));
    CHECK(rejected("=1", "unknown parameter ''"));
    CHECK(rejected("Limit=1", "unknown parameter 'Limit'")); /* names are case-sensitive */
    CHECK(rejected("limit=5&limit=6", "parameter 'limit' given twice"));
    CHECK(rejected("type=a&%74ype=a", "parameter 'type' given twice"));
    /* a long name is unknown and shown shortened */
    CHECK(rejected("subscribersubscribersubscribersubscriber=1", "unknown parameter 'subscriber"));
    CHECK(strlen(err) < 60);
    /* groups: paging parameters are unknown where only filters are taken, and vice versa */
    CHECK(query_parse("limit=5", 7, QUERY_FILTERS, &p, err, sizeof(err)) == -EINVAL);
    CHECK_STR(err, "unknown parameter 'limit'");
    CHECK(query_parse("type=a", 6, 0, &p, err, sizeof(err)) == -EINVAL);
    CHECK_STR(err, "unknown parameter 'type'");
    CHECK(query_parse("", 0, 0, &p, err, sizeof(err)) == 0);
    CHECK(query_parse("limit\0x=5", 9, QUERY_PAGING, &p, err, sizeof(err)) == -EINVAL);
    CHECK(query_parse("type=a\0", 7, QUERY_FILTERS, &p, err, sizeof(err)) == -EINVAL);
    CHECK_STR(err, "type: expected an event type ([A-Za-z0-9_.:-]{1,200})");
    /* the input is bytes, not a C string: only n of them count */
    CHECK(query_parse("limit=5&bogus", 7, QUERY_PAGING, &p, err, sizeof(err)) == 0 && p.limit == 5);
}

/* Defect 13: "subscriber=" used to mean "no filter", so a bulk delete took everything. */
static void test_empty_values(void)
{
    static const char *const names[] = {"subscriber", "type", "since", "until", "limit", "cursor"};
    for (size_t i = 0; i < 6; i++) {
        char q[40], want[60];
        snprintf(want, sizeof(want), "%s: must not be empty", names[i]);
        snprintf(q, sizeof(q), "%s=", names[i]);
        CHECK(rejected(q, want));
        snprintf(q, sizeof(q), "%s", names[i]); /* no '=' at all */
        CHECK(rejected(q, want));
        snprintf(q, sizeof(q), "limit=5&%s=&type=a", names[i]);
        if (i != 4) CHECK(rejected(q, want));
    }
}

static void test_limits(void)
{
    CHECK(rejected("limit=0", "limit: expected an integer from 1 to 1000"));
    CHECK(rejected("limit=1001", "limit: expected an integer"));
    CHECK(rejected("limit=-1", "limit: expected an integer"));
    CHECK(rejected("limit=abc", "limit: expected an integer"));
    CHECK(rejected("limit=1e3", "limit: expected an integer"));
    CHECK(rejected("limit=18446744073709551616", "limit: expected an integer"));
    CHECK(parse("limit=0010") == 0 && p.limit == 10);
}

static void test_times(void)
{
    CHECK(parse("since=1970-01-01T00:00:00Z&until=1970-01-01T00:00:00.000Z") == 0);
    CHECK(p.has_since && p.has_until && p.since_ms == 0 && p.until_ms == 0);
    /* the store reads 0 as "no bound": the epoch is nudged, keeping the meaning */
    store_dead_filter_t f = query_filter(&p);
    CHECK(f.since_ms == 1 && f.until_ms == -1);
    CHECK(parse("since=2026-11-27T10:00:00.0001Z&until=2026-11-27T10:00:00.0009Z") == -EINVAL);
    CHECK_STR(err, "since is later than until"); /* rounded inwards: since .001, until .000 */
    CHECK(parse("since=2026-11-27T10:00:00.0001Z") == 0 && p.since_ms % 1000 == 1);
    CHECK(parse("until=2026-11-27T10:00:00.0009Z") == 0 && p.until_ms % 1000 == 0);
    CHECK(parse("since=2026-11-27T10:00:00Z&until=2026-11-27T10:00:00Z") == 0);
    CHECK(rejected("since=2026-11-28T00:00:00Z&until=2026-11-27T00:00:00Z",
                   "since is later than until"));
    CHECK(rejected("since=yesterday", "since: expected an RFC 3339 date-time"));
    CHECK(rejected("until=2026-13-01T00:00:00Z", "until: expected an RFC 3339 date-time"));
    CHECK(rejected("since=2026-11-27T10:00:00", "since: expected an RFC 3339"));
    char q[400] = "since=2026-11-27T10:00:00.";
    memset(q + strlen(q), '1', 300);
    CHECK(rejected(q, "since: value too long"));
}

static void test_ids_and_cursors(void)
{
    uint64_t id = 7;
    CHECK(query_parse_id("42", 2, &id) && id == 42);
    CHECK(query_parse_id("18446744073709551615", 20, &id) && id == UINT64_MAX);
    CHECK(!query_parse_id("18446744073709551616", 20, &id));
    CHECK(!query_parse_id("0", 1, &id));
    CHECK(!query_parse_id("", 0, &id));
    CHECK(!query_parse_id("-1", 2, &id));
    CHECK(!query_parse_id("4 2", 3, &id));
    CHECK(!query_parse_id("123456789012345678901", 21, &id));

    const store_dead_cursor_t cases[] = {
        {0, 0}, {1764237600123, 42}, {-5, UINT64_MAX}, {INT64_MAX, 1}, {INT64_MIN, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[QUERY_CURSOR_LEN + 1], q[64];
        query_format_cursor(&cases[i], text);
        CHECK(strlen(text) == QUERY_CURSOR_LEN);
        snprintf(q, sizeof(q), "cursor=%s", text);
        CHECK(parse(q) == 0 && p.cursor.dead_ms == cases[i].dead_ms && p.cursor.id == cases[i].id);
    }
    /* the hex sorts like the index: a later time gives a greater cursor */
    char a[QUERY_CURSOR_LEN + 1], b[QUERY_CURSOR_LEN + 1];
    query_format_cursor(&(store_dead_cursor_t){-1, 9}, a);
    query_format_cursor(&(store_dead_cursor_t){1, 0}, b);
    CHECK(strcmp(a, b) < 0);
    CHECK(parse("cursor=8000018D6D1A2C7B000000000000002A") == 0); /* uppercase is fine */
    CHECK(rejected("cursor=zz", "cursor: not a cursor returned by this API"));
    CHECK(rejected("cursor=0000000000000000000000000000000", "cursor: not a cursor"));
    CHECK(rejected("cursor=000000000000000000000000000000000", "cursor: not a cursor"));
    CHECK(rejected("cursor=0000000000000000000000000000000g", "cursor: not a cursor"));
}

int main(void)
{
    test_defaults();
    test_values();
    test_percent_decoding();
    test_bad_escapes();
    test_unknown_and_duplicates();
    test_empty_values();
    test_limits();
    test_times();
    test_ids_and_cursors();
    return check_done();
}
