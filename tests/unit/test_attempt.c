/* test_attempt.c -- every rule deciding a delivery attempt's outcome, the all-or-nothing
 * decoding of signing secrets, the webhook headers, Retry-After capture and the jitter draw. */
#include "gateway/attempt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/backoff.h"
#include "tests/unit/check.h"

static const cfg_retry_t policy = {.max_attempts = 5,
                                   .initial_delay_ms = 100,
                                   .multiplier = 2.0,
                                   .max_delay_ms = 10000,
                                   .jitter = 0.0};

static const int64_t now = 1795773600000; /* 2026-11-27T10:00:00Z */

static attempt_in_t response(long status, uint32_t attempt)
{
    return (attempt_in_t){.transport = ATTEMPT_RESPONSE,
                          .status = status,
                          .attempt = attempt,
                          .policy = &policy,
                          .now_ms = now,
                          .rand01 = 0.5};
}

static attempt_in_t failure(attempt_transport_t t, const char *error, uint32_t attempt)
{
    attempt_in_t in = response(0, attempt);
    in.transport = t;
    in.error = error;
    return in;
}

static attempt_result_t decide(attempt_in_t in)
{
    attempt_result_t r;
    memset(&r, 0x55, sizeof(r)); /* every field must be written */
    attempt_decide(&in, &r);
    return r;
}

static attempt_in_t with_retry_after(attempt_in_t in, const char *value)
{
    in.retry_after = value;
    in.retry_after_len = strlen(value);
    return in;
}

static void test_2xx_is_delivered(void)
{
    static const long ok[] = {200, 201, 202, 204, 299};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        attempt_result_t r = decide(response(ok[i], 1));
        CHECK(r.verdict == ATTEMPT_DELIVERED);
        CHECK(r.due_ms == 0);
        CHECK_STR(r.error, "");
    }
    /* The last allowed attempt succeeding is still a success. */
    CHECK(decide(response(200, 5)).verdict == ATTEMPT_DELIVERED);
    CHECK(decide(response(200, 9)).verdict == ATTEMPT_DELIVERED);
    /* A Retry-After on a 2xx means nothing. */
    CHECK(decide(with_retry_after(response(200, 1), "60")).verdict == ATTEMPT_DELIVERED);
}

static void test_410_is_dead_at_once(void)
{
    attempt_result_t r = decide(response(410, 1));
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK(r.due_ms == 0);
    CHECK_STR(r.error, "HTTP 410");
    r = decide(with_retry_after(response(410, 2), "1"));
    CHECK(r.verdict == ATTEMPT_DEAD);
}

static void test_failures_retry_with_backoff(void)
{
    /* Other statuses, redirects (not followed) and informational ones included. */
    static const long bad[] = {100, 199, 300, 301, 302, 304, 307, 400, 401,
                               404, 409, 422, 429, 500, 502, 503, 504, 599};
    int all = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        attempt_result_t r = decide(response(bad[i], 1));
        char want[32];
        snprintf(want, sizeof(want), "HTTP %ld", bad[i]);
        if (r.verdict != ATTEMPT_RETRY || r.due_ms != now + 100 || strcmp(r.error, want) != 0)
            all = 0;
    }
    CHECK(all);
    attempt_result_t r = decide(response(302, 1));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK_STR(r.error, "HTTP 302");

    /* The schedule is backoff_next_due of this attempt's number. */
    CHECK(decide(response(500, 1)).due_ms == now + 100);
    CHECK(decide(response(500, 2)).due_ms == now + 200);
    CHECK(decide(response(500, 4)).due_ms == now + 800);
    cfg_retry_t p = policy;
    p.jitter = 0.5;
    p.max_attempts = 100;
    attempt_in_t in = response(500, 3);
    in.policy = &p;
    in.rand01 = 0.25;
    r = decide(in);
    CHECK(r.due_ms == backoff_next_due(3, &p, now, 0.25));
    CHECK(r.due_ms == now + 300); /* 400 x (1 + 0.5 x (2 x 0.25 - 1)) */
    in.attempt = 20;
    CHECK(decide(in).due_ms == backoff_next_due(20, &p, now, 0.25));
}

