/* Fuzzes the DATA decoder, fed in two arbitrary pieces. Invariants: the
 * output of an accepted message has only CRLF line endings and lines of at
 * most 998 octets, and splitting the input never changes the result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_data.h"

static int run(const char *in, size_t len, size_t split, struct buf *out, unsigned *flags,
               size_t *end)
{
    struct smtp_data_decoder d;
    smtp_data_decoder_init(&d, SMTP_DATA_DOT, 1 << 20);
    size_t used;
    int done = smtp_data_decode(&d, in, split, &used, out);
    size_t total = used;
    if (!done) {
        done = smtp_data_decode(&d, in + split, len - split, &used, out);
        total += used;
    }
    *flags = d.flags;
    *end = total;
    return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % size;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if (split > len)
        split = len;
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    unsigned fa, fb;
    size_t ea, eb;
    int da = run(in, len, split, &a, &fa, &ea);
    int db = run(in, len, len, &b, &fb, &eb);
    if (da != db || fa != fb || ea != eb || a.len != b.len ||
        (a.len && memcmp(a.data, b.data, a.len) != 0))
        __builtin_trap();
    if (da && (fa & ~(unsigned)SMTP_DATA_8BIT) == 0) {
        size_t line = 0;
        for (size_t i = 0; i < a.len; i++) {
            char c = a.data[i];
            if (c == '\n' && (i == 0 || a.data[i - 1] != '\r'))
                __builtin_trap();
            if (c == '\r' && (i + 1 >= a.len || a.data[i + 1] != '\n'))
                __builtin_trap();
            if (c == '\r' || c == '\n')
                line = 0;
            else if (++line > 998)
                __builtin_trap();
        }
    }
    buf_free(&a);
    buf_free(&b);
    return 0;
}
