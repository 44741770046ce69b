/* Dovecot-compatible lock files (see dotlock.h). */
#include "store/dotlock.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/xmalloc.h"

int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

int fsync_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = fsync_dir(slash ? dir : ".");
    free(dir);
    return rc;
}

/* Whether the lock file names its holder ("PID:HOST", as Dovecot writes
 * it) and that process is gone from this host: then it was left by a crash
 * and need not age first. *st_r: the lock file judged. */
static bool holder_gone(const char *lock_path, struct stat *st_r)
{
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    char text[320];
    ssize_t n = fstat(fd, st_r) == 0 ? read(fd, text, sizeof(text) - 1) : -1;
    close(fd);
    if (n <= 0)
        return false; /* just created, the holder has not written yet */
    text[n] = '\0';
    char *colon = strchr(text, ':');
    if (colon == NULL || colon == text || colon - text > 10)
        return false; /* not a PID: the holder's own data, or another kind of lock */
    long pid = 0;
    for (const char *p = text; p < colon; p++) {
        if (*p < '0' || *p > '9')
            return false;
        pid = pid * 10 + (*p - '0');
    }
    char *host = colon + 1;
    host[strcspn(host, "\r\n")] = '\0';
    char me[256];
    if (pid <= 0 || pid > INT32_MAX || gethostname(me, sizeof(me)) != 0)
        return false;
    me[sizeof(me) - 1] = '\0';
    if (strcmp(host, me) != 0)
        return false; /* another machine's (shared storage): only age tells */
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes the lock file judged stale. It is renamed aside first and
 * compared with the one judged: if another waiter broke it meanwhile and
 * already holds a new lock, that one is put back, not removed. */
static void break_lock(const char *lock_path, const struct stat *judged)
{
    char *aside = xasprintf("%s.stale.%ld", lock_path, (long)syscall(SYS_gettid));
    if (rename(lock_path, aside) == 0) {
        struct stat st;
        if (stat(aside, &st) == 0 && (st.st_ino != judged->st_ino || st.st_dev != judged->st_dev))
            (void)link(aside, lock_path); /* fails only if yet another lock exists */
        unlink(aside);
    }
    free(aside);
}

int dotlock_take(const char *path, struct dotlock *l)
{
    l->fd = -1;
    l->tmp_path = NULL;
    l->path = xstrdup(path);
    l->lock_path = xasprintf("%s.lock", path);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long wait_us = 1000;
    int e;
    for (;;) {
        l->fd = open(l->lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (l->fd >= 0) {
            char me[256] = "";
            gethostname(me, sizeof(me));
            me[sizeof(me) - 1] = '\0';
            char text[300];
            int len = snprintf(text, sizeof(text), "%ld:%s", (long)getpid(), me);
            if (write(l->fd, text, (size_t)len) != len) {
                /* no PID in it: a crash now leaves a lock that only ages */
            }
            return 0;
        }
        e = errno;
        if (e != EEXIST)
            break;
        struct stat st;
        if (holder_gone(l->lock_path, &st) ||
            (stat(l->lock_path, &st) == 0 && time(NULL) - st.st_mtime > DOTLOCK_STALE_SECS)) {
            /* Left by a crash. */
            break_lock(l->lock_path, &st);
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > DOTLOCK_STALE_SECS + 2) {
            e = EAGAIN;
            break;
        }
        struct timespec ts = {0, wait_us * 1000};
        nanosleep(&ts, NULL);
        if (wait_us < 100000)
            wait_us *= 2;
    }
    free(l->path);
    free(l->lock_path);
    l->path = l->lock_path = NULL;
    return e;
}

void dotlock_release(struct dotlock *l)
{
    if (l->tmp_path) {
        unlink(l->tmp_path); /* written, not committed */
        free(l->tmp_path);
        l->tmp_path = NULL;
    }
    if (l->fd >= 0) {
        close(l->fd);
        unlink(l->lock_path);
    }
    l->fd = -1;
    free(l->path);
    free(l->lock_path);
    l->path = l->lock_path = NULL;
}

int dotlock_write(struct dotlock *l, const char *data, size_t len, struct stat *st_r)
{
    free(l->tmp_path);
    l->tmp_path = xasprintf("%s.tmp", l->path);
    int fd = open(l->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno;
    int rc = fd_write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (rc == 0 && st_r && fstat(fd, st_r) != 0)
        rc = errno;
    close(fd);
    return rc;
}

int dotlock_commit(struct dotlock *l)
{
    int rc = l->tmp_path && rename(l->tmp_path, l->path) == 0 ? 0 : errno;
    if (rc == 0) {
        free(l->tmp_path);
        l->tmp_path = NULL;
        rc = fsync_parent(l->path);
    }
    dotlock_release(l);
    return rc;
}

int dotlock_replace(struct dotlock *l, const char *data, size_t len)
{
    int rc = dotlock_write(l, data, len, NULL);
    if (rc != 0) {
        dotlock_release(l);
        return rc;
    }
    return dotlock_commit(l);
}
