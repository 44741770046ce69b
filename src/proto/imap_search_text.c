/*
 * imap_search_text: the text side of SEARCH. Case folding of UTF-8 (ASCII
 * and the two-octet alphabets whose case pairs are regular: Latin-1,
 * Latin Extended-A, Greek, Cyrillic), substring search, the header fields
 * of a message, unfolding and RFC 2047 encoded words, a body part's charset
 * to UTF-8 (tables for Latin-1 and Windows-1252, iconv(3) for the rest:
 * no I/O, and its state lives only for the call).
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "proto/digits.h"
#include "proto/imap_search_int.h"

/* The lower-case code point of cp (only where the pair is regular). */
static unsigned fold_cp(unsigned cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp < 0x80)
        return cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    if (cp >= 0x100 && cp <= 0x17F) {
        /* Latin Extended-A: pairs start even, except 0x139..0x148 and
         * 0x179..0x17E (odd capitals); 0x130, 0x131, 0x138, 0x149, 0x17F
         * are not simple pairs. */
        if (cp == 0x130 || cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F)
            return cp;
        if (cp == 0x178)
            return 0xFF;
        bool odd_pairs = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_pairs)
            return cp % 2 == 1 ? cp + 1 : cp;
        return cp % 2 == 0 ? cp + 1 : cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    if (cp == 0x386) /* the capitals with tonos */
        return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A)
        return cp + 37;
    if (cp == 0x38C)
        return 0x3CC;
    if (cp == 0x38E || cp == 0x38F)
        return cp + 63;
    if (cp == 0x3C2) /* final sigma */
        return 0x3C3;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    return cp;
}

static void put_utf8(struct buf *out, unsigned cp)
{
    char b[2];
    if (cp < 0x80) {
        buf_append_char(out, (char)cp);
        return;
    }
    /* fold_cp maps two-octet code points to two-octet code points */
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    buf_append(out, b, 2);
}

void search_fold(const char *s, size_t len, struct buf *out)
{
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            buf_append_char(out, (char)fold_cp(c));
        } else if (c >= 0xC2 && c <= 0xDF && i + 1 < len &&
                   ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            unsigned cp = ((c & 0x1Fu) << 6) | ((unsigned char)s[i + 1] & 0x3Fu);
            put_utf8(out, fold_cp(cp));
            i++;
        } else {
            buf_append_char(out, (char)c); /* longer sequences and stray octets as they are */
        }
    }
}

bool search_contains(const char *s, size_t len, const struct buf *needle, struct buf *scratch)
{
    if (needle->len == 0)
        return true;
    if (len < needle->len)
        return false;
    buf_reset(scratch);
    search_fold(s, len, scratch);
    return memmem(scratch->data, scratch->len, needle->data, needle->len) != NULL;
}

void search_split(const char *msg, size_t len, size_t *header_len_r, size_t *body_r)
{
    /* A line that is empty (CRLF or LF alone) ends the header section. */
    size_t i = 0;
    while (i < len) {
        if (msg[i] == '\n') {
            *header_len_r = i;
            *body_r = i + 1;
            return;
        }
        if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n') {
            *header_len_r = i;
            *body_r = i + 2;
            return;
        }
        const char *nl = memchr(msg + i, '\n', len - i);
        if (nl == NULL)
            break;
        i = (size_t)(nl - msg) + 1;
    }
    *header_len_r = len;
    *body_r = len;
}

bool search_next_field(const char *h, size_t len, size_t *pos, const char **name_r,
                       size_t *name_len_r, const char **value_r, size_t *value_len_r)
{
    while (*pos < len) {
        size_t start = *pos, end = start;
        /* The field runs to the line end not followed by a space or tab. */
        for (;;) {
            const char *nl = memchr(h + end, '\n', len - end);
            if (nl == NULL) {
                end = len;
                break;
            }
            end = (size_t)(nl - h) + 1;
            if (end >= len || (h[end] != ' ' && h[end] != '\t'))
                break;
        }
        *pos = end;
        size_t stop = end;
        if (stop > start && h[stop - 1] == '\n')
            stop--;
        if (stop > start && h[stop - 1] == '\r')
            stop--;
        const char *colon = memchr(h + start, ':', stop - start);
        if (colon == NULL)
            continue; /* not a field (a continuation at the start, junk): skipped */
        size_t nlen = (size_t)(colon - (h + start));
        while (nlen > 0 && (h[start + nlen - 1] == ' ' || h[start + nlen - 1] == '\t'))
            nlen--; /* "Subject : x" (RFC 5322 4.5.8) */
        *name_r = h + start;
        *name_len_r = nlen;
        *value_r = colon + 1;
        *value_len_r = stop - (size_t)(colon + 1 - h);
        return true;
    }
    return false;
}