static void test_transport_errors_retry_with_backoff(void)
{
    attempt_result_t r =
        decide(failure(ATTEMPT_TIMEOUT, "Operation timed out after 300 milliseconds\r\n", 1));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 100);
    CHECK_STR(r.error, "Operation timed out after 300 milliseconds");

    r = decide(failure(ATTEMPT_CONNECT_ERROR,
                       "Failed to connect to 127.0.0.1 port 9001 after 0 ms: Couldn't connect "
                       "to server",
                       2));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 200);
    CHECK_STR(r.error,
              "Failed to connect to 127.0.0.1 port 9001 after 0 ms: Couldn't connect to server");

    r = decide(failure(ATTEMPT_OTHER_ERROR, "Recv failure: Connection reset by peer", 3));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 400);
    CHECK_STR(r.error, "Recv failure: Connection reset by peer");

    /* Without a message the error is still never empty. */
    CHECK_STR(decide(failure(ATTEMPT_TIMEOUT, NULL, 1)).error, "timed out");
    CHECK_STR(decide(failure(ATTEMPT_CONNECT_ERROR, "", 1)).error, "cannot connect");
    CHECK_STR(decide(failure(ATTEMPT_OTHER_ERROR, "\n", 1)).error, "transport error");
    CHECK_STR(decide(failure(ATTEMPT_NOT_SENT, NULL, 1)).error, "not sent");

    /* A status curl saw before the transport failed does not make it a response. */
    attempt_in_t in = failure(ATTEMPT_TIMEOUT, "Operation timed out", 1);
    in.status = 200;
    CHECK(decide(in).verdict == ATTEMPT_RETRY);
    in.status = 410;
    CHECK(decide(in).verdict == ATTEMPT_RETRY);

    /* Long messages are cut to the buffer, NUL-terminated. */
    char longmsg[1000];
    memset(longmsg, 'e', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    r = decide(failure(ATTEMPT_OTHER_ERROR, longmsg, 1));
    CHECK(strlen(r.error) == ATTEMPT_ERROR_LEN - 1);
}

static void test_max_attempts_is_dead_with_last_error(void)
{
    attempt_result_t r = decide(response(500, 5));
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK(r.due_ms == 0);
    CHECK_STR(r.error, "HTTP 500");
    CHECK(decide(response(500, 4)).verdict == ATTEMPT_RETRY);

    r = decide(failure(ATTEMPT_TIMEOUT, "Operation timed out after 300 milliseconds", 5));
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK_STR(r.error, "Operation timed out after 300 milliseconds");
    r = decide(failure(ATTEMPT_CONNECT_ERROR, "Couldn't connect to server", 5));
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK_STR(r.error, "Couldn't connect to server");

    /* Past the limit (a reload lowered max_attempts): dead too. */
    CHECK(decide(response(503, 7)).verdict == ATTEMPT_DEAD);
    /* A Retry-After does not buy an attempt beyond the limit. */
    CHECK(decide(with_retry_after(response(429, 5), "1")).verdict == ATTEMPT_DEAD);

    cfg_retry_t once = policy;
    once.max_attempts = 1;
    attempt_in_t in = response(502, 1);
    in.policy = &once;
    r = decide(in);
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK_STR(r.error, "HTTP 502");
}

