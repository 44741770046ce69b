/* Unit tests for the store's QUOTA accounting (store/store_quota.c and the
 * store's hooks): maildirsize missing, damaged, with another limit or too
 * long is recalculated from the files and rewritten; APPEND and COPY over
 * the limit fail with EDQUOT and store nothing, MOVE is allowed; EXPUNGE
 * and DELETE give the space back; the usage always equals the files on
 * disk; two processes appending changes at once lose none. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/maildirsize.h"
#include "store/store.h"
#include "store/store_quota.h"
#include "util/xmalloc.h"

struct fixture {
    char dir[64];
    char *root;
    char *file; /* root/maildirsize */
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    strcpy(fx->dir, "/var/tmp/test_quota.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/Maildir", fx->dir);
    fx->file = xasprintf("%s/maildirsize", fx->root);
    fx->s = store_maildir_new(fx->root);
    assert_int_equal(store_setup(fx->s), 0);
    *state = fx;
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *f)
{
    return type == FTW_DP ? rmdir(p) : unlink(p);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    store_free(fx->s);
    free(fx->root);
    free(fx->file);
    free(fx);
    return 0;
}

static char *slurp(const char *path, size_t *len_r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = xmalloc(65536);
    *len_r = fread(buf, 1, 65535, f);
    buf[*len_r] = '\0';
    fclose(f);
    return buf;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The octets of every message file under root, as ground truth. */
static int du_entry(const char *p, const struct stat *st, int type, struct FTW *f);
static uint64_t du_bytes, du_count;
static int du_entry(const char *p, const struct stat *st, int type, struct FTW *f)
{
    size_t n = strlen(p);
    const char *dir = n > 5 ? p : "";
    if (type == FTW_F && (strstr(dir, "/cur/") || strstr(dir, "/new/"))) {
        du_bytes += (uint64_t)st->st_size;
        du_count++;
    }
    return 0;
}

static void assert_usage_is_disk(struct fixture *fx)
{
    du_bytes = du_count = 0;
    nftw(fx->root, du_entry, 8, FTW_PHYS);
    uint64_t bytes, count;
    assert_int_equal(store_quota_get(fx->s, &bytes, &count), 0);
    assert_int_equal(bytes, du_bytes);
    assert_int_equal(count, du_count);
}

static uint32_t append(struct fixture *fx, const char *folder, size_t size, int expect)
{
    char *msg = xmalloc(size);
    memset(msg, 'x', size);
    memcpy(msg, "Subject: t\r\n\r\n", 14);
    msg[size - 2] = '\r';
    msg[size - 1] = '\n';
    uint32_t uv = 0, uid = 0;
    assert_int_equal(store_append(fx->s, folder, msg, size, 0, NULL, 0, 0, &uv, &uid), expect);
    free(msg);
    return uid;
}

static uint32_t messages_in(struct fixture *fx, const char *folder)
{
    struct store_status st;
    assert_int_equal(store_status(fx->s, folder, &st), 0);
    return st.messages;
}

static void test_missing_recalculated(void **state)
{
    struct fixture *fx = *state;
    append(fx, "INBOX", 1000, 0); /* no limit yet: no file is made */
    assert_int_equal(access(fx->file, F_OK), -1);
    store_set_quota(fx->s, 100000);
    assert_usage_is_disk(fx);
    size_t len = 0;
    char *text = slurp(fx->file, &len);
    assert_non_null(text);
    /* 1000 octets with CRLF, 999 stored with LF (two CRLFs in the
     * header, one at the end: 997). */
    char want[64];
    snprintf(want, sizeof(want), "100000S\n%llu 1\n", (unsigned long long)du_bytes);
    assert_string_equal(text, want);
    free(text);
    append(fx, "Sent", 500, 0);
    text = slurp(fx->file, &len);
    assert_non_null(strstr(text, "\n497 1\n")); /* an appended change */
    free(text);
    assert_usage_is_disk(fx);
}

static void test_damaged_recalculated(void **state)
{
    struct fixture *fx = *state;
    store_set_quota(fx->s, 100000);
    append(fx, "INBOX", 2000, 0);
    append(fx, "Trash", 3000, 0);
    static const char *const damaged[] = {
        "100000S\n99999 oops\n", "100000S\n", "100000S\n-99999 -5\n", "garbage",
        "200000S\n1 1\n", /* another limit */
        "100000S\n1\0002 1\n",
    };
    for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
        put(fx->file, damaged[i]);
        assert_usage_is_disk(fx);
        size_t len = 0;
        char *text = slurp(fx->file, &len);
        assert_int_equal(strncmp(text, "100000S\n", 8), 0);
        struct maildirsize m;
        assert_int_equal(maildirsize_parse(text, len, &m), MAILDIRSIZE_OK);
        assert_int_equal(m.lines, 1);
        free(text);
    }
    /* Past 5120 octets: recalculated (the lines say far more than is). */
    FILE *f = fopen(fx->file, "w");
    fputs("100000S\n", f);
    for (int i = 0; i < 1500; i++) /* 6008 octets */
        fputs("1 1\n", f);
    fclose(f);
    assert_usage_is_disk(fx);
    /* Over quota with several lines: not believed. */
    put(fx->file, "100000S\n90000 1\n90000 1\n");
    assert_usage_is_disk(fx);
    /* A trusted file is believed as it is (not recalculated). */
    put(fx->file, "100000S\n12345 7\n");
    uint64_t bytes, count;
    assert_int_equal(store_quota_get(fx->s, &bytes, &count), 0);
    assert_true(bytes == 12345 && count == 7);
}

