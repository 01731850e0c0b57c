/* codec.h -- byte layouts of the store's keys and records (see store/FORMAT.md). Pure: no
 * LMDB, no I/O, callable from any thread. Part of the store module, used by store.c and
 * the tests.
 *
 * Records are a format-version byte then fields in a fixed order: integers little-endian
 * and fixed-width, strings as a u32 length then the bytes. Keys use big-endian integers
 * so that LMDB's byte order is numeric order. Every *_view / *_parse / *_decode function
 * checks bounds and returns -EINVAL on truncated, oversized or trailing input; it never
 * reads outside [p, p + n). Every codec_encode_* replaces the contents of b. */
#ifndef HOOKGATE_CODEC_H
#define HOOKGATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

/* The encoders write into a core buffer (core/buf.h); out of memory aborts. */

/* A string inside a record being viewed: not NUL-terminated, valid while the record is. */
typedef struct {
    const char *p;
    uint32_t len;
} codec_str_t;

/* ---- fixed-width integers, at any byte address ---- */

void codec_put_be64(void *p, uint64_t v);
uint64_t codec_get_be64(const void *p);
void codec_put_le32(void *p, uint32_t v);
uint32_t codec_get_le32(const void *p);
void codec_put_le64(void *p, uint64_t v);
uint64_t codec_get_le64(const void *p);

/* A signed time as an unsigned key component that sorts in numeric order (sign bit
 * flipped), and back. */
uint64_t codec_time_key(int64_t t);
int64_t codec_time_from_key(uint64_t k);

/* ---- keys ---- */

#define CODEC_DUE_KEY_EXTRA 17 /* '\0' + due time + delivery id after the name */
#define CODEC_DEAD_KEY_LEN 16

/* due index: subscriber name, '\0', due time (codec_time_key, BE), delivery id (BE).
 * out must hold name_len + CODEC_DUE_KEY_EXTRA bytes; returns the key length. */
size_t codec_due_key(uint8_t *out, const char *name, size_t name_len, int64_t due_ms, uint64_t id);
/* Splits a due key; the name is key[0 .. *name_len). -EINVAL when malformed. */
int codec_due_key_parse(const void *key, size_t n, size_t *name_len, int64_t *due_ms, uint64_t *id);

/* order index (format 2; for marked subscribers only since format 3): subscriber name,
 * '\0', delivery id (BE); its value is the due time (codec_time_key, BE, 8 bytes). out must
 * hold name_len + CODEC_ORDER_KEY_EXTRA bytes; returns the key length. */
#define CODEC_ORDER_KEY_EXTRA 9
size_t codec_order_key(uint8_t *out, const char *name, size_t name_len, uint64_t id);
int codec_order_key_parse(const void *key, size_t n, size_t *name_len, uint64_t *id);

/* dead index: dead time (codec_time_key, BE), delivery id (BE). */
void codec_dead_key(uint8_t out[CODEC_DEAD_KEY_LEN], int64_t dead_ms, uint64_t id);
int codec_dead_key_parse(const void *key, size_t n, int64_t *dead_ms, uint64_t *id);

/* The received table's value in formats 1 to 3: received time (LE) then the event id (at
 * least one byte). Read only by the upgrade to format 4. */
int codec_received_parse(const void *p, size_t n, int64_t *received_ms, codec_str_t *id);

/* Record versions (the first byte of each record), separate from the store's format
 * version: a format bump that leaves a record's layout alone leaves its version alone, so
 * the records of an upgraded store stay readable. Delivery and counters records are at
 * version 1; event records at 3 (versions 1 and 2 are those of formats 1 to 3, which the
 * upgrade to format 4 rewrites). */
#define CODEC_RECORD_VERSION 1
#define CODEC_EVENT_VERSION 3

/* ---- event record: the received table's value, keyed by the event's sequence number ---- */

typedef struct {
    int64_t received_ms;
    codec_str_t id;     /* empty in a legacy record (its key was the id) */
    uint64_t seq;       /* in a legacy version 2 record only; otherwise 0 (it is the key) */
    codec_str_t type;
    uint32_t ndeliveries;
    const uint8_t *ids; /* ndeliveries u64 LE; read with codec_event_view_id */
    codec_str_t body;
} codec_event_view_t;

/* Writes a version 3 record. -EINVAL when the id is empty, or type_len, body_len or n does
 * not fit the u32 fields. */
int codec_encode_event(core_buf_t *b, int64_t received_ms, const char *id, size_t id_len,
                       const char *type, size_t type_len, const uint64_t *ids, size_t n,
                       const char *body, size_t body_len);
/* Reads a version 3 record (with a non-empty id). */
int codec_event_view(const void *p, size_t n, codec_event_view_t *v);
/* Reads an event record of formats 1 to 3 (record versions 1 and 2, stored in the events
 * table under the event id): only the upgrade to format 4 reads these. */
int codec_legacy_event_view(const void *p, size_t n, codec_event_view_t *v);
uint64_t codec_event_view_id(const codec_event_view_t *v, uint32_t i);
/* Fills out with malloc'd copies of the record v views; free with store_event_clear. id,
 * type and body are NUL-terminated for convenience (body_len excludes the NUL). */
void codec_event_copy(const codec_event_view_t *v, store_event_t *out);
/* codec_event_view, then codec_event_copy. */
int codec_decode_event(const void *p, size_t n, store_event_t *out);

/* The events table's value (the idempotency index): the event's sequence number, u64 LE. */
#define CODEC_EVENT_SEQ_LEN 8

/* ---- delivery record (its id is the key, not part of the record) ---- */

typedef struct {
    store_state_t state;
    uint32_t attempts;
    int64_t created_ms, next_attempt_ms, first_attempt_ms, dead_ms;
    int32_t last_status;
    codec_str_t event_id, event_type, subscriber, last_error;
    uint32_t nhistory;      /* <= STORE_MAX_HISTORY */
    const uint8_t *history; /* nhistory validated entries, the end of the record */
    size_t history_len;     /* their bytes */
} codec_delivery_view_t;

/* d->id is not encoded. -EINVAL when a field does not fit its layout (nhistory over
 * STORE_MAX_HISTORY, a state outside store_state_t, a string over 4 GiB). */
int codec_encode_delivery(core_buf_t *b, const store_delivery_t *d);
int codec_delivery_view(const void *p, size_t n, codec_delivery_view_t *v);
/* Fills out (id left 0) with malloc'd copies; free with store_delivery_clear. */
int codec_decode_delivery(const void *p, size_t n, store_delivery_t *out);
/* Writes the record of v after one more attempt a, straight from v's bytes (no decoding
 * into allocations: this is the cost of every delivery outcome): state and
 * next_attempt_ms as given, attempts + 1, last_status a->status, last_error the first
 * error_len bytes of a->error, first_attempt_ms a->at_ms when it was 0, and a appended to
 * the history with that error (the oldest entry dropped beyond STORE_MAX_HISTORY); every
 * other field as in v. v must not point into b. -EINVAL as for codec_encode_delivery. */
int codec_encode_delivery_attempt(core_buf_t *b, const codec_delivery_view_t *v,
                                  store_state_t state, int64_t next_attempt_ms,
                                  const store_attempt_t *a, size_t error_len);

/* ---- per-subscriber counters ---- */

int codec_encode_counters(core_buf_t *b, const store_counters_t *c);
int codec_decode_counters(const void *p, size_t n, store_counters_t *out);

#endif
