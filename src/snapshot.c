/* Reference-counted configuration snapshots (see snapshot.h). The parts
 * have their own counts so that a users-only reload can share the
 * configuration, keyring and TLS context of the snapshot it replaces
 * without keeping that snapshot (or a chain of them) alive. */
#include "snapshot.h"

#include <stdlib.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "mailauth/dkim_keyring.h"
#include "net/tls.h"
#include "util/xmalloc.h"

struct snapshot_conf_part {
    unsigned refs;
    struct conf *conf;
    struct dkim_keyring *dkim;
    SSL_CTX *tls;
};

struct snapshot_users_part {
    unsigned refs;
    struct user_table *users;
};

static unsigned live_snapshots;

static struct snapshot *assemble(struct snapshot_conf_part *cp, struct snapshot_users_part *up)
{
    struct snapshot *s = xcalloc(1, sizeof(*s));
    s->refs = 1;
    s->conf_part = cp;
    s->users_part = up;
    s->conf = cp->conf;
    s->dkim = cp->dkim;
    s->tls = cp->tls;
    s->users = up->users;
    live_snapshots++;
    return s;
}

static struct snapshot_users_part *users_part_new(struct user_table *users)
{
    struct snapshot_users_part *up = xcalloc(1, sizeof(*up));
    up->refs = 1;
    up->users = users;
    return up;
}

struct snapshot *snapshot_new(struct conf *conf, struct user_table *users,
                              struct dkim_keyring *dkim, SSL_CTX *tls)
{
    struct snapshot_conf_part *cp = xcalloc(1, sizeof(*cp));
    cp->refs = 1;
    cp->conf = conf;
    cp->dkim = dkim;
    cp->tls = tls;
    return assemble(cp, users_part_new(users));
}

struct snapshot *snapshot_with_users(const struct snapshot *old, struct user_table *users)
{
    old->conf_part->refs++;
    return assemble(old->conf_part, users_part_new(users));
}

struct snapshot *snapshot_ref(struct snapshot *snap)
{
    snap->refs++;
    return snap;
}

void snapshot_unref(struct snapshot **sp)
{
    struct snapshot *s = *sp;
    if (s == NULL)
        return;
    *sp = NULL;
    if (--s->refs > 0)
        return;
    if (--s->users_part->refs == 0) {
        user_table_free(&s->users_part->users);
        free(s->users_part);
    }
    if (--s->conf_part->refs == 0) {
        dkim_keyring_free(&s->conf_part->dkim);
        tls_ctx_free(&s->conf_part->tls);
        conf_free(&s->conf_part->conf);
        free(s->conf_part);
    }
    live_snapshots--;
    free(s);
}

unsigned snapshot_live(void)
{
    return live_snapshots;
}
