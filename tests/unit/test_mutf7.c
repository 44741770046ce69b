/* Unit tests for proto/mutf7: IMAP modified UTF-7 to and from UTF-8. The
 * RFC 3501 example, "&-", surrogate pairs, every way of being invalid or
 * non-canonical in either direction (out left unchanged), and round trips
 * of every BMP character and of runs of every length (the BASE64 padding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mutf7.h"
#include "util/buf.h"

static void assert_decodes(const char *mutf7, const char *utf8)
{
    struct buf out;
    buf_init(&out);
    assert_true(mutf7_valid(mutf7, strlen(mutf7)));
    assert_true(mutf7_to_utf8(mutf7, strlen(mutf7), &out));
    assert_string_equal(out.data, utf8);
    /* and back: the canonical form */
    buf_reset(&out);
    assert_true(utf8_to_mutf7(utf8, strlen(utf8), &out));
    assert_string_equal(out.data, mutf7);
    buf_free(&out);
}

/* Invalid modified UTF-7: refused, and out keeps what it held. */
static void assert_bad_mutf7(const char *in, size_t len)
{
    struct buf out;
    buf_init(&out);
    buf_append_str(&out, "keep");
    assert_false(mutf7_valid(in, len));
    assert_false(mutf7_to_utf8(in, len, &out));
    assert_int_equal(out.len, 4);
    assert_string_equal(out.data, "keep");
    buf_free(&out);
}

static void assert_bad_utf8(const char *in, size_t len)
{
    struct buf out;
    buf_init(&out);
    buf_append_str(&out, "keep");
    assert_false(utf8_to_mutf7(in, len, &out));
    assert_int_equal(out.len, 4);
    assert_string_equal(out.data, "keep");
    buf_free(&out);
}

static void test_examples(void **state)
{
    (void)state;
    /* RFC 3501 5.1.3 */
    assert_decodes("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
                   "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    assert_decodes("&-", "&");
    assert_decodes("&-&-", "&&");
    assert_decodes("a&-b", "a&b");
    assert_decodes("", "");
    assert_decodes("INBOX", "INBOX");
    assert_decodes(" !~/.", " !~/.");
    assert_decodes("&AOE-", "\xc3\xa1");
    assert_decodes("&AOE-&-", "\xc3\xa1&");
    assert_decodes("&-&AOE-", "&\xc3\xa1");
    assert_decodes("ab&AOkA6A-", "ab\xc3\xa9\xc3\xa8");
    assert_decodes("&AOE-x&AOE-", "\xc3\xa1x\xc3\xa1");
    /* controls and DEL are encoded */
    assert_decodes("&AAE-", "\x01");
    assert_decodes("&AAk-", "\t");
    assert_decodes("&AH8-", "\x7f");
    /* U+1F600 as a surrogate pair */
    assert_decodes("&2D3eAA-", "\xf0\x9f\x98\x80");
    assert_decodes("a&2D3eAA-b", "a\xf0\x9f\x98\x80"
                                 "b");
    /* U+10FFFF, the last */
    assert_decodes("&2,,f,w-", "\xf4\x8f\xbf\xbf");
}

static void test_bad_mutf7(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "&",                                          /* unterminated */
        "a&",        "&AOE",  "&AOE&-", "&AOE-&AOE-", /* two runs side by side: "&AOEA4Q-" */
        "&Jjo!-",                                     /* not modified BASE64 */
        "&AO/-",                                      /* '/' is ',' in modified BASE64 */
        "&AO=-",     "&AGE-",                         /* 'a' encoded */
        "&ACA-",                                      /* space encoded */
        "&ACY-",                                      /* '&' encoded */
        "&AAA-",                                      /* NUL */
        "&2D0-",                                      /* a high surrogate alone */
        "&3gA-",                                      /* a low surrogate alone */
        "&2D0A4Q-",                                   /* high surrogate then U+00E1 */
        "&3gDYPQ-",                                   /* low then high */
        "&AOF-",                                      /* padding bits not zero */
        "&AOEA-",                                     /* a sixth bit too many */
        "&A-",                                        /* fewer bits than a character */
        "&AO-",      "\t",    "a\x7f",  "\xc3\xa1",   /* raw 8-bit */
        "&AOE-\x80", "&&-",   "&-&",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_bad_mutf7(bad[i], strlen(bad[i]));
    assert_bad_mutf7("a\0b", 3);
    assert_bad_mutf7("&AOE-\0", 6);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\x80", /* a continuation alone */
        "\xbf",
        "\xc0\xaf", /* overlong '/' */
        "\xc1\xbf",
        "\xe0\x80\xaf", /* overlong, 3 octets */
        "\xe0\x9f\xbf",
        "\xf0\x80\x80\xaf", /* overlong, 4 octets */
        "\xf0\x8f\xbf\xbf",
        "\xed\xa0\x80",     /* U+D800 */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* over U+10FFFF */
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xe6\x97", /* truncated */
        "a\xe6",
        "\xc3",
        "\xc3\x41", /* not a continuation */
        "\xe6\x97\x41",
        "\xf0\x9f\x98",
        "\xf0\x9f\x98\x41",
        "x\xc3\xa1\xc3", /* the run's last character truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_bad_utf8(bad[i], strlen(bad[i]));
    assert_bad_utf8("a\0b", 3);
    assert_bad_utf8("\xc3\xa1\0", 3);
    assert_bad_utf8("\0", 1);
}

/* The boundaries of each UTF-8 length, valid. */
static void test_utf8_boundaries(void **state)
{
    (void)state;
    static const char *const good[] = {"\xc2\x80",         "\xdf\xbf",        "\xe0\xa0\x80",
                                       "\xed\x9f\xbf",     "\xee\x80\x80",    "\xef\xbf\xbf",
                                       "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct buf m, u;
        buf_init(&m);
        buf_init(&u);
        assert_true(utf8_to_mutf7(good[i], strlen(good[i]), &m));
        assert_true(mutf7_valid(m.data, m.len));
        assert_true(mutf7_to_utf8(m.data, m.len, &u));
        assert_string_equal(u.data, good[i]);
        buf_free(&m);
        buf_free(&u);
    }
}

static size_t put_utf8(char *s, uint32_t cp)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    s[0] = (char)(0xf0 | (cp >> 18));
    s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    s[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Every character of the BMP (and a sample beyond) alone, between ASCII
 * and repeated 1 to 4 times (every padding length): encodes, is valid,
 * decodes to itself; printable ASCII is never encoded. */
static void test_round_trip_all(void **state)
{
    (void)state;
    struct buf m, u;
    buf_init(&m);
    buf_init(&u);
    for (uint32_t cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 97) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char s[32];
        size_t n = 0;
        s[n++] = 'x';
        for (uint32_t rep = 0; rep < 1 + cp % 4; rep++)
            n += put_utf8(s + n, cp);
        s[n++] = 'y';
        buf_reset(&m);
        buf_reset(&u);
        assert_true(utf8_to_mutf7(s, n, &m));
        assert_true(mutf7_valid(m.data, m.len));
        assert_true(mutf7_to_utf8(m.data, m.len, &u));
        assert_int_equal(u.len, n);
        assert_memory_equal(u.data, s, n);
        if (cp >= 0x20 && cp <= 0x7e && cp != '&')
            assert_null(memchr(m.data, '&', m.len));
        else
            assert_int_equal(m.data[1], '&');
    }
    buf_free(&m);
    buf_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),       cmocka_unit_test(test_bad_mutf7),
        cmocka_unit_test(test_bad_utf8),       cmocka_unit_test(test_utf8_boundaries),
        cmocka_unit_test(test_round_trip_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
