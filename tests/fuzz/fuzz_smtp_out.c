/* Fuzzes the outbound content encoder: whatever the content and however it
 * is split, the wire form has only CRLF line ends, lines of at most 998
 * octets, and CRLF.CRLF only at its end. */
#include <stdint.h>
#include <string.h>

#include "proto/smtp_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_out_encoder e;
    smtp_out_init(&e);
    struct buf out;
    buf_init(&out);
    size_t chunk = size > 0 ? (size_t)data[0] % 17 + 1 : 1;
    for (size_t off = 0; off < size; off += chunk)
        smtp_out_encode(&e, (const char *)data + off, size - off < chunk ? size - off : chunk,
                        &out);
    smtp_out_finish(&e, &out);
    size_t line = 0;
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] == '\r') {
            if (i + 1 >= out.len || out.data[i + 1] != '\n' || line > SMTP_OUT_LINE_MAX)
                __builtin_trap();
            i++;
            line = 0;
            continue;
        }
        if (out.data[i] == '\n')
            __builtin_trap();
        line++;
    }
    if (line != 0 || out.len < 3 || memcmp(out.data + out.len - 3, ".\r\n", 3) != 0)
        __builtin_trap();
    const char *end = memmem(out.data, out.len, "\r\n.\r\n", 5);
    if (out.len > 3 && end != out.data + out.len - 5)
        __builtin_trap();
    if ((out.len == 3) != (size == 0))
        __builtin_trap();
    buf_free(&out);
    return 0;
}
