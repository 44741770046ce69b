/* Outbound MAIL/RCPT building: parameters, and no injection from queue data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_cmd.h"
#include "proto/smtp_parse.h"

static void test_mail(void **state)
{
    struct buf b;
    buf_init(&b);
    struct smtp_cmd_mail m = {.sender = "a@x.test"};
    smtp_cmd_mail(&b, &m);
    assert_string_equal(b.data, "MAIL FROM:<a@x.test>\r\n");
    buf_reset(&b);
    m = (struct smtp_cmd_mail){.sender = "",
                               .has_size = true,
                               .size = 12345,
                               .body_8bit = true,
                               .smtputf8 = true,
                               .ret = "HDRS",
                               .envid = "q+2Bid"};
    smtp_cmd_mail(&b, &m);
    assert_string_equal(b.data,
                        "MAIL FROM:<> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=q+2Bid\r\n");
    buf_reset(&b);
    /* An ENVID that is not plain xtext is left out, never sent. */
    m = (struct smtp_cmd_mail){.sender = "a@x.test", .envid = "x\r\nRSET"};
    smtp_cmd_mail(&b, &m);
    assert_string_equal(b.data, "MAIL FROM:<a@x.test>\r\n");
    buf_free(&b);
}

static void test_rcpt(void **state)
{
    struct buf b;
    buf_init(&b);
    smtp_cmd_rcpt(&b, "b@y.test", 0, NULL);
    assert_string_equal(b.data, "RCPT TO:<b@y.test>\r\n");
    buf_reset(&b);
    smtp_cmd_rcpt(&b, "b@y.test", SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS,
                  "rfc822;b@y.test");
    assert_string_equal(
        b.data, "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;b@y.test\r\n");
    buf_reset(&b);
    smtp_cmd_rcpt(&b, "b@y.test", SMTP_NOTIFY_NEVER, "no-semicolon");
    assert_string_equal(b.data, "RCPT TO:<b@y.test> NOTIFY=NEVER\r\n");
    buf_reset(&b);
    smtp_cmd_rcpt(&b, "b@y.test", 0, "rfc822;b@y.test\r\nDATA");
    assert_string_equal(b.data, "RCPT TO:<b@y.test>\r\n");
    buf_free(&b);
}

static void test_addresses_that_could_inject(void **state)
{
    assert_true(smtp_cmd_addr_ok("a@b", false));
    assert_true(smtp_cmd_addr_ok("", true));
    assert_false(smtp_cmd_addr_ok("", false));
    assert_false(smtp_cmd_addr_ok("a@b>\r\nRCPT TO:<c@d", false));
    assert_false(smtp_cmd_addr_ok("a b@c", false));
    assert_false(smtp_cmd_addr_ok("a@b\n", false));
    assert_false(smtp_cmd_addr_ok("a@b\r", false));
    assert_false(smtp_cmd_addr_ok("a@b\x7f", false));
    assert_false(smtp_cmd_addr_ok("no-at-sign", false));
    char longaddr[400];
    memset(longaddr, 'a', sizeof(longaddr) - 1);
    longaddr[sizeof(longaddr) - 1] = '\0';
    longaddr[10] = '@';
    assert_false(smtp_cmd_addr_ok(longaddr, false));
    /* UTF-8 is allowed (SMTPUTF8 decides elsewhere). */
    assert_true(smtp_cmd_addr_ok("j\xc3\xb6rg@b", false));
}

static void test_xtext(void **state)
{
    assert_true(smtp_cmd_xtext_ok("abc+2B"));
    assert_false(smtp_cmd_xtext_ok(NULL));
    assert_false(smtp_cmd_xtext_ok(""));
    assert_false(smtp_cmd_xtext_ok("a b"));
    assert_false(smtp_cmd_xtext_ok("a=b"));
    assert_false(smtp_cmd_xtext_ok("\xc3\xa9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail),
        cmocka_unit_test(test_rcpt),
        cmocka_unit_test(test_addresses_that_could_inject),
        cmocka_unit_test(test_xtext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
