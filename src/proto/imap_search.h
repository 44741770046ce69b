/*
 * imap_search: IMAP SEARCH (RFC 3501 6.4.4 / RFC 9051 6.4.4), pure. The
 * arguments that follow "SEARCH" (or "UID SEARCH"), as imap_parse.h gives
 * them, are compiled once into a tree: ESEARCH's RETURN options (RFC
 * 4731, 5182), CHARSET, then the search keys. The compiled search is then
 * prepared for the mailbox (its '*' values and saved result) and matched
 * against each message, given by what it needs: flags, dates and sizes
 * always; the header section or the whole message only when
 * imap_search_needs() says so.
 *
 *   st = imap_search_compile(args, n, &s, err, sizeof(err));
 *   IMAP_SEARCH_BAD: "tag BAD <err>"; IMAP_SEARCH_BADCHARSET: "tag NO <err>"
 *   (err starts with "[BADCHARSET (UTF-8 US-ASCII)]").
 *   imap_search_prepare(s, &mailbox);
 *   for each message: if (imap_search_match(s, &msg)) remember it;
 *   imap_search_format_search() or imap_search_format_esearch();
 *   imap_search_free(s);
 *
 * Text keys (BCC CC FROM SUBJECT TO HEADER BODY TEXT) are case-insensitive
 * substring matches on UTF-8 (ASCII letters and the Latin-1, Latin
 * Extended-A, Greek and Cyrillic capitals are folded). Header values are
 * unfolded and their RFC 2047 encoded words decoded (B and Q, from UTF-8,
 * US-ASCII and ISO-8859-1; others are left as written). BODY looks at the
 * body of every part of the MIME tree whose type is text/..., message/...
 * or none (Dovecot's rule), decoded from base64 or quoted-printable and
 * converted from the part's charset to UTF-8 (tables for ISO-8859-1 and
 * Windows-1252, iconv(3) for the rest, the octets as stored for a charset
 * iconv does not know); attachments of other types, a multipart's preamble
 * and epilogue are not searched, HTML is searched with its tags and
 * entities, and a match does not span two parts. TEXT is that or the
 * header of any part (the message's own and the MIME ones), raw or
 * decoded. Dates: BEFORE/ON/SINCE compare the internal date's day in its
 * own offset; SENT* the Date: field's day as written (a message without a
 * valid Date: field matches no SENT* key).
 */
#ifndef POSTERN_PROTO_IMAP_SEARCH_H
#define POSTERN_PROTO_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/imap_parse.h"
#include "proto/imap_seqset.h"
#include "util/buf.h"

#define IMAP_SEARCH_DEPTH_MAX       32   /* nested (), NOT and OR */
#define IMAP_SEARCH_KEYS_MAX        1000 /* search keys in one command */
#define IMAP_SEARCH_BADCHARSET_CODE "[BADCHARSET (UTF-8 US-ASCII)]"

/* The message flags of a message (system flags; keywords are names). */
enum imap_msg_flag {
    IMAP_FLAG_SEEN = 1u << 0,
    IMAP_FLAG_ANSWERED = 1u << 1,
    IMAP_FLAG_FLAGGED = 1u << 2,
    IMAP_FLAG_DELETED = 1u << 3,
    IMAP_FLAG_DRAFT = 1u << 4,
    IMAP_FLAG_RECENT = 1u << 5,
};

enum imap_search_status {
    IMAP_SEARCH_OK = 0,
    IMAP_SEARCH_BAD,        /* syntax: a tagged BAD with the error text */
    IMAP_SEARCH_BADCHARSET, /* a tagged NO with the error text */
};

/* ESEARCH result options (RFC 4731, SAVE: RFC 5182). */
enum imap_search_return {
    IMAP_SEARCH_RETURN_MIN = 1u << 0,
    IMAP_SEARCH_RETURN_MAX = 1u << 1,
    IMAP_SEARCH_RETURN_ALL = 1u << 2,
    IMAP_SEARCH_RETURN_COUNT = 1u << 3,
    IMAP_SEARCH_RETURN_SAVE = 1u << 4,
};

