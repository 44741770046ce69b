/* A POP3 session's view of one Maildir: scanning new/ and cur/, opening a
 * message, and applying deletions at QUIT. Blocking: workers only. */
#include "pop3d/mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/pop3_msg.h"
#include "util/log.h"
#include "util/fileio.h"
#include "util/xmalloc.h"

/* The base name: up to the first ',' (S=, W= fields) or ':' (info). */
static size_t base_len(const char *name)
{
    return strcspn(name, ",:");
}

/* A stable stand-in id for a base name that is not a valid UIDL. */
static void hash_uid(const char *s, size_t len, char prefix, char uid[POP3_UIDL_MAX + 1])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    snprintf(uid, POP3_UIDL_MAX + 1, "%c%016llx", prefix, (unsigned long long)h);
}

bool pop3d_mailbox_parse_name(const char *name, char uid_r[POP3_UIDL_MAX + 1], uint64_t *wsize_r,
                              bool *has_w_r)
{
    *has_w_r = false;
    *wsize_r = 0;
    if (name[0] == '.' || name[0] == '\0')
        return false;
    size_t blen = base_len(name);
    bool valid = blen > 0 && blen <= POP3_UIDL_MAX;
    for (size_t i = 0; valid && i < blen; i++)
        valid = (unsigned char)name[i] > 0x20 && (unsigned char)name[i] < 0x7f;
    if (valid) {
        memcpy(uid_r, name, blen);
        uid_r[blen] = '\0';
    } else {
        hash_uid(name, blen, 'H', uid_r);
    }
    /* ",W=<digits>" among the comma fields before the info part. */
    size_t info = strcspn(name, ":");
    const char *p = name + blen;
    while (p < name + info && *p == ',') {
        p++;
        size_t flen = strcspn(p, ",:");
        if (flen > 2 && p[0] == 'W' && p[1] == '=' && flen - 2 <= 19) {
            uint64_t v = 0;
            bool digits = true;
            for (size_t i = 2; i < flen; i++) {
                if (p[i] < '0' || p[i] > '9')
                    digits = false;
                else
                    v = v * 10 + (uint64_t)(p[i] - '0');
            }
            if (digits) {
                *wsize_r = v;
                *has_w_r = true;
            }
        }
        p += flen;
    }
    return true;
}

/* A file without W=: its CRLF size, by reading it. */
static int measure(int dfd, const char *name, uint64_t *size_r)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    int rc = fd_crlf_size(fd, size_r);
    close(fd);
    return rc;
}

static int scan_dir(struct pop3d_mailbox *box, int boxfd, const char *sub, bool in_cur, size_t *cap)
{
    int dfd = openat(boxfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : errno;
    DIR *dir = fdopendir(dfd);
    if (dir == NULL) {
        int e = errno;
        close(dfd);
        return e;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (de == NULL) {
            rc = errno;
            break;
        }
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue;
        struct pop3d_msg m = {0};
        bool has_w;
        if (!pop3d_mailbox_parse_name(de->d_name, m.uid, &m.size, &has_w))
            continue;
        if (!has_w) {
            int e = measure(dfd, de->d_name, &m.size);
            if (e == ENOENT || e == ELOOP || e == EISDIR)
                continue; /* gone meanwhile, or not a message */
            if (e != 0) {
                rc = e;
                break;
            }
            box->measured++;
        }
        m.name = xstrdup(de->d_name);
        m.in_cur = in_cur;
        if (box->n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            box->msgs = xrealloc(box->msgs, *cap * sizeof(*box->msgs));
        }
        box->msgs[box->n++] = m;
    }
    closedir(dir);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    const struct pop3d_msg *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->in_cur - (int)y->in_cur;
}

static int by_uid(const void *a, const void *b)
{
    const struct pop3d_msg *x = *(struct pop3d_msg *const *)a, *y = *(struct pop3d_msg *const *)b;
    int c = strcmp(x->uid, y->uid);
    return c ? c : by_name(x, y);
}

/* Two files with the same base name (a copy made by hand, say) must still
 * get distinct ids: the later one's id becomes a hash of its whole name. */
static void make_uids_unique(struct pop3d_mailbox *box)
{
    if (box->n < 2)
        return;
    struct pop3d_msg **v = xcalloc(box->n, sizeof(*v));
    for (size_t i = 0; i < box->n; i++)
        v[i] = &box->msgs[i];
    qsort(v, box->n, sizeof(*v), by_uid);
    char first[POP3_UIDL_MAX + 1];
    memcpy(first, v[0]->uid, sizeof(first));
    for (size_t i = 1; i < box->n; i++) {
        if (strcmp(v[i]->uid, first) == 0)
            hash_uid(v[i]->name, strcspn(v[i]->name, ":"), 'D', v[i]->uid);
        else
            memcpy(first, v[i]->uid, sizeof(first));
    }
    free(v);
}

int pop3d_mailbox_scan(const char *path, struct pop3d_mailbox **box_r)
{
    struct pop3d_mailbox *box = xcalloc(1, sizeof(*box));
    box->path = xstrdup(path);
    *box_r = NULL;
    int boxfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (boxfd < 0) {
        int e = errno;
        if (e == ENOENT) {
            *box_r = box; /* nothing delivered yet */
            return 0;
        }
        pop3d_mailbox_free(&box);
        return e;
    }
    size_t cap = 0;
    int rc = scan_dir(box, boxfd, "new", false, &cap);
    if (rc == 0)
        rc = scan_dir(box, boxfd, "cur", true, &cap);
    close(boxfd);
    if (rc != 0) {
        pop3d_mailbox_free(&box);
        return rc;
    }
    /* An emptied Maildir leaves msgs NULL: qsort(NULL, 0) is undefined. */
    if (box->n > 1)
        qsort(box->msgs, box->n, sizeof(*box->msgs), by_name);
    make_uids_unique(box);
    *box_r = box;
    return 0;
}

void pop3d_mailbox_free(struct pop3d_mailbox **bp)
{
    struct pop3d_mailbox *box = *bp;
    if (box == NULL)
        return;
    for (size_t i = 0; i < box->n; i++)
        free(box->msgs[i].name);
    free(box->msgs);
    free(box->path);
    free(box);
    *bp = NULL;
}

char *pop3d_mailbox_rel(const struct pop3d_mailbox *box, size_t i)
{
    return xasprintf("%s/%s", box->msgs[i].in_cur ? "cur" : "new", box->msgs[i].name);
}

/* The message's file under another name ("cur/BASE,...:2,S"), or NULL. */
static char *find_moved(const char *path, const char *rel)
{
    const char *name = strchr(rel, '/') ? strchr(rel, '/') + 1 : rel;
    size_t blen = base_len(name);
    static const char *const subs[] = {"cur", "new"};
    for (size_t s = 0; s < 2; s++) {
        char *dirpath = xasprintf("%s/%s", path, subs[s]);
        DIR *dir = opendir(dirpath);
        free(dirpath);
        if (dir == NULL)
            continue;
        struct dirent *de;
        char *found = NULL;
        while (found == NULL && (de = readdir(dir)) != NULL)
            if (strncmp(de->d_name, name, blen) == 0 &&
                (de->d_name[blen] == '\0' || de->d_name[blen] == ',' || de->d_name[blen] == ':'))
                found = xasprintf("%s/%s", subs[s], de->d_name);
        closedir(dir);
        if (found)
            return found;
    }
    return NULL;
}

int pop3d_mailbox_open(const char *path, const char *rel_name, char **moved_r)
{
    *moved_r = NULL;
    char *full = xasprintf("%s/%s", path, rel_name);
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;
    free(full);
    if (fd >= 0)
        return fd;
    if (e != ENOENT)
        return -e;
    char *found = find_moved(path, rel_name);
    if (found == NULL)
        return -ENOENT;
    full = xasprintf("%s/%s", path, found);
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    e = errno;
    free(full);
    if (fd < 0) {
        free(found);
        return -e;
    }
    *moved_r = found;
    return fd;
}

static void sync_dir(const char *path, const char *sub)
{
    char *p = xasprintf("%s/%s", path, sub);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0)
            log_warn("event=pop3_fsync_failed path=%s error=%s", log_q(p), log_q(strerror(errno)));
        close(fd);
    }
    free(p);
}