static int hexval(char c)
{
    return hex_digit_value((unsigned char)c);
}

static int b64val(char c)
{
    return base64_digit_value((unsigned char)c, '/');
}

enum ew_charset { EW_UTF8, EW_LATIN1 };

/* Appends the decoded text t[0..len) (B or Q) converted to UTF-8. */
static void decode_word(const char *t, size_t len, bool base64, enum ew_charset cs, struct buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int byte = -1;
        if (base64) {
            int v = b64val(t[i]);
            if (v < 0)
                continue; /* padding and stray characters: liberal */
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                byte = (int)((acc >> bits) & 0xFF);
            }
        } else if (t[i] == '_') {
            byte = ' ';
        } else if (t[i] == '=' && i + 2 < len && hexval(t[i + 1]) >= 0 && hexval(t[i + 2]) >= 0) {
            byte = hexval(t[i + 1]) * 16 + hexval(t[i + 2]);
            i += 2;
        } else {
            byte = (unsigned char)t[i];
        }
        if (byte < 0)
            continue;
        if (cs == EW_LATIN1 && byte >= 0x80) {
            char b[2] = {(char)(0xC0 | (byte >> 6)), (char)(0x80 | (byte & 0x3F))};
            buf_append(out, b, 2);
        } else {
            buf_append_char(out, (char)byte);
        }
    }
}

/* An encoded word "=?charset[*lang]?B|Q?text?=" at v[i..len): its length,
 * or 0; its parts in the out-parameters. */
static size_t encoded_word(const char *v, size_t len, size_t i, const char **cs, size_t *cs_len,
                           char *enc, const char **text, size_t *text_len)
{
    if (i + 8 > len || v[i] != '=' || v[i + 1] != '?')
        return 0;
    size_t k = i + 2;
    *cs = v + k;
    while (k < len && v[k] != '?' && v[k] != ' ' && v[k] != '\t')
        k++;
    if (k + 3 >= len || v[k] != '?' || v[k + 2] != '?')
        return 0;
    *cs_len = (size_t)(v + k - *cs);
    *enc = v[k + 1];
    k += 3;
    *text = v + k;
    while (k + 1 < len && !(v[k] == '?' && v[k + 1] == '=')) {
        if (v[k] == ' ' || v[k] == '\t' || v[k] == '\r' || v[k] == '\n')
            return 0;
        k++;
    }
    if (k + 1 >= len)
        return 0;
    *text_len = (size_t)(v + k - *text);
    return k + 2 - i;
}

/* Windows-1252 0x80..0x9F (the five holes kept as the C1 controls, as
 * WHATWG does); the rest is Latin-1. */
static const unsigned short cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static void put_cp(struct buf *out, unsigned cp)
{
    char b[3];
    if (cp < 0x80) {
        buf_append_char(out, (char)cp);
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        buf_append(out, b, 2);
    } else {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        buf_append(out, b, 3);
    }
}

static bool name_in(const char *cs, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcasecmp(cs, *names) == 0)
            return true;
    return false;
}

/* Through iconv(3); false if it does not know the charset. Octets it
 * cannot convert are kept as they are. */
