/* Unit tests for CONDSTORE/QRESYNC in the store: each kind of change
 * (flags, append, copy, expunge, other programs' renames, deliveries and
 * unlinks) raises the modseq; values survive close/reopen; a lost or
 * damaged postern-index (and postern-modseq) gives modseqs above the old
 * highest; the expunge history, its cap and its encoding; STORE
 * UNCHANGEDSINCE; two threads changing flags never share a modseq; a
 * process killed with SIGKILL in the middle of STOREs loses nothing it was
 * told was done. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

#include <cmocka.h>

#include "store/expunges.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct fixture {
    char dir[64];
    char *root;
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    strcpy(fx->dir, "/var/tmp/test_modseq.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/Maildir", fx->dir);
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

static uint32_t add(struct fixture *fx, const char *folder, int i)
{
    char *msg = xasprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i);
    uint32_t uv, uid;
    assert_int_equal(store_append(fx->s, folder, msg, strlen(msg), 0, NULL, 0, 0, &uv, &uid), 0);
    free(msg);
    return uid;
}

static uint64_t max_modseq(const struct store_folder *f)
{
    uint64_t m = 0;
    for (size_t i = 0; i < f->n; i++) {
        assert_true(f->msgs[i].modseq >= 1);
        if (f->msgs[i].modseq > m)
            m = f->msgs[i].modseq;
    }
    return m;
}

static bool ranges_have(const struct store_uid_ranges *r, uint32_t uid)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].lo <= uid && uid <= r->v[i].hi)
            return true;
    return false;
}

static void test_each_change(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 4; i++)
        add(fx, "INBOX", i);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    assert_int_equal(f->n, 4);
    uint64_t h0 = store_highest_modseq(f);
    assert_true(h0 >= 1);
    assert_int_equal(max_modseq(f), h0);
    uint32_t *uids;
    size_t n;
    store_changed_since(f, h0, &uids, &n);
    assert_int_equal(n, 0);

    /* A flag change: a new value, only for that message. */
    uint32_t u1 = f->msgs[0].uid, u2 = f->msgs[1].uid;
    assert_int_equal(store_set_flags(f, u1, STORE_F_SEEN, NULL, 0), 0);
    assert_int_equal(store_commit(f), 0);
    uint64_t h1 = store_highest_modseq(f);
    assert_true(h1 > h0);
    assert_int_equal(store_msg_by_uid(f, u1)->modseq, h1);
    store_changed_since(f, h0, &uids, &n);
    assert_int_equal(n, 1);
    assert_int_equal(uids[0], u1);
    free(uids);
    /* The same flags again: nothing changes, no value is used. */
    assert_int_equal(store_set_flags(f, u1, STORE_F_SEEN, NULL, 0), 0);
    assert_int_equal(store_highest_modseq(f), h1);
    /* A keyword is a change too. */
    const char *kw[] = {"$Work"};
    assert_int_equal(store_set_flags(f, u1, STORE_F_SEEN, kw, 1), 0);
    assert_int_equal(store_commit(f), 0);
    uint64_t h2 = store_highest_modseq(f);
    assert_true(h2 > h1);

    /* An expunge. */
    uint32_t *gone;
    size_t ngone;
    assert_int_equal(store_expunge(f, &u2, 1, &gone, &ngone), 0);
    assert_int_equal(ngone, 1);
    free(gone);
    uint64_t h3 = store_highest_modseq(f);
    assert_true(h3 > h2);
    struct store_uid_ranges r;
    bool complete;
    store_expunged_since(f, h2, NULL, 0, &r, &complete);
    assert_true(complete);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].lo, u2);
    assert_int_equal(r.v[0].hi, u2);
    store_uid_ranges_free(&r);
    store_expunged_since(f, h3, NULL, 0, &r, &complete);
    assert_true(complete);
    assert_int_equal(r.n, 0);
    /* Within a set that leaves it out: nothing. */
    struct store_uid_range not_u2 = {u2 + 1, 100};
    store_expunged_since(f, h2, &not_u2, 1, &r, &complete);
    assert_int_equal(r.n, 0);

    /* An APPEND seen by the next sync, and a COPY in. */
    uint32_t u5 = add(fx, "INBOX", 5);
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_added, 1);
    store_changes_free(&c);
    uint64_t h4 = store_highest_modseq(f);
    assert_true(h4 > h3);
    assert_int_equal(store_msg_by_uid(f, u5)->modseq, h4);
    struct store_folder *t;
    assert_int_equal(store_open(fx->s, "Trash", false, &t), 0);
    uint64_t t0 = store_highest_modseq(t);
    struct store_uidmap map;
    assert_int_equal(store_copy(f, &u5, 1, "Trash", false, &map), 0);
    assert_int_equal(map.n, 1);
    assert_int_equal(store_sync(t, NULL), 0);
    assert_true(store_msg_by_uid(t, map.dst[0])->modseq > t0);
    assert_true(store_highest_modseq(t) > t0);
    store_uidmap_free(&map);
    /* A MOVE is an expunge in the source. */
    assert_int_equal(store_copy(f, &u5, 1, "Trash", true, &map), 0);
    store_uidmap_free(&map);
    assert_true(store_highest_modseq(f) > h4);
    store_expunged_since(f, h4, NULL, 0, &r, &complete);
    assert_true(ranges_have(&r, u5));
    store_uid_ranges_free(&r);
    store_close(t);

    /* STATUS knows the highest without a view. */
    store_close(f);
    struct store_status st;
    assert_int_equal(store_status(fx->s, "INBOX", &st), 0);
    assert_true(st.highest_modseq > h4);
}

