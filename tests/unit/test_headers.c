/* Unit tests for proto/headers: the Received field (folding, CRLF, what a
 * hostile client can put in it) and the RFC 5322 date. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/headers.h"

static struct received_info base(void)
{
    return (struct received_info){
        .helo = "client.example",
        .client_ip = "192.0.2.1",
        .by_host = "mx.example.test",
        .protocol = "ESMTP",
        .tls = NULL,
        .queue_id = "0123456789ABCDEFGHIJ",
        .for_rcpt = "user@example.test",
        .when = 0,
    };
}

/* The structure every Received field must have, whatever went into it:
 * CRLF only, continuation lines start with a tab, lines <= 998 octets,
 * comments balanced and not nested, exactly one ';' (before the date). */
static void check_structure(const struct buf *b, int parens)
{
    const char *s = b->data;
    size_t len = b->len;
    assert_true(len > 2);
    assert_memory_equal(s, "Received: from ", 15);
    assert_memory_equal(s + len - 2, "\r\n", 2);
    size_t line = 0;
    int depth = 0, opened = 0, semis = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\r') {
            if (i + 1 >= len || s[i + 1] != '\n')
                fail_msg("bare CR at %zu", i);
            continue;
        }
        if (c == '\n') {
            if (i == 0 || s[i - 1] != '\r')
                fail_msg("bare LF at %zu", i);
            if (i + 1 < len && s[i + 1] != '\t')
                fail_msg("line at %zu is not a continuation", i + 1);
            line = 0;
            continue;
        }
        if (++line > 998)
            fail_msg("line longer than 998 octets at %zu", i);
        if ((unsigned char)c < 0x20 && c != '\t')
            fail_msg("control octet %#x at %zu", (unsigned char)c, i);
        if (c == '\t' && (i == 0 || s[i - 1] != '\n'))
            fail_msg("tab inside a line at %zu", i);
        if (c == '(') {
            if (depth++ != 0)
                fail_msg("nested comment at %zu", i);
            opened++;
        } else if (c == ')') {
            if (--depth != 0)
                fail_msg("unbalanced ')' at %zu", i);
        } else if (c == ';') {
            semis++;
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(opened, parens);
    assert_int_equal(semis, 1);
    const char *semi = memchr(s, ';', len);
    assert_memory_equal(semi, ";\r\n\t", 4);
}

static void test_received_exact(void **state)
{
    struct received_info ri = base();
    struct buf b;
    buf_init(&b);
    header_build_received(&b, &ri);
    static const char expect[] = "Received: from client.example (192.0.2.1)\r\n"
                                 "\tby mx.example.test (Postern) with ESMTP id "
                                 "0123456789ABCDEFGHIJ\r\n"
                                 "\tfor <user@example.test>;\r\n"
                                 "\tThu, 1 Jan 1970 00:00:00 +0000\r\n";
    assert_int_equal(b.len, sizeof(expect) - 1);
    assert_string_equal(b.data, expect);
    check_structure(&b, 2);
    buf_free(&b);
}

static void test_received_tls_and_optional(void **state)
{
    struct received_info ri = base();
    ri.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
    ri.protocol = "ESMTPS";
    ri.for_rcpt = NULL;
    ri.helo = NULL;
    ri.client_ip = NULL;
    struct buf b;
    buf_init(&b);
    header_build_received(&b, &ri);
    static const char expect[] = "Received: from unknown (unknown)\r\n"
                                 "\tby mx.example.test (Postern) with ESMTPS\r\n"
                                 "\t(TLSv1.3 TLS_AES_256_GCM_SHA384) id 0123456789ABCDEFGHIJ;\r\n"
                                 "\tThu, 1 Jan 1970 00:00:00 +0000\r\n";
    assert_string_equal(b.data, expect);
    check_structure(&b, 3);
    buf_reset(&b);
    ri.helo = "";
    header_build_received(&b, &ri);
    assert_memory_equal(b.data, "Received: from unknown (", 24);
    /* Appends: what was in the buffer stays. */
    buf_reset(&b);
    buf_append_str(&b, "X: y\r\n");
    header_build_received(&b, &ri);
    assert_memory_equal(b.data, "X: y\r\nReceived: from unknown", 28);
    buf_free(&b);
}

static void test_received_hostile_helo(void **state)
{
    struct received_info ri = base();
    ri.helo = "evil.example)\r\nX-Injected: yes\r\n\t(by fake";
    struct buf b;
    buf_init(&b);
    header_build_received(&b, &ri);
    assert_memory_equal(b.data, "Received: from evil.example???X-Injected:?yes????by?fake (", 58);
    assert_null(strstr(b.data, "\r\nX-Injected"));
    check_structure(&b, 2);
    static const char *const hostile[] = {
        "a) by mx.example.test (Postern) with ESMTP id X; Thu, 1 Jan 2099 00:00:00 +0000\r\n",
        "a\\) (b",
        "<script>",
        "x\ny",
        "x\rY: z",
        "\r\n\r\nbody",
        "((((",
        "))))",
        "a;b;c",
        "\x01\x02\x7f\x1b[2J",
        "tab\there",
        "m\xc3\xa4il.example",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        buf_reset(&b);
        ri.helo = hostile[i];
        ri.for_rcpt = hostile[i];
        ri.client_ip = hostile[i];
        ri.by_host = hostile[i];
        ri.tls = hostile[i];
        header_build_received(&b, &ri);
        check_structure(&b, 3);
    }
    /* UTF-8 names are kept as they are. */
    assert_non_null(strstr(b.data, "from m\xc3\xa4il.example ("));
    buf_free(&b);
}

