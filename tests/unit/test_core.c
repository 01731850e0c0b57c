/* test_core.c -- the shared core: the growable buffer (empty and zero-length cases,
 * reserve, growth across many appends, printf, cstr, reset) and the allocation helpers,
 * including the loud abort on out of memory. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/buf.h"
#include "core/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
/* ASan would report an impossible request itself; let malloc say NULL, as libc does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static void test_empty(void)
{
    core_buf_t b = {0};
    core_buf_put(&b, NULL, 0);
    core_buf_reserve(&b, 0);
    core_buf_printf(&b, "%s", "");
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0); /* nothing asked for, nothing allocated */
    char *s = core_buf_cstr(&b);
    CHECK(s != NULL && s == b.p && s[0] == '\0' && b.len == 0);
    core_buf_free(&b);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    core_buf_free(&b); /* twice is harmless */
    CHECK(b.p == NULL);
}

static void test_reserve(void)
{
    core_buf_t b = {0};
    core_buf_reserve(&b, 10);
    CHECK(b.p != NULL && b.len == 0 && b.cap >= 10);
    core_buf_put(&b, "abc", 3);
    core_buf_reserve(&b, 5000);
    CHECK(b.cap - b.len >= 5000);
    CHECK(b.len == 3 && memcmp(b.p, "abc", 3) == 0); /* contents survive the move */
    /* Reserved room is written without another move. */
    char *p = b.p;
    size_t cap = b.cap;
    memset(b.p + b.len, 'x', 5000);
    b.len += 5000;
    core_buf_reserve(&b, 0);
    CHECK(b.p == p && b.cap == cap && b.len == 5003);
    core_buf_reserve(&b, b.cap - b.len); /* exactly the room there is */
    CHECK(b.p == p && b.cap == cap);
    core_buf_free(&b);
}

/* 200,000 bytes one or a few at a time: every byte lands where it should, and the buffer
 * grows geometrically (a few dozen moves, not one per append). */
static void test_growth(void)
{
    core_buf_t b = {0};
    size_t moves = 0, n = 0;
    char *last = NULL;
    size_t last_cap = 0;
    for (size_t i = 0; n < 200000; i++) {
        if (i % 3 == 0) {
            core_buf_putc(&b, (char)(n % 251));
            n++;
        } else {
            char chunk[7];
            for (size_t k = 0; k < sizeof(chunk); k++)
                chunk[k] = (char)((n + k) % 251);
            core_buf_put(&b, chunk, sizeof(chunk));
            n += sizeof(chunk);
        }
        if (b.cap != last_cap || b.p != last) moves++;
        last = b.p;
        last_cap = b.cap;
    }
    CHECK(b.len == n);
    CHECK(b.cap >= b.len && b.cap < 2 * b.len);
    CHECK(moves <= 16);
    size_t bad = 0;
    for (size_t j = 0; j < b.len; j++)
        if ((unsigned char)b.p[j] != j % 251) bad++;
    CHECK(bad == 0);
    core_buf_free(&b);
}

static void test_binary(void)
{
    core_buf_t b = {0};
    const unsigned char bytes[] = {0x00, 0xff, 0x80, 0x00, 0x7f};
    core_buf_put(&b, bytes, sizeof(bytes));
    core_buf_putc(&b, '\0');
    CHECK(b.len == 6 && memcmp(b.p, bytes, 5) == 0 && b.p[5] == '\0');
    core_buf_free(&b);
}

static void test_printf(void)
{
    core_buf_t b = {0};
    core_buf_printf(&b, "%d-%s", 42, "x");
    CHECK(b.len == 4 && memcmp(b.p, "42-x", 4) == 0);

    /* Longer than the free space: a second pass into a bigger buffer. */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    core_buf_printf(&b, "[%s]", big);
    CHECK(b.len == 4 + 1001);
    CHECK(b.p[4] == '[' && b.p[5] == 'q' && b.p[1003] == 'q' && b.p[1004] == ']');

    /* Exactly at the edge: the free space holds the text but not its NUL. */
    core_buf_t e = {0};
    core_buf_reserve(&e, 8);
    size_t room = e.cap;
    memset(e.p, '.', room - 3);
    e.len = room - 3;
    core_buf_printf(&e, "%s", "abc");
    CHECK(e.len == room && memcmp(e.p + room - 3, "abc", 3) == 0);
    core_buf_printf(&e, "%s", "");
    CHECK(e.len == room);
    CHECK_STR(core_buf_cstr(&e) + room - 3, "abc");
    core_buf_free(&e);
    core_buf_free(&b);
}

