/*
 * imap_thread: IMAP THREAD (RFC 5256 4), pure: ORDEREDSUBJECT and
 * REFERENCES, the answer in IMAP's syntax ("* THREAD (2)(3 6 (4 23)(44 7
 * 96))"). Each message the search selects is described once from its
 * header section (sent date, base subject, Message-ID, References or
 * In-Reply-To); the threads are then built over all of them at once.
 *
 *   st = imap_thread_compile(args, n, &algo, &search_at, err, sizeof(err));
 *   imap_search_compile(args + search_at, n - search_at, ...);
 *   for each match, in ascending sequence order:
 *       imap_thread_msg_build(&msgs[i], uid ? uid : seq, internal_date, hdr, len);
 *   imap_thread_format(&out, algo, msgs, n);
 *   imap_thread_msg_free() each.
 *
 * Bounds: at most IMAP_THREAD_REFS_MAX references per message are kept
 * (the first and the last ones, as a truncated References field would
 * keep them); a link that would make a cycle is not made, so every
 * traversal ends; the work is O(n log n) but for the ancestor walks that
 * look for cycles; memory is linear in the messages and their references.
 * No recursion: a References chain as deep as the mailbox is fine.
 */
#ifndef POSTERN_PROTO_IMAP_THREAD_H
#define POSTERN_PROTO_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/imap_parse.h"
#include "proto/imap_search.h"
#include "util/buf.h"

#define IMAP_THREAD_REFS_MAX 64

enum imap_thread_algo {
    IMAP_THREAD_ORDEREDSUBJECT,
    IMAP_THREAD_REFERENCES,
};

/* One message as the threading sees it (owned: imap_thread_msg_free). */
struct imap_thread_msg {
    uint32_t num;     /* the number the answer shows (sequence number or UID) */
    time_t sent;      /* the Date: field, else the internal date (RFC 5256 3) */
    char *subject;    /* the base subject, casemapped (imap_basesubject.h); never NULL */
    bool reply;       /* the subject was a reply or forward (RFC 5256 2.1) */
    char *message_id; /* the Message-ID without <>; NULL when none is valid */
    char **refs;      /* References' ids, oldest first, or else In-Reply-To's first */
    size_t n_refs;    /* at most IMAP_THREAD_REFS_MAX */
};

/* Compiles args[0..n) (everything after THREAD): algorithm SP charset, then
 * at least one search key, which start at args[*search_at_r]. Errors as
 * imap_sort_compile's: BAD for syntax or an unknown algorithm, BADCHARSET. */
enum imap_search_status imap_thread_compile(const struct imap_arg *args, size_t n,
                                            enum imap_thread_algo *algo_r, size_t *search_at_r,
                                            char *err, size_t errlen);

/* Describes a message from its header section (or the whole message; CRLF or
 * LF lines; hdr may be NULL). */
void imap_thread_msg_build(struct imap_thread_msg *m, uint32_t num, time_t internal_date,
                           const char *hdr, size_t len);
void imap_thread_msg_free(struct imap_thread_msg *m);

/* Appends "* THREAD ...\r\n" for msgs[0..n), given in ascending sequence
 * order (the order breaks ties of sent dates). */
void imap_thread_format(struct buf *out, enum imap_thread_algo algo,
                        const struct imap_thread_msg *msgs, size_t n);

#endif
