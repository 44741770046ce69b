/* Unit tests for proto/imap_seqset: the sequence-set grammar (good and
 * bad), '*' resolved late and in either order, "$", membership against a
 * brute-force model, iteration, counting, huge and numerous ranges without
 * memory per number, and the compact formatting of number lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_seqset.h"
#include "util/buf.h"

static enum imap_seqset_result parse(const char *s, struct imap_seqset *set)
{
    return imap_seqset_parse(s, strlen(s), false, set);
}

static void test_parse_good(void **state)
{
    struct imap_seqset set;
    assert_int_equal(parse("1", &set), IMAP_SEQSET_OK);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.ranges[0].first, 1);
    assert_int_equal(set.ranges[0].last, 1);
    imap_seqset_free(&set);
    assert_int_equal(parse("1,3:4,7:*", &set), IMAP_SEQSET_OK);
    assert_int_equal(set.n, 3);
    assert_int_equal(set.ranges[1].first, 3);
    assert_int_equal(set.ranges[1].last, 4);
    assert_int_equal(set.ranges[2].first, 7);
    assert_int_equal(set.ranges[2].last, IMAP_SEQ_STAR);
    assert_false(set.saved);
    imap_seqset_free(&set);
    assert_int_equal(parse("*", &set), IMAP_SEQSET_OK);
    assert_int_equal(set.ranges[0].first, IMAP_SEQ_STAR);
    imap_seqset_free(&set);
    assert_int_equal(parse("4294967295", &set), IMAP_SEQSET_OK);
    assert_int_equal(set.ranges[0].first, UINT32_MAX);
    imap_seqset_free(&set);
    assert_int_equal(parse("5:2", &set), IMAP_SEQSET_OK);
    assert_int_equal(set.ranges[0].first, 5);
    assert_int_equal(set.ranges[0].last, 2);
    imap_seqset_free(&set);
    /* "$" only when allowed, and only alone. */
    assert_int_equal(imap_seqset_parse("$", 1, true, &set), IMAP_SEQSET_OK);
    assert_true(set.saved);
    assert_int_equal(set.n, 0);
    imap_seqset_free(&set);
    assert_int_equal(imap_seqset_parse("$", 1, false, &set), IMAP_SEQSET_SAVED);
    assert_int_equal(imap_seqset_parse("$,1", 3, true, &set), IMAP_SEQSET_SYNTAX);
    /* Only len counts. */
    assert_int_equal(imap_seqset_parse("12,x", 2, false, &set), IMAP_SEQSET_OK);
    assert_int_equal(set.ranges[0].first, 12);
    imap_seqset_free(&set);
}

static void test_parse_bad(void **state)
{
    struct {
        const char *s;
        enum imap_seqset_result r;
    } bad[] = {
        {"", IMAP_SEQSET_SYNTAX},
        {",", IMAP_SEQSET_SYNTAX},
        {"1,", IMAP_SEQSET_SYNTAX},
        {",1", IMAP_SEQSET_SYNTAX},
        {"1,,2", IMAP_SEQSET_SYNTAX},
        {"1:", IMAP_SEQSET_SYNTAX},
        {":1", IMAP_SEQSET_SYNTAX},
        {"1:2:3", IMAP_SEQSET_SYNTAX},
        {"1 2", IMAP_SEQSET_SYNTAX},
        {"a", IMAP_SEQSET_SYNTAX},
        {"-1", IMAP_SEQSET_SYNTAX},
        {"+1", IMAP_SEQSET_SYNTAX},
        {"**", IMAP_SEQSET_SYNTAX},
        {"1*", IMAP_SEQSET_SYNTAX},
        {"01", IMAP_SEQSET_SYNTAX},
        {"0", IMAP_SEQSET_ZERO},
        {"1:0", IMAP_SEQSET_ZERO},
        {"0:*", IMAP_SEQSET_ZERO},
        {"4294967296", IMAP_SEQSET_RANGE},
        {"1:99999999999999999999999", IMAP_SEQSET_RANGE},
        {"18446744073709551617", IMAP_SEQSET_RANGE},
        {"$", IMAP_SEQSET_SAVED},
        {"1:$", IMAP_SEQSET_SYNTAX},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imap_seqset set = {(void *)1, 7, true};
        enum imap_seqset_result r = parse(bad[i].s, &set);
        if (r != bad[i].r)
            fail_msg("\"%s\": %d, expected %d", bad[i].s, r, bad[i].r);
        assert_null(set.ranges);
        assert_int_equal(set.n, 0);
        assert_false(set.saved);
        assert_non_null(imap_seqset_error(r));
    }
}

