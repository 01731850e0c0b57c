/* framing.c -- RFC 9112 section 6.3 checks of an HTTP/1 request head. */
#include "gateway/framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* True when line[0..n) is header `name` (case-insensitive); *value is its trimmed value. */
static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0) return false;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && (is_ows(end[-1]) || end[-1] == '\r'))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return true;
}

int framing_check(const char *head, size_t len, const char **why)
{
    const char *p = memchr(head, '\n', len); /* skip the request line */
    const char *end = head + len;
    const char *cl = NULL;
    size_t cl_len = 0, ncl = 0, nte = 0;
    bool last_was_framing = false;
    while (p && ++p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '\r')) break; /* the end of the head */
        const char *v;
        size_t vlen;
        if (is_ows(p[0])) {
            /* obs-fold: a continuation would change the framing header above it */
            if (last_was_framing) {
                *why = "a Content-Length or Transfer-Encoding header is folded over lines";
                return -1;
            }
        } else if (header_is(p, n, "content-length", &v, &vlen)) {
            if (ncl++ > 0 && (vlen != cl_len || memcmp(v, cl, vlen) != 0)) {
                *why = "Content-Length headers with different values";
                return -1;
            }
            cl = v;
            cl_len = vlen;
            last_was_framing = true;
        } else if (header_is(p, n, "transfer-encoding", &v, &vlen)) {
            nte++;
            last_was_framing = true;
        } else {
            last_was_framing = false;
        }
        p = nl;
    }
    if (nte > 0 && ncl > 0) {
        *why = "both Content-Length and Transfer-Encoding";
        return -1;
    }
    if (nte > 1) {
        *why = "more than one Transfer-Encoding header";
        return -1;
    }
    return 0;
}
