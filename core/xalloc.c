/* xalloc.c -- allocation that never returns NULL: out of memory aborts loudly. */
#include "core/xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xalloc_die(void)
{
    /* stderr is unbuffered: fprintf allocates nothing here. */
    fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) xalloc_die();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    if (n == 0 || size == 0) n = size = 1;
    void *p = calloc(n, size); /* checks n * size for overflow */
    if (!p) xalloc_die();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) xalloc_die();
    return p;
}

char *xstrdup(const char *s)
{
    return xmemdup0(s, strlen(s));
}

char *xmemdup0(const void *s, size_t n)
{
    if (n == SIZE_MAX) xalloc_die();
    char *p = xmalloc(n + 1);
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