/* The model: membership by the definition, range by range. */
static bool model_contains(const char *s, uint32_t n, uint32_t star)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", s);
    for (char *part = strtok(copy, ","); part; part = strtok(NULL, ",")) {
        char *colon = strchr(part, ':');
        uint64_t a = part[0] == '*' ? star : strtoull(part, NULL, 10);
        uint64_t b = colon ? (colon[1] == '*' ? star : strtoull(colon + 1, NULL, 10)) : a;
        if (a == 0 || b == 0)
            continue;
        if ((n >= a && n <= b) || (n >= b && n <= a))
            return true;
    }
    return false;
}

static void test_contains_model(void **state)
{
    const char *sets[] = {
        "1",      "*", "5:*", "*:5", "1,3:4,7:*", "9:3,2", "1:2,2:3,3:4,10", "20:25,1:3,4:6,*",
        "3:3,7:5"};
    uint32_t stars[] = {0, 1, 4, 6, 10, 30};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        struct imap_seqset set;
        assert_int_equal(parse(sets[i], &set), IMAP_SEQSET_OK);
        for (size_t j = 0; j < sizeof(stars) / sizeof(stars[0]); j++) {
            struct imap_seqlist list;
            imap_seqset_resolve(&set, stars[j], &list);
            uint64_t count = 0;
            for (uint32_t n = 1; n <= 40; n++) {
                bool want = model_contains(sets[i], n, stars[j]);
                if (imap_seqset_contains(&set, n, stars[j]) != want ||
                    imap_seqlist_contains(&list, n) != want)
                    fail_msg("%s star %u n %u: want %d", sets[i], stars[j], n, want);
                count += want;
            }
            assert_int_equal(imap_seqlist_count(&list), count);
            /* Sorted, disjoint, not adjacent. */
            for (size_t k = 0; k < list.n; k++) {
                assert_true(list.ranges[k].first >= 1);
                assert_true(list.ranges[k].first <= list.ranges[k].last);
                if (k > 0)
                    assert_true((uint64_t)list.ranges[k - 1].last + 1 < list.ranges[k].first);
            }
            /* Iteration gives exactly the members, ascending. */
            struct imap_seqlist_iter it;
            uint32_t n, prev = 0;
            uint64_t seen = 0;
            for (imap_seqlist_iter_init(&it, &list); imap_seqlist_next(&it, &n);) {
                assert_true(n > prev);
                assert_true(model_contains(sets[i], n, stars[j]));
                prev = n;
                seen++;
            }
            assert_int_equal(seen, count);
            imap_seqlist_free(&list);
        }
        imap_seqset_free(&set);
    }
}

static void test_star_semantics(void **state)
{
    struct imap_seqset set;
    /* UID 559:* with the largest UID 100 is 100:559 (RFC 9051 6.4.8). */
    assert_int_equal(parse("559:*", &set), IMAP_SEQSET_OK);
    assert_true(imap_seqset_contains(&set, 100, 100));
    assert_true(imap_seqset_contains(&set, 559, 100));
    assert_false(imap_seqset_contains(&set, 99, 100));
    assert_false(imap_seqset_contains(&set, 560, 100));
    /* '*' follows the mailbox. */
    assert_true(imap_seqset_contains(&set, 600, 700));
    assert_false(imap_seqset_contains(&set, 701, 700));
    /* An empty mailbox: a '*' range is empty. */
    assert_false(imap_seqset_contains(&set, 1, 0));
    assert_false(imap_seqset_contains(&set, 559, 0));
    struct imap_seqlist list;
    imap_seqset_resolve(&set, 0, &list);
    assert_int_equal(list.n, 0);
    assert_int_equal(imap_seqlist_count(&list), 0);
    imap_seqlist_free(&list);
    imap_seqset_free(&set);
}

