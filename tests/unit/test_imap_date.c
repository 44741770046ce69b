/* Unit tests for proto/imap_date: IMAP dates and date-times, both ways,
 * the RFC 5322 Date: field with its obsolete forms, day numbers across
 * month, year, leap-year and epoch boundaries, and the day an instant
 * falls on at an offset. Invalid input of every part is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_date.h"

static bool date(const char *s, int64_t *day)
{
    return imap_date_parse(s, strlen(s), day);
}

static void test_day_numbers(void **state)
{
    assert_int_equal(imap_day_from_civil(1970, 1, 1), 0);
    assert_int_equal(imap_day_from_civil(1969, 12, 31), -1);
    assert_int_equal(imap_day_from_civil(2000, 3, 1) - imap_day_from_civil(2000, 2, 28), 2);
    assert_int_equal(imap_day_from_civil(1900, 3, 1) - imap_day_from_civil(1900, 2, 28), 1);
    assert_int_equal(imap_day_from_civil(2024, 1, 1) - imap_day_from_civil(2023, 1, 1), 365);
    assert_int_equal(imap_day_from_civil(2025, 1, 1) - imap_day_from_civil(2024, 1, 1), 366);
    /* Round trip over many days, including negative ones. */
    for (int64_t d = -800000; d < 800000; d += 997) {
        int y, m, dd;
        imap_day_to_civil(d, &y, &m, &dd);
        assert_int_equal(imap_day_from_civil(y, m, dd), d);
        assert_true(m >= 1 && m <= 12 && dd >= 1 && dd <= 31);
    }
}

static void test_day_of(void **state)
{
    /* 1994-02-01 23:59:59 UTC */
    time_t t = (time_t)(imap_day_from_civil(1994, 2, 1) * 86400 + 86399);
    assert_int_equal(imap_day_of(t, 0), imap_day_from_civil(1994, 2, 1));
    assert_int_equal(imap_day_of(t + 1, 0), imap_day_from_civil(1994, 2, 2));
    assert_int_equal(imap_day_of(t, 1), imap_day_from_civil(1994, 2, 2));
    assert_int_equal(imap_day_of(t, -24 * 60 + 1), imap_day_from_civil(1994, 2, 1));
    assert_int_equal(imap_day_of(-1, 0), -1);
    assert_int_equal(imap_day_of(0, -1), -1);
    assert_int_equal(imap_day_of(-86400, 0), -1);
    assert_int_equal(imap_day_of(-86401, 0), -2);
}

