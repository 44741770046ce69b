/*
 * text: normalising message text that comes from a local program (the
 * sendmail command) rather than from SMTP: any of LF, CRLF or a lone CR ends
 * a line, and the result has CRLF line endings only. Pure functions.
 */
#ifndef POSTERN_PROTO_TEXT_H
#define POSTERN_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum text_result {
    TEXT_OK = 0,
    TEXT_NUL,       /* a NUL octet: binary data must be MIME-encoded */
    TEXT_LONG_LINE, /* a line over 998 octets */
};

/* Appends in[0..len) to out with CRLF line endings (a final line without an
 * ending gets one). When dot_ends is set (sendmail without -i), a line that
 * is a single "." ends the message there. On failure *line_r is the
 * 1-based number of the offending line. */
enum text_result text_normalize(const char *in, size_t len, bool dot_ends, struct buf *out,
                                size_t *line_r);

/* Removes every header field named name (and its continuation lines) from
 * the header section at the start of msg (CRLF lines). */
void text_remove_header(struct buf *msg, const char *name);

/* Length of the header section of msg, the empty line excluded (all of msg
 * when there is no empty line). */
size_t text_header_length(const char *msg, size_t len);

/* Appends the unfolded values of every field named name in the header
 * section h[0..hlen), each followed by ", ". */
void text_header_values(const char *h, size_t hlen, const char *name, struct buf *out);

#endif