static void test_huge(void **state)
{
    struct imap_seqset set;
    assert_int_equal(parse("1:4294967295", &set), IMAP_SEQSET_OK);
    struct imap_seqlist list;
    imap_seqset_resolve(&set, 5, &list);
    assert_int_equal(list.n, 1);
    assert_int_equal(imap_seqlist_count(&list), 4294967295ull);
    assert_true(imap_seqlist_contains(&list, UINT32_MAX));
    /* Iteration at the very top does not wrap around. */
    struct imap_seqlist top = {&(struct imap_seq_range){UINT32_MAX - 1, UINT32_MAX}, 1};
    struct imap_seqlist_iter it;
    uint32_t n;
    imap_seqlist_iter_init(&it, &top);
    assert_true(imap_seqlist_next(&it, &n));
    assert_int_equal(n, UINT32_MAX - 1);
    assert_true(imap_seqlist_next(&it, &n));
    assert_int_equal(n, UINT32_MAX);
    assert_false(imap_seqlist_next(&it, &n));
    assert_false(imap_seqlist_next(&it, &n));
    imap_seqlist_free(&list);
    imap_seqset_free(&set);
    /* 1:*,*:1 and 1:4294967295,* */
    assert_int_equal(parse("1:*,*:1,4294967295", &set), IMAP_SEQSET_OK);
    imap_seqset_resolve(&set, UINT32_MAX, &list);
    assert_int_equal(list.n, 1);
    assert_int_equal(imap_seqlist_count(&list), 4294967295ull);
    imap_seqlist_free(&list);
    imap_seqset_free(&set);
}

static void test_many_ranges(void **state)
{
    /* 20000 ranges, written backwards: "39999,39997,...,1" plus a range. */
    struct buf b;
    buf_init(&b);
    for (int k = 39999; k >= 1; k -= 2)
        buf_printf(&b, "%d,", k);
    buf_append_str(&b, "100000:90000");
    struct imap_seqset set;
    assert_int_equal(imap_seqset_parse(b.data, b.len, false, &set), IMAP_SEQSET_OK);
    assert_int_equal(set.n, 20001);
    struct imap_seqlist list;
    imap_seqset_resolve(&set, 5, &list);
    assert_int_equal(list.n, 20001);
    assert_int_equal(imap_seqlist_count(&list), 20000 + 10001);
    assert_true(imap_seqlist_contains(&list, 1));
    assert_false(imap_seqlist_contains(&list, 2));
    assert_true(imap_seqlist_contains(&list, 39999));
    assert_false(imap_seqlist_contains(&list, 40000));
    assert_true(imap_seqlist_contains(&list, 95000));
    assert_false(imap_seqlist_contains(&list, 100001));
    struct buf f;
    buf_init(&f);
    imap_seqlist_format(&f, &list);
    assert_int_equal(strncmp(f.data, "1,3,5,", 6), 0);
    assert_non_null(strstr(f.data, ",39999,90000:100000"));
    imap_seqlist_free(&list);
    imap_seqset_free(&set);
    buf_free(&b);
    buf_free(&f);
}

static void format(const uint32_t *nums, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b);
    imap_seqset_format_numbers(&b, nums, n);
    assert_string_equal(b.len ? b.data : "", want);
    assert_int_equal(b.len, strlen(want));
    buf_free(&b);
}

static void test_format(void **state)
{
    format((uint32_t[]){1, 2, 3, 7}, 4, "1:3,7");
    format((uint32_t[]){5}, 1, "5");
    format(NULL, 0, "");
    format((uint32_t[]){1, 3, 5}, 3, "1,3,5");
    format((uint32_t[]){4, 5, 1, 2}, 4, "4:5,1:2"); /* order kept for COPYUID */
    format((uint32_t[]){UINT32_MAX - 1, UINT32_MAX, 1}, 3, "4294967294:4294967295,1");
    format((uint32_t[]){UINT32_MAX, 0}, 2, "4294967295,0"); /* no wrap to a range */
    struct imap_seqlist list;
    imap_seqlist_from_numbers((uint32_t[]){9, 2, 3, 3, 1, 0, 11, 10}, 8, &list);
    struct buf b;
    buf_init(&b);
    imap_seqlist_format(&b, &list);
    assert_string_equal(b.data, "1:3,9:11");
    assert_int_equal(imap_seqlist_count(&list), 6);
    imap_seqlist_free(&list);
    buf_free(&b);
    /* A formatted set parses back to the same members. */
    uint32_t nums[] = {2, 3, 4, 10, 12, 13, 4000000000u};
    buf_init(&b);
    imap_seqset_format_numbers(&b, nums, 7);
    struct imap_seqset set;
    assert_int_equal(imap_seqset_parse(b.data, b.len, false, &set), IMAP_SEQSET_OK);
    for (size_t k = 0; k < 7; k++)
        assert_true(imap_seqset_contains(&set, nums[k], 1));
    assert_false(imap_seqset_contains(&set, 5, 1));
    assert_false(imap_seqset_contains(&set, 11, 1));
    imap_seqset_free(&set);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),     cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_contains_model), cmocka_unit_test(test_star_semantics),
        cmocka_unit_test(test_huge),           cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
