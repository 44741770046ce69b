/*
 * smtp_reply: the incremental, pure parser of SMTP server replies (RFC 5321
 * 4.2, enhanced status codes RFC 2034/3463), used by the outbound client.
 *
 * Feed the peer's octets to smtp_reply_parse(); it consumes up to the end of
 * one reply and returns 1 (the reply is in p->reply), 0 (all input consumed,
 * need more) or -1 (a malformed or oversized reply; p->error says why and
 * the connection must be dropped). The next call after 1 starts a new reply,
 * so pipelined replies are read one after the other from the same buffer.
 *
 * Hostile servers cannot grow memory or smuggle lines (CVE-2020-8794): only
 * CRLF ends a line; lines shorter than a code ("2", "25") are errors; the
 * stored text is capped (truncated is set) and every control or non-ASCII
 * octet in it (NUL, bare CR, bare LF, ...) becomes '?'; lines above
 * SMTP_REPLY_LINE_MAX octets and replies above SMTP_REPLY_LINES_MAX lines
 * are errors. A reply is at most LINES_MAX * LINE_MAX octets of input.
 */
#ifndef POSTERN_PROTO_SMTP_REPLY_H
#define POSTERN_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define SMTP_REPLY_LINE_MAX  2048 /* octets with CRLF; RFC 5321 says 512, be liberal */
#define SMTP_REPLY_LINES_MAX 200  /* lines in one reply */
#define SMTP_REPLY_TEXT_MAX  4096 /* stored text octets */

struct smtp_reply {
    int code;          /* 200..599 */
    char enhanced[12]; /* "5.1.1" from the first line, or "" */
    unsigned nlines;   /* lines in the reply */
    bool truncated;    /* text did not fit in SMTP_REPLY_TEXT_MAX */
    size_t text_len;   /* octets in text */
    /* Each line's text (after the code, the separator and a leading
     * enhanced code), lines separated by '\n'; NUL-terminated; only
     * printable ASCII and '\n'. */
    char text[SMTP_REPLY_TEXT_MAX + 1];
};

struct smtp_reply_parser {
    int state;
    unsigned head_len; /* octets of the current line's code seen */
    char head[3];      /* the current line's code */
    bool last;         /* the current line ends the reply */
    size_t line_len;   /* octets of the current line, CRLF excluded */
    size_t line_start; /* offset of the current line's text in reply.text */
    const char *error; /* after -1: a static reason */
    struct smtp_reply reply;
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);
int smtp_reply_parse(struct smtp_reply_parser *p, const char *in, size_t len, size_t *consumed_r);

/* Appends the reply on one line: "550 5.1.1 first line text second line". */
void smtp_reply_format(const struct smtp_reply *r, struct buf *out);

/* The service extensions an EHLO reply announces (RFC 5321 4.1.1.1). */
struct smtp_ehlo {
    bool pipelining;
    bool starttls;
    bool eightbitmime;
    bool smtputf8;
    bool enhancedstatuscodes;
    bool dsn;
    bool chunking;
    bool has_size;
    uint64_t size;  /* 0: announced without a limit */
    char auth[128]; /* mechanisms, space separated, upper case; "" if none */
};

void smtp_reply_ehlo(const struct smtp_reply *r, struct smtp_ehlo *ehlo_r);

#endif
