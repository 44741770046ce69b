/*
 * users: the table of local mailboxes (users file) and aliases (aliases
 * file). A backend behind a small table of function pointers, so another
 * store (SQL, LDAP) can be added without touching the callers.
 *
 * users file:   one "address:hash" per line; '#' starts a comment. The hash
 *               is a crypt(3) string (yescrypt); "!" or "*" means the
 *               mailbox exists but cannot log in. An optional third field
 *               "address:hash:quota=SIZE" gives the mailbox its own storage
 *               limit (SIZE as [limits] message_size; 0: none), overriding
 *               [imap] quota.
 * aliases file: "alias@domain: target[, target...]"; "@domain: target" is a
 *               catch-all for a domain. Targets may be local or remote.
 *
 * Lookups are case-insensitive for ASCII. Every address that reaches a
 * mailbox path was validated when the file was loaded: a local part can
 * never name a path outside its Maildir.
 */
#ifndef POSTERN_AUTH_USERS_H
#define POSTERN_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct user_table;

struct user_table_ops {
    const char *name;
    /* The stored hash of a mailbox, NULL if no such mailbox. */
    const char *(*password_hash)(const struct user_table *t, const char *addr);
    /* The targets one alias (or catch-all) entry names, NULL if none. */
    const char *const *(*alias_targets)(const struct user_table *t, const char *key, size_t *n_r);
    void (*free)(struct user_table *t);
    /* The mailbox's own storage limit: true and *limit_r (0: none), or
     * false when it has none of its own (the default applies). May be NULL. */
    bool (*quota)(const struct user_table *t, const char *addr, uint64_t *limit_r);
};

struct user_table {
    const struct user_table_ops *ops;
};

/* Loads the file backend. aliases_file may be NULL. Problems are reported
 * as "FILE:LINE: reason" lines in err_r; returns NULL if there were any. */
struct user_table *user_table_load_files(const char *users_file, const char *aliases_file,
                                         struct buf *err_r);
void user_table_free(struct user_table **t);

bool user_table_has_mailbox(const struct user_table *t, const char *addr);
const char *user_table_password_hash(const struct user_table *t, const char *addr);

/* The storage limit of mailbox addr in octets: its own, else dflt
 * ([imap] quota). 0: unlimited. */
uint64_t user_table_quota(const struct user_table *t, const char *addr, uint64_t dflt);

/* Resolves a recipient address into final targets: local mailboxes or
 * remote addresses, lower-cased, de-duplicated, aliases expanded (depth
 * limited; loops are cut). Returns the number of targets appended to
 * *targets_r (0: no such recipient). The caller frees the strings and array. */
size_t user_table_resolve(const struct user_table *t, const char *addr, char ***targets_r,
                          size_t *n_r);

/* Lower-cases ASCII letters in place. */
void address_lower(char *s);
/* True if the address is safe to become data_dir/mail/DOMAIN/LOCALPART. */
bool address_mailbox_safe(const char *addr);

#endif
