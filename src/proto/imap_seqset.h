/*
 * imap_seqset: IMAP sequence sets (RFC 3501 9 / RFC 9051 9: "1", "2:5",
 * "*", "5:*", "1,3:4,7:*"), pure. A parsed set keeps its ranges as the
 * client wrote them, with '*' symbolic, so it costs memory per range, never
 * per number ("1:4294967295" is one range). Used against a mailbox, a set
 * is resolved for the mailbox's '*' (its largest sequence number or UID)
 * into a list of sorted, disjoint ranges, which answers membership in
 * O(log ranges) and iterates in ascending order. The reverse direction,
 * a list of numbers formatted compactly ("1:3,7"), serves COPYUID and
 * ESEARCH.
 */
#ifndef POSTERN_PROTO_IMAP_SEQSET_H
#define POSTERN_PROTO_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define IMAP_SEQ_STAR 0 /* '*' in a parsed range (0 is never a number) */

struct imap_seq_range {
    uint32_t first, last; /* as written: first may exceed last; either may be IMAP_SEQ_STAR */
};

struct imap_seqset {
    struct imap_seq_range *ranges; /* owned */
    size_t n;
    bool saved; /* "$": the saved search result (RFC 5182); n is 0 */
};

enum imap_seqset_result {
    IMAP_SEQSET_OK = 0,
    IMAP_SEQSET_SYNTAX, /* empty, empty part, stray character, trailing comma */
    IMAP_SEQSET_ZERO,   /* 0 is not a sequence number */
    IMAP_SEQSET_RANGE,  /* a number over 4294967295 */
    IMAP_SEQSET_SAVED,  /* "$" where allow_saved was false */
};

/* Parses s[0..len) into *out (freed with imap_seqset_free(); on failure
 * nothing is allocated and *out is empty). "$" alone is the saved result
 * when allow_saved. */
enum imap_seqset_result imap_seqset_parse(const char *s, size_t len, bool allow_saved,
                                          struct imap_seqset *out);
void imap_seqset_free(struct imap_seqset *set);
/* A text for a BAD reply. */
const char *imap_seqset_error(enum imap_seqset_result r);

/* Whether n is in the set when '*' is star, without resolving it (linear
 * in the ranges; resolve once for many questions). star 0 stands for an
 * empty mailbox: '*' then denotes nothing, and a range with a '*' end is
 * empty. A saved set ("$") contains nothing here: resolve the saved result. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star);

/* Sorted, disjoint, non-adjacent ranges of concrete numbers. */
struct imap_seqlist {
    struct imap_seq_range *ranges; /* owned; first <= last, none is 0 */
    size_t n;
};

/* Resolves set for star into *out (freed with imap_seqlist_free()). */
void imap_seqset_resolve(const struct imap_seqset *set, uint32_t star, struct imap_seqlist *out);
void imap_seqlist_free(struct imap_seqlist *list);
bool imap_seqlist_contains(const struct imap_seqlist *list, uint32_t n);
/* How many numbers (up to 4294967295: a uint64_t). */
uint64_t imap_seqlist_count(const struct imap_seqlist *list);
/* The list of the numbers nums[0..n) (in any order, duplicates allowed). */
void imap_seqlist_from_numbers(const uint32_t *nums, size_t n, struct imap_seqlist *out);

/* Ascending iteration: for (imap_seqlist_iter_init(&it, &l); imap_seqlist_next(&it, &n);) */
struct imap_seqlist_iter {
    const struct imap_seqlist *list;
    size_t range;
    uint64_t next; /* 64 bits: stepping past 4294967295 must not wrap */
};
void imap_seqlist_iter_init(struct imap_seqlist_iter *it, const struct imap_seqlist *list);
bool imap_seqlist_next(struct imap_seqlist_iter *it, uint32_t *n_r);

/* Appends nums[0..n) as a sequence set, runs of consecutive ascending
 * numbers as ranges ("1:3,7"), in the order given (COPYUID pairs its two
 * sets by position, so the order is kept; sorted input gives the most
 * compact text). Nothing is appended for n 0. */
void imap_seqset_format_numbers(struct buf *out, const uint32_t *nums, size_t n);
/* Appends a resolved list ("1:3,7"). */
void imap_seqlist_format(struct buf *out, const struct imap_seqlist *list);

#endif
