/*
 * mime: the MIME structure of a whole message held in memory (pure), as an
 * IMAP server needs it for BODYSTRUCTURE, ENVELOPE and BODY[section]: a
 * tree of parts, each with the offsets of its header and body in the
 * message, the count of lines in its body and its Content-* fields parsed.
 *
 * Line ends: IMAP counts sizes and offsets in CRLF octets, so the caller
 * hands these functions the message with CRLF line ends (a Maildir file
 * with bare LF goes through mime_to_crlf() first, in memory). The parser
 * itself takes LF as the end of a line and a CR before it as part of that
 * line end, so a message with bare LFs, stray CRs, NULs or any other
 * garbage still parses into a tree (whose sizes are then those of the bytes
 * given), never a crash.
 *
 * The rules are Dovecot's (2.3.19), so that clients see the same structure
 * from both: the longest matching boundary of any enclosing multipart ends
 * a part; a boundary line inside a part's header ends the header; the
 * Content-* fields of a message without MIME-Version or Content-Type are
 * ignored; the first of each Content-* field counts; RFC 2231 parameters
 * are merged but not decoded ("name*" keeps "charset'lang'%XX...", as
 * Dovecot returns it). Bounded: MIME_MAX_DEPTH nested parts and
 * MIME_MAX_PARTS parts in all; past them the rest is an opaque body.
 */
#ifndef POSTERN_PROTO_MIME_H
#define POSTERN_PROTO_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define MIME_MAX_DEPTH    32
#define MIME_MAX_PARTS    10000
#define MIME_BOUNDARY_MAX 1024 /* longer boundary parameters are cut (Dovecot too) */

enum mime_kind {
    MIME_LEAF,      /* a body that is not split further */
    MIME_MULTIPART, /* children: the parts between the boundaries */
    MIME_MESSAGE,   /* message/rfc822: one child, the embedded message */
};

struct mime_param {
    char *name;  /* as sent; "name*" for a merged RFC 2231 parameter */
    char *value; /* unquoted; RFC 2231 values are kept encoded */
};

struct mime_params {
    struct mime_param *v;
    size_t n;
};

struct mime_part {
    enum mime_kind kind;
    /* A multipart or message/rfc822 that the limits left unparsed: its body
     * is opaque and IMAP shows it as application/octet-stream. */
    bool truncated;
    size_t hdr_off, hdr_len; /* the header, with its empty line when there is one */
    size_t body_off, body_len;
    size_t body_lines; /* LFs in the body */
    /* NULL: no (usable) Content-Type, text/plain by default (message/rfc822
     * for a part of a multipart/digest, kind MIME_MESSAGE). A Content-Type
     * that does not parse gives what could be read, maybe "" for both. */
    char *type, *subtype;
    struct mime_params type_params;
    char *id, *description, *encoding, *md5, *location; /* NULL when absent */
    char *disposition;
    struct mime_params disposition_params;
    char **languages;
    size_t n_languages;
    struct mime_part *parent, *first_child, *next;
    size_t n_children;
};

/* The tree of msg[0..len) (never NULL). The strings in it are copies: msg
 * may go before the tree does, but the offsets are into msg. */
struct mime_part *mime_parse(const char *msg, size_t len);
void mime_free(struct mime_part *root);
/* Whether the part's content type is text/... (or the text/plain default):
 * IMAP gives such a part a line count. */
bool mime_is_text(const struct mime_part *part);
/* The n-th child (1-based), or NULL. */
struct mime_part *mime_child(const struct mime_part *part, size_t n);

/* Appends msg[0..len) to out with every bare LF made CRLF. */
void mime_to_crlf(const char *msg, size_t len, struct buf *out);

/* One header field of a header block. */
struct mime_field {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    size_t off, len; /* the whole field in the block, its line ends included */
    /* The value after the colon and the blanks after it, to the end of its
     * last line (without that line end); folds still in it. */
    const char *value;
    size_t value_len;
};

/* Steps through the fields of hdr[0..len) from *pos (start at 0): false at
 * the empty line that ends the header or at the end. A line without a
 * colon is a field whose name is the whole line and whose value is empty. */
bool mime_field_next(const char *hdr, size_t len, size_t *pos, struct mime_field *f);
/* A field value as Dovecot hands it on: the lines' text joined by "\n"
 * (CRs before LFs dropped), NULs made 0x80. Appended to out. */
void mime_field_value(const struct mime_field *f, struct buf *out);

/* The RFC 5322 lexer the parameter and address parsers share. A return of
 * 1: more input follows, 0: at the end, -1: a syntax error. Comments are
 * skipped as whitespace; the text of the last one is kept in last_comment
 * when that is not NULL. */
struct mime_lex {
    const unsigned char *p, *end;
    struct buf *last_comment;
};

void mime_lex_init(struct mime_lex *lx, const char *s, size_t len, struct buf *last_comment);
int mime_lex_skip_lwsp(struct mime_lex *lx);
int mime_lex_atom(struct mime_lex *lx, struct buf *out);
int mime_lex_dot_atom(struct mime_lex *lx, struct buf *out);
int mime_lex_quoted(struct mime_lex *lx, struct buf *out); /* at '"' */
int mime_lex_phrase(struct mime_lex *lx, struct buf *out);
int mime_lex_domain(struct mime_lex *lx, struct buf *out);     /* at '@' */
int mime_lex_mime_token(struct mime_lex *lx, struct buf *out); /* may read nothing */
bool mime_is_atext(unsigned char c);

#endif
