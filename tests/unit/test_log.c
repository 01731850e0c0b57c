/* test_log.c -- log lines: the text and JSON layouts, the timestamp format, audit fields,
 * escaping of quotes, control characters and invalid UTF-8, and the cut of long messages.
 * Lines are captured by pointing stderr at a temporary file. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"

static FILE *capture;
static int saved_stderr;

/* Points fd 2 at a fresh temporary file. */
static void capture_start(void)
{
    capture = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
}

/* Restores fd 2 and returns everything written since capture_start (caller frees). */
static char *capture_end(void)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    off_t n = lseek(fileno(capture), 0, SEEK_END); /* shared offset: the end of what was written */
    if (n < 0) n = 0;
    char *s = calloc(1, (size_t)n + 1);
    if (pread(fileno(capture), s, (size_t)n, 0) != n) s[0] = '\0';
    fclose(capture);
    return s;
}

static int matches(const char *s, const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

#define TS "[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z"

static void test_text(void)
{
    log_set_format_json(false);
    capture_start();
    log_line(LOG_INFO, "listening on %s:%d", "127.0.0.1", 8080);
    char *s = capture_end();
    CHECK(matches(s, "^" TS " info hookgate: listening on 127\\.0\\.0\\.1:8080\n$"));
    free(s);

    capture_start();
    log_line(LOG_DEBUG, "d");
    log_line(LOG_WARN, "w");
    log_line(LOG_ERROR, "e");
    s = capture_end();
    CHECK(matches(s, "^" TS " debug hookgate: d\n" TS " warn hookgate: w\n" TS
                     " error hookgate: e\n$"));
    free(s);

    capture_start();
    log_audit("10.0.0.7", "redrive", "id=%s", "abc");
    s = capture_end();
    CHECK(
        matches(s, "^" TS " info hookgate: audit client=10\\.0\\.0\\.7 action=redrive id=abc\n$"));
    free(s);
}

/* A message cannot start a second line, and invalid UTF-8 shows as \xHH. */
static void test_text_escaping(void)
{
    log_set_format_json(false);
    capture_start();
    log_line(LOG_WARN, "type %s", "a\nb\r\tc\x01 \"q\" \\ caf\xc3\xa9 \xff");
    char *s = capture_end();
    const char *nl = strchr(s, '\n');
    CHECK(nl != NULL && nl[1] == '\0'); /* exactly one line */
    CHECK(strstr(s, "type a\\nb\\r\\tc\\x01 \"q\" \\ caf\xc3\xa9 \\xff\n") != NULL);
    free(s);
}

static void test_json(void)
{
    log_set_format_json(true);
    capture_start();
    log_line(LOG_ERROR, "store: %s", "disk full");
    char *s = capture_end();
    CHECK(
        matches(s, "^\\{\"ts\":\"" TS "\",\"level\":\"error\",\"msg\":\"store: disk full\"\\}\n$"));
    free(s);

    capture_start();
    log_audit("::1", "delete", "count=%d", 3);
    s = capture_end();
    CHECK(matches(s, "^\\{\"ts\":\"" TS "\",\"level\":\"info\",\"audit\":true,\"client\":\"::1\","
                     "\"action\":\"delete\",\"msg\":\"count=3\"\\}\n$"));
    free(s);
    log_set_format_json(false);
}

/* Quotes, backslashes and control characters are JSON escapes; valid UTF-8 passes as is;
 * an invalid byte becomes U+FFFD so the line stays valid JSON. */
static void test_json_escaping(void)
{
    log_set_format_json(true);
    capture_start();
    log_line(LOG_INFO, "%s", "\"q\" \\ a\nb\r\tc\x01\x1f caf\xc3\xa9 \xff \xed\xa0\x80 </x>");
    log_audit("1.2.3.4\"", "x\ny", "m");
    char *s = capture_end();
    CHECK(strstr(s, "\"msg\":\"\\\"q\\\" \\\\ a\\nb\\r\\tc\\u0001\\u001f caf\xc3\xa9 \\ufffd "
                    "\\ufffd\\ufffd\\ufffd </x>\"}\n") != NULL);
    CHECK(strstr(s, "\"client\":\"1.2.3.4\\\"\",\"action\":\"x\\ny\"") != NULL);
    char *first_nl = strchr(s, '\n');
    CHECK(first_nl != NULL && strchr(first_nl + 1, '\n') == s + strlen(s) - 1); /* two lines */
    free(s);
    log_set_format_json(false);
}

/* A message over LOG_MSG_MAX is cut, and the line still ends properly. */
static void test_long(void)
{
    size_t n = LOG_MSG_MAX * 2;
    char *big = malloc(n + 1);
    memset(big, '"', n);
    big[n] = '\0';
    log_set_format_json(true);
    capture_start();
    log_line(LOG_INFO, "%s", big);
    char *s = capture_end();
    size_t len = strlen(s);
    CHECK(len > 2 * LOG_MSG_MAX && len < 2 * LOG_MSG_MAX + 100); /* each '"' is two bytes */
    CHECK(len >= 3 && strcmp(s + len - 3, "\"}\n") == 0);
    free(s);
    free(big);
    log_set_format_json(false);
}

int main(void)
{
    test_text();
    test_text_escaping();
    test_json();
    test_json_escaping();
    test_long();
    return check_done();
}
