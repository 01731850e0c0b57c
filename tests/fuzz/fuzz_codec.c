/* fuzz_codec.c -- libFuzzer driver for the store's record and key decoders: no input may
 * crash them or make them read out of bounds, and whatever they accept must re-encode to
 * the same bytes. Built with -Dfuzz=true and run by run.sh (see there). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"

static void same_bytes(const core_buf_t *b, const uint8_t *p, size_t n)
{
    if (b->len != n || memcmp(b->p, p, n) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_buf_t b = {0};
    store_event_t e;
    store_delivery_t d;
    store_counters_t c;
    codec_event_view_t ev;
    codec_delivery_view_t dv;
    codec_str_t s;
    size_t nl;
    int64_t t;
    uint64_t id;

    if (codec_decode_event(data, size, &e) == 0) {
        if (codec_event_view(data, size, &ev)) abort();
        if (codec_encode_event(&b, ev.received_ms, ev.id.p, ev.id.len, ev.type.p, ev.type.len,
                               e.delivery_ids, e.ndeliveries, ev.body.p, ev.body.len))
            abort();
        same_bytes(&b, data, size);
        store_event_clear(&e);
    }
    /* The structs hold C strings, so a string with a NUL inside re-encodes shorter: only
     * a same-length re-encoding must match byte for byte. */
    if (codec_decode_delivery(data, size, &d) == 0) {
        if (codec_delivery_view(data, size, &dv) || codec_encode_delivery(&b, &d)) abort();
        if (b.len == size) same_bytes(&b, data, size);
        store_delivery_clear(&d);
    }
    if (codec_decode_counters(data, size, &c) == 0) {
        if (codec_encode_counters(&b, &c)) abort();
        if (b.len == size) same_bytes(&b, data, size);
        store_counters_clear(&c);
    }
    if (codec_delivery_view(data, size, &dv) == 0) {
        /* An outcome written straight from the view must be a record the view reads. */
        store_attempt_t a = {.at_ms = 1, .status = 200, .duration_ms = 2, .error = "HTTP 200"};
        codec_delivery_view_t out;
        if (codec_encode_delivery_attempt(&b, &dv, STORE_PENDING, 5, &a, 4) ||
            codec_delivery_view(b.p, b.len, &out) || out.attempts != dv.attempts + 1)
            abort();
    }
    codec_event_view(data, size, &ev);
    codec_legacy_event_view(data, size, &ev);
    codec_order_key_parse(data, size, &nl, &id);
    codec_due_key_parse(data, size, &nl, &t, &id);
    codec_dead_key_parse(data, size, &t, &id);
    codec_received_parse(data, size, &t, &s);
    core_buf_free(&b);
    return 0;
}
