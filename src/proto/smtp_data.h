/*
 * smtp_data: the incremental, pure decoder of a message's content stream,
 * for DATA (dot-stuffed, ended by CRLF.CRLF) and BDAT (length-delimited).
 *
 * Only CRLF ends a line, and only CRLF "." CRLF ends DATA. A bare CR or LF
 * is content, never a line end, and flags the message: such a message is
 * refused after its real end, so "<LF>.<CR><LF>"-style SMTP smuggling can
 * neither end a message early nor inject a second one. Lines longer than
 * 998 octets, NULs and an oversized message are flagged the same way: the
 * decoder keeps reading to the real end and stops producing output.
 *
 * Feed input with smtp_data_decode(); it appends the decoded content (CRLF
 * line endings, dots unstuffed) to *out and returns 1 once the terminator
 * has been consumed (DATA mode only), else 0. *consumed_r says how many
 * input octets belonged to the message.
 */
#ifndef POSTERN_PROTO_SMTP_DATA_H
#define POSTERN_PROTO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/smtp_parse.h"
#include "util/buf.h"

#define SMTP_DATA_BARE_LF   0x01u
#define SMTP_DATA_BARE_CR   0x02u
#define SMTP_DATA_LONG_LINE 0x04u
#define SMTP_DATA_NUL       0x08u
#define SMTP_DATA_TOO_BIG   0x10u
#define SMTP_DATA_8BIT      0x20u /* informational: an octet >= 0x80 was seen */

enum smtp_data_mode { SMTP_DATA_DOT, SMTP_DATA_CHUNK };

struct smtp_data_decoder {
    enum smtp_data_mode mode;
    int state;
    size_t line_len;   /* octets in the current line, CRLF excluded */
    uint64_t size;     /* decoded octets so far */
    uint64_t max_size; /* 0: no limit */
    unsigned flags;
};

void smtp_data_decoder_init(struct smtp_data_decoder *d, enum smtp_data_mode mode,
                            uint64_t max_size);
int smtp_data_decode(struct smtp_data_decoder *d, const char *in, size_t len, size_t *consumed_r,
                     struct buf *out);
/* BDAT LAST ended the content: a CR still waiting for its LF is bare. */
void smtp_data_finish(struct smtp_data_decoder *d);
/* True when the content ends in the middle of a line (BDAT LAST without a
 * final CRLF); the caller may append CRLF. */
bool smtp_data_in_line(const struct smtp_data_decoder *d);
/* The reply for a flagged message, or NULL when it may be accepted. */
const struct smtp_error *smtp_data_error(const struct smtp_data_decoder *d);

#endif
