/*
 * store: the mailbox store behind the IMAP server. One user's mail is a
 * Maildir++ tree exactly as Dovecot 2.3 writes it (INBOX is the Maildir
 * itself, folder "A.B" is the directory ".A.B" beside cur/ new/ tmp/), so
 * Dovecot and Postern can serve the same mailbox and agree on UIDs
 * (dovecot-uidlist), flags (the ":2," suffix), keywords (dovecot-keywords)
 * and subscriptions (the "subscriptions" file). Beside them each folder has
 * postern-index (store/index.h), Postern's own cache of what it read, which
 * Dovecot ignores and which is rebuilt whenever it is in doubt.
 *
 * Every function here touches the file system and may block: call it from a
 * worker (util/worker.h), never on the event loop. There is no global or
 * static state: different folders may be worked on from different threads at
 * once; work on the same folder is serialised by Dovecot's lock file
 * (dovecot-uidlist.lock), between threads and processes alike.
 *
 * Folder names are IMAP names as on the wire: modified UTF-7, '.' the
 * hierarchy separator, "INBOX" in any case the inbox. Errors are errno
 * values: EINVAL a name store_name_valid() refuses, ENOENT no such folder or
 * message, EEXIST the folder exists, EPERM not allowed on INBOX, ENOTEMPTY
 * DELETE of a \Noselect folder that still has children, EROFS a change to a
 * folder opened read-only, EAGAIN the lock is held by someone alive for
 * longer than the lock timeout, ENOSPC no keyword letter left (26).
 *
 * The table struct store_ops is the backend; store_maildir_new() is the only
 * one. The functions below call through it.
 */
#ifndef POSTERN_STORE_STORE_H
#define POSTERN_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_SEP            '.'
#define STORE_NAME_MAX       254 /* ".NAME" is one directory entry (NAME_MAX 255) */
#define STORE_COMPONENT_MAX  255
#define STORE_KEYWORDS_MAX   26 /* Maildir keyword letters a-z */
#define STORE_KEYWORD_LENMAX 255

/* System flags, as letters of the ":2," info: D F R S T. */
enum store_flag {
    STORE_F_ANSWERED = 1 << 0, /* R */
    STORE_F_FLAGGED = 1 << 1,  /* F */
    STORE_F_DELETED = 1 << 2,  /* T */
    STORE_F_SEEN = 1 << 3,     /* S */
    STORE_F_DRAFT = 1 << 4,    /* D */
};

/* LIST attributes. */
enum store_attr {
    STORE_A_NOSELECT = 1 << 0,    /* a parent only its children imply */
    STORE_A_NONEXISTENT = 1 << 1, /* subscribed, but not there */
    STORE_A_HASCHILDREN = 1 << 2,
    STORE_A_HASNOCHILDREN = 1 << 3,
    STORE_A_SUBSCRIBED = 1 << 4,
    STORE_A_SENT = 1 << 5, /* RFC 6154 special use */
    STORE_A_DRAFTS = 1 << 6,
    STORE_A_TRASH = 1 << 7,
    STORE_A_JUNK = 1 << 8,
    STORE_A_ARCHIVE = 1 << 9,
};

struct store_list_entry {
    char *name;     /* the IMAP name (modified UTF-7) */
    unsigned attrs; /* enum store_attr */
};

struct store_list {
    struct store_list_entry *v; /* sorted by name, INBOX first */
    size_t n;
};

/* Strings about a message worth keeping (store_cache_get/put): what
 * FETCH ENVELOPE and BODYSTRUCTURE send, as the IMAP code formats them. */
enum store_cache_field {
    STORE_CACHE_ENVELOPE,
    STORE_CACHE_BODYSTRUCTURE,
    STORE_CACHE_BODY, /* BODY, the non-extensible BODYSTRUCTURE */
    STORE_CACHE_N
};

struct store_msg {
    uint32_t uid;
    uint64_t modseq;            /* CONDSTORE's (RFC 7162): >= 1, see below */
    char *file;                 /* relative to the folder: "cur/BASE,S=..:2,FS" or "new/BASE" */
    unsigned flags;             /* enum store_flag */
    uint32_t keywords;          /* bit i: the folder's keyword i (dovecot-keywords) */
    uint64_t size;              /* RFC822.SIZE: CRLF octets (",W=", measured when missing) */
    uint64_t file_size;         /* octets on disk (",S=", else stat) */
    int64_t internal_date;      /* the file's mtime, as Dovecot takes it */
    bool recent;                /* found in new/ by this session */
    char *cache[STORE_CACHE_N]; /* cached strings, or NULL (store_cache_get) */
};

/* An opened (SELECTed or EXAMINEd) folder: the messages as of the last sync,
 * by ascending UID. */
