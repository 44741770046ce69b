/* Unit tests for mailauth/dkim_canon and mailauth/taglist: the RFC 6376
 * 3.4.6 example, the body rules fed in every chunking, l=, empty bodies,
 * the header/body split, and the tag-list grammar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mailauth/dkim_canon.h"
#include "mailauth/taglist.h"

/* RFC 6376 3.4.6 */
static const char example_header[] = "A: X\r\n"
                                     "B : Y\t\r\n"
                                     "\tZ  \r\n";
static const char example_body[] = " C \r\n"
                                   "D \t E\r\n"
                                   "\r\n"
                                   "\r\n";

static void canon_headers(enum dkim_canon c, const char *h, struct buf *out)
{
    size_t off = 0;
    struct dkim_field f;
    while (dkim_field_next(h, strlen(h), &off, &f))
        dkim_canon_header(c, f.text, f.len, true, out);
}

static char *canon_body(enum dkim_canon c, const char *body, size_t chunk, uint64_t limit,
                        unsigned char hash[DKIM_HASH_LEN])
{
    struct dkim_body b;
    struct buf copy;
    buf_init(&copy);
    dkim_body_init(&b, c, limit);
    b.copy = &copy;
    size_t len = strlen(body);
    for (size_t i = 0; i < len; i += chunk)
        dkim_body_update(&b, body + i, len - i < chunk ? len - i : chunk);
    dkim_body_final(&b, hash);
    assert_null(b.md);
    return copy.data ? copy.data : strdup("");
}

static void check_body(enum dkim_canon c, const char *body, const char *expect)
{
    for (size_t chunk = 1; chunk <= strlen(body) + 1; chunk++) {
        unsigned char hash[DKIM_HASH_LEN], want[DKIM_HASH_LEN];
        char *got = canon_body(c, body, chunk, DKIM_NO_LIMIT, hash);
        assert_string_equal(got, expect);
        unsigned n;
        EVP_Digest(expect, strlen(expect), want, &n, EVP_sha256(), NULL);
        assert_memory_equal(hash, want, DKIM_HASH_LEN);
        free(got);
    }
}

static void test_rfc_example_relaxed(void **state)
{
    struct buf out;
    buf_init(&out);
    canon_headers(DKIM_CANON_RELAXED, example_header, &out);
    assert_string_equal(out.data, "a:X\r\nb:Y Z\r\n");
    buf_free(&out);
    check_body(DKIM_CANON_RELAXED, example_body, " C\r\nD E\r\n");
}

static void test_rfc_example_simple(void **state)
{
    struct buf out;
    buf_init(&out);
    canon_headers(DKIM_CANON_SIMPLE, example_header, &out);
    assert_string_equal(out.data, example_header);
    buf_free(&out);
    check_body(DKIM_CANON_SIMPLE, example_body, " C \r\nD \t E\r\n");
}

static void test_empty_bodies(void **state)
{
    /* RFC 6376 3.4.3/3.4.4 and the known hashes of "" and CRLF. */
    check_body(DKIM_CANON_RELAXED, "", "");
    check_body(DKIM_CANON_RELAXED, "\r\n\r\n", "");
    check_body(DKIM_CANON_RELAXED, " \t\r\n  \r\n", "");
    check_body(DKIM_CANON_SIMPLE, "", "\r\n");
    check_body(DKIM_CANON_SIMPLE, "\r\n\r\n\r\n", "\r\n");
    check_body(DKIM_CANON_SIMPLE, " \r\n", " \r\n");
}

static void test_body_rules(void **state)
{
    /* No final CRLF: one is added. */
    check_body(DKIM_CANON_RELAXED, "abc", "abc\r\n");
    check_body(DKIM_CANON_SIMPLE, "abc", "abc\r\n");
    check_body(DKIM_CANON_RELAXED, "abc  \t", "abc\r\n");
    /* Empty lines inside the body stay; only trailing ones go. */
    check_body(DKIM_CANON_RELAXED, "a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n");
    check_body(DKIM_CANON_SIMPLE, "a\r\n\r\n  \r\n\r\n", "a\r\n\r\n  \r\n");
    /* Leading whitespace becomes one SP; a bare CR or LF is content. */
    check_body(DKIM_CANON_RELAXED, "\t\t x  y \r\n", " x y\r\n");
    check_body(DKIM_CANON_RELAXED, "a\rb\nc\r\n", "a\rb\nc\r\n");
    check_body(DKIM_CANON_RELAXED, "a\r\r\n", "a\r\r\n");
}

static void test_body_limit(void **state)
{
    unsigned char h1[DKIM_HASH_LEN], h2[DKIM_HASH_LEN];
    struct dkim_body b;
    dkim_body_init(&b, DKIM_CANON_RELAXED, 5);
    dkim_body_update(&b, "hello world\r\n", 13);
    assert_int_equal(b.length, 11); /* the last CRLF is held until the end */
    dkim_body_final(&b, h1);
    assert_int_equal(b.length, 13);
    unsigned n;
    EVP_Digest("hello", 5, h2, &n, EVP_sha256(), NULL);
    assert_memory_equal(h1, h2, DKIM_HASH_LEN);
    /* l=0 hashes nothing. */
    char *got = canon_body(DKIM_CANON_SIMPLE, "abc\r\n", 2, 0, h1);
    EVP_Digest("", 0, h2, &n, EVP_sha256(), NULL);
    assert_memory_equal(h1, h2, DKIM_HASH_LEN);
    assert_string_equal(got, "");
    free(got);
}

