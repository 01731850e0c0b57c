/* secret.h -- the one decoder of Standard Webhooks secrets, shared by config and signing. */
#ifndef HOOKGATE_SECRET_H
#define HOOKGATE_SECRET_H

#include <stddef.h>

/* The most key bytes a secret may decode to. */
#define CFG_SECRET_MAX 128

/* Decodes "whsec_" followed by padded standard base64 (length a multiple of 4, '='
 * only as the last one or two characters) of 1 to CFG_SECRET_MAX bytes into key
 * (CFG_SECRET_MAX bytes of room) and sets *keylen. Returns 0, or -EINVAL with key
 * untouched when secret is anything else. Config validation and the signer both call
 * this, so a secret that passes --check always signs. Pure; any thread. */
int cfg_secret_decode(const char *secret, unsigned char *key, size_t *keylen);

#endif
