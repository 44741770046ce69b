/*
 * strmap: a string-keyed hash map (chained, grows by doubling). Keys are
 * copied; values are the caller's pointers. Not thread-safe: one owner.
 */
#ifndef POSTERN_UTIL_STRMAP_H
#define POSTERN_UTIL_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map; free_value (may be NULL) is called on every value. */
void strmap_free(struct strmap **m, void (*free_value)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; returns the replaced value (or NULL). */
void *strmap_put(struct strmap *m, const char *key, void *value);
/* Removes the key; returns its value (or NULL). */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);
/* Calls fn for every entry; fn returns nonzero to delete that entry (it
 * then owns the value). */
void strmap_sweep(struct strmap *m, int (*fn)(const char *key, void *value, void *arg), void *arg);

#endif
