/* DNS record decoding and MX ordering (RFC 5321 5.1, RFC 7505). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns/rr.h"

static void test_mx_decode(void **state)
{
    const unsigned char rd[] = {0,   10,  3,   'M', 'x', '1', 6,   'r', 'e', 'm',
                                'o', 't', 'e', 4,   't', 'e', 's', 't', 0};
    struct dns_mx mx;
    assert_true(dns_rr_mx(rd, sizeof(rd), &mx));
    assert_int_equal(mx.pref, 10);
    assert_string_equal(mx.host, "mx1.remote.test");
}

static void test_null_mx(void **state)
{
    const unsigned char rd[] = {0, 0, 0};
    struct dns_mx mx;
    assert_true(dns_rr_mx(rd, sizeof(rd), &mx));
    assert_int_equal(mx.pref, 0);
    assert_string_equal(mx.host, "");
}

static void test_bad_names(void **state)
{
    struct dns_mx mx;
    /* compression pointer */
    const unsigned char ptr[] = {0, 1, 0xc0, 12};
    assert_false(dns_rr_mx(ptr, sizeof(ptr), &mx));
    /* label running past the end */
    const unsigned char trunc[] = {0, 1, 5, 'a', 'b'};
    assert_false(dns_rr_mx(trunc, sizeof(trunc), &mx));
    /* a dot, a space, a NUL inside a label: not a host name */
    const unsigned char dot[] = {0, 1, 3, 'a', '.', 'b', 0};
    assert_false(dns_rr_mx(dot, sizeof(dot), &mx));
    const unsigned char nul[] = {0, 1, 3, 'a', 0, 'b', 0};
    assert_false(dns_rr_mx(nul, sizeof(nul), &mx));
    /* trailing garbage after the name */
    const unsigned char extra[] = {0, 1, 1, 'a', 0, 'x'};
    assert_false(dns_rr_mx(extra, sizeof(extra), &mx));
    /* too short */
    assert_false(dns_rr_mx(ptr, 2, &mx));
}

static void test_txt(void **state)
{
    const unsigned char rd[] = {3, 'v', '=', 'x', 2, ' ', 'y', 0};
    struct buf b;
    buf_init(&b);
    assert_true(dns_rr_txt(rd, sizeof(rd), &b));
    assert_string_equal(b.data, "v=x y");
    const unsigned char bad[] = {5, 'a'};
    assert_false(dns_rr_txt(bad, sizeof(bad), &b));
    buf_free(&b);
}

static uint32_t counter_rnd(void *arg)
{
    uint32_t *c = arg;
    return (*c)++ * 2654435761u;
}

static void test_sort_and_shuffle(void **state)
{
    struct dns_mx mx[6] = {{20, "c"}, {10, "a1"}, {30, "d"}, {10, "a2"}, {10, "a3"}, {20, "c2"}};
    int seen_first[3] = {0};
    for (uint32_t seed = 0; seed < 60; seed++) {
        struct dns_mx m[6];
        memcpy(m, mx, sizeof(m));
        uint32_t c = seed;
        dns_mx_sort(m, 6, counter_rnd, &c);
        for (int i = 1; i < 6; i++)
            assert_true(m[i - 1].pref <= m[i].pref);
        assert_int_equal(m[5].pref, 30);
        seen_first[m[0].host[1] - '1']++;
    }
    /* Every equal-preference host comes first sometimes. */
    for (int i = 0; i < 3; i++)
        assert_true(seen_first[i] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_decode),        cmocka_unit_test(test_null_mx),
        cmocka_unit_test(test_bad_names),        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_sort_and_shuffle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
