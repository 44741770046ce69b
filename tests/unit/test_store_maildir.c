/* Unit tests for the Maildir store on a temporary directory: first-login
 * setup, LIST data, CREATE/DELETE/RENAME, APPEND, sync (new/ to cur/,
 * other programs' changes), flags and keywords, EXPUNGE, COPY/MOVE,
 * STATUS, a damaged uidlist rebuilt, a stale lock broken, and two threads
 * syncing one folder at once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/xmalloc.h"

struct fixture {
    char dir[64];
    char *root;
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    strcpy(fx->dir, "/var/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/user/Maildir", fx->dir);
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
    free(fx);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *b = xcalloc(1, 65536);
    size_t n = fread(b, 1, 65535, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static const struct store_list_entry *find(const struct store_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

static void test_setup_layout(void **state)
{
    struct fixture *fx = *state;
    const char *want[] = {"cur",
                          "new",
                          "tmp",
                          ".Sent/cur",
                          ".Drafts/new",
                          ".Trash/tmp",
                          ".Junk/maildirfolder",
                          ".Archive/cur"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *p = xasprintf("%s/%s", fx->root, want[i]);
        assert_int_equal(access(p, F_OK), 0);
        free(p);
    }
    char *p = xasprintf("%s/subscriptions", fx->root);
    char *subs = slurp(p);
    assert_string_equal(subs, "V\t2\n\nSent\nDrafts\nTrash\nJunk\nArchive\n");
    free(subs);
    free(p);
    assert_int_equal(store_setup(fx->s), 0); /* again: nothing changes, no error */
    struct store_list l;
    assert_int_equal(store_list(fx->s, &l), 0);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.v[0].name, "INBOX");
    assert_int_equal(find(&l, "Sent")->attrs,
                     STORE_A_SENT | STORE_A_SUBSCRIBED | STORE_A_HASNOCHILDREN);
    assert_true(find(&l, "Junk")->attrs & STORE_A_JUNK);
    assert_true(find(&l, "Archive")->attrs & STORE_A_ARCHIVE);
    assert_false(find(&l, "INBOX")->attrs & STORE_A_SUBSCRIBED);
    store_list_free(&l);
    /* Later logins leave the user's choices alone: an unsubscribed Junk
     * stays unsubscribed, a deleted Trash stays deleted. */
    assert_int_equal(store_subscribe(fx->s, "Junk", false), 0);
    assert_int_equal(store_delete(fx->s, "Trash"), 0);
    assert_int_equal(store_setup(fx->s), 0);
    assert_int_equal(store_list(fx->s, &l), 0);
    assert_false(find(&l, "Junk")->attrs & STORE_A_SUBSCRIBED);
    assert_true(find(&l, "Trash") == NULL || (find(&l, "Trash")->attrs & STORE_A_NONEXISTENT));
    store_list_free(&l);
}

static void test_special_use(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    assert_int_equal(store_create(s, "Old"), 0);
    assert_int_equal(store_set_special_use(s, "Old", STORE_A_ARCHIVE | STORE_A_JUNK), 0);
    assert_int_equal(store_set_special_use(s, "Nowhere", STORE_A_ARCHIVE), ENOENT);
    assert_int_equal(store_set_special_use(s, "../x", STORE_A_ARCHIVE), EINVAL);
    struct store_list l;
    assert_int_equal(store_list(s, &l), 0);
    unsigned use = find(&l, "Old")->attrs & (STORE_A_ARCHIVE | STORE_A_JUNK | STORE_A_SENT);
    assert_int_equal(use, STORE_A_ARCHIVE | STORE_A_JUNK);
    store_list_free(&l);
    /* It moves with the folder, and 0 clears it. */
    assert_int_equal(store_rename(s, "Old", "Older"), 0);
    assert_int_equal(store_list(s, &l), 0);
    assert_true(find(&l, "Older")->attrs & STORE_A_ARCHIVE);
    store_list_free(&l);
    assert_int_equal(store_set_special_use(s, "Older", 0), 0);
    assert_int_equal(store_list(s, &l), 0);
    assert_false(find(&l, "Older")->attrs & STORE_A_ARCHIVE);
    store_list_free(&l);
}

