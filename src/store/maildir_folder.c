/* Opening and syncing a Maildir folder: dovecot-uidlist against new/ and
 * cur/, under dovecot-uidlist.lock, as Dovecot does it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/pop3_msg.h"
#include "store/dotlock.h"
#include "store/keywords.h"
#include "store/maildir_name.h"
#include "store/store_int.h"
#include "store/uidlist.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

/* A file found in new/ or cur/. */
struct entry {
    char *rel;        /* "cur/NAME" or "new/NAME" */
    const char *name; /* NAME, inside rel */
    size_t stem_len;
    bool recent;
    long rec; /* index in the uidlist, -1 none yet */
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static void entries_push(struct entries *e, const char *sub, const char *name, bool recent)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    struct entry *x = &e->v[e->n++];
    x->rel = xasprintf("%s/%s", sub, name);
    x->name = x->rel + 4;
    x->stem_len = maildir_name_stem_len(x->name);
    x->recent = recent;
    x->rec = -1;
}

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].rel);
    free(e->v);
}

static int stem_cmp(const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c != 0)
        return c;
    return la < lb ? -1 : la > lb;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = stem_cmp(x->name, x->stem_len, y->name, y->stem_len);
    /* The same stem in cur/ and new/ (read-only, a racing mover): cur/ first. */
    return c ? c : strcmp(x->rel, y->rel);
}

struct recref {
    const char *file;
    size_t stem_len;
    size_t idx;
};

static int recref_cmp(const void *a, const void *b)
{
    const struct recref *x = a, *y = b;
    return stem_cmp(x->file, x->stem_len, y->file, y->stem_len);
}

static int entry_name_cmp(const void *a, const void *b)
{
    const struct entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Reads the message names in dir/sub. With move (new/ of a read-write
 * folder), each is renamed into cur/ with an empty info, as Dovecot does,
 * and only remembered as recent: the cur/ scan after lists it. */
static int scan(const char *dir, const char *sub, bool move, bool recent, struct entries *e,
                struct entries *moved)
{
    char *path = xasprintf("%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL) {
        int rc = errno;
        free(path);
        return rc;
    }
    struct maildir_name mn;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!maildir_name_parse(de->d_name, &mn))
            continue;
        if (!move) {
            entries_push(e, sub, de->d_name, recent);
            continue;
        }
        char *from = xasprintf("%s/%s", path, de->d_name);
        char *to = strchr(de->d_name, ':') ? xasprintf("%s/cur/%s", dir, de->d_name)
                                           : xasprintf("%s/cur/%s:2,", dir, de->d_name);
        if (rename(from, to) == 0)
            entries_push(moved, "new", de->d_name, true);
        free(from);
        free(to);
    }
    closedir(d);
    free(path);
    return 0;
}

static bool was_moved(const struct entries *moved, const struct entry *x)
{
    for (size_t i = 0; i < moved->n; i++)
        if (stem_cmp(moved->v[i].name, moved->v[i].stem_len, x->name, x->stem_len) == 0)
            return true;
    return false;
}

