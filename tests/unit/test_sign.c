/* test_sign.c -- Standard Webhooks signing against known vectors (computed independently). */
#include "gateway/sign.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#include "tests/unit/check.h"

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* Bytes 0..31, and the signatures it gives (Python hmac/hashlib). */
#define SECRET2 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SPEC_SIG2 "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI="
/* Bytes 0..127: the largest key accepted. */
#define SECRET128                                                                                  \
    "whsec_"                                                                                       \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNE" \
    "RUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8="

/* Bytes 0..128: one too many. */
#define SECRET129                                                                                  \
    "whsec_"                                                                                       \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNE" \
    "RUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+A"

static void test_decode(void)
{
    sign_key_t k;
    CHECK(sign_key_decode(SPEC_SECRET, &k) == 0);
    static const unsigned char want[] = {0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a,
                                         0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c,
                                         0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};
    CHECK(k.len == sizeof(want) && memcmp(k.key, want, sizeof(want)) == 0);

    /* Padding is required and exact. */
    CHECK(sign_key_decode("whsec_AAECAw==", &k) == 0 && k.len == 4 && k.key[3] == 3);
    CHECK(sign_key_decode("whsec_AAECAwQ=", &k) == 0 && k.len == 5 && k.key[4] == 4);
    CHECK(sign_key_decode("whsec_AA==", &k) == 0 && k.len == 1 && k.key[0] == 0);
    CHECK(sign_key_decode("whsec_+/+/", &k) == 0 && k.len == 3 && k.key[0] == 0xfb &&
          k.key[1] == 0xff && k.key[2] == 0xbf);
    /* Unused low bits of the last character are ignored, as other decoders do. */
    CHECK(sign_key_decode("whsec_AB==", &k) == 0 && k.len == 1 && k.key[0] == 0);

    CHECK(sign_key_decode(SECRET128, &k) == 0 && k.len == 128 && k.key[127] == 127);
}

static void test_decode_invalid(void)
{
    const char *bad[] = {
        "",
        "whsec_",
        "whsec_=",
        "whsec_====",
        "whsec_A",                          /* 6 bits: not a whole byte */
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* no prefix: config refuses it, so must signing */
        "AA==",
        "WHSEC_AA==",
        "whsec_AAECAw", /* unpadded: likewise */
        "whsec_AAECAwQ",
        "whsec_A===",
        "whsec_AAECA",     /* 5 chars: length 1 mod 4 */
        "whsec_AAECAw=",   /* partial padding */
        "whsec_AAECAw===", /* too much padding */
        "whsec_AA=A",      /* padding inside */
        "whsec_AA==AA==",  /* two blocks each padded */
        "whsec_AAEC AwQ=", /* whitespace inside */
        " whsec_AAECAwQ=", /* leading whitespace */
        "whsec_AAECAwQ= ", /* trailing whitespace */
        "whsec_AAEC-wQ=",  /* URL-safe alphabet is not Standard Webhooks' */
        "whsec_AAEC_wQ=",
        "whsec_AAEC!wQ=",
        "whsec_AAECAwQ=\n",
        SECRET129,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sign_key_t k;
        int rc = sign_key_decode(bad[i], &k);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL) printf("#   accepted \"%s\"\n", bad[i]);
    }
}

/* True when a config whose one subscriber has this secret is valid. */
static bool config_accepts(const char *secret)
{
    char text[512];
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:1\", \"data_dir\": \"d\", \"subscribers\": [{\"name\": "
             "\"s\", \"url\": \"http://h\", \"events\": [\"*\"], \"secret\": \"%s\"}]}",
             secret);
    cfg_t *cfg;
    int rc = cfg_parse(text, strlen(text), &cfg, NULL);
    cfg_free(cfg);
    return rc == 0;
}

/* A secret that passes config validation always decodes for signing and one that fails
 * never does: an unsigned delivery can only come from a config without secrets. Checked
 * over every string of up to 5 characters from an alphabet of the interesting ones, and
 * over lengths around the 128-byte limit. */
