/* sign.h -- Standard Webhooks signatures (HMAC-SHA256): pure, no I/O. */
#ifndef HOOKGATE_SIGN_H
#define HOOKGATE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "config/secret.h"

/* Decoded signing key of a "whsec_<base64>" secret. */
typedef struct {
    unsigned char key[CFG_SECRET_MAX];
    size_t len;
} sign_key_t;

/* Decodes secret with cfg_secret_decode, the decoder config validation uses, so every
 * secret of a validated config decodes. Returns 0, or -EINVAL (out untouched) for a
 * secret that config validation rejects. Pure; any thread. */
int sign_key_decode(const char *secret, sign_key_t *out);

/* Writes "v1,<base64 HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>")>" to out
 * (NUL-terminated) and returns its length; out needs SIGN_MAX_LEN bytes. */
#define SIGN_MAX_LEN 48
size_t sign_compute(const sign_key_t *key, const char *msg_id, size_t msg_id_len,
                    int64_t timestamp, const char *body, size_t body_len, char *out);

/* Writes the webhook-signature header value for all keys (space-separated signatures,
 * one per key, in order) to out and returns its length; out needs
 * nkeys * (SIGN_MAX_LEN + 1) bytes. */
size_t sign_header(const sign_key_t *keys, size_t nkeys, const char *msg_id, size_t msg_id_len,
                   int64_t timestamp, const char *body, size_t body_len, char *out);

#endif
