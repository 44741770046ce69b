/* The outbound reply parser, including the CVE-2020-8794 family of hostile
 * replies: short lines, endless continuations, huge lines, NUL, bare CR/LF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_reply.h"

/* Parses all of s; returns the last result. */
static int parse_all(struct smtp_reply_parser *p, const char *s, size_t len, size_t *used_r)
{
    smtp_reply_parser_init(p);
    return smtp_reply_parse(p, s, len, used_r);
}

static void test_single_line(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    const char *in = "250 2.1.0 Sender ok\r\n";
    assert_int_equal(parse_all(&p, in, strlen(in), &used), 1);
    assert_int_equal(used, strlen(in));
    assert_int_equal(p.reply.code, 250);
    assert_string_equal(p.reply.enhanced, "2.1.0");
    assert_string_equal(p.reply.text, "Sender ok");
    assert_int_equal(p.reply.nlines, 1);
}

static void test_multi_line_and_ehlo(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    const char *in = "250-mx.remote.test hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                     "250-STARTTLS\r\n250-auth plain login\r\n250-ENHANCEDSTATUSCODES\r\n"
                     "250-8BITMIME\r\n250 SMTPUTF8\r\n";
    assert_int_equal(parse_all(&p, in, strlen(in), &used), 1);
    assert_int_equal(used, strlen(in));
    assert_int_equal(p.reply.nlines, 8);
    struct smtp_ehlo e;
    smtp_reply_ehlo(&p.reply, &e);
    assert_true(e.pipelining);
    assert_true(e.starttls);
    assert_true(e.has_size);
    assert_int_equal(e.size, 10240000);
    assert_true(e.eightbitmime);
    assert_true(e.smtputf8);
    assert_true(e.enhancedstatuscodes);
    assert_false(e.dsn);
    assert_false(e.chunking);
    assert_string_equal(e.auth, "PLAIN LOGIN");
}

static void test_incremental_and_pipelined(void **state)
{
    struct smtp_reply_parser p;
    smtp_reply_parser_init(&p);
    const char *in = "250 ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n";
    size_t len = strlen(in), off = 0, used;
    int codes[3], n = 0;
    /* One octet at a time: state survives every split point. */
    while (off < len) {
        int rc = smtp_reply_parse(&p, in + off, 1, &used);
        assert_int_not_equal(rc, -1);
        off += used;
        if (rc == 1)
            codes[n++] = p.reply.code;
    }
    assert_int_equal(n, 3);
    assert_int_equal(codes[0], 250);
    assert_int_equal(codes[1], 550);
    assert_int_equal(codes[2], 354);
    /* All at once: each call stops at the end of one reply. */
    smtp_reply_parser_init(&p);
    assert_int_equal(smtp_reply_parse(&p, in, len, &used), 1);
    assert_int_equal(used, 8);
    assert_int_equal(smtp_reply_parse(&p, in + 8, len - 8, &used), 1);
    assert_int_equal(p.reply.code, 550);
    assert_string_equal(p.reply.enhanced, "5.1.1");
    assert_string_equal(p.reply.text, "no\nsuch user");
    struct buf b;
    buf_init(&b);
    smtp_reply_format(&p.reply, &b);
    assert_string_equal(b.data, "550 5.1.1 no such user");
    buf_free(&b);
}

static void test_code_alone(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    assert_int_equal(parse_all(&p, "250\r\n", 5, &used), 1);
    assert_int_equal(p.reply.code, 250);
    assert_string_equal(p.reply.text, "");
    assert_int_equal(p.reply.enhanced[0], '\0');
    struct buf b;
    buf_init(&b);
    smtp_reply_format(&p.reply, &b);
    assert_string_equal(b.data, "250");
    buf_free(&b);
    /* "250" with no CRLF yet: need more, nothing read past the input. */
    assert_int_equal(parse_all(&p, "250", 3, &used), 0);
    assert_int_equal(used, 3);
}

static void test_short_and_bad_codes(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    assert_int_equal(parse_all(&p, "2\r\n", 3, &used), -1);
    assert_non_null(p.error);
    assert_int_equal(parse_all(&p, "25\r\n", 4, &used), -1);
    assert_int_equal(parse_all(&p, "\r\n", 2, &used), -1);
    assert_int_equal(parse_all(&p, "abc ok\r\n", 8, &used), -1);
    assert_int_equal(parse_all(&p, "199 ok\r\n", 8, &used), -1);
    assert_int_equal(parse_all(&p, "600 ok\r\n", 8, &used), -1);
    assert_int_equal(parse_all(&p, "250xok\r\n", 8, &used), -1);
    assert_int_equal(parse_all(&p, "250\rX\n", 6, &used), -1);
    assert_int_equal(parse_all(&p, "250-a\r\n251 b\r\n", 14, &used), -1);
    /* The error is sticky. */
    assert_int_equal(smtp_reply_parse(&p, "250 ok\r\n", 8, &used), -1);
}