static void test_config_agrees(void)
{
    static const char alphabet[] = "A/+=-_ !";
    const size_t na = sizeof(alphabet) - 1;
    size_t disagree = 0, accepted = 0;
    char secret[256];
    for (size_t len = 0; len <= 5; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= na;
        for (size_t x = 0; x < total; x++) {
            size_t v = x;
            strcpy(secret, "whsec_");
            for (size_t i = 0; i < len; i++, v /= na)
                secret[6 + i] = alphabet[v % na];
            secret[6 + len] = '\0';
            sign_key_t k;
            bool signs = sign_key_decode(secret, &k) == 0, valid = config_accepts(secret);
            accepted += signs;
            if (signs != valid && disagree++ < 5)
                printf("#   \"%s\": config %d, signer %d\n", secret, valid, signs);
        }
    }
    for (size_t len = 164; len <= 180; len++) {
        for (size_t pad = 0; pad <= 2; pad++) {
            memcpy(secret, "whsec_", 6);
            memset(secret + 6, 'A', len);
            memset(secret + 6 + len - pad, '=', pad);
            secret[6 + len] = '\0';
            sign_key_t k;
            bool signs = sign_key_decode(secret, &k) == 0, valid = config_accepts(secret);
            accepted += signs;
            if (signs != valid && disagree++ < 5)
                printf("#   %zu characters, %zu padding: config %d, signer %d\n", len, pad, valid,
                       signs);
        }
    }
    CHECK(disagree == 0);
    CHECK(accepted > 100); /* the alphabet does produce valid secrets */
    CHECK(config_accepts(SPEC_SECRET) && config_accepts(SECRET2) && config_accepts(SECRET128));
    CHECK(!config_accepts(SECRET129));
}

static void test_vectors(void)
{
    sign_key_t k, k2;
    CHECK(sign_key_decode(SPEC_SECRET, &k) == 0);
    CHECK(sign_key_decode(SECRET2, &k2) == 0 && k2.len == 32);
    char out[SIGN_MAX_LEN];
    size_t n =
        sign_compute(&k, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY, strlen(SPEC_BODY), out);
    CHECK_STR(out, SPEC_SIG);
    CHECK(n == strlen(SPEC_SIG) && n < SIGN_MAX_LEN);

    n = sign_compute(&k2, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY, strlen(SPEC_BODY), out);
    CHECK_STR(out, SPEC_SIG2);

    /* The body is taken by length (NUL bytes included); negative and zero timestamps. */
    sign_compute(&k2, "e1", 2, 0, "a\0b", 3, out);
    CHECK_STR(out, "v1,xw2UbnJ7xHATV6BO8BbL5uW8AXpBeOJTUzsyC+rnaJ8=");
    sign_compute(&k2, "e1", 2, -5, "", 0, out);
    CHECK_STR(out, "v1,7l6U3jdAVXBUyPN2zgSaNd+s5zjeCtg9lvOF99J88wQ=");
    /* Lengths, not NULs, bound the id too. */
    sign_compute(&k2, "e1XYZ", 2, -5, "", 0, out);
    CHECK_STR(out, "v1,7l6U3jdAVXBUyPN2zgSaNd+s5zjeCtg9lvOF99J88wQ=");

    sign_key_t k128;
    CHECK(sign_key_decode(SECRET128, &k128) == 0);
    sign_compute(&k128, "x", 1, 1, "{}", 2, out);
    CHECK_STR(out, "v1,N9mZamG5zevtI3xTFUxTv+9mkiH0jmGIQhWiBP4jWbY=");

    /* A different timestamp signs differently. */
    sign_compute(&k, SPEC_ID, strlen(SPEC_ID), 1614265331, SPEC_BODY, strlen(SPEC_BODY), out);
    CHECK(strcmp(out, SPEC_SIG) != 0);
}

static void test_header(void)
{
    sign_key_t keys[3];
    CHECK(sign_key_decode(SPEC_SECRET, &keys[0]) == 0);
    CHECK(sign_key_decode(SECRET2, &keys[1]) == 0);
    CHECK(sign_key_decode(SPEC_SECRET, &keys[2]) == 0);

    char out[3 * (SIGN_MAX_LEN + 1)];
    size_t n = sign_header(keys, 1, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY,
                           strlen(SPEC_BODY), out);
    CHECK_STR(out, SPEC_SIG);
    CHECK(n == strlen(SPEC_SIG));

    /* Rotation: one signature per key, space-separated, in key order. */
    n = sign_header(keys, 2, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY, strlen(SPEC_BODY),
                    out);
    CHECK_STR(out, SPEC_SIG " " SPEC_SIG2);
    CHECK(n == strlen(out));
    n = sign_header(keys + 1, 2, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY, strlen(SPEC_BODY),
                    out);
    CHECK_STR(out, SPEC_SIG2 " " SPEC_SIG);
    n = sign_header(keys, 3, SPEC_ID, strlen(SPEC_ID), 1614265330, SPEC_BODY, strlen(SPEC_BODY),
                    out);
    CHECK_STR(out, SPEC_SIG " " SPEC_SIG2 " " SPEC_SIG);
    CHECK(n == strlen(out) && n < sizeof(out));

    CHECK(sign_header(keys, 0, SPEC_ID, strlen(SPEC_ID), 1, "", 0, out) == 0);
}

int main(void)
{
    test_decode();
    test_decode_invalid();
    test_config_agrees();
    test_vectors();
    test_header();
    return check_done();
}
