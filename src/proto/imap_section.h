/*
 * imap_section: the section and partial of a FETCH body item (RFC 3501
 * 6.4.5, RFC 9051, RFC 3516 BINARY) parsed from the item's text, resolved
 * against a MIME tree to the octets to send, and the name the response
 * echoes (pure). As Dovecot 2.3.19: a part that does not exist is the
 * empty string, HEADER/TEXT of a part that is not message/rfc822 too, part
 * 1 of a message that is not multipart (message/rfc822 at the top too) is
 * the message itself, and past a part that is neither multipart nor
 * message/rfc822 the path ends (1.1 of a plain message is empty).
 */
#ifndef POSTERN_PROTO_IMAP_SECTION_H
#define POSTERN_PROTO_IMAP_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mime.h"
#include "util/buf.h"

#define IMAP_SECTION_MAX_PARTS  MIME_MAX_DEPTH
#define IMAP_SECTION_MAX_FIELDS 256

enum imap_section_item {
    IMAP_ITEM_BODY,       /* BODY[...] and BODY.PEEK[...] */
    IMAP_ITEM_BINARY,     /* BINARY[...] and BINARY.PEEK[...] */
    IMAP_ITEM_BINARY_SIZE /* BINARY.SIZE[...] */
};

enum imap_section_text {
    IMAP_SECTION_ALL, /* BODY[] or BODY[1.2]: the message or the part's body */
    IMAP_SECTION_HEADER,
    IMAP_SECTION_TEXT,
    IMAP_SECTION_MIME,
    IMAP_SECTION_HEADER_FIELDS,
    IMAP_SECTION_HEADER_FIELDS_NOT,
};

struct imap_section {
    enum imap_section_item item;
    bool peek;
    unsigned parts[IMAP_SECTION_MAX_PARTS]; /* 1.2.3 */
    size_t n_parts;
    enum imap_section_text text;
    char **fields; /* HEADER.FIELDS names, unquoted */
    size_t n_fields;
    bool partial; /* <origin.count> */
    uint32_t origin, count;
    char *name; /* the echo: "BODY[HEADER.FIELDS (DATE FROM)]<0>", upper-cased */
};

/* Parses item[0..len), the whole fetch item ("BODY.PEEK[1.MIME]<0.10>").
 * Returns false (nothing to free) on a syntax error, which is a BAD. */
bool imap_section_parse(const char *item, size_t len, struct imap_section *sec);
void imap_section_free(struct imap_section *sec);

enum imap_section_status {
    IMAP_SECTION_OK,
    IMAP_SECTION_UNKNOWN_CTE, /* BINARY of an encoding it cannot decode: NO [UNKNOWN-CTE] */
};

/* The octets a section names, partial applied: msg[off..off+len) when
 * built is false, else data.data[0..data.len). */
struct imap_section_octets {
    bool built;
    size_t off, len;
    struct buf data;
    bool literal8; /* BINARY content that was decoded: send as ~{n} (Dovecot does) */
    size_t size;   /* BINARY.SIZE: the size before the partial */
};

/* Resolves sec against root, the tree of msg[0..len). The caller frees
 * out->data with buf_free() (after either status). */
enum imap_section_status imap_section_resolve(const struct imap_section *sec, const char *msg,
                                              size_t len, const struct mime_part *root,
                                              struct imap_section_octets *out);

/* Content-Transfer-Encoding decoders (base64 skips what is not of its
 * alphabet; quoted-printable keeps a broken =XX as it is and drops soft
 * line breaks). */
void imap_decode_base64(const char *s, size_t len, struct buf *out);
void imap_decode_qp(const char *s, size_t len, struct buf *out);

#endif
