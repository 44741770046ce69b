/* Unit tests for auth/users and the file backend: loading (every bad line
 * reported with its number, unsafe mailbox names refused) and resolution
 * (alias > mailbox > catch-all, fan-out, loops, de-duplication, case). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/users.h"

static char dir[64];
static char users_path[128], aliases_path[128];

static int setup(void **state)
{
    strcpy(dir, "/tmp/postern-test-users-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(users_path, sizeof(users_path), "%s/users", dir);
    snprintf(aliases_path, sizeof(aliases_path), "%s/aliases", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(users_path);
    unlink(aliases_path);
    return rmdir(dir);
}

static void write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct user_table *load(const char *users, const char *aliases, struct buf *err)
{
    write_file(users_path, users);
    if (aliases)
        write_file(aliases_path, aliases);
    buf_reset(err);
    return user_table_load_files(users_path, aliases ? aliases_path : NULL, err);
}

static const char USERS[] = "# mailboxes\n"
                            "alice@example.test:$y$j9T$salt$hash\n"
                            "  Bob@Example.TEST : !   # no login\n"
                            "\n"
                            "carol@example.test:*\n"
                            "dave@example.org:!\n"
                            "j\xc3\xb6rg@example.test:!\n"
                            "erin@example.test:!\n";

static const char ALIASES[] = "info@example.test: alice@example.test, bob@example.test\n"
                              "Sales@Example.Test: info@example.test, carol@example.test\n"
                              "all@example.test: sales@example.test, info@example.test, "
                              "alice@example.test\n"
                              "erin@example.test: bob@example.test\n"
                              "carol@example.test: carol@example.test, dave@example.org\n"
                              "fwd@example.test: someone@remote.example\n"
                              "@example.org: alice@example.test\n"
                              "loop1@example.test: loop2@example.test\n"
                              "loop2@example.test: loop1@example.test\n"
                              "esc1@example.test: esc2@example.test, dave@example.org\n"
                              "esc2@example.test: esc1@example.test\n";

static struct user_table *T;

static int load_sample(void **state)
{
    if (setup(state) != 0)
        return -1;
    struct buf err;
    buf_init(&err);
    T = load(USERS, ALIASES, &err);
    if (T == NULL)
        fprintf(stderr, "load failed: %s\n", err.data);
    buf_free(&err);
    return T ? 0 : -1;
}

static int free_sample(void **state)
{
    user_table_free(&T);
    return teardown(state);
}

static void test_load_users(void **state)
{
    assert_string_equal(user_table_password_hash(T, "alice@example.test"), "$y$j9T$salt$hash");
    assert_string_equal(user_table_password_hash(T, "ALICE@EXAMPLE.TEST"), "$y$j9T$salt$hash");
    assert_string_equal(user_table_password_hash(T, "bob@example.test"), "!");
    assert_string_equal(user_table_password_hash(T, "carol@example.test"), "*");
    assert_true(user_table_has_mailbox(T, "Bob@example.test"));
    assert_true(user_table_has_mailbox(T, "j\xc3\xb6rg@example.test"));
    assert_false(user_table_has_mailbox(T, "info@example.test")); /* an alias */
    assert_false(user_table_has_mailbox(T, "alice@example.org"));
    assert_false(user_table_has_mailbox(T, "alice"));
    assert_false(user_table_has_mailbox(T, ""));
    assert_null(user_table_password_hash(T, "nobody@example.test"));
}

/* Resolves addr and compares the targets, in order, with the expected list. */
static void expect_targets(const char *addr, const char *const *expect, size_t n)
{
    char **t = NULL;
    size_t count = 0;
    size_t added = user_table_resolve(T, addr, &t, &count);
    assert_int_equal(added, count);
    if (count != n) {
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, "  got %s\n", t[i]);
        fail_msg("%s: %zu targets, expected %zu", addr, count, n);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i], expect[i]) != 0)
            fail_msg("%s: target %zu is %s, expected %s", addr, i, t[i], expect[i]);
    for (size_t i = 0; i < count; i++)
        free(t[i]);
    free(t);
}
#define EXPECT(addr, ...)                                                                          \
    do {                                                                                           \
        static const char *const e_[] = {__VA_ARGS__};                                             \
        expect_targets(addr, e_, sizeof(e_) / sizeof(e_[0]));                                      \
    } while (0)
#define EXPECT_NONE(addr) expect_targets(addr, NULL, 0)

