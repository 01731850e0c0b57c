/* secret.c -- decodes Standard Webhooks secrets ("whsec_" + base64) for config and signer. */
#include "config/secret.h"

#include <errno.h>
#include <string.h>

#define PREFIX "whsec_"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* The 6-bit value of a standard base64 character, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int cfg_secret_decode(const char *secret, unsigned char *key, size_t *keylen)
{
    if (strncmp(secret, PREFIX, PREFIX_LEN) != 0) return -EINVAL;
    const char *b = secret + PREFIX_LEN;
    size_t n = strlen(b);
    if (n == 0 || n % 4 != 0) return -EINVAL;
    size_t pad = b[n - 1] != '=' ? 0 : b[n - 2] != '=' ? 1 : 2;
    size_t out = n / 4 * 3 - pad;
    if (out > CFG_SECRET_MAX) return -EINVAL;
    /* Checked in full before writing, so a bad secret leaves key as it was. */
    for (size_t i = 0; i < n - pad; i++)
        if (b64_value(b[i]) < 0) return -EINVAL;
    /* Bits below the last whole byte (non-canonical encodings) are ignored, as common
     * base64 decoders do, so secrets issued by other tools keep working. */
    size_t w = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n - pad; i++) {
        acc = (acc << 6) | (unsigned)b64_value(b[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            key[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *keylen = w;
    return 0;
}