static void test_retry_after(void)
{
    /* delta-seconds on 429 and 503 */
    attempt_result_t r = decide(with_retry_after(response(429, 1), "5"));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 5000);
    CHECK_STR(r.error, "HTTP 429");
    r = decide(with_retry_after(response(503, 2), "3"));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 3000);
    CHECK_STR(r.error, "HTTP 503");
    CHECK(decide(with_retry_after(response(429, 1), "0")).due_ms == now);
    CHECK(decide(with_retry_after(response(429, 1), " 2 ")).due_ms == now + 2000);

    /* HTTP-date: 2026-11-27T10:00:07Z, 7 s after now; a past date means at once. */
    r = decide(with_retry_after(response(503, 1), "Fri, 27 Nov 2026 10:00:07 GMT"));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 7000);
    r = decide(with_retry_after(response(429, 1), "Friday, 27-Nov-26 10:00:09 GMT"));
    CHECK(r.due_ms == now + 9000);
    r = decide(with_retry_after(response(429, 1), "Fri, 27 Nov 2026 09:00:00 GMT"));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now);

    /* Capped at max_delay_ms, for both forms and for absurd values. */
    CHECK(decide(with_retry_after(response(429, 1), "3600")).due_ms == now + 10000);
    CHECK(decide(with_retry_after(response(503, 1), "Sat, 28 Nov 2026 10:00:00 GMT")).due_ms ==
          now + 10000);
    CHECK(decide(with_retry_after(response(429, 1), "99999999999999999999999")).due_ms ==
          now + 10000);
    cfg_retry_t huge = policy;
    huge.max_delay_ms = UINT64_MAX;
    attempt_in_t in = with_retry_after(response(429, 1), "99999999999999999999999");
    in.policy = &huge;
    CHECK(decide(in).due_ms == INT64_MAX); /* saturates, never wraps */

    /* Malformed or empty: the backoff applies. */
    CHECK(decide(with_retry_after(response(429, 1), "soon")).due_ms == now + 100);
    CHECK(decide(with_retry_after(response(503, 1), "-5")).due_ms == now + 100);
    CHECK(decide(with_retry_after(response(503, 1), "")).due_ms == now + 100);
    in = response(429, 1);
    in.retry_after = "5";
    in.retry_after_len = 0;
    CHECK(decide(in).due_ms == now + 100);

    /* Ignored on other statuses and without a response. */
    static const long other[] = {500, 502, 504, 408, 302, 400};
    int all = 1;
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        r = decide(with_retry_after(response(other[i], 1), "5"));
        if (r.verdict != ATTEMPT_RETRY || r.due_ms != now + 100) all = 0;
    }
    CHECK(all);
    CHECK(decide(with_retry_after(failure(ATTEMPT_TIMEOUT, "t", 1), "5")).due_ms == now + 100);
}

/* An attempt that could not be sent (undecodable secret) is an ordinary failure. */
static void test_not_sent(void)
{
    attempt_result_t r = decide(failure(ATTEMPT_NOT_SENT, ATTEMPT_UNSIGNABLE, 1));
    CHECK(r.verdict == ATTEMPT_RETRY);
    CHECK(r.due_ms == now + 100);
    CHECK_STR(r.error, "signing secret cannot be decoded");
    r = decide(failure(ATTEMPT_NOT_SENT, ATTEMPT_UNSIGNABLE, 3));
    CHECK(r.due_ms == now + 400);
    r = decide(failure(ATTEMPT_NOT_SENT, ATTEMPT_UNSIGNABLE, 5));
    CHECK(r.verdict == ATTEMPT_DEAD);
    CHECK_STR(r.error, "signing secret cannot be decoded");
}

