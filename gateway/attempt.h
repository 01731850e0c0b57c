/* attempt.h -- the rules of one delivery attempt, pure (no clock, no I/O, no curl): the
 * signing keys a subscriber's secrets give, the webhook headers it sends, the Retry-After
 * it gets back, and what its result means (delivered, retried at a given time, or
 * dead-lettered) with the error to record. */
#ifndef HOOKGATE_ATTEMPT_H
#define HOOKGATE_ATTEMPT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "gateway/sign.h"

/* Room for "HTTP <status>" and for a transport message (curl's are < 256 bytes). */
#define ATTEMPT_ERROR_LEN 272
/* The error of an attempt not sent because a secret cannot be decoded: signing never
 * fails open by sending the delivery unsigned. */
#define ATTEMPT_UNSIGNABLE "signing secret cannot be decoded"

/* How the request went, before its HTTP status is looked at. */
typedef enum {
    ATTEMPT_RESPONSE,      /* a response arrived: its status decides */
    ATTEMPT_TIMEOUT,       /* the subscriber's timeout_ms ran out */
    ATTEMPT_CONNECT_ERROR, /* name resolution or connection failed */
    ATTEMPT_OTHER_ERROR,   /* reset, TLS, protocol or local error */
    ATTEMPT_NOT_SENT,      /* nothing was sent, e.g. ATTEMPT_UNSIGNABLE */
} attempt_transport_t;

typedef struct {
    attempt_transport_t transport;
    long status;             /* the HTTP status; only read for ATTEMPT_RESPONSE */
    const char *error;       /* otherwise: the transport's message, e.g. curl's (trailing
                                line breaks are dropped; NULL or "" gives a generic text) */
    uint32_t attempt;        /* this attempt's number: 1 for the first */
    const char *retry_after; /* the Retry-After value as received; NULL when absent */
    size_t retry_after_len;
    const cfg_retry_t *policy;
    int64_t now_ms; /* unix ms when the attempt ended */
    double rand01;  /* uniform in [0, 1), for the backoff's jitter */
} attempt_in_t;

typedef enum { ATTEMPT_DELIVERED, ATTEMPT_RETRY, ATTEMPT_DEAD } attempt_verdict_t;

typedef struct {
    attempt_verdict_t verdict;
    int64_t due_ms;                /* ATTEMPT_RETRY: when the next attempt is due; else 0 */
    char error[ATTEMPT_ERROR_LEN]; /* "" when delivered; "HTTP <status>" or the message */
} attempt_result_t;

/* Decides the outcome of an attempt (README "Delivery"): a 2xx response is delivered; a
 * 410 is dead at once; any other response (3xx included: redirects are not followed),
 * a timeout, a connection error or an attempt not sent is a failure, dead once attempt
 * reaches policy->max_attempts, else retried at backoff_next_due(), or on a 429 or 503
 * with a valid Retry-After after that delay capped at max_delay_ms. Writes *out. Any
 * thread. */
void attempt_decide(const attempt_in_t *in, attempt_result_t *out);

/* Decodes all n secrets into keys (room for n). All or nothing: returns 0, or -EINVAL
 * when a secret cannot be decoded, with its index in *bad; the subscriber's attempts must
 * then not be sent (ATTEMPT_NOT_SENT with ATTEMPT_UNSIGNABLE). Any thread. */
int attempt_keys(char *const *secrets, size_t n, sign_key_t *keys, size_t *bad);

/* Bytes attempt_headers needs for an event id of id_len bytes signed with nkeys keys. */
size_t attempt_headers_size(size_t id_len, size_t nkeys);
/* Writes the Standard Webhooks header lines of an attempt made at unix second ts to buf
 * (attempt_headers_size bytes), one after the other, each NUL-terminated:
 * "webhook-id: <id>", "webhook-timestamp: <ts>" and, with keys, "webhook-signature: "
 * and one signature per key. Returns the number of lines, 2 or 3. Any thread. */
int attempt_headers(const char *id, size_t id_len, int64_t ts, const sign_key_t *keys, size_t nkeys,
                    const char *body, size_t body_len, char *buf);

/* The Retry-After of the response being received. Zero-initialised is empty. */
#define ATTEMPT_RETRY_AFTER_MAX 64 /* longer than any valid value, with its NUL */
typedef struct {
    char value[ATTEMPT_RETRY_AFTER_MAX]; /* NUL-terminated when len > 0 */
    size_t len;                          /* 0: none */
} attempt_retry_after_t;
/* Feeds one received header line (n bytes, CRLF included or not): a status line starts
 * a new response (after a 1xx) and forgets the value; a Retry-After line (any case) keeps
 * its trimmed value, or none when it is too long. Other lines are ignored. Any thread. */
void attempt_header_line(attempt_retry_after_t *ra, const char *line, size_t n);

/* A uniform draw in [0, 1) for attempt_decide's rand01, advancing *state (splitmix64:
 * jitter needs speed and spread, not secrecy). Any thread, one state per thread. */
double attempt_rand01(uint64_t *state);

#endif
