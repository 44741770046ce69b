/*
 * snapshot: one consistent view of what a reload can replace (the
 * configuration, the user and alias tables, the DKIM keyring, the server
 * TLS context), reference-counted. The daemon holds the current one
 * (d->snap); a session or a job takes a reference when it starts and keeps
 * using that view to its end, so a SIGHUP in the middle of a transaction
 * never checks SIZE against one configuration and decodes against another.
 * A replaced snapshot is freed when its last user lets it go.
 *
 *   struct snapshot *snap = snapshot_ref(d->snap);   at session start
 *   snap->conf->message_size ...
 *   snapshot_unref(&snap);                           at session end
 *
 * Reference counts are changed on the event-loop thread only; a worker job
 * may read through a snapshot its owner keeps referenced.
 */
#ifndef POSTERN_SNAPSHOT_H
#define POSTERN_SNAPSHOT_H

struct conf;
struct user_table;
struct dkim_keyring;
struct snapshot_conf_part;
struct snapshot_users_part;
typedef struct ssl_ctx_st SSL_CTX;

struct snapshot {
    /* Read-only for users of the snapshot. */
    const struct conf *conf;
    const struct user_table *users;
    struct dkim_keyring *dkim; /* never NULL */
    SSL_CTX *tls;              /* NULL when no certificate is configured */

    /* Private: the parts (a users-only reload shares the configuration). */
    unsigned refs;
    struct snapshot_conf_part *conf_part;
    struct snapshot_users_part *users_part;
};

/* Takes ownership of all four (tls may be NULL). Its count is 1: the
 * caller's reference. */
struct snapshot *snapshot_new(struct conf *conf, struct user_table *users,
                              struct dkim_keyring *dkim, SSL_CTX *tls);
/* A new snapshot with old's configuration, keyring and TLS context and
 * these tables (owned from now on): a users-only reload. */
struct snapshot *snapshot_with_users(const struct snapshot *old, struct user_table *users);
struct snapshot *snapshot_ref(struct snapshot *snap);
/* Drops a reference (NULL is ignored); *snap becomes NULL. */
void snapshot_unref(struct snapshot **snap);
/* Snapshots alive right now (for tests of reload memory). */
unsigned snapshot_live(void);

#endif
