/* test_framing.c -- RFC 9112 section 6.3: ambiguous request framing is refused. */
#include <string.h>

#include "check.h"
#include "gateway/framing.h"

static int check_head(const char *head)
{
    const char *why = NULL;
    int rc = framing_check(head, strlen(head), &why);
    if (rc != 0) printf("# %s\n", why);
    return rc;
}

int main(void)
{
    /* Unambiguous. */
    CHECK(check_head("POST /events HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello") == 0);
    CHECK(check_head("POST /events HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello") == 0);
    CHECK(check_head("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n") == 0);
    CHECK(check_head("POST / HTTP/1.1\r\ncontent-length: 5\r\nContent-Length: 5\r\n\r\n") == 0);
    CHECK(check_head("POST / HTTP/1.1\nContent-Length:7\n\n") == 0);
    /* Headers that only look alike. */
    CHECK(check_head("POST / HTTP/1.1\r\nx-content-length: 9\r\ncontent-length: 5\r\n\r\n") == 0);
    CHECK(check_head("POST / HTTP/1.1\r\ncontent-length-x: 9\r\ncontent-length: 5\r\n\r\n") == 0);
    /* Bytes after the head (a body) are not headers. */
    CHECK(check_head("POST / HTTP/1.1\r\ncontent-length: 21\r\n\r\ntransfer-encoding: x\r\n") == 0);

    /* Ambiguous. */
    CHECK(check_head("POST /events HTTP/1.1\r\ncontent-length: 4\r\n"
                     "transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n") == -1);
    CHECK(check_head("POST /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Length: 4\r\n\r\n") == -1);
    CHECK(check_head("POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n") == -1);
    CHECK(check_head("POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n"
                     "transfer-encoding: chunked\r\n\r\n") == -1);
    CHECK(check_head("POST / HTTP/1.1\r\ncontent-length: 5\r\n 6\r\n\r\n") == -1);
    const char *why = NULL;
    const char both[] = "POST / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n";
    CHECK(framing_check(both, sizeof(both) - 1, &why) == -1);
    CHECK_STR(why, "both Content-Length and Transfer-Encoding");
    return check_done();
}