static char *folder_file(struct fixture *fx, const char *rel)
{
    return xasprintf("%s/%s", fx->root, rel);
}

static void test_other_programs(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 3; i++)
        add(fx, "INBOX", i);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    uint64_t h0 = store_highest_modseq(f);
    /* Another program's flag change (a rename). */
    struct store_msg *m = &f->msgs[1];
    uint32_t uid = m->uid, old = (uint32_t)m->modseq;
    char *from = folder_file(fx, m->file);
    char *to = xasprintf("%sFS", from); /* ":2," + F S */
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_flags_changed, 1);
    store_changes_free(&c);
    uint64_t h1 = store_highest_modseq(f);
    assert_true(h1 > h0);
    assert_true(store_msg_by_uid(f, uid)->modseq > old);
    assert_int_equal(store_msg_by_uid(f, uid)->modseq, h1);
    /* A delivery into new/. */
    char *newf = folder_file(fx, "new/1700000000.M1P1Q1.test");
    FILE *fp = fopen(newf, "w");
    assert_non_null(fp);
    fputs("Subject: x\n\nx\n", fp);
    fclose(fp);
    free(newf);
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_added, 1);
    uint32_t delivered = c.added[0];
    store_changes_free(&c);
    uint64_t h2 = store_highest_modseq(f);
    assert_true(h2 > h1);
    assert_int_equal(store_msg_by_uid(f, delivered)->modseq, h2);
    /* An unlink. */
    char *gone = folder_file(fx, f->msgs[0].file);
    uint32_t gone_uid = f->msgs[0].uid;
    assert_int_equal(unlink(gone), 0);
    free(gone);
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_expunged, 1);
    store_changes_free(&c);
    uint64_t h3 = store_highest_modseq(f);
    assert_true(h3 > h2);
    struct store_uid_ranges r;
    bool complete;
    store_expunged_since(f, h2, NULL, 0, &r, &complete);
    assert_true(complete);
    assert_true(ranges_have(&r, gone_uid));
    assert_int_equal(r.n, 1);
    store_uid_ranges_free(&r);
    /* Another session sees the same values from postern-index. */
    struct store_folder *g;
    assert_int_equal(store_open(fx->s, "INBOX", true, &g), 0);
    assert_int_equal(g->n, f->n);
    for (size_t i = 0; i < f->n; i++)
        assert_int_equal(g->msgs[i].modseq, f->msgs[i].modseq);
    assert_int_equal(store_highest_modseq(g), h3);
    store_expunged_since(g, h2, NULL, 0, &r, &complete);
    assert_true(complete && ranges_have(&r, gone_uid));
    store_uid_ranges_free(&r);
    store_close(g);
    store_close(f);
}

