/* test_backoff.c -- retry schedule and Retry-After parsing. */
#include "gateway/backoff.h"

#include <errno.h>
#include <string.h>

#include "tests/unit/check.h"

static const cfg_retry_t exact = {.max_attempts = 10,
                                  .initial_delay_ms = 1000,
                                  .multiplier = 2.0,
                                  .max_delay_ms = 3600000,
                                  .jitter = 0.0};

static void test_exact(void)
{
    const int64_t now = 1795773600000;
    CHECK(backoff_next_due(1, &exact, now, 0.3) == now + 1000);
    CHECK(backoff_next_due(2, &exact, now, 0.3) == now + 2000);
    CHECK(backoff_next_due(3, &exact, now, 0.3) == now + 4000);
    CHECK(backoff_next_due(12, &exact, now, 0.3) == now + 2048000);
    CHECK(backoff_next_due(13, &exact, now, 0.3) == now + 3600000); /* 4096000 capped */
    CHECK(backoff_next_due(64, &exact, now, 0.3) == now + 3600000);
    CHECK(backoff_next_due(2000, &exact, now, 0.3) == now + 3600000); /* 2^1999 is +inf */
    CHECK(backoff_next_due(UINT32_MAX, &exact, now, 0.3) == now + 3600000);

    cfg_retry_t p = exact;
    p.multiplier = 1.5;
    CHECK(backoff_next_due(3, &p, 0, 0.0) == 2250);
    p.multiplier = 1.0;
    CHECK(backoff_next_due(UINT32_MAX, &p, 0, 0.0) == 1000);
    p = exact;
    p.initial_delay_ms = 0;
    CHECK(backoff_next_due(UINT32_MAX, &p, 5, 0.9) == 5);
    p = exact;
    p.max_delay_ms = 1000;
    CHECK(backoff_next_due(1, &p, 0, 0.0) == 1000);
    CHECK(backoff_next_due(40, &p, 0, 0.0) == 1000);
}

static void test_jitter(void)
{
    cfg_retry_t p = exact;
    p.jitter = 0.2;
    const int64_t now = 1000000;
    /* Below the cap: [0.8, 1.2] x base. */
    CHECK(backoff_next_due(1, &p, now, 0.0) == now + 800);
    CHECK(backoff_next_due(1, &p, now, 0.5) == now + 1000);
    CHECK(backoff_next_due(1, &p, now, 0.999999) == now + 1200);
    CHECK(backoff_next_due(4, &p, now, 0.0) == now + 6400);
    CHECK(backoff_next_due(4, &p, now, 0.999999) == now + 9600);
    /* At the cap the upper half is clamped to max_delay_ms, the lower half is not. */
    CHECK(backoff_next_due(30, &p, now, 0.0) == now + 2880000);
    CHECK(backoff_next_due(30, &p, now, 0.999999) == now + 3600000);
    CHECK(backoff_next_due(UINT32_MAX, &p, now, 0.75) == now + 3600000);

    /* Full jitter can reach zero but never goes negative. */
    p.jitter = 1.0;
    CHECK(backoff_next_due(1, &p, now, 0.0) == now);
    CHECK(backoff_next_due(1, &p, now, 0.999999) == now + 2000);

    /* Sweep: every delay within bounds for every attempt. */
    p.jitter = 0.2;
    int bad = 0;
    for (uint32_t a = 1; a <= 40; a++) {
        for (int r = 0; r < 100; r++) {
            int64_t d = backoff_next_due(a, &p, now, r / 100.0) - now;
            double base = 1000.0 * (double)(1ULL << (a - 1 > 30 ? 30 : a - 1));
            if (base > 3600000) base = 3600000;
            if (d < (int64_t)(base * 0.8) - 1 || d > (int64_t)(base * 1.2) + 1 || d > 3600000)
                bad++;
        }
    }
    CHECK(bad == 0);
}

static void test_saturation(void)
{
    cfg_retry_t p = exact;
    p.max_delay_ms = UINT64_MAX;
    /* The delay saturates at INT64_MAX and so does the due time. */
    CHECK(backoff_next_due(UINT32_MAX, &p, 0, 0.0) == INT64_MAX);
    CHECK(backoff_next_due(UINT32_MAX, &p, INT64_MAX - 10, 0.0) == INT64_MAX);
    CHECK(backoff_next_due(1, &exact, INT64_MAX - 10, 0.0) == INT64_MAX);
    p.max_delay_ms = 5000;
    CHECK(backoff_next_due(UINT32_MAX, &p, -1000, 0.0) == 4000);
}

static int ra(const char *s, int64_t now, int64_t *out)
{
    *out = -12345;
    return backoff_parse_retry_after(s, strlen(s), now, out);
}

