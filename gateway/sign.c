/* sign.c -- Standard Webhooks signatures: HMAC-SHA256 over "<id>.<timestamp>.<body>". */
#include "gateway/sign.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

int sign_key_decode(const char *secret, sign_key_t *out)
{
    return cfg_secret_decode(secret, out->key, &out->len);
}

/* The HMAC algorithm object is fetched once per process; fetching is costly and the
 * object is immutable, so all threads share it. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void fetch_hmac(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!hmac_alg) abort();
}

size_t sign_compute(const sign_key_t *key, const char *msg_id, size_t msg_id_len, int64_t timestamp,
                    const char *body, size_t body_len, char *out)
{
    pthread_once(&hmac_once, fetch_hmac);
    char ts[24];
    int tslen = snprintf(ts, sizeof(ts), ".%" PRId64 ".", timestamp);

    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx) abort();
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    unsigned char mac[32];
    size_t maclen = 0;
    if (!EVP_MAC_init(ctx, key->key, key->len, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)msg_id, msg_id_len) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tslen) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, body_len) ||
        !EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) || maclen != sizeof(mac))
        abort(); /* only fails on allocation failure or a broken OpenSSL install */
    EVP_MAC_CTX_free(ctx);

    memcpy(out, "v1,", 3);
    int n = EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    return 3 + (size_t)n;
}

size_t sign_header(const sign_key_t *keys, size_t nkeys, const char *msg_id, size_t msg_id_len,
                   int64_t timestamp, const char *body, size_t body_len, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < nkeys; i++) {
        if (i > 0) out[len++] = ' ';
        len += sign_compute(&keys[i], msg_id, msg_id_len, timestamp, body, body_len, out + len);
    }
    return len;
}
