/* Dovecot-compatible lock files (see dotlock.h). */
#include "store/dotlock.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int dotlock_take(const char *path, struct dotlock *l)
{
    l->fd = -1;
    l->path = xstrdup(path);
    l->lock_path = xasprintf("%s.lock", path);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long wait_us = 1000;
    int e;
    for (;;) {
        l->fd = open(l->lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (l->fd >= 0)
            return 0;
        e = errno;
        if (e != EEXIST)
            break;
        struct stat st;
        if (stat(l->lock_path, &st) == 0 && time(NULL) - st.st_mtime > DOTLOCK_STALE_SECS) {
            /* Left by a crash. Another waiter may break it at the same time:
             * then one of us wins the O_EXCL above, as with a live lock. */
            unlink(l->lock_path);
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
    int rc = 0;
    const char *p = data;
    while (rc == 0 && len > 0) {
        ssize_t n = write(l->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = errno;
        else {
            p += n;
            len -= (size_t)n;
        }
    }
    if (rc == 0 && fsync(l->fd) != 0)
        rc = errno;
    if (rc == 0 && st_r && fstat(l->fd, st_r) != 0)
        rc = errno;
    return rc;
}

int dotlock_commit(struct dotlock *l)
{
    int rc = rename(l->lock_path, l->path) == 0 ? 0 : errno;
    if (rc == 0) {
        close(l->fd);
        l->fd = -1;
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
