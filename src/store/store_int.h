/*
 * store_int: what the Maildir backend's files share (not for callers of
 * store.h): the store itself, name lists, the subscriptions file format,
 * and the backend's entry points behind struct store_ops.
 */
#ifndef POSTERN_STORE_STORE_INT_H
#define POSTERN_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/index.h"
#include "store/store.h"
#include "util/buf.h"

struct store {
    const struct store_ops *ops;
    char *root; /* the Maildir: INBOX */
};

/* What the Maildir backend keeps about an opened folder. */
struct store_folder_priv {
    struct index_stamps stamps; /* cur/, new/, uidlist as the last sync saw them */
    uint64_t highest_modseq;
    bool synced;      /* a sync has filled msgs */
    bool index_dirty; /* cached strings postern-index does not have yet */
    bool renamed;     /* flag changes (renames in cur/) not yet fsynced */
};

/* Frees a message's file name and cached strings. */
void store_msg_clear(struct store_msg *m);

struct store_names {
    char **v;
    size_t n;
};

bool store_names_has(const struct store_names *l, const char *name);
void store_names_add(struct store_names *l, const char *name);
void store_names_remove(struct store_names *l, const char *name);
void store_names_free(struct store_names *l);

/* Dovecot 2.3's subscriptions file: "V\t2\n\n", then one name a line with
 * the hierarchy separator written as a tab (pure). An older file without
 * the header is read too. */
void subscriptions_parse(const char *text, size_t len, struct store_names *out);
void subscriptions_format(const struct store_names *names, struct buf *out);

/* The directory of folder name (caller frees): root for INBOX, else
 * root/.NAME. NULL for an invalid name. */
char *maildir_folder_dir(const struct store *s, const char *name);
/* A unique base name for a new file: TIME.MusecPpidQrandom.HOST (caller
 * frees), as deliver/maildir.c and Dovecot make them. */
char *maildir_unique_base(void);
/* Whether dir is a Maildir (has cur/). */
bool maildir_exists(const char *dir);

/* Backend entry points (folders.c, maildir_folder.c, maildir_msg.c). */
int maildir_setup(struct store *s);
int maildir_list(struct store *s, struct store_list *out);
int maildir_create(struct store *s, const char *name);
int maildir_set_special_use(struct store *s, const char *name, unsigned use);
int maildir_delete(struct store *s, const char *name);
int maildir_rename(struct store *s, const char *from, const char *to);
int maildir_subscribe(struct store *s, const char *name, bool subscribe);
int maildir_open(struct store *s, const char *name, bool read_only, struct store_folder **f_r);
int maildir_sync(struct store_folder *f, struct store_changes *changes);
void maildir_close(struct store_folder *f);
int maildir_append(struct store *s, const char *name, const char *data, size_t len, unsigned flags,
                   const char *const *keywords, size_t n_keywords, int64_t internal_date,
                   uint32_t *uidvalidity_r, uint32_t *uid_r);
int maildir_set_flags(struct store_folder *f, uint32_t uid, unsigned flags,
                      const char *const *keywords, size_t n_keywords);
int maildir_expunge(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                    size_t *n_expunged_r);
int maildir_copy(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest,
                 bool move, struct store_uidmap *map_r);
int maildir_open_msg(struct store_folder *f, uint32_t uid);
int maildir_status(struct store *s, const char *name, struct store_status *st);
int maildir_watch_paths(struct store *s, const char *name, char **new_r, char **cur_r);

#endif
