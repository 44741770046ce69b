/*
 * imap_basesubject: RFC 5256 2.1's base subject and the case mapping SORT
 * and THREAD compare strings with. The decoding of encoded words is
 * SEARCH's (imap_search_text.c); the rest is the RFC's steps, written over
 * a window [start, end) of the decoded text.
 */
#include <string.h>
#include <strings.h>

#include "proto/imap_basesubject.h"
#include "proto/imap_search_int.h"

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at s[i]: the index after it, or 0. */
static size_t blob_end(const char *s, size_t i, size_t end)
{
    if (i >= end || s[i] != '[')
        return 0;
    size_t j = i + 1;
    while (j < end && s[j] != '[' && s[j] != ']')
        j++;
    if (j >= end || s[j] != ']')
        return 0;
    j++;
    while (j < end && is_wsp(s[j]))
        j++;
    return j;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" after any
 * number of subj-blobs at s[i]: the index after the colon, or 0. */
static size_t refwd_end(const char *s, size_t i, size_t end)
{
    size_t b;
    while ((b = blob_end(s, i, end)) != 0)
        i = b;
    if (end - i >= 2 && strncasecmp(s + i, "re", 2) == 0) {
        i += 2;
    } else if (end - i >= 2 && strncasecmp(s + i, "fw", 2) == 0) {
        i += 2;
        if (i < end && (s[i] == 'd' || s[i] == 'D'))
            i++;
    } else {
        return 0;
    }
    while (i < end && is_wsp(s[i]))
        i++;
    if ((b = blob_end(s, i, end)) != 0)
        i = b;
    return i < end && s[i] == ':' ? i + 1 : 0;
}

static bool has_nonwsp(const char *s, size_t i, size_t end)
{
    for (; i < end; i++)
        if (!is_wsp(s[i]))
            return true;
    return false;
}

/* Steps 3 to 5: leaders off the front; true if a subj-refwd went. */
static bool strip_leaders(const char *s, size_t *start, size_t end)
{
    bool reply = false, changed = true;
    while (changed) {
        changed = false;
        for (;;) { /* step 3 */
            size_t i = *start, r;
            if (i < end && is_wsp(s[i])) {
                *start = i + 1;
            } else if ((r = refwd_end(s, i, end)) != 0) {
                *start = r;
                reply = true;
            } else {
                break;
            }
            changed = true;
        }
        size_t b = blob_end(s, *start, end); /* step 4 */
        if (b != 0 && has_nonwsp(s, b, end)) {
            *start = b;
            changed = true;
        }
    }
    return reply;
}

bool imap_base_subject(const char *raw, size_t len, struct buf *out)
{
    struct buf dec, txt;
    buf_init(&dec);
    buf_init(&txt);
    buf_reserve(&txt, len + 1); /* data is never NULL below */
    search_decode_value(raw, len, &dec);
    /* Step 1: tabs and line ends are spaces, runs of spaces one space. */
    for (size_t i = 0; i < dec.len; i++) {
        char c = dec.data[i];
        if (c == '\t' || c == '\r' || c == '\n')
            c = ' ';
        if (c == ' ' && txt.len > 0 && txt.data[txt.len - 1] == ' ')
            continue;
        buf_append_char(&txt, c);
    }
    const char *s = txt.data;
    size_t start = 0, end = txt.len;
    bool reply = false;
    for (;;) {
        for (;;) { /* step 2: subj-trailer = "(fwd)" / WSP */
            if (end > start && is_wsp(s[end - 1])) {
                end--;
            } else if (end - start >= 5 && strncasecmp(s + end - 5, "(fwd)", 5) == 0) {
                end -= 5;
                reply = true;
            } else {
                break;
            }
        }
        if (strip_leaders(s, &start, end))
            reply = true;
        /* Step 6: subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]". */
        if (end - start >= 6 && strncasecmp(s + start, "[fwd:", 5) == 0 && s[end - 1] == ']') {
            start += 5;
            end--;
            reply = true;
            continue;
        }
        break;
    }
    buf_append(out, s + start, end - start);
    buf_free(&dec);
    buf_free(&txt);
    return reply;
}

/* The simple upper-case of cp where the pair is regular (two-octet code
 * points map to two-octet ones, or to ASCII). */
static unsigned upper_cp(unsigned cp)
{
    if (cp >= 'a' && cp <= 'z')
        return cp - 32;
    if (cp < 0x80)
        return cp;
    if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)
        return cp - 32;
    if (cp == 0xFF)
        return 0x178;
    if (cp == 0xB5) /* micro sign: Greek capital mu */
        return 0x39C;
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x131)
            return 'I';
        if (cp == 0x17F)
            return 'S';
        if (cp == 0x130 || cp == 0x138 || cp == 0x149)
            return cp;
        bool odd_capitals = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_capitals)
            return cp % 2 == 0 ? cp - 1 : cp;
        return cp % 2 == 1 ? cp - 1 : cp;
    }
    if (cp >= 0x3B1 && cp <= 0x3C9)
        return cp == 0x3C2 ? 0x3A3 : cp - 32; /* final sigma is sigma */
    if (cp == 0x3AC)
        return 0x386;
    if (cp >= 0x3AD && cp <= 0x3AF)
        return cp - 37;
    if (cp == 0x3CC)
        return 0x38C;
    if (cp == 0x3CD || cp == 0x3CE)
        return cp - 63;
    if (cp >= 0x430 && cp <= 0x44F)
        return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F)
        return cp - 80;
    return cp;
}

void imap_casemap(const char *s, size_t len, struct buf *out)
{
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            buf_append_char(out, (char)upper_cp(c));
        } else if (c >= 0xC2 && c <= 0xDF && i + 1 < len &&
                   ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            unsigned cp = upper_cp(((c & 0x1Fu) << 6) | ((unsigned char)s[i + 1] & 0x3Fu));
            if (cp < 0x80) {
                buf_append_char(out, (char)cp);
            } else {
                char b[2] = {(char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))};
                buf_append(out, b, 2);
            }
            i++;
        } else {
            buf_append_char(out, (char)c); /* longer sequences and stray octets as they are */
        }
    }
}
