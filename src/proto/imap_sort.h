/*
 * imap_sort: IMAP SORT (RFC 5256 3), its ESORT results (RFC 5267 3) and
 * the DISPLAYFROM/DISPLAYTO keys of SORT=DISPLAY (RFC 5957), pure. The
 * arguments after "SORT" (or "UID SORT") are compiled into a spec: the
 * RETURN options, the sort criteria and the charset; the search keys that
 * follow are compiled by imap_search_compile(). Each message the search
 * selects gets a key, built from its header section, and the keys are
 * sorted (criteria in order, then sequence number, RFC 5256 3).
 *
 *   st = imap_sort_compile(args, n, &spec, err, sizeof(err));
 *   IMAP_SEARCH_BAD: "tag BAD <err>"; IMAP_SEARCH_BADCHARSET: "tag NO <err>";
 *   imap_search_compile(args + spec.search_at, n - spec.search_at, ...);
 *   for each match: imap_sort_key_build(&spec, &msg, &keys[i]);
 *   imap_sort_order(&spec, keys, n, order);
 *   imap_sort_format_sort() or, if spec.esort, imap_sort_format_esort();
 *   imap_sort_key_free() each key.
 *
 * Strings compare in the form imap_casemap() gives them (an ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic case map of the UTF-8).
 * FROM/TO/CC are the local part (addr-mailbox) of the first address of
 * the field, DISPLAYFROM/DISPLAYTO its display name with encoded words
 * decoded, or "local@domain" without one; a missing field or address is
 * "". DATE is the Date: field's instant, or the internal date when the
 * field is missing or does not parse (RFC 5256 3). SUBJECT is the base
 * subject (imap_basesubject.h). The first field of each name counts.
 */
#ifndef POSTERN_PROTO_IMAP_SORT_H
#define POSTERN_PROTO_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/imap_parse.h"
#include "proto/imap_search.h"
#include "util/buf.h"

#define IMAP_SORT_CRITERIA_MAX 16 /* sort keys in one command (REVERSE not counted) */

enum imap_sort_field {
    IMAP_SORT_ARRIVAL,
    IMAP_SORT_CC,
    IMAP_SORT_DATE,
    IMAP_SORT_FROM,
    IMAP_SORT_SIZE,
    IMAP_SORT_SUBJECT,
    IMAP_SORT_TO,
    IMAP_SORT_DISPLAYFROM,
    IMAP_SORT_DISPLAYTO,
};

struct imap_sort_criterion {
    enum imap_sort_field field;
    bool reverse;
};

/* A compiled SORT command (no allocation: nothing to free). */
struct imap_sort_spec {
    bool esort;   /* RETURN was given: the answer is ESEARCH (RFC 5267) */
    unsigned ret; /* its enum imap_search_return bits (RETURN () is ALL) */
    struct imap_sort_criterion crit[IMAP_SORT_CRITERIA_MAX];
    size_t n_crit;
    size_t search_at; /* args[search_at..n) are the search keys (at least one) */
};

/* One message, as the key builder sees it. */
struct imap_sort_msg {
    uint32_t seq, uid;
    time_t internal_date; /* INTERNALDATE: ARRIVAL, and DATE's fallback */
    uint64_t size;        /* RFC822.SIZE */
    const char *header;   /* the header section or the whole message (CRLF or */
    size_t header_len;    /* LF lines); may be NULL when !imap_sort_needs_header */
};

/* A message's sort key. The strings are casemapped and NUL-terminated ("" for
 * a missing field); only those the spec's criteria use are set, the others
 * are NULL. Owned by the key: imap_sort_key_free(). */
struct imap_sort_key {
    uint32_t seq, uid;
    time_t arrival, sent;
    uint64_t size;
    char *from, *to, *cc, *display_from, *display_to, *subject;
};

/* Compiles args[0..n) (everything after SORT): ["RETURN" SP "(" opts ")"
 * SP] "(" criteria ")" SP charset, then at least one search key. On failure
 * err (errlen octets, 128 are enough) holds the reply text; a charset other
 * than UTF-8 and US-ASCII is IMAP_SEARCH_BADCHARSET (err starts with
 * IMAP_SEARCH_BADCHARSET_CODE). */
enum imap_search_status imap_sort_compile(const struct imap_arg *args, size_t n,
                                          struct imap_sort_spec *out, char *err, size_t errlen);

/* Whether the keys need the header section (not for ARRIVAL and SIZE alone). */
bool imap_sort_needs_header(const struct imap_sort_spec *s);

void imap_sort_key_build(const struct imap_sort_spec *s, const struct imap_sort_msg *m,
                         struct imap_sort_key *k);
void imap_sort_key_free(struct imap_sort_key *k);

/* order[0..n) gets the indexes of keys[0..n) in sort order (stable; equal
 * keys go by ascending seq whatever REVERSE says, RFC 5256 3). */
void imap_sort_order(const struct imap_sort_spec *s, const struct imap_sort_key *keys, size_t n,
                     size_t *order);

/* "* SORT 2 3 1\r\n" (numbers as given, in their order). */
void imap_sort_format_sort(struct buf *out, const uint32_t *nums, size_t n);
/* "* ESEARCH (TAG "a") UID MIN 5 MAX 4 ALL 5,3:4 COUNT 3\r\n" for nums[0..n) in
 * sort order (RFC 5267 3.2): MIN is the first in sort order and MAX the
 * last, ALL keeps the order (only ascending runs become ranges); no option
 * at all (or SAVE alone) is ALL; MIN, MAX and ALL are left out when
 * nothing matched; tag NULL leaves out the correlator. */
void imap_sort_format_esort(struct buf *out, const char *tag, bool uid, unsigned ret,
                            const uint32_t *nums, size_t n);

/* Helpers THREAD shares: the sent date of a header section (DATE's rule)
 * and the raw value of its first field called name (false if none). */
time_t imap_sort_sent_date(const char *hdr, size_t len, time_t internal_date);
bool imap_sort_field(const char *hdr, size_t len, const char *name, const char **value_r,
                     size_t *value_len_r);

#endif
