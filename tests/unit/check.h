/* check.h -- minimal TAP-producing assertions for the C unit tests. */
#ifndef HOOKGATE_CHECK_H
#define HOOKGATE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_count, check_failed;

/* One TAP line per check; a failure prints where and what. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (cond) {                                                                                \
            printf("ok %d - %s\n", check_count, #cond);                                            \
        } else {                                                                                   \
            check_failed++;                                                                        \
            printf("not ok %d - %s (%s:%d)\n", check_count, #cond, __FILE__, __LINE__);            \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *got_ = (got), *want_ = (want);                                                 \
        int same_ = got_ && want_ && strcmp(got_, want_) == 0;                                     \
        CHECK(same_);                                                            \
        if (!same_) printf("#   got  \"%s\"\n#   want \"%s\"\n", got_ ? got_ : "(null)", want_);  \
    } while (0)

/* Prints the TAP plan and returns the process exit status. */
static inline int check_done(void)
{
    printf("1..%d\n", check_count);
    return check_failed ? 1 : 0;
}

#endif