static void test_folders(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    assert_int_equal(store_create(s, "A.B.C"), 0);
    assert_int_equal(store_create(s, "A.B.C"), EEXIST);
    assert_int_equal(store_create(s, "inbox"), EEXIST);
    assert_int_equal(store_create(s, "../x"), EINVAL);
    assert_int_equal(store_create(s, "a/b"), EINVAL);
    assert_int_equal(store_create(s, ""), EINVAL);
    assert_int_equal(store_subscribe(s, "Gone", true), 0);
    assert_int_equal(store_subscribe(s, "a..b", true), EINVAL);
    struct store_list l;
    assert_int_equal(store_list(s, &l), 0);
    assert_int_equal(find(&l, "A")->attrs, STORE_A_NOSELECT | STORE_A_HASCHILDREN);
    assert_int_equal(find(&l, "A.B")->attrs, STORE_A_NOSELECT | STORE_A_HASCHILDREN);
    assert_int_equal(find(&l, "A.B.C")->attrs, STORE_A_HASNOCHILDREN);
    assert_int_equal(find(&l, "Gone")->attrs, STORE_A_NONEXISTENT | STORE_A_SUBSCRIBED);
    store_list_free(&l);
    /* DELETE: INBOX never, a \Noselect parent not, a folder with children yes. */
    assert_int_equal(store_delete(s, "INBOX"), EPERM);
    assert_int_equal(store_delete(s, "A"), ENOTEMPTY);
    assert_int_equal(store_delete(s, "Nope"), ENOENT);
    assert_int_equal(store_create(s, "A.B"), 0);
    uint32_t uv, uid;
    assert_int_equal(store_append(s, "A.B", "x\r\n", 3, 0, NULL, 0, 0, &uv, &uid), 0);
    assert_int_equal(store_delete(s, "A.B"), 0);
    assert_int_equal(store_list(s, &l), 0);
    assert_int_equal(find(&l, "A.B")->attrs, STORE_A_NOSELECT | STORE_A_HASCHILDREN);
    store_list_free(&l);
    assert_int_equal(count_files(fx->root) >= 1, 1);
    /* RENAME with children; onto an existing folder refused; INBOX refused. */
    assert_int_equal(store_rename(s, "A", "Sent"), EEXIST);
    assert_int_equal(store_rename(s, "A", "A.X"), EINVAL);
    assert_int_equal(store_rename(s, "INBOX", "Old"), EPERM);
    assert_int_equal(store_rename(s, "Nope", "Z"), ENOENT);
    assert_int_equal(store_rename(s, "A", "Z"), 0);
    assert_int_equal(store_list(s, &l), 0);
    assert_null(find(&l, "A.B.C"));
    assert_non_null(find(&l, "Z.B.C"));
    assert_int_equal(find(&l, "Z.B.C")->attrs, STORE_A_HASNOCHILDREN);
    store_list_free(&l);
    char *p = xasprintf("%s/.Z.B.C/cur", fx->root);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    assert_int_equal(store_subscribe(s, "Gone", false), 0);
    assert_int_equal(store_list(s, &l), 0);
    assert_null(find(&l, "Gone"));
    store_list_free(&l);
}

