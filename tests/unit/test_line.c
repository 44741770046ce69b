/* Unit tests for proto/line: the CRLF line splitter every session reads
 * its commands with. Limits, bare LF, over-long lines discarded across
 * reads, CR and NUL inside a line, and the chunking of the input never
 * changing what comes out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/line.h"
#include "util/buf.h"

#define MAX 512 /* the SMTP command limit, CRLF included */

static void test_line_crlf(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    const char *in = "EHLO x\r\nMAIL";
    assert_int_equal(line_next(&r, in, strlen(in), MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 6);
    assert_int_equal(used, 8);
    assert_int_equal(line_next(&r, in + used, 4, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(line_next(&r, "", 0, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 0);
}

static void test_line_bare_lf(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    assert_int_equal(line_next(&r, "NOOP\nQUIT\r\n", 11, MAX, &len, &used), LINE_BARE_LF);
    assert_int_equal(used, 5);
    assert_int_equal(line_next(&r, "\n", 1, MAX, &len, &used), LINE_BARE_LF);
    assert_int_equal(used, 1);
    /* A CR that is not right before the LF does not make it a CRLF. */
    assert_int_equal(line_next(&r, "NO\rOP\n", 6, MAX, &len, &used), LINE_BARE_LF);
    assert_int_equal(used, 6);
    /* A CR inside a line is the line's content: the command parser refuses it. */
    assert_int_equal(line_next(&r, "NO\rOP\r\n", 7, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 5);
    /* The empty line is a line. */
    assert_int_equal(line_next(&r, "\r\n", 2, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 0);
    assert_int_equal(used, 2);
}

static void test_line_limit_exact(void **state)
{
    struct line_reader r = {0};
    char in[MAX + 8];
    size_t len, used;
    memset(in, 'A', sizeof(in));
    memcpy(in + MAX - 2, "\r\n", 2); /* 510 octets + CRLF = 512: the longest line */
    assert_int_equal(line_next(&r, in, MAX, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, MAX - 2);
    assert_int_equal(used, MAX);
    memset(in, 'A', sizeof(in));
    memcpy(in + MAX - 1, "\r\n", 2); /* 511 + CRLF */
    assert_int_equal(line_next(&r, in, MAX + 1, MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, MAX + 1);
    assert_false(r.discarding);
    /* 511 octets ending in CR may still be a 512-octet line. */
    memset(in, 'A', sizeof(in));
    in[MAX - 2] = '\r';
    assert_int_equal(line_next(&r, in, MAX - 1, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 0);
    in[MAX - 1] = '\n';
    assert_int_equal(line_next(&r, in, MAX, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, MAX - 2);
    /* 512 octets and no end cannot become a valid line: discarded at once,
     * so that the caller never buffers more than a line. */
    memset(in, 'A', sizeof(in));
    assert_int_equal(line_next(&r, in, MAX, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, MAX);
    assert_true(r.discarding);
    assert_int_equal(line_next(&r, "\r\n", 2, MAX, &len, &used), LINE_TOO_LONG);
}

static void test_line_too_long_discard(void **state)
{
    struct line_reader r = {0};
    char big[700];
    size_t len, used;
    memset(big, 'A', sizeof(big));
    assert_int_equal(line_next(&r, big, 600, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 600); /* discarded, not buffered */
    assert_true(r.discarding);
    assert_int_equal(line_next(&r, big, 5, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 5);
    /* Reported once, at the line's end, and only that line is dropped. */
    const char *rest = "AA\r\nNOOP\r\n";
    assert_int_equal(line_next(&r, rest, strlen(rest), MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 4);
    assert_int_equal(line_next(&r, rest + 4, 6, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(rest + 4, "NOOP", 4);
    /* An over-long line ended by a bare LF is still reported once. */
    assert_int_equal(line_next(&r, big, 600, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(line_next(&r, "x\nNOOP\r\n", 8, MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 2);
    assert_false(r.discarding);
}

static void test_line_cr_split_while_discarding(void **state)
{
    struct line_reader r = {0};
    char big[601];
    size_t len, used;
    memset(big, 'A', 600);
    big[600] = '\r';
    assert_int_equal(line_next(&r, big, 601, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 600); /* the CR is kept for the next read */
    assert_int_equal(line_next(&r, "\r", 1, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(line_next(&r, "\r\nQUIT\r\n", 8, MAX, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 2);
    assert_int_equal(line_next(&r, "QUIT\r\n", 6, MAX, &len, &used), LINE_OK);
}

/* Drives the reader as a connection does (append, split, drop) and records
 * the results; the chunking of the input must never change them. */
static void drive(const char *in, size_t len, size_t chunk, struct buf *log)
{
    struct line_reader r = {0};
    struct buf pending;
    buf_init(&pending);
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        buf_append(&pending, in + pos, n);
        pos += n;
        for (;;) {
            size_t line_len, used;
            enum line_result res = line_next(&r, pending.data, pending.len, MAX, &line_len, &used);
            assert_true(used <= pending.len);
            if (res == LINE_OK) {
                buf_append_str(log, "OK:");
                buf_append(log, pending.data, line_len);
                buf_append_char(log, '|');
            } else if (res != LINE_NEED_MORE) {
                buf_printf(log, "E%d|", (int)res);
            }
            buf_consume(&pending, used);
            if (res == LINE_NEED_MORE)
                break;
        }
        assert_true(pending.len <= MAX);
    }
    buf_free(&pending);
}

static void test_line_chunking_invariant(void **state)
{
    struct buf in, whole;
    buf_init(&in);
    buf_init(&whole);
    buf_append_str(&in, "EHLO a\r\nNOOP\nRSET\r\n");
    for (int i = 0; i < 700; i++)
        buf_append_char(&in, 'x');
    buf_append_str(&in, "\r\n\r\nQUIT\r\n");
    for (int i = 0; i < 510; i++)
        buf_append_char(&in, 'y');
    buf_append_str(&in, "\r\nA\rB\r\n");
    drive(in.data, in.len, in.len, &whole);
    struct buf expect;
    buf_init(&expect);
    buf_printf(&expect, "OK:EHLO a|E%d|OK:RSET|E%d|OK:|OK:QUIT|OK:", LINE_BARE_LF, LINE_TOO_LONG);
    for (int i = 0; i < 510; i++)
        buf_append_char(&expect, 'y');
    buf_append_str(&expect, "|OK:A\rB|");
    assert_int_equal(whole.len, expect.len);
    assert_memory_equal(whole.data, expect.data, expect.len);
    buf_free(&expect);
    for (size_t chunk = 1; chunk < 40; chunk++) {
        struct buf log;
        buf_init(&log);
        drive(in.data, in.len, chunk, &log);
        assert_int_equal(log.len, whole.len);
        assert_memory_equal(log.data, whole.data, whole.len);
        buf_free(&log);
    }
    buf_free(&in);
    buf_free(&whole);
}

static void test_line_nul_is_content(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    /* NUL does not end or break a line: the command parsers refuse it. */
    assert_int_equal(line_next(&r, "NO\0OP\r\nX", 8, MAX, &len, &used), LINE_OK);
    assert_int_equal(len, 5);
    assert_int_equal(used, 7);
    assert_int_equal(line_next(&r, "\0\n", 2, MAX, &len, &used), LINE_BARE_LF);
    assert_int_equal(used, 2);
    assert_int_equal(line_next(&r, "\0\0\0", 3, MAX, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 0);
}

static void test_line_tiny_limits(void **state)
{
    struct line_reader r = {0};
    size_t len, used;
    /* max 2: only the empty line fits. */
    assert_int_equal(line_next(&r, "\r\n", 2, 2, &len, &used), LINE_OK);
    assert_int_equal(len, 0);
    assert_int_equal(line_next(&r, "a\r\n", 3, 2, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 3);
    /* "a" plus a CR at the limit: the CR is kept, the "a" is dropped. */
    assert_int_equal(line_next(&r, "a\r", 2, 2, &len, &used), LINE_NEED_MORE);
    assert_int_equal(used, 1);
    assert_true(r.discarding);
    assert_int_equal(line_next(&r, "\r\n", 2, 2, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 2);
    assert_false(r.discarding);
    /* max 1: even the empty line is too long, but the reader still ends it. */
    assert_int_equal(line_next(&r, "\r\nQ", 3, 1, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 2);
    assert_int_equal(len, 0);
}

static void test_line_other_limits(void **state)
{
    /* The same reader with the POP3 command limit (255) and a SASL limit. */
    struct line_reader r = {0};
    size_t len, used;
    char buf[4096];
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 253, "\r\n", 2);
    assert_int_equal(line_next(&r, buf, 255, 255, &len, &used), LINE_OK);
    assert_int_equal(len, 253);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 254, "\r\n", 2);
    assert_int_equal(line_next(&r, buf, 256, 255, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, 256);
    memset(buf, 'Q', sizeof(buf));
    memcpy(buf + sizeof(buf) - 2, "\r\n", 2);
    assert_int_equal(line_next(&r, buf, sizeof(buf), sizeof(buf), &len, &used), LINE_OK);
    assert_int_equal(len, sizeof(buf) - 2);
    assert_int_equal(line_next(&r, buf, sizeof(buf), 255, &len, &used), LINE_TOO_LONG);
    assert_int_equal(used, sizeof(buf));
    assert_false(r.discarding);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_crlf),
        cmocka_unit_test(test_line_bare_lf),
        cmocka_unit_test(test_line_limit_exact),
        cmocka_unit_test(test_line_too_long_discard),
        cmocka_unit_test(test_line_cr_split_while_discarding),
        cmocka_unit_test(test_line_chunking_invariant),
        cmocka_unit_test(test_line_nul_is_content),
        cmocka_unit_test(test_line_tiny_limits),
        cmocka_unit_test(test_line_other_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