/* "W<n>" among a record's extensions. */
static bool ext_vsize(const char *ext, uint64_t *v)
{
    for (const char *p = ext; p && *p;) {
        if (p[0] == 'W' && p[1] >= '0' && p[1] <= '9') {
            *v = strtoull(p + 1, NULL, 10);
            return true;
        }
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return false;
}

static int measure(const char *path, uint64_t *size_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    int rc = fd_crlf_size(fd, size_r);
    close(fd);
    return rc;
}

/* The data of a message already known (from postern-index or the previous
 * sync) under the same UID and stem: sizes, internal date, modseq and
 * cached strings need no look at the file; flags come from the name. */
static bool reuse_msg(const struct store_msg *prev, size_t n, const struct entry *x,
                      const struct uidlist_rec *rec, struct store_msg *m)
{
    struct store_folder known = {.msgs = (struct store_msg *)prev, .n = n};
    const struct store_msg *p = n ? store_msg_by_uid(&known, rec->uid) : NULL;
    if (p == NULL ||
        stem_cmp(p->file + 4, maildir_name_stem_len(p->file + 4), x->name, x->stem_len) != 0)
        return false;
    struct maildir_name mn;
    maildir_name_parse(x->name, &mn);
    memset(m, 0, sizeof(*m));
    m->uid = rec->uid;
    m->modseq = p->modseq;
    m->file = xstrdup(x->rel);
    m->flags = mn.flags;
    m->keywords = mn.keywords;
    m->size = p->size;
    m->file_size = p->file_size;
    m->internal_date = p->internal_date;
    m->recent = x->recent;
    for (int k = 0; k < STORE_CACHE_N; k++)
        m->cache[k] = p->cache[k] ? xstrdup(p->cache[k]) : NULL;
    return true;
}

/* Fills a message from its file; false if the file vanished meanwhile. */
static bool fill_msg(const char *dir, const struct entry *x, struct uidlist_rec *rec,
                     struct store_msg *m, bool *changed)
{
    char *path = xasprintf("%s/%s", dir, x->rel);
    struct stat st;
    bool ok = stat(path, &st) == 0;
    struct maildir_name mn;
    maildir_name_parse(x->name, &mn);
    memset(m, 0, sizeof(*m));
    if (ok) {
        m->uid = rec->uid;
        m->file = xstrdup(x->rel);
        m->flags = mn.flags;
        m->keywords = mn.keywords;
        m->file_size = mn.has_s ? mn.s : (uint64_t)st.st_size;
        m->internal_date = (int64_t)st.st_mtime;
        m->recent = x->recent;
        if (mn.has_w) {
            m->size = mn.w;
        } else if (!ext_vsize(rec->ext, &m->size)) {
            /* Measured once, then remembered in the uidlist as Dovecot
             * does (the record's W extension). */
            ok = measure(path, &m->size) == 0;
            if (ok) {
                char *ext = rec->ext ? xasprintf("%s W%llu", rec->ext, (unsigned long long)m->size)
                                     : xasprintf("W%llu", (unsigned long long)m->size);
                free(rec->ext);
                rec->ext = ext;
                *changed = true;
            } else {
                free(m->file);
            }
        }
    }
    free(path);
    return ok;
}

static int msg_uid_cmp(const void *a, const void *b)
{
    const struct store_msg *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void push_u32(uint32_t **v, size_t *n, uint32_t x)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = x;
}

static void diff(struct store_folder *f, struct store_msg *msgs, size_t n, struct store_changes *c)
{
    struct store_folder now = {.msgs = msgs, .n = n};
    for (size_t i = 0; i < n; i++) {
        struct store_msg *old = store_msg_by_uid(f, msgs[i].uid);
        if (old == NULL) {
            if (c)
                push_u32(&c->added, &c->n_added, msgs[i].uid);
            continue;
        }
        msgs[i].recent = msgs[i].recent || old->recent;
        if (c && (old->flags != msgs[i].flags || old->keywords != msgs[i].keywords))
            push_u32(&c->flags_changed, &c->n_flags_changed, msgs[i].uid);
    }
    for (size_t i = 0; c && i < f->n; i++)
        if (store_msg_by_uid(&now, f->msgs[i].uid) == NULL)
            push_u32(&c->expunged, &c->n_expunged, f->msgs[i].uid);
}

static void free_msgs(struct store_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&msgs[i]);
    free(msgs);
}

/* Matches the files with the records: marks each entry's record, drops the
 * records whose file is gone, then gives the new files UIDs in name order
 * (their delivery order). Returns whether the uidlist changed. */
static bool match_records(struct uidlist *u, struct entries *e)
{
    bool changed = false;
    if (e->n)
        qsort(e->v, e->n, sizeof(*e->v), entry_cmp);
    struct recref *refs = xcalloc(u->n + 1, sizeof(*refs));
    for (size_t i = 0; i < u->n; i++)
        refs[i] = (struct recref){u->v[i].file, maildir_name_stem_len(u->v[i].file), i};
    qsort(refs, u->n, sizeof(*refs), recref_cmp);
    bool *keep = xcalloc(u->n + 1, sizeof(bool));
    size_t r = 0;
    for (size_t i = 0; i < e->n; i++) {
        struct entry *x = &e->v[i];
        if (i > 0 && stem_cmp(x->name, x->stem_len, e->v[i - 1].name, e->v[i - 1].stem_len) == 0) {
            x->rec = -2; /* a duplicate of the one before */
            continue;
        }
        while (r < u->n && stem_cmp(refs[r].file, refs[r].stem_len, x->name, x->stem_len) < 0)
            r++;
        if (r < u->n && stem_cmp(refs[r].file, refs[r].stem_len, x->name, x->stem_len) == 0) {
            x->rec = (long)refs[r].idx;
            keep[refs[r].idx] = true;
        }
    }
    free(refs);
    /* Drop records of expunged files, renumbering the entries' references. */
    long *newidx = xcalloc(u->n + 1, sizeof(long));
    size_t o = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (keep[i]) {
            newidx[i] = (long)o;
            u->v[o++] = u->v[i];
        } else {
            free(u->v[i].ext);
            free(u->v[i].file);
            changed = true;
        }
    }
    u->n = o;
    struct entry **fresh = xcalloc(e->n + 1, sizeof(*fresh));
    size_t nf = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].rec >= 0)
            e->v[i].rec = newidx[e->v[i].rec];
        else if (e->v[i].rec == -1)
            fresh[nf++] = &e->v[i];
    }
    if (!uidlist_room(u, nf)) {
        /* UIDs run out: every file is numbered again under a new
         * UIDVALIDITY, as when the uidlist is lost. */
        uint32_t old = u->uidvalidity;
        uidlist_free(u);
        uidlist_init_new(u, old);
        nf = 0;
        for (size_t i = 0; i < e->n; i++)
            if (e->v[i].rec != -2)
                fresh[nf++] = &e->v[i];
    }
    qsort(fresh, nf, sizeof(*fresh), entry_name_cmp);
    for (size_t i = 0; i < nf; i++) {
        char *stem = xstrndup(fresh[i]->name, fresh[i]->stem_len);
        uidlist_add(u, stem, NULL);
        free(stem);
        fresh[i]->rec = (long)u->n - 1;
        changed = true;
    }
    free(fresh);
    free(newidx);
    free(keep);
    return changed;
}