static void test_append_sync(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    const char *kw[] = {"$Forwarded", "kw1"};
    uint32_t uv, uid1, uid2;
    assert_int_equal(store_append(s, "INBOX", "Subject: a\r\n\r\nbody\r\n", 20, STORE_F_SEEN, kw, 2,
                                  1000000000, &uv, &uid1),
                     0);
    assert_int_equal(uid1, 1);
    assert_int_equal(store_append(s, "inbox", "b\n", 2, 0, NULL, 0, 0, &uv, &uid2), 0);
    assert_int_equal(uid2, 2);
    assert_int_equal(store_append(s, "Nope", "b\n", 2, 0, NULL, 0, 0, &uv, &uid2), ENOENT);
    const char *badkw[] = {"a b"};
    assert_int_equal(store_append(s, "INBOX", "b\n", 2, 0, badkw, 1, 0, &uv, &uid2), EINVAL);
    char *tmpdir = xasprintf("%s/tmp", fx->root);
    assert_int_equal(count_files(tmpdir), 0); /* nothing left behind */
    free(tmpdir);
    /* A delivery by another program lands in new/. */
    char *p = xasprintf("%s/new/1700000000.M1P1Q1.host,S=2,W=3", fx->root);
    spit(p, "x\n");
    free(p);
    struct store_folder *f;
    assert_int_equal(store_open(s, "INBOX", false, &f), 0);
    assert_int_equal(f->uidvalidity, uv);
    assert_int_equal(f->n, 3);
    assert_int_equal(f->uidnext, 4);
    struct store_msg *m = store_msg_by_uid(f, 1);
    assert_int_equal(m->flags, STORE_F_SEEN);
    assert_int_equal(m->keywords, 3);
    assert_string_equal(f->keywords[0], "$Forwarded");
    assert_string_equal(f->keywords[1], "kw1");
    assert_int_equal(m->size, 20);
    assert_int_equal(m->file_size, 17);
    assert_int_equal(m->internal_date, 1000000000);
    assert_false(m->recent);
    m = store_msg_by_uid(f, 3);
    assert_true(m->recent);
    assert_int_equal(m->size, 3);
    assert_string_equal(m->file, "cur/1700000000.M1P1Q1.host,S=2,W=3:2,");
    p = xasprintf("%s/new", fx->root);
    assert_int_equal(count_files(p), 0);
    free(p);
    int fd = store_open_msg(f, 1);
    assert_true(fd >= 0);
    char buf[64] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf)), 17);
    assert_string_equal(buf, "Subject: a\n\nbody\n");
    close(fd);
    /* The uidlist as Dovecot writes it. */
    p = xasprintf("%s/dovecot-uidlist", fx->root);
    char *ul = slurp(p);
    free(p);
    char head[64];
    snprintf(head, sizeof(head), "3 V%u N4 G", uv);
    assert_memory_equal(ul, head, strlen(head));
    assert_non_null(strstr(ul, "\n3 :1700000000.M1P1Q1.host,S=2,W=3\n"));
    free(ul);
    /* Another program: a flag change by rename, an expunge, a delivery
     * without sizes in its name (measured). */
    char *from = xasprintf("%s/%s", fx->root, store_msg_by_uid(f, 3)->file);
    char *to = xasprintf("%s/cur/1700000000.M1P1Q1.host,S=2,W=3:2,FS", fx->root);
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    p = xasprintf("%s/%s", fx->root, store_msg_by_uid(f, 2)->file);
    assert_int_equal(unlink(p), 0);
    free(p);
    p = xasprintf("%s/new/1800000000.M2P2Q2.other", fx->root);
    spit(p, "a\nb\n");
    free(p);
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_added, 1);
    assert_int_equal(c.added[0], 4);
    assert_int_equal(c.n_expunged, 1);
    assert_int_equal(c.expunged[0], 2);
    assert_int_equal(c.n_flags_changed, 1);
    assert_int_equal(c.flags_changed[0], 3);
    store_changes_free(&c);
    assert_int_equal(store_msg_by_uid(f, 4)->size, 6);
    assert_true(store_msg_by_uid(f, 3)->recent); /* still, for this session */
    p = xasprintf("%s/dovecot-uidlist", fx->root);
    ul = slurp(p);
    assert_non_null(strstr(ul, "\n4 W6 :1800000000.M2P2Q2.other\n"));
    assert_null(strstr(ul, "\n2 "));
    free(ul);
    free(p);
    /* Nothing changed: nothing reported. */
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_added + c.n_expunged + c.n_flags_changed, 0);
    store_changes_free(&c);
    store_close(f);
}

