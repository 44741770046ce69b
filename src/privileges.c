/* Root's part of the start-up and the switch to the service user (see
 * privileges.h). Nothing here walks a tree or changes a file by path: a
 * local user may write into queue/drop/, and a directory swapped for a
 * symbolic link under a walking root is how any file gets given away. */
#include "privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xmalloc.h"

int privileges_init(struct privileges *p, const struct conf *conf, struct buf *err_r)
{
    memset(p, 0, sizeof(*p));
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(conf->user);
    if (pw == NULL) {
        buf_printf(err_r,
                   "postern: [server] user '%s' does not exist; create it (adduser --system %s) "
                   "or name another user\n",
                   conf->user, conf->user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        buf_printf(err_r, "postern: [server] user must not be root\n");
        return -1;
    }
    p->root = true;
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    p->name = xstrdup(conf->user);
    return 0;
}

void privileges_clear(struct privileges *p)
{
    free(p->name);
    memset(p, 0, sizeof(*p));
}

/* Opens (creating it if needed) the directory NAME under PARENT without
 * following a symbolic link, and makes it the service user's when it is
 * root's. Returns the descriptor, or -1 with a message. */
static int own_dir(const struct privileges *p, int parent, const char *name, const char *shown,
                   mode_t mode, bool force_mode, struct buf *err_r)
{
    /* data_dir itself (AT_FDCWD) may be the administrator's link; nothing
     * below it may be. */
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (parent == AT_FDCWD ? 0 : O_NOFOLLOW);
    bool made = false;
    int fd = openat(parent, name, flags);
    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(parent, name, mode) == 0)
            made = true;
        else if (errno != EEXIST)
            goto fail;
        fd = openat(parent, name, flags);
    }
    if (fd < 0)
        goto fail;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (st.st_uid != p->uid || st.st_gid != p->gid) {
        /* Root's is a fresh layout (an installer, `sendmail` run by root
         * before the first start); anyone else's is not Postern's to take. */
        if (st.st_uid != 0 && st.st_uid != p->uid) {
            buf_printf(err_r,
                       "postern: %s belongs to uid %u, neither root nor %s; make it %s's "
                       "(chown %s %s) and start again\n",
                       shown, (unsigned)st.st_uid, p->name, p->name, p->name, shown);
            close(fd);
            return -1;
        }
        if (fchown(fd, p->uid, p->gid) != 0)
            goto fail;
    }
    if ((made || force_mode) && (st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
        goto fail;
    return fd;
fail:
    buf_printf(err_r, "postern: cannot prepare %s: %s\n", shown,
               errno == ELOOP || errno == ENOTDIR ? "not a directory (a symbolic link?)"
                                                  : strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int privileges_prepare(const struct privileges *p, const char *data_dir, struct buf *err_r)
{
    if (!p->root)
        return 0;
    /* In this order: queue/ before what lies in it. */
    static const struct {
        bool in_queue; /* under queue/, else under data_dir */
        const char *name;
        mode_t mode;
        bool force_mode;
    } dirs[] = {
        {false, "queue", 0711, true},
        {true, "tmp", 0700, false},
        {true, "msg", 0700, false},
        {true, "env", 0700, false},
        {true, "corrupt", 0700, false},
        {true, "spare", 0700, false},
        {true, "drop", 01733, true},
        /* run/ is traversable: anyone may reach run/query (listing the queue). */
        {false, "run", 0711, true},
        {false, "mail", 0700, false},
    };
    int rc = -1, queue = -1, top = -1;
    if (mkdir(data_dir, 0711) != 0 && errno != EEXIST) {
        buf_printf(err_r, "postern: cannot create data_dir %s: %s\n", data_dir, strerror(errno));
        return -1;
    }
    /* data_dir and its parents are the administrator's (a link to it is
     * fine); from data_dir down every step is taken on descriptors. */
    top = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (top < 0 || fstat(top, &st) != 0) {
        buf_printf(err_r, "postern: cannot open data_dir %s: %s\n", data_dir,
                   errno == ELOOP || errno == ENOTDIR ? "not a directory (a symbolic link?)"
                                                      : strerror(errno));
        goto out;
    }
    if (st.st_mode & S_IWOTH) {
        buf_printf(err_r, "postern: data_dir %s is writable by everyone; it must be %s's alone\n",
                   data_dir, p->name);
        goto out;
    }
    int fd = own_dir(p, AT_FDCWD, data_dir, data_dir, 0711, true, err_r);
    if (fd < 0)
        goto out;
    /* The same directory as top (a link to it was not swapped meanwhile). */
    struct stat again;
    bool same = fstat(fd, &again) == 0 && again.st_ino == st.st_ino && again.st_dev == st.st_dev;
    close(fd);
    if (!same) {
        buf_printf(err_r, "postern: data_dir %s changed during the start\n", data_dir);
        goto out;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *shown = xasprintf(dirs[i].in_queue ? "%s/queue/%s" : "%s/%s", data_dir, dirs[i].name);
        fd = own_dir(p, dirs[i].in_queue ? queue : top, dirs[i].name, shown, dirs[i].mode,
                     dirs[i].force_mode, err_r);
        free(shown);
        if (fd < 0)
            goto out;
        if (!dirs[i].in_queue && strcmp(dirs[i].name, "queue") == 0)
            queue = fd;
        else
            close(fd);
    }
    rc = 0;
out:
    if (queue >= 0)
        close(queue);
    if (top >= 0)
        close(top);
    return rc;
}

int privileges_as_user(const struct privileges *p, struct buf *err_r)
{
    if (!p->root)
        return 0;
    if (setgroups(0, NULL) != 0 || setegid(p->gid) != 0 || seteuid(p->uid) != 0) {
        buf_printf(err_r, "postern: cannot act as user %s: %s\n", p->name, strerror(errno));
        return -1;
    }
    return 0;
}

int privileges_as_root(const struct privileges *p, struct buf *err_r)
{
    if (!p->root)
        return 0;
    if (seteuid(0) != 0 || setegid(0) != 0) {
        buf_printf(err_r, "postern: cannot become root again: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int privileges_drop(const struct privileges *p, struct buf *err_r)
{
    if (!p->root)
        return 0;
    if (setgroups(0, NULL) != 0 || setgid(p->gid) != 0 || setuid(p->uid) != 0) {
        buf_printf(err_r, "postern: cannot switch to user %s: %s\n", p->name, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        buf_printf(err_r, "postern: could become root again after the switch to %s\n", p->name);
        return -1;
    }
    log_info("event=privileges_dropped user=%s uid=%d", log_q(p->name), (int)p->uid);
    return 0;
}
