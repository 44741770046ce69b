/* The user table's generic part: mailbox and password lookups through the
 * backend, and alias resolution to final mailboxes. */
#include "auth/users.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define ALIAS_DEPTH_MAX 8

void user_table_free(struct user_table **t)
{
    if (*t) {
        (*t)->ops->free(*t);
        *t = NULL;
    }
}

const char *user_table_password_hash(const struct user_table *t, const char *addr)
{
    return t->ops->password_hash(t, addr);
}

bool user_table_has_mailbox(const struct user_table *t, const char *addr)
{
    return t->ops->password_hash(t, addr) != NULL;
}

uint64_t user_table_quota(const struct user_table *t, const char *addr, uint64_t dflt)
{
    uint64_t limit;
    if (t->ops->quota && t->ops->quota(t, addr, &limit))
        return limit;
    return dflt;
}

static void add_target(char ***v, size_t *n, const char *addr)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], addr) == 0)
            return;
    *v = xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = xstrdup(addr);
}

/* The alias entries (target lists) already expanded in one resolution. Each
 * is expanded once: aliases that name one another would otherwise cost
 * (targets ^ depth) lookups, enough to stall the daemon. */
struct expanded {
    const char *const **lists;
    size_t n;
};

static bool expanded_add(struct expanded *e, const char *const *targets)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->lists[i] == targets)
            return false;
    e->lists = xrealloc(e->lists, (e->n + 1) * sizeof(*e->lists));
    e->lists[e->n++] = targets;
    return true;
}

/* Exact alias, then mailbox, then the domain's catch-all (what people expect:
 * a catch-all never hides a real mailbox). */
static void resolve(const struct user_table *t, const char *addr, int depth, char ***v, size_t *n,
                    struct expanded *done)
{
    size_t nt = 0;
    const char *const *targets = t->ops->alias_targets(t, addr, &nt);
    if (targets == NULL && user_table_has_mailbox(t, addr)) {
        add_target(v, n, addr);
        return;
    }
    if (targets == NULL) {
        const char *at = strrchr(addr, '@');
        if (at)
            targets = t->ops->alias_targets(t, at, &nt);
    }
    if (targets == NULL) {
        /* Not ours to resolve: a remote address (or an unknown local one,
         * which the caller rejects) is its own target. */
        if (depth > 0)
            add_target(v, n, addr);
        return;
    }
    if (depth >= ALIAS_DEPTH_MAX || !expanded_add(done, targets))
        return;
    for (size_t i = 0; i < nt; i++) {
        if (strcmp(targets[i], addr) == 0) {
            /* "a@x: a@x, b@x" keeps a copy in a@x's own mailbox. */
            if (user_table_has_mailbox(t, addr))
                add_target(v, n, addr);
            continue;
        }
        resolve(t, targets[i], depth + 1, v, n, done);
    }
}

size_t user_table_resolve(const struct user_table *t, const char *addr, char ***targets_r,
                          size_t *n_r)
{
    char *key = xstrdup(addr);
    address_lower(key);
    size_t before = *n_r;
    struct expanded done = {0};
    resolve(t, key, 0, targets_r, n_r, &done);
    free(done.lists);
    free(key);
    return *n_r - before;
}
