/* Opening and closing a Maildir folder; at close, the cached strings that
 * came since the last sync go into postern-index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    struct folder_index ix = {f->uidvalidity,  f->uidnext, f->priv->highest_modseq,
                              f->priv->stamps, f->msgs,    f->n};
    index_write(f->path, &ix);
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
    free(f->priv);
    free(f->name);
    free(f->path);
    free(f);
}