static void test_flags_expunge(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    uint32_t uv, uid;
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_append(s, "Sent", "m\n", 2, 0, NULL, 0, 0, &uv, &uid), 0);
    struct store_folder *f, *ro;
    assert_int_equal(store_open(s, "Sent", false, &f), 0);
    const char *kw[] = {"Work", "$Junk"};
    assert_int_equal(store_set_flags(f, 2, STORE_F_DELETED | STORE_F_SEEN, kw, 2), 0);
    assert_int_equal(store_set_flags(f, 9, 0, NULL, 0), ENOENT);
    struct store_msg *m = store_msg_by_uid(f, 2);
    assert_non_null(strstr(m->file, ":2,STab"));
    char *p = xasprintf("%s/.Sent/dovecot-keywords", fx->root);
    char *k = slurp(p);
    assert_string_equal(k, "0 Work\n1 $Junk\n");
    free(k);
    free(p);
    /* Another program renamed it meanwhile: found again by its base. */
    char *from = xasprintf("%s/.Sent/%s", fx->root, store_msg_by_uid(f, 1)->file);
    char *to = xasprintf("%s:2,F", from);
    *strstr(to, ":2,:2,") = '\0';
    strcat(to, ":2,F");
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    int fd = store_open_msg(f, 1);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_set_flags(f, 1, STORE_F_ANSWERED, NULL, 0), 0);
    assert_non_null(strstr(store_msg_by_uid(f, 1)->file, ":2,R"));
    /* EXAMINE cannot change anything. */
    assert_int_equal(store_open(s, "Sent", true, &ro), 0);
    assert_int_equal(store_set_flags(ro, 1, 0, NULL, 0), EROFS);
    uint32_t *gone;
    size_t ngone;
    assert_int_equal(store_expunge(ro, NULL, 0, &gone, &ngone), EROFS);
    assert_int_equal(ro->n, 3);
    assert_int_equal(store_msg_by_uid(ro, 2)->keywords, 3);
    store_close(ro);
    assert_int_equal(store_expunge(f, NULL, 0, &gone, &ngone), 0);
    assert_int_equal(ngone, 1);
    assert_int_equal(gone[0], 2);
    free(gone);
    uint32_t which[] = {3, 77};
    assert_int_equal(store_expunge(f, which, 2, &gone, &ngone), 0);
    assert_int_equal(ngone, 1);
    assert_int_equal(gone[0], 3);
    free(gone);
    assert_int_equal(f->n, 1);
    p = xasprintf("%s/.Sent/cur", fx->root);
    assert_int_equal(count_files(p), 1);
    free(p);
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_expunged + c.n_added, 0);
    store_changes_free(&c);
    store_close(f);
}

static void test_copy_move_status(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    uint32_t uv, uid;
    const char *kw[] = {"Later"};
    assert_int_equal(
        store_append(s, "INBOX", "one\r\n", 5, STORE_F_FLAGGED, kw, 1, 12345, &uv, &uid), 0);
    assert_int_equal(store_append(s, "INBOX", "two\r\n", 5, 0, NULL, 0, 0, &uv, &uid), 0);
    struct store_status st;
    assert_int_equal(store_status(s, "INBOX", &st), 0);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.unseen, 2);
    assert_int_equal(st.uidnext, 3);
    assert_int_equal(st.uidvalidity, uv);
    assert_int_equal(st.size, 10);
    assert_int_equal(st.recent, 0);
    char *p = xasprintf("%s/new/1900000000.M3P3Q3.h,S=2,W=3", fx->root);
    spit(p, "z\n");
    free(p);
    assert_int_equal(store_status(s, "INBOX", &st), 0);
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.recent, 1);
    assert_int_equal(st.uidnext, 4); /* predicted */
    assert_int_equal(store_status(s, "Nope", &st), ENOENT);
    /* STATUS of a folder without a uidlist yet gives a UIDVALIDITY. */
    assert_int_equal(store_status(s, "Trash", &st), 0);
    assert_true(st.uidvalidity != 0);
    assert_int_equal(st.uidnext, 1);

    struct store_folder *f;
    assert_int_equal(store_open(s, "INBOX", false, &f), 0);
    uint32_t uids[] = {1, 2, 50};
    struct store_uidmap map;
    assert_int_equal(store_copy(f, uids, 3, "Nope", false, &map), ENOENT);
    assert_int_equal(store_copy(f, uids, 3, "Archive", false, &map), 0);
    assert_int_equal(map.n, 2);
    assert_int_equal(map.src[0], 1);
    assert_int_equal(map.dst[0], 1);
    assert_int_equal(map.dst[1], 2);
    uint32_t arch_uv = map.uidvalidity;
    store_uidmap_free(&map);
    struct store_folder *a;
    assert_int_equal(store_open(s, "Archive", false, &a), 0);
    assert_int_equal(a->uidvalidity, arch_uv);
    assert_int_equal(a->n, 2);
    struct store_msg *m = store_msg_by_uid(a, 1);
    assert_int_equal(m->flags, STORE_F_FLAGGED);
    assert_string_equal(a->keywords[__builtin_ctz(m->keywords)], "Later");
    assert_int_equal(m->internal_date, 12345);
    assert_int_equal(m->size, 5);
    store_close(a);
    uint32_t mv[] = {2};
    assert_int_equal(store_copy(f, mv, 1, "Junk", true, &map), 0);
    assert_int_equal(map.n, 1);
    store_uidmap_free(&map);
    assert_null(store_msg_by_uid(f, 2));
    assert_int_equal(store_status(s, "Junk", &st), 0);
    assert_int_equal(st.messages, 1);
    store_close(f);
    char *nw, *cur;
    assert_int_equal(store_watch_paths(s, "Junk", &nw, &cur), 0);
    p = xasprintf("%s/.Junk/new", fx->root);
    assert_string_equal(nw, p);
    free(p);
    free(nw);
    free(cur);
    assert_int_equal(store_watch_paths(s, "..", &nw, &cur), EINVAL);
}

