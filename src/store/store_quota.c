/* A user's storage usage in the Maildir++ maildirsize file: read, trust
 * or recalculate, rewrite, append a change (see store_quota.h). Blocks:
 * runs in workers. */
#include "store/store_quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/maildirsize.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

#define MAILDIRSIZE_NAME "maildirsize"

/* Adds one message directory (new/ or cur/); a missing one is empty. The
 * newest mtime seen goes to *mtime_r. */
static int sum_dir(const char *dir, struct store_quota_usage *u, time_t *mtime_r)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : errno;
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (st.st_mtime > *mtime_r)
        *mtime_r = st.st_mtime;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : errno;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* "." and "..", and what Dovecot skips with them ("..name"). */
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.'))
            continue;
        uint64_t size;
        if (!maildirsize_name_size(e->d_name, &size)) {
            struct stat fst;
            if (fstatat(dirfd(d), e->d_name, &fst, 0) != 0) {
                if (errno != ENOENT)
                    rc = errno; /* gone meanwhile: not counted */
                continue;
            }
            size = (uint64_t)fst.st_size;
        }
        u->bytes += size;
        u->count++;
    }
    closedir(d);
    return rc;
}

static int sum_folder(const char *dir, struct store_quota_usage *u, time_t *mtime_r)
{
    char *p = xasprintf("%s/new", dir);
    int rc = sum_dir(p, u, mtime_r);
    free(p);
    p = xasprintf("%s/cur", dir);
    if (rc == 0)
        rc = sum_dir(p, u, mtime_r);
    free(p);
    return rc;
}

int store_quota_folder_usage(const char *dir, struct store_quota_usage *u_r)
{
    time_t mtime = 0;
    memset(u_r, 0, sizeof(*u_r));
    return sum_folder(dir, u_r, &mtime);
}

/* Calls fn for INBOX (root) and every folder directory (".NAME"). */
static int each_folder(const char *root, int (*fn)(const char *dir, void *arg), void *arg)
{
    int rc = fn(root, arg);
    DIR *d = opendir(root);
    if (d == NULL)
        return rc ? rc : (errno == ENOENT ? 0 : errno);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' || e->d_name[1] == '\0' || e->d_name[1] == '.')
            continue;
        char *dir = xasprintf("%s/%s", root, e->d_name);
        rc = fn(dir, arg);
        free(dir);
    }
    closedir(d);
    return rc;
}

struct scan {
    struct store_quota_usage u;
    time_t newest;
    bool changed;
};

static int scan_one(const char *dir, void *arg)
{
    struct scan *sc = arg;
    return sum_folder(dir, &sc->u, &sc->newest);
}

/* Whether a message directory changed after the scan's newest mtime. */
static int check_one(const char *dir, void *arg)
{
    struct scan *sc = arg;
    static const char *const subs[] = {"new", "cur"};
    for (int i = 0; i < 2 && !sc->changed; i++) {
        char *p = xasprintf("%s/%s", dir, subs[i]);
        struct stat st;
        if (stat(p, &st) == 0 && st.st_mtime > sc->newest)
            sc->changed = true;
        free(p);
    }
    return 0;
}

static int rewrite(const char *root, uint64_t limit, const struct store_quota_usage *u)
{
    char text[2 * MAILDIRSIZE_LINE_MAX];
    size_t len = maildirsize_format_file(text, sizeof(text), limit, 0, u->bytes, u->count);
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint32_t)time(NULL);
    /* In tmp/ as the Maildir++ description has it; never counted. */
    char *tmp = xasprintf("%s/tmp/" MAILDIRSIZE_NAME ".%d.%08x", root, (int)getpid(), r);
    char *path = xasprintf("%s/" MAILDIRSIZE_NAME, root);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = fd < 0 ? errno : fd_write_all(fd, text, len);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

int store_quota_recalc(const char *root, uint64_t limit, struct store_quota_usage *u_r)
{
    struct scan sc = {0};
    int rc = each_folder(root, scan_one, &sc);
    if (rc != 0)
        return rc;
    *u_r = sc.u;
    each_folder(root, check_one, &sc);
    if (sc.changed) {
        /* Something was delivered or removed while counting: these numbers
         * may be off by it. Not written; the next reader counts again. */
        char *path = xasprintf("%s/" MAILDIRSIZE_NAME, root);
        unlink(path);
        free(path);
        return 0;
    }
    rc = rewrite(root, limit, &sc.u);
    return rc == ENOENT ? 0 : rc; /* no Maildir (tmp/) yet: nothing to keep */
}

/* Reads fd (at most MAILDIRSIZE_FILE_MAX octets) and says whether its sums
 * may be used. */
static bool read_trusted(int fd, uint64_t limit, struct store_quota_usage *u_r)
{
    char buf[MAILDIRSIZE_FILE_MAX];
    size_t len = 0;
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    struct maildirsize m;
    if (maildirsize_parse(buf, len, &m) != MAILDIRSIZE_OK)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    if (!maildirsize_trusted(&m, limit, 0, (int64_t)time(NULL) - (int64_t)st.st_mtime))
        return false;
    u_r->bytes = (uint64_t)m.bytes;
    u_r->count = (uint64_t)m.count;
    return true;
}

/* Opens maildirsize for reading and appending; *trusted_r and *u_r say
 * what it holds. -1 with errno when missing or unreadable. */
static int open_file(const char *root, uint64_t limit, bool *trusted_r,
                     struct store_quota_usage *u_r)
{
    char *path = xasprintf("%s/" MAILDIRSIZE_NAME, root);
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    free(path);
    *trusted_r = fd >= 0 && read_trusted(fd, limit, u_r);
    return fd;
}

int store_quota_usage(const char *root, uint64_t limit, struct store_quota_usage *u_r)
{
    memset(u_r, 0, sizeof(*u_r));
    bool trusted;
    int fd = open_file(root, limit, &trusted, u_r);
    if (fd >= 0)
        close(fd);
    if (trusted)
        return 0;
    return store_quota_recalc(root, limit, u_r);
}

int store_quota_change(const char *root, uint64_t limit, int64_t bytes, int64_t count)
{
    if (bytes == 0 && count == 0)
        return 0;
    char line[MAILDIRSIZE_LINE_MAX];
    size_t len = maildirsize_format_line(line, sizeof(line), bytes, count);
    if (limit == 0) {
        char *path = xasprintf("%s/" MAILDIRSIZE_NAME, root);
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        free(path);
        if (fd < 0)
            return errno == ENOENT ? 0 : errno;
        int rc = fd_write_all(fd, line, len);
        if (close(fd) != 0 && rc == 0)
            rc = errno;
        return rc;
    }
    bool trusted;
    struct store_quota_usage u;
    int fd = open_file(root, limit, &trusted, &u);
    if (!trusted) {
        /* Counted from the files, which have the change already. */
        if (fd >= 0)
            close(fd);
        return store_quota_recalc(root, limit, &u);
    }
    /* One write(2) with O_APPEND: other writers' lines never interleave. */
    int rc = fd_write_all(fd, line, len);
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    return rc;
}
