/* Unit tests for proto/smtp_data: dot-unstuffing, the only real end
 * (CRLF.CRLF), every SMTP smuggling variant, flags, limits, chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_data.h"

struct result {
    int done;
    size_t consumed;
    unsigned flags;
    struct buf out;
    struct smtp_data_decoder d;
};

/* Feeds in[0..len) in pieces of chunk octets, stopping at the end. */
static void run(struct result *r, enum smtp_data_mode mode, uint64_t max, const char *in,
                size_t len, size_t chunk)
{
    smtp_data_decoder_init(&r->d, mode, max);
    buf_init(&r->out);
    r->done = 0;
    r->consumed = 0;
    while (r->consumed < len && !r->done) {
        size_t n = len - r->consumed < chunk ? len - r->consumed : chunk;
        size_t used = (size_t)-1;
        r->done = smtp_data_decode(&r->d, in + r->consumed, n, &used, &r->out);
        assert_true(used <= n);
        if (!r->done)
            assert_int_equal(used, n); /* without the end, every octet is the message's */
        r->consumed += used;
    }
    r->flags = r->d.flags;
}

static void done(struct result *r)
{
    buf_free(&r->out);
}

#define RUN(r, s) run(r, SMTP_DATA_DOT, 0, s, sizeof(s) - 1, sizeof(s))

static void assert_out(const struct result *r, const char *expect, size_t len)
{
    if (r->out.len != len || (len && memcmp(r->out.data, expect, len) != 0))
        fail_msg("output '%.*s' (%zu), expected '%.*s' (%zu)", (int)r->out.len,
                 r->out.len ? r->out.data : "", r->out.len, (int)len, expect, len);
}
#define ASSERT_OUT(r, s) assert_out(r, s, sizeof(s) - 1)

static void test_simple(void **state)
{
    struct result r;
    static const char in[] = "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    RUN(&r, in);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.consumed, sizeof(in) - 1 - 6); /* QUIT is not the message's */
    assert_int_equal(r.flags, 0);
    assert_null(smtp_data_error(&r.d));
    ASSERT_OUT(&r, "Subject: hi\r\n\r\nbody\r\n");
    assert_false(smtp_data_in_line(&r.d));
    assert_int_equal(r.d.size, r.out.len);
    done(&r);

    RUN(&r, ".\r\n"); /* the empty message */
    assert_int_equal(r.done, 1);
    assert_int_equal(r.consumed, 3);
    ASSERT_OUT(&r, "");
    done(&r);

    RUN(&r, "no end yet\r\n.");
    assert_int_equal(r.done, 0);
    assert_int_equal(r.consumed, 13);
    done(&r);
}

static void test_dot_unstuffing(void **state)
{
    struct result r;
    RUN(&r, "..hidden\r\n...\r\n..\r\n. x\r\na.b\r\na..\r\n.\r\n");
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, 0);
    ASSERT_OUT(&r, ".hidden\r\n..\r\n.\r\n x\r\na.b\r\na..\r\n");
    done(&r);
    /* A stuffed dot line is not the end. */
    RUN(&r, "a\r\n..\r\nb\r\n.\r\n");
    assert_int_equal(r.done, 1);
    ASSERT_OUT(&r, "a\r\n.\r\nb\r\n");
    done(&r);
    /* " .", ".. " and "x." at a line end are not the end either. */
    RUN(&r, "a\r\n .\r\nb.\r\n");
    assert_int_equal(r.done, 0);
    done(&r);
}

/* Each smuggling variant followed by an injected transaction: the message
 * must run to the real CRLF.CRLF and be refused there. */
