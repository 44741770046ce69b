/* Fuzzes the DATA/BDAT decoder. The first octet picks the mode and a read
 * size. Invariants: splitting the input never changes the result; DATA ends
 * only right after CRLF "." CRLF (or "." CRLF at the very start); BDAT never
 * ends; an accepted message has only CRLF line endings and lines of at most
 * 998 octets; output never exceeds the size limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_data.h"

#define MAX_SIZE 4096

struct res {
    int done;
    size_t end;
    unsigned flags;
    uint64_t size;
    struct buf out;
};

static void run(enum smtp_data_mode mode, const char *in, size_t len, size_t chunk, struct res *r)
{
    struct smtp_data_decoder d;
    smtp_data_decoder_init(&d, mode, MAX_SIZE);
    buf_init(&r->out);
    r->done = 0;
    r->end = 0;
    while (r->end < len && !r->done) {
        size_t take = len - r->end < chunk ? len - r->end : chunk;
        size_t used = (size_t)-1;
        r->done = smtp_data_decode(&d, in + r->end, take, &used, &r->out);
        if (used > take || (!r->done && used != take))
            __builtin_trap();
        r->end += used;
    }
    r->flags = d.flags;
    r->size = d.size;
}

static void check_output(const struct res *r)
{
    if (r->out.len > MAX_SIZE || r->out.len > r->size)
        __builtin_trap();
    if (r->flags & ~(unsigned)SMTP_DATA_8BIT)
        return;
    /* Accepted: the output is the whole message, with CRLF lines only. */
    if (r->out.len != r->size)
        __builtin_trap();
    size_t line = 0;
    for (size_t i = 0; i < r->out.len; i++) {
        char c = r->out.data[i];
        if (c == '\n' && (i == 0 || r->out.data[i - 1] != '\r'))
            __builtin_trap();
        if (c == '\r' && (i + 1 >= r->out.len || r->out.data[i + 1] != '\n'))
            __builtin_trap();
        if (c == '\0')
            __builtin_trap();
        if (c == '\r' || c == '\n')
            line = 0;
        else if (++line > 998)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum smtp_data_mode mode = data[0] & 0x80 ? SMTP_DATA_CHUNK : SMTP_DATA_DOT;
    size_t chunk = (size_t)(data[0] & 0x3f) + 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    struct res a, b;
    run(mode, in, len, len ? len : 1, &a);
    run(mode, in, len, chunk, &b);
    if (a.done != b.done || a.end != b.end || a.flags != b.flags || a.size != b.size ||
        a.out.len != b.out.len || (a.out.len && memcmp(a.out.data, b.out.data, a.out.len) != 0))
        __builtin_trap();
    if (mode == SMTP_DATA_CHUNK && (a.done || a.end != len))
        __builtin_trap();
    bool starts = len >= 3 && memcmp(in, ".\r\n", 3) == 0;
    if (a.done) {
        /* The end is the first CRLF.CRLF (or "." CRLF at the very start). */
        if (starts) {
            if (a.end != 3)
                __builtin_trap();
        } else {
            if (a.end < 5 || memcmp(in + a.end - 5, "\r\n.\r\n", 5) != 0 ||
                memmem(in, a.end - 1, "\r\n.\r\n", 5) != NULL)
                __builtin_trap();
        }
    } else if (mode == SMTP_DATA_DOT) {
        if (a.end != len || starts || memmem(in, len, "\r\n.\r\n", 5) != NULL)
            __builtin_trap();
    }
    check_output(&a);
    buf_free(&a.out);
    buf_free(&b.out);
    return 0;
}
