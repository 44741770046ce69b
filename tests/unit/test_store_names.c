/* Unit tests for the store's pure parts: folder name rules, LIST pattern
 * matching, Maildir file names, dovecot-uidlist, dovecot-keywords and the
 * subscriptions file, good input and damaged. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/keywords.h"
#include "store/maildir_name.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/uidlist.h"

static void test_name_valid(void **state)
{
    assert_true(store_name_valid("Sent"));
    assert_true(store_name_valid("A.B.C"));
    assert_true(store_name_valid("&AOk-t&AOk-"));
    assert_true(store_name_valid("with space"));
    const char *bad[] = {"",     ".",    ".A",   "A.", "A..B", "..",   "~x",      "a/b",
                         "a\\b", "a\tb", "a\nb", "a*", "%",    "\x7f", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(store_name_valid(bad[i]));
    char long_name[400];
    memset(long_name, 'a', 255);
    long_name[255] = '\0';
    assert_false(store_name_valid(long_name)); /* one component of 255 > total 254 */
    long_name[254] = '\0';
    assert_true(store_name_valid(long_name));
    memset(long_name, 'a', 300);
    long_name[300] = '\0';
    long_name[100] = '.';
    assert_false(store_name_valid(long_name)); /* total too long */
    assert_true(store_name_is_inbox("inBox"));
    assert_false(store_name_is_inbox("INBOX.x"));
    assert_true(store_name_valid("~ok") == false);
    assert_true(store_name_valid("a~"));
}

