/* test_codec.c -- round trips of every store key and record, and rejection of every
 * truncated, extended or damaged encoding. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "tests/unit/check.h"

/* Every proper prefix of an encoding, and the encoding plus one byte, must be refused.
 * Each prefix is copied into its own allocation so that ASan catches any read past it. */
static int all_truncations_fail(const core_buf_t *b, int (*decode)(const void *, size_t, void *),
                                void *out)
{
    for (size_t n = 0; n < b->len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, b->p, n);
        int rc = decode(p, n, out);
        free(p);
        if (rc != -EINVAL) return 0;
    }
    uint8_t *p = malloc(b->len + 1);
    memcpy(p, b->p, b->len);
    p[b->len] = 0;
    int rc = decode(p, b->len + 1, out);
    free(p);
    return rc == -EINVAL;
}

static int dec_event(const void *p, size_t n, void *out)
{
    return codec_decode_event(p, n, out);
}
static int view_event(const void *p, size_t n, void *out)
{
    return codec_event_view(p, n, out);
}
static int view_legacy_event(const void *p, size_t n, void *out)
{
    return codec_legacy_event_view(p, n, out);
}
static int dec_delivery(const void *p, size_t n, void *out)
{
    return codec_decode_delivery(p, n, out);
}
static int view_delivery(const void *p, size_t n, void *out)
{
    return codec_delivery_view(p, n, out);
}
static int dec_counters(const void *p, size_t n, void *out)
{
    return codec_decode_counters(p, n, out);
}

static void test_integers(void)
{
    uint8_t b[8];
    codec_put_be64(b, UINT64_C(0x0102030405060708));
    CHECK(b[0] == 1 && b[7] == 8);
    CHECK(codec_get_be64(b) == UINT64_C(0x0102030405060708));
    codec_put_le64(b, UINT64_C(0x0102030405060708));
    CHECK(b[0] == 8 && b[7] == 1);
    CHECK(codec_get_le64(b) == UINT64_C(0x0102030405060708));
    codec_put_le32(b, 0xA1B2C3D4u);
    CHECK(b[0] == 0xD4 && b[3] == 0xA1);
    CHECK(codec_get_le32(b) == 0xA1B2C3D4u);

    /* Time keys sort like the times, negative ones included. */
    int64_t times[] = {INT64_MIN, -5, -1, 0, 1, 1700000000000, INT64_MAX};
    int ordered = 1, back = 1;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        if (codec_time_from_key(codec_time_key(times[i])) != times[i]) back = 0;
        if (i > 0) {
            uint8_t x[8], y[8];
            codec_put_be64(x, codec_time_key(times[i - 1]));
            codec_put_be64(y, codec_time_key(times[i]));
            if (memcmp(x, y, 8) >= 0) ordered = 0;
        }
    }
    CHECK(back);
    CHECK(ordered);
}

static void test_order_key(void)
{
    uint8_t k[64], k2[64];
    size_t nl;
    uint64_t id;
    size_t kl = codec_order_key(k, "crm", 3, 42);
    CHECK(kl == 3 + CODEC_ORDER_KEY_EXTRA);
    CHECK(memcmp(k, "crm\0", 4) == 0);
    CHECK(codec_order_key_parse(k, kl, &nl, &id) == 0);
    CHECK(nl == 3 && id == 42);
    /* A higher id sorts after a lower one of the same subscriber, and before "crm2"'s. */
    codec_order_key(k2, "crm", 3, 256);
    CHECK(memcmp(k, k2, kl) < 0);
    codec_order_key(k2, "crm2", 4, 1);
    CHECK(memcmp(k, k2, kl) < 0);
    for (size_t n = 0; n < kl; n++)
        if (codec_order_key_parse(k, n, &nl, &id) != -EINVAL) CHECK(!"truncated order key");
    k[1] = '\0';
    CHECK(codec_order_key_parse(k, kl, &nl, &id) == -EINVAL);
}

