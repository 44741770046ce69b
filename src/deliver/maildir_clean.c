/* Removal of stale Maildir tmp/ files (see maildir_clean.h). */
#include "deliver/maildir_clean.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/worker.h"
#include "util/xmalloc.h"

struct maildir_clean_stats {
    unsigned dirs;    /* tmp/ directories looked at */
    unsigned removed; /* files removed */
    unsigned failed;  /* files or directories that could not be handled */
};

/* Opens name under dirfd as a directory, never through a symbolic link. */
static DIR *open_sub(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (d == NULL)
        close(fd);
    return d;
}

static bool is_dot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static void clean_tmp(int boxfd, const char *tmp, const char *where, time_t cutoff,
                      struct maildir_clean_stats *st)
{
    DIR *d = open_sub(boxfd, tmp);
    if (d == NULL) {
        if (errno != ENOENT && errno != ENOTDIR)
            st->failed++;
        return;
    }
    st->dirs++;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (is_dot(e->d_name))
            continue;
        struct stat sb;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
            sb.st_mtime >= cutoff)
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0) {
            st->removed++;
            log_info("event=maildir_tmp_removed mailbox=%s file=%s age=%llds", log_q(where),
                     log_q(e->d_name), (long long)(cutoff + MAILDIR_CLEAN_AGE - sb.st_mtime));
        } else if (errno != ENOENT) {
            st->failed++;
            log_warn("event=maildir_tmp_remove_failed mailbox=%s file=%s error=%s", log_q(where),
                     log_q(e->d_name), log_q(strerror(errno)));
        }
    }
    closedir(d);
}

/* USER/tmp and USER/.Folder/tmp (Maildir++). */
static void clean_box(DIR *box, const char *where, time_t cutoff, struct maildir_clean_stats *st)
{
    int bfd = dirfd(box);
    clean_tmp(bfd, "tmp", where, cutoff, st);
    struct dirent *e;
    while ((e = readdir(box)) != NULL) {
        if (e->d_name[0] != '.' || is_dot(e->d_name))
            continue;
        DIR *folder = open_sub(bfd, e->d_name);
        if (folder == NULL)
            continue; /* a file such as .dovecot.lock, or gone */
        char *fwhere = xasprintf("%s/%s", where, e->d_name);
        clean_tmp(dirfd(folder), "tmp", fwhere, cutoff, st);
        free(fwhere);
        closedir(folder);
    }
}

/* (blocks) Removes the regular files in every tmp/ under data_dir/mail whose
 * modification time is before cutoff. Symbolic links and directories in the
 * way are never followed. */
static void maildir_clean_tmp(const char *data_dir, time_t cutoff, struct maildir_clean_stats *st)
{
    memset(st, 0, sizeof(*st));
    char *mail = xasprintf("%s/mail", data_dir);
    DIR *root = opendir(mail);
    free(mail);
    if (root == NULL) {
        if (errno != ENOENT)
            st->failed++;
        return; /* nothing delivered yet */
    }
    struct dirent *de;
    while ((de = readdir(root)) != NULL) {
        if (is_dot(de->d_name))
            continue;
        DIR *domain = open_sub(dirfd(root), de->d_name);
        if (domain == NULL)
            continue;
        struct dirent *ue;
        while ((ue = readdir(domain)) != NULL) {
            if (is_dot(ue->d_name))
                continue;
            DIR *box = open_sub(dirfd(domain), ue->d_name);
            if (box == NULL)
                continue;
            char *where = xasprintf("%s/%s", de->d_name, ue->d_name);
            clean_box(box, where, cutoff, st);
            free(where);
            closedir(box);
        }
        closedir(domain);
    }
    closedir(root);
}

struct maildir_cleaner {
    struct worker_pool *pool;
    struct event *timer;
    char *data_dir;
    bool running;
};

struct clean_job {
    struct maildir_cleaner *c;
    struct maildir_clean_stats st;
};

static void clean_work(void *arg)
{
    struct clean_job *job = arg;
    maildir_clean_tmp(job->c->data_dir, time(NULL) - MAILDIR_CLEAN_AGE, &job->st);
}

static void clean_done(void *arg)
{
    struct clean_job *job = arg;
    job->c->running = false;
    log_info("event=maildir_tmp_cleaned dirs=%u removed=%u failed=%u", job->st.dirs,
             job->st.removed, job->st.failed);
    free(job);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct maildir_cleaner *c = arg;
    struct timeval tv = {MAILDIR_CLEAN_INTERVAL, 0};
    evtimer_add(c->timer, &tv);
    if (c->running)
        return; /* a scan of a huge tree still runs: skip this one */
    c->running = true;
    struct clean_job *job = xcalloc(1, sizeof(*job));
    job->c = c;
    worker_pool_submit(c->pool, clean_work, clean_done, job);
}

struct maildir_cleaner *maildir_cleaner_start(struct event_base *base, struct worker_pool *pool,
                                              const char *data_dir)
{
    struct maildir_cleaner *c = xcalloc(1, sizeof(*c));
    c->pool = pool;
    c->data_dir = xstrdup(data_dir);
    c->timer = evtimer_new(base, on_timer, c);
    struct timeval now = {0, 0};
    evtimer_add(c->timer, &now);
    return c;
}

void maildir_cleaner_free(struct maildir_cleaner **cp)
{
    struct maildir_cleaner *c = *cp;
    if (c == NULL)
        return;
    event_free(c->timer);
    free(c->data_dir);
    free(c);
    *cp = NULL;
}
