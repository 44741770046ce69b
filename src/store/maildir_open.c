/* Opening and closing a Maildir folder; at close, the cached strings that
 * came since the last sync go into postern-index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/dotlock.h"
#include "store/index.h"
#include "store/keywords.h"
#include "store/store_int.h"
#include "util/xmalloc.h"

int maildir_open(struct store *s, const char *name, bool read_only, struct store_folder **f_r)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    if (!maildir_exists(dir)) {
        free(dir);
        return ENOENT;
    }
    struct store_folder *f = xcalloc(1, sizeof(*f));
    f->store = s;
    f->name = xstrdup(store_name_is_inbox(name) ? "INBOX" : name);
    f->path = dir;
    f->read_only = read_only;
    f->priv = xcalloc(1, sizeof(*f->priv));
    f->priv->modseq_fd = -1;
    int rc = maildir_sync(f, NULL);
    if (rc != 0) {
        maildir_close(f);
        return rc;
    }
    *f_r = f;
    return 0;
}

/* The newest record of each message from this view and from an index
 * another session wrote since: a message's modseq only grows, so the
 * larger is the later state. Messages only the other index has are kept;
 * this view's that it says were expunged are dropped. Shallow copies of
 * both arrays' records (free only the array). */
static struct store_msg *merge_newest(const struct store_folder *f, const struct folder_index *disk,
                                      size_t *n_r)
{
    struct store_msg *out = xcalloc(f->n + disk->n + 1, sizeof(*out));
    size_t i = 0, k = 0, n = 0;
    while (i < f->n || k < disk->n) {
        if (k == disk->n || (i < f->n && f->msgs[i].uid < disk->msgs[k].uid)) {
            if (expunges_find(&disk->expunged, f->msgs[i].uid) == 0)
                out[n++] = f->msgs[i];
            i++;
        } else if (i == f->n || disk->msgs[k].uid < f->msgs[i].uid) {
            out[n++] = disk->msgs[k++];
        } else { /* the same message in both */
            out[n++] = disk->msgs[k].modseq > f->msgs[i].modseq ? disk->msgs[k] : f->msgs[i];
            i++;
            k++;
        }
    }
    *n_r = n;
    return out;
}

/* The view of the last sync, with the stamps it was made under: if the
 * folder changed since (also by this session), they no longer match and
 * the next open re-scans, keeping the cached strings.
 *
 * If another session wrote the index since this view last read or wrote
 * it, each index may hold the later state of some message: written over,
 * a message that went A -> B -> A in the other session would come back
 * with this view's modseq for A, below the one the other session gave (a
 * modseq going backwards). So the two are merged message by message
 * (merge_newest) and written with stamps that match nothing: the next open
 * re-scans with the newest record of every message. */
static void save_cache(struct store_folder *f)
{
    char *ulpath = xasprintf("%s/dovecot-uidlist", f->path);
    struct dotlock lock;
    int rc = dotlock_take(ulpath, &lock);
    free(ulpath);
    if (rc != 0)
        return; /* only a cache: the strings are made again when asked for */
    struct index_stamp now;
    char *ipath = xasprintf("%s/" INDEX_FILE, f->path);
    index_stamp_take(ipath, false, &now);
    free(ipath);
    struct folder_index disk = {0};
    bool other = !index_stamp_same(&now, &f->priv->index_seen) && index_read(f->path, &disk) == 0;
    if (other && disk.uidvalidity != f->uidvalidity) {
        index_free(&disk); /* another UIDVALIDITY: this view's records mean nothing there */
        dotlock_release(&lock);
        return;
    }
    struct folder_index ix = {f->uidvalidity, f->uidnext, f->highest_modseq, f->priv->stamps,
                              f->msgs,        f->n,       f->priv->expunged};
    struct store_msg *merged = NULL;
    if (other) {
        expunges_merge(&f->priv->expunged, &disk.expunged);
        merged = merge_newest(f, &disk, &ix.n);
        ix.msgs = merged;
        ix.expunged = f->priv->expunged;
        memset(&ix.stamps, 0, sizeof(ix.stamps)); /* no one scan's: never trusted as is */
        if (disk.uidnext > ix.uidnext)
            ix.uidnext = disk.uidnext;
        if (disk.highest_modseq > ix.highest_modseq)
            ix.highest_modseq = disk.highest_modseq;
    }
    for (size_t i = 0; i < ix.expunged.n; i++)
        if (ix.expunged.v[i].modseq > ix.highest_modseq)
            ix.highest_modseq = ix.expunged.v[i].modseq;
    /* Every value in it must be on disk in postern-modseq first. */
    if (maildir_modseq_flush(f) == 0)
        index_write(f->path, &ix);
    free(merged);
    index_free(&disk);
    dotlock_release(&lock);
}

void maildir_close(struct store_folder *f)
{
    if (f->priv && f->priv->synced && f->priv->index_dirty)
        save_cache(f);
    for (size_t i = 0; i < f->n; i++)
        store_msg_clear(&f->msgs[i]);
    free(f->msgs);
    keywords_free(f->keywords);
    if (f->priv) {
        if (f->priv->modseq_fd >= 0)
            close(f->priv->modseq_fd);
        expunges_free(&f->priv->expunged);
    }
    free(f->priv);
    free(f->name);
    free(f->path);
    free(f);
}
