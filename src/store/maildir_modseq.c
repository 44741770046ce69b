/* The Maildir backend's modification sequences: the counter's lock and
 * base (postern-modseq), and the pass of a sync that gives the messages it
 * found changed, new or gone their modseqs (see store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/expunges.h"
#include "store/modseq.h"
#include "store/store_int.h"
#include "util/xmalloc.h"

size_t maildir_expunge_cap(const struct store_folder *f)
{
    return f->store->expunge_cap ? f->store->expunge_cap : EXPUNGES_CAP_DEFAULT;
}

static uint64_t clock_usec(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

/* The counter is open only from a change until it is on disk: a folder
 * held open by an idle session costs no descriptor for it (10,000 IDLE
 * sessions would otherwise hold 10,000 more). */
static void release_fd(struct store_folder *f)
{
    if (f->priv->modseq_fd >= 0 && !f->priv->modseq_unsynced) {
        close(f->priv->modseq_fd);
        f->priv->modseq_fd = -1;
    }
}

int maildir_modseq_begin(struct store_folder *f, bool fresh_ok, uint64_t *base_r, bool *trusted_r)
{
    *base_r = 0;
    *trusted_r = false;
    if (f->priv->modseq_fd < 0) {
        int fd = modseq_open(f->path);
        if (fd < 0)
            return -fd;
        f->priv->modseq_fd = fd;
    }
    int rc = modseq_lock(f->priv->modseq_fd);
    if (rc != 0)
        return rc;
    uint64_t v;
    rc = modseq_read(f->priv->modseq_fd, &v);
    if (rc == 0) {
        *base_r = v;
        *trusted_r = true;
    } else if (rc == ENOENT || rc == EINVAL) {
        /* Nothing proves what was given: jump past anything that could
         * have been (the clock runs faster than changes are made). */
        *base_r = fresh_ok ? 0 : clock_usec();
    } else {
        modseq_unlock(f->priv->modseq_fd);
        return rc;
    }
    if (*base_r < f->highest_modseq)
        *base_r = f->highest_modseq;
    return 0;
}

/* fdatasync of what was written; the descriptor stays open. */
static int flush_keep_open(struct store_folder *f)
{
    if (!f->priv->modseq_unsynced || f->priv->modseq_fd < 0)
        return 0;
    int rc = modseq_sync(f->priv->modseq_fd);
    if (rc == 0)
        f->priv->modseq_unsynced = false;
    return rc;
}

int maildir_modseq_end(struct store_folder *f, uint64_t base, uint64_t value, bool sync)
{
    int fd = f->priv->modseq_fd, rc = 0;
    if (value > base) {
        rc = modseq_write(fd, value);
        if (rc == 0)
            f->priv->modseq_unsynced = true;
    }
    if (rc == 0 && sync)
        rc = flush_keep_open(f);
    modseq_unlock(fd);
    release_fd(f); /* after the unlock: never flock a closed (or reused) descriptor */
    return rc;
}

int maildir_modseq_flush(struct store_folder *f)
{
    int rc = flush_keep_open(f);
    if (rc == 0)
        release_fd(f); /* not locked here: store_commit's call */
    return rc;
}

uint64_t maildir_modseq_next(const struct store_folder *f, uint64_t base)
{
    return (base > f->highest_modseq ? base : f->highest_modseq) + 1;
}

static const struct store_msg *by_uid(const struct store_msg *msgs, size_t n, uint32_t uid)
{
    struct store_folder v = {.msgs = (struct store_msg *)msgs, .n = n};
    return n ? store_msg_by_uid(&v, uid) : NULL;
}

static bool same_flags(const struct store_msg *a, const struct store_msg *b)
{
    return a->flags == b->flags && a->keywords == b->keywords;
}

/* The modseq message m can keep, or 0 when it needs a fresh one: the
 * newest record of it (the view's or the index's) must have its flags, and
 * a value this view has not shown must be above what it has. */
static uint64_t kept(const struct store_msg *m, const struct store_msg *v,
                     const struct store_msg *x, uint64_t view_highest)
{
    const struct store_msg *best = v && v->modseq ? v : NULL;
    bool from_view = best != NULL;
    if (x && x->modseq && (best == NULL || x->modseq > best->modseq)) {
        best = x;
        from_view = false;
    }
    if (best == NULL || !same_flags(best, m))
        return 0;
    return from_view || best->modseq > view_highest ? best->modseq : 0;
}

int maildir_modseq_assign(struct store_folder *f, struct store_msg *msgs, size_t n,
                          uint32_t uidvalidity, const struct folder_index *ix, bool fresh_ok)
{
    struct store_folder_priv *p = f->priv;
    bool same_view = p->synced && f->uidvalidity == uidvalidity;
    const struct store_msg *view = same_view ? f->msgs : NULL;
    size_t nview = same_view ? f->n : 0;
    uint64_t base;
    bool trusted;
    int rc = maildir_modseq_begin(f, fresh_ok, &base, &trusted);
    if (rc != 0)
        return rc;
    if (ix && (!trusted || ix->uidvalidity != uidvalidity))
        ix = NULL; /* its values cannot be vouched for */
    if (ix && ix->highest_modseq > base)
        base = ix->highest_modseq;
    uint64_t view_highest = f->highest_modseq;
    if (!same_view && (p->synced || ix == NULL)) {
        /* A new UIDVALIDITY, or a rebuild: the history starts here. */
        expunges_reset(&p->expunged, 0);
    }
    if (ix)
        expunges_merge(&p->expunged, &ix->expunged);
    uint64_t fresh = maildir_modseq_next(f, base), highest = view_highest;
    /* What the history holds is seen by this view from now on. */
    for (size_t i = 0; i < p->expunged.n; i++)
        if (p->expunged.v[i].modseq > highest)
            highest = p->expunged.v[i].modseq;
    bool used = false;
    for (size_t i = 0; i < n; i++) {
        struct store_msg *m = &msgs[i];
        m->modseq = kept(m, by_uid(view, nview, m->uid),
                         ix ? by_uid(ix->msgs, ix->n, m->uid) : NULL, view_highest);
        if (m->modseq == 0) {
            m->modseq = fresh;
            used = true;
        }
        if (m->modseq > highest)
            highest = m->modseq;
    }
    /* Gone: in the view or the index, not in msgs. */
    for (int pass = 0; pass < 2; pass++) {
        const struct store_msg *old = pass ? (ix ? ix->msgs : NULL) : view;
        size_t nold = pass ? (ix ? ix->n : 0) : nview;
        for (size_t i = 0; i < nold; i++) {
            if (by_uid(msgs, n, old[i].uid))
                continue;
            uint64_t known = expunges_find(&p->expunged, old[i].uid);
            if (known > view_highest) {
                if (known > highest)
                    highest = known;
                continue;
            }
            expunges_add(&p->expunged, old[i].uid, fresh);
            used = true;
        }
    }
    if (!same_view && (p->synced || ix == NULL) && p->expunged.since < fresh) {
        p->expunged.since = fresh; /* nothing before this is known */
        used = true;
    }
    expunges_limit(&p->expunged, maildir_expunge_cap(f));
    if (used && fresh > highest)
        highest = fresh;
    rc = maildir_modseq_end(f, base, used ? fresh : base, true);
    if (rc == 0)
        f->highest_modseq = highest;
    return rc;
}
