/* postern-modseq, the folder's durable modification sequence counter (see
 * modseq.h). */
#include "store/modseq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/dotlock.h"
#include "store/index.h"
#include "util/xmalloc.h"

void modseq_format(uint64_t v, char out[44])
{
    char digits[21];
    snprintf(digits, sizeof(digits), "%020" PRIu64, v);
    snprintf(out, 44, "PMS1 %s %016" PRIx64 "\n", digits, index_checksum(digits, 20));
}

bool modseq_parse(const char *line, size_t len, uint64_t *v_r)
{
    if (len != MODSEQ_LINE || memcmp(line, "PMS1 ", 5) != 0 || line[25] != ' ' || line[42] != '\n')
        return false;
    uint64_t v = 0;
    for (int i = 5; i < 25; i++) {
        if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    char want[44];
    modseq_format(v, want);
    if (memcmp(want, line, MODSEQ_LINE) != 0)
        return false;
    *v_r = v;
    return true;
}

int modseq_open(const char *dir)
{
    char *path = xasprintf("%s/" MODSEQ_FILE, dir);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        /* The name itself must survive a crash once a value is in it. */
        if (fd >= 0 && fsync_dir(dir) != 0) {
            int e = errno;
            close(fd);
            free(path);
            return -e;
        }
    }
    int e = errno;
    free(path);
    return fd >= 0 ? fd : -e;
}

int modseq_lock(int fd)
{
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return errno;
    return 0;
}

void modseq_unlock(int fd)
{
    flock(fd, LOCK_UN);
}

static int read_line(int fd, uint64_t *v_r)
{
    char line[MODSEQ_LINE + 1];
    ssize_t n;
    do
        n = pread(fd, line, sizeof(line), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno;
    if (n == 0)
        return ENOENT;
    return modseq_parse(line, (size_t)n, v_r) ? 0 : EINVAL;
}

int modseq_read(int fd, uint64_t *v_r)
{
    *v_r = 0;
    return read_line(fd, v_r);
}

int modseq_write(int fd, uint64_t v)
{
    char line[44];
    modseq_format(v, line);
    ssize_t n;
    do
        n = pwrite(fd, line, MODSEQ_LINE, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno;
    if (n != MODSEQ_LINE)
        return EIO;
    /* A damaged file was perhaps longer. */
    return ftruncate(fd, MODSEQ_LINE) == 0 ? 0 : errno;
}

int modseq_sync(int fd)
{
    return fdatasync(fd) == 0 ? 0 : errno;
}

uint64_t modseq_peek(const char *dir)
{
    char *path = xasprintf("%s/" MODSEQ_FILE, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return 0;
    uint64_t v = 0;
    read_line(fd, &v);
    close(fd);
    return v;
}

int modseq_init_new(const char *dir)
{
    char *ul = xasprintf("%s/dovecot-uidlist", dir);
    struct stat st;
    bool had_uids = lstat(ul, &st) == 0;
    free(ul);
    if (had_uids)
        return 0; /* not new: clients may know modseqs (Dovecot's too) */
    char *path = xasprintf("%s/" MODSEQ_FILE, dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(path);
    if (fd < 0)
        return errno == EEXIST ? 0 : errno;
    int rc = modseq_write(fd, 0);
    if (rc == 0)
        rc = modseq_sync(fd);
    close(fd);
    return rc;
}
