/*
 * dotlock: Dovecot's lock files. FILE.lock is created with O_EXCL; whoever
 * created it holds the lock, and writes "PID:HOST" into it (as Dovecot's
 * file-dotlock.c does). The holder may write the new contents of FILE into
 * FILE.tmp and rename it over FILE (dotlock_replace), then remove the lock:
 * readers never see a half-written file. A lock is left by a crash, and
 * broken, when the process it names is gone from this host, or when it was
 * not modified for DOTLOCK_STALE_SECS (Dovecot's
 * MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT; the only test for a lock that names
 * no process, or another host's). Without the PID test a kill -9 would
 * leave the folder locked for two minutes. Works between threads of one
 * process as between processes.
 */
#ifndef POSTERN_STORE_DOTLOCK_H
#define POSTERN_STORE_DOTLOCK_H

#include <stddef.h>

struct stat;

#define DOTLOCK_STALE_SECS 120

struct dotlock {
    int fd;
    char *path;      /* FILE */
    char *lock_path; /* FILE.lock */
    char *tmp_path;  /* FILE.tmp once dotlock_write wrote it, else NULL */
};

/* Waits for the lock on path (up to the stale time and a little). Returns
 * 0, EAGAIN when a live holder kept it, or an errno value. */
int dotlock_take(const char *path, struct dotlock *l);
/* Writes data into the lock file, fsyncs it, renames it over the file and
 * fsyncs the directory; the lock is released either way. */
int dotlock_replace(struct dotlock *l, const char *data, size_t len);
/* dotlock_replace in two steps, for a caller that writes something else
 * that depends on the new file before it is in place: dotlock_write writes
 * and fsyncs FILE.tmp (and gives its stat: inode, size and mtime are the
 * file's once renamed); dotlock_commit renames it over the file and
 * releases the lock (on failure, call dotlock_release). */
int dotlock_write(struct dotlock *l, const char *data, size_t len, struct stat *st_r);
int dotlock_commit(struct dotlock *l);
/* Releases without changing the file. */
void dotlock_release(struct dotlock *l);

/* fsync of the directory that holds path (for a rename or unlink in it). */
int fsync_parent(const char *path);
int fsync_dir(const char *dir);

#endif