static void test_append_over(void **state)
{
    struct fixture *fx = *state;
    store_set_quota(fx->s, 5000);
    append(fx, "INBOX", 3000, 0);
    append(fx, "INBOX", 2500, EDQUOT);
    assert_int_equal(messages_in(fx, "INBOX"), 1);
    append(fx, "Nonexistent", 100, ENOENT); /* TRYCREATE beats OVERQUOTA */
    append(fx, "Nonexistent", 9000, ENOENT);
    append(fx, "Drafts", 1900, 0);
    assert_usage_is_disk(fx);
    append(fx, "Drafts", 200, EDQUOT);
    assert_int_equal(messages_in(fx, "Drafts"), 1);
}

static void test_copy_move_expunge_delete(void **state)
{
    struct fixture *fx = *state;
    store_set_quota(fx->s, 10000);
    uint32_t a = append(fx, "INBOX", 3000, 0);
    uint32_t b = append(fx, "INBOX", 3000, 0);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    uint32_t both[] = {a, b};
    struct store_uidmap map = {0};
    assert_int_equal(store_copy(f, both, 2, "Archive", false, &map), EDQUOT);
    assert_int_equal(messages_in(fx, "Archive"), 0);
    assert_int_equal(store_copy(f, &a, 1, "Archive", false, &map), 0);
    store_uidmap_free(&map);
    assert_usage_is_disk(fx);
    /* Full now (9000 of 10000); MOVE does not change the usage. */
    assert_int_equal(store_copy(f, &b, 1, "Junk", true, &map), 0);
    store_uidmap_free(&map);
    assert_usage_is_disk(fx);
    assert_int_equal(store_sync(f, NULL), 0);
    uint32_t *gone = NULL;
    size_t n_gone = 0;
    assert_int_equal(store_expunge(f, &a, 1, &gone, &n_gone), 0);
    assert_int_equal(n_gone, 1);
    free(gone);
    store_close(f);
    assert_usage_is_disk(fx);
    uint64_t before, after, count;
    assert_int_equal(store_quota_get(fx->s, &before, &count), 0);
    assert_int_equal(store_delete(fx->s, "Junk"), 0);
    assert_int_equal(store_quota_get(fx->s, &after, &count), 0);
    assert_true(after < before);
    assert_usage_is_disk(fx);
    /* The space freed is usable again. */
    append(fx, "INBOX", 3000, 0);
    append(fx, "INBOX", 3000, 0);
    assert_usage_is_disk(fx);
}

/* Two processes record 150 changes each at once: all 300 lines are there
 * and the sums are exact (O_APPEND, one write a line). */
static void test_two_processes(void **state)
{
    struct fixture *fx = *state;
    uint64_t limit = 1ull << 30;
    store_set_quota(fx->s, limit);
    assert_usage_is_disk(fx); /* writes the summary: 0 0 */
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            for (int i = 0; i < 150; i++)
                if (store_quota_change(fx->root, limit, 7 + k, 1) != 0)
                    _exit(1);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    size_t len = 0;
    char *text = slurp(fx->file, &len);
    struct maildirsize m;
    assert_int_equal(maildirsize_parse(text, len, &m), MAILDIRSIZE_OK);
    free(text);
    assert_int_equal(m.lines, 301);
    assert_int_equal(m.bytes, 150 * 7 + 150 * 8);
    assert_int_equal(m.count, 300);
    uint64_t bytes, count;
    assert_int_equal(store_quota_get(fx->s, &bytes, &count), 0);
    assert_int_equal(bytes, 150 * 7 + 150 * 8);
}

/* A lifted limit (0): changes still go to an existing file, none is made. */
static void test_unlimited(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(store_quota_change(fx->root, 0, 10, 1), 0);
    assert_int_equal(access(fx->file, F_OK), -1);
    put(fx->file, "0S\n0 0\n");
    append(fx, "INBOX", 100, 0);
    size_t len = 0;
    char *text = slurp(fx->file, &len);
    assert_string_equal(text, "0S\n0 0\n97 1\n");
    free(text);
    uint64_t bytes, count;
    assert_int_equal(store_quota_get(fx->s, &bytes, &count), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_recalculated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_recalculated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_move_expunge_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlimited, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