static void test_keys(void)
{
    uint8_t k[64];
    size_t nl;
    int64_t due;
    uint64_t id;
    size_t kl = codec_due_key(k, "crm", 3, 1700000000123, 42);
    CHECK(kl == 3 + CODEC_DUE_KEY_EXTRA);
    CHECK(memcmp(k, "crm\0", 4) == 0);
    CHECK(codec_due_key_parse(k, kl, &nl, &due, &id) == 0);
    CHECK(nl == 3 && due == 1700000000123 && id == 42);
    /* A later due time sorts after an earlier one of the same subscriber. */
    uint8_t k2[64];
    codec_due_key(k2, "crm", 3, 1700000000124, 1);
    CHECK(memcmp(k, k2, kl) < 0);
    for (size_t n = 0; n < kl; n++)
        if (codec_due_key_parse(k, n, &nl, &due, &id) != -EINVAL) CHECK(!"truncated due key");
    k[1] = '\0'; /* a NUL inside the name */
    CHECK(codec_due_key_parse(k, kl, &nl, &due, &id) == -EINVAL);
    k[1] = 'r';
    k[3] = 'x'; /* no separator */
    CHECK(codec_due_key_parse(k, kl, &nl, &due, &id) == -EINVAL);

    uint8_t d[CODEC_DEAD_KEY_LEN];
    codec_dead_key(d, -7, UINT64_MAX);
    CHECK(codec_dead_key_parse(d, sizeof(d), &due, &id) == 0);
    CHECK(due == -7 && id == UINT64_MAX);
    CHECK(codec_dead_key_parse(d, sizeof(d) - 1, &due, &id) == -EINVAL);
    CHECK(codec_dead_key_parse(d, 0, &due, &id) == -EINVAL);

    /* The received value of formats 1 to 3, read by the upgrade to 4. */
    uint8_t r[13];
    codec_str_t s;
    codec_put_le64(r, 1234);
    memcpy(r + 8, "evt_1", 5);
    CHECK(codec_received_parse(r, sizeof(r), &due, &s) == 0);
    CHECK(due == 1234 && s.len == 5 && memcmp(s.p, "evt_1", 5) == 0);
    CHECK(codec_received_parse(r, 8, &due, &s) == -EINVAL); /* empty id */
    CHECK(codec_received_parse(r, 3, &due, &s) == -EINVAL);
}

static void test_event(void)
{
    core_buf_t b = {0};
    uint64_t ids[] = {1, UINT64_C(0xFFFFFFFF00000001), 3};
    const char body[] = "{\"id\":\"e\",\"payload\":{}}";
    CHECK(codec_encode_event(&b, 1700000000999, "evt_1", 5, "message_created", 15, ids, 3, body,
                             sizeof(body) - 1) == 0);
    CHECK(b.p[0] == CODEC_EVENT_VERSION);

    store_event_t e;
    CHECK(codec_decode_event(b.p, b.len, &e) == 0);
    CHECK_STR(e.id, "evt_1");
    CHECK_STR(e.type, "message_created");
    CHECK(e.received_ms == 1700000000999);
    CHECK(e.body_len == sizeof(body) - 1 && memcmp(e.body, body, e.body_len) == 0);
    CHECK(e.body[e.body_len] == '\0');
    CHECK(e.ndeliveries == 3 && e.delivery_ids[0] == 1 && e.delivery_ids[1] == ids[1] &&
          e.delivery_ids[2] == 3);
    store_event_clear(&e);

    codec_event_view_t v;
    CHECK(codec_event_view(b.p, b.len, &v) == 0);
    CHECK(v.ndeliveries == 3 && codec_event_view_id(&v, 1) == ids[1]);
    CHECK(v.body.len == sizeof(body) - 1);
    CHECK(v.id.len == 5 && memcmp(v.id.p, "evt_1", 5) == 0 && v.received_ms == 1700000000999);
    /* Only the upgrade reads legacy records, and it does not read this one. */
    CHECK(codec_legacy_event_view(b.p, b.len, &v) == -EINVAL);

    /* The records of formats 1 to 3 (version 2 with a sequence number, version 1 without,
     * both without the id, which was their key) are read by the legacy view only. */
    core_buf_t v2 = {0}, v1 = {0};
    uint8_t seq[8];
    codec_put_le64(seq, 77);
    core_buf_put(&v2, "\x02", 1);
    core_buf_put(&v2, b.p + 1, 8);
    core_buf_put(&v2, seq, 8);
    core_buf_put(&v2, b.p + 18, b.len - 18); /* after version, time, id length and "evt_1" */
    core_buf_put(&v1, "\x01", 1);
    core_buf_put(&v1, b.p + 1, 8);
    core_buf_put(&v1, b.p + 18, b.len - 18);
    CHECK(codec_event_view(v2.p, v2.len, &v) == -EINVAL);
    CHECK(codec_event_view(v1.p, v1.len, &v) == -EINVAL);
    CHECK(codec_legacy_event_view(v2.p, v2.len, &v) == 0);
    CHECK(v.seq == 77 && v.id.len == 0 && v.received_ms == 1700000000999 && v.ndeliveries == 3);
    CHECK(v.type.len == 15 && codec_event_view_id(&v, 2) == 3 && v.body.len == sizeof(body) - 1);
    CHECK(codec_legacy_event_view(v1.p, v1.len, &v) == 0);
    CHECK(v.seq == 0 && v.received_ms == 1700000000999 && v.ndeliveries == 3);
    CHECK(all_truncations_fail(&v1, view_legacy_event, &v));
    CHECK(all_truncations_fail(&v2, view_legacy_event, &v));
    memset(v2.p + 9, 0, 8); /* a version 2 record with seq 0 is corrupt */
    CHECK(codec_legacy_event_view(v2.p, v2.len, &v) == -EINVAL);
    core_buf_free(&v1);
    core_buf_free(&v2);

    /* An event id is required. */
    CHECK(codec_encode_event(&b, 1, "", 0, "t", 1, NULL, 0, "", 0) == -EINVAL);
    CHECK(codec_encode_event(&b, 1700000000999, "evt_1", 5, "message_created", 15, ids, 3, body,
                             sizeof(body) - 1) == 0);

    CHECK(all_truncations_fail(&b, dec_event, &e));
    CHECK(all_truncations_fail(&b, view_event, &v));
    CHECK(e.id == NULL && e.type == NULL && e.body == NULL && e.delivery_ids == NULL);

    /* Another record version is refused. */
    b.p[0] = CODEC_EVENT_VERSION + 1;
    CHECK(codec_decode_event(b.p, b.len, &e) == -EINVAL);
    b.p[0] = 0;
    CHECK(codec_decode_event(b.p, b.len, &e) == -EINVAL);
    b.p[0] = CODEC_EVENT_VERSION;
    memset(b.p + 9, 0, 4); /* an empty id */
    CHECK(codec_decode_event(b.p, b.len, &e) == -EINVAL);

    /* A count that claims more ids than there are bytes is refused, not allocated. */
    uint8_t forged[1 + 8 + 4 + 1 + 4 + 4];
    memset(forged, 0, sizeof(forged));
    forged[0] = CODEC_EVENT_VERSION;
    forged[9] = 1; /* id length 1 */
    forged[13] = 'x';
    codec_put_le32(forged + 18, 0xFFFFFFFFu);
    CHECK(codec_decode_event(forged, sizeof(forged), &e) == -EINVAL);

    /* No deliveries, empty body. */
    CHECK(codec_encode_event(&b, 5, "x", 1, "t", 1, NULL, 0, "", 0) == 0);
    CHECK(codec_decode_event(b.p, b.len, &e) == 0);
    CHECK(e.ndeliveries == 0 && e.body_len == 0 && e.received_ms == 5);
    store_event_clear(&e);
    core_buf_free(&b);
}

