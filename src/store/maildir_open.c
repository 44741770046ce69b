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

/* The view of the last sync, with the stamps it was made under: if the
 * folder changed since (also by this session), they no longer match and
 * the next open re-scans, keeping the cached strings. */
static void save_cache(struct store_folder *f)
{
    char *ulpath = xasprintf("%s/dovecot-uidlist", f->path);
    struct dotlock lock;
    int rc = dotlock_take(ulpath, &lock);
    free(ulpath);
    if (rc != 0)
        return; /* only a cache: the strings are made again when asked for */
    /* Another session's index since: its expunge history is kept (an
     * expunge it alone recorded must not be forgotten). */
    struct index_stamp now;
    char *ipath = xasprintf("%s/" INDEX_FILE, f->path);
    index_stamp_take(ipath, false, &now);
    free(ipath);
    struct folder_index disk;
    if (!index_stamp_same(&now, &f->priv->index_seen) && index_read(f->path, &disk) == 0) {
        if (disk.uidvalidity == f->uidvalidity)
            expunges_merge(&f->priv->expunged, &disk.expunged);
        index_free(&disk);
    }
    uint64_t highest = f->highest_modseq;
    for (size_t i = 0; i < f->priv->expunged.n; i++)
        if (f->priv->expunged.v[i].modseq > highest)
            highest = f->priv->expunged.v[i].modseq;
    /* Every value in it must be on disk in postern-modseq first. */
    if (maildir_modseq_flush(f) == 0) {
        struct folder_index ix = {f->uidvalidity, f->uidnext, highest,          f->priv->stamps,
                                  f->msgs,        f->n,       f->priv->expunged};
        index_write(f->path, &ix);
    }
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
