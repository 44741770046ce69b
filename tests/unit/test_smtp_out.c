/* The outbound content encoder: only CRLF, at most 998 octets a line,
 * dot-stuffing, whatever the content and however it is split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_out.h"

static void encode(const char *in, size_t len, size_t chunk, struct buf *out, unsigned *flags_r)
{
    struct smtp_out_encoder e;
    smtp_out_init(&e);
    buf_reset(out);
    for (size_t off = 0; off < len; off += chunk)
        smtp_out_encode(&e, in + off, len - off < chunk ? len - off : chunk, out);
    smtp_out_finish(&e, out);
    *flags_r = e.flags;
}

/* Every line ends with CRLF, no bare CR or LF, no line above 998 octets,
 * ends with CRLF.CRLF only at the very end. */
static void check_wire(const struct buf *b)
{
    size_t line = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\r') {
            assert_true(i + 1 < b->len);
            assert_int_equal(b->data[i + 1], '\n');
            assert_true(line <= SMTP_OUT_LINE_MAX);
            line = 0;
            i++;
            continue;
        }
        assert_int_not_equal(b->data[i], '\n');
        line++;
    }
    assert_int_equal(line, 0);
    assert_true(b->len >= 3);
    assert_memory_equal(b->data + b->len - 3, ".\r\n", 3);
    if (b->len > 3) {
        const char *dot = strstr(b->data, "\r\n.\r\n");
        assert_ptr_equal(dot, b->data + b->len - 5);
    }
}

static void test_plain_and_dots(void **state)
{
    struct buf b;
    buf_init(&b);
    unsigned flags;
    const char *in = "Subject: x\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n";
    for (size_t chunk = 1; chunk <= strlen(in); chunk++) {
        encode(in, strlen(in), chunk, &b, &flags);
        assert_string_equal(b.data, "Subject: x\r\n\r\n..hidden\r\n...two\r\n..\r\nend\r\n.\r\n");
        assert_int_equal(flags, 0);
        check_wire(&b);
    }
    buf_free(&b);
}

static void test_bare_line_ends(void **state)
{
    struct buf b;
    buf_init(&b);
    unsigned flags;
    const char *in = "a\nb\rc\r\r\n.\n.\r\rd";
    for (size_t chunk = 1; chunk <= strlen(in); chunk++) {
        encode(in, strlen(in), chunk, &b, &flags);
        assert_string_equal(b.data, "a\r\nb\r\nc\r\n\r\n..\r\n..\r\n\r\nd\r\n.\r\n");
        assert_true(flags & SMTP_OUT_FIXED_EOL);
        check_wire(&b);
    }
    /* Smuggling attempts come out as plain, stuffed lines. */
    const char *smuggle = "x\r\n\n.\r\nMAIL FROM:<a@b>\r\n\r.\r\n";
    encode(smuggle, strlen(smuggle), 3, &b, &flags);
    check_wire(&b);
    buf_free(&b);
}

static void test_long_lines_folded(void **state)
{
    struct buf b;
    buf_init(&b);
    unsigned flags;
    size_t n = 5000;
    char *in = malloc(n + 2);
    memset(in, 'x', n);
    in[0] = '.';
    memcpy(in + n, "\r\n", 2);
    for (size_t chunk = 997; chunk <= 1001; chunk++) {
        encode(in, n + 2, chunk, &b, &flags);
        assert_true(flags & SMTP_OUT_FOLDED);
        check_wire(&b);
        /* Nothing lost: removing the folds and the stuffing gives the input. */
        struct buf back;
        buf_init(&back);
        for (size_t i = 0; i < b.len - 3; i++) {
            if (i + 2 < b.len && memcmp(b.data + i, "\r\n ", 3) == 0) {
                i += 2;
                continue;
            }
            if (i == 0 && b.data[0] == '.')
                continue;
            buf_append_char(&back, b.data[i]);
        }
        assert_int_equal(back.len, n + 2);
        assert_memory_equal(back.data, in, n + 2);
        buf_free(&back);
    }
    /* Exactly 998 octets: untouched. */
    memset(in, 'y', 998);
    memcpy(in + 998, "\r\n", 2);
    encode(in, 1000, 64, &b, &flags);
    assert_int_equal(flags, 0);
    assert_int_equal(b.len, 1003);
    free(in);
    buf_free(&b);
}

static void test_empty_and_unterminated(void **state)
{
    struct buf b;
    buf_init(&b);
    unsigned flags;
    encode("", 0, 1, &b, &flags);
    assert_string_equal(b.data, ".\r\n");
    encode("no newline", 10, 4, &b, &flags);
    assert_string_equal(b.data, "no newline\r\n.\r\n");
    encode("cr\r", 3, 1, &b, &flags);
    assert_string_equal(b.data, "cr\r\n.\r\n");
    buf_free(&b);
}

/* Line ends at every position around the 8-octet steps of the scan
 * (proto/octet_scan.h): found exactly where they are. */
static void test_line_end_at_every_offset(void **state)
{
    struct buf b;
    buf_init(&b);
    for (size_t off = 0; off < 40; off++) {
        char in[64], expect[80];
        unsigned flags;
        memset(in, 'a', sizeof(in));
        in[off] = '\n';
        in[off + 1] = '.'; /* the next line starts with a dot: stuffed */
        encode(in, sizeof(in), sizeof(in), &b, &flags);
        size_t n = 0;
        memcpy(expect, in, off);
        n += off;
        memcpy(expect + n, "\r\n..", 4);
        n += 4;
        memcpy(expect + n, in + off + 2, sizeof(in) - off - 2);
        n += sizeof(in) - off - 2;
        memcpy(expect + n, "\r\n.\r\n", 5);
        n += 5;
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, expect, n);
        assert_int_equal(flags, SMTP_OUT_FIXED_EOL);
        in[off] = '\r';
        in[off + 1] = '\n';
        encode(in, sizeof(in), 7, &b, &flags);
        assert_int_equal(flags, 0);
        check_wire(&b);
        assert_int_equal(b.len, sizeof(in) + 5);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_dots),
        cmocka_unit_test(test_bare_line_ends),
        cmocka_unit_test(test_long_lines_folded),
        cmocka_unit_test(test_empty_and_unterminated),
        cmocka_unit_test(test_line_end_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