static void fill_delivery(store_delivery_t *d, store_attempt_t *h)
{
    memset(d, 0, sizeof(*d));
    h[0] = (store_attempt_t){.at_ms = 1000, .status = 500, .duration_ms = 12, .error = "HTTP 500"};
    h[1] = (store_attempt_t){
        .at_ms = 3000, .status = 0, .duration_ms = 10000, .error = "Operation timed out"};
    h[2] = (store_attempt_t){.at_ms = 7000, .status = -1, .duration_ms = UINT32_MAX, .error = ""};
    d->id = 77;
    d->event_id = "evt_1";
    d->event_type = "conversation_created";
    d->subscriber = "crm";
    d->state = STORE_DEAD;
    d->attempts = 3;
    d->created_ms = 900;
    d->next_attempt_ms = 0;
    d->first_attempt_ms = 1000;
    d->dead_ms = -8000; /* any i64 survives */
    d->last_status = 0;
    d->last_error = "gave up";
    d->history = h;
    d->nhistory = 3;
}

static void test_delivery(void)
{
    core_buf_t b = {0};
    store_delivery_t in, out;
    store_attempt_t h[3];
    fill_delivery(&in, h);
    CHECK(codec_encode_delivery(&b, &in) == 0);
    CHECK(b.p[0] == CODEC_RECORD_VERSION);

    CHECK(codec_decode_delivery(b.p, b.len, &out) == 0);
    CHECK(out.id == 0); /* the id is the key, not part of the record */
    CHECK_STR(out.event_id, "evt_1");
    CHECK_STR(out.event_type, "conversation_created");
    CHECK_STR(out.subscriber, "crm");
    CHECK(out.state == STORE_DEAD && out.attempts == 3);
    CHECK(out.created_ms == 900 && out.next_attempt_ms == 0 && out.first_attempt_ms == 1000);
    CHECK(out.dead_ms == -8000 && out.last_status == 0);
    CHECK_STR(out.last_error, "gave up");
    CHECK(out.nhistory == 3);
    CHECK(out.history[0].at_ms == 1000 && out.history[0].status == 500 &&
          out.history[0].duration_ms == 12);
    CHECK_STR(out.history[0].error, "HTTP 500");
    CHECK_STR(out.history[1].error, "Operation timed out");
    CHECK(out.history[2].status == -1 && out.history[2].duration_ms == UINT32_MAX);
    CHECK_STR(out.history[2].error, "");
    store_delivery_clear(&out);
    CHECK(out.history == NULL && out.event_id == NULL);

    codec_delivery_view_t v;
    CHECK(codec_delivery_view(b.p, b.len, &v) == 0);
    CHECK(v.state == STORE_DEAD && v.subscriber.len == 3 && v.nhistory == 3);
    CHECK(v.event_type.len == strlen("conversation_created"));

    CHECK(all_truncations_fail(&b, dec_delivery, &out));
    CHECK(all_truncations_fail(&b, view_delivery, &v));

    /* Damaged fields: unknown state, a history count over the cap. */
    b.p[1] = 9;
    CHECK(codec_delivery_view(b.p, b.len, &v) == -EINVAL);
    b.p[1] = 0;
    CHECK(codec_delivery_view(b.p, b.len, &v) == -EINVAL);
    b.p[1] = STORE_DEAD;
    size_t nh_at = b.len;
    for (size_t i = 0; i < 3; i++)
        nh_at -= 8 + 4 + 4 + 4 + strlen(h[i].error);
    nh_at -= 4;
    CHECK(codec_get_le32(b.p + nh_at) == 3);
    codec_put_le32(b.p + nh_at, STORE_MAX_HISTORY + 1);
    CHECK(codec_delivery_view(b.p, b.len, &v) == -EINVAL);
    codec_put_le32(b.p + nh_at, 2); /* fewer entries than bytes: trailing garbage */
    CHECK(codec_delivery_view(b.p, b.len, &v) == -EINVAL);
    codec_put_le32(b.p + nh_at, 4); /* more entries than bytes */
    CHECK(codec_delivery_view(b.p, b.len, &v) == -EINVAL);

    /* The encoder refuses what the layout cannot hold. */
    in.state = 0;
    CHECK(codec_encode_delivery(&b, &in) == -EINVAL);
    in.state = STORE_PENDING;
    in.nhistory = STORE_MAX_HISTORY + 1;
    CHECK(codec_encode_delivery(&b, &in) == -EINVAL);

    /* NULL strings and no history encode as empty. */
    memset(&in, 0, sizeof(in));
    in.state = STORE_PENDING;
    CHECK(codec_encode_delivery(&b, &in) == 0);
    CHECK(codec_decode_delivery(b.p, b.len, &out) == 0);
    CHECK_STR(out.event_id, "");
    CHECK_STR(out.last_error, "");
    CHECK(out.nhistory == 0 && out.state == STORE_PENDING);
    store_delivery_clear(&out);
    core_buf_free(&b);
}

