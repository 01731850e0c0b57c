/* civil.c -- calendar arithmetic (proleptic Gregorian, UTC) and RFC 3339 times. */
#include "gateway/civil.h"

#include <stdio.h>

bool civil_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int civil_days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && civil_is_leap(y) ? 29 : days[m - 1];
}

/* Counting years from March 1 puts the leap day last in the counted year; a 400-year era
 * has 146097 days, and 719468 days separate 0000-03-01 from 1970-01-01. */
int64_t civil_days_from_date(int64_t y, int m, int d)
{
    if (m <= 2) y--;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                         /* 0..399 */
    int64_t mp = (m + 9) % 12;                           /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void civil_date_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int civil_digits(const char **p, const char *end, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9') return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) return false;
    (*p)++;
    return true;
}

/* Whether a leap second really occurred at a ":60" minute is not checked. */
bool civil_parse_rfc3339(const char *s, size_t n, bool round_up, int64_t *unix_ms)
{
    const char *p = s, *end = s + n;
    int y = civil_digits(&p, end, 4);
    if (y < 0 || !expect(&p, end, '-')) return false;
    int mo = civil_digits(&p, end, 2);
    if (mo < 1 || mo > 12 || !expect(&p, end, '-')) return false;
    int d = civil_digits(&p, end, 2);
    if (d < 1 || d > civil_days_in_month(y, mo)) return false;
    if (p >= end || (*p != 'T' && *p != 't')) return false;
    p++;
    int h = civil_digits(&p, end, 2);
    if (h < 0 || h > 23 || !expect(&p, end, ':')) return false;
    int mi = civil_digits(&p, end, 2);
    if (mi < 0 || mi > 59 || !expect(&p, end, ':')) return false;
    int sec = civil_digits(&p, end, 2);
    if (sec < 0 || sec > 60) return false;
    int64_t ms = ((civil_days_from_date(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000;
    if (p < end && *p == '.') {
        const char *frac = ++p;
        int scale = 100;
        bool finer = false;
        for (; p < end && *p >= '0' && *p <= '9'; p++, scale /= 10) {
            if (scale > 0)
                ms += (*p - '0') * scale;
            else if (*p != '0')
                finer = true;
        }
        if (p == frac) return false;
        if (finer && round_up) ms++;
    }
    if (p < end && (*p == 'Z' || *p == 'z')) {
        if (p + 1 != end) return false;
    } else {
        if (p >= end || (*p != '+' && *p != '-')) return false;
        int sign = *p++ == '+' ? -1 : 1;
        int oh = civil_digits(&p, end, 2);
        if (oh < 0 || oh > 23 || !expect(&p, end, ':')) return false;
        int om = civil_digits(&p, end, 2);
        if (om < 0 || om > 59 || p != end) return false;
        ms += sign * ((int64_t)oh * 60 + om) * 60000;
    }
    if (unix_ms) *unix_ms = ms;
    return true;
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the four-digit-year range. */
#define TIME_MIN_MS (-62167219200000LL)
#define TIME_MAX_MS (253402300799999LL)

size_t civil_format_rfc3339(int64_t unix_ms, char *out)
{
    if (unix_ms < TIME_MIN_MS) unix_ms = TIME_MIN_MS;
    if (unix_ms > TIME_MAX_MS) unix_ms = TIME_MAX_MS;
    int64_t days = unix_ms / 86400000, ms = unix_ms % 86400000;
    if (ms < 0) {
        ms += 86400000;
        days--;
    }
    int64_t y;
    int m, d;
    civil_date_from_days(days, &y, &m, &d);
    int n =
        snprintf(out, 25, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(ms / 3600000),
                 (int)(ms / 60000 % 60), (int)(ms / 1000 % 60), (int)(ms % 1000));
    return (size_t)n;
}
