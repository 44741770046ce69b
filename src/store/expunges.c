/* The expunge history's ranges, bounding and encoding (see expunges.h). */
#include "store/expunges.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

void expunges_free(struct expunges *h)
{
    free(h->v);
    memset(h, 0, sizeof(*h));
}

void expunges_reset(struct expunges *h, uint64_t since)
{
    h->n = 0;
    h->since = since;
}

/* The first range whose hi >= uid. */
static size_t lower_bound(const struct expunges *h, uint32_t uid)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->v[mid].hi < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t expunges_find(const struct expunges *h, uint32_t uid)
{
    size_t i = lower_bound(h, uid);
    return i < h->n && h->v[i].lo <= uid ? h->v[i].modseq : 0;
}

static void insert_at(struct expunges *h, size_t i, struct expunge_range r)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof(*h->v));
    h->v[i] = r;
    h->n++;
}

static void remove_at(struct expunges *h, size_t i)
{
    memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
    h->n--;
}

void expunges_add(struct expunges *h, uint32_t uid, uint64_t modseq)
{
    size_t i = lower_bound(h, uid);
    if (i < h->n && h->v[i].lo <= uid) {
        struct expunge_range *r = &h->v[i];
        if (r->modseq >= modseq)
            return;
        /* Split the range around uid: it alone gets the larger modseq. */
        struct expunge_range before = {r->lo, uid - 1, r->modseq},
                             after = {uid + 1, r->hi, r->modseq};
        bool has_before = r->lo < uid, has_after = uid < r->hi;
        *r = (struct expunge_range){uid, uid, modseq};
        if (has_after)
            insert_at(h, i + 1, after);
        if (has_before)
            insert_at(h, i, before), i++;
    } else {
        insert_at(h, i, (struct expunge_range){uid, uid, modseq});
    }
    /* Join with the neighbours when adjacent and of the same modseq. */
    if (i + 1 < h->n && h->v[i].hi + 1 == h->v[i + 1].lo && h->v[i + 1].modseq == modseq) {
        h->v[i].hi = h->v[i + 1].hi;
        remove_at(h, i + 1);
    }
    if (i > 0 && h->v[i - 1].hi + 1 == h->v[i].lo && h->v[i - 1].modseq == modseq) {
        h->v[i - 1].hi = h->v[i].hi;
        remove_at(h, i);
    }
}

void expunges_merge(struct expunges *h, const struct expunges *other)
{
    if (other->since > h->since)
        h->since = other->since;
    for (size_t i = 0; i < other->n; i++) {
        const struct expunge_range *r = &other->v[i];
        for (uint64_t uid = r->lo; uid <= r->hi; uid++) {
            /* A whole range already there with a modseq as large: skip it. */
            size_t j = lower_bound(h, (uint32_t)uid);
            if (j < h->n && h->v[j].lo <= uid && h->v[j].modseq >= r->modseq) {
                uid = h->v[j].hi < r->hi ? h->v[j].hi : r->hi;
                continue;
            }
            expunges_add(h, (uint32_t)uid, r->modseq);
        }
    }
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void expunges_limit(struct expunges *h, size_t max)
{
    if (max == 0 || h->n <= max)
        return;
    uint64_t *ms = xcalloc(h->n, sizeof(*ms));
    for (size_t i = 0; i < h->n; i++)
        ms[i] = h->v[i].modseq;
    qsort(ms, h->n, sizeof(*ms), u64_cmp);
    /* Everything up to the (n - max)th smallest modseq goes (ties too). */
    uint64_t drop = ms[h->n - max - 1];
    free(ms);
    size_t o = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].modseq > drop)
            h->v[o++] = h->v[i];
    h->n = o;
    if (drop > h->since)
        h->since = drop;
}

static void put32(struct buf *b, uint32_t v)
{
    unsigned char o[4];
    for (int i = 0; i < 4; i++)
        o[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, o, sizeof(o));
}

static void put64(struct buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

static uint64_t get(const unsigned char *p, int octets)
{
    uint64_t v = 0;
    for (int i = 0; i < octets; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void expunges_encode(const struct expunges *h, struct buf *out)
{
    put64(out, h->since);
    put32(out, (uint32_t)h->n);
    for (size_t i = 0; i < h->n; i++) {
        put32(out, h->v[i].lo);
        put32(out, h->v[i].hi);
        put64(out, h->v[i].modseq);
    }
}

int expunges_decode(const unsigned char *p, size_t len, struct expunges *h)
{
    memset(h, 0, sizeof(*h));
    if (len < 12)
        return EINVAL;
    uint64_t since = get(p, 8);
    uint32_t n = (uint32_t)get(p + 8, 4);
    if ((len - 12) / 16 != n || (len - 12) % 16 != 0)
        return EINVAL;
    h->v = xcalloc((size_t)n + 1, sizeof(*h->v));
    h->cap = (size_t)n + 1;
    h->since = since;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *q = p + 12 + 16 * (size_t)i;
        struct expunge_range r = {(uint32_t)get(q, 4), (uint32_t)get(q + 4, 4), get(q + 8, 8)};
        const struct expunge_range *prev = i ? &h->v[i - 1] : NULL;
        if (r.lo == 0 || r.lo > r.hi || r.modseq == 0 ||
            (prev && (prev->hi >= r.lo || (prev->hi + 1 == r.lo && prev->modseq == r.modseq)))) {
            expunges_free(h);
            return EINVAL;
        }
        h->v[h->n++] = r;
    }
    return 0;
}
