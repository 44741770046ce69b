/* Unit tests for the pure maildirsize parser (store/maildirsize.c): the
 * limits line as Dovecot and Courier write it, usage lines summed, the
 * partial last line ignored, damaged text refused, the 5120-octet bound,
 * the trust rules (limits changed, negative sums, over quota with several
 * lines or an old file), what is written, and ",S=" in file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/maildirsize.h"

static enum maildirsize_parse_result parse(const char *text, struct maildirsize *m)
{
    return maildirsize_parse(text, strlen(text), m);
}

static void test_good(void **state)
{
    struct maildirsize m;
    assert_int_equal(parse("1073741824S\n4711 3\n", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes_limit == 1073741824u && m.count_limit == 0);
    assert_true(m.bytes == 4711 && m.count == 3 && m.lines == 1);
    assert_int_equal(parse("1000S,10C\n100 1\n-50 -1\n  200   2 \n", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes_limit == 1000 && m.count_limit == 10);
    assert_true(m.bytes == 250 && m.count == 2 && m.lines == 3);
    /* Count first, unknown items skipped, as Dovecot reads them. */
    assert_int_equal(parse("10C,5000S,7X\n1 1\n", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes_limit == 5000 && m.count_limit == 10);
    assert_int_equal(parse("0S\n0 0\n", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes_limit == 0 && m.bytes == 0);
    /* A line being written (no LF yet) is not counted. */
    assert_int_equal(parse("1000S\n10 1\n12", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes == 10 && m.lines == 1);
    /* Limits beyond int64 are capped (Dovecot). */
    assert_int_equal(parse("99999999999999999999S\n1 1\n", &m), MAILDIRSIZE_OK);
    assert_true(m.bytes_limit == (uint64_t)INT64_MAX);
}

static void test_bad(void **state)
{
    struct maildirsize m;
    assert_int_equal(parse("", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(parse("1000S", &m), MAILDIRSIZE_BROKEN); /* no complete line */
    assert_int_equal(parse("1000S\n", &m), MAILDIRSIZE_NO_USAGE);
    assert_int_equal(parse("1000S\n10\n", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(parse("1000S\n10 x\n", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(parse("1000S\n10 1 junk\n", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(parse("1000S\n\n", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(parse("1000S\n10 99999999999\n", &m), MAILDIRSIZE_BROKEN); /* count > int */
    assert_int_equal(parse("1000S\n9223372036854775807 1\n1 1\n", &m), MAILDIRSIZE_BROKEN);
    assert_int_equal(maildirsize_parse("1000S\n1\0 1\n", 11, &m), MAILDIRSIZE_BROKEN);
    char big[MAILDIRSIZE_FILE_MAX + 10];
    memset(big, '\n', sizeof(big));
    memcpy(big, "1000S\n", 6);
    for (size_t i = 6; i + 4 < sizeof(big); i += 4)
        memcpy(big + i, "1 1\n", 4);
    assert_int_equal(maildirsize_parse(big, MAILDIRSIZE_FILE_MAX, &m), MAILDIRSIZE_TOO_BIG);
    assert_int_equal(maildirsize_parse(big, MAILDIRSIZE_FILE_MAX - 2, &m), MAILDIRSIZE_OK);
}

static void test_trust(void **state)
{
    struct maildirsize m;
    assert_int_equal(parse("1000S\n400 2\n", &m), MAILDIRSIZE_OK);
    assert_true(maildirsize_trusted(&m, 1000, 0, 0));
    assert_false(maildirsize_trusted(&m, 2000, 0, 0)); /* limit changed */
    assert_false(maildirsize_trusted(&m, 1000, 5, 0));
    assert_true(maildirsize_trusted(&m, 1000, 0, 10 * 86400)); /* under quota: age is fine */
    assert_int_equal(parse("1000S\n400 2\n-500 -3\n", &m), MAILDIRSIZE_OK);
    assert_false(maildirsize_trusted(&m, 1000, 0, 0)); /* negative */
    assert_int_equal(parse("1000S\n1400 2\n", &m), MAILDIRSIZE_OK);
    assert_true(maildirsize_trusted(&m, 1000, 0, 60)); /* over, fresh summary */
    assert_false(maildirsize_trusted(&m, 1000, 0, MAILDIRSIZE_STALE_SECS + 1));
    assert_int_equal(parse("1000S\n900 2\n500 1\n", &m), MAILDIRSIZE_OK);
    assert_false(maildirsize_trusted(&m, 1000, 0, 0)); /* over after appends */
    assert_int_equal(parse("1000S,2C\n10 3\n", &m), MAILDIRSIZE_OK);
    assert_true(maildirsize_trusted(&m, 1000, 2, 0));
    assert_false(maildirsize_trusted(&m, 1000, 2, MAILDIRSIZE_STALE_SECS + 1));
}

static void test_format(void **state)
{
    char out[2 * MAILDIRSIZE_LINE_MAX];
    size_t n = maildirsize_format_file(out, sizeof(out), 1073741824, 0, 4711, 3);
    assert_int_equal(n, strlen("1073741824S\n4711 3\n"));
    assert_memory_equal(out, "1073741824S\n4711 3\n", n);
    n = maildirsize_format_file(out, sizeof(out), 0, 0, 0, 0);
    assert_memory_equal(out, "0S\n0 0\n", n); /* Dovecot writes 0S, not an empty line */
    n = maildirsize_format_file(out, sizeof(out), 100, 5, 1, 1);
    assert_memory_equal(out, "100S,5C\n1 1\n", n);
    n = maildirsize_format_file(out, sizeof(out), 0, 5, 1, 1);
    assert_memory_equal(out, "5C\n1 1\n", n);
    n = maildirsize_format_line(out, sizeof(out), -1200, -1);
    assert_memory_equal(out, "-1200 -1\n", n);
    assert_int_equal(maildirsize_format_line(out, 4, -1200, -1), 0);
}

static void test_name_size(void **state)
{
    uint64_t v = 0;
    assert_true(maildirsize_name_size("1.M2P3.host,S=1234,W=1260:2,S", &v) && v == 1234);
    assert_true(maildirsize_name_size("1.M2P3.host,S=77:2,", &v) && v == 77);
    assert_true(maildirsize_name_size("1.M2P3.host,S=5", &v) && v == 5);
    assert_false(maildirsize_name_size("1.M2P3.host", &v));
    assert_false(maildirsize_name_size("1.M2P3.host,S=12x:2,", &v));
    assert_false(maildirsize_name_size("1.M2P3.host,S=99999999999999999999999", &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),      cmocka_unit_test(test_bad),
        cmocka_unit_test(test_trust),     cmocka_unit_test(test_format),
        cmocka_unit_test(test_name_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
