/*
 * xmalloc: allocation wrappers for the daemons.  They never return NULL:
 * out of memory is fatal, as nothing sensible can follow it.  Code that
 * must survive a failed allocation (parsers sized by peers) checks sizes
 * against its limits before calling these.
 */
#ifndef PARLEY_XMALLOC_H
#define PARLEY_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf that cannot fail. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
