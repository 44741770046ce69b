/* Strict base64 and the SASL PLAIN and LOGIN decoders (see sasl.h). Pure. */
#include "proto/sasl.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

long base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 != 0)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=') {
            /* Padding: only in the last two positions, and only at the end. */
            if (i < len - 2)
                return -1;
            pad++;
        } else if (pad || !b64_char(in[i])) {
            return -1;
        }
    }
    if (len == 0)
        return 0;
    size_t n = len / 4 * 3;
    if (n > cap + pad || n - pad > cap)
        return -1;
    unsigned char tmp[3];
    /* EVP_DecodeBlock writes whole groups: decode the last group apart so
     * the padding's zero octets never overflow out. */
    if (len > 4 && EVP_DecodeBlock(out, (const unsigned char *)in, (int)(len - 4)) < 0)
        return -1;
    if (EVP_DecodeBlock(tmp, (const unsigned char *)in + len - 4, 4) != 3)
        return -1;
    memcpy(out + n - 3, tmp, 3 - pad);
    return (long)(n - pad);
}

void base64_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    out[n < 0 ? 0 : n] = '\0';
}

static enum sasl_result copy_field(const unsigned char *p, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return SASL_TOO_LONG;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n')
            return SASL_BAD_OCTET;
    memcpy(out, p, n);
    out[n] = '\0';
    return SASL_OK;
}

enum sasl_result sasl_plain_decode(const char *b64, size_t len, struct sasl_creds *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 1 && b64[0] == '=')
        return SASL_MALFORMED;
    unsigned char raw[SASL_USER_MAX * 2 + SASL_PASSWORD_MAX + 8];
    if (len > (sizeof(raw) / 3 + 1) * 4)
        return SASL_TOO_LONG;
    long n = base64_decode(b64, len, raw, sizeof(raw));
    if (n < 0)
        return SASL_BAD_BASE64;
    const unsigned char *nul1 = memchr(raw, '\0', (size_t)n);
    if (nul1 == NULL)
        return SASL_MALFORMED;
    const unsigned char *user = nul1 + 1;
    size_t rest = (size_t)n - (size_t)(user - raw);
    const unsigned char *nul2 = memchr(user, '\0', rest);
    if (nul2 == NULL)
        return SASL_MALFORMED;
    const unsigned char *pass = nul2 + 1;
    size_t plen = (size_t)n - (size_t)(pass - raw);
    enum sasl_result r = copy_field(raw, (size_t)(nul1 - raw), out->authzid, sizeof(out->authzid));
    if (r == SASL_OK)
        r = copy_field(user, (size_t)(nul2 - user), out->user, sizeof(out->user));
    if (r == SASL_OK)
        r = copy_field(pass, plen, out->password, sizeof(out->password));
    if (r == SASL_OK && (out->user[0] == '\0' || out->password[0] == '\0'))
        r = SASL_MALFORMED;
    return r;
}

enum sasl_result sasl_login_decode(const char *b64, size_t len, char *out, size_t cap)
{
    unsigned char raw[SASL_PASSWORD_MAX + 8];
    if (len > (sizeof(raw) / 3 + 1) * 4)
        return SASL_TOO_LONG;
    long n = base64_decode(b64, len, raw, sizeof(raw));
    if (n < 0)
        return SASL_BAD_BASE64;
    if (n == 0)
        return SASL_MALFORMED;
    return copy_field(raw, (size_t)n, out, cap);
}

const char *sasl_result_text(enum sasl_result r)
{
    switch (r) {
    case SASL_OK:
        return "ok";
    case SASL_BAD_BASE64:
        return "invalid base64";
    case SASL_MALFORMED:
        return "malformed credentials";
    case SASL_TOO_LONG:
        return "credentials too long";
    case SASL_BAD_OCTET:
        return "NUL, CR or LF inside credentials";
    case SASL_UNKNOWN_MECH:
        return "unknown mechanism";
    case SASL_AUTHZID:
        return "acting as another user (authzid) is not allowed";
    }
    return "?";
}