static void test_list_match(void **state)
{
    assert_true(store_list_match("*", "A.B.C"));
    assert_true(store_list_match("%", "A"));
    assert_false(store_list_match("%", "A.B"));
    assert_true(store_list_match("A.%", "A.B"));
    assert_false(store_list_match("A.%", "A.B.C"));
    assert_true(store_list_match("A.*", "A.B.C"));
    assert_false(store_list_match("A.*", "A"));
    assert_true(store_list_match("A*", "A"));
    assert_true(store_list_match("%.%", "A.B"));
    assert_false(store_list_match("%.%", "AB"));
    assert_true(store_list_match("inbox", "INBOX"));
    assert_true(store_list_match("InBo%", "INBOX"));
    assert_false(store_list_match("sent", "Sent")); /* only INBOX folds case */
    assert_true(store_list_match("S*t", "Sent"));
    assert_false(store_list_match("S*x", "Sent"));
    assert_true(store_list_match("", ""));
    assert_false(store_list_match("", "A"));
    assert_true(store_list_match("*%*%*", "abc"));
    /* Long wildcard patterns cost linear time, not backtracking. */
    char pat[2001];
    memset(pat, '*', 2000);
    pat[2000] = '\0';
    pat[1999] = 'x';
    assert_false(store_list_match(pat, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_maildir_name(void **state)
{
    struct maildir_name mn;
    assert_true(maildir_name_parse("1.M2P3Q4.host,S=10,W=12:2,FSab", &mn));
    assert_int_equal(mn.base_len, strlen("1.M2P3Q4.host"));
    assert_true(mn.has_s && mn.has_w);
    assert_int_equal(mn.s, 10);
    assert_int_equal(mn.w, 12);
    assert_int_equal(mn.flags, STORE_F_FLAGGED | STORE_F_SEEN);
    assert_int_equal(mn.keywords, 3);
    assert_true(maildir_name_parse("plain", &mn));
    assert_false(mn.has_s || mn.has_w);
    assert_int_equal(mn.flags, 0);
    assert_true(maildir_name_parse("x,W=abc,S=5:1,S", &mn)); /* bad W, info not :2, */
    assert_false(mn.has_w);
    assert_true(mn.has_s);
    assert_int_equal(mn.flags, 0);
    assert_false(maildir_name_parse(".hidden", &mn));
    assert_false(maildir_name_parse("", &mn));
    assert_false(maildir_name_parse(":2,S", &mn));
    char *n = maildir_name_with_flags(
        "b,S=1:2,S", STORE_F_DELETED | STORE_F_DRAFT | STORE_F_ANSWERED, (1u << 25) | 1u);
    assert_string_equal(n, "b,S=1:2,DRTaz");
    free(n);
    n = maildir_name_with_flags("b", 0, 0);
    assert_string_equal(n, "b:2,");
    free(n);
}

static const char uidlist_text[] = "3 V1796411367 N1 Gf062bf06e60f136b2765000083ecc375 X9\n"
                                   "1 :a,S=5,W=5\n"
                                   "4 W7 G12 :b\n";

static void test_uidlist_parse_format(void **state)
{
    struct uidlist u;
    assert_int_equal(uidlist_parse(uidlist_text, strlen(uidlist_text), &u), 0);
    assert_int_equal(u.uidvalidity, 1796411367u);
    assert_int_equal(u.nextuid, 5); /* N lags behind the records */
    assert_string_equal(u.guid, "f062bf06e60f136b2765000083ecc375");
    assert_int_equal(u.n, 2);
    assert_int_equal(u.v[1].uid, 4);
    assert_string_equal(u.v[1].ext, "W7 G12");
    assert_string_equal(u.v[1].file, "b");
    assert_null(u.v[0].ext);
    assert_non_null(uidlist_find_file(&u, "a,S=5,W=5:2,S"));
    assert_null(uidlist_find_file(&u, "a,S=5"));
    assert_non_null(uidlist_find_uid(&u, 4));
    assert_null(uidlist_find_uid(&u, 2));
    assert_int_equal(uidlist_add(&u, "c", NULL), 5);
    struct buf b;
    buf_init(&b);
    uidlist_format(&u, &b);
    assert_string_equal(b.data, "3 V1796411367 N6 Gf062bf06e60f136b2765000083ecc375 X9\n"
                                "1 :a,S=5,W=5\n4 W7 G12 :b\n5 :c\n");
    struct uidlist again;
    assert_int_equal(uidlist_parse(b.data, b.len, &again), 0);
    assert_int_equal(again.n, 3);
    uidlist_free(&again);
    buf_free(&b);
    uidlist_free(&u);
    const char v1[] = "1 77 3\n1 a\n2 b\n";
    assert_int_equal(uidlist_parse(v1, strlen(v1), &u), 0);
    assert_int_equal(u.uidvalidity, 77);
    assert_int_equal(u.nextuid, 3);
    assert_string_equal(u.v[1].file, "b");
    uidlist_free(&u);
}

static void test_uidlist_damaged(void **state)
{
    const char *bad[] = {
        "",
        "3 V1 N2",                   /* no newline: torn */
        "2 V1 N2\n",                 /* unknown version */
        "3 N2\n",                    /* no UIDVALIDITY */
        "3 V0 N2\n",                 /* UIDVALIDITY 0 */
        "3 V1 N2\n2 :a\n1 :b\n",     /* not ascending */
        "3 V1 N2\n1 :a\n1 :b\n",     /* duplicate */
        "3 V1 N2\n1 a\n",            /* no ':' */
        "3 V1 N2\n1 :a\n2 :b",       /* torn last line */
        "3 V1 N2\nx :a\n",           /* not a UID */
        "3 V1 N2\n99999999999 :a\n", /* overflow */
        "3 V1 N2\n1 :a/b\n",         /* a path */
        "3 V1x N2\n",                /* junk in V */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct uidlist u;
        assert_int_equal(uidlist_parse(bad[i], strlen(bad[i]), &u), EINVAL);
    }
    struct uidlist u;
    const char nul[] = "3 V1 N2\n1 :a\0b\n";
    assert_int_equal(uidlist_parse(nul, sizeof(nul) - 1, &u), EINVAL);
}

/* The last UID: the list parses, but no UID is left to give. */
static void test_uidlist_exhausted(void **state)
{
    struct uidlist u;
    const char last[] = "3 V9 N5\n4294967295 :a\n";
    assert_int_equal(uidlist_parse(last, strlen(last), &u), 0);
    assert_int_equal(u.nextuid, 0);
    assert_false(uidlist_room(&u, 0));
    assert_int_equal(uidlist_add(&u, "b", NULL), 0);
    assert_int_equal(u.n, 1);
    struct buf b;
    buf_init(&b);
    uidlist_format(&u, &b);
    uidlist_free(&u);
    assert_int_equal(uidlist_parse(b.data, b.len, &u), 0);
    assert_int_equal(u.nextuid, 0);
    uidlist_free(&u);
    buf_free(&b);
    const char near[] = "3 V9 N4294967294\n1 :a\n";
    assert_int_equal(uidlist_parse(near, strlen(near), &u), 0);
    assert_true(uidlist_room(&u, 1));
    assert_false(uidlist_room(&u, 2));
    assert_int_equal(uidlist_add(&u, "b", NULL), 4294967294u);
    assert_int_equal(uidlist_add(&u, "c", NULL), 4294967295u);
    assert_int_equal(uidlist_add(&u, "d", NULL), 0);
    assert_int_equal(u.n, 3);
    uidlist_free(&u);
    const char empty[] = "3 V9 N0\n";
    assert_int_equal(uidlist_parse(empty, strlen(empty), &u), 0);
    assert_int_equal(u.nextuid, 1);
    uidlist_free(&u);
}

static void test_keywords(void **state)
{
    char *names[STORE_KEYWORDS_MAX];
    const char text[] = "0 $Forwarded\n1 kw1\nbad line\n26 toohigh\n3 kw3\n1 dup\n4 KW1\n5 a(b\n";
    keywords_parse(text, strlen(text), names);
    assert_string_equal(names[0], "$Forwarded");
    assert_string_equal(names[1], "kw1");
    assert_null(names[2]);
    assert_string_equal(names[3], "kw3");
    assert_null(names[4]); /* KW1 again, other case */
    assert_null(names[5]);
    assert_int_equal(keywords_find(names, "KW3"), 3);
    assert_int_equal(keywords_find(names, "nope"), -1);
    struct buf b;
    buf_init(&b);
    keywords_format(names, &b);
    assert_string_equal(b.data, "0 $Forwarded\n1 kw1\n3 kw3\n");
    buf_free(&b);
    keywords_free(names);
    assert_true(store_keyword_valid("$Junk"));
    assert_false(store_keyword_valid("\\Seen"));
    assert_false(store_keyword_valid("a b"));
    assert_false(store_keyword_valid(""));
}

static void test_subscriptions(void **state)
{
    struct store_names n = {0};
    const char text[] = "V\t2\n\nFoo\tBar\nINBOX\n&AOk-t&AOk-\nbad..name\nFoo\tBar\ninbox\n";
    subscriptions_parse(text, strlen(text), &n);
    assert_int_equal(n.n, 3);
    assert_string_equal(n.v[0], "Foo.Bar");
    assert_string_equal(n.v[1], "INBOX");
    assert_string_equal(n.v[2], "&AOk-t&AOk-");
    struct buf b;
    buf_init(&b);
    subscriptions_format(&n, &b);
    assert_string_equal(b.data, "V\t2\n\nFoo\tBar\nINBOX\n&AOk-t&AOk-\n");
    buf_free(&b);
    store_names_free(&n);
    const char old[] = "Sent\nTrash\n"; /* no header: the older format */
    subscriptions_parse(old, strlen(old), &n);
    assert_int_equal(n.n, 2);
    store_names_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),      cmocka_unit_test(test_list_match),
        cmocka_unit_test(test_maildir_name),    cmocka_unit_test(test_uidlist_parse_format),
        cmocka_unit_test(test_uidlist_damaged), cmocka_unit_test(test_uidlist_exhausted),
        cmocka_unit_test(test_keywords),        cmocka_unit_test(test_subscriptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