/* The stamps postern-index depends on, taken before what they vouch for is
 * read (a change after them then shows as a different stamp). */
static void take_stamps(const char *dir, struct index_stamps *st)
{
    char *p = xasprintf("%s/cur", dir);
    index_stamp_take(p, true, &st->cur);
    free(p);
    p = xasprintf("%s/new", dir);
    index_stamp_take(p, true, &st->new_);
    free(p);
    p = xasprintf("%s/dovecot-uidlist", dir);
    index_stamp_take(p, false, &st->uidlist); /* rewritten: a new inode; appended: longer */
    free(p);
}

/* Makes msgs the folder's view, with the changes from the one before. */
static int install(struct store_folder *f, struct store_msg *msgs, size_t n, uint32_t uidvalidity,
                   uint32_t uidnext, const struct index_stamps *stamps,
                   struct store_changes *changes)
{
    if (f->uidvalidity != 0 && f->uidvalidity != uidvalidity) {
        /* The old UIDs mean nothing now: everything is new. */
        free_msgs(f->msgs, f->n);
        f->msgs = NULL;
        f->n = 0;
    }
    diff(f, msgs, n, changes);
    free_msgs(f->msgs, f->n);
    f->msgs = msgs;
    f->n = n;
    f->uidvalidity = uidvalidity;
    f->uidnext = uidnext;
    f->priv->stamps = *stamps;
    f->priv->synced = true;
    keywords_free(f->keywords);
    return keywords_read(f->path, f->keywords);
}

/* First open: the index is the folder when new/, cur/ and the uidlist are
 * as it saw them (and, for SELECT, nothing waits in new/ to be moved), and
 * postern-modseq vouches for its modseqs. */
static bool from_index(struct store_folder *f, struct folder_index *ix,
                       const struct index_stamps *now, int *rc)
{
    uint32_t uidvalidity;
    if (!index_stamps_same(now, &ix->stamps) ||
        uidlist_read_uidvalidity(f->path, &uidvalidity) != 0 || uidvalidity != ix->uidvalidity ||
        ix->highest_modseq == 0 || ix->expunged.since == 0)
        return false;
    for (size_t i = 0; i < ix->n; i++)
        if ((!f->read_only && ix->msgs[i].recent) || ix->msgs[i].modseq == 0)
            return false;
    uint64_t base;
    bool trusted;
    if (maildir_modseq_begin(f, false, &base, &trusted) != 0)
        return false;
    maildir_modseq_end(f, base, base, false);
    if (!trusted)
        return false;
    f->highest_modseq = ix->highest_modseq;
    expunges_free(&f->priv->expunged);
    f->priv->expunged = ix->expunged;
    memset(&ix->expunged, 0, sizeof(ix->expunged));
    *rc = install(f, ix->msgs, ix->n, ix->uidvalidity, ix->uidnext, now, NULL);
    ix->msgs = NULL;
    ix->n = 0;
    return true;
}

static void take_index_stamp(const char *dir, struct index_stamp *st)
{
    char *p = xasprintf("%s/" INDEX_FILE, dir);
    index_stamp_take(p, false, st); /* rewritten by rename: a new inode each time */
    free(p);
}

