/* A string-keyed hash map with chaining, grown by doubling. */
#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

struct strmap_entry {
    char *key;
    void *value;
    uint32_t hash;
    struct strmap_entry *next;
};

struct strmap {
    struct strmap_entry **buckets;
    size_t nbuckets;
    size_t count;
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

struct strmap *strmap_new(void)
{
    struct strmap *m = xcalloc(1, sizeof(*m));
    m->nbuckets = 64;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

void strmap_free(struct strmap **mp, void (*free_value)(void *))
{
    struct strmap *m = *mp;
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
    *mp = NULL;
}

static struct strmap_entry **find(const struct strmap *m, const char *key, uint32_t h)
{
    struct strmap_entry **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
        p = &(*p)->next;
    return p;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry **p = find(m, key, hash_str(key));
    return *p ? (*p)->value : NULL;
}

static void grow(struct strmap *m)
{
    size_t n = m->nbuckets * 2;
    struct strmap_entry **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
    uint32_t h = hash_str(key);
    struct strmap_entry **p = find(m, key, h);
    if (*p) {
        void *old = (*p)->value;
        (*p)->value = value;
        return old;
    }
    struct strmap_entry *e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->value = value;
    e->hash = h;
    *p = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_entry **p = find(m, key, hash_str(key));
    if (*p == NULL)
        return NULL;
    struct strmap_entry *e = *p;
    void *v = e->value;
    *p = e->next;
    free(e->key);
    free(e);
    m->count--;
    return v;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

void strmap_sweep(struct strmap *m, int (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry **p = &m->buckets[i];
        while (*p) {
            struct strmap_entry *e = *p;
            if (fn(e->key, e->value, arg)) {
                *p = e->next;
                free(e->key);
                free(e);
                m->count--;
            } else {
                p = &e->next;
            }
        }
    }
}
