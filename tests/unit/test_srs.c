/* Unit tests for deliver/srs: forward and reverse round-trip, SRS1 for a
 * second forwarder, the 21-day limit, case-insensitive hashes, and every
 * kind of forged or malformed address refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/srs.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
static const unsigned char KEY2[] = "another secret, as long as it is";
#define KL  (sizeof(KEY) - 1)
#define DAY 86400
static const int64_t NOW = 1796040000; /* 2026-12 */

/* The local part of addr (before the last '@'), into a static buffer. */
static const char *local_of(const char *addr)
{
    static char l[256];
    const char *at = strrchr(addr, '@');
    snprintf(l, sizeof(l), "%.*s", (int)(at - addr), addr);
    return l;
}

static void forward(const char *sender, struct buf *out)
{
    assert_true(srs_forward(KEY, KL, NOW, sender, "fwd.test", out));
}

static void test_srs0_round_trip(void **state)
{
    struct buf f, r;
    buf_init(&f);
    buf_init(&r);
    forward("Alice@Example.NET", &f);
    assert_true(strncmp(f.data, "SRS0=", 5) == 0);
    assert_non_null(strstr(f.data, "=Example.NET=Alice@fwd.test"));
    assert_int_equal(strlen(f.data), strlen("SRS0=HHHH=TT=Example.NET=Alice@fwd.test"));
    assert_true(srs_is_srs(local_of(f.data)));
    assert_int_equal(srs_reverse(KEY, KL, NOW, local_of(f.data), &r), SRS_OK);
    assert_string_equal(r.data, "Alice@Example.NET"); /* case of the local part kept */
    /* Stable within a day: the same address twice. */
    struct buf g;
    buf_init(&g);
    forward("Alice@Example.NET", &g);
    assert_string_equal(f.data, g.data);
    buf_free(&f);
    buf_free(&r);
    buf_free(&g);
}

static void test_local_part_with_equals_and_plus(void **state)
{
    struct buf f, r;
    buf_init(&f);
    buf_init(&r);
    forward("a=b+c-d@x.example", &f);
    assert_int_equal(srs_reverse(KEY, KL, NOW, local_of(f.data), &r), SRS_OK);
    assert_string_equal(r.data, "a=b+c-d@x.example");
    buf_free(&f);
    buf_free(&r);
}

static void test_hash_case_insensitive(void **state)
{
    struct buf f, r;
    buf_init(&f);
    buf_init(&r);
    forward("bob@example.net", &f);
    char l[256];
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    for (char *p = l; *p; p++) /* an MTA that upper-cases everything */
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_OK);
    assert_string_equal(r.data, "BOB@EXAMPLE.NET");
    for (char *p = l; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_OK);
    buf_free(&f);
    buf_free(&r);
}

static void test_age(void **state)
{
    struct buf f, r;
    buf_init(&f);
    buf_init(&r);
    forward("carol@example.net", &f);
    const char *l = local_of(f.data);
    assert_int_equal(srs_reverse(KEY, KL, NOW + 21 * DAY, l, &r), SRS_OK);
    assert_int_equal(srs_reverse(KEY, KL, NOW + 22 * DAY, l, &r), SRS_EXPIRED);
    assert_int_equal(r.len, 0);
    assert_int_equal(srs_reverse(KEY, KL, NOW + 400 * DAY, l, &r), SRS_EXPIRED);
    /* From the future (a clock set back): refused too. */
    assert_int_equal(srs_reverse(KEY, KL, NOW - 2 * DAY, l, &r), SRS_EXPIRED);
    /* The day number wraps at 1024 days, as in the spec: that old looks new. */
    assert_int_equal(srs_reverse(KEY, KL, NOW + 1024 * (int64_t)DAY, l, &r), SRS_OK);
    buf_free(&f);
    buf_free(&r);
}

static void test_forged(void **state)
{
    struct buf f, r;
    buf_init(&f);
    buf_init(&r);
    forward("dave@example.net", &f);
    char l[256];
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    /* Another key. */
    assert_int_equal(srs_reverse(KEY2, sizeof(KEY2) - 1, NOW, l, &r), SRS_BAD_HASH);
    /* The target changed, the hash kept. */
    char *d = strstr(l, "=example.net=dave");
    memcpy(d + 1, "exbmple", 7);
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_BAD_HASH);
    /* The timestamp changed (to make an old address young). */
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    l[10] = l[10] == 'A' ? 'B' : 'A';
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_BAD_HASH);
    /* One hash character changed; a hash too short or too long. */
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    l[5] = l[5] == 'x' ? 'y' : 'x';
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_BAD_HASH);
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    memmove(l + 8, l + 9, strlen(l + 9) + 1);
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_BAD_HASH);
    assert_int_equal(srs_reverse(KEY, KL, NOW, "SRS0=AAAAA=AA=example.net=dave", &r), SRS_BAD_HASH);
    assert_int_equal(r.len, 0);
    buf_free(&f);
    buf_free(&r);
}