static void test_keys(void)
{
    sign_key_t keys[3], want;
    size_t bad = 99;
    char *good[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_YWJj"};
    CHECK(attempt_keys(good, 2, keys, &bad) == 0);
    CHECK(bad == 99);
    CHECK(sign_key_decode(good[0], &want) == 0);
    CHECK(keys[0].len == want.len && memcmp(keys[0].key, want.key, want.len) == 0);
    CHECK(keys[1].len == 3 && memcmp(keys[1].key, "abc", 3) == 0);
    CHECK(attempt_keys(NULL, 0, keys, &bad) == 0);

    /* One bad secret fails the whole set: never sign with only some of the keys. */
    char *mixed[] = {"whsec_YWJj", "whsec_not base64!", "whsec_YWJj"};
    CHECK(attempt_keys(mixed, 3, keys, &bad) == -EINVAL);
    CHECK(bad == 1);
    char *empty[] = {"whsec_"};
    CHECK(attempt_keys(empty, 1, keys, &bad) == -EINVAL);
    CHECK(bad == 0);
    char *first_bad[] = {"whsec_***", "whsec_YWJj"};
    bad = 99;
    CHECK(attempt_keys(first_bad, 2, keys, &bad) == -EINVAL);
    CHECK(bad == 0);
}

/* The Standard Webhooks vector (as in test_sign.c), as header lines. */
static void test_headers(void)
{
    static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek", body[] = "{\"test\": 2432232314}";
    sign_key_t keys[2];
    char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                       "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};
    size_t bad;
    CHECK(attempt_keys(secrets, 2, keys, &bad) == 0);
    size_t size = attempt_headers_size(strlen(id), 2);
    char *buf = malloc(size + 1);
    memset(buf, '#', size + 1);
    int n = attempt_headers(id, strlen(id), 1614265330, keys, 2, body, strlen(body), buf);
    CHECK(n == 3);
    const char *line = buf;
    CHECK_STR(line, "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek");
    line += strlen(line) + 1;
    CHECK_STR(line, "webhook-timestamp: 1614265330");
    line += strlen(line) + 1;
    CHECK_STR(line, "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                    "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=");
    line += strlen(line) + 1;
    CHECK((size_t)(line - buf) <= size);
    CHECK(buf[size] == '#'); /* nothing written past the size it asked for */

    /* Unsigned: two lines; the id is taken by length. */
    n = attempt_headers("evt_1xyz", 5, -1, NULL, 0, "", 0, buf);
    CHECK(n == 2);
    CHECK_STR(buf, "webhook-id: evt_1");
    CHECK_STR(buf + strlen(buf) + 1, "webhook-timestamp: -1");
    CHECK(attempt_headers_size(5, 0) < attempt_headers_size(5, 1));
    free(buf);
}

static void feed(attempt_retry_after_t *ra, const char *line)
{
    attempt_header_line(ra, line, strlen(line));
}

static void test_retry_after_capture(void)
{
    attempt_retry_after_t ra = {0};
    feed(&ra, "HTTP/1.1 429 Too Many Requests\r\n");
    feed(&ra, "Content-Type: text/plain\r\n");
    CHECK(ra.len == 0);
    feed(&ra, "Retry-After:  120 \t\r\n");
    CHECK(ra.len == 3);
    CHECK_STR(ra.value, "120");
    feed(&ra, "\r\n");
    CHECK_STR(ra.value, "120");
    feed(&ra, "retry-after: Fri, 27 Nov 2026 10:00:07 GMT\r\n"); /* any case; the last wins */
    CHECK_STR(ra.value, "Fri, 27 Nov 2026 10:00:07 GMT");
    feed(&ra, "RETRY-AFTER:7");
    CHECK_STR(ra.value, "7");
    feed(&ra, "Retry-After-Extra: 9\r\n"); /* another header: its name only starts alike */
    CHECK_STR(ra.value, "7");

    /* A new response (after a 100 Continue, or a redirect's) starts afresh. */
    feed(&ra, "HTTP/2 503\r\n");
    CHECK(ra.len == 0);
    feed(&ra, "Retry-After:\r\n");
    CHECK(ra.len == 0);

    char longline[200];
    snprintf(longline, sizeof(longline), "Retry-After: %0*d\r\n", ATTEMPT_RETRY_AFTER_MAX, 5);
    feed(&ra, "Retry-After: 1\r\n");
    feed(&ra, longline); /* too long to be valid: none */
    CHECK(ra.len == 0);
    snprintf(longline, sizeof(longline), "Retry-After: %0*d\r\n", ATTEMPT_RETRY_AFTER_MAX - 1, 5);
    feed(&ra, longline);
    CHECK(ra.len == ATTEMPT_RETRY_AFTER_MAX - 1);

    /* What it captured is what attempt_decide reads. */
    feed(&ra, "Retry-After: 4\r\n");
    attempt_in_t in = response(503, 1);
    in.retry_after = ra.value;
    in.retry_after_len = ra.len;
    CHECK(decide(in).due_ms == now + 4000);
}

static void test_rand01(void)
{
    uint64_t state = 0;
    double lo = 1, hi = 0, sum = 0;
    int in_range = 1;
    for (int i = 0; i < 100000; i++) {
        double r = attempt_rand01(&state);
        if (!(r >= 0.0 && r < 1.0)) in_range = 0;
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
        sum += r;
    }
    CHECK(in_range);
    CHECK(lo < 0.001 && hi > 0.999);
    CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51);
    uint64_t a = 42, b = 42;
    double first = attempt_rand01(&a);
    CHECK(first == attempt_rand01(&b)); /* deterministic per state */
    CHECK(attempt_rand01(&a) != first); /* and the state advances */
}

int main(void)
{
    test_2xx_is_delivered();
    test_410_is_dead_at_once();
    test_failures_retry_with_backoff();
    test_transport_errors_retry_with_backoff();
    test_max_attempts_is_dead_with_last_error();
    test_retry_after();
    test_not_sent();
    test_keys();
    test_headers();
    test_retry_after_capture();
    test_rand01();
    return check_done();
}
