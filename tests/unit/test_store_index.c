/* Unit tests for postern-index (store/index.c, index_file.c and its use in
 * store_open/store_sync): the format round trip and every kind of damage
 * refused; on a temporary Maildir, an index that is reused without looking
 * at the message files, damaged indexes and one of another UIDVALIDITY
 * rebuilt, an index not written again by a sync that found nothing new,
 * cached strings kept across opens and renames, and several
 * threads using one folder at once. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/index.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* ---- the format ---- */

static void sample(struct folder_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    ix->uidvalidity = 1700000000;
    ix->uidnext = 9;
    ix->highest_modseq = 42;
    ix->stamps.cur = (struct index_stamp){1600000000, 5, 77, 4096};
    ix->stamps.new_ = (struct index_stamp){1600000001, 6, 78, 4096};
    ix->stamps.uidlist = (struct index_stamp){1600000002, 7, 79, 120};
    ix->n = 2;
    ix->msgs = xcalloc(2, sizeof(*ix->msgs));
    ix->msgs[0] = (struct store_msg){.uid = 3,
                                     .modseq = 7,
                                     .file = xstrdup("cur/1.M1P1.h,S=5:2,S"),
                                     .flags = STORE_F_SEEN,
                                     .keywords = 1u << 25,
                                     .size = 6,
                                     .file_size = 5,
                                     .internal_date = -1};
    ix->msgs[0].cache[STORE_CACHE_ENVELOPE] = xstrdup("(NIL \"subject\" NIL)");
    ix->msgs[0].cache[STORE_CACHE_BODY] = xstrdup("");
    ix->msgs[1] = (struct store_msg){.uid = 8,
                                     .file = xstrdup("new/2.M1P1.h"),
                                     .size = 1ull << 40,
                                     .file_size = 3,
                                     .internal_date = 1600000000};
}

static void test_format_parse(void **state)
{
    struct folder_index ix, back;
    sample(&ix);
    struct buf b;
    buf_init(&b);
    index_format(&ix, &b);
    assert_int_equal(index_parse(b.data, b.len, &back), 0);
    assert_int_equal(back.uidvalidity, ix.uidvalidity);
    assert_int_equal(back.uidnext, 9);
    assert_int_equal(back.highest_modseq, 42);
    assert_true(index_stamps_same(&back.stamps, &ix.stamps));
    assert_int_equal(back.n, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct store_msg *a = &ix.msgs[i], *c = &back.msgs[i];
        assert_int_equal(c->uid, a->uid);
        assert_int_equal(c->modseq, a->modseq);
        assert_string_equal(c->file, a->file);
        assert_int_equal(c->flags, a->flags);
        assert_int_equal(c->keywords, a->keywords);
        assert_int_equal(c->size, a->size);
        assert_int_equal(c->file_size, a->file_size);
        assert_int_equal(c->internal_date, a->internal_date);
        for (int k = 0; k < STORE_CACHE_N; k++) {
            assert_int_equal(c->cache[k] == NULL, a->cache[k] == NULL);
            if (a->cache[k])
                assert_string_equal(c->cache[k], a->cache[k]);
        }
    }
    assert_false(back.msgs[0].recent);
    assert_true(back.msgs[1].recent); /* still in new/ */
    index_free(&back);

    /* Every shorter file, and every single changed octet, is refused. */
    for (size_t len = 0; len < b.len; len++)
        assert_int_equal(index_parse(b.data, len, &back), EINVAL);
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x20;
        assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
        b.data[i] ^= 0x20;
    }
    assert_int_equal(index_parse(b.data, b.len, &back), 0);
    index_free(&back);
    /* Trailing octets. */
    buf_append(&b, "x", 1);
    assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
    buf_free(&b);
    index_free(&ix);
}

/* text with its checksum made right again. */
static void reseal(struct buf *b)
{
    uint64_t h = index_digest(b->data, b->len - 8);
    for (int i = 0; i < 8; i++)
        b->data[b->len - 8 + (size_t)i] = (char)(h >> (8 * i));
}