static void test_retry_after_seconds(void)
{
    int64_t d;
    CHECK(ra("120", 0, &d) == 0 && d == 120000);
    CHECK(ra("0", 0, &d) == 0 && d == 0);
    CHECK(ra("  7\t ", 0, &d) == 0 && d == 7000);
    CHECK(ra("9223372036854775", 0, &d) == 0 && d == 9223372036854775000);
    CHECK(ra("9223372036854776", 0, &d) == 0 && d == INT64_MAX); /* x1000 overflows */
    CHECK(ra("99999999999999999999999999999999", 0, &d) == 0 && d == INT64_MAX);
    /* The length bounds the value: no NUL is needed. */
    CHECK(backoff_parse_retry_after("120xyz", 3, 0, &d) == 0 && d == 120000);

    const char *bad[] = {"", "   ", "-5", "+5", "1.5", "12a", "1 2", "0x10", "soon", "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ra(bad[i], 0, &d);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL) printf("#   accepted \"%s\"\n", bad[i]);
    }
}

static void test_retry_after_dates(void)
{
    const int64_t t1994 = 784111777000; /* Sun, 06 Nov 1994 08:49:37 GMT */
    int64_t d;
    CHECK(ra("Sun, 06 Nov 1994 08:49:37 GMT", t1994 - 10000, &d) == 0 && d == 10000);
    CHECK(ra("Sunday, 06-Nov-94 08:49:37 GMT", t1994 - 10000, &d) == 0 && d == 10000);
    CHECK(ra("Sun Nov  6 08:49:37 1994", t1994 - 10000, &d) == 0 && d == 10000);
    CHECK(ra(" Sun, 06 Nov 1994 08:49:37 GMT  ", t1994 - 1, &d) == 0 && d == 1);
    CHECK(ra("Sun Nov 16 08:49:37 1994", t1994, &d) == 0 && d == 10 * 86400000LL);

    /* Dates in the past give 0. */
    CHECK(ra("Sun, 06 Nov 1994 08:49:37 GMT", t1994 + 5000, &d) == 0 && d == 0);
    CHECK(ra("Sun, 06 Nov 1994 08:49:37 GMT", t1994, &d) == 0 && d == 0);

    /* Calendar arithmetic across leap years and centuries. */
    const int64_t t2026 = 1795773600000; /* 2026-11-27T10:00:00Z */
    CHECK(ra("Fri, 27 Nov 2026 10:01:00 GMT", t2026, &d) == 0 && d == 60000);
    CHECK(ra("Tue, 29 Feb 2000 00:00:00 GMT", 951782400000 - 1, &d) == 0 && d == 1);
    CHECK(ra("Mon, 01 Mar 2100 00:00:00 GMT", 4107542400000 - 2000, &d) == 0 && d == 2000);
    CHECK(ra("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799000 - 3000, &d) == 0 && d == 3000);
    CHECK(ra("Fri, 31 Dec 9999 23:59:60 GMT", 253402300799000, &d) == 0 && d == 1000);
    /* Before 1970: far in the past, so 0 (and no overflow on negative times). */
    CHECK(ra("Mon, 01 Jan 1900 00:00:00 GMT", t2026, &d) == 0 && d == 0);

    /* RFC 850's two-digit year: more than 50 years ahead means the previous century. */
    CHECK(ra("Friday, 27-Nov-26 10:00:30 GMT", t2026, &d) == 0 && d == 30000);
    CHECK(ra("Sunday, 06-Nov-94 08:49:37 GMT", t2026, &d) == 0 && d == 0); /* 1994 */
    CHECK(ra("Tuesday, 27-Nov-74 10:00:00 GMT", t2026, &d) == 0 &&
          d == (int64_t)(48 * 365 + 12) * 86400000); /* 2074, 12 leap days on the way */

    const char *bad[] = {
        "Sun, 06 Nov 1994 08:49:37 UTC",  /* only GMT */
        "Sun, 06 Nov 1994 08:49:37",      /* zone missing */
        "Sun, 06 Nov 1994 08:49:37 GMTx", /* trailing bytes */
        "Sun, 6 Nov 1994 08:49:37 GMT",   /* two-digit day */
        "Sun, 06 nov 1994 08:49:37 GMT",  /* month names are case-sensitive */
        "Sun, 06 Nov 94 08:49:37 GMT",    /* four-digit year */
        "Xyz, 06 Nov 1994 08:49:37 GMT",  /* no such day */
        "Sun 06 Nov 1994 08:49:37 GMT",   /* comma */
        "Sun, 06 Nov 1994 24:00:00 GMT",  /* hour */
        "Sun, 06 Nov 1994 08:60:00 GMT",  /* minute */
        "Sun, 06 Nov 1994 08:49:61 GMT",  /* second */
        "Sun, 00 Nov 1994 08:49:37 GMT",  /* day 0 */
        "Sun, 31 Nov 1994 08:49:37 GMT",  /* 30 days in November */
        "Thu, 29 Feb 2100 08:49:37 GMT",  /* 2100 is not a leap year */
        "Sun, 29 Feb 2027 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", /* asctime pads the day with a space */
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ra(bad[i], t1994, &d);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL) printf("#   accepted \"%s\"\n", bad[i]);
    }
}

int main(void)
{
    test_exact();
    test_jitter();
    test_saturation();
    test_retry_after_seconds();
    test_retry_after_dates();
    return check_done();
}
