/* Messages in a Maildir folder: APPEND, flag changes (renames), EXPUNGE,
 * COPY/MOVE and opening one for reading. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/pop3_msg.h"
#include "store/dotlock.h"
#include "store/keywords.h"
#include "store/maildir_name.h"
#include "store/store_int.h"
#include "store/uidlist.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

/* A new file in dir/tmp/ under a fresh unique base: fd, and the base. */
static int create_tmp(const char *dir, char **base_r, char **tmp_r)
{
    for (int tries = 0; tries < 8; tries++) {
        char *base = maildir_unique_base();
        char *tmp = xasprintf("%s/tmp/%s", dir, base);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            *base_r = base;
            *tmp_r = tmp;
            return fd;
        }
        int e = errno;
        free(base);
        free(tmp);
        if (e != EEXIST)
            return -e;
    }
    return -EEXIST;
}

/* Moves dir/tmp/<tmp name> into cur/<final> and gives it the next UID,
 * under the uidlist lock taken before the rename, so that no other syncer
 * can number the file first. stem: final up to its ':'. */
static int commit_files(const char *dir, char **tmps, char **finals, size_t n, uint32_t *uids,
                        uint32_t *uidvalidity_r)
{
    char *ulpath = xasprintf("%s/dovecot-uidlist", dir);
    struct dotlock lock;
    int rc = dotlock_take(ulpath, &lock);
    free(ulpath);
    if (rc != 0)
        return rc;
    struct uidlist u;
    rc = uidlist_read(dir, &u);
    if (rc == ENOENT || rc == EINVAL) {
        uidlist_init_new(&u, 0);
        rc = 0;
    } else if (rc == 0 && !uidlist_room(&u, n)) {
        /* UIDs run out: a new UIDVALIDITY; the next sync numbers the
         * other files after these. */
        uint32_t old = u.uidvalidity;
        uidlist_free(&u);
        uidlist_init_new(&u, old);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *to = xasprintf("%s/cur/%s", dir, finals[i]);
        if (rename(tmps[i], to) != 0)
            rc = errno;
        free(to);
        if (rc == 0) {
            char *stem = xstrndup(finals[i], maildir_name_stem_len(finals[i]));
            uids[i] = uidlist_add(&u, stem, NULL);
            free(stem);
        }
    }
    struct buf out;
    buf_init(&out);
    uidlist_format(&u, &out);
    int wrc = dotlock_replace(&lock, out.data, out.len);
    buf_free(&out);
    *uidvalidity_r = u.uidvalidity;
    uidlist_free(&u);
    if (rc == 0)
        rc = wrc;
    if (rc == 0) {
        char *cur = xasprintf("%s/cur", dir);
        rc = fsync_dir(cur);
        free(cur);
    }
    return rc;
}

/* Writes data with LF line endings (CRLF becomes LF, as local delivery
 * stores mail); *s_r the octets written, *w_r the CRLF size. */
static int write_lf(int fd, const char *data, size_t len, uint64_t *s_r, uint64_t *w_r)
{
    struct buf out;
    buf_init(&out);
    int rc = 0;
    struct pop3_msg_counter crlf = {0};
    uint64_t s = 0;
    for (size_t i = 0; rc == 0 && i < len;) {
        size_t end = i + 65536 < len ? i + 65536 : len;
        for (; i < end; i++) {
            if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
                continue;
            buf_append_char(&out, data[i]);
        }
        rc = fd_write_all(fd, out.data, out.len);
        pop3_msg_count(&crlf, out.data, out.len);
        s += out.len;
        buf_reset(&out);
    }
    buf_free(&out);
    *s_r = s;
    *w_r = crlf.size;
    return rc;
}