static void test_nul_and_bare_cr_lf_sanitized(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    const char in[] = "550 a\0b\rc\nd\r\r\n";
    assert_int_equal(parse_all(&p, in, sizeof(in) - 1, &used), 1);
    assert_int_equal(used, sizeof(in) - 1);
    assert_int_equal(p.reply.nlines, 1);
    assert_string_equal(p.reply.text, "a?b?c?d?");
    assert_int_equal(strlen(p.reply.text), p.reply.text_len);
    /* A bare LF never ends a line: "250-x\n250 y" is one unfinished line. */
    assert_int_equal(parse_all(&p, "250-x\n250 y", 11, &used), 0);
}

static void test_endless_continuations_bounded(void **state)
{
    struct smtp_reply_parser p;
    smtp_reply_parser_init(&p);
    const char *line = "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
    int rc = 0;
    size_t used;
    int lines = 0;
    for (; lines < 10000 && rc == 0; lines++)
        rc = smtp_reply_parse(&p, line, strlen(line), &used);
    assert_int_equal(rc, -1);
    assert_true(lines <= SMTP_REPLY_LINES_MAX);
    assert_true(p.reply.text_len <= SMTP_REPLY_TEXT_MAX);
}

static void test_huge_line_bounded(void **state)
{
    struct smtp_reply_parser p;
    size_t n = 1024 * 1024;
    char *big = malloc(n);
    memset(big, 'A', n);
    memcpy(big, "250 ", 4);
    size_t used;
    assert_int_equal(parse_all(&p, big, n, &used), -1);
    assert_true(used <= SMTP_REPLY_LINE_MAX + 1);
    free(big);
    /* Just under the limit is fine. */
    big = malloc(SMTP_REPLY_LINE_MAX);
    memset(big, 'B', SMTP_REPLY_LINE_MAX);
    memcpy(big, "250 ", 4);
    memcpy(big + SMTP_REPLY_LINE_MAX - 2, "\r\n", 2);
    assert_int_equal(parse_all(&p, big, SMTP_REPLY_LINE_MAX, &used), 1);
    free(big);
}

static void test_text_truncated(void **state)
{
    struct smtp_reply_parser p;
    smtp_reply_parser_init(&p);
    char line[1000];
    memset(line, 'z', sizeof(line));
    memcpy(line, "451-", 4);
    memcpy(line + sizeof(line) - 2, "\r\n", 2);
    size_t used;
    for (int i = 0; i < 10; i++)
        assert_int_equal(smtp_reply_parse(&p, line, sizeof(line), &used), 0);
    assert_int_equal(smtp_reply_parse(&p, "451 end\r\n", 9, &used), 1);
    assert_true(p.reply.truncated);
    assert_int_equal(p.reply.text_len, SMTP_REPLY_TEXT_MAX);
    assert_int_equal(strlen(p.reply.text), SMTP_REPLY_TEXT_MAX);
}

static void test_enhanced_code_rules(void **state)
{
    struct smtp_reply_parser p;
    size_t used;
    /* Class must match the reply's. */
    assert_int_equal(parse_all(&p, "250 5.1.1 odd\r\n", 15, &used), 1);
    assert_string_equal(p.reply.enhanced, "");
    assert_string_equal(p.reply.text, "5.1.1 odd");
    assert_int_equal(parse_all(&p, "421 4.4.2\r\n", 11, &used), 1);
    assert_string_equal(p.reply.enhanced, "4.4.2");
    assert_string_equal(p.reply.text, "");
    assert_int_equal(parse_all(&p, "550 5.1.1234 x\r\n", 16, &used), 1);
    assert_string_equal(p.reply.enhanced, "");
    assert_int_equal(parse_all(&p, "550 5.1.10 null MX\r\n", 20, &used), 1);
    assert_string_equal(p.reply.enhanced, "5.1.10");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line),
        cmocka_unit_test(test_multi_line_and_ehlo),
        cmocka_unit_test(test_incremental_and_pipelined),
        cmocka_unit_test(test_code_alone),
        cmocka_unit_test(test_short_and_bad_codes),
        cmocka_unit_test(test_nul_and_bare_cr_lf_sanitized),
        cmocka_unit_test(test_endless_continuations_bounded),
        cmocka_unit_test(test_huge_line_bounded),
        cmocka_unit_test(test_text_truncated),
        cmocka_unit_test(test_enhanced_code_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