struct store_folder {
    struct store *store;
    char *name; /* the IMAP name, "INBOX" spelt so */
    char *path; /* its Maildir directory */
    bool read_only;
    uint32_t uidvalidity;
    uint32_t uidnext;
    struct store_msg *msgs;
    size_t n;
    char *keywords[STORE_KEYWORDS_MAX]; /* index -> name; NULL unused */
    uint64_t highest_modseq;            /* HIGHESTMODSEQ of this view (see below) */
    struct store_folder_priv *priv;     /* the backend's own */
};

/* What a re-sync found changed since the previous one (UIDs, ascending). */
struct store_changes {
    uint32_t *added;
    size_t n_added;
    uint32_t *expunged;
    size_t n_expunged;
    uint32_t *flags_changed; /* flags or keywords differ */
    size_t n_flags_changed;
};

struct store_status {
    uint32_t messages, recent, unseen, uidnext, uidvalidity;
    uint32_t deleted;        /* messages with \Deleted (STATUS DELETED, RFC 9051) */
    uint64_t highest_modseq; /* STATUS HIGHESTMODSEQ: no change yet seen is above it */
    uint64_t size;           /* sum of RFC822.SIZE */
};

/* COPYUID: src[i] became dst[i] in a folder with this UIDVALIDITY. */
struct store_uidmap {
    uint32_t uidvalidity;
    uint32_t *src, *dst;
    size_t n;
};

struct store;

struct store_ops {
    int (*setup)(struct store *s);
    int (*list)(struct store *s, struct store_list *out);
    int (*create)(struct store *s, const char *name);
    int (*delete_folder)(struct store *s, const char *name);
    int (*rename)(struct store *s, const char *from, const char *to);
    int (*subscribe)(struct store *s, const char *name, bool subscribe);
    int (*open)(struct store *s, const char *name, bool read_only, struct store_folder **f_r);
    int (*sync)(struct store_folder *f, struct store_changes *changes);
    void (*close)(struct store_folder *f);
    int (*append)(struct store *s, const char *name, const char *data, size_t len, unsigned flags,
                  const char *const *keywords, size_t n_keywords, int64_t internal_date,
                  uint32_t *uidvalidity_r, uint32_t *uid_r);
    int (*set_flags)(struct store_folder *f, uint32_t uid, unsigned flags,
                     const char *const *keywords, size_t n_keywords);
    int (*set_flags_cond)(struct store_folder *f, uint32_t uid, unsigned flags,
                          const char *const *keywords, size_t n_keywords,
                          const uint64_t *unchangedsince, bool *modified_r);
    int (*expunge)(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                   size_t *n_expunged_r);
    int (*copy)(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest, bool move,
                struct store_uidmap *map_r);
    int (*open_msg)(struct store_folder *f, uint32_t uid);
    int (*status)(struct store *s, const char *name, struct store_status *st);
    int (*watch_paths)(struct store *s, const char *name, char **new_r, char **cur_r);
    int (*set_special_use)(struct store *s, const char *name, unsigned use);
};

/* The store of one user whose Maildir (INBOX) is root. Nothing is touched
 * until a call. */
struct store *store_maildir_new(const char *root);
void store_free(struct store *s);

/* First login: creates INBOX (cur/ new/ tmp/) when missing, and Sent,
 * Drafts, Trash, Junk, Archive (special-use by name, as Dovecot's default
 * configuration gives them), subscribed. Existing folders are left alone. */
int store_setup(struct store *s);

/* Every folder, with its attributes, and every subscribed name that is not a
 * folder (\NonExistent). The caller filters with store_list_match(). */
int store_list(struct store *s, struct store_list *out);
void store_list_free(struct store_list *l);
/* CREATE: also the parents that do not exist as folders are left implied
 * (\Noselect), as Dovecot's Maildir++ does. */
int store_create(struct store *s, const char *name);
/* CREATE-SPECIAL-USE (RFC 6154): the folder's special use (STORE_A_SENT,
 * ... bits; 0 clears it), kept in its directory ("postern-special-use"),
 * listed besides the one its name gives (Sent, Drafts, ...). */
int store_set_special_use(struct store *s, const char *name, unsigned use);
/* DELETE: the folder and its messages. A folder with children is deleted
 * all the same and remains as their \Noselect parent (as Dovecot does); a
 * \Noselect name itself fails with ENOTEMPTY; INBOX with EPERM. The
 * subscription stays (RFC 3501 6.3.4). */
int store_delete(struct store *s, const char *name);
/* RENAME, children included (RFC 3501 6.3.5). Onto an existing folder:
 * EEXIST. RENAME of INBOX is refused (EPERM): it is not implemented to move
 * INBOX's messages. Subscriptions are not renamed (Dovecot does not). */