static void test_cstr_reset(void)
{
    core_buf_t b = {0};
    core_buf_put(&b, "hello", 5);
    CHECK_STR(core_buf_cstr(&b), "hello");
    CHECK(b.len == 5); /* the NUL is not counted */
    core_buf_put(&b, "!", 1);
    CHECK_STR(core_buf_cstr(&b), "hello!");

    char *p = b.p;
    size_t cap = b.cap;
    core_buf_reset(&b);
    CHECK(b.len == 0 && b.p == p && b.cap == cap); /* memory kept */
    core_buf_put(&b, "x", 1);
    CHECK_STR(core_buf_cstr(&b), "x");

    /* The caller may keep the string and drop the buffer. */
    char *kept = core_buf_cstr(&b);
    b = (core_buf_t){0};
    CHECK_STR(kept, "x");
    free(kept);
}

static void test_xalloc(void)
{
    char *a = xmalloc(0), *b = xmalloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    free(a);
    free(b);

    unsigned char *z = xcalloc(100, 3);
    size_t nonzero = 0;
    for (size_t i = 0; i < 300; i++)
        nonzero += z[i] != 0;
    CHECK(nonzero == 0);
    free(z);
    z = xcalloc(0, 8);
    CHECK(z != NULL);
    free(z);
    z = xcalloc(8, 0);
    CHECK(z != NULL);
    free(z);

    char *r = xrealloc(NULL, 4);
    memcpy(r, "abcd", 4);
    r = xrealloc(r, 100000);
    CHECK(memcmp(r, "abcd", 4) == 0);
    r = xrealloc(r, 0); /* keeps a block: never frees behind the caller's back */
    CHECK(r != NULL);
    free(r);

    char *s = xstrdup("webhook");
    CHECK_STR(s, "webhook");
    free(s);
    s = xstrdup("");
    CHECK_STR(s, "");
    free(s);

    s = xmemdup0("ab\0cd", 5);
    CHECK(memcmp(s, "ab\0cd", 5) == 0 && s[5] == '\0');
    free(s);
    s = xmemdup0("abcdef", 3);
    CHECK_STR(s, "abc");
    free(s);
    s = xmemdup0(NULL, 0);
    CHECK_STR(s, "");
    free(s);
}

/* Runs fn in a child; true when it died of SIGABRT after writing "out of memory". */
static int dies_of_oom(void (*fn)(void))
{
    int fds[2];
    if (pipe(fds) != 0) return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char msg[256] = "";
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(msg) - 1 && (n = read(fds[0], msg + got, sizeof(msg) - 1 - got)) > 0)
        got += (size_t)n;
    msg[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!strstr(msg, "test_core: out of memory")) printf("#   stderr: %s\n", msg);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
           strstr(msg, "test_core: out of memory") != NULL;
}

static void huge_malloc(void)
{
    free(xmalloc(SIZE_MAX));
}

static void huge_calloc(void)
{
    free(xcalloc(SIZE_MAX / 2, 4)); /* n * size overflows */
}

static void huge_realloc(void)
{
    free(xrealloc(NULL, SIZE_MAX));
}

static void huge_reserve(void)
{
    core_buf_t b = {0};
    core_buf_put(&b, "x", 1);
    core_buf_reserve(&b, SIZE_MAX); /* len + n overflows */
}

static void test_out_of_memory(void)
{
    CHECK(dies_of_oom(huge_malloc));
    CHECK(dies_of_oom(huge_calloc));
    CHECK(dies_of_oom(huge_realloc));
    CHECK(dies_of_oom(huge_reserve));
    CHECK(dies_of_oom(xalloc_die));
}

int main(void)
{
    test_empty();
    test_reserve();
    test_growth();
    test_binary();
    test_printf();
    test_cstr_reset();
    test_xalloc();
    test_out_of_memory();
    return check_done();
}
