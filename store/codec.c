/* codec.c -- encoding and bounds-checked decoding of the store's keys and records. */
#include "store/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* ---- integers ---- */

void codec_put_be64(void *out, uint64_t v)
{
    uint8_t *p = out;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t codec_get_be64(const void *in)
{
    const uint8_t *p = in;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void codec_put_le32(void *out, uint32_t v)
{
    uint8_t *p = out;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint32_t codec_get_le32(const void *in)
{
    const uint8_t *p = in;
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void codec_put_le64(void *out, uint64_t v)
{
    uint8_t *p = out;
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t codec_get_le64(const void *in)
{
    const uint8_t *p = in;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t codec_time_key(int64_t t)
{
    return (uint64_t)t ^ (UINT64_C(1) << 63);
}

int64_t codec_time_from_key(uint64_t k)
{
    return (int64_t)(k ^ (UINT64_C(1) << 63));
}

/* ---- output ---- */

static void put_u8(core_buf_t *b, uint8_t v)
{
    core_buf_putc(b, (char)v);
}

static void put_u32(core_buf_t *b, uint32_t v)
{
    uint8_t le[4];
    codec_put_le32(le, v);
    core_buf_put(b, le, sizeof(le));
}

static void put_u64(core_buf_t *b, uint64_t v)
{
    uint8_t le[8];
    codec_put_le64(le, v);
    core_buf_put(b, le, sizeof(le));
}

/* Caller has checked that len fits in u32. */
static void put_str(core_buf_t *b, const char *s, size_t len)
{
    put_u32(b, (uint32_t)len);
    core_buf_put(b, s, len);
}

/* The record strings of the public structs are NUL-terminated; NULL is taken as "". */
static size_t cstr_len(const char *s)
{
    return s ? strlen(s) : 0;
}

/* ---- input reader: every read checks the remaining length first ---- */

typedef struct {
    const uint8_t *p, *end;
} rd_t;

static void rd_init(rd_t *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
}

static int rd_bytes(rd_t *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n) return -EINVAL;
    *out = r->p;
    r->p += n;
    return 0;
}

static int rd_u8(rd_t *r, uint8_t *v)
{
    const uint8_t *p;
    if (rd_bytes(r, 1, &p)) return -EINVAL;
    *v = *p;
    return 0;
}

static int rd_u32(rd_t *r, uint32_t *v)
{
    const uint8_t *p;
    if (rd_bytes(r, 4, &p)) return -EINVAL;
    *v = codec_get_le32(p);
    return 0;
}

static int rd_i32(rd_t *r, int32_t *v)
{
    uint32_t u;
    if (rd_u32(r, &u)) return -EINVAL;
    *v = (int32_t)u;
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v)
{
    const uint8_t *p;
    if (rd_bytes(r, 8, &p)) return -EINVAL;
    *v = codec_get_le64(p);
    return 0;
}

static int rd_i64(rd_t *r, int64_t *v)
{
    uint64_t u;
    if (rd_u64(r, &u)) return -EINVAL;
    *v = (int64_t)u;
    return 0;
}

static int rd_str(rd_t *r, codec_str_t *s)
{
    const uint8_t *p;
    uint32_t len;
    if (rd_u32(r, &len) || rd_bytes(r, len, &p)) return -EINVAL;
    s->p = (const char *)p;
    s->len = len;
    return 0;
}

/* The record's version byte, which must be want. */
static int rd_version(rd_t *r, uint8_t want)
{
    uint8_t v;
    if (rd_u8(r, &v) || v != want) return -EINVAL;
    return 0;
}

static int rd_end(const rd_t *r)
{
    return r->p == r->end ? 0 : -EINVAL;
}

/* ---- keys ---- */

size_t codec_due_key(uint8_t *out, const char *name, size_t name_len, int64_t due_ms, uint64_t id)
{
    memcpy(out, name, name_len);
    out[name_len] = '\0';
    codec_put_be64(out + name_len + 1, codec_time_key(due_ms));
    codec_put_be64(out + name_len + 9, id);
    return name_len + CODEC_DUE_KEY_EXTRA;
}

int codec_due_key_parse(const void *key, size_t n, size_t *name_len, int64_t *due_ms, uint64_t *id)
{
    const uint8_t *k = key;
    if (n < CODEC_DUE_KEY_EXTRA + 1) return -EINVAL;
    size_t nl = n - CODEC_DUE_KEY_EXTRA;
    if (k[nl] != '\0' || memchr(k, '\0', nl)) return -EINVAL;
    *name_len = nl;
    *due_ms = codec_time_from_key(codec_get_be64(k + nl + 1));
    *id = codec_get_be64(k + nl + 9);
    return 0;
}

size_t codec_order_key(uint8_t *out, const char *name, size_t name_len, uint64_t id)
{
    memcpy(out, name, name_len);
    out[name_len] = '\0';
    codec_put_be64(out + name_len + 1, id);
    return name_len + CODEC_ORDER_KEY_EXTRA;
}

int codec_order_key_parse(const void *key, size_t n, size_t *name_len, uint64_t *id)
{
    const uint8_t *k = key;
    if (n < CODEC_ORDER_KEY_EXTRA + 1) return -EINVAL;
    size_t nl = n - CODEC_ORDER_KEY_EXTRA;
    if (k[nl] != '\0' || memchr(k, '\0', nl)) return -EINVAL;
    *name_len = nl;
    *id = codec_get_be64(k + nl + 1);
    return 0;
}

void codec_dead_key(uint8_t out[CODEC_DEAD_KEY_LEN], int64_t dead_ms, uint64_t id)
{
    codec_put_be64(out, codec_time_key(dead_ms));
    codec_put_be64(out + 8, id);
}

int codec_dead_key_parse(const void *key, size_t n, int64_t *dead_ms, uint64_t *id)
{
    const uint8_t *k = key;
    if (n != CODEC_DEAD_KEY_LEN) return -EINVAL;
    *dead_ms = codec_time_from_key(codec_get_be64(k));
    *id = codec_get_be64(k + 8);
    return 0;
}

int codec_received_parse(const void *p, size_t n, int64_t *received_ms, codec_str_t *id)
{
    rd_t r;
    rd_init(&r, p, n);
    if (rd_i64(&r, received_ms) || r.p == r.end || (size_t)(r.end - r.p) > UINT32_MAX)
        return -EINVAL;
    id->p = (const char *)r.p;
    id->len = (uint32_t)(r.end - r.p);
    return 0;
}

/* ---- event ---- */

int codec_encode_event(core_buf_t *b, int64_t received_ms, const char *id, size_t id_len,
                       const char *type, size_t type_len, const uint64_t *ids, size_t n,
                       const char *body, size_t body_len)
{
    if (id_len == 0 || id_len > UINT32_MAX || type_len > UINT32_MAX || n > UINT32_MAX ||
        body_len > UINT32_MAX)
        return -EINVAL;
    core_buf_reset(b);
    put_u8(b, CODEC_EVENT_VERSION);
    put_u64(b, (uint64_t)received_ms);
    put_str(b, id, id_len);
    put_str(b, type, type_len);
    put_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        put_u64(b, ids[i]);
    put_str(b, body, body_len);
    return 0;
}

/* The fields after the id (or the legacy sequence number), common to every version. */
static int event_tail(rd_t *r, codec_event_view_t *v)
{
    if (rd_str(r, &v->type) || rd_u32(r, &v->ndeliveries) ||
        rd_bytes(r, (size_t)v->ndeliveries * 8, &v->ids) || rd_str(r, &v->body))
        return -EINVAL;
    return rd_end(r);
}

int codec_event_view(const void *p, size_t n, codec_event_view_t *v)
{
    rd_t r;
    uint8_t version;
    rd_init(&r, p, n);
    v->seq = 0;
    if (rd_u8(&r, &version) || version != CODEC_EVENT_VERSION || rd_i64(&r, &v->received_ms) ||
        rd_str(&r, &v->id) || v->id.len == 0)
        return -EINVAL;
    return event_tail(&r, v);
}

int codec_legacy_event_view(const void *p, size_t n, codec_event_view_t *v)
{
    rd_t r;
    uint8_t version;
    rd_init(&r, p, n);
    v->seq = 0;
    v->id.p = "";
    v->id.len = 0;
    /* Version 1 records (written before format 2) have no sequence number. */
    if (rd_u8(&r, &version) || (version != 1 && version != 2) || rd_i64(&r, &v->received_ms) ||
        (version == 2 && (rd_u64(&r, &v->seq) || v->seq == 0)))
        return -EINVAL;
    return event_tail(&r, v);
}

uint64_t codec_event_view_id(const codec_event_view_t *v, uint32_t i)
{
    return codec_get_le64(v->ids + (size_t)i * 8);
}

void codec_event_copy(const codec_event_view_t *v, store_event_t *out)
{
    memset(out, 0, sizeof(*out));
    out->id = xmemdup0(v->id.p, v->id.len);
    out->type = xmemdup0(v->type.p, v->type.len);
    out->received_ms = v->received_ms;
    out->body = xmemdup0(v->body.p, v->body.len);
    out->body_len = v->body.len;
    out->ndeliveries = v->ndeliveries;
    out->delivery_ids = xmalloc((v->ndeliveries ? v->ndeliveries : 1) * sizeof(uint64_t));
    for (uint32_t i = 0; i < v->ndeliveries; i++)
        out->delivery_ids[i] = codec_event_view_id(v, i);
}

int codec_decode_event(const void *p, size_t n, store_event_t *out)
{
    codec_event_view_t v;
    memset(out, 0, sizeof(*out));
    if (codec_event_view(p, n, &v)) return -EINVAL;
    codec_event_copy(&v, out);
    return 0;
}

/* ---- delivery ---- */

static int state_valid(uint32_t s)
{
    return s == STORE_PENDING || s == STORE_DELIVERED || s == STORE_DEAD;
}

int codec_encode_delivery(core_buf_t *b, const store_delivery_t *d)
{
    const char *strs[4] = {d->event_id, d->event_type, d->subscriber, d->last_error};
    if (!state_valid(d->state) || d->nhistory > STORE_MAX_HISTORY) return -EINVAL;
    for (int i = 0; i < 4; i++)
        if (cstr_len(strs[i]) > UINT32_MAX) return -EINVAL;
    for (size_t i = 0; i < d->nhistory; i++)
        if (cstr_len(d->history[i].error) > UINT32_MAX) return -EINVAL;

    core_buf_reset(b);
    put_u8(b, CODEC_RECORD_VERSION);
    put_u8(b, (uint8_t)d->state);
    put_u32(b, d->attempts);
    put_u64(b, (uint64_t)d->created_ms);
    put_u64(b, (uint64_t)d->next_attempt_ms);
    put_u64(b, (uint64_t)d->first_attempt_ms);
    put_u64(b, (uint64_t)d->dead_ms);
    put_u32(b, (uint32_t)d->last_status);
    for (int i = 0; i < 4; i++)
        put_str(b, strs[i], cstr_len(strs[i]));
    put_u32(b, (uint32_t)d->nhistory);
    for (size_t i = 0; i < d->nhistory; i++) {
        const store_attempt_t *a = &d->history[i];
        put_u64(b, (uint64_t)a->at_ms);
        put_u32(b, (uint32_t)a->status);
        put_u32(b, a->duration_ms);
        put_str(b, a->error, cstr_len(a->error));
    }
    return 0;
}

/* One history entry: at_ms, status, duration_ms, error. */
static int rd_attempt(rd_t *r, store_attempt_t *a, codec_str_t *error)
{
    if (rd_i64(r, &a->at_ms) || rd_i32(r, &a->status) || rd_u32(r, &a->duration_ms) ||
        rd_str(r, error))
        return -EINVAL;
    return 0;
}

int codec_delivery_view(const void *p, size_t n, codec_delivery_view_t *v)
{
    rd_t r;
    uint8_t state;
    rd_init(&r, p, n);
    if (rd_version(&r, CODEC_RECORD_VERSION) || rd_u8(&r, &state) || !state_valid(state) ||
        rd_u32(&r, &v->attempts) || rd_i64(&r, &v->created_ms) || rd_i64(&r, &v->next_attempt_ms) ||
        rd_i64(&r, &v->first_attempt_ms) || rd_i64(&r, &v->dead_ms) ||
        rd_i32(&r, &v->last_status) || rd_str(&r, &v->event_id) || rd_str(&r, &v->event_type) ||
        rd_str(&r, &v->subscriber) || rd_str(&r, &v->last_error) || rd_u32(&r, &v->nhistory) ||
        v->nhistory > STORE_MAX_HISTORY)
        return -EINVAL;
    v->state = (store_state_t)state;
    v->history = r.p;
    for (uint32_t i = 0; i < v->nhistory; i++) {
        store_attempt_t a;
        codec_str_t e;
        if (rd_attempt(&r, &a, &e)) return -EINVAL;
    }
    v->history_len = (size_t)(r.p - v->history);
    return rd_end(&r);
}

/* A history entry's bytes before its error's: at_ms, status, duration_ms, error length. */
#define HISTORY_ENTRY_FIXED 20

/* Writes v at *w and advances it (for encoders that reserved their whole size first). */
static void w_u32(uint8_t **w, uint32_t v)
{
    codec_put_le32(*w, v);
    *w += 4;
}

static void w_u64(uint8_t **w, uint64_t v)
{
    codec_put_le64(*w, v);
    *w += 8;
}

static void w_bytes(uint8_t **w, const void *p, size_t n)
{
    if (n) memcpy(*w, p, n);
    *w += n;
}

static void w_str(uint8_t **w, const char *p, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_bytes(w, p, n);
}

/* Sized once and written in place: this runs for every delivery outcome. */
int codec_encode_delivery_attempt(core_buf_t *b, const codec_delivery_view_t *v,
                                  store_state_t state, int64_t next_attempt_ms,
                                  const store_attempt_t *a, size_t error_len)
{
    if (!state_valid(state) || error_len > UINT32_MAX || v->nhistory > STORE_MAX_HISTORY)
        return -EINVAL;
    const uint8_t *hist = v->history;
    size_t hist_len = v->history_len;
    uint32_t nhistory = v->nhistory;
    if (nhistory == STORE_MAX_HISTORY) {
        /* Drop the oldest entry (the view validated it). */
        size_t first = HISTORY_ENTRY_FIXED + codec_get_le32(hist + HISTORY_ENTRY_FIXED - 4);
        hist += first;
        hist_len -= first;
        nhistory--;
    }
    const char *err = a->error ? a->error : "";
    size_t size = 2 + 4 + 4 * 8 + 4 + 4 * 4 + v->event_id.len + v->event_type.len +
                  v->subscriber.len + error_len + 4 + hist_len + HISTORY_ENTRY_FIXED + error_len;
    core_buf_reset(b);
    core_buf_reserve(b, size);
    uint8_t *w = (uint8_t *)b->p;
    *w++ = CODEC_RECORD_VERSION;
    *w++ = (uint8_t)state;
    w_u32(&w, v->attempts + 1);
    w_u64(&w, (uint64_t)v->created_ms);
    w_u64(&w, (uint64_t)next_attempt_ms);
    w_u64(&w, (uint64_t)(v->first_attempt_ms ? v->first_attempt_ms : a->at_ms));
    w_u64(&w, (uint64_t)v->dead_ms);
    w_u32(&w, (uint32_t)a->status);
    w_str(&w, v->event_id.p, v->event_id.len);
    w_str(&w, v->event_type.p, v->event_type.len);
    w_str(&w, v->subscriber.p, v->subscriber.len);
    w_str(&w, err, error_len);
    w_u32(&w, nhistory + 1);
    w_bytes(&w, hist, hist_len);
    w_u64(&w, (uint64_t)a->at_ms);
    w_u32(&w, (uint32_t)a->status);
    w_u32(&w, a->duration_ms);
    w_str(&w, err, error_len);
    b->len = size;
    return 0;
}

int codec_decode_delivery(const void *p, size_t n, store_delivery_t *out)
{
    codec_delivery_view_t v;
    memset(out, 0, sizeof(*out));
    if (codec_delivery_view(p, n, &v)) return -EINVAL;
    out->event_id = xmemdup0(v.event_id.p, v.event_id.len);
    out->event_type = xmemdup0(v.event_type.p, v.event_type.len);
    out->subscriber = xmemdup0(v.subscriber.p, v.subscriber.len);
    out->state = v.state;
    out->attempts = v.attempts;
    out->created_ms = v.created_ms;
    out->next_attempt_ms = v.next_attempt_ms;
    out->first_attempt_ms = v.first_attempt_ms;
    out->dead_ms = v.dead_ms;
    out->last_status = v.last_status;
    out->last_error = xmemdup0(v.last_error.p, v.last_error.len);
    out->nhistory = v.nhistory;
    out->history = xmalloc(v.nhistory * sizeof(store_attempt_t));
    /* The view validated the entries, so these reads cannot fail. */
    rd_t r = {v.history, (const uint8_t *)p + n};
    for (uint32_t i = 0; i < v.nhistory; i++) {
        codec_str_t e;
        rd_attempt(&r, &out->history[i], &e);
        out->history[i].error = xmemdup0(e.p, e.len);
    }
    return 0;
}

/* ---- counters ---- */

int codec_encode_counters(core_buf_t *b, const store_counters_t *c)
{
    size_t el = cstr_len(c->last_error);
    if (el > UINT32_MAX) return -EINVAL;
    core_buf_reset(b);
    put_u8(b, CODEC_RECORD_VERSION);
    put_u64(b, c->pending);
    put_u64(b, c->delivered);
    put_u64(b, c->failed_attempts);
    put_u64(b, c->dead);
    put_u64(b, (uint64_t)c->last_success_ms);
    put_str(b, c->last_error, el);
    return 0;
}

int codec_decode_counters(const void *p, size_t n, store_counters_t *out)
{
    rd_t r;
    codec_str_t e;
    memset(out, 0, sizeof(*out));
    rd_init(&r, p, n);
    if (rd_version(&r, CODEC_RECORD_VERSION) || rd_u64(&r, &out->pending) ||
        rd_u64(&r, &out->delivered) || rd_u64(&r, &out->failed_attempts) ||
        rd_u64(&r, &out->dead) || rd_i64(&r, &out->last_success_ms) || rd_str(&r, &e) ||
        rd_end(&r)) {
        memset(out, 0, sizeof(*out));
        return -EINVAL;
    }
    out->last_error = xmemdup0(e.p, e.len);
    return 0;
}

/* ---- the store.h *_clear helpers: they free what the decoders allocate ---- */

void store_attempt_clear(store_attempt_t *a)
{
    free(a->error);
    memset(a, 0, sizeof(*a));
}

void store_delivery_clear(store_delivery_t *d)
{
    free(d->event_id);
    free(d->event_type);
    free(d->subscriber);
    free(d->last_error);
    for (size_t i = 0; i < d->nhistory; i++)
        store_attempt_clear(&d->history[i]);
    free(d->history);
    memset(d, 0, sizeof(*d));
}

void store_event_clear(store_event_t *e)
{
    free(e->id);
    free(e->type);
    free(e->body);
    free(e->delivery_ids);
    memset(e, 0, sizeof(*e));
}

void store_counters_clear(store_counters_t *c)
{
    free(c->last_error);
    memset(c, 0, sizeof(*c));
}
