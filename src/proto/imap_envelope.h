/*
 * imap_envelope: the IMAP ENVELOPE of a header block (RFC 3501 7.4.2, RFC
 * 9051 7.5.2), and the IMAP string writers BODYSTRUCTURE shares (pure).
 * Written as Dovecot 2.3.19 writes them, byte for byte: values are sent
 * raw (encoded words stay encoded), the last Date/Subject/In-Reply-To/
 * Message-ID field counts while address fields of the same name are joined,
 * Sender and Reply-To default to From, addresses missing a part get
 * MISSING_MAILBOX / MISSING_DOMAIN, a group is (NIL NIL "name" NIL) ...
 * (NIL NIL NIL NIL).
 */
#ifndef POSTERN_PROTO_IMAP_ENVELOPE_H
#define POSTERN_PROTO_IMAP_ENVELOPE_H

#include <stddef.h>

#include "util/buf.h"

/* An nstring: NIL for NULL; a quoted string unless s holds CR, LF or 8-bit
 * octets, or more than 4 of '"' and '\', which make it a literal {n}. */
void imap_append_nstring(struct buf *out, const char *s);
/* The same after the line ends are taken out (a CR or LF followed by a
 * blank goes, one followed by anything else becomes a space). */
void imap_append_nstring_nolf(struct buf *out, const char *s);
/* For text people read (a subject, a display name): blanks, CRs, LFs and
 * tabs collapse to one space, leading and trailing ones go, NUL becomes
 * 0x80; quoted when nothing had to change, else a literal. */
void imap_append_string_for_humans(struct buf *out, const char *s, size_t len);

/* Appends the parenthesised ENVELOPE of the header block hdr[0..len). */
void imap_envelope(const char *hdr, size_t len, struct buf *out);

/* Appends the parenthesised IMAP address list of an address-list field
 * value (as mime_field_value gives it), or NIL when it has no address. */
void imap_address_list(const char *value, size_t len, struct buf *out);

#endif
