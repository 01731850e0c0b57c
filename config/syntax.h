/* syntax.h -- the value syntaxes of the config, as pure predicates over strings (no
 * <ctype.h>: the config must not depend on the locale). config.c's sections call them and
 * turn a false or a problem string into an error line naming the JSON path. */
#ifndef HOOKGATE_CONFIG_SYNTAX_H
#define HOOKGATE_CONFIG_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ASCII letter or digit. */
bool syntax_alnum(unsigned char ch);
/* True when each of the n bytes is alphanumeric or in extra (a NUL byte never is). */
bool syntax_chars(const char *s, size_t n, const char *extra);

/* "host:port" with an IPv4 address, a host name or a bracketed IPv6 address, port
 * 1..65535. Returns NULL and sets *host (allocated) and *port, or the problem. */
const char *syntax_listen(const char *s, char **host, uint16_t *port);
/* http(s)://[userinfo@]host[:port][/path][?query][#fragment]; NULL or the problem. */
const char *syntax_url(const char *u);

/* An RFC 9110 token of 1..256 bytes. */
bool syntax_header_name(const char *s);
/* A header hookgate sets itself (or curl manages), which a subscriber cannot override. */
bool syntax_header_reserved(const char *s);
/* A non-empty field value: visible ASCII, spaces and tabs, no CR, LF or other controls. */
bool syntax_header_value(const char *s);
/* A bearer token: visible ASCII without spaces. */
bool syntax_token(const char *s);
/* A filter's dotted payload path with non-empty segments. */
bool syntax_filter_path(const char *s);

#endif
