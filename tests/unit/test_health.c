/* test_health.c -- the /healthz checks and the rate-limited log lines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gateway/health.h"
#include "gateway/logrl.h"

static void test_store_check(void)
{
    const char *check = NULL;
    char detail[160];
    CHECK(health_check(1000, &check, detail, sizeof(detail)));
    CHECK(health_failing_since() == -1);

    health_commit_failed(-EIO, 2000);
    health_commit_failed(-EIO, 2500); /* the first failure of the run is kept */
    CHECK(health_failing_since() == 2000);
    CHECK(!health_check(3000, &check, detail, sizeof(detail)));
    CHECK_STR(check, "store");
    CHECK(strstr(detail, "1000 ms") != NULL);
    CHECK(strstr(detail, strerror(EIO)) != NULL);

    health_commit_ok();
    CHECK(health_failing_since() == -1);
    CHECK(health_check(3100, &check, detail, sizeof(detail)));
}

static void test_worker_check(void)
{
    const char *check = NULL;
    char detail[160];
    health_worker_running(true, 10000);
    CHECK(health_check(10000 + HEALTH_WORKER_STALL_MS, &check, detail, sizeof(detail)));
    CHECK(!health_check(10001 + HEALTH_WORKER_STALL_MS, &check, detail, sizeof(detail)));
    CHECK_STR(check, "delivery_worker");
    health_worker_progress(20000);
    CHECK(health_check(20000 + HEALTH_WORKER_STALL_MS, &check, detail, sizeof(detail)));
    /* A stopped worker is not a stalled one (shutdown). */
    health_worker_running(false, 20000);
    CHECK(health_check(90000, &check, detail, sizeof(detail)));
    /* The store check comes first. */
    health_commit_failed(-ENOSPC, 90000);
    CHECK(!health_check(90001, &check, detail, sizeof(detail)));
    CHECK_STR(check, "store");
    health_commit_ok();
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_logrl(void)
{
    char buf[4096] = "";
    FILE *out = fmemopen(buf, sizeof(buf), "w");
    setvbuf(out, NULL, _IONBF, 0);
    logrl_t l = {0};
    /* 1,411 repeats within one second write one line... */
    int written = 0;
    for (int i = 0; i < 1411; i++)
        written += logrl_printf(&l, out, 5000 + i % 1000, "store: commit failed (%s)", "full");
    CHECK(written == 1);
    CHECK(count_lines(buf) == 1);
    CHECK(strstr(buf, "hookgate: store: commit failed (full)\n") == buf);
    /* ...and the next line a period later carries the count of those suppressed. */
    CHECK(logrl_printf(&l, out, 5000 + LOGRL_PERIOD_MS, "store: commit failed (%s)", "full") == 1);
    CHECK(count_lines(buf) == 2);
    CHECK(strstr(buf, "repeated 1410 more times") != NULL);
    /* Once quiet, the next one is logged at once and plain. */
    CHECK(logrl_printf(&l, out, 9000, "again") == 1);
    CHECK(strstr(buf, "hookgate: again\n") != NULL);
    fclose(out);
}

int main(void)
{
    test_store_check();
    test_worker_check();
    test_logrl();
    return check_done();
}
