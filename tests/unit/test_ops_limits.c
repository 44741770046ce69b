/* Unit tests for the issue 11 operations limits: [limits] connections_SERVICE
 * and max_hops in conf_load, and header_has_value (the Delivered-To: loop
 * check of local delivery). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "proto/headers.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    strcpy(dir, "/tmp/postern-test-opslimits-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/postern.conf", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return rmdir(dir);
}

#define MINIMAL "[listen]\nsmtp = 127.0.0.1:2525\n[domains]\nlocal = example.test\n"

static struct conf *load(const char *text, struct buf *err)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    buf_reset(err);
    return conf_load(path, err);
}

static void expect_error(const char *text, const char *what)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(text, &err);
    if (c != NULL)
        fail_msg("accepted:\n%s", text);
    if (err.data == NULL || strstr(err.data, what) == NULL)
        fail_msg("expected '%s' in:\n%s", what, err.data ? err.data : "(nothing)");
    buf_free(&err);
}

static void test_default_shares(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(MINIMAL, &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->connections_service[SERVICE_SMTP], 1500);
    assert_int_equal(c->connections_service[SERVICE_SUBMISSION], 500);
    assert_int_equal(c->connections_service[SERVICE_SUBMISSIONS], 500);
    assert_int_equal(c->connections_service[SERVICE_POP3], 500);
    assert_int_equal(c->connections_service[SERVICE_POP3S], 500);
    assert_int_equal(c->max_hops, 100);
    assert_int_equal(c->error_delay_ms, 1000);
    conf_free(&c);
    /* Derived from the total, whatever the key order; never 0. */
    c = load(MINIMAL "[limits]\nconnections = 3\n", &err);
    assert_non_null(c);
    assert_int_equal(c->connections_service[SERVICE_SMTP], 2);
    assert_int_equal(c->connections_service[SERVICE_POP3], 1);
    conf_free(&c);
    buf_free(&err);
}

static void test_explicit_shares(void **state)
{
    struct buf err;
    buf_init(&err);
    struct conf *c = load(MINIMAL "[limits]\nconnections_smtp = 40\nconnections = 100\n"
                                  "CONNECTIONS_POP3S = 7\nconnections_submission = 100\n"
                                  "max_hops = 30\nerror_delay = 250ms\n",
                          &err);
    if (c == NULL)
        fail_msg("%s", err.data);
    assert_int_equal(c->connections_service[SERVICE_SMTP], 40);
    assert_int_equal(c->connections_service[SERVICE_SUBMISSION], 100);
    assert_int_equal(c->connections_service[SERVICE_SUBMISSIONS], 25);
    assert_int_equal(c->connections_service[SERVICE_POP3], 25);
    assert_int_equal(c->connections_service[SERVICE_POP3S], 7);
    assert_int_equal(c->max_hops, 30);
    assert_int_equal(c->error_delay_ms, 250);
    conf_free(&c);
    buf_free(&err);
}

static void test_bad_shares(void **state)
{
    expect_error(MINIMAL "[limits]\nconnections_smtp = 0\n", ":6: [limits] connections_smtp:");
    expect_error(MINIMAL "[limits]\nconnections_smtp = lots\n", "[limits] connections_smtp:");
    expect_error(MINIMAL "[limits]\nconnections_lmtp = 5\n", "[limits] connections_lmtp: unknown");
    expect_error(MINIMAL "[limits]\nconnections_ = 5\n", "[limits] connections_: unknown");
    expect_error(MINIMAL "[limits]\nconnections = 10\nconnections_pop3 = 11\n",
                 "[limits] connections_pop3: 11 is more than connections (10)");
    expect_error(MINIMAL "[limits]\nmax_hops = 0\n", "[limits] max_hops:");
    expect_error(MINIMAL "[limits]\nmax_hops = 1001\n", "[limits] max_hops:");
    expect_error(MINIMAL "[limits]\nerror_delay = 2m\n", "[limits] error_delay:");
    expect_error(MINIMAL "[limits]\nerror_delay = soon\n", "[limits] error_delay:");
}

static void test_header_has_value(void **state)
{
    static const char h[] = "Received: from a\r\n"
                            "Delivered-To: other@example.test\r\n"
                            "delivered-to:   <Alice@Example.Test> \r\n"
                            "Delivered-To: bob@example.test,\r\n"
                            "X-Delivered-To: carol@example.test\r\n"
                            "Delivered-To:\r\n"
                            " folded@example.test\r\n"
                            "\r\n"
                            "Delivered-To: dave@example.test\r\n";
    size_t n = sizeof(h) - 1;
    assert_true(header_has_value(h, n, "Delivered-To", "alice@example.test"));
    assert_true(header_has_value(h, n, "Delivered-To", "other@example.test"));
    assert_true(header_has_value(h, n, "Delivered-To", "folded@example.test"));
    assert_false(header_has_value(h, n, "Delivered-To", "bob@example.test"));   /* not exact */
    assert_false(header_has_value(h, n, "Delivered-To", "carol@example.test")); /* other name */
    assert_false(header_has_value(h, n, "Delivered-To", "dave@example.test"));  /* body */
    assert_false(header_has_value(h, n, "Delivered-To", "alice@example"));
    assert_false(header_has_value(h, n, "Delivered-To", ""));
    assert_false(header_has_value("", 0, "Delivered-To", "a@b"));
    /* LF lines (a Maildir file), a cut-off section, NUL inside. */
    static const char lf[] = "Delivered-To: a@b\nSubject: x\n\nDelivered-To: c@d\n";
    assert_true(header_has_value(lf, sizeof(lf) - 1, "Delivered-To", "a@b"));
    assert_false(header_has_value(lf, sizeof(lf) - 1, "Delivered-To", "c@d"));
    assert_true(header_has_value("Delivered-To: a@b", 17, "Delivered-To", "a@b"));
    assert_false(header_has_value("Delivered-To: a@b", 16, "Delivered-To", "a@b"));
    static const char nul[] = "Delivered-To: a\0@b\r\n";
    assert_false(header_has_value(nul, sizeof(nul) - 1, "Delivered-To", "a"));
    assert_false(header_has_value("Delivered-To", 12, "Delivered-To", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_shares),
        cmocka_unit_test(test_explicit_shares),
        cmocka_unit_test(test_bad_shares),
        cmocka_unit_test(test_header_has_value),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