static void test_smuggling(void **state)
{
#define SEP(s, f)                                                                                  \
    {                                                                                              \
        s, sizeof(s) - 1, f                                                                        \
    }
    static const struct {
        const char *sep;
        size_t len;
        unsigned flag;
    } v[] = {
        SEP("\n.\n", SMTP_DATA_BARE_LF),       SEP("\r.\r", SMTP_DATA_BARE_CR),
        SEP("\n.\r\n", SMTP_DATA_BARE_LF),     SEP("\r\n.\n", SMTP_DATA_BARE_LF),
        SEP("\r.\r\n", SMTP_DATA_BARE_CR),     SEP("\r\n.\r", SMTP_DATA_BARE_CR),
        SEP("\r\n.\r\r\n", SMTP_DATA_BARE_CR), SEP("\n.\r", SMTP_DATA_BARE_LF),
        SEP("\r\n\n.\r\n", SMTP_DATA_BARE_LF), SEP("\r\n.\r\r", SMTP_DATA_BARE_CR),
        SEP("\r\n.\n\r\n", SMTP_DATA_BARE_LF), SEP("\r\n\0.\r\n", SMTP_DATA_NUL),
        SEP("\r\n.\0\r\n", SMTP_DATA_NUL),
    };
#undef SEP
    static const char *const smuggled = "MAIL FROM:<admin@bank.example>\r\n"
                                        "RCPT TO:<victim@example.test>\r\nDATA\r\n"
                                        "From: admin@bank.example\r\n\r\nsend money\r\n";
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct buf in;
        buf_init(&in);
        buf_append_str(&in, "Subject: x\r\n\r\nbody");
        buf_append(&in, v[i].sep, v[i].len);
        buf_append_str(&in, smuggled);
        size_t before_end = in.len;
        buf_append_str(&in, ".\r\nRSET\r\n");
        for (size_t chunk = 1; chunk <= in.len; chunk += (chunk < 8 ? 1 : 37)) {
            struct result r;
            run(&r, SMTP_DATA_DOT, 0, in.data, in.len, chunk);
            if (r.done != 1 || r.consumed != before_end + 3)
                fail_msg("variant %zu chunk %zu: done %d at %zu, real end %zu", i, chunk, r.done,
                         r.consumed, before_end + 3);
            if (!(r.flags & v[i].flag))
                fail_msg("variant %zu: flags %#x, expected %#x", i, r.flags, v[i].flag);
            const struct smtp_error *e = smtp_data_error(&r.d);
            assert_non_null(e);
            assert_int_equal(e->code, 554);
            assert_string_equal(e->enhanced, "5.6.0");
            /* Output stops at the first offending octet. */
            assert_true(r.out.len <= 20);
            done(&r);
        }
        buf_free(&in);
    }
}

static void test_bare_cr_lf_flags(void **state)
{
    struct result r;
    RUN(&r, "a\rb\r\n.\r\n");
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, SMTP_DATA_BARE_CR);
    assert_non_null(strstr(smtp_data_error(&r.d)->text, "bare CR"));
    ASSERT_OUT(&r, "a"); /* nothing after the offending octet */
    done(&r);
    RUN(&r, "a\nb\r\n.\r\n");
    assert_int_equal(r.flags, SMTP_DATA_BARE_LF);
    assert_non_null(strstr(smtp_data_error(&r.d)->text, "bare LF"));
    ASSERT_OUT(&r, "a");
    done(&r);
    RUN(&r, "\n.\r\n"); /* at the very start */
    assert_int_equal(r.done, 0);
    assert_int_equal(r.flags, SMTP_DATA_BARE_LF);
    done(&r);
    RUN(&r, "a\r\r\n.\r\n"); /* CR CR LF: one bare CR, then a line end */
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, SMTP_DATA_BARE_CR);
    done(&r);
    RUN(&r, ".\r.\r\n"); /* ".\r" not followed by LF is no end */
    assert_int_equal(r.done, 0);
    assert_int_equal(r.flags, SMTP_DATA_BARE_CR);
    done(&r);
}

static void test_line_length(void **state)
{
    struct buf in;
    struct result r;
    buf_init(&in);
    for (int i = 0; i < 998; i++)
        buf_append_char(&in, 'x');
    buf_append_str(&in, "\r\n");
    for (int i = 0; i < 998; i++)
        buf_append_char(&in, 'y');
    buf_append_str(&in, "\r\n.\r\n");
    run(&r, SMTP_DATA_DOT, 0, in.data, in.len, in.len);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.out.len, in.len - 3);
    done(&r);
    /* A stuffed dot does not count: ".<998 octets>" is a 998-octet line. */
    buf_reset(&in);
    buf_append_char(&in, '.');
    for (int i = 0; i < 998; i++)
        buf_append_char(&in, 'z');
    buf_append_str(&in, "\r\n.\r\n");
    run(&r, SMTP_DATA_DOT, 0, in.data, in.len, 7);
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.out.len, 1000);
    done(&r);
    /* 999 octets: flagged, not truncated, and the end is still found. */
    buf_reset(&in);
    for (int i = 0; i < 999; i++)
        buf_append_char(&in, 'x');
    buf_append_str(&in, "\r\nafter\r\n.\r\n");
    run(&r, SMTP_DATA_DOT, 0, in.data, in.len, in.len);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.consumed, in.len);
    assert_int_equal(r.flags, SMTP_DATA_LONG_LINE);
    const struct smtp_error *e = smtp_data_error(&r.d);
    assert_int_equal(e->code, 554);
    assert_string_equal(e->enhanced, "5.6.0");
    assert_int_equal(r.out.len, 998);
    done(&r);
    buf_free(&in);
}

