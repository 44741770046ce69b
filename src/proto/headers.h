/*
 * headers: building the header fields Postern adds to a message (pure).
 * Everything that came from a client (HELO name, addresses) is sanitised so
 * it cannot break out of its field or add a line.
 */
#ifndef POSTERN_PROTO_HEADERS_H
#define POSTERN_PROTO_HEADERS_H

#include <stdbool.h>
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
 * counts the fields named name (case-insensitive) and copies the unfolded
 * value of the first one, trimmed, into value_r (when not NULL). */
int header_get(const char *h, size_t len, const char *name, struct buf *value_r);
/* Whether a field named name (case-insensitive) in the header section
 * h[0..len) (CRLF or LF lines) has exactly value (case-insensitive, once
 * unfolded and trimmed of blanks and <>), as a Delivered-To: check needs. */
bool header_has_value(const char *h, size_t len, const char *name, const char *value);
/* The addr-specs of an address-list value ("A <a@x>, b@y (B)"): angle
 * addresses, else bare ones, comments and display names dropped, groups
 * flattened. Returns the count; the caller frees each string and the array. */
size_t header_addresses(const char *value, char ***addrs_r);

#endif
