/* tls.h -- the listener's TLS context (OpenSSL, used by h2o_accept), built from the
 * config's "tls" object. */
#ifndef HOOKGATE_TLS_H
#define HOOKGATE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config/config.h"

/* Builds the server context from cfg->tls_cert_file (a PEM certificate chain, leaf first)
 * and cfg->tls_key_file (its PEM private key), TLS 1.2 and later. Returns 0 and *out
 * (NULL when cfg has no "tls": plain HTTP), owned by the caller (SSL_CTX_free); or a
 * negative errno with *out NULL and a reason in err that names the key and the path
 * ("tls.key_file: /etc/k.pem: cannot read: Permission denied"). Any thread. */
int tls_context_new(const cfg_t *cfg, SSL_CTX **out, char *err, size_t errlen);

#endif
