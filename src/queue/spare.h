/*
 * spare: the inodes of removed queue files, kept in queue/spare/ to be
 * written again instead of being freed and allocated anew.
 *
 * Why: freeing and allocating are what a busy queue's file system work
 * costs. On this project's ext4 (no journal, mounted with discard), an
 * unlink or a truncation that frees blocks takes about 1 ms (a synchronous
 * discard), and every file creation scans past each inode freed in the last
 * minutes (fs/ext4/ialloc.c, recently_deleted()): half of the daemon's CPU
 * in bench/README.md's first profile. A rename aside, a rename back and an
 * overwrite in place (no O_TRUNC: the blocks are reused, not freed) cost a
 * few microseconds each.
 *
 * Safe across crashes by construction: a spare file holds no queue entry
 * (nothing reads spare/), a file taken from it is rewritten and fsynced like
 * a new one before anything refers to it. Thread-safe; another process
 * sharing the directory (the `postern queue` commands) at worst finds a
 * name gone, and then creates or unlinks as before.
 */
#ifndef POSTERN_QUEUE_SPARE_H
#define POSTERN_QUEUE_SPARE_H

#include <stdbool.h>

struct queue_spare;

/* Opens (creating it) queue_dirfd/spare. NULL with errno on failure. */
struct queue_spare *queue_spare_open(int queue_dirfd);
void queue_spare_close(struct queue_spare **sp);
/* (start-up) Takes the files already in spare/ as the pool; removes what
 * is not ours. */
void queue_spare_load(struct queue_spare *sp);
/* Removes dirfd/name: renamed into spare/, or unlinked when the pool is
 * full or the file big (spare.c). 0, or an errno value (ENOENT: no such
 * file). */
int queue_spare_put(struct queue_spare *sp, int dirfd, const char *name);
/* Opens dirfd/name for writing at offset 0, mode 0600: a spare renamed
 * there, else a new file. A spare keeps its old content and size: the
 * caller overwrites it from offset 0 and must ftruncate() it to the length
 * it wrote before its fsync. With exclusive, fails with EEXIST if the name
 * exists (O_EXCL); without, an existing file is replaced. fd, or -1 with
 * errno. */
int queue_spare_create(struct queue_spare *sp, int dirfd, const char *name, bool exclusive);

#endif