static void test_header_relaxed_details(void **state)
{
    struct buf out;
    buf_init(&out);
    const char *f = "SUBJect \t:  \t hello\r\n \t world \r\n\t \r\n";
    dkim_canon_header(DKIM_CANON_RELAXED, f, strlen(f), true, &out);
    assert_string_equal(out.data, "subject:hello world\r\n");
    buf_reset(&out);
    dkim_canon_header(DKIM_CANON_RELAXED, f, strlen(f), false, &out);
    assert_string_equal(out.data, "subject:hello world");
    buf_reset(&out);
    dkim_canon_header(DKIM_CANON_SIMPLE, f, strlen(f), false, &out);
    assert_int_equal(out.len, strlen(f) - 2);
    buf_reset(&out);
    dkim_canon_header(DKIM_CANON_RELAXED, "X:", 2, true, &out);
    assert_string_equal(out.data, "x:\r\n");
    /* Found by fuzz_dkim_canon: a malformed field without a colon kept its
     * own CRLF (and a fold) in its "name", so canonicalising twice differed. */
    buf_reset(&out);
    f = "Garbage Line\r\n continued \r\n";
    dkim_canon_header(DKIM_CANON_RELAXED, f, strlen(f), true, &out);
    assert_string_equal(out.data, "garbage line continued\r\n");
    buf_reset(&out);
    f = "From\r\n : x\r\n";
    dkim_canon_header(DKIM_CANON_RELAXED, f, strlen(f), true, &out);
    assert_string_equal(out.data, "from:x\r\n");
    buf_free(&out);
}

static void test_fields(void **state)
{
    const char *h = "From: a@b\r\nSubject: x\r\n y\r\nTo : c\r\n\r\nbody: no\r\n";
    size_t off = 0;
    struct dkim_field f;
    /* Found by fuzz_dkim_canon: only CRLF ends a line, as in the splitter;
     * a bare LF before a CRLF does not make an empty line. */
    const char *lf = "A: x\n\r\nB: y\r\n";
    assert_true(dkim_field_next(lf, strlen(lf), &off, &f));
    assert_int_equal(f.len, 7);
    assert_true(dkim_field_next(lf, strlen(lf), &off, &f));
    assert_memory_equal(f.name, "B", 1);
    assert_false(dkim_field_next(lf, strlen(lf), &off, &f));
    off = 0;
    assert_true(dkim_field_next(h, strlen(h), &off, &f));
    assert_int_equal(f.name_len, 4);
    assert_int_equal(f.len, 11);
    assert_true(dkim_field_next(h, strlen(h), &off, &f));
    assert_memory_equal(f.name, "Subject", 7);
    assert_int_equal(f.len, 16);
    assert_true(dkim_field_next(h, strlen(h), &off, &f));
    assert_int_equal(f.name_len, 2);
    assert_false(dkim_field_next(h, strlen(h), &off, &f));
}

static void test_split(void **state)
{
    const char *msg = "A: 1\r\nB: 2\r\n x\r\n\r\nbody\r\n\r\nmore\r\n";
    size_t hl = strlen("A: 1\r\nB: 2\r\n x\r\n");
    for (size_t chunk = 1; chunk <= strlen(msg); chunk++) {
        struct dkim_split s;
        dkim_split_init(&s, 1 << 20);
        struct buf body;
        buf_init(&body);
        for (size_t i = 0; i < strlen(msg); i += chunk) {
            size_t n = strlen(msg) - i < chunk ? strlen(msg) - i : chunk;
            size_t k = dkim_split_update(&s, msg + i, n);
            buf_append(&body, msg + i + k, n - k);
        }
        assert_true(s.in_body);
        assert_int_equal(s.header.len, hl);
        assert_memory_equal(s.header.data, msg, hl);
        assert_string_equal(body.data, "body\r\n\r\nmore\r\n");
        buf_free(&body);
        dkim_split_free(&s);
    }
    /* No header at all; a header section with no body; an overflow. */
    struct dkim_split s;
    dkim_split_init(&s, 8);
    assert_int_equal(dkim_split_update(&s, "\r\nbody", 6), 2);
    assert_true(s.in_body);
    assert_int_equal(s.header.len, 0);
    dkim_split_free(&s);
    dkim_split_init(&s, 8);
    assert_int_equal(dkim_split_update(&s, "A: 1\r\nB: 2\r\n", 12), 12);
    assert_false(s.in_body);
    assert_true(s.overflow);
    dkim_split_free(&s);
}

