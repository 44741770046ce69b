/*
 * line: splits a byte stream into CRLF-terminated lines, the one way every
 * line-based protocol here (SMTP, POP3, IMAP) reads its commands. Pure: no
 * I/O, no globals, no allocation.
 *
 *   struct line_reader r = {0};
 *   res = line_next(&r, buf, len, max, &line_len, &consumed);
 *   the caller drops consumed octets from its input, whatever res is
 *
 * max counts the CRLF, as the RFCs do: a line of max - 2 octets plus CRLF is
 * the longest accepted. A longer line is discarded up to its LF, even when
 * that takes many reads (the reader remembers it is discarding), and then
 * reported once as LINE_TOO_LONG. A line ended by LF alone is discarded and
 * reported as LINE_BARE_LF. A CR not followed by LF is an ordinary octet,
 * and so is NUL: which octets a line may hold is the command parser's call.
 */
#ifndef POSTERN_PROTO_LINE_H
#define POSTERN_PROTO_LINE_H

#include <stdbool.h>
#include <stddef.h>

enum line_result {
    LINE_NEED_MORE = 0, /* no complete line yet (consumed may be > 0 while an
                           over-long line is being discarded) */
    LINE_OK = 1,        /* a line of line_len octets (CRLF excluded) at buf */
    LINE_TOO_LONG = -1, /* an over-long line ended and was discarded */
    LINE_BARE_LF = -2,  /* a line ended with LF alone; it was discarded */
};

struct line_reader {
    bool discarding; /* inside an over-long line: drop until its LF */
};

enum line_result line_next(struct line_reader *r, const char *buf, size_t len, size_t max,
                           size_t *line_len_r, size_t *consumed_r);

#endif