int maildir_sync(struct store_folder *f, struct store_changes *changes)
{
    if (changes)
        memset(changes, 0, sizeof(*changes));
    struct index_stamps now;
    if (f->priv->synced) {
        take_stamps(f->path, &now);
        if (index_stamps_same(&now, &f->priv->stamps)) {
            keywords_free(f->keywords); /* nothing else can have changed */
            return keywords_read(f->path, f->keywords);
        }
    }
    char *ulpath = xasprintf("%s/dovecot-uidlist", f->path);
    struct dotlock lock;
    int rc = dotlock_take(ulpath, &lock);
    free(ulpath);
    if (rc != 0)
        return rc;
    take_stamps(f->path, &now);
    struct folder_index ix = {0};
    /* The index again when another session wrote it since: its modseqs
     * and expunge history are merged in. */
    struct index_stamp ixst;
    take_index_stamp(f->path, &ixst);
    /* Still the index this view wrote: a write of the same is skipped. */
    bool ix_ours = f->priv->written.len != 0 && index_stamp_same(&ixst, &f->priv->index_seen);
    bool ix_ok = false;
    if (!f->priv->synced || !index_stamp_same(&ixst, &f->priv->index_seen)) {
        ix_ok = index_read(f->path, &ix) == 0;
        f->priv->index_seen = ixst;
    }
    if (!f->priv->synced && ix_ok && from_index(f, &ix, &now, &rc)) {
        index_free(&ix);
        dotlock_release(&lock);
        return rc;
    }
    struct uidlist u;
    bool changed = false;
    rc = uidlist_read(f->path, &u);
    /* No modseq can have been given in a folder without UIDs yet. */
    bool fresh_ok = rc == ENOENT;
    if (rc == ENOENT || rc == EINVAL) {
        /* None yet, or damaged: a new one, and UIDs start again under a
         * new UIDVALIDITY, which tells clients to forget theirs. */
        uidlist_init_new(&u, f->uidvalidity > ix.uidvalidity ? f->uidvalidity : ix.uidvalidity);
        changed = true;
        rc = 0;
    }
    /* What is already known about the messages, under this UIDVALIDITY. */
    const struct store_msg *prev = NULL;
    size_t prev_n = 0;
    if (f->priv->synced && f->uidvalidity == u.uidvalidity) {
        prev = f->msgs;
        prev_n = f->n;
    } else if (ix.uidvalidity == u.uidvalidity) {
        prev = ix.msgs;
        prev_n = ix.n;
    }
    struct entries e = {0}, moved = {0};
    if (rc == 0)
        rc = scan(f->path, "new", !f->read_only, true, &e, &moved);
    if (rc == 0)
        rc = scan(f->path, "cur", false, false, &e, &moved);
    if (rc != 0) {
        dotlock_release(&lock);
        uidlist_free(&u);
        index_free(&ix);
        entries_free(&e);
        entries_free(&moved);
        return rc;
    }
    /* The files just moved from new/ are listed from cur/: recent. */
    for (size_t i = 0; moved.n && i < e.n; i++)
        if (!e.v[i].recent)
            e.v[i].recent = was_moved(&moved, &e.v[i]);
    changed |= match_records(&u, &e);
    struct store_msg *msgs = xcalloc(e.n + 1, sizeof(*msgs));
    size_t n = 0;
    for (size_t i = 0; i < e.n; i++) {
        struct entry *x = &e.v[i];
        if (x->rec >= 0 && (reuse_msg(prev, prev_n, x, &u.v[x->rec], &msgs[n]) ||
                            fill_msg(f->path, x, &u.v[x->rec], &msgs[n], &changed)))
            n++;
    }
    qsort(msgs, n, sizeof(*msgs), msg_uid_cmp);
    if (changed) {
        struct buf out;
        buf_init(&out);
        uidlist_format(&u, &out);
        struct stat sb;
        rc = dotlock_write(&lock, out.data, out.len, &sb);
        buf_free(&out);
        if (rc == 0)
            now.uidlist =
                (struct index_stamp){(int64_t)sb.st_mtim.tv_sec, (int64_t)sb.st_mtim.tv_nsec,
                                     (uint64_t)sb.st_ino, (uint64_t)sb.st_size};
    }
    if (rc == 0)
        rc = maildir_modseq_assign(f, msgs, n, u.uidvalidity, ix_ok ? &ix : NULL, fresh_ok);
    if (rc == 0) {
        /* Still under the lock, and before the uidlist is in place: an
         * index that names a uidlist not there yet is merely not used. */
        struct folder_index out = {u.uidvalidity, u.nextuid, f->highest_modseq, now,
                                   msgs,          n,         f->priv->expunged};
        int wrc = index_write_changed(f->path, &out, ix_ours ? &f->priv->written : NULL,
                                      &f->priv->written);
        if (wrc == 0) {
            f->priv->index_dirty = false;
            take_index_stamp(f->path, &f->priv->index_seen);
        } else if (wrc == EEXIST) {
            f->priv->index_dirty = false;
        } else {
            f->priv->written.len = 0;
        }
    }
    if (changed && rc == 0)
        rc = dotlock_commit(&lock);
    else
        dotlock_release(&lock);
    if (rc == 0)
        rc = install(f, msgs, n, u.uidvalidity, u.nextuid, &now, changes);
    else
        free_msgs(msgs, n);
    uidlist_free(&u);
    index_free(&ix);
    entries_free(&e);
    entries_free(&moved);
    return rc;
}