static void test_counters(void)
{
    core_buf_t b = {0};
    store_counters_t in = {.pending = 3,
                           .delivered = UINT64_MAX,
                           .failed_attempts = 7,
                           .dead = 2,
                           .last_success_ms = 1700000000000,
                           .last_error = "HTTP 503"};
    store_counters_t out;
    CHECK(codec_encode_counters(&b, &in) == 0);
    CHECK(codec_decode_counters(b.p, b.len, &out) == 0);
    CHECK(out.pending == 3 && out.delivered == UINT64_MAX && out.failed_attempts == 7 &&
          out.dead == 2 && out.last_success_ms == 1700000000000);
    CHECK_STR(out.last_error, "HTTP 503");
    store_counters_clear(&out);
    CHECK(all_truncations_fail(&b, dec_counters, &out));
    CHECK(out.last_error == NULL);
    core_buf_free(&b);
}

/* Encodes d, then one more attempt a on it with codec_encode_delivery_attempt, and checks
 * the bytes against codec_encode_delivery of the record the slow way would make. */
static bool attempt_matches(const store_delivery_t *d, store_state_t state, int64_t next_ms,
                            const store_attempt_t *a, size_t error_len)
{
    core_buf_t rec = {0}, got = {0}, want = {0};
    codec_delivery_view_t v;
    bool ok = codec_encode_delivery(&rec, d) == 0 && codec_delivery_view(rec.p, rec.len, &v) == 0 &&
              codec_encode_delivery_attempt(&got, &v, state, next_ms, a, error_len) == 0;
    /* The expected record: the attempt appended (the oldest dropped at the cap). */
    store_delivery_t e = *d;
    store_attempt_t hist[STORE_MAX_HISTORY + 1];
    char err[2048];
    snprintf(err, sizeof(err), "%.*s", (int)error_len, a->error);
    size_t drop = d->nhistory == STORE_MAX_HISTORY ? 1 : 0;
    memcpy(hist, d->history + drop, (d->nhistory - drop) * sizeof(*hist));
    hist[d->nhistory - drop] = *a;
    hist[d->nhistory - drop].error = err;
    e.history = hist;
    e.nhistory = d->nhistory - drop + 1;
    e.state = state;
    e.next_attempt_ms = next_ms;
    e.attempts = d->attempts + 1;
    e.last_status = a->status;
    e.last_error = err;
    if (e.first_attempt_ms == 0) e.first_attempt_ms = a->at_ms;
    ok = ok && codec_encode_delivery(&want, &e) == 0 && got.len == want.len &&
         memcmp(got.p, want.p, got.len) == 0;
    core_buf_free(&rec);
    core_buf_free(&got);
    core_buf_free(&want);
    return ok;
}

