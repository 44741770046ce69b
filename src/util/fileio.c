/* Reading whole files and measuring their CRLF size (see fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "proto/pop3_msg.h"
#include "util/fileio.h"

/* Calls each(arg, chunk, n) for what fd holds to its end. */
static int read_chunks(int fd, void (*each)(void *arg, const char *data, size_t len), void *arg)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        each(arg, chunk, (size_t)n);
    }
}

static void append_chunk(void *arg, const char *data, size_t len)
{
    buf_append(arg, data, len);
}

int fd_write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = write(fd, c, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

int fd_read_all(int fd, struct buf *out)
{
    return read_chunks(fd, append_chunk, out);
}

int file_read_all(const char *path, int nofollow, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return errno;
    int rc = fd_read_all(fd, out);
    close(fd);
    return rc;
}

static void count_chunk(void *arg, const char *data, size_t len)
{
    pop3_msg_count(arg, data, len);
}

int fd_crlf_size(int fd, uint64_t *size_r)
{
    struct pop3_msg_counter c = {0};
    int rc = read_chunks(fd, count_chunk, &c);
    *size_r = c.size;
    return rc;
}