static bool remove_message(const char *path, const char *rel)
{
    char *full = xasprintf("%s/%s", path, rel);
    int rc = unlink(full);
    int e = errno;
    free(full);
    if (rc == 0)
        return true;
    if (e == ENOENT) {
        /* Renamed by another reader meanwhile: remove it under its new name.
         * Already gone altogether is what DELE asked for. */
        char *found = find_moved(path, rel);
        if (found == NULL)
            return true;
        full = xasprintf("%s/%s", path, found);
        rc = unlink(full);
        e = errno;
        free(full);
        free(found);
        if (rc == 0 || e == ENOENT)
            return true;
    }
    log_warn("event=pop3_delete_failed mailbox=%s file=%s error=%s", log_q(path), log_q(rel),
             log_q(strerror(e)));
    return false;
}

/* The name of a retrieved message once seen: ":2,S" added, or S put into
 * its flags in ASCII order as Dovecot writes them; NULL if it has S already. */
static char *seen_name(const char *name)
{
    const char *info = strstr(name, ":2,");
    if (info == NULL)
        return xasprintf("%s:2,S", name);
    const char *flags = info + 3;
    if (strchr(flags, 'S'))
        return NULL;
    size_t at = (size_t)(flags - name);
    while (name[at] && (unsigned char)name[at] < 'S')
        at++;
    return xasprintf("%.*sS%s", (int)at, name, name + at);
}

void pop3d_mailbox_update(struct pop3d_mailbox *box, struct pop3d_update_result *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < box->n; i++) {
        struct pop3d_msg *m = &box->msgs[i];
        char *seen = m->retrieved && !m->deleted ? seen_name(m->name) : NULL;
        if (!m->deleted && seen == NULL && !(m->retrieved && !m->in_cur))
            continue;
        char *rel = pop3d_mailbox_rel(box, i);
        if (m->deleted) {
            if (remove_message(box->path, rel))
                r->removed++;
            else
                r->failed++;
        } else {
            /* Seen by its owner: a Maildir reader (IMAP here, or Dovecot)
             * expects it in cur/ with \Seen in the info part. */
            char *from = xasprintf("%s/%s", box->path, rel);
            char *to = xasprintf("%s/cur/%s", box->path, seen ? seen : m->name);
            if (rename(from, to) == 0)
                r->moved++;
            else if (errno != ENOENT)
                log_warn("event=pop3_move_failed mailbox=%s file=%s error=%s", log_q(box->path),
                         log_q(rel), log_q(strerror(errno)));
            free(from);
            free(to);
        }
        free(seen);
        free(rel);
    }
    if (r->removed || r->moved || r->failed) {
        sync_dir(box->path, "new");
        sync_dir(box->path, "cur");
    }
}
