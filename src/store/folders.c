/* Folders of a Maildir++ tree: first-login setup, LIST data, CREATE,
 * DELETE, RENAME, subscriptions, and the paths to watch. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/dotlock.h"
#include "store/modseq.h"
#include "store/store_int.h"
#include "util/xmalloc.h"

static const struct {
    const char *name;
    unsigned attr;
} special_use[] = {
    {"Sent", STORE_A_SENT}, {"Drafts", STORE_A_DRAFTS},   {"Trash", STORE_A_TRASH},
    {"Junk", STORE_A_JUNK}, {"Archive", STORE_A_ARCHIVE},
};
#define N_SPECIAL (sizeof(special_use) / sizeof(special_use[0]))

static unsigned read_special_use(struct store *s, const char *name);

static int mkdir_ok(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : errno;
}

/* dir with cur/ new/ tmp/ (and maildirfolder for a folder, not INBOX). */
static int make_maildir(const char *dir, bool folder)
{
    static const char *const subs[] = {"cur", "new", "tmp"};
    int rc = mkdir_ok(dir);
    for (int i = 0; rc == 0 && i < 3; i++) {
        char *p = xasprintf("%s/%s", dir, subs[i]);
        rc = mkdir_ok(p);
        free(p);
    }
    if (rc == 0 && folder) {
        char *p = xasprintf("%s/maildirfolder", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        rc = fd >= 0 ? 0 : errno;
        if (fd >= 0)
            close(fd);
        free(p);
    }
    if (rc == 0)
        rc = modseq_init_new(dir);
    if (rc == 0)
        rc = fsync_dir(dir);
    if (rc == 0)
        rc = fsync_parent(dir);
    return rc;
}

static int read_subscriptions(struct store *s, struct store_names *out)
{
    memset(out, 0, sizeof(*out));
    char *path = xasprintf("%s/subscriptions", s->root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    int rc = n < 0 ? errno : 0;
    close(fd);
    subscriptions_parse(b.data ? b.data : "", b.len, out);
    buf_free(&b);
    return rc;
}

/* Adds or removes names in the subscriptions file, under its dotlock. */
static int change_subscriptions(struct store *s, const char *const *names, size_t n, bool on)
{
    char *path = xasprintf("%s/subscriptions", s->root);
    struct dotlock lock;
    int rc = dotlock_take(path, &lock);
    free(path);
    if (rc != 0)
        return rc;
    struct store_names subs;
    rc = read_subscriptions(s, &subs);
    bool changed = false;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool has = store_names_has(&subs, names[i]);
        if (on && !has)
            store_names_add(&subs, names[i]);
        else if (!on && has)
            store_names_remove(&subs, names[i]);
        changed |= on != has;
    }
    if (rc == 0 && changed) {
        struct buf out;
        buf_init(&out);
        subscriptions_format(&subs, &out);
        rc = dotlock_replace(&lock, out.data, out.len);
        buf_free(&out);
    } else {
        dotlock_release(&lock);
    }
    store_names_free(&subs);
    return rc;
}

int maildir_subscribe(struct store *s, const char *name, bool subscribe)
{
    if (!store_name_is_inbox(name) && !store_name_valid(name))
        return EINVAL;
    const char *n = store_name_is_inbox(name) ? "INBOX" : name;
    return change_subscriptions(s, &n, 1, subscribe);
}

/* mkdir -p for the Maildir's own path. */
static int make_root(const char *root)
{
    char *p = xstrdup(root);
    int rc = 0;
    for (char *c = p + 1; rc == 0 && *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        rc = mkdir_ok(p);
        *c = '/';
    }
    free(p);
    return rc;
}

int maildir_setup(struct store *s)
{
    int rc = make_root(s->root);
    if (rc == 0 && !maildir_exists(s->root))
        rc = make_maildir(s->root, false);
    /* The default folders are made and subscribed at the first login only
     * (no subscriptions file yet): a folder the user deleted or
     * unsubscribed later stays so. */
    char *subs = xasprintf("%s/subscriptions", s->root);
    bool first = access(subs, F_OK) != 0;
    free(subs);
    if (rc != 0 || !first)
        return rc;
    const char *names[N_SPECIAL];
    for (size_t i = 0; rc == 0 && i < N_SPECIAL; i++) {
        names[i] = special_use[i].name;
        char *dir = maildir_folder_dir(s, names[i]);
        if (!maildir_exists(dir))
            rc = make_maildir(dir, true);
        free(dir);
    }
    if (rc == 0)
        rc = change_subscriptions(s, names, N_SPECIAL, true);
    return rc;
}

/* The folder names on disk (INBOX first, if it exists). */
static int folder_names(struct store *s, struct store_names *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(s->root);
    if (d == NULL)
        return errno;
    if (maildir_exists(s->root))
        store_names_add(out, "INBOX");
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name + 1;
        if (de->d_name[0] != '.' || !store_name_valid(name) || store_name_is_inbox(name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode))
            store_names_add(out, name);
    }
    closedir(d);
    return 0;
}

