/* Fuzzes the SASL decoders (PLAIN, LOGIN, strict base64): whatever they
 * accept holds no NUL, CR or LF, fits its field, and round-trips; no input
 * writes past the buffer it is decoded into (each is exactly as large as
 * the caller says, so ASan sees any overflow). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sasl.h"

static void check_field(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap || memchr(s, '\r', n) || memchr(s, '\n', n))
        __builtin_trap();
}

static void fuzz_plain(const char *in, size_t len)
{
    struct sasl_creds c;
    if (sasl_plain_decode(in, len, &c) != SASL_OK)
        return;
    check_field(c.authzid, sizeof(c.authzid));
    check_field(c.user, sizeof(c.user));
    check_field(c.password, sizeof(c.password));
    if (c.user[0] == '\0' || c.password[0] == '\0')
        __builtin_trap();
    /* Encoding the three fields again decodes to the same credentials. */
    size_t za = strlen(c.authzid), zu = strlen(c.user), zp = strlen(c.password);
    size_t rawlen = za + zu + zp + 2;
    unsigned char *raw = malloc(rawlen);
    memcpy(raw, c.authzid, za);
    raw[za] = '\0';
    memcpy(raw + za + 1, c.user, zu);
    raw[za + 1 + zu] = '\0';
    memcpy(raw + za + zu + 2, c.password, zp);
    char *b64 = malloc(4 * ((rawlen + 2) / 3) + 1);
    base64_encode(raw, rawlen, b64);
    struct sasl_creds again;
    if (sasl_plain_decode(b64, strlen(b64), &again) != SASL_OK ||
        strcmp(again.authzid, c.authzid) != 0 || strcmp(again.user, c.user) != 0 ||
        strcmp(again.password, c.password) != 0)
        __builtin_trap();
    free(b64);
    free(raw);
}

static void fuzz_login(const char *in, size_t len, size_t cap)
{
    char *out = malloc(cap);
    if (sasl_login_decode(in, len, out, cap) == SASL_OK) {
        check_field(out, cap);
        if (out[0] == '\0')
            __builtin_trap();
    }
    free(out);
}

/* Strict base64 into a buffer of exactly cap octets; what decodes encodes
 * back to text that decodes to the same octets. */
static void fuzz_base64(const char *in, size_t len, size_t cap)
{
    unsigned char *out = malloc(cap ? cap : 1);
    long n = base64_decode(in, len, out, cap);
    if (n >= 0) {
        if ((size_t)n > cap || (size_t)n > len)
            __builtin_trap();
        char *b64 = malloc(4 * (((size_t)n + 2) / 3) + 1);
        base64_encode(out, (size_t)n, b64);
        size_t blen = strlen(b64);
        unsigned char *back = malloc((size_t)n + 1);
        if (blen != len || base64_decode(b64, blen, back, (size_t)n) != n ||
            memcmp(back, out, (size_t)n) != 0)
            __builtin_trap();
        free(back);
        free(b64);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    fuzz_plain(in, size);
    fuzz_login(in, size, SASL_USER_MAX + 1);
    fuzz_login(in, size, SASL_PASSWORD_MAX + 1);
    fuzz_login(in, size, 1 + (size ? data[0] % 16 : 0)); /* tiny caps too */
    fuzz_base64(in, size, size / 4 * 3);
    fuzz_base64(in, size, size ? (size_t)data[size - 1] % 8 : 0);
    /* Any octets encode to base64 that decodes back to them. */
    if (size <= 4096) {
        char *b64 = malloc(4 * ((size + 2) / 3) + 1);
        base64_encode(data, size, b64);
        unsigned char *back = malloc(size ? size : 1);
        if (base64_decode(b64, strlen(b64), back, size) != (long)size ||
            memcmp(back, data, size) != 0)
            __builtin_trap();
        free(back);
        free(b64);
    }
    return 0;
}
