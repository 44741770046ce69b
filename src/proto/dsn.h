/*
 * dsn: building a delivery status notification (RFC 3464 in an RFC 6522
 * multipart/report): a human-readable part, the message/delivery-status
 * part (Reporting-MTA, Arrival-Date, then per recipient Final-Recipient,
 * Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date) and the
 * original message's header section (text/rfc822-headers), or the whole
 * original message (message/rfc822) when the sender asked for it with
 * RET=FULL. The kind says what is reported: a failure, a delay warning
 * (Action: delayed, Will-Retry-Until) or a success ("delivered" into a
 * mailbox, or "relayed" to a server that does not offer DSN). Pure: the
 * caller supplies every value, the time, and unique boundary and
 * Message-ID.
 *
 * Every value that came from elsewhere (addresses, remote replies, host
 * names) is reduced to printable ASCII and folded, so nothing can add a
 * field or a line. The output has CRLF line endings and no line longer
 * than 998 octets, except possibly inside the original headers, which are
 * copied as they were queued (already limited by the inbound side).
 */
#ifndef POSTERN_PROTO_DSN_H
#define POSTERN_PROTO_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum dsn_kind { DSN_FAILURE, DSN_DELAY, DSN_SUCCESS };

struct dsn_rcpt {
    const char *final_rcpt; /* the address tried */
    const char *orcpt;      /* ORCPT as given ("rfc822;a@b"), or NULL */
    const char *action;     /* "failed", "delayed", "delivered", "relayed" */
    const char *status;     /* "5.1.1" */
    const char *remote_mta; /* host name, or NULL */
    const char *diagnostic; /* the remote reply or our reason, or NULL */
    bool diagnostic_smtp;   /* diagnostic is an SMTP reply ("smtp;"), else ours */
    int64_t last_attempt;   /* unix seconds; 0: none */
};

struct dsn_info {
    const char *reporting_mta; /* our host name */
    const char *queue_id;      /* the original message's */
    const char *to;            /* the original envelope sender */
    const char *envid;         /* ENVID, or NULL */
    int64_t arrival;
    int64_t now;
    const char *boundary;   /* unique, [A-Za-z0-9./=_-] only */
    const char *message_id; /* "<...>" */
    const struct dsn_rcpt *rcpts;
    size_t nrcpts;
    const char *headers; /* the original header section (CRLF lines), or all of it */
    size_t headers_len;
    bool full; /* headers is the whole original message (RET=FULL) */
    enum dsn_kind kind;
    int64_t retry_until; /* DSN_DELAY: when the message will be given up */
};

void dsn_build(const struct dsn_info *info, struct buf *out);

/* Length of the header section at the start of a message (up to and
 * including the CRLF before the empty line, or all of it), at most max. */
size_t dsn_header_section_len(const char *msg, size_t len, size_t max);

#endif
