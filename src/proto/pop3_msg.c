/* Converting a stored message to what RETR and TOP send (CRLF, dot-stuffed),
 * and its POP3 size. Pure. */
#include "proto/pop3_msg.h"

#include <string.h>

void pop3_msg_encoder_init(struct pop3_msg_encoder *e, bool top, uint32_t lines)
{
    memset(e, 0, sizeof(*e));
    e->top = top;
    e->body_left = lines;
    e->line_start = true;
}

/* A line ended: TOP counts body lines after the first empty line. */
static void line_end(struct pop3_msg_encoder *e, bool empty)
{
    if (!e->top)
        return;
    if (!e->in_body) {
        if (empty) {
            e->in_body = true;
            e->done = e->body_left == 0;
        }
        return;
    }
    if (--e->body_left == 0)
        e->done = true;
}

size_t pop3_msg_encode(struct pop3_msg_encoder *e, const char *in, size_t len, struct buf *out)
{
    if (e->done)
        return 0;
    /* Worst case every octet is an LF or a leading dot: twice the input. */
    buf_reserve(out, 2 * len);
    char *o = out->data + out->len;
    size_t i = 0;
    while (i < len && !e->done) {
        char c = in[i++];
        e->any = true;
        if (e->line_start && c == '.')
            *o++ = '.';
        e->line_start = false;
        if (c == '\n') {
            if (!e->prev_cr)
                *o++ = '\r';
            *o++ = '\n';
            bool empty = e->line_octets == 0 || (e->line_octets == 1 && e->prev_cr);
            e->line_start = true;
            e->line_octets = 0;
            e->prev_cr = false;
            line_end(e, empty);
            continue;
        }
        *o++ = c;
        e->line_octets++;
        e->prev_cr = c == '\r';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return i;
}

void pop3_msg_finish(struct pop3_msg_encoder *e, struct buf *out)
{
    if (e->any && !e->line_start)
        buf_append_str(out, e->prev_cr ? "\n" : "\r\n");
    buf_append_str(out, ".\r\n");
}

void pop3_msg_count(struct pop3_msg_counter *c, const char *in, size_t len)
{
    c->size += len;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n' && !c->prev_cr)
            c->size++;
        c->prev_cr = in[i] == '\r';
    }
}