static void test_resolve(void **state)
{
    EXPECT("bob@example.test", "bob@example.test");
    EXPECT("BOB@EXAMPLE.TEST", "bob@example.test");
    EXPECT("info@example.test", "alice@example.test", "bob@example.test");
    EXPECT("INFO@example.TEST", "alice@example.test", "bob@example.test");
    /* An alias wins over a mailbox of the same name... */
    EXPECT("erin@example.test", "bob@example.test");
    EXPECT("alice@example.test", "alice@example.test");
    /* ...and naming itself keeps a copy in its own mailbox. */
    EXPECT("carol@example.test", "carol@example.test", "dave@example.org");
    /* Nested aliases, expanded and de-duplicated. */
    EXPECT("sales@example.test", "alice@example.test", "bob@example.test", "carol@example.test",
           "dave@example.org");
    EXPECT("all@example.test", "alice@example.test", "bob@example.test", "carol@example.test",
           "dave@example.org");
    EXPECT("fwd@example.test", "someone@remote.example");
    /* A catch-all never hides a real mailbox. */
    EXPECT("dave@example.org", "dave@example.org");
    EXPECT("anything@example.org", "alice@example.test");
    EXPECT("ANYTHING@EXAMPLE.ORG", "alice@example.test");
    /* Unknown local address, no catch-all: nothing. */
    EXPECT_NONE("nobody@example.test");
    EXPECT_NONE("someone@remote.example");
    EXPECT_NONE("postmaster");
    EXPECT_NONE("");
    /* Loops are cut; what escapes the loop is kept. */
    EXPECT_NONE("loop1@example.test");
    EXPECT("esc1@example.test", "dave@example.org");
}

static void test_resolve_appends(void **state)
{
    char **t = NULL;
    size_t n = 0;
    assert_int_equal(user_table_resolve(T, "info@example.test", &t, &n), 2);
    assert_int_equal(user_table_resolve(T, "bob@example.test", &t, &n), 0); /* already there */
    assert_int_equal(user_table_resolve(T, "carol@example.test", &t, &n), 2);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    free(t);
}

/* Loading: each problem names FILE:LINE, and any problem refuses the table. */
static void expect_load_error(const char *users, const char *aliases, const char *file,
                              unsigned line, const char *what)
{
    struct buf err;
    buf_init(&err);
    struct user_table *t = load(users, aliases, &err);
    if (t != NULL)
        fail_msg("accepted:\n%s\n%s", users, aliases ? aliases : "");
    char expect[300];
    snprintf(expect, sizeof(expect), "%s:%u: ", file, line);
    const char *at = err.data ? strstr(err.data, expect) : NULL;
    if (at == NULL || strstr(at, what) == NULL)
        fail_msg("expected '%s...%s' in:\n%s", expect, what, err.data ? err.data : "");
    buf_free(&err);
}

