/* backoff.c -- exponential retry schedule with jitter, and Retry-After parsing. */
#include "gateway/backoff.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "gateway/civil.h"

/* Largest delay that can be represented as int64 ms; doubles at or above it saturate. */
#define DELAY_LIMIT 9.2e18

static int64_t add_saturating(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    return a + b;
}

int64_t backoff_next_due(uint32_t attempt, const cfg_retry_t *policy, int64_t now_ms, double rand01)
{
    double max_delay = (double)policy->max_delay_ms;
    double base = 0.0;
    if (policy->initial_delay_ms > 0) {
        uint32_t n = attempt > 0 ? attempt - 1 : 0; /* attempt 0 is taken as 1 */
        /* pow() goes to +inf rather than wrapping for huge attempt numbers, and
         * !(x < max) also catches NaN, so the cap applies to both. */
        base = (double)policy->initial_delay_ms * pow(policy->multiplier, (double)n);
        if (!(base < max_delay)) base = max_delay;
    }
    double delay = base * (1.0 + policy->jitter * (2.0 * rand01 - 1.0));
    if (!(delay > 0.0)) delay = 0.0;
    if (delay > max_delay) delay = max_delay;

    int64_t ms = delay >= DELAY_LIMIT ? INT64_MAX : (int64_t)llround(delay);
    if ((uint64_t)ms > policy->max_delay_ms) ms = (int64_t)policy->max_delay_ms;
    return add_saturating(now_ms, ms);
}


/* Consumes the literal lit at *p. */
static bool lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0) return false;
    *p += n;
    return true;
}

/* Index (0-based) of the name at *p among names, advancing past it; -1 if none. */
static int name_index(const char **p, const char *end, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (lit(p, end, names[i])) return i;
    return -1;
}

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const short_days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};

/* "hh:mm:ss" into seconds of the day; -1 when malformed or out of range (60 = leap second). */
static int64_t time_of_day(const char **p, const char *end)
{
    int h = civil_digits(p, end, 2);
    if (h < 0 || h > 23 || !lit(p, end, ":")) return -1;
    int mi = civil_digits(p, end, 2);
    if (mi < 0 || mi > 59 || !lit(p, end, ":")) return -1;
    int s = civil_digits(p, end, 2);
    if (s < 0 || s > 60) return -1;
    return (int64_t)h * 3600 + mi * 60 + s;
}

/* Parses the three HTTP-date forms of RFC 9110 section 5.6.7 into unix ms. The weekday
 * name must be a valid one but is not checked against the date (the RFC lets recipients
 * ignore it). now_ms resolves RFC 850's two-digit year. */
static int parse_http_date(const char *p, const char *end, int64_t now_ms, int64_t *out)
{
    int64_t year;
    int mon, day;
    int64_t secs;
    bool asctime_form = false;
    const char *s = p;
    if (name_index(&s, end, short_days, 7) >= 0 && lit(&s, end, ", ")) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        day = civil_digits(&s, end, 2);
        if (day < 0 || !lit(&s, end, " ")) return -EINVAL;
        mon = name_index(&s, end, month_names, 12);
        if (mon < 0 || !lit(&s, end, " ")) return -EINVAL;
        int y = civil_digits(&s, end, 4);
        if (y < 0 || !lit(&s, end, " ")) return -EINVAL;
        year = y;
        secs = time_of_day(&s, end);
    } else if (s = p, name_index(&s, end, long_days, 7) >= 0 && lit(&s, end, ", ")) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        day = civil_digits(&s, end, 2);
        if (day < 0 || !lit(&s, end, "-")) return -EINVAL;
        mon = name_index(&s, end, month_names, 12);
        if (mon < 0 || !lit(&s, end, "-")) return -EINVAL;
        int yy = civil_digits(&s, end, 2);
        if (yy < 0 || !lit(&s, end, " ")) return -EINVAL;
        /* A two-digit year more than 50 years in the future means the most recent
         * past year with those digits (RFC 9110). */
        int64_t now_year;
        int now_month, now_day;
        civil_date_from_days(now_ms / 86400000, &now_year, &now_month, &now_day);
        year = now_year - now_year % 100 + yy;
        if (year > now_year + 50) year -= 100;
        secs = time_of_day(&s, end);
    } else if (s = p, name_index(&s, end, short_days, 7) >= 0 && lit(&s, end, " ")) {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        asctime_form = true;
        mon = name_index(&s, end, month_names, 12);
        if (mon < 0 || !lit(&s, end, " ")) return -EINVAL;
        if (lit(&s, end, " "))
            day = civil_digits(&s, end, 1);
        else
            day = civil_digits(&s, end, 2);
        if (day < 0 || !lit(&s, end, " ")) return -EINVAL;
        secs = time_of_day(&s, end);
        if (secs < 0 || !lit(&s, end, " ")) return -EINVAL;
        int y = civil_digits(&s, end, 4);
        if (y < 0) return -EINVAL;
        year = y;
    } else {
        return -EINVAL;
    }
    if (secs < 0 || (!asctime_form && !lit(&s, end, " GMT")) || s != end) return -EINVAL;
    if (day < 1 || day > civil_days_in_month(year, mon + 1)) return -EINVAL;
    *out = (civil_days_from_date(year, mon + 1, day) * 86400 + secs) * 1000;
    return 0;
}

int backoff_parse_retry_after(const char *value, size_t len, int64_t now_ms, int64_t *delay_ms)
{
    const char *p = value, *end = value + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p == end) return -EINVAL;

    if (*p >= '0' && *p <= '9') {
        int64_t ms = 0;
        for (const char *q = p; q < end; q++) {
            if (*q < '0' || *q > '9') return -EINVAL;
            int64_t d = (*q - '0') * 1000;
            ms = ms > (INT64_MAX - d) / 10 ? INT64_MAX : ms * 10 + d;
        }
        *delay_ms = ms;
        return 0;
    }

    int64_t when;
    int rc = parse_http_date(p, end, now_ms, &when);
    if (rc != 0) return rc;
    *delay_ms = when > now_ms ? when - now_ms : 0;
    return 0;
}