enum imap_search_needs {
    IMAP_SEARCH_NEEDS_NOTHING = 0, /* the fields of struct imap_search_msg but data */
    IMAP_SEARCH_NEEDS_HEADER,      /* data: at least the header section */
    IMAP_SEARCH_NEEDS_MESSAGE,     /* data: the whole message */
};

struct imap_search; /* a compiled search */

/* What '*' and '$' mean in the selected mailbox. */
struct imap_search_mailbox {
    uint32_t messages; /* the number of messages: '*' of a sequence set (0: empty) */
    uint32_t uid_max;  /* the largest UID in use: '*' of UID (0: empty) */
    const struct imap_seqlist *saved_uids; /* the saved result (RFC 5182) as UIDs; NULL: empty */
};

/* One message, as the search sees it. */
struct imap_search_msg {
    uint32_t seq, uid;
    unsigned flags;              /* enum imap_msg_flag bits */
    const char *const *keywords; /* its keywords (compared case-insensitively) */
    size_t n_keywords;
    time_t internal_date; /* INTERNALDATE ... */
    int internal_tz;      /* ... and its offset, minutes east of UTC */
    uint64_t size;        /* RFC822.SIZE */
    uint64_t modseq;      /* CONDSTORE's (RFC 7162), for the MODSEQ key */
    const char *data;     /* NEEDS_HEADER: the message or its header section; */
    size_t len;           /* NEEDS_MESSAGE: the message (CRLF or LF lines) */
};

/* Compiles args[0..n) (everything after SEARCH). On failure err (errlen
 * octets, 128 are enough) holds the reply text and *out is NULL. */
enum imap_search_status imap_search_compile(const struct imap_arg *args, size_t n,
                                            struct imap_search **out, char *err, size_t errlen);
void imap_search_free(struct imap_search *s);

/* Whether RETURN was given (the answer is ESEARCH, or nothing for SAVE
 * alone), and its options (RETURN () is ALL). 0 without RETURN. */
bool imap_search_is_esearch(const struct imap_search *s);
unsigned imap_search_return(const struct imap_search *s);
enum imap_search_needs imap_search_needs(const struct imap_search *s);
/* Whether a key refers to the saved result ("$"). */
bool imap_search_uses_saved(const struct imap_search *s);
/* Whether a MODSEQ key (RFC 7162 3.1.5) is used: the result then carries
 * the highest modseq of the messages found, and the session becomes
 * CONDSTORE-aware. MODSEQ's optional entry name and type (per-flag modseqs)
 * are checked and ignored: a message has one modseq for all its flags. */
bool imap_search_uses_modseq(const struct imap_search *s);

/* Resolves the sequence sets for mb (call it before imap_search_match, and
 * again whenever the mailbox changes). mb->saved_uids is used by match and
 * must live as long as the matching goes on. */
void imap_search_prepare(struct imap_search *s, const struct imap_search_mailbox *mb);
bool imap_search_match(const struct imap_search *s, const struct imap_search_msg *m);

/* "* SEARCH 2 3 5\r\n" (numbers as given); with modseq (not 0) and a match,
 * "* SEARCH 2 3 5 (MODSEQ 917)\r\n". */
void imap_search_format_search(struct buf *out, const uint32_t *nums, size_t n, uint64_t modseq);
/* "* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9\r\n" for the
 * matches nums[0..n) (any order) and the options ret (SAVE is ignored; no
 * option at all is ALL). MIN, MAX and ALL are left out when nothing
 * matched (RFC 4731 3.1); tag NULL leaves out the correlator; modseq (not 0)
 * adds " MODSEQ 917" when something matched (RFC 7162 3.1.5). */
void imap_search_format_esearch(struct buf *out, const char *tag, bool uid, unsigned ret,
                                const uint32_t *nums, size_t n, uint64_t modseq);

#endif
