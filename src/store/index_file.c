/* postern-index on disk: stamps of the files it depends on, reading, and
 * writing through a temporary file (see index.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

void index_stamp_take(const char *path, bool racy, struct index_stamp *st)
{
    memset(st, 0, sizeof(*st));
    struct stat sb;
    if (stat(path, &sb) != 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (racy) {
        int64_t age_ns = ((int64_t)now.tv_sec - (int64_t)sb.st_mtim.tv_sec) * 1000000000 +
                         ((int64_t)now.tv_nsec - (int64_t)sb.st_mtim.tv_nsec);
        int64_t racy_ns =
            sb.st_mtim.tv_nsec == 0 ? (int64_t)INDEX_RACY_SECS * 1000000000 : INDEX_RACY_NS;
        if (age_ns < racy_ns)
            return;
    }
    st->sec = (int64_t)sb.st_mtim.tv_sec;
    st->nsec = (int64_t)sb.st_mtim.tv_nsec;
    st->ino = (uint64_t)sb.st_ino;
    st->size = (uint64_t)sb.st_size;
}

int index_read(const char *dir, struct folder_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    char *path = xasprintf("%s/" INDEX_FILE, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return errno;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)INDEX_FILE_MAX) {
        close(fd);
        return EINVAL;
    }
    size_t want = (size_t)sb.st_size, got = 0;
    char *data = xmalloc(want + 1);
    int rc = 0;
    while (got < want) {
        ssize_t n = read(fd, data + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? errno : EINVAL; /* shorter than it said: truncated meanwhile */
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rc == 0)
        rc = index_parse(data, got, ix);
    free(data);
    return rc;
}

int index_write(const char *dir, const struct folder_index *ix)
{
    return index_write_changed(dir, ix, NULL, NULL);
}

int index_write_changed(const char *dir, const struct folder_index *ix,
                        const struct index_written *before, struct index_written *after)
{
    struct buf b;
    buf_init(&b);
    index_format(ix, &b);
    /* The formatted index ends with its checksum. */
    struct index_written w = {b.len, index_digest(b.data, b.len)};
    if (before && before->len == w.len && before->sum == w.sum) {
        buf_free(&b);
        if (after)
            *after = w;
        return EEXIST;
    }
    /* One temporary name is enough: writers hold the uidlist lock. */
    char *tmp = xasprintf("%s/" INDEX_FILE ".tmp", dir);
    char *path = xasprintf("%s/" INDEX_FILE, dir);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        rc = errno;
    if (rc == 0)
        rc = fd_write_all(fd, b.data, b.len);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    free(tmp);
    free(path);
    buf_free(&b);
    if (rc == 0 && after)
        *after = w;
    return rc;
}