static void test_nul_and_8bit(void **state)
{
    struct result r;
    RUN(&r, "a\0b\r\n.\r\n");
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, SMTP_DATA_NUL);
    assert_int_equal(smtp_data_error(&r.d)->code, 554);
    done(&r);
    RUN(&r, "caf\xc3\xa9\r\n\xff\r\n.\r\n");
    assert_int_equal(r.flags, SMTP_DATA_8BIT);
    assert_null(smtp_data_error(&r.d));
    ASSERT_OUT(&r, "caf\xc3\xa9\r\n\xff\r\n");
    done(&r);
}

/* A CR, LF, NUL or 8-bit octet at every position around the 8-octet steps
 * of the scan (proto/octet_scan.h) is seen exactly where it is. */
static void test_special_octet_at_every_offset(void **state)
{
    static const struct {
        char c;
        unsigned flags;
    } cases[] = {{'\n', SMTP_DATA_BARE_LF}, {'\0', SMTP_DATA_NUL}, {'\x80', SMTP_DATA_8BIT}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        for (size_t off = 0; off < 40; off++) {
            char in[48 + 5];
            memset(in, 'a', 48);
            memcpy(in + 48, "\r\n.\r\n", 5);
            in[off] = cases[k].c;
            struct result r;
            run(&r, SMTP_DATA_DOT, 0, in, sizeof(in), sizeof(in));
            assert_int_equal(r.done, 1);
            assert_int_equal(r.consumed, sizeof(in));
            assert_int_equal(r.flags, cases[k].flags);
            if (cases[k].flags == SMTP_DATA_8BIT)
                assert_out(&r, in, 50);
            done(&r);
        }
    }
    /* A CRLF at every offset: two lines, nothing flagged. */
    for (size_t off = 0; off < 40; off++) {
        char in[48 + 5];
        memset(in, 'a', 48);
        memcpy(in + 48, "\r\n.\r\n", 5);
        memcpy(in + off, "\r\n", 2);
        struct result r;
        run(&r, SMTP_DATA_DOT, 0, in, sizeof(in), sizeof(in));
        assert_int_equal(r.done, 1);
        assert_int_equal(r.flags, 0);
        assert_out(&r, in, 50);
        done(&r);
    }
}

static void test_size_limit(void **state)
{
    struct result r;
    static const char ok[] = "12345678\r\n.\r\n"; /* 10 octets of content */
    run(&r, SMTP_DATA_DOT, 10, ok, sizeof(ok) - 1, 100);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.d.size, 10);
    done(&r);
    static const char big[] = "123456789\r\nmore\r\nand more\r\n.\r\n";
    run(&r, SMTP_DATA_DOT, 10, big, sizeof(big) - 1, 3);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.consumed, sizeof(big) - 1);
    assert_true(r.flags & SMTP_DATA_TOO_BIG);
    const struct smtp_error *e = smtp_data_error(&r.d);
    assert_int_equal(e->code, 552);
    assert_string_equal(e->enhanced, "5.3.4");
    assert_true(r.out.len <= 10); /* output stops at the limit */
    assert_true(r.d.size > 10);
    done(&r);
    /* Without an output buffer, only the size is counted. */
    struct smtp_data_decoder d;
    size_t used;
    smtp_data_decoder_init(&d, SMTP_DATA_DOT, 0);
    assert_int_equal(smtp_data_decode(&d, ok, sizeof(ok) - 1, &used, NULL), 1);
    assert_int_equal(d.size, 10);
}