static void test_damaged_uidlist(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    uint32_t uv, uid;
    assert_int_equal(store_append(s, "Drafts", "a\n", 2, 0, NULL, 0, 0, &uv, &uid), 0);
    assert_int_equal(store_append(s, "Drafts", "b\n", 2, 0, NULL, 0, 0, &uv, &uid), 0);
    char *p = xasprintf("%s/.Drafts/dovecot-uidlist", fx->root);
    spit(p, "3 V5 N9\n7 :x\n3 :y\n"); /* not ascending */
    struct store_folder *f;
    assert_int_equal(store_open(s, "Drafts", false, &f), 0);
    assert_int_equal(f->n, 2);
    assert_true(f->uidvalidity != 5);
    assert_int_equal(f->msgs[0].uid, 1);
    assert_int_equal(f->msgs[1].uid, 2);
    uint32_t before = f->uidvalidity;
    /* Damaged under an open folder: the re-sync reports all as new. */
    spit(p, "garbage");
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_true(f->uidvalidity > before);
    assert_int_equal(c.n_added, 2);
    store_changes_free(&c);
    store_close(f);
    /* No uidlist at all: a new one. */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(store_open(s, "Drafts", true, &f), 0);
    assert_int_equal(f->n, 2);
    assert_int_equal(access(p, F_OK), 0);
    store_close(f);
    free(p);
}

/* A uidlist whose UIDs have run out: APPEND and sync start a new
 * UIDVALIDITY and every file gets a UID again. */
static void test_uids_exhausted(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->s;
    uint32_t uv, uid;
    assert_int_equal(store_append(s, "Drafts", "a\n", 2, 0, NULL, 0, 0, &uv, &uid), 0);
    struct store_folder *f;
    assert_int_equal(store_open(s, "Drafts", false, &f), 0);
    char *stem = xstrndup(f->msgs[0].file + 4, strcspn(f->msgs[0].file + 4, ":"));
    store_close(f);
    char *p = xasprintf("%s/.Drafts/dovecot-uidlist", fx->root);
    char *text = xasprintf("3 V5 N7\n4294967295 :%s\n", stem);
    spit(p, text);
    assert_int_equal(store_append(s, "Drafts", "b\n", 2, 0, NULL, 0, 0, &uv, &uid), 0);
    assert_true(uv > 5);
    assert_int_equal(uid, 1);
    assert_int_equal(store_open(s, "Drafts", false, &f), 0);
    assert_int_equal(f->uidvalidity, uv);
    assert_int_equal(f->n, 2);
    assert_int_equal(f->msgs[0].uid, 1);
    assert_int_equal(f->msgs[1].uid, 2);
    assert_int_equal(f->uidnext, 3);
    store_close(f);
    /* One UID left but two files without one: sync renumbers. */
    free(text);
    text = xasprintf("3 V5 N4294967295\n4294967294 :%s\n", stem);
    spit(p, text);
    char *nw = xasprintf("%s/.Drafts/new/1700000000.M1P1Q1.h", fx->root);
    spit(nw, "c\n");
    assert_int_equal(store_open(s, "Drafts", false, &f), 0);
    assert_true(f->uidvalidity > 5);
    assert_int_equal(f->n, 3);
    assert_int_equal(f->msgs[2].uid, 3);
    assert_int_equal(f->uidnext, 4);
    store_close(f);
    free(nw);
    free(text);
    free(p);
    free(stem);
}

