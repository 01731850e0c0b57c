/* test_civil.c -- calendar arithmetic, RFC 3339 parsing and formatting. */
#include "gateway/civil.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tests/unit/check.h"

static void test_rfc3339(void)
{
    const char *good[] = {
        "2026-11-27T10:00:00Z",      "2026-11-27t10:00:00z",
        "2026-11-27T10:00:00.123Z",  "2026-11-27T10:00:00.123456789+05:30",
        "2026-11-27T10:00:00-00:00", "2026-11-27T23:59:59+23:59",
        "2024-02-29T00:00:00Z",      "2000-02-29T00:00:00Z",
        "1990-12-31T23:59:60Z",      "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9Z",    "2026-01-31T00:00:00Z",
        "2026-04-30T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        bool ok = civil_parse_rfc3339(good[i], strlen(good[i]), false, NULL);
        CHECK(ok);
        if (!ok) printf("#   rejected \"%s\"\n", good[i]);
    }
    const char *bad[] = {
        "",
        "2026-11-27",
        "2026-11-27 10:00:00Z",
        "2026-11-27T10:00Z",
        "2026-11-27T10:00:00",
        "2026-11-27T10:00:00.Z",
        "2026-11-27T10:00:00,5Z",
        "2026-11-27T10:00:00+0530",
        "2026-11-27T10:00:00+05",
        "2026-11-27T10:00:00+24:00",
        "2026-11-27T10:00:00+05:60",
        "2026-11-27T10:00:00Zx",
        "2026-11-27T10:00:00+05:30x",
        "2026-11-27T10:00:00 Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:60:00Z",
        "2026-11-27T10:00:61Z",
        "26-11-27T10:00:00Z",
        "2026-1-27T10:00:00Z",
        "2026-11-27T1:00:00Z",
        "+2026-11-27T10:00:00Z",
        "2026-11-27X10:00:00Z",
        "2026/11/27T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool ok = civil_parse_rfc3339(bad[i], strlen(bad[i]), false, NULL);
        CHECK(!ok);
        if (ok) printf("#   accepted \"%s\"\n", bad[i]);
    }
    /* The length bounds the string. */
    CHECK(civil_parse_rfc3339("2026-11-27T10:00:00Zjunk", 20, false, NULL));
    CHECK(!civil_parse_rfc3339("2026-11-27T10:00:00Z", 19, false, NULL));
}

static void test_format_time(void)
{
    char out[25];
    CHECK(civil_format_rfc3339(0, out) == 24);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    civil_format_rfc3339(1795773600123, out);
    CHECK_STR(out, "2026-11-27T10:00:00.123Z");
    civil_format_rfc3339(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    civil_format_rfc3339(951782400000, out);
    CHECK_STR(out, "2000-02-29T00:00:00.000Z");
    civil_format_rfc3339(4107542399999, out);
    CHECK_STR(out, "2100-02-28T23:59:59.999Z");
    civil_format_rfc3339(253402300799999, out);
    CHECK_STR(out, "9999-12-31T23:59:59.999Z");
    /* Outside the four-digit-year range the time is clamped, so 25 bytes always suffice. */
    CHECK(civil_format_rfc3339(INT64_MAX, out) == 24);
    CHECK_STR(out, "9999-12-31T23:59:59.999Z");
    CHECK(civil_format_rfc3339(INT64_MIN, out) == 24);
    CHECK_STR(out, "0000-01-01T00:00:00.000Z");

    /* Against the C library over ~140 years of spread-out instants. */
    int bad = 0;
    int64_t ms = -2208988800000; /* 1900 */
    for (int i = 0; i < 20000; i++, ms += 250000123) {
        civil_format_rfc3339(ms, out);
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[32];
        size_t w = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + w, sizeof(want) - w, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
        if (strcmp(out, want) != 0 || !civil_parse_rfc3339(out, strlen(out), false, NULL)) {
            if (bad++ < 3) printf("#   %lld: got %s want %s\n", (long long)ms, out, want);
        }
    }
    CHECK(bad == 0);
}

/* Parsed instants: offsets, fractions and their rounding, leap days, and back again. */
static void test_parse_values(void)
{
    int64_t ms = 0;
    CHECK(civil_parse_rfc3339("1970-01-01T00:00:00Z", 20, false, &ms) && ms == 0);
    CHECK(civil_parse_rfc3339("2026-11-27T10:00:00.123Z", 24, false, &ms) && ms == 1795773600123);
    CHECK(civil_parse_rfc3339("2026-11-27T11:30:00.123+01:30", 29, false, &ms) &&
          ms == 1795773600123);
    CHECK(civil_parse_rfc3339("2026-11-27T08:00:00-02:00", 25, false, &ms) && ms == 1795773600000);
    CHECK(civil_parse_rfc3339("2026-11-27T10:00:00.1234Z", 25, false, &ms) && ms == 1795773600123);
    CHECK(civil_parse_rfc3339("2026-11-27T10:00:00.1234Z", 25, true, &ms) && ms == 1795773600124);
    CHECK(civil_parse_rfc3339("2026-11-27T10:00:00.1230Z", 25, true, &ms) && ms == 1795773600123);
    CHECK(civil_parse_rfc3339("1969-12-31T23:59:59.999Z", 24, false, &ms) && ms == -1);
    CHECK(civil_parse_rfc3339("2000-02-29T00:00:00Z", 20, false, &ms) && ms == 951782400000);
    CHECK(!civil_parse_rfc3339("2026-11-27T10:00:00", 19, false, &ms));
    /* formatting and parsing are inverse over a spread of instants */
    int bad = 0;
    char out[25];
    for (int64_t t = -2208988800000; t < 4102444800000; t += 7777777777) {
        civil_format_rfc3339(t, out);
        if (!civil_parse_rfc3339(out, strlen(out), false, &ms) || ms != t) bad++;
    }
    CHECK(bad == 0);
}

static void test_days(void)
{
    CHECK(civil_days_from_date(1970, 1, 1) == 0);
    CHECK(civil_days_from_date(2000, 3, 1) == 11017);
    CHECK(civil_days_from_date(1969, 12, 31) == -1);
    int64_t y;
    int m, d, bad = 0;
    for (int64_t z = -800000; z < 800000; z += 37) {
        civil_date_from_days(z, &y, &m, &d);
        if (civil_days_from_date(y, m, d) != z || d < 1 || d > civil_days_in_month(y, m)) bad++;
    }
    CHECK(bad == 0);
    CHECK(civil_is_leap(2000) && civil_is_leap(2024) && !civil_is_leap(1900) && !civil_is_leap(2026));
}

int main(void)
{
    test_rfc3339();
    test_format_time();
    test_parse_values();
    test_days();
    return check_done();
}