static void test_received_long_values(void **state)
{
    char helo[2000];
    memset(helo, 'h', sizeof(helo) - 1);
    helo[sizeof(helo) - 1] = '\0';
    struct received_info ri = base();
    ri.helo = helo;
    ri.for_rcpt = helo;
    ri.tls = helo;
    ri.client_ip = helo;
    struct buf b;
    buf_init(&b);
    header_build_received(&b, &ri);
    check_structure(&b, 3); /* also: no line over 998 octets */
    const char *from = b.data + 15;
    size_t n = strspn(from, "h");
    assert_int_equal(n, 255); /* a HELO name is at most a domain's length */
    buf_free(&b);
}

static void test_date(void **state)
{
    static const struct {
        time_t t;
        const char *s;
    } cases[] = {
        {0, "Thu, 1 Jan 1970 00:00:00 +0000"},
        {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
        {1796040000, "Mon, 30 Nov 2026 12:00:00 +0000"},
        {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
        {4102444800, "Fri, 1 Jan 2100 00:00:00 +0000"},
        {1234567890, "Fri, 13 Feb 2009 23:31:30 +0000"},
    };
    char d[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        header_format_date(d, sizeof(d), cases[i].t);
        assert_string_equal(d, cases[i].s);
    }
    /* Truncated to the buffer, always terminated. */
    memset(d, 'X', sizeof(d));
    header_format_date(d, 10, 0);
    assert_string_equal(d, "Thu, 1 Ja");
    assert_int_equal(d[10], 'X');
    /* A time gmtime cannot represent still gives a well-formed string. */
    memset(d, 'X', sizeof(d));
    header_format_date(d, sizeof(d), (time_t)INT64_MAX);
    assert_non_null(memchr(d, '\0', sizeof(d)));
    assert_int_equal(strlen(d), 30);
    assert_non_null(strstr(d, " +0000"));
    /* Years gmtime can represent but an RFC 5322 date should not hold: past
     * INT_MAX (tm_year + 1900 overflowed, found by fuzz_dsn), past 9999, or
     * before year 0. */
    static const time_t far[] = {(time_t)2147484647 * 31556952, (time_t)10000 * 31556952 * 2,
                                 -(time_t)3000 * 31556952, (time_t)INT64_MIN};
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        header_format_date(d, sizeof(d), far[i]);
        assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
    }
    header_format_date(d, sizeof(d), (time_t)253402300799); /* the last second of 9999 */
    assert_string_equal(d, "Fri, 31 Dec 9999 23:59:59 +0000");
}

static void test_header_get(void **state)
{
    static const char h[] = "From: A <a@x.example>\r\n"
                            "Subject:  folded\r\n"
                            "\tpart two \r\n"
                            "subject: second\r\n"
                            "X-Empty:\r\n"
                            "\r\n"
                            "From: not a header\r\n";
    struct buf v;
    buf_init(&v);
    assert_int_equal(header_get(h, sizeof(h) - 1, "Subject", &v), 2);
    assert_string_equal(v.data, "folded\tpart two");
    assert_int_equal(header_get(h, sizeof(h) - 1, "FROM", &v), 1);
    assert_string_equal(v.data, "A <a@x.example>");
    assert_int_equal(header_get(h, sizeof(h) - 1, "X-Empty", &v), 1);
    assert_string_equal(v.data, "");
    assert_int_equal(header_get(h, sizeof(h) - 1, "To", NULL), 0);
    assert_int_equal(header_get(h, sizeof(h) - 1, "Fro", NULL), 0);
    assert_int_equal(header_get("", 0, "From", &v), 0);
    buf_free(&v);
}

static void test_header_addresses(void **state)
{
    char **a = NULL;
    size_t n = header_addresses("\"Doe, John\" <john@x.example>, b@y.example (Bee, B), "
                                "team: c@z.example, d@z.example;, <e@w.example>",
                                &a);
    static const char *const expect[] = {"john@x.example", "b@y.example", "c@z.example",
                                         "d@z.example", "e@w.example"};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i], expect[i]);
        free(a[i]);
    }
    free(a);
    a = NULL;
    assert_int_equal(header_addresses("undisclosed-recipients:;", &a), 0);
    free(a);
    a = NULL;
    assert_int_equal(header_addresses("", &a), 0);
    free(a);
}

/* Issue 11: whitespace before the colon still names the field (RFC 5322
 * 4.5.8), so "From :" cannot hide a second From from the checks. */
