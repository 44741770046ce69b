/* line: the CRLF line splitter shared by the protocol sessions (see line.h). */
#include "proto/line.h"

#include <string.h>

enum line_result line_next(struct line_reader *r, const char *buf, size_t len, size_t max,
                           size_t *line_len_r, size_t *consumed_r)
{
    *line_len_r = 0;
    *consumed_r = 0;
    const char *lf = memchr(buf, '\n', len);
    if (lf == NULL) {
        /* max octets and still no LF: the line is already too long. */
        if (r->discarding || len >= max) {
            r->discarding = true;
            /* Keep a trailing CR: it may pair with an LF in the next read. */
            *consumed_r = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
        }
        return LINE_NEED_MORE;
    }
    size_t total = (size_t)(lf - buf) + 1;
    *consumed_r = total;
    if (r->discarding || total > max) {
        r->discarding = false;
        return LINE_TOO_LONG;
    }
    if (total < 2 || buf[total - 2] != '\r')
        return LINE_BARE_LF;
    *line_len_r = total - 2;
    return LINE_OK;
}
