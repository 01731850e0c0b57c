/* test_ratelimit.c -- the start-rate limiter, with the clock passed in. */
#include "gateway/ratelimit.h"
#include "tests/unit/check.h"

#include <stdint.h>

/* Starts as many attempts as allowed at every ms from 0 to ms, recording each start. */
static size_t run(ratelimit_t *r, int64_t ms, int64_t *at, size_t cap)
{
    size_t n = 0;
    for (int64_t t = 0; t <= ms; t++) {
        for (size_t k = ratelimit_available(r, t); k > 0 && n < cap; k--) {
            ratelimit_take(r, t);
            at[n++] = t;
        }
    }
    return n;
}

/* The most starts in any window of w ms. */
static size_t max_in_window(const int64_t *at, size_t n, int64_t w)
{
    size_t best = 0;
    for (size_t i = 0, j = 0; j < n; j++) {
        while (at[j] - at[i] >= w)
            i++;
        if (j - i + 1 > best) best = j - i + 1;
    }
    return best;
}

static void test_no_limit(void)
{
    ratelimit_t r = {0};
    CHECK(ratelimit_available(&r, 0) == SIZE_MAX);
    ratelimit_take(&r, 0);
    CHECK(ratelimit_next(&r, 5) == 5);
    ratelimit_set(&r, 0);
    CHECK(ratelimit_available(&r, 0) == SIZE_MAX);
}

static void test_whole_rate(void)
{
    static int64_t at[2000];
    ratelimit_t r = {0};
    ratelimit_set(&r, 50);
    CHECK(ratelimit_available(&r, 0) == 5); /* the burst: a tenth of a second's worth */
    size_t n = run(&r, 9999, at, 2000);
    CHECK(n == 500); /* 50 per second for 10 s */
    CHECK(max_in_window(at, n, 1000) == 50);
    CHECK(max_in_window(at, n, 100) == 5);
    ratelimit_set(&r, 10000);
    CHECK(ratelimit_available(&r, 0) == 1000);
    ratelimit_set(&r, 19.5); /* below 20: one at a time, every 1/19.5 s */
    CHECK(ratelimit_available(&r, 0) == 1);
    ratelimit_take(&r, 0);
    CHECK(ratelimit_next(&r, 0) == 52);
    ratelimit_free(&r);
}

static void test_fraction(void)
{
    static int64_t at[100];
    ratelimit_t r = {0};
    ratelimit_set(&r, 0.5); /* one every 2 s */
    CHECK(ratelimit_available(&r, 0) == 1);
    ratelimit_take(&r, 0);
    CHECK(ratelimit_available(&r, 1999) == 0);
    CHECK(ratelimit_next(&r, 10) == 2000);
    CHECK(ratelimit_available(&r, 2000) == 1);
    ratelimit_set(&r, 2.5); /* one every 400 ms */
    size_t n = run(&r, 7999, at, 100);
    CHECK(n == 20);
    CHECK(max_in_window(at, n, 400) == 1);
    CHECK(max_in_window(at, n, 1000) == 3);
    ratelimit_free(&r);
}

static void test_next(void)
{
    ratelimit_t r = {0};
    ratelimit_set(&r, 40); /* 4 in any 100 ms */
    CHECK(ratelimit_next(&r, 50) == 50);
    ratelimit_take(&r, 100);
    ratelimit_take(&r, 120);
    ratelimit_take(&r, 150);
    CHECK(ratelimit_next(&r, 150) == 150);
    ratelimit_take(&r, 160);
    CHECK(ratelimit_available(&r, 161) == 0);
    CHECK(ratelimit_next(&r, 161) == 200);
    CHECK(ratelimit_available(&r, 200) == 1);
    CHECK(ratelimit_available(&r, 250) == 3);
    CHECK(ratelimit_available(&r, 260) == 4);
    ratelimit_free(&r);
}

int main(void)
{
    test_no_limit();
    test_whole_rate();
    test_fraction();
    test_next();
    return check_done();
}
