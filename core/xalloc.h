/* xalloc.h -- allocation that never returns NULL: out of memory aborts loudly.
 *
 * hookgate does not try to recover from out of memory (a deliberate choice): each helper
 * either returns usable memory or prints one line to stderr and calls abort(). A size of zero
 * still gives a unique pointer to free, never NULL. Every result is malloc'd and owned
 * by the caller (free()). Pure apart from that last message; any thread may call them. */
#ifndef HOOKGATE_CORE_XALLOC_H
#define HOOKGATE_CORE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
/* Zeroed; n * size overflowing aborts like out of memory. */
void *xcalloc(size_t n, size_t size);
/* Like realloc, except that n == 0 does not free p (it keeps a 1-byte block). */
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* A copy of the n bytes at s with a NUL after them (s may hold NULs; it may be NULL when
 * n == 0). */
char *xmemdup0(const void *s, size_t n);

/* Reports out of memory ("<program>: out of memory") and aborts. For allocations made
 * inside other libraries (curl_slist_append, curl_easy_init) that fail with NULL. */
void xalloc_die(void) __attribute__((noreturn, cold));

#endif
