/* STATUS of a Maildir folder without writing anything: dovecot-uidlist
 * read without its lock, new/ and cur/ counted. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/maildir_name.h"
#include "store/index.h"
#include "store/modseq.h"
#include "store/store_int.h"
#include "store/uidlist.h"
#include "util/xmalloc.h"

struct stem {
    const char *s;
    size_t len;
    uint64_t vsize;
    bool has_vsize;
};

static int stem_cmp(const void *a, const void *b)
{
    const struct stem *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

static void count_dir(const char *dir, const char *sub, const struct stem *known, size_t nknown,
                      struct store_status *st, uint32_t *unknown)
{
    char *path = xasprintf("%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL) {
        free(path);
        return;
    }
    bool in_new = strcmp(sub, "new") == 0;
    struct dirent *de;
    struct maildir_name mn;
    while ((de = readdir(d)) != NULL) {
        if (!maildir_name_parse(de->d_name, &mn))
            continue;
        st->messages++;
        if (in_new)
            st->recent++;
        if (!(mn.flags & STORE_F_SEEN))
            st->unseen++;
        if (mn.flags & STORE_F_DELETED)
            st->deleted++;
        struct stem key = {de->d_name, mn.info_at, 0, false};
        const struct stem *k = nknown ? bsearch(&key, known, nknown, sizeof(key), stem_cmp) : NULL;
        if (k == NULL)
            (*unknown)++;
        if (mn.has_w) {
            st->size += mn.w;
        } else if (k && k->has_vsize) {
            st->size += k->vsize;
        } else {
            /* Not measured yet: the file's size (LF octets) is close. */
            struct stat sb;
            if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0)
                st->size += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
    free(path);
}

/* HIGHESTMODSEQ: postern-modseq's when the folder is as postern-index saw
 * it (no change waits for a modseq); else a read-only sync gives the
 * waiting changes theirs. */
static int status_highest(struct store *s, const char *name, const char *dir, uint64_t *v_r)
{
    struct folder_index ix;
    struct index_stamps now;
    char *p = xasprintf("%s/cur", dir);
    index_stamp_take(p, true, &now.cur);
    free(p);
    p = xasprintf("%s/new", dir);
    index_stamp_take(p, true, &now.new_);
    free(p);
    p = xasprintf("%s/dovecot-uidlist", dir);
    index_stamp_take(p, false, &now.uidlist);
    free(p);
    uint64_t counter = modseq_peek(dir);
    if (index_read(dir, &ix) == 0) {
        bool same = index_stamps_same(&now, &ix.stamps) && counter >= ix.highest_modseq &&
                    ix.highest_modseq > 0;
        index_free(&ix);
        if (same) {
            *v_r = counter;
            return 0;
        }
    }
    struct store_folder *f;
    int rc = store_open(s, name, true, &f);
    if (rc != 0)
        return rc;
    *v_r = f->highest_modseq;
    store_close(f);
    return 0;
}

int maildir_status(struct store *s, const char *name, struct store_status *st)
{
    memset(st, 0, sizeof(*st));
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    if (!maildir_exists(dir)) {
        free(dir);
        return ENOENT;
    }
    struct uidlist u;
    int rc = uidlist_read(dir, &u);
    if (rc == ENOENT || rc == EINVAL) {
        /* No UIDVALIDITY to report yet: a read-only open creates the
         * uidlist (as Dovecot's STATUS would), moving nothing. */
        free(dir);
        struct store_folder *f;
        rc = store_open(s, name, true, &f);
        if (rc != 0)
            return rc;
        st->messages = (uint32_t)f->n;
        for (size_t i = 0; i < f->n; i++) {
            st->recent += f->msgs[i].recent;
            st->unseen += !(f->msgs[i].flags & STORE_F_SEEN);
            st->deleted += (f->msgs[i].flags & STORE_F_DELETED) != 0;
            st->size += f->msgs[i].size;
        }
        st->uidnext = f->uidnext;
        st->uidvalidity = f->uidvalidity;
        st->highest_modseq = f->highest_modseq;
        store_close(f);
        return 0;
    }
    if (rc != 0) {
        free(dir);
        return rc;
    }
    struct stem *known = xcalloc(u.n + 1, sizeof(*known));
    for (size_t i = 0; i < u.n; i++) {
        known[i].s = u.v[i].file;
        known[i].len = maildir_name_stem_len(u.v[i].file);
        const char *w = u.v[i].ext ? strstr(u.v[i].ext, "W") : NULL;
        if (w && (w == u.v[i].ext || w[-1] == ' ') && w[1] >= '0' && w[1] <= '9') {
            known[i].vsize = strtoull(w + 1, NULL, 10);
            known[i].has_vsize = true;
        }
    }
    qsort(known, u.n, sizeof(*known), stem_cmp);
    uint32_t unknown = 0;
    count_dir(dir, "new", known, u.n, st, &unknown);
    count_dir(dir, "cur", known, u.n, st, &unknown);
    st->uidvalidity = u.uidvalidity;
    st->uidnext = u.nextuid + unknown; /* what the next sync will give */
    free(known);
    uidlist_free(&u);
    rc = status_highest(s, name, dir, &st->highest_modseq);
    free(dir);
    return rc;
}
