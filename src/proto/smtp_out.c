/* The incremental encoder of outbound DATA content: CRLF only, bounded
 * line length, dot-stuffing. */
#include "proto/smtp_out.h"

#include "proto/octet_scan.h"

void smtp_out_init(struct smtp_out_encoder *e)
{
    e->line_len = 0;
    e->pending_cr = 0;
    e->flags = 0;
}

static void end_line(struct smtp_out_encoder *e, struct buf *out)
{
    buf_append(out, "\r\n", 2);
    e->line_len = 0;
}

void smtp_out_encode(struct smtp_out_encoder *e, const char *in, size_t len, struct buf *out)
{
    buf_reserve(out, len + len / 64 + 8);
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        if (e->pending_cr) {
            e->pending_cr = 0;
            end_line(e, out);
            if (c == '\n') {
                i++;
                continue;
            }
            e->flags |= SMTP_OUT_FIXED_EOL; /* a bare CR */
        }
        if (c == '\r') {
            e->pending_cr = 1;
            i++;
            continue;
        }
        if (c == '\n') {
            e->flags |= SMTP_OUT_FIXED_EOL; /* a bare LF */
            end_line(e, out);
            i++;
            continue;
        }
        /* A run of ordinary octets is copied at once. */
        size_t run = octet_scan_plain(in + i, len - i, false);
        while (run > 0) {
            if (e->line_len == 0 && in[i] == '.') {
                buf_append_char(out, '.');
                e->line_len = 1;
            }
            if (e->line_len >= SMTP_OUT_LINE_MAX) {
                e->flags |= SMTP_OUT_FOLDED;
                buf_append(out, "\r\n ", 3);
                e->line_len = 1;
            }
            size_t room = SMTP_OUT_LINE_MAX - e->line_len;
            size_t n = run < room ? run : room;
            buf_append(out, in + i, n);
            e->line_len += n;
            i += n;
            run -= n;
        }
    }
}

void smtp_out_finish(struct smtp_out_encoder *e, struct buf *out)
{
    if (e->pending_cr) {
        e->pending_cr = 0;
        e->flags |= SMTP_OUT_FIXED_EOL;
        end_line(e, out);
    } else if (e->line_len > 0) {
        end_line(e, out);
    }
    buf_append(out, ".\r\n", 3);
}