static void test_stale_lock(void **state)
{
    struct fixture *fx = *state;
    char *p = xasprintf("%s/dovecot-uidlist.lock", fx->root);
    spit(p, "");
    struct utimbuf old = {1000, 1000};
    assert_int_equal(utime(p, &old), 0);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    assert_int_equal(access(p, F_OK), -1); /* broken, then ours released */
    store_close(f);
    free(p);
}

/* A fresh lock naming a process that is gone (a kill -9) is broken at
 * once, not after DOTLOCK_STALE_SECS. */
static void test_dead_holder_lock(void **state)
{
    struct fixture *fx = *state;
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char host[256] = "";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    char *p = xasprintf("%s/dovecot-uidlist.lock", fx->root);
    char *text = xasprintf("%ld:%s", (long)child, host);
    spit(p, text);
    time_t t0 = time(NULL);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    assert_true(time(NULL) - t0 < 5);
    assert_int_equal(access(p, F_OK), -1);
    store_close(f);
    free(text);
    free(p);
}

struct race {
    struct store *s;
    int rc;
    uint32_t uidvalidity;
};

static void *race_sync(void *arg)
{
    struct race *r = arg;
    struct store_folder *f;
    for (int i = 0; i < 20 && r->rc == 0; i++) {
        r->rc = store_open(r->s, "INBOX", false, &f);
        if (r->rc == 0) {
            r->uidvalidity = f->uidvalidity;
            store_close(f);
        }
    }
    return NULL;
}

static void test_concurrent_sync(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 30; i++) {
        char *p = xasprintf("%s/new/17000000%02d.M1P1Q%d.host", fx->root, i, i);
        spit(p, "x\n");
        free(p);
    }
    struct store *s2 = store_maildir_new(fx->root);
    struct race a = {fx->s, 0, 0}, b = {s2, 0, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race_sync, &a);
    pthread_create(&tb, NULL, race_sync, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(a.uidvalidity, b.uidvalidity);
    struct store_folder *f;
    assert_int_equal(store_open(s2, "INBOX", false, &f), 0);
    assert_int_equal(f->n, 30);
    for (size_t i = 0; i < f->n; i++) /* each numbered once, in delivery order */
        assert_int_equal(f->msgs[i].uid, i + 1);
    assert_non_null(strstr(f->msgs[29].file, "1700000029"));
    assert_int_equal(f->uidnext, 31);
    store_close(f);
    store_free(s2);
}

/* STORE +FLAGS passes a message's present keywords as pointers into
 * f->keywords; adding a new one rereads the file under its lock, and the
 * names passed must still be read after that (found by fuzz_imap_session). */
static void test_keywords_from_the_folder(void **state)
{
    struct fixture *fx = *state;
    uint32_t uv, uid;
    const char *kw[] = {"Work"};
    assert_int_equal(store_append(fx->s, "Sent", "m\n", 2, 0, kw, 1, 0, &uv, &uid), 0);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "Sent", false, &f), 0);
    assert_string_equal(f->keywords[0], "Work");
    const char *both[] = {f->keywords[0], "Later"};
    assert_int_equal(store_set_flags(f, uid, STORE_F_SEEN, both, 2), 0);
    struct store_msg *m = store_msg_by_uid(f, uid);
    assert_int_equal(m->keywords, 3);
    assert_string_equal(f->keywords[0], "Work");
    assert_string_equal(f->keywords[1], "Later");
    char *p = xasprintf("%s/.Sent/dovecot-keywords", fx->root);
    char *k = slurp(p);
    assert_string_equal(k, "0 Work\n1 Later\n");
    free(k);
    free(p);
    store_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_setup_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_expunge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keywords_from_the_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_move_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_uidlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uids_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