int maildir_append(struct store *s, const char *name, const char *data, size_t len, unsigned flags,
                   const char *const *keywords, size_t n_keywords, int64_t internal_date,
                   uint32_t *uidvalidity_r, uint32_t *uid_r)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    if (!maildir_exists(dir)) {
        free(dir);
        return ENOENT;
    }
    char *kwn[STORE_KEYWORDS_MAX];
    uint32_t mask = 0;
    int rc = keywords_read(dir, kwn);
    if (rc == 0)
        rc = keywords_mask(dir, kwn, keywords, n_keywords, &mask);
    keywords_free(kwn);
    char *base = NULL, *tmp = NULL;
    int fd = rc == 0 ? create_tmp(dir, &base, &tmp) : -rc;
    if (fd < 0) {
        free(dir);
        return -fd;
    }
    uint64_t ssize, wsize;
    rc = write_lf(fd, data, len, &ssize, &wsize);
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[1] = times[0];
    if (internal_date > 0)
        times[1] = (struct timespec){.tv_sec = (time_t)internal_date, .tv_nsec = 0};
    if (rc == 0 && futimens(fd, times) != 0)
        rc = errno;
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0) {
        char *stem = xasprintf("%s,S=%llu,W=%llu", base, (unsigned long long)ssize,
                               (unsigned long long)wsize);
        char *final = maildir_name_with_flags(stem, flags, mask);
        rc = commit_files(dir, &tmp, &final, 1, uid_r, uidvalidity_r);
        free(stem);
        free(final);
    }
    if (rc != 0)
        unlink(tmp); /* nothing if it was renamed already */
    free(tmp);
    free(base);
    free(dir);
    return rc;
}

/* Finds message m's file again after another program renamed it: the same
 * stem in cur/ or new/. */
static int relocate(const struct store_folder *f, struct store_msg *m)
{
    const char *name = strchr(m->file, '/') + 1;
    size_t stem = maildir_name_stem_len(name);
    static const char *const subs[] = {"cur", "new"};
    for (int i = 0; i < 2; i++) {
        char *path = xasprintf("%s/%s", f->path, subs[i]);
        DIR *d = opendir(path);
        free(path);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (maildir_name_stem_len(de->d_name) == stem && strncmp(de->d_name, name, stem) == 0) {
                char *rel = xasprintf("%s/%s", subs[i], de->d_name);
                free(m->file);
                m->file = rel;
                closedir(d);
                return 0;
            }
        }
        closedir(d);
    }
    return ENOENT;
}

/* Renames m's file to carry flags and mask; ENOENT once relocated when
 * another program renamed it (with unchanged, that is a change: *modified_r
 * instead). The modseq lock is held across the rename, so that a value
 * given later is given after this change is in place. */
static int rename_flags(struct store_folder *f, struct store_msg *m, unsigned flags, uint32_t mask,
                        const uint64_t *unchanged, bool *modified_r)
{
    uint64_t base;
    bool trusted;
    int rc = maildir_modseq_begin(f, false, &base, &trusted);
    if (rc != 0)
        return rc;
    if (unchanged && m->modseq > *unchanged) {
        *modified_r = true;
        return maildir_modseq_end(f, base, base, false);
    }
    bool done = false;
    for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
        char *name = maildir_name_with_flags(strchr(m->file, '/') + 1, flags, mask);
        char *rel = xasprintf("cur/%s", name);
        free(name);
        char *from = xasprintf("%s/%s", f->path, m->file);
        char *to = xasprintf("%s/%s", f->path, rel);
        bool same = strcmp(from, to) == 0;
        rc = same || rename(from, to) == 0 ? 0 : errno;
        free(from);
        free(to);
        if (rc == 0) {
            /* The same name: nothing changes, no modseq is used. */
            done = !same || m->flags != flags || m->keywords != mask;
            free(m->file);
            m->file = rel;
            m->flags = flags;
            m->keywords = mask;
            break;
        }
        free(rel);
        if (rc == ENOENT && unchanged) {
            *modified_r = true; /* changed by another program since this view */
            rc = 0;
            break;
        }
        if (rc == ENOENT && attempt == 0)
            rc = relocate(f, m);
    }
    uint64_t value = done ? maildir_modseq_next(f, base) : base;
    int erc = maildir_modseq_end(f, base, value, false);
    if (done) {
        m->modseq = value;
        if (value > f->highest_modseq)
            f->highest_modseq = value;
        f->priv->renamed = true; /* store_commit() makes it durable */
        f->priv->index_dirty = true;
    }
    return rc ? rc : erc;
}

int maildir_set_flags_cond(struct store_folder *f, uint32_t uid, unsigned flags,
                           const char *const *keywords, size_t n_keywords,
                           const uint64_t *unchanged, bool *modified_r)
{
    if (f->read_only)
        return EROFS;
    struct store_msg *m = store_msg_by_uid(f, uid);
    if (m == NULL)
        return ENOENT;
    uint32_t mask;
    int rc = keywords_mask(f->path, f->keywords, keywords, n_keywords, &mask);
    return rc ? rc : rename_flags(f, m, flags, mask, unchanged, modified_r);
}

