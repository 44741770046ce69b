/*
 * dkim_canon: RFC 6376 3.4 canonicalisation, "simple" and "relaxed", of
 * header fields and of the body, and the split of a streamed message into
 * its header section and body. No I/O; the body hash uses OpenSSL's EVP.
 *
 * The body is canonicalised incrementally, so a message can be hashed as it
 * arrives over SMTP (DATA or BDAT, any chunking):
 *
 *   struct dkim_body b;
 *   dkim_body_init(&b, DKIM_CANON_RELAXED, DKIM_NO_LIMIT);
 *   dkim_body_update(&b, chunk, n);  ...  (CRLF line endings)
 *   dkim_body_final(&b, hash);       SHA-256 of the canonical body (or its
 *                                    first l= octets); also frees b
 *
 * Only CRLF ends a line (Postern refuses bare CR and LF in SMTP input); a
 * bare CR or LF is an ordinary octet here.
 */
#ifndef POSTERN_MAILAUTH_DKIM_CANON_H
#define POSTERN_MAILAUTH_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define DKIM_HASH_LEN   32 /* SHA-256 */
#define DKIM_NO_LIMIT   UINT64_MAX
#define DKIM_HEADER_MAX (1u << 20) /* the most of a header section kept for DKIM */

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* Appends the canonical form of one header field (name ":" value, folded
 * or not, with or without its final CRLF). With crlf the result ends in
 * CRLF; without it (the DKIM-Signature field itself, RFC 6376 3.7) it does
 * not. */
void dkim_canon_header(enum dkim_canon c, const char *field, size_t len, bool crlf,
                       struct buf *out);

struct evp_md_ctx_st;

struct dkim_body {
    enum dkim_canon canon;
    uint64_t limit;  /* l=, or DKIM_NO_LIMIT */
    uint64_t length; /* canonical octets so far, limit or not */
    struct evp_md_ctx_st *md;
    struct buf *copy;   /* when set, the canonical body is appended too (tests) */
    unsigned held_crlf; /* line ends not yet emitted: trailing empty lines vanish */
    bool cr;            /* a CR that may start a CRLF */
    bool wsp;           /* relaxed: whitespace run not yet emitted */
    bool in_line;       /* the current line has content */
    bool any;           /* some content has been emitted */
    char out[512];      /* batches octets before they reach the hash */
    size_t nout;
};

void dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit);
void dkim_body_update(struct dkim_body *b, const void *data, size_t len);
/* Ends the body, writes the hash and releases b's resources. */
void dkim_body_final(struct dkim_body *b, unsigned char hash[DKIM_HASH_LEN]);
/* Releases b without a hash (abandoned messages). */
void dkim_body_free(struct dkim_body *b);

/* Splits a streamed message: header octets go to header (each field with
 * its CRLF, the empty line excluded) until the empty line; then in_body
 * becomes true. dkim_split_update() returns how many of data's octets
 * belonged to the header section, the empty line included (the rest is
 * body). header_max bounds the copy: once it would be exceeded, overflow is
 * set and nothing more is kept. Nothing is held back between calls. */
struct dkim_split {
    struct buf header;
    bool in_body;
    bool overflow;
    size_t header_max;
    int state; /* where the scanner is in a line (dkim_canon.c) */
};

void dkim_split_init(struct dkim_split *s, size_t header_max);
size_t dkim_split_update(struct dkim_split *s, const char *data, size_t len);
void dkim_split_free(struct dkim_split *s);

/* Iterates over the fields of a header section h[0..len): at *off, fills
 * the field's name and its whole text (continuation lines and CRLF
 * included), advances *off; false at the end of the section. */
struct dkim_field {
    const char *name;
    size_t name_len;
    const char *text;
    size_t len;
};

bool dkim_field_next(const char *h, size_t len, size_t *off, struct dkim_field *f);

/* Appends the canonical form of the fields that the colon-separated list
 * names[0..nlen) (an h= value without whitespace) selects in the header
 * section h[0..hlen), as RFC 6376 5.4.2 says: each name takes the last
 * instance not yet taken, from the bottom up, and a name with no instance
 * left (oversigning) adds nothing. */
void dkim_canon_select(enum dkim_canon c, const char *h, size_t hlen, const char *names,
                       size_t nlen, struct buf *out);

#endif
