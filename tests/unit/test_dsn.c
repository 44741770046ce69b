/* Bounce building (RFC 3464 / RFC 6522): structure, fields, and that no
 * value from outside can add a field or a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/dsn.h"

static const char HEADERS[] =
    "Received: from x\r\n\tby y\r\nSubject: hello\r\nMessage-ID: <m@x>\r\n";

static void build(const struct dsn_rcpt *r, size_t n, struct buf *out)
{
    struct dsn_info in = {
        .reporting_mta = "mx.example.test",
        .queue_id = "001ABC",
        .to = "alice@example.test",
        .envid = NULL,
        .arrival = 1700000000,
        .now = 1700000600,
        .boundary = "001XYZ/mx.example.test",
        .message_id = "<001XYZ.bounce@mx.example.test>",
        .rcpts = r,
        .nrcpts = n,
        .headers = HEADERS,
        .headers_len = sizeof(HEADERS) - 1,
    };
    buf_init(out);
    dsn_build(&in, out);
}

/* CRLF only, and no line over 998 octets. */
static void check_lines(const struct buf *b)
{
    size_t line = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\r') {
            assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
            assert_true(line <= 998);
            line = 0;
            i++;
            continue;
        }
        assert_int_not_equal(b->data[i], '\n');
        assert_int_not_equal(b->data[i], '\0');
        line++;
    }
    assert_int_equal(line, 0);
}

static void test_structure_and_fields(void **state)
{
    struct dsn_rcpt r = {
        .final_rcpt = "bob@remote.test",
        .orcpt = "rfc822;bob@remote.test",
        .action = "failed",
        .status = "5.1.1",
        .remote_mta = "mx1.remote.test",
        .diagnostic = "550 5.1.1 <bob@remote.test>: User unknown",
        .diagnostic_smtp = true,
        .last_attempt = 1700000500,
    };
    struct buf b;
    build(&r, 1, &b);
    check_lines(&b);
    const char *s = b.data;
    assert_non_null(strstr(s, "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n"));
    assert_non_null(strstr(s, "To: <alice@example.test>\r\n"));
    assert_non_null(strstr(s, "Auto-Submitted: auto-replied\r\n"));
    assert_non_null(strstr(s, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                              "\tboundary=\"001XYZ/mx.example.test\"\r\n"));
    assert_non_null(strstr(s, "Content-Type: message/delivery-status\r\n\r\n"
                              "Reporting-MTA: dns; mx.example.test\r\n"));
    assert_non_null(strstr(s, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(s, "\r\n\r\nFinal-Recipient: rfc822; bob@remote.test\r\n"
                              "Original-Recipient: rfc822;bob@remote.test\r\n"
                              "Action: failed\r\nStatus: 5.1.1\r\n"
                              "Remote-MTA: dns; mx1.remote.test\r\n"
                              "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: User unknown\r\n"
                              "Last-Attempt-Date: "));
    assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n\r\n"
                              "Received: from x\r\n\tby y\r\nSubject: hello\r\n"));
    assert_non_null(strstr(s, "<bob@remote.test>: host mx1.remote.test said: 550 5.1.1"));
    /* The closing boundary ends the message. */
    const char *end = "\r\n--001XYZ/mx.example.test--\r\n";
    assert_memory_equal(s + b.len - strlen(end), end, strlen(end));
    buf_free(&b);
}

static void test_hostile_values_cannot_add_fields(void **state)
{
    /* CR, LF, a header-like line, and 3,000 octets to fold. */
    char diag[3000];
    size_t n = (size_t)snprintf(diag, sizeof(diag), "550 evil\r\nX-Injected: yes\n");
    for (; n < sizeof(diag) - 1; n++)
        diag[n] = n % 7 == 0 ? ' ' : 'w';
    diag[n] = '\0';
    struct dsn_rcpt r = {
        .final_rcpt = "b\r\nX-Evil: 1@remote.test",
        .action = "failed",
        .status = "5.0.0",
        .remote_mta = "mx\nX-Evil: 2",
        .diagnostic = diag,
        .diagnostic_smtp = true,
    };
    struct buf b;
    build(&r, 1, &b);
    check_lines(&b);
    assert_null(strstr(b.data, "\r\nX-Injected"));
    assert_null(strstr(b.data, "\r\nX-Evil"));
    assert_non_null(strstr(b.data, "Final-Recipient: rfc822; b??X-Evil: 1@remote.test\r\n"));
    buf_free(&b);
}