static void test_malformed(void **state)
{
    struct buf r;
    buf_init(&r);
    const char *bad[] = {"SRS0=",
                         "SRS0=abcd",
                         "SRS0=abcd=",
                         "SRS0=abcd=AA",
                         "SRS0=abcd=AA=",
                         "SRS0=abcd=AA=example.net",
                         "SRS0=abcd=AA=example.net=",
                         "SRS0=abcd=AA==local",
                         "SRS0=abcd=A1=example.net=x",
                         "SRS0=abcd=AAA=example.net=x",
                         "SRS0=abcd=!!=example.net=x",
                         "SRS1=",
                         "SRS1=abcd",
                         "SRS1=abcd=hop",
                         "SRS1=abcd=hop=",
                         "SRS1=abcd==x",
                         "SRS1=abcd=hop=xyz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum srs_result res = srs_reverse(KEY, KL, NOW, bad[i], &r);
        if (res != SRS_BAD_FORMAT)
            fail_msg("%s: %d", bad[i], res);
        assert_int_equal(r.len, 0);
    }
    const char *not_srs[] = {"alice", "SRS", "SRS0", "SRS2=abcd=AA=d=l", "SRS0x", "srs"};
    for (size_t i = 0; i < sizeof(not_srs) / sizeof(not_srs[0]); i++) {
        assert_false(srs_is_srs(not_srs[i]));
        assert_int_equal(srs_reverse(KEY, KL, NOW, not_srs[i], &r), SRS_NOT_SRS);
    }
    assert_true(srs_is_srs("srs0+x"));
    assert_true(srs_is_srs("SRS1-x"));
    for (enum srs_result x = SRS_OK; x <= SRS_EXPIRED; x++)
        assert_non_null(srs_result_text(x));
    buf_free(&r);
}

static void test_srs1_second_forwarder(void **state)
{
    /* first.test rewrote the sender; we forward again. */
    struct buf first, f, r, f2, r2;
    buf_init(&first);
    buf_init(&f);
    buf_init(&r);
    buf_init(&f2);
    buf_init(&r2);
    assert_true(srs_forward(KEY2, sizeof(KEY2) - 1, NOW, "erin@example.net", "first.test", &first));
    forward(first.data, &f);
    assert_true(strncmp(f.data, "SRS1=", 5) == 0);
    assert_non_null(strstr(f.data, "=first.test==")); /* SRS1=HHHH=first.test==HHHH=TT=... */
    assert_int_equal(srs_reverse(KEY, KL, NOW, local_of(f.data), &r), SRS_OK);
    assert_string_equal(r.data, first.data); /* back to the first forwarder */
    /* SRS1 has no timestamp of its own: the first hop checks age. */
    assert_int_equal(srs_reverse(KEY, KL, NOW + 100 * DAY, local_of(f.data), &r), SRS_OK);
    /* A third forwarder keeps the first hop, not ours. */
    assert_true(srs_forward(KEY2, sizeof(KEY2) - 1, NOW, f.data, "third.test", &f2));
    assert_non_null(strstr(f2.data, "=first.test=="));
    assert_int_equal(srs_reverse(KEY2, sizeof(KEY2) - 1, NOW, local_of(f2.data), &r2), SRS_OK);
    assert_string_equal(r2.data, first.data);
    /* Tampered. */
    char l[256];
    snprintf(l, sizeof(l), "%s", local_of(f.data));
    memcpy(strstr(l, "first.test"), "fir5t", 5);
    assert_int_equal(srs_reverse(KEY, KL, NOW, l, &r), SRS_BAD_HASH);
    buf_free(&first);
    buf_free(&f);
    buf_free(&r);
    buf_free(&f2);
    buf_free(&r2);
}

static void test_forward_refusals(void **state)
{
    struct buf f;
    buf_init(&f);
    assert_false(srs_forward(KEY, KL, NOW, "", "fwd.test", &f));
    assert_false(srs_forward(KEY, KL, NOW, "nodomain", "fwd.test", &f));
    assert_false(srs_forward(KEY, KL, NOW, "@example.net", "fwd.test", &f));
    assert_false(srs_forward(KEY, KL, NOW, "x@", "fwd.test", &f));
    /* 64 octets of local part at most (RFC 5321 4.5.3.1.1). */
    char longer[128];
    memset(longer, 'a', 39);
    strcpy(longer + 39, "@example.net"); /* SRS0=HHHH=TT=example.net= is 25: 64 */
    assert_true(srs_forward(KEY, KL, NOW, longer, "fwd.test", &f));
    assert_int_equal(strchr(f.data, '@') - f.data, 64);
    memset(longer, 'a', 40);
    strcpy(longer + 40, "@example.net");
    assert_false(srs_forward(KEY, KL, NOW, longer, "fwd.test", &f));
    assert_int_equal(f.len, 0);
    buf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srs0_round_trip),
        cmocka_unit_test(test_local_part_with_equals_and_plus),
        cmocka_unit_test(test_hash_case_insensitive),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_forged),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_srs1_second_forwarder),
        cmocka_unit_test(test_forward_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