/* A whole-buffer reference of RFC 6376 3.4.3/3.4.4, written for clarity:
 * lines split at CRLF, relaxed whitespace rules per line, trailing empty
 * lines dropped, one CRLF at the end. */
static void reference(enum dkim_canon c, const char *in, size_t len, struct buf *out)
{
    struct buf lines;
    buf_init(&lines);
    size_t start = 0;
    for (;;) {
        size_t e = start;
        bool eol = false;
        for (; e < len; e++)
            if (in[e] == '\r' && e + 1 < len && in[e + 1] == '\n') {
                eol = true;
                break;
            }
        if (c == DKIM_CANON_RELAXED) {
            bool wsp = false;
            for (size_t k = start; k < e; k++) {
                if (in[k] == ' ' || in[k] == '\t') {
                    wsp = true;
                    continue;
                }
                if (wsp)
                    buf_append_char(&lines, ' ');
                wsp = false;
                buf_append_char(&lines, in[k]);
            }
        } else {
            buf_append(&lines, in + start, e - start);
        }
        /* A last line without CRLF gets one. */
        if (eol || e > start)
            buf_append(&lines, "\r\n", 2);
        if (!eol)
            break;
        start = e + 2;
    }
    /* Trailing empty lines go; an empty relaxed body stays empty. */
    while (lines.len >= 4 && memcmp(lines.data + lines.len - 4, "\r\n\r\n", 4) == 0)
        lines.len -= 2;
    if (lines.len == 2 && memcmp(lines.data, "\r\n", 2) == 0)
        lines.len = 0;
    if (lines.len == 0 && c == DKIM_CANON_SIMPLE)
        buf_append(&lines, "\r\n", 2);
    buf_append(out, lines.data ? lines.data : "", lines.len);
    buf_free(&lines);
}

static void test_body_random(void **state)
{
    static const char alphabet[] = "ab  \t\t\r\n\r\nx";
    srand(1234);
    for (int round = 0; round < 20000; round++) {
        char in[64];
        size_t len = (size_t)(rand() % (int)sizeof(in));
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        for (int c = 0; c < 2; c++) {
            struct buf want, got;
            buf_init(&want);
            buf_init(&got);
            reference(c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, in, len, &want);
            struct dkim_body b;
            dkim_body_init(&b, c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, DKIM_NO_LIMIT);
            b.copy = &got;
            size_t chunk = 1 + (size_t)(rand() % 8);
            for (size_t i = 0; i < len; i += chunk)
                dkim_body_update(&b, in + i, len - i < chunk ? len - i : chunk);
            unsigned char h[DKIM_HASH_LEN];
            dkim_body_final(&b, h);
            if (want.len != got.len || (want.len && memcmp(want.data, got.data, want.len) != 0))
                fail_msg("round %d canon %d: %zu vs %zu octets", round, c, want.len, got.len);
            assert_int_equal(b.length, want.len);
            buf_free(&want);
            buf_free(&got);
        }
    }
}

static void test_taglist(void **state)
{
    struct taglist tl;
    const char *s = " v=1; a=rsa-sha256;\r\n\td=example.com ; b=abc\r\n def ;";
    assert_null(taglist_parse(s, strlen(s), &tl));
    assert_int_equal(tl.n, 4);
    const struct taglist_tag *b = taglist_find(&tl, "b");
    assert_non_null(b);
    assert_int_equal(b->value_len, strlen("abc\r\n def"));
    struct buf out;
    buf_init(&out);
    taglist_value_compact(b, &out);
    assert_string_equal(out.data, "abcdef");
    buf_free(&out);
    assert_true(taglist_value_is(taglist_find(&tl, "d"), "EXAMPLE.com", true));
    assert_false(taglist_value_is(taglist_find(&tl, "d"), "EXAMPLE.com", false));
    assert_null(taglist_find(&tl, "D"));
    assert_null(taglist_parse("", 0, &tl));
    assert_int_equal(tl.n, 0);
    assert_null(taglist_parse("p=", 2, &tl));
    assert_int_equal(tl.n, 1);
    assert_int_equal(tl.tag[0].value_len, 0);

    static const char *bad[] = {
        "v=1; v=2", "v=1;;a=2", "=1", "1a=2",         "v 1",   "v=1\r\na=2", "v=1\na=2",
        "v=\x80",   "a=b\rc",   ";",  "v=1; a=b c;;", "a-b=1", "v=1 ; =",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(taglist_parse(bad[i], strlen(bad[i]), &tl));
    /* 32 tags are fine, 33 are not. */
    struct buf many;
    buf_init(&many);
    for (int i = 0; i < 33; i++)
        buf_printf(&many, "t%d=%d;", i, i);
    assert_non_null(taglist_parse(many.data, many.len, &tl));
    assert_null(taglist_parse(many.data, many.len - strlen("t32=32;"), &tl));
    buf_free(&many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example_relaxed),
        cmocka_unit_test(test_rfc_example_simple),
        cmocka_unit_test(test_empty_bodies),
        cmocka_unit_test(test_body_rules),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_header_relaxed_details),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_taglist),
        cmocka_unit_test(test_body_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
