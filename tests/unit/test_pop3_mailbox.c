/* The POP3 Maildir snapshot: names, ids, sizes from W= or measured, and
 * the QUIT update (unlink, new/ to cur/), on a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pop3d/mailbox.h"
#include "util/xmalloc.h"

static void test_parse_name(void **state)
{
    char uid[POP3_UIDL_MAX + 1];
    uint64_t w;
    bool has_w;
    assert_true(pop3d_mailbox_parse_name("1700000000.M1P2Q3.host,S=10,W=12", uid, &w, &has_w));
    assert_string_equal(uid, "1700000000.M1P2Q3.host");
    assert_true(has_w);
    assert_int_equal(w, 12);
    assert_true(pop3d_mailbox_parse_name("1700000000.M1P2Q3.host,S=10,W=12:2,S", uid, &w, &has_w));
    assert_string_equal(uid, "1700000000.M1P2Q3.host");
    assert_int_equal(w, 12);
    assert_true(pop3d_mailbox_parse_name("plain:2,RS", uid, &w, &has_w));
    assert_string_equal(uid, "plain");
    assert_false(has_w);
    /* W= only counts before the info part, and only digits. */
    assert_true(pop3d_mailbox_parse_name("a,S=1:2,W=5", uid, &w, &has_w));
    assert_false(has_w);
    assert_true(pop3d_mailbox_parse_name("a,W=5x", uid, &w, &has_w));
    assert_false(has_w);
    assert_true(pop3d_mailbox_parse_name("a,W=99999999999999999999", uid, &w, &has_w));
    assert_false(has_w);
    assert_false(pop3d_mailbox_parse_name(".hidden", uid, &w, &has_w));
    assert_false(pop3d_mailbox_parse_name("", uid, &w, &has_w));
    /* Not a valid UIDL (RFC 1939 7): a hash stands in, stable and valid. */
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_true(pop3d_mailbox_parse_name(longname, uid, &w, &has_w));
    assert_int_equal(strlen(uid), 17);
    assert_int_equal(uid[0], 'H');
    char again[POP3_UIDL_MAX + 1];
    assert_true(pop3d_mailbox_parse_name(longname, again, &w, &has_w));
    assert_string_equal(uid, again);
    assert_true(pop3d_mailbox_parse_name("sp ace,W=1", uid, &w, &has_w));
    assert_int_equal(uid[0], 'H');
    assert_true(has_w);
}

static char *dir;

static void put(const char *sub, const char *name, const char *data)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
    free(p);
}

static bool exists(const char *sub, const char *name)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    bool r = access(p, F_OK) == 0;
    free(p);
    return r;
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/test_pop3_mailbox.XXXXXX";
    dir = xstrdup(mkdtemp(tmpl));
    const char *subs[] = {"new", "cur", "tmp"};
    for (int i = 0; i < 3; i++) {
        char *p = xasprintf("%s/%s", dir, subs[i]);
        mkdir(p, 0700);
        free(p);
    }
    return 0;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(dir);
    return 0;
}

static void test_missing_maildir_is_empty(void **state)
{
    struct pop3d_mailbox *box;
    assert_int_equal(pop3d_mailbox_scan("/nonexistent/postern/box", &box), 0);
    assert_int_equal(box->n, 0);
    pop3d_mailbox_free(&box);
    assert_null(box);
}

static void test_scan_update(void **state)
{
    put("new", "3.c.h,S=4,W=6", "a\nb\n");
    put("new", "1.a.h", "x\ny\n");           /* no W=: measured, 6 */
    put("cur", "2.b.h,S=3,W=5:2,S", "zz\n"); /* W= trusted as is */
    put("cur", "2.b.h,S=9:2,", "copy\n");    /* same base: a distinct id */
    put("new", ".tmpfile", "junk");
    struct pop3d_mailbox *box;
    assert_int_equal(pop3d_mailbox_scan(dir, &box), 0);
    assert_int_equal(box->n, 4);
    assert_int_equal(box->measured, 2);
    assert_string_equal(box->msgs[0].name, "1.a.h");
    assert_int_equal(box->msgs[0].size, 6);
    assert_string_equal(box->msgs[0].uid, "1.a.h");
    assert_string_equal(box->msgs[1].name, "2.b.h,S=3,W=5:2,S");
    assert_string_equal(box->msgs[1].uid, "2.b.h");
    assert_int_equal(box->msgs[1].size, 5);
    assert_true(box->msgs[1].in_cur);
    assert_string_equal(box->msgs[2].name, "2.b.h,S=9:2,");
    assert_int_equal(box->msgs[2].uid[0], 'D');
    assert_string_equal(box->msgs[3].uid, "3.c.h");
    char *rel = pop3d_mailbox_rel(box, 3);
    assert_string_equal(rel, "new/3.c.h,S=4,W=6");

    /* A file renamed by another reader is found again by its base name. */
    char *from = xasprintf("%s/new/3.c.h,S=4,W=6", dir);
    char *to = xasprintf("%s/cur/3.c.h,S=4,W=6:2,F", dir);
    assert_int_equal(rename(from, to), 0);
    char *moved;
    int fd = pop3d_mailbox_open(dir, rel, &moved);
    assert_true(fd >= 0);
    close(fd);
    assert_string_equal(moved, "cur/3.c.h,S=4,W=6:2,F");
    free(moved);
    assert_int_equal(pop3d_mailbox_open(dir, "new/9.none", &moved), -ENOENT);
    assert_null(moved);
    free(rel);
    free(from);
    free(to);

    box->msgs[0].retrieved = true; /* new/ -> cur/ with :2,S */
    box->msgs[1].deleted = true;
    box->msgs[3].deleted = true; /* removed under its new name */
    struct pop3d_update_result r;
    pop3d_mailbox_update(box, &r);
    assert_int_equal(r.removed, 2);
    assert_int_equal(r.moved, 1);
    assert_int_equal(r.failed, 0);
    assert_false(exists("new", "1.a.h"));
    assert_true(exists("cur", "1.a.h:2,S"));
    assert_false(exists("cur", "2.b.h,S=3,W=5:2,S"));
    assert_true(exists("cur", "2.b.h,S=9:2,"));
    assert_false(exists("cur", "3.c.h,S=4,W=6:2,F"));
    pop3d_mailbox_free(&box);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_name),
        cmocka_unit_test(test_missing_maildir_is_empty),
        cmocka_unit_test_setup_teardown(test_scan_update, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