/* The modseqs of INBOX's messages by UID, and its highest. */
static uint64_t snapshot(struct fixture *fx, uint64_t *by_uid, size_t cap)
{
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    memset(by_uid, 0, cap * sizeof(*by_uid));
    for (size_t i = 0; i < f->n; i++)
        if (f->msgs[i].uid < cap)
            by_uid[f->msgs[i].uid] = f->msgs[i].modseq;
    uint64_t h = store_highest_modseq(f);
    assert_int_equal(max_modseq(f) <= h, 1);
    store_close(f);
    return h;
}

static void test_restart_and_rebuild(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 5; i++)
        add(fx, "INBOX", i);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    assert_int_equal(store_set_flags(f, f->msgs[2].uid, STORE_F_FLAGGED, NULL, 0), 0);
    assert_int_equal(store_commit(f), 0);
    uint32_t x = f->msgs[4].uid;
    uint32_t *gone;
    size_t ngone;
    assert_int_equal(store_expunge(f, &x, 1, &gone, &ngone), 0);
    free(gone);
    uint64_t before = store_highest_modseq(f);
    store_close(f);
    uint64_t a[16], b[16];
    /* Reopen (twice: once after the racy window has passed or not). */
    uint64_t h = snapshot(fx, a, 16);
    assert_int_equal(h, before);
    assert_int_equal(snapshot(fx, b, 16), h);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(a[x], 0);

    /* postern-index deleted: every message above the old highest. */
    char *ipath = folder_file(fx, "postern-index");
    assert_int_equal(unlink(ipath), 0);
    uint64_t h2 = snapshot(fx, b, 16);
    assert_true(h2 > h);
    for (int i = 0; i < 16; i++)
        assert_true((a[i] == 0) == (b[i] == 0) && (b[i] == 0 || b[i] > h));
    /* The history is complete only from the rebuild on: a client's older
     * modseq gets every UID that is not a message now. */
    assert_int_equal(store_open(fx->s, "INBOX", true, &f), 0);
    assert_true(store_expunged_complete_since(f) > h);
    struct store_uid_ranges r;
    bool complete;
    store_expunged_since(f, h, NULL, 0, &r, &complete);
    assert_false(complete);
    assert_true(ranges_have(&r, x));
    for (size_t i = 0; i < f->n; i++)
        assert_false(ranges_have(&r, f->msgs[i].uid));
    store_uid_ranges_free(&r);
    store_close(f);

    /* Damaged (one octet changed): the same. */
    int fd = open(ipath, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "Z", 1, 40), 1);
    close(fd);
    uint64_t h3 = snapshot(fx, a, 16);
    assert_true(h3 > h2);
    for (int i = 0; i < 16; i++)
        assert_true(a[i] == 0 || a[i] > h2);

    /* postern-modseq lost too: still above (and never below afterwards). */
    char *mpath = folder_file(fx, "postern-modseq");
    assert_int_equal(unlink(ipath), 0);
    assert_int_equal(unlink(mpath), 0);
    uint64_t h4 = snapshot(fx, b, 16);
    assert_true(h4 > h3);
    for (int i = 0; i < 16; i++)
        assert_true(b[i] == 0 || b[i] > h3);
    assert_int_equal(snapshot(fx, a, 16), h4);
    /* postern-modseq damaged, the index kept: nothing vouches for it. */
    fd = open(mpath, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "9", 1, 6), 1);
    close(fd);
    uint64_t h5 = snapshot(fx, a, 16);
    assert_true(h5 > h4);
    assert_true(snapshot(fx, b, 16) >= h5);
    free(ipath);
    free(mpath);
}

