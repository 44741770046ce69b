/* Fuzzes the outbound reply parser as the client chains it: replies read
 * one after the other from one buffer, each checked for the invariants the
 * client relies on (bounded, NUL-terminated, printable text). */
#include <stdint.h>
#include <string.h>

#include "proto/smtp_reply.h"

static void check_reply(const struct smtp_reply *r)
{
    if (r->code < 200 || r->code > 559 || r->nlines == 0 || r->nlines > SMTP_REPLY_LINES_MAX)
        __builtin_trap();
    if (r->text_len > SMTP_REPLY_TEXT_MAX || r->text[r->text_len] != '\0' ||
        strlen(r->text) != r->text_len)
        __builtin_trap();
    for (size_t i = 0; i < r->text_len; i++) {
        unsigned char c = (unsigned char)r->text[i];
        if ((c < 0x20 && c != '\n') || c >= 0x7f)
            __builtin_trap();
    }
    if (r->enhanced[0] && r->enhanced[0] != '0' + r->code / 100)
        __builtin_trap();
    struct smtp_ehlo e;
    smtp_reply_ehlo(r, &e);
    if (strnlen(e.auth, sizeof(e.auth)) == sizeof(e.auth))
        __builtin_trap();
    struct buf b;
    buf_init(&b);
    smtp_reply_format(r, &b);
    if (memchr(b.data, '\n', b.len) || memchr(b.data, '\r', b.len))
        __builtin_trap();
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_reply_parser p;
    smtp_reply_parser_init(&p);
    const char *in = (const char *)data;
    size_t left = size;
    /* Also split the input in two at an arbitrary point, as reads do. */
    size_t split = size > 0 ? data[0] % (size + 1) : 0;
    while (left > 0) {
        size_t chunk = split > 0 && split < left ? split : left;
        size_t used;
        int rc = smtp_reply_parse(&p, in, chunk, &used);
        if (used > chunk || (rc == 0 && used != chunk))
            __builtin_trap();
        if (rc == 1)
            check_reply(&p.reply);
        if (rc < 0) {
            if (p.error == NULL)
                __builtin_trap();
            break;
        }
        in += used;
        left -= used;
        split = 0;
    }
    return 0;
}