/* The decoder's result never depends on how the input is split. */
static void test_split_invariance(void **state)
{
#define IN(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *s;
        size_t len;
    } inputs[] = {
        IN("Subject: x\r\n\r\n..a\r\n.b\r\n\r\n.\r\nNEXT"),
        IN("a\n.\nb\r\n.\r\n"),
        IN("a\r.\rb\r\n.\r\n"),
        IN(".\r.\r\r\n..\r\n.\r\n"),
        IN("x\r\r\r\n\r\n.\r\r\n.\r\n"),
        IN("\r\n.\r\n"),
        IN("tail without end\r"),
        IN("a\0\xff\r\n.\r\n"),
        IN(".\r\n"),
        IN("..\r\n.\r"),
    };
#undef IN
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        const char *in = inputs[i].s;
        size_t len = inputs[i].len;
        struct result whole;
        run(&whole, SMTP_DATA_DOT, 0, in, len, len);
        for (size_t chunk = 1; chunk < len; chunk++) {
            struct result r;
            run(&r, SMTP_DATA_DOT, 0, in, len, chunk);
            if (r.done != whole.done || r.consumed != whole.consumed || r.flags != whole.flags ||
                r.out.len != whole.out.len ||
                (r.out.len && memcmp(r.out.data, whole.out.data, r.out.len) != 0))
                fail_msg("input %zu differs when fed %zu octets at a time", i, chunk);
            done(&r);
        }
        done(&whole);
    }
}

static void test_chunk_mode(void **state)
{
    struct result r;
    static const char in[] = "a\r\n.\r\n..b\r\n";
    run(&r, SMTP_DATA_CHUNK, 0, in, sizeof(in) - 1, sizeof(in));
    assert_int_equal(r.done, 0); /* BDAT content has no terminator */
    assert_int_equal(r.consumed, sizeof(in) - 1);
    assert_int_equal(r.flags, 0);
    ASSERT_OUT(&r, "a\r\n.\r\n..b\r\n"); /* and no dot-stuffing */
    assert_false(smtp_data_in_line(&r.d));
    done(&r);
    run(&r, SMTP_DATA_CHUNK, 0, "abc", 3, 3);
    assert_true(smtp_data_in_line(&r.d));
    done(&r);
    /* A CRLF split across two BDAT chunks is a line end, not a bare CR. */
    struct smtp_data_decoder d;
    struct buf out;
    size_t used;
    buf_init(&out);
    smtp_data_decoder_init(&d, SMTP_DATA_CHUNK, 0);
    assert_int_equal(smtp_data_decode(&d, "line\r", 5, &used, &out), 0);
    assert_int_equal(used, 5);
    assert_true(smtp_data_in_line(&d));
    assert_int_equal(smtp_data_decode(&d, "\nnext\n", 6, &used, &out), 0);
    assert_int_equal(d.flags, SMTP_DATA_BARE_LF);
    assert_int_equal(out.len, 10);
    assert_memory_equal(out.data, "line\r\nnext", 10);
    buf_free(&out);
    run(&r, SMTP_DATA_CHUNK, 0, "a\rb", 3, 1);
    assert_int_equal(r.flags, SMTP_DATA_BARE_CR);
    assert_non_null(smtp_data_error(&r.d));
    done(&r);
    run(&r, SMTP_DATA_CHUNK, 4, "12345", 5, 2);
    assert_true(r.flags & SMTP_DATA_TOO_BIG);
    done(&r);
}

static void test_reinit(void **state)
{
    struct result r;
    RUN(&r, "a\nb\r\n.\r\n");
    assert_int_equal(r.flags, SMTP_DATA_BARE_LF);
    /* A new message starts clean. */
    smtp_data_decoder_init(&r.d, SMTP_DATA_DOT, 0);
    assert_int_equal(r.d.flags, 0);
    assert_int_equal(r.d.size, 0);
    assert_null(smtp_data_error(&r.d));
    assert_false(smtp_data_in_line(&r.d));
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_dot_unstuffing),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_bare_cr_lf_flags),
        cmocka_unit_test(test_line_length),
        cmocka_unit_test(test_nul_and_8bit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_split_invariance),
        cmocka_unit_test(test_chunk_mode),
        cmocka_unit_test(test_reinit),
        cmocka_unit_test(test_special_octet_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