int maildir_set_flags(struct store_folder *f, uint32_t uid, unsigned flags,
                      const char *const *keywords, size_t n_keywords)
{
    bool modified = false;
    return maildir_set_flags_cond(f, uid, flags, keywords, n_keywords, NULL, &modified);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_set(const uint32_t *sorted, size_t n, uint32_t uid)
{
    return n && bsearch(&uid, sorted, n, sizeof(uid), u32_cmp) != NULL;
}

int maildir_expunge(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                    size_t *n_expunged_r)
{
    *expunged_r = NULL;
    *n_expunged_r = 0;
    if (f->read_only)
        return EROFS;
    uint32_t *set = NULL;
    if (uids) {
        set = xcalloc(n + 1, sizeof(*set));
        memcpy(set, uids, n * sizeof(*set));
        qsort(set, n, sizeof(*set), u32_cmp);
    }
    char *ulpath = xasprintf("%s/dovecot-uidlist", f->path);
    struct dotlock lock;
    int rc = dotlock_take(ulpath, &lock);
    free(ulpath);
    if (rc != 0) {
        free(set);
        return rc;
    }
    uint64_t base;
    bool trusted;
    rc = maildir_modseq_begin(f, false, &base, &trusted);
    if (rc != 0) {
        dotlock_release(&lock);
        free(set);
        return rc;
    }
    uint64_t value = maildir_modseq_next(f, base);
    struct uidlist u;
    int urc = uidlist_read(f->path, &u);
    uint32_t *gone = xcalloc(f->n + 1, sizeof(*gone));
    size_t ngone = 0, o = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct store_msg *m = &f->msgs[i];
        bool target = set ? in_set(set, n, m->uid) : (m->flags & STORE_F_DELETED) != 0;
        int e = 0;
        if (target) {
            char *path = xasprintf("%s/%s", f->path, m->file);
            e = unlink(path) == 0 ? 0 : errno;
            free(path);
            if (e == ENOENT && relocate(f, m) == 0) {
                path = xasprintf("%s/%s", f->path, m->file);
                e = unlink(path) == 0 ? 0 : errno;
                free(path);
            }
        }
        if (target && (e == 0 || e == ENOENT)) {
            gone[ngone++] = m->uid;
            expunges_add(&f->priv->expunged, m->uid, value);
            store_msg_clear(m);
            if (urc == 0) {
                struct uidlist_rec *r = uidlist_find_uid(&u, m->uid);
                if (r)
                    uidlist_remove_at(&u, (size_t)(r - u.v));
            }
            continue;
        }
        if (target && rc == 0)
            rc = e;
        f->msgs[o++] = *m;
    }
    f->n = o;
    /* The counter on disk before the expunge is (the fsync of cur/). */
    int mrc = maildir_modseq_end(f, base, ngone ? value : base, ngone > 0);
    if (ngone) {
        f->highest_modseq = value;
        f->priv->index_dirty = true;
        expunges_limit(&f->priv->expunged, maildir_expunge_cap(f));
    }
    if (rc == 0)
        rc = mrc;
    if (urc == 0) {
        struct buf out;
        buf_init(&out);
        uidlist_format(&u, &out);
        int wrc = dotlock_replace(&lock, out.data, out.len);
        buf_free(&out);
        uidlist_free(&u);
        if (rc == 0)
            rc = wrc;
    } else {
        dotlock_release(&lock); /* the next sync drops the records */
    }
    char *cur = xasprintf("%s/cur", f->path);
    fsync_dir(cur);
    free(cur);
    free(set);
    *expunged_r = gone;
    *n_expunged_r = ngone;
    return rc;
}

/* Copies the file's octets when a hard link cannot be made. */
static int copy_file(const char *from, const char *to_dir, char **base_r, char **tmp_r)
{
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return errno;
    int out = create_tmp(to_dir, base_r, tmp_r);
    if (out < 0) {
        close(in);
        return -out;
    }
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = errno;
        if (r <= 0)
            break;
        rc = fd_write_all(out, chunk, (size_t)r);
        if (rc)
            break;
    }
    struct stat st;
    if (rc == 0 && fstat(in, &st) == 0) {
        struct timespec times[2] = {st.st_atim, st.st_mtim}; /* the internal date */
        futimens(out, times);
    }
    if (rc == 0 && fsync(out) != 0)
        rc = errno;
    if (close(out) != 0 && rc == 0)
        rc = errno;
    close(in);
    if (rc != 0) {
        unlink(*tmp_r);
        free(*tmp_r);
        free(*base_r);
    }
    return rc;
}