int store_rename(struct store *s, const char *from, const char *to);
int store_subscribe(struct store *s, const char *name, bool subscribe);

/* SELECT (read_only false) or EXAMINE: opens and syncs. With read_only,
 * messages in new/ stay there (still \Recent for the next session), but new
 * files get UIDs all the same (Dovecot does the same). When new/, cur/ and
 * dovecot-uidlist are as postern-index last saw them, the index is the
 * folder: no message file is looked at. */
int store_open(struct store *s, const char *name, bool read_only, struct store_folder **f_r);
/* Re-reads the folder: other programs' deliveries, expunges and renames
 * (nothing but three stats when nothing changed; messages already known are
 * not looked at again).
 * changes may be NULL; else the caller frees it with store_changes_free(). */
int store_sync(struct store_folder *f, struct store_changes *changes);
void store_changes_free(struct store_changes *c);
void store_close(struct store_folder *f);
/* The message of a UID in an opened folder, or NULL. */
struct store_msg *store_msg_by_uid(struct store_folder *f, uint32_t uid);

/* A string cached for message uid (postern-index): 0 and *value_r (caller
 * frees), or ENOENT when the message or the string is not there. */
int store_cache_get(struct store_folder *f, uint32_t uid, enum store_cache_field field,
                    char **value_r);
/* Caches value (NUL-terminated, at most 16 MiB) for message uid; it is
 * written to the index at the next sync that writes it or at store_close,
 * also for a read-only folder (the index is not the mailbox). EINVAL for a
 * bad field or size, ENOENT for no such message. */
int store_cache_put(struct store_folder *f, uint32_t uid, enum store_cache_field field,
                    const char *value);

/* APPEND: data (CRLF or LF lines; stored with LF like local delivery) into
 * folder name with flags, keywords and an internal date (0: now). Returns
 * the APPENDUID pair. */
int store_append(struct store *s, const char *name, const char *data, size_t len, unsigned flags,
                 const char *const *keywords, size_t n_keywords, int64_t internal_date,
                 uint32_t *uidvalidity_r, uint32_t *uid_r);
/* STORE: sets the message's flags and keywords to exactly these (the
 * caller works out +FLAGS/-FLAGS). A keyword not in dovecot-keywords yet is
 * added to it. Renames the file; the opened folder's view follows, and the
 * message gets a new modseq (none when its flags already were these). */
int store_set_flags(struct store_folder *f, uint32_t uid, unsigned flags,
                    const char *const *keywords, size_t n_keywords);
/* Makes the flag changes since the last call durable (one fdatasync of
 * postern-modseq, then one fsync of the folder's cur/ for all of them):
 * call it before telling the client. */
int store_commit(struct store_folder *f);
/* EXPUNGE: the given UIDs, or with uids NULL every \Deleted message.
 * *expunged_r (caller frees) lists what was removed, ascending; they share
 * one new modseq, in the expunge history. Durable when it returns. */
int store_expunge(struct store_folder *f, const uint32_t *uids, size_t n, uint32_t **expunged_r,
                  size_t *n_expunged_r);
/* COPY or MOVE of these UIDs into folder dest (hard links when possible).
 * UIDs not in the folder are skipped. The caller frees map_r with
 * store_uidmap_free(). */
int store_copy(struct store_folder *f, const uint32_t *uids, size_t n, const char *dest, bool move,
               struct store_uidmap *map_r);
void store_uidmap_free(struct store_uidmap *m);
/* A read-only fd on the message (found again by its base name if another
 * program renamed it meanwhile), or -errno. */
int store_open_msg(struct store_folder *f, uint32_t uid);

/* STATUS without opening the folder for write (nothing is written). */
int store_status(struct store *s, const char *name, struct store_status *st);
/* The directories to watch (inotify) for changes to folder name: new/ and
 * cur/. Caller frees both. */
int store_watch_paths(struct store *s, const char *name, char **new_r, char **cur_r);