static void test_unchangedsince(void **state)
{
    struct fixture *fx = *state;
    add(fx, "INBOX", 1);
    add(fx, "INBOX", 2);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    uint32_t u = f->msgs[0].uid;
    uint64_t ms = f->msgs[0].modseq;
    bool modified = true;
    /* Below the message's modseq: refused, nothing changed. */
    assert_int_equal(
        store_set_flags_unchanged_since(f, u, STORE_F_SEEN, NULL, 0, ms - 1, &modified), 0);
    assert_true(modified);
    assert_int_equal(store_msg_by_uid(f, u)->flags, 0);
    assert_int_equal(store_msg_by_uid(f, u)->modseq, ms);
    /* At it: done. */
    assert_int_equal(store_set_flags_unchanged_since(f, u, STORE_F_SEEN, NULL, 0, ms, &modified),
                     0);
    assert_false(modified);
    assert_int_equal(store_msg_by_uid(f, u)->flags, STORE_F_SEEN);
    uint64_t ms2 = store_msg_by_uid(f, u)->modseq;
    assert_true(ms2 > ms);
    /* The old value again: modified now. */
    assert_int_equal(store_set_flags_unchanged_since(f, u, 0, NULL, 0, ms, &modified), 0);
    assert_true(modified);
    assert_int_equal(store_msg_by_uid(f, u)->flags, STORE_F_SEEN);
    /* Another program renamed it since this view: modified. */
    struct store_msg *m = store_msg_by_uid(f, u);
    char *from = folder_file(fx, m->file);
    char *to = xasprintf("%sT", from);
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    assert_int_equal(
        store_set_flags_unchanged_since(f, u, STORE_F_ANSWERED, NULL, 0, ms2, &modified), 0);
    assert_true(modified);
    assert_int_equal(store_commit(f), 0);
    /* No such message. */
    assert_int_equal(store_set_flags_unchanged_since(f, 999, 0, NULL, 0, ms2, &modified), ENOENT);
    store_close(f);
}

static void test_history_cap(void **state)
{
    struct fixture *fx = *state;
    store_set_expunge_history_cap(fx->s, 3);
    uint32_t uids[10];
    for (int i = 0; i < 10; i++)
        uids[i] = add(fx, "INBOX", i);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    uint64_t marks[6];
    /* Five expunges of UIDs far apart: five ranges, three kept. */
    for (int i = 0; i < 5; i++) {
        marks[i] = store_highest_modseq(f);
        uint32_t *gone;
        size_t ngone;
        assert_int_equal(store_expunge(f, &uids[2 * i], 1, &gone, &ngone), 0);
        free(gone);
    }
    marks[5] = store_highest_modseq(f);
    uint64_t since = store_expunged_complete_since(f);
    assert_true(since > marks[1] && since <= marks[2]);
    struct store_uid_ranges r;
    bool complete;
    store_expunged_since(f, marks[2], NULL, 0, &r, &complete);
    assert_true(complete);
    assert_int_equal(r.n, 3);
    store_uid_ranges_free(&r);
    store_expunged_since(f, marks[0], NULL, 0, &r, &complete);
    assert_false(complete); /* every UID not here: 1, 3, 5, 7, 9 */
    for (int i = 0; i < 5; i++)
        assert_true(ranges_have(&r, uids[2 * i]));
    for (int i = 0; i < 5; i++)
        assert_false(ranges_have(&r, uids[2 * i + 1]));
    store_uid_ranges_free(&r);
    /* The cap and since survive a reopen. */
    store_close(f);
    assert_int_equal(store_open(fx->s, "INBOX", true, &f), 0);
    assert_int_equal(store_expunged_complete_since(f), since);
    store_expunged_since(f, marks[3], NULL, 0, &r, &complete);
    assert_true(complete);
    assert_int_equal(r.n, 2);
    store_uid_ranges_free(&r);
    store_close(f);
}

