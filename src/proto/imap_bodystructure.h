/*
 * imap_bodystructure: the IMAP BODY and BODYSTRUCTURE of a MIME tree (RFC
 * 3501 7.4.2, RFC 9051 7.5.2), written as Dovecot 2.3.19 writes them (pure).
 */
#ifndef POSTERN_PROTO_IMAP_BODYSTRUCTURE_H
#define POSTERN_PROTO_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>

#include "proto/mime.h"
#include "util/buf.h"

/* Appends the parenthesised BODY (extended false) or BODYSTRUCTURE
 * (extended true) of part, a part of the tree mime_parse() made of msg. */
void imap_bodystructure(const char *msg, const struct mime_part *part, bool extended,
                        struct buf *out);

#endif