static bool is_child(const char *child, const char *parent)
{
    size_t n = strlen(parent);
    return strncmp(child, parent, n) == 0 && child[n] == STORE_SEP;
}

static bool names_have_child(const struct store_names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (is_child(l->v[i], name))
            return true;
    return false;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct store_list_entry *x = a, *y = b;
    bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
    if (xi || yi)
        return yi - xi;
    return strcmp(x->name, y->name);
}

int maildir_list(struct store *s, struct store_list *out)
{
    memset(out, 0, sizeof(*out));
    struct store_names names, subs;
    int rc = folder_names(s, &names);
    if (rc != 0)
        return rc;
    rc = read_subscriptions(s, &subs);
    size_t real = names.n;
    /* Parents that only their children imply. */
    for (size_t i = 0; i < real; i++) {
        char *p = xstrdup(names.v[i]);
        for (char *dot = strrchr(p, STORE_SEP); dot; dot = strrchr(p, STORE_SEP)) {
            *dot = '\0';
            if (!store_names_has(&names, p))
                store_names_add(&names, p);
        }
        free(p);
    }
    size_t all = names.n;
    for (size_t i = 0; i < subs.n; i++)
        if (!store_names_has(&names, subs.v[i]))
            store_names_add(&names, subs.v[i]);
    out->v = xcalloc(names.n + 1, sizeof(*out->v));
    for (size_t i = 0; i < names.n; i++) {
        struct store_list_entry *e = &out->v[out->n++];
        e->name = xstrdup(names.v[i]);
        if (i >= all)
            e->attrs |= STORE_A_NONEXISTENT;
        else if (i >= real)
            e->attrs |= STORE_A_NOSELECT;
        if (i < all)
            e->attrs |=
                names_have_child(&names, e->name) ? STORE_A_HASCHILDREN : STORE_A_HASNOCHILDREN;
        if (store_names_has(&subs, e->name))
            e->attrs |= STORE_A_SUBSCRIBED;
        for (size_t j = 0; j < N_SPECIAL; j++)
            if (i < real && strcmp(e->name, special_use[j].name) == 0)
                e->attrs |= special_use[j].attr;
        if (i < real)
            e->attrs |= read_special_use(s, e->name);
    }
    qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
    store_names_free(&names);
    store_names_free(&subs);
    return rc;
}

#define SPECIAL_USE_FILE "postern-special-use"

/* The special use written by CREATE (USE (...)), as attribute bits. */
static unsigned read_special_use(struct store *s, const char *name)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return 0;
    char *path = xasprintf("%s/" SPECIAL_USE_FILE, dir);
    free(dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (f == NULL)
        return 0;
    char line[64];
    unsigned use = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        for (size_t i = 0; i < N_SPECIAL; i++)
            if (line[0] == '\\' && strcasecmp(line + 1, special_use[i].name) == 0)
                use |= special_use[i].attr;
    }
    fclose(f);
    return use;
}

