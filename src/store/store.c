/* The store's public calls, each through the backend's struct store_ops,
 * and the Maildir backend's table and small shared helpers. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "store/dotlock.h"
#include "store/store_int.h"
#include "store/store_quota.h"
#include "util/xmalloc.h"

static const struct store_ops maildir_ops = {
    .setup = maildir_setup,
    .list = maildir_list,
    .create = maildir_create,
    .set_special_use = maildir_set_special_use,
    .delete_folder = maildir_delete,
    .rename = maildir_rename,
    .subscribe = maildir_subscribe,
    .open = maildir_open,
    .sync = maildir_sync,
    .close = maildir_close,
    .append = maildir_append,
    .set_flags = maildir_set_flags,
    .set_flags_cond = maildir_set_flags_cond,
    .expunge = maildir_expunge,
    .copy = maildir_copy,
    .open_msg = maildir_open_msg,
    .status = maildir_status,
    .watch_paths = maildir_watch_paths,
};

struct store *store_maildir_new(const char *root)
{
    struct store *s = xcalloc(1, sizeof(*s));
    s->ops = &maildir_ops;
    s->root = xstrdup(root);
    size_t len = strlen(s->root);
    while (len > 1 && s->root[len - 1] == '/')
        s->root[--len] = '\0';
    return s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    free(s->root);
    free(s);
}

int store_setup(struct store *s)
{
    return s->ops->setup(s);
}

int store_list(struct store *s, struct store_list *out)
{
    return s->ops->list(s, out);
}

void store_list_free(struct store_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int store_create(struct store *s, const char *name)
{
    return s->ops->create(s, name);
}

int store_commit(struct store_folder *f)
{
    if (f->priv == NULL)
        return 0;
    /* The counter first: a rename on disk must not have a modseq that is
     * not (see store.h). */
    int mrc = maildir_modseq_flush(f);
    if (mrc != 0)
        return mrc;
    if (!f->priv->renamed)
        return 0;
    f->priv->renamed = false;
    char *cur = xasprintf("%s/cur", f->path);
    int rc = fsync_dir(cur);
    free(cur);
    return rc;
}

int store_set_special_use(struct store *s, const char *name, unsigned use)
{
    return s->ops->set_special_use(s, name, use);
}

void store_set_quota(struct store *s, uint64_t limit)
{
    s->quota = limit;
}

int store_quota_get(struct store *s, uint64_t *bytes_r, uint64_t *count_r)
{
    struct store_quota_usage u = {0};
    int rc = s->quota ? store_quota_usage(s->root, s->quota, &u) : EINVAL;
    *bytes_r = u.bytes;
    *count_r = u.count;
    return rc;
}

/* Whether adding octets would go over the limit. A usage that cannot be
 * read does not refuse mail (the next recalculation has the truth). */
static bool over_quota(struct store *s, uint64_t octets)
{
    struct store_quota_usage u;
    if (s->quota == 0 || store_quota_usage(s->root, s->quota, &u) != 0)
        return false;
    return u.bytes + octets > s->quota;
}

int store_delete(struct store *s, const char *name)
{
    /* Its messages leave the usage: counted before they go. */
    char *dir = maildir_folder_dir(s, name);
    struct store_quota_usage u = {0};
    if (dir && !store_name_is_inbox(name))
        store_quota_folder_usage(dir, &u);
    free(dir);
    int rc = s->ops->delete_folder(s, name);
    if (rc == 0)
        store_quota_change(s->root, s->quota, -(int64_t)u.bytes, -(int64_t)u.count);
    return rc;
}

int store_rename(struct store *s, const char *from, const char *to)
{
    return s->ops->rename(s, from, to);
}

int store_subscribe(struct store *s, const char *name, bool subscribe)
{
    return s->ops->subscribe(s, name, subscribe);
}

int store_open(struct store *s, const char *name, bool read_only, struct store_folder **f_r)
{
    return s->ops->open(s, name, read_only, f_r);
}

int store_sync(struct store_folder *f, struct store_changes *changes)
{
    return f->store->ops->sync(f, changes);
}

void store_changes_free(struct store_changes *c)
{
    free(c->added);
    free(c->expunged);
    free(c->flags_changed);
    memset(c, 0, sizeof(*c));
}

void store_close(struct store_folder *f)
{
    if (f)
        f->store->ops->close(f);
}

