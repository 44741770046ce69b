/* Fuzzes the SRS reverse parser with the local parts a remote client may
 * send in RCPT TO, and checks the invariants RCPT relies on: a result only
 * on SRS_OK, then an address with one '@' from the input's own octets;
 * forward of a reversed SRS0 address round-trips. */
#include <stdint.h>
#include <string.h>

#include "deliver/srs.h"

static const unsigned char KEY[] = "fuzzing key, 32 octets long.....";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 300)
        return 0;
    char local[301];
    memcpy(local, data, size);
    local[size] = '\0';
    if (strlen(local) != size)
        return 0; /* the SMTP parser never passes a NUL */
    const int64_t now = 1796040000;
    struct buf out;
    buf_init(&out);
    enum srs_result r = srs_reverse(KEY, sizeof(KEY) - 1, now, local, &out);
    if (r != SRS_OK && out.len != 0)
        __builtin_trap();
    if (r == SRS_NOT_SRS && srs_is_srs(local))
        __builtin_trap();
    if (r == SRS_OK) {
        const char *at = strrchr(out.data, '@');
        if (at == NULL || at == out.data || at[1] == '\0' || strlen(out.data) != out.len)
            __builtin_trap();
    }
    /* Whatever comes in as a sender is forwarded without harm. */
    struct buf f, back;
    buf_init(&f);
    buf_init(&back);
    if (srs_forward(KEY, sizeof(KEY) - 1, now, local, "fwd.test", &f)) {
        char *at = strrchr(f.data, '@');
        if (at == NULL || strcmp(at, "@fwd.test") != 0 || at - f.data > 64)
            __builtin_trap();
        *at = '\0';
        if (srs_reverse(KEY, sizeof(KEY) - 1, now, f.data, &back) != SRS_OK)
            __builtin_trap();
    }
    buf_free(&f);
    buf_free(&back);
    buf_free(&out);
    return 0;
}