/* Puts a copy of m in dest's tmp/: a hard link, else a copy. */
static int stage_copy(struct store_folder *f, struct store_msg *m, const char *dest, char **base_r,
                      char **tmp_r)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char *from = xasprintf("%s/%s", f->path, m->file);
        *base_r = maildir_unique_base();
        *tmp_r = xasprintf("%s/tmp/%s", dest, *base_r);
        int rc = link(from, *tmp_r) == 0 ? 0 : errno;
        if (rc != 0 && rc != ENOENT) {
            free(*base_r);
            free(*tmp_r);
            rc = copy_file(from, dest, base_r, tmp_r);
        }
        free(from);
        if (rc == 0)
            return 0;
        if (rc == ENOENT) {
            free(*base_r);
            free(*tmp_r);
        }
        if (rc != ENOENT || attempt > 0 || relocate(f, m) != 0)
            return rc;
    }
    return ENOENT;
}

int maildir_copy(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest,
                 bool move, struct store_uidmap *map_r)
{
    memset(map_r, 0, sizeof(*map_r));
    if (move && f->read_only)
        return EROFS;
    char *ddir = maildir_folder_dir(f->store, dest);
    if (ddir == NULL)
        return EINVAL;
    if (!maildir_exists(ddir)) {
        free(ddir);
        return ENOENT;
    }
    uint32_t *set = xcalloc(n + 1, sizeof(*set));
    memcpy(set, uids, n * sizeof(*set));
    qsort(set, n, sizeof(*set), u32_cmp);
    char *dkw[STORE_KEYWORDS_MAX];
    int rc = keywords_read(ddir, dkw);
    char **tmps = xcalloc(f->n + 1, sizeof(char *));
    char **finals = xcalloc(f->n + 1, sizeof(char *));
    uint32_t *src = xcalloc(f->n + 1, sizeof(uint32_t));
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        struct store_msg *m = &f->msgs[i];
        if (!in_set(set, n, m->uid))
            continue;
        const char *names[STORE_KEYWORDS_MAX];
        size_t nk = 0;
        for (int j = 0; j < STORE_KEYWORDS_MAX; j++)
            if ((m->keywords & (1u << j)) && f->keywords[j])
                names[nk++] = f->keywords[j];
        uint32_t mask;
        rc = keywords_mask(ddir, dkw, names, nk, &mask);
        char *base = NULL;
        if (rc == 0)
            rc = stage_copy(f, m, ddir, &base, &tmps[k]);
        if (rc != 0)
            break;
        char *stem = xasprintf("%s,S=%llu,W=%llu", base, (unsigned long long)m->file_size,
                               (unsigned long long)m->size);
        finals[k] = maildir_name_with_flags(stem, m->flags, mask);
        free(stem);
        free(base);
        src[k++] = m->uid;
    }
    keywords_free(dkw);
    uint32_t *dst = xcalloc(k + 1, sizeof(uint32_t));
    if (rc == 0 && k > 0)
        rc = commit_files(ddir, tmps, finals, k, dst, &map_r->uidvalidity);
    for (size_t i = 0; i < k; i++) {
        if (rc != 0)
            unlink(tmps[i]);
        free(tmps[i]);
        free(finals[i]);
    }
    free(tmps);
    free(finals);
    free(set);
    free(ddir);
    if (rc == 0 && move && k > 0) {
        uint32_t *gone;
        size_t ngone;
        rc = maildir_expunge(f, src, k, &gone, &ngone);
        free(gone);
    }
    if (rc != 0) {
        free(src);
        free(dst);
        return rc;
    }
    map_r->src = src;
    map_r->dst = dst;
    map_r->n = k;
    return 0;
}

int maildir_open_msg(struct store_folder *f, uint32_t uid)
{
    struct store_msg *m = store_msg_by_uid(f, uid);
    if (m == NULL)
        return -ENOENT;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *path = xasprintf("%s/%s", f->path, m->file);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int e = errno;
        free(path);
        if (fd >= 0)
            return fd;
        if (e != ENOENT || attempt > 0 || relocate(f, m) != 0)
            return -e;
    }
    return -ENOENT;
}
