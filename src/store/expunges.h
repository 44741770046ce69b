/*
 * expunges: a folder's expunge history for QRESYNC (RFC 7162 VANISHED):
 * the UIDs expunged, each with the modification sequence of its expunge,
 * kept as ranges of adjacent UIDs (one range takes the larger modseq of
 * what it joins: a UID reported as vanished once more is harmless, one
 * missed is not). Bounded: when more than a cap of ranges are kept, those
 * with the smallest modseqs are dropped and `since` rises to the largest
 * modseq dropped: the history answers "expunged after modseq M" completely
 * only for M >= since. Pure: no I/O.
 */
#ifndef POSTERN_STORE_EXPUNGES_H
#define POSTERN_STORE_EXPUNGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define EXPUNGES_CAP_DEFAULT 100000 /* ranges kept */

struct expunge_range {
    uint32_t lo, hi; /* lo <= hi */
    uint64_t modseq;
};

struct expunges {
    struct expunge_range *v; /* ascending, disjoint, never adjacent with the same modseq */
    size_t n, cap;
    uint64_t since; /* complete for "after M" when M >= since */
};

/* Records uid expunged at modseq (a UID already there keeps the larger). */
void expunges_add(struct expunges *h, uint32_t uid, uint64_t modseq);
/* The modseq uid was expunged at, or 0 when it is not in the history. */
uint64_t expunges_find(const struct expunges *h, uint32_t uid);
/* Everything of other into h (larger modseqs and since win). */
void expunges_merge(struct expunges *h, const struct expunges *other);
/* Drops the oldest ranges down to at most max (> 0), raising since. */
void expunges_limit(struct expunges *h, size_t max);
/* Forgets everything: complete only since since. */
void expunges_reset(struct expunges *h, uint64_t since);
void expunges_free(struct expunges *h);

/* The index block: u64 since, u32 count, then each u32 lo u32 hi u64
 * modseq. Decoding refuses (EINVAL) anything format would not write. */
void expunges_encode(const struct expunges *h, struct buf *out);
int expunges_decode(const unsigned char *p, size_t len, struct expunges *h);

#endif
