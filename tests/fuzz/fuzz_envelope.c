/* Fuzzes the queue envelope parser: whatever it accepts must serialise to
 * printable text and parse back to the same text (no field can smuggle a
 * line). */
#include <stdint.h>
#include <string.h>

#include "queue/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope *env = NULL;
    if (envelope_parse((const char *)data, size, &env) != NULL)
        return 0;
    struct buf one, two;
    buf_init(&one);
    buf_init(&two);
    envelope_serialize(env, &one);
    /* One field per line, printable ASCII only: no value can add a line. */
    for (size_t i = 0; i < one.len; i++) {
        unsigned char c = (unsigned char)one.data[i];
        if ((c < 0x20 && c != '\n') || c >= 0x7f)
            __builtin_trap();
    }
    struct envelope *again = NULL;
    if (envelope_parse(one.data, one.len, &again) != NULL)
        __builtin_trap();
    envelope_serialize(again, &two);
    if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0)
        __builtin_trap();
    envelope_free(&env);
    envelope_free(&again);
    buf_free(&one);
    buf_free(&two);
    return 0;
}