static void test_utf8_address_and_our_reason(void **state)
{
    struct dsn_rcpt r = {
        .final_rcpt = "j\xc3\xb6rg@remote.test",
        .action = "failed",
        .status = "5.4.7",
        .diagnostic = "delivery time expired",
        .diagnostic_smtp = false,
    };
    struct buf b;
    build(&r, 1, &b);
    check_lines(&b);
    assert_non_null(strstr(b.data, "Final-Recipient: utf-8; j??rg@remote.test\r\n"));
    assert_non_null(strstr(b.data, "Diagnostic-Code: X-Postern; delivery time expired\r\n"));
    assert_null(strstr(b.data, "Remote-MTA"));
    buf_free(&b);
}

static void test_delay_warning(void **state)
{
    struct dsn_rcpt r = {
        .final_rcpt = "bob@remote.test",
        .action = "delayed",
        .status = "4.7.1",
        .remote_mta = "mx1.remote.test",
        .diagnostic = "451 4.7.1 greylisted",
        .diagnostic_smtp = true,
    };
    struct dsn_info in = {
        .reporting_mta = "mx.example.test",
        .queue_id = "001ABC",
        .to = "alice@example.test",
        .arrival = 1700000000,
        .now = 1700014400,
        .boundary = "b",
        .message_id = "<m@x>",
        .rcpts = &r,
        .nrcpts = 1,
        .kind = DSN_DELAY,
        .retry_until = 1700432000,
    };
    struct buf b;
    buf_init(&b);
    dsn_build(&in, &b);
    check_lines(&b);
    assert_non_null(strstr(b.data, "Subject: Delayed Mail (still being retried)\r\n"));
    assert_non_null(strstr(b.data, "Action: delayed\r\nStatus: 4.7.1\r\n"));
    assert_non_null(strstr(b.data, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(b.data, "THIS IS A WARNING ONLY"));
    assert_non_null(strstr(b.data, "Content-Description: Delayed Message Headers\r\n"));
    buf_free(&b);
}

static void test_success_report(void **state)
{
    struct dsn_rcpt r[] = {
        {.final_rcpt = "bob@example.test",
         .orcpt = "rfc822;team@example.test",
         .action = "delivered",
         .status = "2.0.0"},
        {.final_rcpt = "carol@remote.test",
         .action = "relayed",
         .status = "2.0.0",
         .remote_mta = "mx1.remote.test",
         .diagnostic = "250 2.0.0 Ok: queued as 42",
         .diagnostic_smtp = true},
    };
    struct dsn_info in = {
        .reporting_mta = "mx.example.test",
        .queue_id = "001ABC",
        .to = "alice@example.test",
        .envid = "env1",
        .arrival = 1700000000,
        .now = 1700000001,
        .boundary = "b",
        .message_id = "<m@x>",
        .rcpts = r,
        .nrcpts = 2,
        .headers = HEADERS,
        .headers_len = sizeof(HEADERS) - 1,
        .kind = DSN_SUCCESS,
    };
    struct buf b;
    buf_init(&b);
    dsn_build(&in, &b);
    check_lines(&b);
    assert_non_null(strstr(b.data, "Subject: Successful Mail Delivery Report\r\n"));
    assert_non_null(strstr(b.data, "Original-Envelope-Id: env1\r\n"));
    assert_non_null(strstr(b.data, "Final-Recipient: rfc822; bob@example.test\r\n"
                                   "Original-Recipient: rfc822;team@example.test\r\n"
                                   "Action: delivered\r\nStatus: 2.0.0\r\n"));
    assert_non_null(strstr(b.data, "Action: relayed\r\nStatus: 2.0.0\r\n"
                                   "Remote-MTA: dns; mx1.remote.test\r\n"));
    assert_null(strstr(b.data, "Will-Retry-Until"));
    assert_null(strstr(b.data, "could not be delivered"));
    assert_non_null(strstr(b.data, "Content-Description: Delivered Message Headers\r\n"
                                   "Content-Type: text/rfc822-headers\r\n"));
    buf_free(&b);
}

/* RET=FULL: the whole message, as message/rfc822, ends before the closing
 * delimiter with exactly its own last CRLF plus the delimiter's. */
static void test_failure_with_full_message(void **state)
{
    static const char MSG[] = "Subject: all of it\r\n\r\nline one\r\n\r\nline three\r\n";
    struct dsn_rcpt r = {.final_rcpt = "bob@remote.test", .action = "failed", .status = "5.1.1"};
    struct dsn_info in = {
        .reporting_mta = "mx.example.test",
        .queue_id = "001ABC",
        .to = "alice@example.test",
        .arrival = 1700000000,
        .now = 1700000001,
        .boundary = "b",
        .message_id = "<m@x>",
        .rcpts = &r,
        .nrcpts = 1,
        .headers = MSG,
        .headers_len = sizeof(MSG) - 1,
        .full = true,
    };
    struct buf b;
    buf_init(&b);
    dsn_build(&in, &b);
    check_lines(&b);
    assert_non_null(strstr(b.data, "It is attached below.\r\n"));
    assert_non_null(strstr(b.data, "Content-Description: Undelivered Message\r\n"
                                   "Content-Type: message/rfc822\r\n\r\n"
                                   "Subject: all of it\r\n\r\nline one\r\n\r\nline three\r\n"
                                   "\r\n--b--\r\n"));
    assert_null(strstr(b.data, "text/rfc822-headers"));
    buf_free(&b);
}

static void test_header_section_len(void **state)
{
    const char *m = "A: 1\r\nB: 2\r\n\r\nbody\r\n";
    assert_int_equal(dsn_header_section_len(m, strlen(m), 1000), 12);
    assert_int_equal(dsn_header_section_len("\r\nbody", 6, 1000), 0);
    /* No empty line within max: cut after the last whole line. */
    assert_int_equal(dsn_header_section_len(m, strlen(m), 8), 6);
    assert_int_equal(dsn_header_section_len("A: 1", 4, 1000), 0);
}

/* Values written without folding (our host name, the sender, each
 * recipient in the human part) are still broken before 998 octets (found
 * by fuzz_dsn: a 2,000-octet address made a 2,000-octet line). */
static void test_long_values_keep_lines_short(void **state)
{
    char *longv = malloc(2001);
    memset(longv, 'a', 2000);
    longv[2000] = '\0';
    struct dsn_rcpt r = {.final_rcpt = longv, .action = "failed", .status = "5.1.1"};
    struct dsn_info in = {
        .reporting_mta = longv,
        .queue_id = "Q",
        .to = longv,
        .arrival = 1700000000,
        .now = 1700000600,
        .boundary = "B",
        .message_id = "<m@x>",
        .rcpts = &r,
        .nrcpts = 1,
    };
    struct buf b;
    buf_init(&b);
    dsn_build(&in, &b);
    check_lines(&b);
    buf_free(&b);
    free(longv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_and_fields),
        cmocka_unit_test(test_hostile_values_cannot_add_fields),
        cmocka_unit_test(test_utf8_address_and_our_reason),
        cmocka_unit_test(test_delay_warning),
        cmocka_unit_test(test_success_report),
        cmocka_unit_test(test_failure_with_full_message),
        cmocka_unit_test(test_header_section_len),
        cmocka_unit_test(test_long_values_keep_lines_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
