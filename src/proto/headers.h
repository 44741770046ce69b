/*
 * headers: building the header fields Postern adds to a message (pure).
 * Everything that came from a client (HELO name, addresses) is sanitised so
 * it cannot break out of its field or add a line. And the scanner of a
 * received header section: a field's count and value, the addresses of an
 * address list.
 */
#ifndef POSTERN_PROTO_HEADERS_H
#define POSTERN_PROTO_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

struct received_info {
    const char *helo;      /* as the client sent it; may be NULL */
    const char *client_ip; /* textual address */
    const char *by_host;   /* our hostname */
    const char *protocol;  /* SMTP, ESMTP, ESMTPS, ESMTPSA, UTF8SMTP... */
    const char *tls;       /* e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384", or NULL */
    const char *queue_id;
    const char *for_rcpt; /* the single recipient, or NULL */
    time_t when;
};

/* Appends "Received: ...CRLF" (folded, CRLF line endings). */
void header_build_received(struct buf *out, const struct received_info *ri);
/* RFC 5322 date-time, e.g. "Thu, 26 Nov 2026 12:00:00 +0000". */
void header_format_date(char *dst, size_t len, time_t when);

/* In the header section h[0..len) (CRLF lines, no final empty line needed),
 * counts the fields named name (case-insensitive; whitespace before the
 * colon allowed, RFC 5322 4.5.8) and copies the unfolded value of the first
 * one, trimmed, into value_r (when not NULL). */
int header_get(const char *h, size_t len, const char *name, struct buf *value_r);
/* Whether a field named name (case-insensitive) in the header section
 * h[0..len) (CRLF or LF lines) has exactly value (case-insensitive, once
 * unfolded and trimmed of blanks and <>), as a Delivered-To: check needs. */
bool header_has_value(const char *h, size_t len, const char *name, const char *value);
/* The addr-specs of an address-list value ("A <a@x>, b@y (B)"): angle
 * addresses, else bare ones, comments and display names dropped, groups
 * flattened. Returns the count; the caller frees each string and the array. */
size_t header_addresses(const char *value, char ***addrs_r);
/* The mailboxes of an address-list value, parsed strictly (RFC 5322 3.4
 * with the obsolete forms of 4.4, and UTF-8 text, RFC 6532): display names
 * (quoted, with commas, or not), comments, groups, routes, empty list
 * elements. On success: true, the count in *n_r and each addr-spec in
 * *addrs_r ("local@domain", comments and whitespace gone, a quoted local
 * part kept quoted; free with header_mailboxes_free()). A syntax error (an
 * unquoted '@' or ',' in a display name, a phrase without an address,
 * unbalanced quotes, comments or brackets, NUL): false, nothing allocated. */
bool header_mailboxes(const char *value, size_t len, char ***addrs_r, size_t *n_r);
void header_mailboxes_free(char **addrs, size_t n);

#endif
