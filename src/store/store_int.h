/*
 * store_int: what the Maildir backend's files share (not for callers of
 * store.h): the store itself, name lists, the subscriptions file format,
 * and the backend's entry points behind struct store_ops.
 */
#ifndef POSTERN_STORE_STORE_INT_H
#define POSTERN_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/index.h"
#include "store/store.h"
#include "util/buf.h"

struct store {
    const struct store_ops *ops;
    char *root;         /* the Maildir: INBOX */
    size_t expunge_cap; /* expunge history ranges kept; 0: EXPUNGES_CAP_DEFAULT */
    uint64_t quota;     /* storage limit in octets (store_set_quota); 0: none */
};

/* What the Maildir backend keeps about an opened folder. */
struct store_folder_priv {
    struct index_stamps stamps;    /* cur/, new/, uidlist as the last sync saw them */
    struct index_stamp index_seen; /* postern-index as this view last read or wrote it */
    struct index_written written;  /* what this view last wrote there; len 0: none */
    struct expunges expunged;      /* the expunge history as this view knows it */
    int modseq_fd;                 /* postern-modseq, or -1 not opened yet */
    bool modseq_unsynced;          /* a value written to it not fdatasync'ed yet */
    bool synced;                   /* a sync has filled msgs */
    bool index_dirty;              /* cached strings postern-index does not have yet */
    bool renamed;                  /* flag changes (renames in cur/) not yet fsynced */
};

/* Modification sequences (maildir_modseq.c, see store.h and modseq.h).
 * begin locks postern-modseq and gives the counter (*trusted_r false when
 * it was missing or damaged: then the base is 0 with fresh_ok, a folder
 * where no modseq can have been given, else the clock in microseconds);
 * end writes value when above the counter read, fdatasyncs when asked (or
 * leaves it to maildir_modseq_flush) and unlocks. */
int maildir_modseq_begin(struct store_folder *f, bool fresh_ok, uint64_t *base_r, bool *trusted_r);
int maildir_modseq_end(struct store_folder *f, uint64_t base, uint64_t value, bool sync);
/* fdatasync of what end left unsynced. */
int maildir_modseq_flush(struct store_folder *f);
/* A sync's pass: gives msgs (the new view, under uidvalidity) their
 * modseqs against the old view and the index ix just read (NULL: none or
 * not to be trusted), records the expunges found in the view's history,
 * raises f->highest_modseq; the counter is on disk when it returns 0. */
int maildir_modseq_assign(struct store_folder *f, struct store_msg *msgs, size_t n,
                          uint32_t uidvalidity, const struct folder_index *ix, bool fresh_ok);
/* A one-change value (set_flags, expunge) under the lock the caller took
 * with begin: max(counter, view) + 1. */
uint64_t maildir_modseq_next(const struct store_folder *f, uint64_t base);
/* The expunge history's bound for this folder. */
size_t maildir_expunge_cap(const struct store_folder *f);

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
/* With unchanged: STORE UNCHANGEDSINCE *unchanged (see store.h). */
int maildir_set_flags_cond(struct store_folder *f, uint32_t uid, unsigned flags,
                           const char *const *keywords, size_t n_keywords,
                           const uint64_t *unchanged, bool *modified_r);
int maildir_expunge(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                    size_t *n_expunged_r);
int maildir_copy(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest,
                 bool move, struct store_uidmap *map_r);
int maildir_open_msg(struct store_folder *f, uint32_t uid);
int maildir_status(struct store *s, const char *name, struct store_status *st);
int maildir_watch_paths(struct store *s, const char *name, char **new_r, char **cur_r);

#endif