static void test_parse_refuses(void **state)
{
    struct folder_index ix, back;
    struct buf b;
    buf_init(&b);
    /* A checksum that is right does not make the rest right. */
    static const size_t version_at = 8, uidvalidity_at = 16, reserved_at = 132;
    sample(&ix);
    index_format(&ix, &b);
    b.data[version_at] = 1; /* the old version */
    reseal(&b);
    assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
    buf_reset(&b);
    index_format(&ix, &b);
    memset(b.data + uidvalidity_at, 0, 4);
    reseal(&b);
    assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
    buf_reset(&b);
    index_format(&ix, &b);
    b.data[reserved_at] = 1;
    reseal(&b);
    assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);

    /* Records the store could not have written. */
    struct {
        uint32_t uid0, uid1, uidnext, flags;
        const char *file;
    } bad[] = {
        {8, 3, 9, 0, "cur/a"},    /* descending */
        {3, 3, 9, 0, "cur/a"},    /* duplicate */
        {0, 8, 9, 0, "cur/a"},    /* UID 0 */
        {3, 9, 9, 0, "cur/a"},    /* not below uidnext */
        {3, 8, 9, 0x20, "cur/a"}, /* unknown flag */
        {3, 8, 9, 0, "tmp/a"},    /* not cur/ or new/ */
        {3, 8, 9, 0, "cur/a/b"},  /* a path */
        {3, 8, 9, 0, "cur/.a"},   /* a dot file */
        {3, 8, 9, 0, "cur/"},     /* no name */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ix.msgs[0].uid = bad[i].uid0;
        ix.msgs[1].uid = bad[i].uid1;
        ix.uidnext = bad[i].uidnext;
        ix.msgs[1].flags = bad[i].flags;
        free(ix.msgs[1].file);
        ix.msgs[1].file = xstrdup(bad[i].file);
        buf_reset(&b);
        index_format(&ix, &b);
        assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
    }
    index_free(&ix);

    /* A block of a type not known yet is skipped; a torn one is not. */
    sample(&ix);
    buf_reset(&b);
    index_format(&ix, &b);
    /* count, then the (empty) expunge history block: type, length, 12 octets */
    size_t blocks_at = b.len - 8 - 20 - 4;
    assert_int_equal(b.data[blocks_at], 1);
    b.len -= 8;
    b.data[blocks_at] = 2;
    buf_append(&b, "\x07\0\0\0\x03\0\0\0abc", 11);
    buf_append(&b, "12345678", 8);
    reseal(&b);
    assert_int_equal(index_parse(b.data, b.len, &back), 0);
    assert_int_equal(back.n, 2);
    index_free(&back);
    b.data[blocks_at + 4 + 20 + 4] = 4; /* longer than what follows */
    reseal(&b);
    assert_int_equal(index_parse(b.data, b.len, &back), EINVAL);
    index_free(&ix);
    buf_free(&b);
}

