/* tls.c -- the listener's TLS context. */
#include "gateway/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The file must open for reading as this user: says why not, before OpenSSL's less
 * precise errors would. */
static int check_readable(const char *key, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "tls.%s: %s: cannot read: %s", key, path, strerror(e));
        return -e;
    }
    close(fd);
    return 0;
}

/* True when the last failure was a private key that is not the certificate's. */
static bool key_mismatch(void)
{
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

/* OpenSSL's reason for the last failure, with its queue emptied. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return why ? why : "unknown error";
}

int tls_context_new(const cfg_t *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->tls_cert_file) return 0;
    int rc;
    if ((rc = check_readable("cert_file", cfg->tls_cert_file, err, errlen)) != 0 ||
        (rc = check_readable("key_file", cfg->tls_key_file, err, errlen)) != 0)
        return rc;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "tls: cannot create a TLS context: %s", ssl_reason());
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
        snprintf(err, errlen, "tls.cert_file: %s: not a usable PEM certificate: %s",
                 cfg->tls_cert_file, ssl_reason());
    } else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 &&
               !key_mismatch()) {
        snprintf(err, errlen, "tls.key_file: %s: not a usable PEM private key: %s",
                 cfg->tls_key_file, ssl_reason());
    } else if (key_mismatch() || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls.key_file: %s: does not match the certificate in %s: %s",
                 cfg->tls_key_file, cfg->tls_cert_file, ssl_reason());
    } else {
        *out = ctx;
        return 0;
    }
    SSL_CTX_free(ctx);
    return -EINVAL;
}
