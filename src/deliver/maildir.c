/* Writing one message into a Maildir by the Maildir rules: prepare in
 * tmp/, commit into new/, or discard (see maildir.h). */
#include "deliver/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/users.h"
#include "proto/pop3_msg.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

char *maildir_path(const char *data_dir, const char *addr)
{
    const char *at = strrchr(addr, '@');
    return xasprintf("%s/mail/%s/%.*s", data_dir, at + 1, (int)(at - addr), addr);
}

/* mkdir that also makes the new entry durable. */
static int ensure_dir(const char *path)
{
    if (mkdir(path, 0700) == 0) {
        char *parent = xstrdup(path);
        char *slash = strrchr(parent, '/');
        if (slash) {
            *slash = '\0';
            int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                fsync(fd);
                close(fd);
            }
        }
        free(parent);
        return 0;
    }
    return errno == EEXIST ? 0 : errno;
}

static int ensure_maildir(const char *data_dir, const char *box)
{
    char *mail = xasprintf("%s/mail", data_dir);
    char *domain = xstrdup(box);
    *strrchr(domain, '/') = '\0';
    int rc = ensure_dir(mail);
    if (rc == 0)
        rc = ensure_dir(domain);
    if (rc == 0)
        rc = ensure_dir(box);
    static const char *subs[] = {"tmp", "new", "cur"};
    for (int i = 0; rc == 0 && i < 3; i++) {
        char *sub = xasprintf("%s/%s", box, subs[i]);
        rc = ensure_dir(sub);
        free(sub);
    }
    free(mail);
    free(domain);
    return rc;
}

/* Copies CRLF text as LF text. pending_cr carries a CR split across reads. */
static void crlf_to_lf(struct buf *out, const char *p, size_t n, int *pending_cr)
{
    for (size_t i = 0; i < n; i++) {
        if (*pending_cr) {
            *pending_cr = 0;
            if (p[i] != '\n')
                buf_append_char(out, '\r');
        }
        if (p[i] == '\r')
            *pending_cr = 1;
        else
            buf_append_char(out, p[i]);
    }
}

static void host_part(char *out, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    /* Maildir: '/' and ':' in the host name are encoded. */
    size_t o = 0;
    for (const char *h = host; *h && o + 5 < len; h++) {
        if (*h == '/')
            o += (size_t)snprintf(out + o, len - o, "\\057");
        else if (*h == ':')
            o += (size_t)snprintf(out + o, len - o, "\\072");
        else
            out[o++] = *h;
    }
    out[o] = '\0';
}

int maildir_prepare(const char *data_dir, const char *addr, const char *prefix, int content_fd,
                    char **new_name_r)
{
    static atomic_uint counter;
    if (!address_mailbox_safe(addr))
        return EINVAL;
    char *box = maildir_path(data_dir, addr);
    int rc = ensure_maildir(data_dir, box);
    if (rc != 0) {
        free(box);
        return rc;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char host[300];
    host_part(host, sizeof(host));
    char *base = xasprintf("%lld.M%06ldP%dQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
                           (int)getpid(), atomic_fetch_add(&counter, 1), host);
    char *tmp = xasprintf("%s/tmp/%s", box, base);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno;
        goto out;
    }
    struct buf out;
    buf_init(&out);
    uint64_t size = 0;
    /* The CRLF size too (",W=", as Dovecot names files): POP3 reports it
     * without reading the message. */
    struct pop3_msg_counter crlf = {0};
    int pending_cr = 0;
    if (prefix) {
        crlf_to_lf(&out, prefix, strlen(prefix), &pending_cr);
    }
    if (lseek(content_fd, 0, SEEK_SET) < 0)
        rc = errno;
    char chunk[65536];
    while (rc == 0) {
        ssize_t n = read(content_fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            break;
        }
        if (n == 0)
            break;
        crlf_to_lf(&out, chunk, (size_t)n, &pending_cr);
        rc = fd_write_all(fd, out.data, out.len);
        size += out.len;
        pop3_msg_count(&crlf, out.data, out.len);
        buf_reset(&out);
    }
    if (rc == 0 && pending_cr)
        buf_append_char(&out, '\r');
    if (rc == 0 && out.len) {
        rc = fd_write_all(fd, out.data, out.len);
        size += out.len;
        pop3_msg_count(&crlf, out.data, out.len);
    }
    buf_free(&out);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0)
        *new_name_r = xasprintf("%s,S=%llu,W=%llu", base, (unsigned long long)size,
                                (unsigned long long)crlf.size);
    else
        unlink(tmp);
out:
    free(tmp);
    free(base);
    free(box);
    return rc;
}

/* A reader (POP3, an IMAP server) may have moved the file to cur/ as
 * NAME:2,FLAGS already. Only crash recovery asks, so a scan is fine. */
static bool in_cur(const char *box, const char *new_name)
{
    char *cur = xasprintf("%s/cur", box);
    DIR *d = opendir(cur);
    free(cur);
    if (d == NULL)
        return false;
    size_t n = strlen(new_name);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL)
        found = strncmp(e->d_name, new_name, n) == 0 && (e->d_name[n] == ':' || !e->d_name[n]);
    closedir(d);
    return found;
}

/* tmp/ holds the file under its base name: the new/ name up to its ','. */
static char *tmp_path_of(const char *box, const char *new_name)
{
    return xasprintf("%s/tmp/%.*s", box, (int)strcspn(new_name, ","), new_name);
}

int maildir_commit(const char *data_dir, const char *addr, const char *new_name)
{
    if (!address_mailbox_safe(addr) || strchr(new_name, '/') || new_name[0] == '.')
        return EINVAL;
    char *box = maildir_path(data_dir, addr);
    char *tmp = tmp_path_of(box, new_name);
    char *dst = xasprintf("%s/new/%s", box, new_name);
    int rc = 0;
    if (rename(tmp, dst) != 0) {
        rc = errno;
        /* Renamed before a crash: it is in new/ (or a reader took it to
         * cur/ already, then under the same base name). */
        if (rc == ENOENT && (access(dst, F_OK) == 0 || in_cur(box, new_name)))
            rc = 0;
    }
    if (rc == 0) {
        char *newdir = xasprintf("%s/new", box);
        int dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = errno;
        if (dfd >= 0)
            close(dfd);
        free(newdir);
    }
    free(tmp);
    free(dst);
    free(box);
    return rc;
}

void maildir_discard(const char *data_dir, const char *addr, const char *new_name)
{
    if (!address_mailbox_safe(addr) || strchr(new_name, '/'))
        return;
    char *box = maildir_path(data_dir, addr);
    char *tmp = tmp_path_of(box, new_name);
    unlink(tmp);
    free(tmp);
    free(box);
}
