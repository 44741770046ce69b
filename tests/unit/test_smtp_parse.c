#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_parse.h"

static void test_line_crlf(void **state)
{
    struct smtp_line_reader r = {0};
    size_t len, used;
    const char *in = "EHLO x\r\nMAIL";
    assert_int_equal(smtp_line_next(&r, in, strlen(in), 512, &len, &used), SMTP_LINE_OK);
    assert_int_equal(len, 6);
    assert_int_equal(used, 8);
    assert_int_equal(smtp_line_next(&r, in + used, 4, 512, &len, &used), SMTP_LINE_NEED_MORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_crlf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
