/*
 * pop3_msg: pure conversion of a stored message (a Maildir file, LF line
 * endings, or CRLF if another program wrote it) into what RETR and TOP send
 * (RFC 1939 3): CRLF line endings, a "." that begins a line doubled, and the
 * caller then ends it with pop3_msg_finish(). Also the size LIST and STAT
 * announce: the message in CRLF octets, before dot-stuffing and without the
 * terminator.
 *
 * One rule for both: an LF that does not follow a CR becomes CRLF; every
 * other octet, a lone CR included, passes through unchanged. Feed the file
 * in chunks of any size; the state carries over.
 */
#ifndef POSTERN_PROTO_POP3_MSG_H
#define POSTERN_PROTO_POP3_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct pop3_msg_encoder {
    bool top;           /* TOP: stop after the headers and body_left lines */
    uint32_t body_left; /* TOP: body lines still to send */
    bool in_body;       /* the empty line after the headers was seen */
    bool line_start;    /* the next octet begins a line */
    bool prev_cr;       /* the last octet was CR */
    bool any;           /* at least one octet was sent */
    size_t line_octets; /* octets of the current line so far */
    bool done;          /* TOP has sent all it should */
};

/* top: false for RETR (the whole message); for TOP, lines is its count. */
void pop3_msg_encoder_init(struct pop3_msg_encoder *e, bool top, uint32_t lines);
/* Appends the encoded form of in to out. Returns the octets consumed: all
 * of len, unless TOP finished inside this chunk. */
size_t pop3_msg_encode(struct pop3_msg_encoder *e, const char *in, size_t len, struct buf *out);
/* Ends the last line if the file did not, then appends ".\r\n". */
void pop3_msg_finish(struct pop3_msg_encoder *e, struct buf *out);

struct pop3_msg_counter {
    uint64_t size; /* CRLF octets so far */
    bool prev_cr;
};

/* Adds a chunk of the stored message to the CRLF size. */
void pop3_msg_count(struct pop3_msg_counter *c, const char *in, size_t len);

#endif
