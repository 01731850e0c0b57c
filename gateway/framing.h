/* framing.h -- the RFC 9112 section 6.3 checks of an HTTP/1 request head that h2o 2.2
 * does not make. A request with both Content-Length and Transfer-Encoding, with more than
 * one Transfer-Encoding, or with Content-Length values that differ is framed ambiguously:
 * a proxy in front may read its body differently than we do, and smuggle a request
 * past it. Pure: no I/O. */
#ifndef HOOKGATE_FRAMING_H
#define HOOKGATE_FRAMING_H

#include <stddef.h>

/* Checks the raw head in head[0..len) (request line, header lines, up to the empty line;
 * bytes after it are ignored). Returns 0 when the framing is unambiguous, or -1 with *why
 * set to a static sentence. */
int framing_check(const char *head, size_t len, const char **why);

#endif
