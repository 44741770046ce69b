/* Fuzzes the drop-file head parser (the files `postern sendmail` leaves in
 * queue/drop/, which any local user can write): whatever it accepts
 * serialises to a head that parses back to the same values, and the body
 * offset stays inside the file. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "queue/drop.h"

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct drop_head h;
    if (drop_head_parse((const char *)data, size, &h) != NULL) {
        /* A refused file leaves nothing behind. */
        if (h.sender || h.fullname || h.rcpts || h.nrcpts)
            __builtin_trap();
        return 0;
    }
    if (h.body_offset > size || h.nrcpts > DROP_RCPTS_MAX)
        __builtin_trap();
    struct buf out;
    buf_init(&out);
    drop_head_serialize(&h, &out);
    struct drop_head again;
    if (drop_head_parse(out.data, out.len, &again) != NULL || again.body_offset != out.len ||
        !same(h.sender, again.sender) || !same(h.fullname, again.fullname) ||
        h.nrcpts != again.nrcpts)
        __builtin_trap();
    for (size_t i = 0; i < h.nrcpts; i++)
        if (!same(h.rcpts[i], again.rcpts[i]))
            __builtin_trap();
    drop_head_clear(&again);
    drop_head_clear(&h);
    buf_free(&out);
    return 0;
}