static void test_bad_users(void **state)
{
    static const struct {
        const char *line;
        const char *what;
    } bad[] = {
        {"no colon here", "expected \"address:hash\""},
        {"../x@example.test:!", "not a valid mailbox"},
        {"..@example.test:!", "not a valid mailbox"},
        {".hidden@example.test:!", "not a valid mailbox"},
        {"a/b@example.test:!", "not a valid mailbox"},
        {"a\\b@example.test:!", "not a valid mailbox"},
        {"\"quoted\"@example.test:!", "not a valid mailbox"},
        {"\"a/../b\"@example.test:!", "not a valid mailbox"},
        {"x@../etc:!", "not a valid mailbox"},
        {"x@.example.test:!", "not a valid mailbox"},
        {"x@example/test:!", "not a valid mailbox"},
        {"x@:!", "not a valid mailbox"},
        {"@example.test:!", "not a valid mailbox"},
        {"x:!", "not a valid mailbox"},
        {":!", "not a valid mailbox"},
        {"a b@example.test:!", "not a valid mailbox"},
        {"x\xff@example.test:!", "not a valid mailbox"},
        {"x@example.test:", "password hash"},
        {"x@example.test:a b", "password hash"},
        {"x@example.test:a:b", "quota=SIZE"},
        {"x@example.test:!:quota=", "quota=SIZE"},
        {"x@example.test:!:quota=lots", "quota=SIZE"},
        {"x@example.test:!:quota=5T", "quota=SIZE"},
        {"x@example.test:!:quota=-1", "quota=SIZE"},
        {"x@example.test:!:size=5M", "quota=SIZE"},
        {"x@example.test::quota=5M", "password hash"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[300];
        snprintf(text, sizeof(text), "ok@example.test:!\n# c\n%s\nok2@example.test:!\n",
                 bad[i].line);
        expect_load_error(text, NULL, users_path, 3, bad[i].what);
    }
    expect_load_error("a@example.test:!\nb@example.test:!\nA@EXAMPLE.test:x\n", NULL, users_path, 3,
                      "listed twice");
    /* All bad lines are reported, not just the first. */
    struct buf err;
    buf_init(&err);
    assert_null(load("bad1\nok@example.test:!\nbad2\n", NULL, &err));
    char l1[200], l3[200];
    snprintf(l1, sizeof(l1), "%s:1: ", users_path);
    snprintf(l3, sizeof(l3), "%s:3: ", users_path);
    assert_non_null(strstr(err.data, l1));
    assert_non_null(strstr(err.data, l3));
    buf_free(&err);
}

/* A NUL would end the line early (a hash cut short, an alias target
 * dropped): refused with its line, in both files. */
/* The third field: a mailbox's own limit, 0 meaning none; others keep
 * the default. */
static void test_quota_field(void **state)
{
    struct buf err;
    buf_init(&err);
    struct user_table *t = load("a@example.test:!:quota=500M\n"
                                "B@example.test : $y$j9T$s$h : QUOTA=1k  # small\n"
                                "c@example.test:*:quota=0\n"
                                "d@example.test:!\n",
                                NULL, &err);
    if (t == NULL)
        fail_msg("refused: %s", err.data);
    assert_int_equal(user_table_quota(t, "a@example.test", 7), 500ull * 1024 * 1024);
    assert_int_equal(user_table_quota(t, "b@EXAMPLE.test", 7), 1024);
    assert_string_equal(user_table_password_hash(t, "b@example.test"), "$y$j9T$s$h");
    assert_int_equal(user_table_quota(t, "c@example.test", 7), 0);
    assert_int_equal(user_table_quota(t, "d@example.test", 7), 7);
    assert_int_equal(user_table_quota(t, "nobody@example.test", 7), 7);
    user_table_free(&t);
    buf_free(&err);
}

static void test_nul_in_line(void **state)
{
    static const char users[] = "ok@example.test:!\nx@example.test:$y$abc\0junk\n";
    FILE *f = fopen(users_path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(users, 1, sizeof(users) - 1, f), sizeof(users) - 1);
    fclose(f);
    struct buf err;
    buf_init(&err);
    assert_null(user_table_load_files(users_path, NULL, &err));
    char want[200];
    snprintf(want, sizeof(want), "%s:2: NUL character in the line", users_path);
    assert_non_null(strstr(err.data, want));
    static const char aliases[] = "a@example.test: ok@example.test\0, x@remote.test\n";
    f = fopen(aliases_path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(aliases, 1, sizeof(aliases) - 1, f), sizeof(aliases) - 1);
    fclose(f);
    write_file(users_path, "ok@example.test:!\n");
    buf_reset(&err);
    assert_null(user_table_load_files(users_path, aliases_path, &err));
    snprintf(want, sizeof(want), "%s:1: NUL character in the line", aliases_path);
    assert_non_null(strstr(err.data, want));
    buf_free(&err);
}

static void test_bad_aliases(void **state)
{
    static const char users[] = "alice@example.test:!\n";
    static const struct {
        const char *line;
        const char *what;
    } bad[] = {
        {"no colon", "expected \"alias@domain"},
        {"a b@example.test: alice@example.test", "not a valid alias"},
        {"info: alice@example.test", "not a valid alias"},
        {"@: alice@example.test", "not a valid alias"},
        {"@@example.test: alice@example.test", "not a valid alias"},
        {"x@-bad.test: alice@example.test", "not a valid alias"},
        {"info@example.test:", "has no target"},
        {"info@example.test: , ,", "has no target"},
        {"info@example.test: alice@example.test, not an address", "target 'not an address'"},
        {"info@example.test: alice", "target 'alice'"},
        {"info@example.test: ../x@example.test", "target '../x@example.test'"},
        {"info@example.test: |/bin/sh", "target '|/bin/sh'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[300];
        snprintf(text, sizeof(text), "ok@example.test: alice@example.test\n\n%s\n", bad[i].line);
        expect_load_error(users, text, aliases_path, 3, bad[i].what);
    }
    expect_load_error(users, "x@example.test: alice@example.test\nX@example.test: b@c.d\n",
                      aliases_path, 2, "listed twice");
    expect_load_error(users, "@example.test: alice@example.test\n@EXAMPLE.test: b@c.d\n",
                      aliases_path, 2, "listed twice");
    /* Problems in both files are all reported. */
    struct buf err;
    buf_init(&err);
    assert_null(load("bad\n", "worse\n", &err));
    char u[200], a[200];
    snprintf(u, sizeof(u), "%s:1: ", users_path);
    snprintf(a, sizeof(a), "%s:1: ", aliases_path);
    assert_non_null(strstr(err.data, u));
    assert_non_null(strstr(err.data, a));
    buf_free(&err);
}

static void test_missing_files(void **state)
{
    struct buf err;
    buf_init(&err);
    char p[160];
    snprintf(p, sizeof(p), "%s/nope", dir);
    assert_null(user_table_load_files(p, NULL, &err));
    assert_non_null(strstr(err.data, p));
    assert_non_null(strstr(err.data, "cannot open"));
    buf_reset(&err);
    write_file(users_path, "a@example.test:!\n");
    assert_null(user_table_load_files(users_path, p, &err));
    assert_non_null(strstr(err.data, "cannot open"));
    /* Empty files are a valid, empty table. */
    write_file(users_path, "");
    buf_reset(&err);
    struct user_table *t = user_table_load_files(users_path, NULL, &err);
    assert_non_null(t);
    assert_false(user_table_has_mailbox(t, "a@example.test"));
    user_table_free(&t);
    assert_null(t);
    buf_free(&err);
}

static void test_mailbox_safe(void **state)
{
    static const char *const good[] = {"a@example.test", "a.b-c+d@example.test",
                                       "j\xc3\xb6rg@example.test", "x@[192.0.2.1]"};
    static const char *const bad[] = {
        "../x@example.test",
        ".x@example.test",
        "x.@example.test",
        "a/b@example.test",
        "a\\b@example.test",
        "\"a b\"@example.test",
        "x@.example.test",
        "x@example.test/..",
        "x@..",
        "x@",
        "@x",
        "x",
        "",
        "a b@example.test",
        "a\tb@example.test",
        "a\x7f@example.test",
        "x@ex ample.test",
        "a\xff@example.test",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!address_mailbox_safe(good[i]))
            fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (address_mailbox_safe(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    char s[] = "MiXeD@Example.TEST \xc3\x89";
    address_lower(s);
    assert_string_equal(s, "mixed@example.test \xc3\x89"); /* ASCII only */
}

/* A backend that counts lookups: a fully connected group of aliases
 * (each naming every other) must not be expanded exponentially. */
#define FAN 6
static unsigned lookups;
static char fan_keys[FAN][32];
static const char *fan_targets[FAN][FAN + 1];

static const char *fan_hash(const struct user_table *t, const char *addr)
{
    return strcmp(addr, "alice@example.test") == 0 ? "!" : NULL;
}

static const char *const *fan_aliases(const struct user_table *t, const char *key, size_t *n_r)
{
    lookups++;
    for (int i = 0; i < FAN; i++)
        if (strcmp(key, fan_keys[i]) == 0) {
            *n_r = FAN + 1;
            return fan_targets[i];
        }
    return NULL;
}

static void fan_free(struct user_table *t)
{
}

static void test_resolve_fan_out(void **state)
{
    static const struct user_table_ops ops = {"fan", fan_hash, fan_aliases, fan_free, NULL};
    struct user_table t = {&ops};
    for (int i = 0; i < FAN; i++)
        snprintf(fan_keys[i], sizeof(fan_keys[i]), "g%d@example.test", i);
    for (int i = 0; i < FAN; i++) {
        for (int k = 0; k < FAN; k++)
            fan_targets[i][k] = fan_keys[(i + k + 1) % FAN];
        fan_targets[i][FAN] = "alice@example.test";
    }
    char **v = NULL;
    size_t n = 0;
    lookups = 0;
    assert_int_equal(user_table_resolve(&t, "G0@example.test", &v, &n), 1);
    assert_string_equal(v[0], "alice@example.test");
    if (lookups > 10 * FAN * FAN)
        fail_msg("%u alias lookups for %d aliases", lookups, FAN);
    free(v[0]);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_users, load_sample, free_sample),
        cmocka_unit_test_setup_teardown(test_resolve, load_sample, free_sample),
        cmocka_unit_test_setup_teardown(test_resolve_appends, load_sample, free_sample),
        cmocka_unit_test_setup_teardown(test_bad_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
        cmocka_unit_test(test_mailbox_safe),
        cmocka_unit_test(test_resolve_fan_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
