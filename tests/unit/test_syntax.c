/* test_syntax.c -- the config's value syntaxes on their own: host:port, URLs, header names
 * and values, tokens, filter paths and character classes, with the edge of each. */
#include "config/syntax.h"

#include <stdlib.h>

#include "tests/unit/check.h"

static void check_listen(const char *s, const char *host, uint16_t port)
{
    char *h = NULL;
    uint16_t p = 0;
    const char *why = syntax_listen(s, &h, &p);
    CHECK(why == NULL);
    if (why) printf("# %s: %s\n", s, why);
    CHECK_STR(h, host);
    CHECK(p == port);
    free(h);
}

static void check_listen_bad(const char *s, const char *problem)
{
    char *h = NULL;
    uint16_t p = 0;
    CHECK_STR(syntax_listen(s, &h, &p), problem);
    CHECK(h == NULL);
}

static void test_listen(void)
{
    check_listen("127.0.0.1:8080", "127.0.0.1", 8080);
    check_listen("[::1]:1", "::1", 1);
    check_listen("gateway.internal:65535", "gateway.internal", 65535);
    check_listen_bad("127.0.0.1", "expected host:port");
    check_listen_bad("[::1]8080", "expected host:port");
    check_listen_bad("[zz]:80", "expected host:port");
    check_listen_bad("300.1.1.1:80", "expected host:port"); /* numeric, so an IPv4 */
    check_listen_bad("host:0", "port must be 1..65535");
    check_listen_bad("host:65536", "port must be 1..65535");
    check_listen_bad("host:+80", "expected host:port");
    check_listen_bad("bad_label-"
                     "0123456789012345678901234567890123456789012345678901234:80",
                     "expected host:port"); /* a 64-byte label */
}

static void test_url(void)
{
    CHECK(syntax_url("http://h") == NULL);
    CHECK(syntax_url("HTTPS://user:pw@crm.example.com:8443/hooks?x=1#f") == NULL);
    CHECK(syntax_url("http://[::1]:9001/x") == NULL);
    CHECK_STR(syntax_url("ftp://h/"), "expected an http:// or https:// URL");
    CHECK_STR(syntax_url("http://h/a b"),
              "expected an http:// or https:// URL without spaces or control characters");
    CHECK_STR(syntax_url("http:///x"), "URL has no host");
    CHECK_STR(syntax_url("http://:80/x"), "URL has no host");
    CHECK_STR(syntax_url("http://[::1/x"), "URL has an invalid host");
    CHECK_STR(syntax_url("http://h*st/"), "URL has an invalid host");
    CHECK_STR(syntax_url("http://h:0/"), "URL has an invalid port");
    CHECK_STR(syntax_url("http://h:http/"), "URL has an invalid port");
}

static void test_headers(void)
{
    CHECK(syntax_header_name("X-Api-Key"));
    CHECK(syntax_header_name("a!#$%&'*+-.^_`|~"));
    CHECK(!syntax_header_name(""));
    CHECK(!syntax_header_name("X Key"));
    CHECK(!syntax_header_name("X:Key"));
    CHECK(syntax_header_reserved("Webhook-Signature"));
    CHECK(syntax_header_reserved("HOST"));
    CHECK(!syntax_header_reserved("X-Webhook-Signature"));
    CHECK(syntax_header_value("Bearer abc\tdef"));
    CHECK(!syntax_header_value(""));
    CHECK(!syntax_header_value("a\r\nX-Injected: 1"));
    CHECK(!syntax_header_value("a\x7f"));
}

static void test_tokens_paths_chars(void)
{
    CHECK(syntax_token("s3cr3t-~!"));
    CHECK(syntax_token("")); /* an empty token means "none" to the config */
    CHECK(!syntax_token("two words"));
    CHECK(!syntax_token("caf\xc3\xa9"));
    CHECK(syntax_filter_path("payload.plan"));
    CHECK(!syntax_filter_path(""));
    CHECK(!syntax_filter_path(".plan"));
    CHECK(!syntax_filter_path("plan."));
    CHECK(!syntax_filter_path("a..b"));
    CHECK(syntax_alnum('z') && syntax_alnum('0') && !syntax_alnum('_') && !syntax_alnum(0xe9));
    CHECK(syntax_chars("a_b-1", 5, "_-"));
    CHECK(!syntax_chars("a b", 3, "_-"));
    CHECK(!syntax_chars("a\0b", 3, "_-")); /* NUL is never one of extra */
}

int main(void)
{
    test_listen();
    test_url();
    test_headers();
    test_tokens_paths_chars();
    return check_done();
}
