/*
 * mutf7: modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8, strict (see
 * mutf7.h). One decoder serves both the conversion and the validity check
 * (it writes nothing when out is NULL).
 */
#include "proto/mutf7.h"

#include <stdint.h>

#include "proto/digits.h"
#include "util/buf.h"

static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int base64_value(unsigned char c)
{
    return base64_digit_value(c, ',');
}

static bool is_printable_ascii(uint32_t c)
{
    return c >= 0x20 && c <= 0x7e;
}

static void append_utf8(struct buf *out, uint32_t cp)
{
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | (cp >> 18));
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (out)
        buf_append(out, s, n);
}

/* One encoded run, from in[*pos] (after the '&') to its '-'. Returns false
 * unless it is the canonical encoding of at least one character. */
static bool decode_run(const unsigned char *in, size_t len, size_t *pos, struct buf *out)
{
    uint32_t bits = 0, high = 0;
    unsigned nbits = 0;
    size_t units = 0;
    size_t i = *pos;
    for (;; i++) {
        if (i >= len)
            return false; /* unterminated */
        if (in[i] == '-')
            break;
        int v = base64_value(in[i]);
        if (v < 0)
            return false;
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits < 16)
            continue;
        nbits -= 16;
        uint32_t unit = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        units++;
        if (high) {
            if (unit < 0xdc00 || unit > 0xdfff)
                return false; /* a high surrogate alone */
            append_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
            high = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
            high = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return false; /* a low surrogate alone */
        } else if (unit == 0 || is_printable_ascii(unit)) {
            return false; /* NUL, or ASCII that stands for itself */
        } else {
            append_utf8(out, unit);
        }
    }
    /* The padding: fewer than 6 bits, all zero. */
    if (high || units == 0 || nbits >= 6 || bits != 0)
        return false;
    *pos = i + 1;
    return true;
}

static bool decode(const char *text, size_t len, struct buf *out)
{
    const unsigned char *in = (const unsigned char *)text;
    bool after_run = false; /* right after an encoded run's '-' */
    size_t i = 0;
    while (i < len) {
        unsigned char c = in[i];
        if (!is_printable_ascii(c))
            return false;
        i++;
        if (c != '&') {
            if (out)
                buf_append_char(out, (char)c);
            after_run = false;
        } else if (i < len && in[i] == '-') {
            if (out)
                buf_append_char(out, '&');
            i++;
            after_run = false;
        } else {
            if (after_run || !decode_run(in, len, &i, out))
                return false;
            after_run = true;
        }
    }
    return true;
}

bool mutf7_to_utf8(const char *in, size_t len, struct buf *out)
{
    size_t old = out->len;
    buf_append(out, "", 0); /* out->data is a string even when nothing is added */
    if (decode(in, len, out))
        return true;
    out->len = old;
    if (out->data)
        out->data[old] = '\0';
    return false;
}

bool mutf7_valid(const char *in, size_t len)
{
    return decode(in, len, NULL);
}

/* One UTF-8 character at in[*pos], strictly (RFC 3629): no overlong forms,
 * surrogates, values over U+10FFFF or truncated sequences. */
static bool utf8_next(const unsigned char *in, size_t len, size_t *pos, uint32_t *cp)
{
    size_t i = *pos;
    unsigned char c = in[i];
    size_t more;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second octet */
    if (c < 0x80) {
        *cp = c;
        *pos = i + 1;
        return true;
    } else if (c >= 0xc2 && c <= 0xdf) {
        more = 1;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        more = 2;
        *cp = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        more = 3;
        *cp = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return false;
    }
    if (len - i - 1 < more)
        return false;
    for (size_t k = 1; k <= more; k++) {
        unsigned char cc = in[i + k];
        if (k == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xbf))
            return false;
        *cp = (*cp << 6) | (cc & 0x3f);
    }
    *pos = i + 1 + more;
    return true;
}

static void put_unit(struct buf *out, uint32_t unit, uint32_t *bits, unsigned *nbits)
{
    *bits = (*bits << 16) | unit;
    *nbits += 16;
    while (*nbits >= 6) {
        *nbits -= 6;
        buf_append_char(out, BASE64[(*bits >> *nbits) & 0x3f]);
    }
    *bits &= (1u << *nbits) - 1;
}

static bool encode(const char *text, size_t len, struct buf *out)
{
    const unsigned char *in = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (in[i] == '&') {
            buf_append(out, "&-", 2);
            i++;
            continue;
        }
        if (is_printable_ascii(in[i])) {
            buf_append_char(out, (char)in[i]);
            i++;
            continue;
        }
        /* A run of everything up to the next printable ASCII character. */
        uint32_t bits = 0;
        unsigned nbits = 0;
        buf_append_char(out, '&');
        while (i < len && !is_printable_ascii(in[i])) {
            uint32_t cp;
            if (!utf8_next(in, len, &i, &cp) || cp == 0)
                return false;
            if (cp >= 0x10000) {
                put_unit(out, 0xd800 + ((cp - 0x10000) >> 10), &bits, &nbits);
                put_unit(out, 0xdc00 + ((cp - 0x10000) & 0x3ff), &bits, &nbits);
            } else {
                put_unit(out, cp, &bits, &nbits);
            }
        }
        if (nbits > 0)
            buf_append_char(out, BASE64[(bits << (6 - nbits)) & 0x3f]);
        buf_append_char(out, '-');
    }
    return true;
}

bool utf8_to_mutf7(const char *in, size_t len, struct buf *out)
{
    size_t old = out->len;
    buf_append(out, "", 0); /* out->data is a string even when nothing is added */
    if (encode(in, len, out))
        return true;
    out->len = old;
    if (out->data)
        out->data[old] = '\0';
    return false;
}
