/* Fuzzes the modified UTF-7 converters (proto/mutf7.h) both ways. As
 * modified UTF-7: valid exactly when it converts, and valid input converts
 * to UTF-8 that converts back to the same octets (only canonical forms are
 * accepted). As UTF-8: when it converts, the result is valid modified
 * UTF-7 and converts back to the input. A failed conversion leaves the
 * output as it was. */
#include <stdint.h>
#include <string.h>

#include "proto/mutf7.h"
#include "util/buf.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);

    bool valid = mutf7_valid(in, size);
    buf_append_str(&a, "pre");
    CHECK(mutf7_to_utf8(in, size, &a) == valid);
    CHECK(a.len >= 3 && memcmp(a.data, "pre", 3) == 0 && a.data[a.len] == '\0');
    if (valid) {
        CHECK(!memchr(a.data, '\0', a.len));
        CHECK(utf8_to_mutf7(a.data + 3, a.len - 3, &b));
        CHECK(b.len == size && memcmp(b.data, in, size) == 0);
    } else {
        CHECK(a.len == 3);
    }

    buf_reset(&a);
    buf_reset(&b);
    if (utf8_to_mutf7(in, size, &a)) {
        CHECK(mutf7_valid(a.data, a.len));
        for (size_t i = 0; i < a.len; i++)
            CHECK(a.data[i] >= 0x20 && a.data[i] <= 0x7e);
        CHECK(mutf7_to_utf8(a.data, a.len, &b));
        CHECK(b.len == size && memcmp(b.data, in, size) == 0);
    } else {
        CHECK(a.len == 0);
    }
    buf_free(&a);
    buf_free(&b);
    return 0;
}
