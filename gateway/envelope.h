/* envelope.h -- validation of ingest bodies and completion of envelopes (id, occurred_at). Pure. */
#ifndef HOOKGATE_ENVELOPE_H
#define HOOKGATE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/json.h"

#define ENVELOPE_MAX_BATCH 1000
#define ENVELOPE_MAX_DEPTH 64
#define ENVELOPE_ID_MAX 200
#define ENVELOPE_TYPE_MAX CFG_EVENT_TYPE_MAX

/* One validated envelope inside a parsed body. */
typedef struct {
    int tok;          /* its object token in the document */
    const char *type; /* raw bytes inside the document (charset excludes escapes) */
    size_t type_len;
    /* its own id, or its Idempotency-Key (envelope_apply_key); NULL when it has neither
     * (then one is generated) */
    const char *id;
    size_t id_len;
    bool id_in_body; /* id is the envelope's own, not one to insert into its body */
    bool has_occurred_at;
} envelope_t;

/* Validates a parsed body: one envelope object, or an array of 1..ENVELOPE_MAX_BATCH of
 * them. Fills out[] (room for ENVELOPE_MAX_BATCH), sets *n and *is_batch and returns 0;
 * on the first problem returns -EINVAL with a detail for the client in err, naming the
 * batch index for batches ("[3].type: ..."). */
int envelope_validate(const json_doc_t *doc, envelope_t *out, size_t *n, bool *is_batch,
                      char *err, size_t errlen);

/* Applies a POST's Idempotency-Key header (key/key_len, already checked with
 * envelope_id_valid; key NULL when there is none) to the n envelopes that
 * envelope_validate filled. A single envelope without an id takes the key as its id
 * (envs[0].id then points at key, which must outlive envs); a single envelope with an id
 * must have the key as that id, else -EINVAL with a detail naming both in err; for a
 * batch the key only routes and nothing changes. Returns 0 or -EINVAL. */
int envelope_apply_key(const char *key, size_t key_len, envelope_t *envs, size_t n, bool is_batch,
                       char *err, size_t errlen);

/* True when s is [A-Za-z0-9_:-]{1,200} (ids) / [A-Za-z0-9_.:-]{1,200} (types; the same
 * check as cfg_event_type_valid). */
bool envelope_id_valid(const char *s, size_t n);
bool envelope_type_valid(const char *s, size_t n);
/* Generates a UUID version 7 (time-ordered) string from unix_ms and 10 random bytes into
 * out (37 bytes with the NUL). */
void envelope_uuid7(int64_t unix_ms, const unsigned char random[10], char out[37]);

/* The stored body of an envelope: its bytes exactly when it carries both id and
 * occurred_at, otherwise the same object with the missing fields inserted first
 * ({"id":"...","occurred_at":"...", ...rest}). Writes a malloc'd buffer to *out. */
void envelope_complete(const char *raw, size_t raw_len, const char *gen_id,
                       const char *gen_occurred_at, char **out, size_t *out_len);

#endif