/* ---- CONDSTORE and QRESYNC (RFC 7162) ----
 *
 * Every change in a folder gets a modification sequence (modseq): a new
 * message (delivered by another program, appended, copied or moved in),
 * a flag or keyword change (store_set_flags, or another program's rename
 * found by a sync), an expunge (store_expunge, or a file found gone). A
 * change takes the folder's highest modseq + 1; the changes one sync finds
 * share one value. The counter lives in postern-modseq beside the folder
 * (store/modseq.h), not in dovecot-uidlist (Dovecot keeps its modseqs in
 * its own index files and is not told about ours) and not only in
 * postern-index (a cache). It is on disk (fdatasync) before store_commit()
 * or store_expunge() returns and before any postern-index naming a value is
 * written, so after a crash it is at least every modseq a client was told.
 *
 * Rebuild: postern-index lost or damaged, the messages' own modseqs cannot
 * be proved: every message gets counter + 1 (above anything a client saw)
 * and the expunge history is complete only from there on. If
 * postern-modseq is lost or damaged too (and the folder is not new), the
 * new base is the larger of what the index said and the clock in
 * microseconds since 1970 (a value no counter reaches: one step a change),
 * so the highest modseq never goes back. UIDVALIDITY is never changed for
 * this. Known limit: after a crash that lost postern-index's newest
 * version, a message whose flags went A -> B -> A since that version keeps
 * its older modseq (still <= HIGHESTMODSEQ, and its flags are as then).
 *
 * Views: f->highest_modseq is the largest modseq in this view (messages,
 * expunges it saw or made): every change at or below it is in the view.
 * A change another session made that this view has not seen yet gets, when
 * a sync finds it, a value above the view's highest (a fresh one if
 * postern-index's is not). Report MODSEQ values and HIGHESTMODSEQ after
 * store_commit() (flags) or store_expunge() returned 0.
 */

struct store_uid_range {
    uint32_t lo, hi; /* lo <= hi */
};

/* UIDs as ascending, disjoint ranges (VANISHED's uid-set). */
struct store_uid_ranges {
    struct store_uid_range *v;
    size_t n;
};
void store_uid_ranges_free(struct store_uid_ranges *r);

/* HIGHESTMODSEQ of the opened folder's view. */
uint64_t store_highest_modseq(const struct store_folder *f);
/* CHANGEDSINCE: the UIDs of the view whose modseq > modseq (ascending;
 * caller frees *uids_r; NULL with 0 when none). */
void store_changed_since(const struct store_folder *f, uint64_t modseq, uint32_t **uids_r,
                         size_t *n_r);
/* VANISHED (EARLIER): the UIDs expunged after modseq, within the ranges
 * (NULL, 0: all UIDs), into *out (caller frees). *complete_r is true when
 * the expunge history reaches back to modseq; when it does not (history
 * capped, or lost in a rebuild), *out is instead every UID within the ranges
 * and below UIDNEXT that is not a message now (what a client without the
 * history must be told: a superset) and *complete_r false. */
void store_expunged_since(const struct store_folder *f, uint64_t modseq,
                          const struct store_uid_range *within, size_t n_within,
                          struct store_uid_ranges *out, bool *complete_r);
/* The modseq the expunge history is complete from (QRESYNC can use it
 * when the client's modseq >= this). */
uint64_t store_expunged_complete_since(const struct store_folder *f);
/* STORE (UNCHANGEDSINCE unchangedsince): as store_set_flags, unless the
 * message's modseq is above unchangedsince or another program changed its
 * file since this view: then nothing is changed and *modified_r is true
 * (the MODIFIED response code's UID). 0 with *modified_r false: done. */
int store_set_flags_unchanged_since(struct store_folder *f, uint32_t uid, unsigned flags,
                                    const char *const *keywords, size_t n_keywords,
                                    uint64_t unchangedsince, bool *modified_r);
/* The most expunge ranges a folder's history keeps (default 100000; 0
 * means the default), for folders opened from now on. */
void store_set_expunge_history_cap(struct store *s, size_t cap);

/* ---- QUOTA (RFC 9208): the user's storage in Maildir++ maildirsize ----
 *
 * With a limit set, store_append() and store_copy() (not a MOVE, which
 * does not change the usage) fail with EDQUOT when the folder's new usage
 * would be above it, and change nothing. Whatever the limit, every
 * change of usage (append, copy, expunge, delete of a folder) is recorded
 * in maildirsize when that file exists or a limit applies, so Dovecot's
 * quota plugin on the same Maildir agrees (store/store_quota.h). */

/* The storage limit in octets for this store's calls (0: none). */
void store_set_quota(struct store *s, uint64_t limit);
/* The usage now (GETQUOTA): octets and messages, under the limit set
 * (which must not be 0). */
int store_quota_get(struct store *s, uint64_t *bytes_r, uint64_t *count_r);

/* ---- pure helpers (no I/O) ---- */

/* Whether name may be a folder: not empty, at most STORE_NAME_MAX octets,
 * printable ASCII (modified UTF-7 is), no '/', '\\', '*', '%', no empty
 * component (leading, trailing or doubled '.'), none longer than
 * STORE_COMPONENT_MAX, no '~' first. */
bool store_name_valid(const char *name);
/* Whether name is INBOX (any case). */
bool store_name_is_inbox(const char *name);
/* RFC 3501 6.3.8 LIST pattern: '*' matches anything, '%' anything but the
 * separator. "INBOX" matches case-insensitively. */
bool store_list_match(const char *pattern, const char *name);
/* The names a keyword may have (an IMAP atom without the flag specials). */
bool store_keyword_valid(const char *kw);

#endif