static bool iconv_to_utf8(const char *s, size_t len, const char *charset, struct buf *out)
{
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return false;
    char *in = (char *)s; /* iconv's prototype; it does not write there */
    size_t in_left = len;
    while (in_left > 0) {
        buf_reserve(out, in_left * 4 + 16);
        char *o = out->data + out->len;
        size_t o_left = out->cap - out->len - 1;
        size_t r = iconv(cd, &in, &in_left, &o, &o_left);
        out->len = (size_t)(o - out->data);
        if (r != (size_t)-1 || errno == E2BIG)
            continue;
        if (errno == EINVAL) { /* an incomplete sequence at the end */
            buf_append(out, in, in_left);
            break;
        }
        buf_append_char(out, *in); /* EILSEQ: keep the octet, go on after it */
        in++;
        in_left--;
    }
    buf_reserve(out, 16);
    char *o = out->data + out->len;
    size_t o_left = out->cap - out->len - 1;
    (void)iconv(cd, NULL, NULL, &o, &o_left); /* a stateful charset's final shift */
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    iconv_close(cd);
    return true;
}

void search_to_utf8(const char *s, size_t len, const char *charset, struct buf *out)
{
    static const char *const as_is[] = {"UTF-8", "UTF8", "US-ASCII", "ASCII", NULL};
    static const char *const latin1[] = {"ISO-8859-1", "ISO8859-1", "ISO_8859-1", "LATIN1",
                                         "LATIN-1",    "L1",        NULL};
    static const char *const cp1252[] = {"WINDOWS-1252", "CP1252", NULL};
    if (charset == NULL || charset[0] == '\0' || name_in(charset, as_is)) {
        buf_append(out, s, len);
        return;
    }
    bool is_1252 = name_in(charset, cp1252);
    if (is_1252 || name_in(charset, latin1)) {
        buf_reserve(out, len * 2);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            put_cp(out, is_1252 && c >= 0x80 && c < 0xA0 ? cp1252_c1[c - 0x80] : c);
        }
        return;
    }
    if (!iconv_to_utf8(s, len, charset, out))
        buf_append(out, s, len); /* an unknown charset: the octets as they are */
}

static bool charset_is(const char *cs, size_t len, const char *name)
{
    const char *star = memchr(cs, '*', len); /* RFC 2231 language suffix */
    if (star != NULL)
        len = (size_t)(star - cs);
    return strlen(name) == len && strncasecmp(cs, name, len) == 0;
}

/* Decodes one encoded word into out; false if its charset or encoding is
 * not one we know (the caller keeps it as written). */
static bool decode_encoded_word(const char *cs, size_t cs_len, char enc, const char *text,
                                size_t text_len, struct buf *out)
{
    enum ew_charset charset;
    if (charset_is(cs, cs_len, "UTF-8") || charset_is(cs, cs_len, "US-ASCII"))
        charset = EW_UTF8;
    else if (charset_is(cs, cs_len, "ISO-8859-1") || charset_is(cs, cs_len, "LATIN1"))
        charset = EW_LATIN1;
    else
        return false;
    if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q')
        return false;
    decode_word(text, text_len, enc == 'B' || enc == 'b', charset, out);
    return true;
}

void search_decode_value(const char *v, size_t len, struct buf *out)
{
    size_t i = 0;
    size_t pending_ws = 0; /* start of blanks after a decoded word, or SIZE_MAX */
    bool after_word = false;
    while (i < len) {
        const char *cs, *text;
        size_t cs_len, text_len;
        char enc;
        size_t wl = encoded_word(v, len, i, &cs, &cs_len, &enc, &text, &text_len);
        if (wl > 0) {
            size_t before = out->len;
            if (decode_encoded_word(cs, cs_len, enc, text, text_len, out)) {
                /* blanks between two encoded words vanish (RFC 2047 6.2) */
                if (after_word && pending_ws < before) {
                    size_t dec = out->len - before;
                    memmove(out->data + pending_ws, out->data + before, dec);
                    out->len = pending_ws + dec;
                    out->data[out->len] = '\0';
                }
                after_word = true;
                i += wl;
                pending_ws = out->len;
                continue;
            }
        }
        char c = v[i++];
        if (c == '\r' || c == '\n')
            continue; /* unfolding */
        buf_append_char(out, c);
        if (c != ' ' && c != '\t')
            after_word = false;
    }
}