static void test_expunges_pure(void **state)
{
    struct expunges h = {0};
    expunges_add(&h, 5, 10);
    expunges_add(&h, 6, 10);
    expunges_add(&h, 4, 10);
    assert_int_equal(h.n, 1); /* joined: 4..6 */
    expunges_add(&h, 8, 11);
    expunges_add(&h, 7, 10);
    assert_int_equal(h.n, 2);
    assert_int_equal(expunges_find(&h, 7), 10);
    assert_int_equal(expunges_find(&h, 8), 11);
    assert_int_equal(expunges_find(&h, 9), 0);
    assert_int_equal(expunges_find(&h, 3), 0);
    /* A larger modseq for a UID inside a range splits it. */
    expunges_add(&h, 5, 12);
    assert_int_equal(h.n, 4);
    assert_int_equal(expunges_find(&h, 4), 10);
    assert_int_equal(expunges_find(&h, 5), 12);
    assert_int_equal(expunges_find(&h, 6), 10);
    expunges_add(&h, 5, 3); /* smaller: kept as it was */
    assert_int_equal(expunges_find(&h, 5), 12);
    /* Encode, decode the same; damaged refused. */
    struct buf b;
    buf_init(&b);
    expunges_encode(&h, &b);
    struct expunges back;
    assert_int_equal(expunges_decode((const unsigned char *)b.data, b.len, &back), 0);
    assert_int_equal(back.n, h.n);
    assert_memory_equal(back.v, h.v, h.n * sizeof(*h.v));
    expunges_free(&back);
    assert_int_equal(expunges_decode((const unsigned char *)b.data, b.len - 1, &back), EINVAL);
    b.data[12] = 9; /* first range's lo above its hi */
    assert_int_equal(expunges_decode((const unsigned char *)b.data, b.len, &back), EINVAL);
    buf_free(&b);
    /* Merge takes the larger; limit drops the oldest and raises since. */
    struct expunges o = {0};
    expunges_add(&o, 4, 20);
    expunges_add(&o, 100, 1);
    o.since = 2;
    expunges_merge(&h, &o);
    assert_int_equal(expunges_find(&h, 4), 20);
    assert_int_equal(expunges_find(&h, 100), 1);
    assert_int_equal(h.since, 2);
    size_t n = h.n;
    expunges_limit(&h, n - 1);
    assert_int_equal(h.n, n - 1);
    assert_int_equal(expunges_find(&h, 100), 0);
    assert_int_equal(h.since, 2);
    expunges_limit(&h, 1);
    assert_int_equal(h.n, 1);
    assert_int_equal(expunges_find(&h, 4), 20);
    assert_int_equal(h.since, 12);
    expunges_free(&o);
    expunges_free(&h);
}

/* Two sessions on one folder. A's message goes S -> F -> S while B's view
 * still has it at S with an older modseq; B closes last. The index B
 * leaves must not bring back that older modseq for the same flags. */
static void test_stale_view_closes_last(void **state)
{
    struct fixture *fx = *state;
    add(fx, "INBOX", 1);
    add(fx, "INBOX", 2);
    struct store_folder *a, *b;
    assert_int_equal(store_open(fx->s, "INBOX", false, &a), 0);
    assert_int_equal(store_open(fx->s, "INBOX", false, &b), 0);
    uint32_t u1 = a->msgs[0].uid, u2 = a->msgs[1].uid;
    assert_int_equal(store_set_flags(a, u1, STORE_F_SEEN, NULL, 0), 0);
    assert_int_equal(store_commit(a), 0);
    assert_int_equal(store_sync(b, NULL), 0); /* B sees u1 at \Seen */
    assert_int_equal(store_msg_by_uid(b, u1)->flags, STORE_F_SEEN);
    assert_int_equal(store_set_flags(b, u2, STORE_F_FLAGGED, NULL, 0), 0);
    assert_int_equal(store_commit(b), 0);
    assert_int_equal(store_set_flags(a, u1, STORE_F_FLAGGED, NULL, 0), 0);
    assert_int_equal(store_commit(a), 0);
    assert_int_equal(store_set_flags(a, u1, STORE_F_SEEN, NULL, 0), 0);
    assert_int_equal(store_commit(a), 0);
    uint64_t told = store_msg_by_uid(a, u1)->modseq;
    assert_true(told > store_msg_by_uid(b, u1)->modseq);
    store_close(a);
    store_close(b); /* the stale view, last */
    uint64_t by_uid[8];
    uint64_t h = snapshot(fx, by_uid, 8);
    assert_true(h >= told);
    assert_true(by_uid[u1] >= told);
}

struct racer {
    struct fixture *fx;
    int which;
    uint64_t got[200];
    int rc;
};