struct store_msg *store_msg_by_uid(struct store_folder *f, uint32_t uid)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->msgs[mid].uid == uid)
            return &f->msgs[mid];
        if (f->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void store_msg_clear(struct store_msg *m)
{
    free(m->file);
    m->file = NULL;
    for (int k = 0; k < STORE_CACHE_N; k++) {
        free(m->cache[k]);
        m->cache[k] = NULL;
    }
}

int store_cache_get(struct store_folder *f, uint32_t uid, enum store_cache_field field,
                    char **value_r)
{
    *value_r = NULL;
    if ((unsigned)field >= STORE_CACHE_N)
        return EINVAL;
    struct store_msg *m = store_msg_by_uid(f, uid);
    if (m == NULL || m->cache[field] == NULL)
        return ENOENT;
    *value_r = xstrdup(m->cache[field]);
    return 0;
}

int store_cache_put(struct store_folder *f, uint32_t uid, enum store_cache_field field,
                    const char *value)
{
    if ((unsigned)field >= STORE_CACHE_N || strlen(value) > INDEX_CACHED_MAX)
        return EINVAL;
    struct store_msg *m = store_msg_by_uid(f, uid);
    if (m == NULL)
        return ENOENT;
    if (m->cache[field] && strcmp(m->cache[field], value) == 0)
        return 0;
    free(m->cache[field]);
    m->cache[field] = xstrdup(value);
    if (f->priv)
        f->priv->index_dirty = true;
    return 0;
}

int store_append(struct store *s, const char *name, const char *data, size_t len, unsigned flags,
                 const char *const *keywords, size_t n_keywords, int64_t internal_date,
                 uint32_t *uidvalidity_r, uint32_t *uid_r)
{
    /* The file will hold LF line ends (maildir_append): its size. */
    uint64_t size = len;
    for (size_t i = 0; i + 1 < len; i++)
        if (data[i] == '\r' && data[i + 1] == '\n')
            size--;
    if (s->quota) {
        char *dir = maildir_folder_dir(s, name);
        bool exists = dir && maildir_exists(dir); /* else TRYCREATE, not OVERQUOTA */
        free(dir);
        if (exists && over_quota(s, size))
            return EDQUOT;
    }
    int rc = s->ops->append(s, name, data, len, flags, keywords, n_keywords, internal_date,
                            uidvalidity_r, uid_r);
    if (rc == 0)
        store_quota_change(s->root, s->quota, (int64_t)size, 1);
    return rc;
}

int store_set_flags(struct store_folder *f, uint32_t uid, unsigned flags,
                    const char *const *keywords, size_t n_keywords)
{
    return f->store->ops->set_flags(f, uid, flags, keywords, n_keywords);
}

struct uid_size {
    uint32_t uid;
    uint64_t size;
};

int store_expunge(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                  size_t *n_expunged_r)
{
    /* The sizes of what may go, ascending by UID like the result. */
    struct uid_size *cand = xcalloc(f->n + 1, sizeof(*cand));
    size_t nc = 0;
    if (uids == NULL) {
        for (size_t i = 0; i < f->n; i++)
            if (f->msgs[i].flags & STORE_F_DELETED)
                cand[nc++] = (struct uid_size){f->msgs[i].uid, f->msgs[i].file_size};
    } else {
        for (size_t i = 0; i < f->n; i++)
            cand[nc++] = (struct uid_size){f->msgs[i].uid, f->msgs[i].file_size};
    }
    int rc = f->store->ops->expunge(f, uids, n, expunged_r, n_expunged_r);
    if (rc == 0 && *n_expunged_r) {
        uint64_t bytes = 0;
        int64_t count = 0;
        size_t k = 0;
        for (size_t i = 0; i < *n_expunged_r; i++) {
            while (k < nc && cand[k].uid < (*expunged_r)[i])
                k++;
            if (k < nc && cand[k].uid == (*expunged_r)[i]) {
                bytes += cand[k].size;
                count++;
            }
        }
        store_quota_change(f->store->root, f->store->quota, -(int64_t)bytes, -count);
    }
    free(cand);
    return rc;
}

int store_copy(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest, bool move,
               struct store_uidmap *map_r)
{
    struct store *s = f->store;
    uint64_t bytes = 0;
    if (!move && s->quota) {
        for (size_t i = 0; i < n; i++) {
            const struct store_msg *m = store_msg_by_uid(f, uids[i]);
            if (m && (i == 0 || uids[i] != uids[i - 1]))
                bytes += m->file_size;
        }
        char *dir = maildir_folder_dir(s, dest);
        bool exists = dir && maildir_exists(dir); /* else TRYCREATE, not OVERQUOTA */
        free(dir);
        if (exists && bytes && over_quota(s, bytes))
            return EDQUOT;
    }
    int rc = s->ops->copy(f, uids, n, dest, move, map_r);
    if (rc == 0 && !move && map_r->n) {
        /* What was copied (UIDs gone meanwhile were skipped). */
        bytes = 0;
        for (size_t i = 0; i < map_r->n; i++) {
            const struct store_msg *m = store_msg_by_uid(f, map_r->src[i]);
            bytes += m ? m->file_size : 0;
        }
        store_quota_change(s->root, s->quota, (int64_t)bytes, (int64_t)map_r->n);
    }
    return rc;
}

void store_uidmap_free(struct store_uidmap *m)
{
    free(m->src);
    free(m->dst);
    memset(m, 0, sizeof(*m));
}

int store_open_msg(struct store_folder *f, uint32_t uid)
{
    return f->store->ops->open_msg(f, uid);
}

int store_status(struct store *s, const char *name, struct store_status *st)
{
    return s->ops->status(s, name, st);
}

int store_watch_paths(struct store *s, const char *name, char **new_r, char **cur_r)
{
    return s->ops->watch_paths(s, name, new_r, cur_r);
}

char *maildir_folder_dir(const struct store *s, const char *name)
{
    if (store_name_is_inbox(name))
        return xstrdup(s->root);
    if (!store_name_valid(name))
        return NULL;
    return xasprintf("%s/.%s", s->root, name);
}

bool maildir_exists(const char *dir)
{
    char *cur = xasprintf("%s/cur", dir);
    struct stat st;
    bool r = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
    free(cur);
    return r;
}

char *maildir_unique_base(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint32_t q;
    if (getrandom(&q, sizeof(q), 0) != (ssize_t)sizeof(q))
        q = (uint32_t)tv.tv_usec ^ (uint32_t)(uintptr_t)&tv;
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    /* Maildir: '/' and ':' in the host name are encoded (as deliver does). */
    char enc[300];
    size_t o = 0;
    for (const char *h = host; *h && o + 5 < sizeof(enc); h++) {
        if (*h == '/' || *h == ':')
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, "\\%03o", (unsigned char)*h);
        else if (*h != ',')
            enc[o++] = *h;
    }
    enc[o] = '\0';
    return xasprintf("%lld.M%06ldP%dQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec, (int)getpid(),
                     q, enc);
}
