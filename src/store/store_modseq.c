/* The store's CONDSTORE/QRESYNC questions about an opened folder: the
 * highest modseq, what changed and what was expunged since a modseq, and
 * STORE UNCHANGEDSINCE (see store.h). */
#include <stdlib.h>
#include <string.h>

#include "store/expunges.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/xmalloc.h"

void store_uid_ranges_free(struct store_uid_ranges *r)
{
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

uint64_t store_highest_modseq(const struct store_folder *f)
{
    return f->highest_modseq;
}

void store_changed_since(const struct store_folder *f, uint64_t modseq, uint32_t **uids_r,
                         size_t *n_r)
{
    *uids_r = NULL;
    *n_r = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->msgs[i].modseq <= modseq)
            continue;
        *uids_r = xrealloc(*uids_r, (*n_r + 1) * sizeof(**uids_r));
        (*uids_r)[(*n_r)++] = f->msgs[i].uid;
    }
}

uint64_t store_expunged_complete_since(const struct store_folder *f)
{
    return f->priv ? f->priv->expunged.since : 0;
}

/* Appends lo..hi, joining it to the last range when adjacent. */
static void push_range(struct store_uid_ranges *out, uint32_t lo, uint32_t hi)
{
    if (out->n && out->v[out->n - 1].hi + 1 == lo) {
        out->v[out->n - 1].hi = hi;
        return;
    }
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    out->v[out->n++] = (struct store_uid_range){lo, hi};
}

/* lo..hi cut to the ranges of within (all when NULL), appended. */
static void push_within(struct store_uid_ranges *out, uint32_t lo, uint32_t hi,
                        const struct store_uid_range *within, size_t n_within)
{
    if (within == NULL) {
        push_range(out, lo, hi);
        return;
    }
    for (size_t i = 0; i < n_within; i++) {
        uint32_t a = within[i].lo > lo ? within[i].lo : lo;
        uint32_t b = within[i].hi < hi ? within[i].hi : hi;
        if (a <= b)
            push_range(out, a, b);
    }
}

static int range_cmp(const void *a, const void *b)
{
    const struct store_uid_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and joins overlapping or adjacent ranges. */
static void normalise(struct store_uid_ranges *r)
{
    if (r->n == 0)
        return;
    qsort(r->v, r->n, sizeof(*r->v), range_cmp);
    size_t o = 0;
    for (size_t i = 1; i < r->n; i++) {
        if ((uint64_t)r->v[o].hi + 1 >= r->v[i].lo) {
            if (r->v[i].hi > r->v[o].hi)
                r->v[o].hi = r->v[i].hi;
        } else {
            r->v[++o] = r->v[i];
        }
    }
    r->n = o + 1;
}

void store_expunged_since(const struct store_folder *f, uint64_t modseq,
                          const struct store_uid_range *within, size_t n_within,
                          struct store_uid_ranges *out, bool *complete_r)
{
    memset(out, 0, sizeof(*out));
    const struct expunges *h = &f->priv->expunged;
    /* A client's modseq from before the history (or from no view of this
     * folder at all, above the highest) gets the superset. */
    *complete_r = modseq >= h->since && modseq <= f->highest_modseq;
    struct store_uid_range *sorted = NULL;
    if (within) {
        sorted = xcalloc(n_within + 1, sizeof(*sorted));
        memcpy(sorted, within, n_within * sizeof(*sorted));
        struct store_uid_ranges tmp = {sorted, n_within};
        normalise(&tmp);
        n_within = tmp.n;
    }
    if (*complete_r) {
        for (size_t i = 0; i < h->n; i++)
            if (h->v[i].modseq > modseq)
                push_within(out, h->v[i].lo, h->v[i].hi, sorted, n_within);
    } else if (f->uidnext != 1) {
        /* Every UID below UIDNEXT that is not a message now. */
        uint32_t last = f->uidnext ? f->uidnext - 1 : UINT32_MAX, next = 1;
        for (size_t i = 0; i <= f->n; i++) {
            uint64_t upto = i < f->n ? (uint64_t)f->msgs[i].uid : (uint64_t)last + 1;
            if (upto > next)
                push_within(out, next, (uint32_t)(upto - 1), sorted, n_within);
            if (i < f->n)
                next = f->msgs[i].uid + 1;
        }
    }
    normalise(out);
    free(sorted);
}

int store_set_flags_unchanged_since(struct store_folder *f, uint32_t uid, unsigned flags,
                                    const char *const *keywords, size_t n_keywords,
                                    uint64_t unchangedsince, bool *modified_r)
{
    *modified_r = false;
    return f->store->ops->set_flags_cond(f, uid, flags, keywords, n_keywords, &unchangedsince,
                                         modified_r);
}

void store_set_expunge_history_cap(struct store *s, size_t cap)
{
    s->expunge_cap = cap;
}
