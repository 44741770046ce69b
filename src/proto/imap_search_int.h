/*
 * imap_search_int: the compiled search tree shared by the compiler
 * (imap_search.c), the evaluator (imap_search_eval.c) and the text
 * matching helpers (imap_search_text.c). Not for use outside imap_search*.
 */
#ifndef POSTERN_PROTO_IMAP_SEARCH_INT_H
#define POSTERN_PROTO_IMAP_SEARCH_INT_H

#include "proto/imap_search.h"

enum search_node_type {
    SN_AND,     /* all kids (none: ALL) */
    SN_OR,      /* either of two kids */
    SN_NOT,     /* one kid */
    SN_FLAG,    /* flag is set (or, with flag_unset, is not) */
    SN_KEYWORD, /* str: the keyword */
    SN_BEFORE,  /* day: internal date */
    SN_ON,
    SN_SINCE,
    SN_SENTBEFORE, /* day: the Date: field */
    SN_SENTON,
    SN_SENTSINCE,
    SN_LARGER, /* number: RFC822.SIZE */
    SN_SMALLER,
    SN_MODSEQ, /* number: the message's modseq is at least this (RFC 7162) */
    SN_HEADER, /* str: the field name; needle: the folded value */
    SN_BODY,   /* needle */
    SN_TEXT,   /* needle */
    SN_SEQ,    /* set: sequence numbers */
    SN_UID,    /* set: UIDs */
};

struct search_node {
    enum search_node_type type;
    struct search_node *kids; /* owned array */
    size_t n_kids;
    unsigned flag;
    bool flag_unset;
    char *str; /* owned, NUL-terminated */
    size_t str_len;
    struct buf needle; /* the searched text, case-folded */
    int64_t day;
    uint64_t number;
    struct imap_seqset set;
    struct imap_seqlist resolved; /* set for the mailbox (imap_search_prepare) */
    bool is_resolved;
};

struct imap_search {
    struct search_node root; /* an SN_AND */
    bool esearch;
    unsigned ret;
    enum imap_search_needs needs;
    bool uses_saved;
    bool uses_modseq; /* a MODSEQ key: the result carries the highest modseq */
    const struct imap_seqlist *saved_uids;
};

/* Text helpers (imap_search_text.c). */

/* Appends s[0..len) case-folded (UTF-8; invalid octets are kept). */
void search_fold(const char *s, size_t len, struct buf *out);
/* Whether the folded needle occurs in s[0..len) once folded; scratch is
 * reused between calls. */
bool search_contains(const char *s, size_t len, const struct buf *needle, struct buf *scratch);
/* The header section of msg: its length (the final empty line excluded)
 * and where the body starts. */
void search_split(const char *msg, size_t len, size_t *header_len_r, size_t *body_r);
/* The next header field in h[0..len) from *pos: its name and raw value
 * (folded lines included, the final line end excluded). */
bool search_next_field(const char *h, size_t len, size_t *pos, const char **name_r,
                       size_t *name_len_r, const char **value_r, size_t *value_len_r);
/* Appends a raw field value unfolded, with its RFC 2047 encoded words
 * decoded to UTF-8 where the charset is known. */
void search_decode_value(const char *v, size_t len, struct buf *out);

/* Appends s[0..len), text in charset (NULL: none given), converted to
 * UTF-8: UTF-8 and US-ASCII as they are, ISO-8859-1 and Windows-1252 by
 * table, others through iconv(3); an unknown charset's octets as they are,
 * and so are the octets iconv cannot convert. */
void search_to_utf8(const char *s, size_t len, const char *charset, struct buf *out);

#endif
