/*
 * index: postern-index, Postern's own per-folder index beside
 * dovecot-uidlist: for each message its UID, modification sequence, file
 * name, sizes, internal date, flags, keywords and cached strings (ENVELOPE,
 * BODYSTRUCTURE), so that opening a folder whose cur/, new/ and uidlist are
 * unchanged reads nothing else, and a re-scan stats no message it already
 * knows. It is a cache: anything doubtful is thrown away and rebuilt from
 * the Maildir.
 *
 * Format (all integers little-endian):
 *   header  "PSTNIDX\n" u32 version(1) u32 header size(136)
 *           u32 uidvalidity u32 uidnext u64 highest modseq
 *           3 stamps (cur/, new/, dovecot-uidlist), each
 *             i64 mtime sec, i64 mtime nsec, u64 inode, u64 size
 *           u32 record count, u32 reserved (0)
 *   record  u32 uid u32 flags u32 keywords u32 file name length
 *           u64 modseq u64 RFC822.SIZE u64 file size i64 internal date
 *           file name ("cur/..." or "new/...")
 *           u32 cached count, then each: u32 field u32 length octets
 *   blocks  u32 count, then each: u32 type u32 length octets; a reader
 *           skips the types it does not know. Type 1 (INDEX_BLOCK_EXPUNGES,
 *           at most once): the expunge history (store/expunges.h)
 *   trailer u64 FNV-1a of everything before it
 * Parse and format are pure; index_read / index_write do I/O.
 */
#ifndef POSTERN_STORE_INDEX_H
#define POSTERN_STORE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/expunges.h"
#include "store/store.h"
#include "util/buf.h"

#define INDEX_FILE           "postern-index"
#define INDEX_VERSION        2 /* 2: index_digest; a version 1 file is rebuilt */
#define INDEX_NAME_MAX       4096
#define INDEX_CACHED_MAX     (16u << 20) /* one cached string */
#define INDEX_FILE_MAX       (1u << 30)  /* a larger file is not read */
#define INDEX_RACY_SECS      2           /* a directory changed this recently is not trusted */
#define INDEX_RACY_NS        100000000   /* ... or this, with nanosecond time stamps (100 ms) */
#define INDEX_BLOCK_EXPUNGES 1

/* What a directory or file looked like; ino 0: not to be trusted. */
struct index_stamp {
    int64_t sec, nsec;
    uint64_t ino, size;
};

struct index_stamps {
    struct index_stamp cur, new_, uidlist;
};

struct folder_index {
    uint32_t uidvalidity, uidnext;
    uint64_t highest_modseq;
    struct index_stamps stamps;
    struct store_msg *msgs; /* ascending UIDs; recent is not kept */
    size_t n;
    struct expunges expunged; /* QRESYNC's history */
};

/* 0, or EINVAL for anything not exactly a version-1 index (then it is
 * rebuilt). msgs[i].recent is set for files in new/. */
int index_parse(const char *data, size_t len, struct folder_index *ix);
void index_format(const struct folder_index *ix, struct buf *out);
void index_free(struct folder_index *ix);
/* FNV-1a, 64 bits (postern-modseq's check; the index's was this before version 2). */
uint64_t index_checksum(const void *data, size_t len);
/* The checksum of postern-index: the same job eight octets at a time
 * (index_checksum's FNV-1a took 10-15 ms of a 100,000-message SELECT,
 * a byte at a time over ten megabytes). Not for anything adversarial:
 * it catches a torn or damaged file. */
uint64_t index_digest(const void *data, size_t len);
/* Whether both stamps are trusted and the same. */
bool index_stamp_same(const struct index_stamp *a, const struct index_stamp *b);
bool index_stamps_same(const struct index_stamps *a, const struct index_stamps *b);

/* stat of path into *st (ino 0 when it fails). With racy, a stamp whose
 * mtime is too recent is not trusted either: a change in the same clock
 * tick would not show. Too recent is INDEX_RACY_SECS for a file system
 * whose stamps are whole seconds (a nanosecond part of 0), INDEX_RACY_NS
 * for one with finer stamps (ext4, xfs, btrfs, tmpfs: the kernel's stamp
 * clock ticks every few milliseconds, and a change made once the tick is
 * past gets a later stamp). A folder a client keeps changing is then
 * re-read only for the commands within 100 ms of a change, not 2 s. */
void index_stamp_take(const char *path, bool racy, struct index_stamp *st);
/* Reads dir/postern-index: 0, ENOENT, EINVAL (damaged) or an errno. */
int index_read(const char *dir, struct folder_index *ix);
/* Writes dir/postern-index through a temporary file and a rename; the
 * caller holds dovecot-uidlist.lock, which serialises writers. */
int index_write(const char *dir, const struct folder_index *ix);
/* What an index write put on disk: its length and checksum. */
struct index_written {
    size_t len;
    uint64_t sum;
};
/* index_write, unless the index would be the same as *before (what this
 * view wrote, if the file is still that one: the caller checks its stamp):
 * then nothing is written and it gives EEXIST. *after (if not NULL) is what
 * is on disk when it gives 0 or EEXIST. A sync that found nothing new
 * writes nothing: no temporary file, no fsync, no rename. */
int index_write_changed(const char *dir, const struct folder_index *ix,
                        const struct index_written *before, struct index_written *after);

#endif