/* The record of an outcome written straight from the stored bytes is the record the
 * decode-change-encode way writes: a success, a retry, the first attempt, a full history
 * and an error cut short. */
static void test_delivery_attempt(void)
{
    store_delivery_t d;
    store_attempt_t h[3];
    fill_delivery(&d, h);
    d.state = STORE_PENDING;
    d.next_attempt_ms = 7500;
    store_attempt_t ok = {.at_ms = 9000, .status = 204, .duration_ms = 3, .error = ""};
    store_attempt_t bad = {.at_ms = 9000, .status = 503, .duration_ms = 30, .error = "HTTP 503"};
    CHECK(attempt_matches(&d, STORE_DELIVERED, 0, &ok, 0));
    CHECK(attempt_matches(&d, STORE_PENDING, 20000, &bad, strlen(bad.error)));
    CHECK(attempt_matches(&d, STORE_PENDING, 20000, &bad, 4)); /* "HTTP" */

    /* The first attempt sets first_attempt_ms. */
    d.nhistory = 0;
    d.attempts = 0;
    d.first_attempt_ms = 0;
    d.last_error = "";
    CHECK(attempt_matches(&d, STORE_DELIVERED, 0, &ok, 0));

    /* A full history drops its oldest entry. */
    static store_attempt_t full[STORE_MAX_HISTORY];
    for (int i = 0; i < STORE_MAX_HISTORY; i++)
        full[i] = (store_attempt_t){.at_ms = i,
                                    .status = 500,
                                    .duration_ms = (uint32_t)i,
                                    .error = i % 2 ? "HTTP 500" : "Connection refused"};
    d.history = full;
    d.nhistory = STORE_MAX_HISTORY;
    d.attempts = 250;
    d.first_attempt_ms = 1;
    CHECK(attempt_matches(&d, STORE_PENDING, 30000, &bad, strlen(bad.error)));
    CHECK(attempt_matches(&d, STORE_DELIVERED, 0, &ok, 0));

    /* What the layout cannot hold is refused. */
    core_buf_t b = {0}, out = {0};
    codec_delivery_view_t v;
    CHECK(codec_encode_delivery(&b, &d) == 0 && codec_delivery_view(b.p, b.len, &v) == 0);
    CHECK(codec_encode_delivery_attempt(&out, &v, 0, 0, &ok, 0) == -EINVAL);
    core_buf_free(&b);
    core_buf_free(&out);
}

/* Records of one kind fed to the decoders of the others are refused, not misread. */
static void test_cross_decode(void)
{
    core_buf_t b = {0};
    store_event_t e;
    store_delivery_t d;
    store_counters_t c = {.last_error = "x"};
    CHECK(codec_encode_counters(&b, &c) == 0);
    CHECK(codec_decode_event(b.p, b.len, &e) == -EINVAL);
    CHECK(codec_decode_delivery(b.p, b.len, &d) == -EINVAL);
    CHECK(codec_encode_event(&b, 1, "i", 1, "t", 1, NULL, 0, "b", 1) == 0);
    CHECK(codec_decode_counters(b.p, b.len, &c) == -EINVAL);
    CHECK(codec_decode_delivery(b.p, b.len, &d) == -EINVAL);
    core_buf_free(&b);
}

int main(void)
{
    test_integers();
    test_keys();
    test_order_key();
    test_event();
    test_delivery();
    test_delivery_attempt();
    test_counters();
    test_cross_decode();
    return check_done();
}
