/* Fuzzes DKIM canonicalisation (RFC 6376 3.4) and the header/body split.
 * The first octet picks the chunk size, the canonicalisation and an l=
 * limit; the rest is a message.
 *
 * Invariants:
 *  - the split gives the same header section and body in any chunking, and
 *    dkim_field_next() walks that header section exactly, field by field;
 *  - header canonicalisation is idempotent, and relaxed output has a lower
 *    case name, no tab, no doubled or trailing space, no CRLF but the last;
 *  - selecting every field name (dkim_canon_select) yields every field once,
 *    and naming each twice (oversigning) adds nothing;
 *  - the body's canonical form and hash do not depend on the chunking; it
 *    ends in exactly one CRLF (an empty relaxed body stays empty); relaxed
 *    has no tab, no doubled space and no space before a CRLF; with l=, the
 *    hash is that of the first l octets and length counts them all. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mailauth/dkim_canon.h"
#include "util/xmalloc.h"

static bool has(const struct buf *b, const char *s)
{
    return b->len && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void check_header_canon(const char *f, size_t n)
{
    for (int c = 0; c < 2; c++) {
        enum dkim_canon canon = c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
        struct buf once, twice;
        buf_init(&once);
        buf_init(&twice);
        dkim_canon_header(canon, f, n, true, &once);
        if (once.len < 2 || memcmp(once.data + once.len - 2, "\r\n", 2) != 0)
            __builtin_trap();
        dkim_canon_header(canon, once.data, once.len, true, &twice);
        if (twice.len != once.len || memcmp(once.data, twice.data, once.len) != 0)
            __builtin_trap();
        if (canon == DKIM_CANON_RELAXED) {
            const char *colon = memchr(once.data, ':', once.len);
            size_t body = colon ? (size_t)(colon - once.data) : once.len - 2;
            for (size_t i = 0; i < body; i++)
                if (once.data[i] >= 'A' && once.data[i] <= 'Z')
                    __builtin_trap();
            const char *crlf = memmem(once.data, once.len, "\r\n", 2);
            if (crlf != once.data + once.len - 2)
                __builtin_trap();
            if (colon) {
                size_t v = (size_t)(colon - once.data) + 1, end = once.len - 2;
                for (size_t i = v; i < end; i++)
                    if (once.data[i] == '\t' || (once.data[i] == ' ' && (i == v || i + 1 == end ||
                                                                         once.data[i + 1] == ' ')))
                        __builtin_trap();
            }
        }
        buf_free(&once);
        buf_free(&twice);
    }
}

static void check_split(const char *msg, size_t len, size_t chunk)
{
    struct dkim_split a, b;
    dkim_split_init(&a, SIZE_MAX);
    dkim_split_init(&b, SIZE_MAX);
    size_t ka = dkim_split_update(&a, msg, len), kb = 0;
    for (size_t i = 0; i < len && !b.in_body; i += chunk)
        kb += dkim_split_update(&b, msg + i, len - i < chunk ? len - i : chunk);
    if (ka != kb || a.in_body != b.in_body || a.header.len != b.header.len ||
        (a.header.len && memcmp(a.header.data, b.header.data, a.header.len) != 0))
        __builtin_trap();
    /* What was kept is the input up to the empty line. */
    if (a.header.len > ka || (a.header.len && memcmp(a.header.data, msg, a.header.len) != 0))
        __builtin_trap();
    if (a.in_body && (ka != a.header.len + 2 || memcmp(msg + a.header.len, "\r\n", 2) != 0))
        __builtin_trap();
    /* The fields cover the header section exactly. */
    const char *h = a.header.data ? a.header.data : "";
    size_t off = 0, covered = 0, nfields = 0, want = 0;
    struct dkim_field f;
    struct buf names, sel, twice;
    buf_init(&names);
    buf_init(&sel);
    buf_init(&twice);
    while (dkim_field_next(h, a.header.len, &off, &f)) {
        if (f.text != h + covered || f.len == 0 || f.name_len > f.len)
            __builtin_trap();
        covered += f.len;
        if (++nfields <= 64) /* the rest stays cheap */
            check_header_canon(f.text, f.len);
        if (f.name_len > 0 && memchr(f.name, ':', f.name_len) == NULL) {
            struct buf c;
            buf_init(&c);
            dkim_canon_header(DKIM_CANON_RELAXED, f.text, f.len, true, &c);
            want += c.len;
            buf_free(&c);
            buf_append(&names, f.name, f.name_len);
            buf_append_char(&names, ':');
        }
    }
    if (covered != a.header.len)
        __builtin_trap();
    if (names.len) {
        names.data[--names.len] = '\0';
        dkim_canon_select(DKIM_CANON_RELAXED, h, a.header.len, names.data, names.len, &sel);
        if (sel.len != want)
            __builtin_trap();
        char *copy = xstrndup(names.data, names.len); /* buf_append may move data */
        buf_append_char(&names, ':');
        buf_append_str(&names, copy);
        free(copy);
        dkim_canon_select(DKIM_CANON_RELAXED, h, a.header.len, names.data, names.len, &twice);
        if (twice.len != sel.len || memcmp(twice.data, sel.data, sel.len) != 0)
            __builtin_trap();
    }
    buf_free(&names);
    buf_free(&sel);
    buf_free(&twice);
    dkim_split_free(&a);
    dkim_split_free(&b);
}