static void test_date_parse(void **state)
{
    int64_t d;
    assert_true(date("1-Feb-1994", &d));
    assert_int_equal(d, imap_day_from_civil(1994, 2, 1));
    assert_true(date("01-feb-1994", &d));
    assert_int_equal(d, imap_day_from_civil(1994, 2, 1));
    assert_true(date("29-FEB-2024", &d));
    assert_int_equal(d, imap_day_from_civil(2024, 2, 29));
    assert_true(date("31-Dec-9999", &d));
    const char *bad[] = {
        "",           "1-Feb-94",    "29-Feb-2023", "0-Jan-2000",   "32-Jan-2000", "1-Fbr-2000",
        "1 Feb 2000", "1-Feb-2000 ", " 1-Feb-2000", "001-Feb-2000", "1-Feb-20000", "1-Feb",
        "-Feb-2000",  "31-Apr-2000", "1-Febr-2000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(date(bad[i], &d));
    /* Not NUL-terminated: only len counts. */
    assert_true(imap_date_parse("2-Mar-2001XYZ", 10, &d));
    assert_int_equal(d, imap_day_from_civil(2001, 3, 2));
}

static void test_date_format(void **state)
{
    char out[IMAP_DATE_LEN + 1];
    imap_date_format(imap_day_from_civil(1994, 2, 1), out);
    assert_string_equal(out, "01-Feb-1994");
    imap_date_format(imap_day_from_civil(2024, 12, 31), out);
    assert_string_equal(out, "31-Dec-2024");
    int64_t d;
    for (int64_t x = 0; x < 20000; x += 37) {
        imap_date_format(x, out);
        assert_true(date(out, &d));
        assert_int_equal(d, x);
    }
}

static void test_datetime(void **state)
{
    time_t t;
    int tz;
    const char *s = "17-Jul-1996 02:44:25 -0700";
    assert_true(imap_datetime_parse(s, strlen(s), &t, &tz));
    assert_int_equal(tz, -420);
    assert_int_equal(t, imap_day_from_civil(1996, 7, 17) * 86400 + 9 * 3600 + 44 * 60 + 25);
    char out[IMAP_DATETIME_LEN + 1];
    imap_datetime_format(t, tz, out);
    assert_string_equal(out, s);
    imap_datetime_format(t, 0, out);
    assert_string_equal(out, "17-Jul-1996 09:44:25 +0000");
    imap_datetime_format(t, 330, out);
    assert_string_equal(out, "17-Jul-1996 15:14:25 +0530");
    s = " 1-Jan-2000 00:00:00 +0100";
    assert_true(imap_datetime_parse(s, strlen(s), &t, &tz));
    assert_int_equal(t, imap_day_from_civil(2000, 1, 1) * 86400 - 3600);
    assert_int_equal(tz, 60);
    imap_datetime_format(t, tz, out);
    assert_string_equal(out, "01-Jan-2000 00:00:00 +0100");
    s = "31-Dec-1999 23:59:60 +0000"; /* a leap second */
    assert_true(imap_datetime_parse(s, strlen(s), &t, &tz));
    assert_int_equal(t, imap_day_from_civil(2000, 1, 1) * 86400 - 1);
    const char *bad[] = {
        "17-Jul-1996 02:44:25",       "17-Jul-1996 02:44 -0700",     "17-Jul-1996 24:00:00 +0000",
        "17-Jul-1996 02:60:00 +0000", "17-Jul-1996 02:44:25 -07",    "17-Jul-1996 02:44:25 0700",
        "17-Jul-1996 02:44:25 +0760", "17-Jul-1996  02:44:25 +0700", "17-Jul-1996 02:44:25 +0700 ",
        "30-Feb-1996 02:44:25 +0700", "17-Jul-1996T02:44:25 +0700",  ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(imap_datetime_parse(bad[i], strlen(bad[i]), &t, &tz));
}

static void check_5322(const char *s, int y, int mo, int d, int secs, int tz_want)
{
    time_t t;
    int tz;
    assert_true(imap_rfc5322_date_parse(s, strlen(s), &t, &tz));
    assert_int_equal(tz, tz_want);
    assert_int_equal(t, imap_day_from_civil(y, mo, d) * 86400 + secs - tz_want * 60);
}

static void test_rfc5322(void **state)
{
    check_5322("Tue, 1 Feb 1994 23:59:59 -0800", 1994, 2, 1, 86399, -480);
    check_5322(" Tue,  01 Feb 1994 23:59:59 -0800 (PST)", 1994, 2, 1, 86399, -480);
    check_5322("1 Feb 1994 10:00 +0000", 1994, 2, 1, 36000, 0);
    check_5322("Mon, 3 Jan 94 01:02:03 GMT", 1994, 1, 3, 3723, 0);
    check_5322("Mon, 3 Jan 04 01:02:03 EDT", 2004, 1, 3, 3723, -240);
    check_5322("Mon, 3 Jan 104 01:02:03 UT", 2004, 1, 3, 3723, 0);
    check_5322("Mon (day), 3 (x) Jan 2004\r\n 01:02:03 PST", 2004, 1, 3, 3723, -480);
    check_5322("3 June 2004 01:02:03 +0200", 2004, 6, 3, 3723, 120);
    check_5322("3 Jun 2004 01:02:03 A", 2004, 6, 3, 3723, 0);
    check_5322("3 Jun 2004 01:02:03", 2004, 6, 3, 3723, 0);
    time_t t;
    int tz;
    const char *bad[] = {"",
                         "Tue 1 Feb 1994 10:00 +0000",
                         "1 Fex 1994 10:00 +0000",
                         "31 Feb 1994 10:00 +0000",
                         "1 Feb 1994",
                         "1 Feb 1994 25:00 +0000",
                         "1 Feb 1994 10:00 +00",
                         "1 Feb 1 10:00 +0000",
                         "1 Feb 19945 10:00 +0000",
                         "1 Feb 1994 10:00 +0000 junk",
                         "1 Feb 1994 10:00 XYZW"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(imap_rfc5322_date_parse(bad[i], strlen(bad[i]), &t, &tz));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_numbers), cmocka_unit_test(test_day_of),
        cmocka_unit_test(test_date_parse),  cmocka_unit_test(test_date_format),
        cmocka_unit_test(test_datetime),    cmocka_unit_test(test_rfc5322),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