static void test_stamps(void **state)
{
    struct index_stamp a = {1, 2, 3, 4}, b = a, untrusted = {1, 2, 0, 4};
    assert_true(index_stamp_same(&a, &b));
    b.nsec = 3;
    assert_false(index_stamp_same(&a, &b));
    assert_false(index_stamp_same(&untrusted, &untrusted));
    char dir[] = "/var/tmp/test_index.XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* Just changed: not trusted, unless it need not be (racy false). */
    index_stamp_take(dir, true, &a);
    assert_int_equal(a.ino, 0);
    index_stamp_take(dir, false, &a);
    assert_int_not_equal(a.ino, 0);
    struct timespec old[2] = {{1600000000, 0}, {1600000000, 123}};
    assert_int_equal(utimensat(AT_FDCWD, dir, old, 0), 0);
    index_stamp_take(dir, true, &b);
    assert_int_equal(b.sec, 1600000000);
    assert_int_equal(b.nsec, 123);
    assert_int_equal(b.ino, a.ino);
    /* The racy window: 100 ms for nanosecond stamps, 2 s for whole seconds. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec fine[2] = {{now.tv_sec - 1, 1}, {now.tv_sec - 1, 1}};
    assert_int_equal(utimensat(AT_FDCWD, dir, fine, 0), 0);
    index_stamp_take(dir, true, &b);
    assert_int_not_equal(b.ino, 0); /* 1 s old, nanosecond stamp: trusted */
    struct timespec whole[2] = {{now.tv_sec - 1, 0}, {now.tv_sec - 1, 0}};
    assert_int_equal(utimensat(AT_FDCWD, dir, whole, 0), 0);
    index_stamp_take(dir, true, &b);
    assert_int_equal(b.ino, 0); /* whole seconds: within 2 s is not */
    struct timespec recent = now;
    recent.tv_nsec = recent.tv_nsec >= 20000000 ? recent.tv_nsec - 20000000 : 1;
    struct timespec close_by[2] = {recent, recent};
    assert_int_equal(utimensat(AT_FDCWD, dir, close_by, 0), 0);
    index_stamp_take(dir, true, &b);
    assert_int_equal(b.ino, 0); /* at most 20 ms old: not trusted */
    char *missing = xasprintf("%s/none", dir);
    index_stamp_take(missing, false, &a);
    assert_int_equal(a.ino, 0);
    free(missing);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- on a Maildir ---- */

struct fixture {
    char dir[64];
    char *root, *folder; /* the Maildir, and the Drafts folder in it */
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    strcpy(fx->dir, "/var/tmp/test_index.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/Maildir", fx->dir);
    fx->folder = xasprintf("%s/.Drafts", fx->root);
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
    free(fx->folder);
    free(fx);
    return 0;
}

/* Three messages in Drafts, then cur/ and new/ made to look untouched for
 * a while, so that the next open writes an index it can trust. */
static void fill_drafts(struct fixture *fx)
{
    uint32_t uv, uid;
    const char *kw[] = {"Work"};
    assert_int_equal(store_append(fx->s, "Drafts", "a\n", 2, 0, NULL, 0, 1500000000, &uv, &uid), 0);
    assert_int_equal(
        store_append(fx->s, "Drafts", "bb\n", 3, STORE_F_FLAGGED, kw, 1, 1500000001, &uv, &uid), 0);
    assert_int_equal(store_append(fx->s, "Drafts", "ccc\n", 4, 0, NULL, 0, 1500000002, &uv, &uid),
                     0);
}

static void age_dir(const char *dir, const char *sub, time_t when)
{
    char *p = xasprintf("%s/%s", dir, sub);
    struct timespec t[2] = {{when, 0}, {when, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
    free(p);
}

static void age(struct fixture *fx, time_t when)
{
    age_dir(fx->folder, "cur", when);
    age_dir(fx->folder, "new", when);
}

/* Opens Drafts and closes it: the index is then written with trusted
 * stamps. */
static void write_trusted_index(struct fixture *fx, size_t n)
{
    age(fx, 1600000000);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    store_close(f);
    struct folder_index ix;
    assert_int_equal(index_read(fx->folder, &ix), 0);
    assert_int_not_equal(ix.stamps.cur.ino, 0);
    assert_int_not_equal(ix.stamps.uidlist.ino, 0);
    assert_int_equal(ix.n, n);
    index_free(&ix);
}

/* Another program sets \Seen on message 1 by renaming its file, and cur/
 * is given back its old mtime: only a look at cur/ can see the change. */
static void rename_behind_index(struct fixture *fx, struct store_folder *f)
{
    char *from = xasprintf("%s/%s", fx->folder, f->msgs[0].file);
    char *to = xasprintf("%s/cur/%.*s:2,S", fx->folder, (int)strcspn(f->msgs[0].file + 4, ":"),
                         f->msgs[0].file + 4);
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    age(fx, 1600000000);
}

static void test_index_reused(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    write_trusted_index(fx, 3);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    char *old_name = xstrdup(f->msgs[0].file);
    rename_behind_index(fx, f);
    /* A re-sync that finds the stamps unchanged reads nothing either. */
    struct store_changes c;
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_flags_changed + c.n_added + c.n_expunged, 0);
    assert_int_equal(f->msgs[0].flags, 0);
    store_changes_free(&c);
    store_close(f);

    /* The index is the folder: the old name, the old flags. */
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_int_equal(f->n, 3);
    assert_string_equal(f->msgs[0].file, old_name);
    assert_int_equal(f->msgs[0].flags, 0);
    assert_int_equal(f->msgs[1].flags, STORE_F_FLAGGED);
    assert_int_equal(f->msgs[1].keywords, 1);
    assert_int_equal(f->msgs[2].internal_date, 1500000002);
    assert_int_equal(f->msgs[2].size, 5);
    assert_int_equal(f->uidnext, 4);
    /* The message is found all the same when read. */
    int fd = store_open_msg(f, 1);
    assert_true(fd >= 0);
    close(fd);
    store_close(f);

    /* cur/ changed: re-read, but a message already known is not stat'ed:
     * its file's new mtime does not become its internal date. */
    struct timespec t[2] = {{1400000000, 0}, {1400000000, 0}};
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    char *p = xasprintf("%s/%s", fx->folder, f->msgs[2].file);
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
    store_close(f);
    age(fx, 1600000100);
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_int_equal(f->msgs[0].flags, STORE_F_SEEN);
    assert_string_not_equal(f->msgs[0].file, old_name);
    assert_int_equal(f->msgs[2].internal_date, 1500000002);
    store_close(f);

    /* Without an index, the file is looked at (so the test above could
     * tell). */
    char *ipath = xasprintf("%s/postern-index", fx->folder);
    assert_int_equal(unlink(ipath), 0);
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_int_equal(f->msgs[2].internal_date, 1400000000);
    store_close(f);
    assert_int_equal(access(ipath, F_OK), 0); /* written again */
    free(ipath);
    free(p);
    free(old_name);
}

static ino_t index_ino(struct fixture *fx)
{
    char *p = xasprintf("%s/postern-index", fx->folder);
    struct stat sb;
    ino_t ino = stat(p, &sb) == 0 ? sb.st_ino : 0;
    free(p);
    return ino;
}

/* A folder changed in the last seconds is scanned again at every sync (its
 * stamps are not trusted), but the index is written again only when what
 * it says changed: not for a sync that found nothing new, yes for a flag
 * changed behind the view, and yes when the file is no longer the one
 * this view wrote. */
static void test_unchanged_not_rewritten(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    struct store_folder *f;
    age(fx, time(NULL));
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    ino_t first = index_ino(fx);
    assert_int_not_equal(first, 0);
    struct store_changes c;
    for (int i = 0; i < 3; i++) {
        age(fx, time(NULL)); /* racy: scanned again */
        assert_int_equal(store_sync(f, &c), 0);
        assert_int_equal(c.n_flags_changed + c.n_added + c.n_expunged, 0);
        store_changes_free(&c);
        assert_int_equal(index_ino(fx), first);
    }
    /* Another program sets \Seen: the index says so after the next sync. */
    char *from = xasprintf("%s/%s", fx->folder, f->msgs[0].file);
    char *to = xasprintf("%s/cur/%.*s:2,S", fx->folder, (int)strcspn(f->msgs[0].file + 4, ":"),
                         f->msgs[0].file + 4);
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    age(fx, time(NULL));
    assert_int_equal(store_sync(f, &c), 0);
    assert_int_equal(c.n_flags_changed, 1);
    store_changes_free(&c);
    ino_t second = index_ino(fx);
    assert_int_not_equal(second, first);
    struct folder_index ix;
    assert_int_equal(index_read(fx->folder, &ix), 0);
    assert_int_equal(ix.msgs[0].flags, STORE_F_SEEN);
    index_free(&ix);
    /* The index removed behind the view: written again, though the view
     * has not changed. */
    char *ipath = xasprintf("%s/postern-index", fx->folder);
    assert_int_equal(unlink(ipath), 0);
    age(fx, time(NULL));
    assert_int_equal(store_sync(f, &c), 0);
    store_changes_free(&c);
    assert_int_equal(access(ipath, F_OK), 0);
    free(ipath);
    store_close(f);
}

/* Writes the index file as given, checksum and all. */
static void put_index(struct fixture *fx, const char *data, size_t len)
{
    char *p = xasprintf("%s/postern-index", fx->folder);
    FILE *o = fopen(p, "w");
    assert_non_null(o);
    assert_int_equal(fwrite(data, 1, len, o), len);
    fclose(o);
    free(p);
}

static void test_damaged_rebuilt(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    write_trusted_index(fx, 3);
    struct folder_index good;
    assert_int_equal(index_read(fx->folder, &good), 0);
    struct buf b;
    buf_init(&b);
    index_format(&good, &b);
    enum { TRUNCATED, HALF, EMPTY, FLIPPED, MAGIC, VERSION, UIDVALIDITY, GARBAGE, KINDS };
    for (int kind = 0; kind < KINDS; kind++) {
        struct store_folder *f;
        assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
        /* The trap: a trusted index would still say message 1 is unseen. */
        unsigned seen = f->msgs[0].flags & STORE_F_SEEN;
        store_close(f);
        struct buf d;
        buf_init(&d);
        buf_append(&d, b.data, b.len);
        struct folder_index other;
        switch (kind) {
        case TRUNCATED:
            d.len--;
            break;
        case HALF:
            d.len /= 2;
            break;
        case EMPTY:
            d.len = 0;
            break;
        case FLIPPED:
            d.data[d.len / 2] ^= 1;
            break;
        case MAGIC:
            d.data[0] = 'X';
            reseal(&d);
            break;
        case VERSION:
            d.data[8] = 9;
            reseal(&d);
            break;
        case UIDVALIDITY:
            /* Well-formed and with the right stamps, but of another
             * UIDVALIDITY than the uidlist's. */
            assert_int_equal(index_parse(b.data, b.len, &other), 0);
            other.uidvalidity++;
            buf_reset(&d);
            index_format(&other, &d);
            index_free(&other);
            break;
        default:
            memset(d.data, 'x', d.len);
            break;
        }
        /* flip \Seen of message 1 behind the index each round */
        assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
        uint32_t uv = f->uidvalidity;
        assert_int_equal(store_set_flags(f, 1, seen ? 0 : STORE_F_SEEN, NULL, 0), 0);
        store_close(f);
        age(fx, 1600000000);
        put_index(fx, d.data, d.len);
        buf_free(&d);
        assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
        assert_int_equal(f->n, 3);
        assert_int_equal(f->uidvalidity, uv);
        assert_int_equal(f->msgs[0].flags & STORE_F_SEEN, seen ^ STORE_F_SEEN);
        store_close(f);
        struct folder_index again;
        assert_int_equal(index_read(fx->folder, &again), 0); /* rebuilt */
        assert_int_equal(again.uidvalidity, uv);
        index_free(&again);
    }
    buf_free(&b);
    index_free(&good);
}

static void test_other_uidvalidity(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    write_trusted_index(fx, 3);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    uint32_t uv = f->uidvalidity;
    assert_int_equal(store_cache_put(f, 3, STORE_CACHE_ENVELOPE, "(env)"), 0);
    char *p = xasprintf("%s/%s", fx->folder, f->msgs[2].file);
    store_close(f);
    struct timespec t[2] = {{1400000000, 0}, {1400000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
    free(p);
    /* The uidlist lost: new UIDs, and nothing the index says is used. */
    p = xasprintf("%s/dovecot-uidlist", fx->folder);
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_true(f->uidvalidity > uv);
    assert_int_equal(f->n, 3);
    assert_int_equal(f->msgs[2].internal_date, 1400000000);
    char *v;
    assert_int_equal(store_cache_get(f, 3, STORE_CACHE_ENVELOPE, &v), ENOENT);
    assert_null(v);
    store_close(f);
}

static void test_cache(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    struct store_folder *f;
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    char *v;
    assert_int_equal(store_cache_get(f, 1, STORE_CACHE_ENVELOPE, &v), ENOENT);
    assert_int_equal(store_cache_put(f, 1, STORE_CACHE_ENVELOPE, "(\"d\" \"s\")"), 0);
    assert_int_equal(store_cache_put(f, 2, STORE_CACHE_BODYSTRUCTURE, "(\"text\" \"plain\")"), 0);
    assert_int_equal(store_cache_put(f, 2, STORE_CACHE_BODYSTRUCTURE, "(\"TEXT\" \"PLAIN\")"), 0);
    assert_int_equal(store_cache_put(f, 9, STORE_CACHE_BODY, "x"), ENOENT);
    assert_int_equal(store_cache_put(f, 1, STORE_CACHE_N, "x"), EINVAL);
    assert_int_equal(store_cache_get(f, 1, (enum store_cache_field)99, &v), EINVAL);
    assert_int_equal(store_cache_get(f, 1, STORE_CACHE_ENVELOPE, &v), 0);
    assert_string_equal(v, "(\"d\" \"s\")");
    free(v);
    store_close(f);

    /* Kept by the index: re-read in full (the stamps are not trusted yet),
     * then by the index alone. */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            write_trusted_index(fx, 3);
        assert_int_equal(store_open(fx->s, "Drafts", true, &f), 0);
        assert_int_equal(store_cache_get(f, 1, STORE_CACHE_ENVELOPE, &v), 0);
        assert_string_equal(v, "(\"d\" \"s\")");
        free(v);
        assert_int_equal(store_cache_get(f, 2, STORE_CACHE_BODYSTRUCTURE, &v), 0);
        assert_string_equal(v, "(\"TEXT\" \"PLAIN\")");
        free(v);
        assert_int_equal(store_cache_get(f, 2, STORE_CACHE_ENVELOPE, &v), ENOENT);
        assert_int_equal(store_cache_get(f, 3, STORE_CACHE_BODYSTRUCTURE, &v), ENOENT);
        store_close(f);
    }

    /* Cached on a read-only open too; kept across a flag change, a sync,
     * and gone with the message. */
    assert_int_equal(store_open(fx->s, "Drafts", true, &f), 0);
    assert_int_equal(store_cache_put(f, 3, STORE_CACHE_BODY, "(\"text\")"), 0);
    store_close(f);
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_int_equal(store_set_flags(f, 3, STORE_F_DELETED, NULL, 0), 0);
    assert_int_equal(store_sync(f, NULL), 0);
    assert_int_equal(store_cache_get(f, 3, STORE_CACHE_BODY, &v), 0);
    assert_string_equal(v, "(\"text\")");
    free(v);
    uint32_t *gone;
    size_t ngone;
    assert_int_equal(store_expunge(f, NULL, 0, &gone, &ngone), 0);
    assert_int_equal(ngone, 1);
    free(gone);
    assert_int_equal(store_cache_get(f, 3, STORE_CACHE_BODY, &v), ENOENT);
    store_close(f);
    assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
    assert_int_equal(f->n, 2);
    assert_int_equal(store_cache_get(f, 1, STORE_CACHE_ENVELOPE, &v), 0);
    free(v);
    store_close(f);
}

struct user {
    struct store *s;
    int id, rc;
};

static void *use_folder(void *arg)
{
    struct user *u = arg;
    for (int i = 0; i < 15 && u->rc == 0; i++) {
        struct store_folder *f;
        u->rc = store_open(u->s, "Drafts", i % 2 == 0, &f);
        if (u->rc != 0)
            break;
        char val[32];
        snprintf(val, sizeof(val), "(t%d r%d)", u->id, i);
        for (size_t k = 0; u->rc == 0 && k < f->n; k++)
            u->rc = store_cache_put(f, f->msgs[k].uid, STORE_CACHE_ENVELOPE, val);
        if (u->rc == 0 && u->id == 0) {
            uint32_t uv, uid;
            u->rc = store_append(u->s, "Drafts", "n\n", 2, 0, NULL, 0, 0, &uv, &uid);
        }
        if (u->rc == 0)
            u->rc = store_sync(f, NULL);
        store_close(f);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *fx = *state;
    fill_drafts(fx);
    struct user users[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        users[i] = (struct user){store_maildir_new(fx->root), i, 0};
        pthread_create(&t[i], NULL, use_folder, &users[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(users[i].rc, 0);
        store_free(users[i].s);
    }
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            write_trusted_index(fx, 3 + 15);
        struct store_folder *f;
        assert_int_equal(store_open(fx->s, "Drafts", false, &f), 0);
        assert_int_equal(f->n, 3 + 15);
        for (size_t i = 0; i < f->n; i++)
            assert_int_equal(f->msgs[i].uid, i + 1);
        assert_int_equal(f->uidnext, f->n + 1);
        store_close(f);
        struct folder_index ix;
        assert_int_equal(index_read(fx->folder, &ix), 0);
        assert_int_equal(ix.n, 3 + 15);
        index_free(&ix);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_stamps),
        cmocka_unit_test_setup_teardown(test_index_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_not_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_uidvalidity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
