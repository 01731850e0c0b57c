/* syntax.c -- the value syntaxes of the config: host:port, URLs, header names and values,
 * tokens, filter paths, names. Pure functions over strings; character classes without
 * <ctype.h>, so the config does not depend on the locale. */
#include "config/syntax.h"
#include "config/config.h"
#include "core/xalloc.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

bool syntax_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool syntax_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (!syntax_alnum((unsigned char)s[i]) && (!s[i] || !strchr(extra, s[i]))) return false;
    return true;
}

/* An address of family af (AF_INET or AF_INET6) in the n bytes at s. */
static bool valid_ip(int af, const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a; /* big enough for either family */
    if (n >= (af == AF_INET ? INET_ADDRSTRLEN : INET6_ADDRSTRLEN)) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(af, buf, &a) == 1;
}

/* A DNS name (dot-separated labels of [A-Za-z0-9_-], 1..63 each) or, when it looks
 * numeric, a dotted-quad IPv4 address. */
static bool valid_hostname(const char *s, size_t n)
{
    if (n == 0 || n > 253) return false;
    size_t numeric = 0;
    while (numeric < n && ((s[numeric] >= '0' && s[numeric] <= '9') || s[numeric] == '.'))
        numeric++;
    if (numeric == n) return valid_ip(AF_INET, s, n);
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (syntax_alnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
            if (++label > 63) return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

/* 1..65535 in decimal, nothing else. */
static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5 || strspn(s, "0123456789") < n) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v < 1 || v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

const char *syntax_listen(const char *s, char **host, uint16_t *port)
{
    const char *colon, *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return "expected host:port";
        h = s + 1;
        hlen = (size_t)(close - h);
        if (!valid_ip(AF_INET6, h, hlen)) return "expected host:port";
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return "expected host:port";
        hlen = (size_t)(colon - s);
        if (!valid_hostname(s, hlen)) return "expected host:port";
    }
    const char *ps = colon + 1;
    if (*ps == '\0' || strspn(ps, "0123456789") != strlen(ps)) return "expected host:port";
    if (!parse_port(ps, strlen(ps), port)) return "port must be 1..65535";
    *host = xmemdup0(h, hlen);
    return NULL;
}

const char *syntax_url(const char *u)
{
    size_t skip;
    if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else
        return "expected an http:// or https:// URL";
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "expected an http:// or https:// URL without spaces or control characters";
    const char *a = u + skip;
    size_t alen = strcspn(a, "/?#");
    const char *at = memrchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *end = a + alen, *hend;
    if (alen == 0) return "URL has no host";
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close || !valid_ip(AF_INET6, a + 1, (size_t)(close - a - 1)))
            return "URL has an invalid host";
        hend = close + 1;
    } else {
        hend = memchr(a, ':', alen);
        if (!hend) hend = end;
        if (hend == a) return "URL has no host";
        if (!syntax_chars(a, (size_t)(hend - a), ".-_~")) return "URL has an invalid host";
    }
    uint16_t port;
    if (hend < end && (*hend != ':' || !parse_port(hend + 1, (size_t)(end - hend - 1), &port)))
        return "URL has an invalid port";
    return NULL;
}

bool cfg_name_valid(const char *s, size_t n)
{
    return n >= 1 && n <= 64 && syntax_chars(s, n, "_.-");
}

bool cfg_event_type_valid(const char *s, size_t n)
{
    return n >= 1 && n <= CFG_EVENT_TYPE_MAX && syntax_chars(s, n, "_.:-");
}

bool syntax_header_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 256 && syntax_chars(s, n, "!#$%&'*+-.^_`|~");
}

bool syntax_header_reserved(const char *s)
{
    static const char *const reserved[] = {
        "content-type",   "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature",
        "content-length", "host",       "expect",     "transfer-encoding", "connection",
    };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(s, reserved[i]) == 0) return true;
    return false;
}

bool syntax_header_value(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (((unsigned char)*s < ' ' && *s != '\t') || *s == 0x7f) return false;
    return true;
}

bool syntax_token(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) return false;
    return true;
}

bool syntax_filter_path(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[0] != '.' && s[n - 1] != '.' && !strstr(s, "..");
}
