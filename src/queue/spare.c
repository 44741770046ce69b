/* The pool of spare queue inodes (see spare.h). */
#include "queue/spare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xmalloc.h"

/* Past SPARE_MAX files, and for a file holding more than SPARE_BYTES_MAX,
 * removal unlinks as before: spares hold disk space (at most 64 MiB, about
 * 8 MiB for small mail), and a big file's unlink costs little next to
 * writing it. */
#define SPARE_MAX       2048
#define SPARE_BYTES_MAX (32 * 1024)

struct queue_spare {
    int fd; /* queue/spare */
    pthread_mutex_t lock;
    unsigned *names; /* spare/N for each N here */
    size_t n, cap;
    unsigned next; /* the next unused N */
};

struct queue_spare *queue_spare_open(int queue_dirfd)
{
    if (mkdirat(queue_dirfd, "spare", 0700) != 0 && errno != EEXIST)
        return NULL;
    int fd = openat(queue_dirfd, "spare", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct queue_spare *sp = xcalloc(1, sizeof(*sp));
    sp->fd = fd;
    pthread_mutex_init(&sp->lock, NULL);
    return sp;
}

void queue_spare_close(struct queue_spare **spp)
{
    struct queue_spare *sp = *spp;
    if (sp == NULL)
        return;
    close(sp->fd);
    pthread_mutex_destroy(&sp->lock);
    free(sp->names);
    free(sp);
    *spp = NULL;
}

static void push(struct queue_spare *sp, unsigned n)
{
    if (sp->n == sp->cap) {
        sp->cap = sp->cap ? 2 * sp->cap : 256;
        sp->names = xrealloc(sp->names, sp->cap * sizeof(*sp->names));
    }
    sp->names[sp->n++] = n;
}

/* A name of ours: decimal digits only, no leading zero. */
static bool parse_name(const char *s, unsigned *n_r)
{
    if (s[0] < '1' || s[0] > '9' || strlen(s) > 9)
        return false;
    unsigned n = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (unsigned)(*p - '0');
    }
    *n_r = n;
    return true;
}

void queue_spare_load(struct queue_spare *sp)
{
    int fd = dup(sp->fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d);
    pthread_mutex_lock(&sp->lock);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unsigned n;
        if (sp->n < SPARE_MAX && parse_name(e->d_name, &n) && e->d_type == DT_REG) {
            push(sp, n);
            if (n >= sp->next)
                sp->next = n + 1;
        } else {
            unlinkat(sp->fd, e->d_name, 0);
        }
    }
    pthread_mutex_unlock(&sp->lock);
    closedir(d);
}

int queue_spare_put(struct queue_spare *sp, int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_blocks * 512 > SPARE_BYTES_MAX)
        return unlinkat(dirfd, name, 0) == 0 ? 0 : errno;
    pthread_mutex_lock(&sp->lock);
    bool room = sp->n < SPARE_MAX && sp->next < 999999999;
    unsigned n = room ? ++sp->next : 0;
    pthread_mutex_unlock(&sp->lock);
    if (room) {
        char spare[16];
        snprintf(spare, sizeof(spare), "%u", n);
        if (renameat2(dirfd, name, sp->fd, spare, RENAME_NOREPLACE) == 0) {
            pthread_mutex_lock(&sp->lock);
            push(sp, n);
            pthread_mutex_unlock(&sp->lock);
            return 0;
        }
        if (errno == ENOENT)
            return ENOENT;
        /* EEXIST (another process's name), EXDEV, ...: unlink instead. */
    }
    return unlinkat(dirfd, name, 0) == 0 ? 0 : errno;
}

int queue_spare_create(struct queue_spare *sp, int dirfd, const char *name, bool exclusive)
{
    for (;;) {
        pthread_mutex_lock(&sp->lock);
        bool have = sp->n > 0;
        unsigned n = have ? sp->names[--sp->n] : 0;
        pthread_mutex_unlock(&sp->lock);
        if (!have)
            break;
        char spare[16];
        snprintf(spare, sizeof(spare), "%u", n);
        if (renameat2(sp->fd, spare, dirfd, name, exclusive ? RENAME_NOREPLACE : 0) == 0) {
            int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                return fd;
            /* Not a regular file of ours after all (O_NOFOLLOW): drop it. */
            unlinkat(dirfd, name, 0);
            continue;
        }
        if (errno == EEXIST) {
            /* The name is taken: so says O_EXCL too. Keep the spare. */
            pthread_mutex_lock(&sp->lock);
            push(sp, n);
            pthread_mutex_unlock(&sp->lock);
            return -1;
        }
        /* ENOENT: gone (another process took it); try the next one. */
        if (errno != ENOENT)
            break;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    return openat(dirfd, name, flags, 0600);
}