static void test_header_get_obs_colon(void **state)
{
    static const char h[] = "From: a@x.example\r\n"
                            "From \t: b@y.example\r\n"
                            "From-Not: c@z.example\r\n"
                            "Fromage: d@z.example\r\n"
                            "From\r\n"
                            "\r\n";
    struct buf v;
    buf_init(&v);
    assert_int_equal(header_get(h, sizeof(h) - 1, "From", &v), 2);
    assert_string_equal(v.data, "a@x.example");
    assert_int_equal(header_get(h + 19, sizeof(h) - 1 - 19, "from", &v), 1);
    assert_string_equal(v.data, "b@y.example");
    buf_free(&v);
}

/* Parses value; returns the count, or -1 for a syntax error, and the
 * addresses joined by " " in out. */
static int mailboxes(const char *value, char *out, size_t outlen)
{
    char **a;
    size_t n;
    out[0] = '\0';
    if (!header_mailboxes(value, strlen(value), &a, &n)) {
        assert_null(a);
        assert_int_equal(n, 0);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? " " : "", a[i]);
    header_mailboxes_free(a, n);
    return (int)n;
}

static void test_header_mailboxes(void **state)
{
    static const struct {
        const char *value;
        int n;
        const char *addrs;
    } cases[] = {
        {"a@x.example", 1, "a@x.example"},
        {"Joe Q. Public <john.q.public@example.com>", 1, "john.q.public@example.com"},
        {"\"Doe, John\" <john@x.example>", 1, "john@x.example"},
        {"\"ceo@bank.test\" <x@attacker.test>", 1, "x@attacker.test"},
        {"john@x.example (Doe, John)", 1, "john@x.example"},
        {"(c1 (nested) \\) ) <a@x.example> (c2)", 1, "a@x.example"},
        {"=?UTF-8?B?w4lsb2RpZQ==?= <e@x.example>", 1, "e@x.example"},
        {"\xc3\x89lodie <e@x.example>", 1, "e@x.example"},
        {"<@route.example,@other.example:a@x.example>", 1, "a@x.example"},
        {"\"john doe\"@x.example", 1, "\"john doe\"@x.example"},
        {"john . doe @ x . example", 1, "john.doe@x.example"},
        {"a@[192.0.2.1]", 1, "a@[192.0.2.1]"},
        {"Name<a@x.example>", 1, "a@x.example"},
        {"a@x.example, b@y.example", 2, "a@x.example b@y.example"},
        {"a@x.example,, ,b@y.example,", 2, "a@x.example b@y.example"},
        {"team: a@x.example, B <b@y.example>;, c@z.example", 3,
         "a@x.example b@y.example c@z.example"},
        {"undisclosed-recipients:;", 0, ""},
        {"", 0, ""},
        {"  (only a comment)  ", 0, ""},
        /* Syntax errors. */
        {"ceo@bank.test <x@attacker.test>", -1, ""},
        {"Doe, John <john@x.example>", -1, ""},
        {"nobody", -1, ""},
        {"<a@x.example", -1, ""},
        {"a@x.example>", -1, ""},
        {"\"unterminated <a@x.example>", -1, ""},
        {"(unterminated <a@x.example>", -1, ""},
        {"a@x.example)", -1, ""},
        {"a@x..example", -1, ""},
        {"a@x.example.", -1, ""},
        {"a@", -1, ""},
        {"@x.example", -1, ""},
        {"a@x.example b@y.example", -1, ""},
        {"<a@x.example> <b@y.example>", -1, ""},
        {"g1: g2: a@x.example;;", -1, ""},
        {"team: a@x.example", -1, ""},
        {"a@[x[y]", -1, ""},
        {"a\\b@x.example", -1, ""},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = mailboxes(cases[i].value, out, sizeof(out));
        if (n != cases[i].n || strcmp(out, cases[i].addrs) != 0)
            fail_msg("case %zu (%s): %d [%s]", i, cases[i].value, n, out);
    }
    /* A NUL inside the value is an error, wherever it is. */
    static const char nul[] = "\"a\0b\" <a@x.example>";
    char **a;
    size_t n;
    assert_false(header_mailboxes(nul, sizeof(nul) - 1, &a, &n));
    assert_false(header_mailboxes("a@x.example\0", 12, &a, &n));
    /* Found by fuzz_headers: a NUL escaped by a quoted-pair. */
    assert_false(header_mailboxes("\"\\\0e\"@x.example", 15, &a, &n));
    assert_false(header_mailboxes("(\\\0) a@x.example", 16, &a, &n));
    assert_true(header_mailboxes("a@x.example", 11, &a, &n));
    header_mailboxes_free(a, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_received_exact),
        cmocka_unit_test(test_received_tls_and_optional),
        cmocka_unit_test(test_received_hostile_helo),
        cmocka_unit_test(test_received_long_values),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_header_get),
        cmocka_unit_test(test_header_addresses),
        cmocka_unit_test(test_header_get_obs_colon),
        cmocka_unit_test(test_header_mailboxes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
