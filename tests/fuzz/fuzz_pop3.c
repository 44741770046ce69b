/* Fuzzes the POP3 command stream as the session reads it: lines split with
 * the command or the SASL limit, each parsed, with the invariants the
 * session relies on. The same input also goes through the RETR encoder,
 * which must agree with the CRLF size counter and be undone exactly by a
 * client's dot-unstuffing. */
#include <stdint.h>
#include <string.h>

#include "proto/line.h"
#include "proto/pop3_msg.h"
#include "proto/pop3_parse.h"

static void check_command(const char *line, size_t len)
{
    struct pop3_command c;
    const char *err = pop3_command_parse(line, len, &c);
    if (err) {
        if (strlen(err) == 0 || strchr(err, '\r') || strchr(err, '\n'))
            __builtin_trap();
        return;
    }
    if (c.verb >= POP3_VERB_COUNT)
        __builtin_trap();
    const char *end = line + len;
    if (c.arg && (c.arg < line || c.arg + c.arg_len > end))
        __builtin_trap();
    if (c.initial && (c.initial < line || c.initial + c.initial_len > end))
        __builtin_trap();
    for (size_t i = 0; c.arg && i < c.arg_len; i++)
        if ((unsigned char)c.arg[i] < 0x20 || (c.verb != POP3_VERB_PASS && c.arg[i] == ' '))
            __builtin_trap();
    if ((c.verb == POP3_VERB_RETR || c.verb == POP3_VERB_DELE || c.verb == POP3_VERB_TOP) &&
        !c.has_msg)
        __builtin_trap();
    if (c.verb == POP3_VERB_PASS && c.arg_len == 0)
        __builtin_trap();
}

static void check_lines(const char *in, size_t size)
{
    struct line_reader r = {0};
    size_t max = size > 0 && (in[0] & 1) ? POP3_SASL_LINE_MAX : POP3_LINE_MAX;
    while (size > 0) {
        size_t len, used;
        enum line_result res = line_next(&r, in, size, max, &len, &used);
        if (used > size || (res == LINE_OK && len + 2 != used))
            __builtin_trap();
        if (res == LINE_OK) {
            if (used > max || in[len] != '\r' || memchr(in, '\n', len))
                __builtin_trap();
            check_command(in, len);
        }
        if (res == LINE_NEED_MORE && used == 0)
            break;
        in += used;
        size -= used;
    }
}

static void check_encoder(const char *in, size_t size)
{
    /* Split into two reads at a point taken from the data. */
    size_t split = size > 0 ? (unsigned char)in[0] % (size + 1) : 0;
    struct pop3_msg_encoder e;
    pop3_msg_encoder_init(&e, false, 0);
    struct buf out;
    buf_init(&out);
    if (pop3_msg_encode(&e, in, split, &out) != split ||
        pop3_msg_encode(&e, in + split, size - split, &out) != size - split)
        __builtin_trap();
    pop3_msg_finish(&e, &out);
    struct pop3_msg_counter c = {0};
    pop3_msg_count(&c, in, split);
    pop3_msg_count(&c, in + split, size - split);
    /* Undo: drop the terminator, unstuff leading dots; the result is the
     * CRLF form, exactly c.size octets plus at most the CRLF we added. */
    if (out.len < 3 || memcmp(out.data + out.len - 3, ".\r\n", 3) != 0)
        __builtin_trap();
    size_t body = out.len - 3, unstuffed = 0;
    bool bol = true;
    for (size_t i = 0; i < body; i++) {
        if (bol && out.data[i] == '.') {
            if (i + 1 >= body || out.data[i + 1] != '.')
                __builtin_trap(); /* a lone dot would end the message */
            i++;
        }
        unstuffed++;
        if (out.data[i] == '\n' && (i == 0 || out.data[i - 1] != '\r'))
            __builtin_trap(); /* bare LF on the wire */
        bol = out.data[i] == '\n';
    }
    if (unstuffed < c.size || unstuffed > c.size + 2)
        __builtin_trap();
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_lines((const char *)data, size);
    check_encoder((const char *)data, size);
    return 0;
}
