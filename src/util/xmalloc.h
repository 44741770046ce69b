/*
 * xmalloc: allocation that never returns NULL. Running out of memory aborts
 * the process (as OpenSMTPD, Postfix and Redis do): a mail server that limps
 * on with failed allocations is the one that loses mail.
 */
#ifndef POSTERN_UTIL_XMALLOC_H
#define POSTERN_UTIL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