static void body(enum dkim_canon c, const char *p, size_t len, size_t chunk, uint64_t limit,
                 struct buf *copy, unsigned char hash[DKIM_HASH_LEN], uint64_t *length_r)
{
    struct dkim_body b;
    dkim_body_init(&b, c, limit);
    b.copy = copy;
    for (size_t i = 0; i < len; i += chunk)
        dkim_body_update(&b, p + i, len - i < chunk ? len - i : chunk);
    dkim_body_final(&b, hash);
    *length_r = b.length;
}

static void check_body(const char *p, size_t len, unsigned flags)
{
    static const size_t chunks[] = {1, 2, 3, 5, 64, 511, 512, 513};
    enum dkim_canon c = flags & 8 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    struct buf whole, part;
    buf_init(&whole);
    buf_init(&part);
    unsigned char h1[DKIM_HASH_LEN], h2[DKIM_HASH_LEN], h3[DKIM_HASH_LEN];
    uint64_t l1, l2, l3;
    body(c, p, len, SIZE_MAX, DKIM_NO_LIMIT, &whole, h1, &l1);
    body(c, p, len, chunks[flags & 7], DKIM_NO_LIMIT, &part, h2, &l2);
    if (l1 != l2 || l1 != whole.len || whole.len != part.len || memcmp(h1, h2, sizeof(h1)) != 0 ||
        (whole.len && memcmp(whole.data, part.data, whole.len) != 0))
        __builtin_trap();
    bool ends_ok;
    if (whole.len == 0)
        ends_ok = c == DKIM_CANON_RELAXED; /* simple makes an empty body one CRLF */
    else
        ends_ok = whole.len >= 2 && memcmp(whole.data + whole.len - 2, "\r\n", 2) == 0 &&
                  !(whole.len >= 4 && memcmp(whole.data + whole.len - 4, "\r\n\r\n", 4) == 0);
    if (!ends_ok)
        __builtin_trap();
    if (c == DKIM_CANON_RELAXED && (has(&whole, "\t") || has(&whole, "  ") || has(&whole, " \r\n")))
        __builtin_trap();
    /* l= from the flags' upper bits: the hash of the first l octets. */
    uint64_t limit = (uint64_t)(flags >> 4) * 7;
    struct buf lim;
    buf_init(&lim);
    body(c, p, len, chunks[flags & 7], limit, &lim, h3, &l3);
    size_t n = limit < whole.len ? (size_t)limit : whole.len;
    unsigned char want[DKIM_HASH_LEN];
    unsigned int wl = 0;
    EVP_Digest(whole.data ? whole.data : "", n, want, &wl, EVP_sha256(), NULL);
    if (l3 != l1 || lim.len != n || memcmp(h3, want, sizeof(want)) != 0)
        __builtin_trap();
    buf_free(&lim);
    buf_free(&whole);
    buf_free(&part);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32 * 1024)
        return 0;
    static const size_t chunks[] = {1, 2, 3, 7, 16, 100, 1000, SIZE_MAX};
    unsigned flags = data[0];
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    check_split(msg, len, chunks[flags & 7]);
    check_body(msg, len, flags);
    return 0;
}
