/*
 * smtp_out: the pure, incremental encoder of message content for DATA on
 * the outbound side. Whatever the queued content holds, the next hop sees
 * only CRLF line endings, lines of at most SMTP_OUT_LINE_MAX octets and
 * correct dot-stuffing, so no SMTP smuggling can leave this server:
 *
 *   - CRLF is kept; a bare LF or a bare CR becomes CRLF (SMTP_OUT_FIXED_EOL);
 *   - a line longer than 998 octets is broken with CRLF SP, as Postfix's
 *     smtp_line_length_limit does: in a header this is folding, in a body a
 *     visible break, never a silent truncation (SMTP_OUT_FOLDED);
 *   - a line starting with '.' gets a second '.' (RFC 5321 4.5.2).
 *
 * smtp_out_encode() appends the encoded form of each chunk to out;
 * smtp_out_finish() ends the last line if needed and appends ".CRLF".
 */
#ifndef POSTERN_PROTO_SMTP_OUT_H
#define POSTERN_PROTO_SMTP_OUT_H

#include <stddef.h>

#include "util/buf.h"

#define SMTP_OUT_LINE_MAX 998 /* octets on the wire, CRLF excluded */

#define SMTP_OUT_FIXED_EOL 0x01u
#define SMTP_OUT_FOLDED    0x02u

struct smtp_out_encoder {
    size_t line_len; /* octets written on the current wire line */
    int pending_cr;  /* a CR waiting to see whether LF follows */
    unsigned flags;
};

void smtp_out_init(struct smtp_out_encoder *e);
void smtp_out_encode(struct smtp_out_encoder *e, const char *in, size_t len, struct buf *out);
void smtp_out_finish(struct smtp_out_encoder *e, struct buf *out);

#endif