int maildir_set_special_use(struct store *s, const char *name, unsigned use)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    int rc = maildir_exists(dir) ? 0 : ENOENT;
    char *path = xasprintf("%s/" SPECIAL_USE_FILE, dir);
    char *tmp = xasprintf("%s.tmp", path);
    if (rc == 0 && use == 0) {
        rc = unlink(path) == 0 || errno == ENOENT ? 0 : errno;
    } else if (rc == 0) {
        FILE *f = fopen(tmp, "w");
        rc = f ? 0 : errno;
        for (size_t i = 0; rc == 0 && i < N_SPECIAL; i++)
            if (use & special_use[i].attr)
                fprintf(f, "\\%s\n", special_use[i].name);
        if (f && (fflush(f) != 0 || fsync(fileno(f)) != 0))
            rc = errno;
        if (f && fclose(f) != 0 && rc == 0)
            rc = errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = errno;
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

int maildir_create(struct store *s, const char *name)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    int rc = 0;
    if (maildir_exists(dir))
        rc = EEXIST;
    else if (store_name_is_inbox(name))
        rc = make_maildir(dir, false);
    else if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = errno;
    else
        rc = make_maildir(dir, true);
    free(dir);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int maildir_delete(struct store *s, const char *name)
{
    if (store_name_is_inbox(name))
        return EPERM;
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        struct store_names names;
        rc = folder_names(s, &names);
        if (rc == 0)
            rc = names_have_child(&names, name) ? ENOTEMPTY : ENOENT;
        store_names_free(&names);
        free(dir);
        return rc;
    }
    /* Out of sight in one rename (a name no LIST shows: it starts with
     * ".."), then removed; a crash in between leaves only that. */
    char *base = maildir_unique_base();
    char *gone = xasprintf("%s/..postern-deleted.%s", s->root, base);
    free(base);
    if (rename(dir, gone) != 0)
        rc = errno;
    if (rc == 0 && nftw(gone, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        rc = errno;
    if (rc == 0)
        rc = fsync_dir(s->root);
    free(gone);
    free(dir);
    return rc;
}

int maildir_rename(struct store *s, const char *from, const char *to)
{
    if (store_name_is_inbox(from))
        return EPERM;
    if (!store_name_valid(from) || !store_name_valid(to))
        return EINVAL;
    if (store_name_is_inbox(to) || is_child(to, from))
        return store_name_is_inbox(to) ? EEXIST : EINVAL;
    struct store_names names;
    int rc = folder_names(s, &names);
    if (rc != 0)
        return rc;
    if (store_names_has(&names, to))
        rc = EEXIST;
    else if (!store_names_has(&names, from) && !names_have_child(&names, from))
        rc = ENOENT;
    size_t flen = strlen(from);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const char *n = names.v[i];
        if (strcmp(n, from) != 0 && !is_child(n, from))
            continue;
        char *target = xasprintf("%s%s", to, n + flen);
        if (!store_name_valid(target) || store_names_has(&names, target))
            rc = store_name_valid(target) ? EEXIST : EINVAL;
        free(target);
    }
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        const char *n = names.v[i];
        if (strcmp(n, from) != 0 && !is_child(n, from))
            continue;
        char *a = xasprintf("%s/.%s", s->root, n);
        char *b = xasprintf("%s/.%s%s", s->root, to, n + flen);
        if (rename(a, b) != 0)
            rc = errno;
        free(a);
        free(b);
    }
    if (rc == 0)
        rc = fsync_dir(s->root);
    store_names_free(&names);
    return rc;
}

int maildir_watch_paths(struct store *s, const char *name, char **new_r, char **cur_r)
{
    char *dir = maildir_folder_dir(s, name);
    if (dir == NULL)
        return EINVAL;
    *new_r = xasprintf("%s/new", dir);
    *cur_r = xasprintf("%s/cur", dir);
    free(dir);
    return 0;
}
