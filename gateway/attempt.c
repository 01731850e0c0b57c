/* attempt.c -- the rules of one delivery attempt: signing keys and the outcome. */
#include "gateway/attempt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway/backoff.h"

static const char *generic_error(attempt_transport_t t)
{
    switch (t) {
    case ATTEMPT_TIMEOUT: return "timed out";
    case ATTEMPT_CONNECT_ERROR: return "cannot connect";
    case ATTEMPT_NOT_SENT: return "not sent";
    default: return "transport error";
    }
}

static void set_error(const attempt_in_t *in, attempt_result_t *out)
{
    if (in->transport == ATTEMPT_RESPONSE) {
        snprintf(out->error, sizeof(out->error), "HTTP %ld", in->status);
        return;
    }
    const char *e = in->error ? in->error : "";
    size_t n = strlen(e);
    while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == '\r'))
        n--; /* curl's messages may end with a line break */
    if (n == 0) {
        e = generic_error(in->transport);
        n = strlen(e);
    }
    snprintf(out->error, sizeof(out->error), "%.*s", (int)n, e);
}

/* The delay a Retry-After asks for, capped at max_delay_ms; false when the status does not
 * allow one or the value is absent or malformed. */
static bool told_delay(const attempt_in_t *in, int64_t *delay)
{
    if (in->transport != ATTEMPT_RESPONSE || (in->status != 429 && in->status != 503) ||
        !in->retry_after || in->retry_after_len == 0)
        return false;
    if (backoff_parse_retry_after(in->retry_after, in->retry_after_len, in->now_ms, delay) != 0)
        return false;
    uint64_t cap = in->policy->max_delay_ms < INT64_MAX ? in->policy->max_delay_ms : INT64_MAX;
    if ((uint64_t)*delay > cap) *delay = (int64_t)cap;
    return true;
}

void attempt_decide(const attempt_in_t *in, attempt_result_t *out)
{
    out->due_ms = 0;
    out->error[0] = '\0';
    bool response = in->transport == ATTEMPT_RESPONSE;
    if (response && in->status >= 200 && in->status <= 299) {
        out->verdict = ATTEMPT_DELIVERED;
        return;
    }
    set_error(in, out);
    int64_t delay;
    if ((response && in->status == 410) || in->attempt >= in->policy->max_attempts) {
        out->verdict = ATTEMPT_DEAD;
    } else if (told_delay(in, &delay)) {
        out->verdict = ATTEMPT_RETRY;
        out->due_ms = in->now_ms > INT64_MAX - delay ? INT64_MAX : in->now_ms + delay;
    } else {
        out->verdict = ATTEMPT_RETRY;
        out->due_ms = backoff_next_due(in->attempt, in->policy, in->now_ms, in->rand01);
    }
}

int attempt_keys(char *const *secrets, size_t n, sign_key_t *keys, size_t *bad)
{
    for (size_t i = 0; i < n; i++) {
        if (sign_key_decode(secrets[i], &keys[i]) != 0) {
            *bad = i;
            return -EINVAL;
        }
    }
    return 0;
}

size_t attempt_headers_size(size_t id_len, size_t nkeys)
{
    return sizeof("webhook-id: ") + id_len + sizeof("webhook-timestamp: ") + 21 +
           sizeof("webhook-signature: ") + nkeys * (SIGN_MAX_LEN + 1);
}

int attempt_headers(const char *id, size_t id_len, int64_t ts, const sign_key_t *keys, size_t nkeys,
                    const char *body, size_t body_len, char *buf)
{
    char *b = buf;
    b += sprintf(b, "webhook-id: %.*s", (int)id_len, id) + 1;
    b += sprintf(b, "webhook-timestamp: %" PRId64, ts) + 1;
    if (nkeys == 0) return 2;
    b += sprintf(b, "webhook-signature: ");
    sign_header(keys, nkeys, id, id_len, ts, body, body_len, b);
    return 3;
}

void attempt_header_line(attempt_retry_after_t *ra, const char *line, size_t n)
{
    static const char name[] = "retry-after:";
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        ra->len = 0;
        return;
    }
    if (n < sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0) return;
    const char *v = line + sizeof(name) - 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= sizeof(ra->value)) {
        ra->len = 0;
        return;
    }
    memcpy(ra->value, v, len);
    ra->value[len] = '\0';
    ra->len = len;
}

double attempt_rand01(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53; /* 53 bits: every value exact, never 1.0 */
}