static void *race_flags(void *arg)
{
    struct racer *r = arg;
    struct store_folder *f;
    r->rc = store_open(r->fx->s, "INBOX", false, &f);
    if (r->rc != 0)
        return NULL;
    for (int i = 0; i < 200 && r->rc == 0; i++) {
        struct store_msg *m = &f->msgs[(size_t)r->which % f->n];
        uint32_t uid = m->uid;
        r->rc = store_set_flags(f, uid, (i & 1) ? STORE_F_SEEN : STORE_F_FLAGGED, NULL, 0);
        if (r->rc == 0)
            r->rc = store_commit(f);
        r->got[i] = store_msg_by_uid(f, uid)->modseq;
    }
    store_close(f);
    return NULL;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_threads(void **state)
{
    struct fixture *fx = *state;
    add(fx, "INBOX", 1);
    add(fx, "INBOX", 2);
    struct racer r[2] = {{fx, 0, {0}, 0}, {fx, 1, {0}, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_flags, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    uint64_t all[400];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].rc, 0);
        for (int k = 0; k < 200; k++) {
            all[i * 200 + k] = r[i].got[k];
            assert_true(k == 0 || r[i].got[k] > r[i].got[k - 1]);
        }
    }
    qsort(all, 400, sizeof(all[0]), u64_cmp);
    for (int i = 1; i < 400; i++)
        assert_true(all[i] > all[i - 1]); /* none given twice */
    uint64_t by_uid[8];
    assert_true(snapshot(fx, by_uid, 8) >= all[399]);
}

/* The child STOREs and reports on a pipe "uid flags modseq" after each
 * store_commit that returned 0; the parent kills it with SIGKILL. */
static void child_stores(struct fixture *fx, int out)
{
    struct store_folder *f;
    if (store_open(fx->s, "INBOX", false, &f) != 0)
        _exit(2);
    for (unsigned i = 0;; i++) {
        struct store_msg *m = &f->msgs[i % f->n];
        uint32_t uid = m->uid;
        unsigned flags = (i / (unsigned)f->n) % 2 ? STORE_F_SEEN : STORE_F_DELETED | STORE_F_DRAFT;
        if (store_set_flags(f, uid, flags, NULL, 0) != 0 || store_commit(f) != 0)
            _exit(3);
        char line[64];
        int len = snprintf(line, sizeof(line), "%u %u %llu\n", uid, flags,
                           (unsigned long long)store_msg_by_uid(f, uid)->modseq);
        if (write(out, line, (size_t)len) != len)
            _exit(4);
    }
}

static void test_kill9(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 4; i++)
        add(fx, "INBOX", i);
    uint64_t before[16];
    uint64_t h0 = snapshot(fx, before, 16);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_stores(fx, p[1]);
    }
    close(p[1]);
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    /* What the child was told was done. */
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(p[0]);
    buf_append_char(&b, '\0');
    uint64_t last_ms[16] = {0}, top = 0;
    unsigned last_flags[16] = {0};
    size_t reports = 0;
    for (char *line = b.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break; /* cut by the kill */
        unsigned uid, flags;
        unsigned long long ms;
        assert_int_equal(sscanf(line, "%u %u %llu", &uid, &flags, &ms), 3);
        assert_true(uid < 16 && ms > h0 && ms > top);
        last_ms[uid] = ms;
        last_flags[uid] = flags;
        top = ms;
        reports++;
        line = nl + 1;
    }
    buf_free(&b);
    assert_true(reports > 0);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "INBOX", false, &f), 0);
    assert_int_equal(f->n, 4); /* no message lost, no UID given again */
    assert_true(store_highest_modseq(f) >= top);
    for (size_t i = 0; i < f->n; i++) {
        uint32_t uid = f->msgs[i].uid;
        assert_true(before[uid] != 0);
        assert_true(f->msgs[i].modseq >= last_ms[uid]);
        /* Its last reported flags, or one change after them the child had
         * made but not reported: then a value above all reported. */
        if (f->msgs[i].flags != last_flags[uid] && last_ms[uid])
            assert_true(f->msgs[i].modseq > top);
    }
    /* A change now is above everything the child was told. */
    assert_int_equal(store_set_flags(f, f->msgs[0].uid, STORE_F_ANSWERED, NULL, 0), 0);
    assert_int_equal(store_commit(f), 0);
    assert_true(f->msgs[0].modseq > top);
    store_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_programs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchangedsince, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_cap, setup, teardown),
        cmocka_unit_test(test_expunges_pure),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_view_closes_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
