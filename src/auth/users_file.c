/* The file backend of the user table: sorted arrays searched by bsearch. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "proto/smtp_parse.h"
#include "util/xmalloc.h"

struct entry {
    char *key;
    char *hash;     /* users */
    bool has_quota; /* users: "quota=SIZE" given */
    uint64_t quota;
    char **targets; /* aliases */
    size_t ntargets;
};

struct file_table {
    struct user_table base;
    struct entry *users;
    size_t nusers;
    struct entry *aliases;
    size_t naliases;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static struct entry *find(struct entry *v, size_t n, const char *key)
{
    struct entry probe = {.key = (char *)key};
    return n ? bsearch(&probe, v, n, sizeof(*v), entry_cmp) : NULL;
}

static const char *file_password_hash(const struct user_table *t, const char *addr)
{
    const struct file_table *ft = (const struct file_table *)t;
    char *key = xstrdup(addr);
    address_lower(key);
    struct entry *e = find(ft->users, ft->nusers, key);
    free(key);
    return e ? e->hash : NULL;
}

static bool file_quota(const struct user_table *t, const char *addr, uint64_t *limit_r)
{
    const struct file_table *ft = (const struct file_table *)t;
    char *key = xstrdup(addr);
    address_lower(key);
    struct entry *e = find(ft->users, ft->nusers, key);
    free(key);
    if (e == NULL || !e->has_quota)
        return false;
    *limit_r = e->quota;
    return true;
}

static const char *const *file_alias_targets(const struct user_table *t, const char *key,
                                             size_t *n_r)
{
    const struct file_table *ft = (const struct file_table *)t;
    struct entry *e = find(ft->aliases, ft->naliases, key);
    if (e == NULL)
        return NULL;
    *n_r = e->ntargets;
    return (const char *const *)e->targets;
}

static void free_entries(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].hash);
        for (size_t k = 0; k < v[i].ntargets; k++)
            free(v[i].targets[k]);
        free(v[i].targets);
    }
    free(v);
}

static void file_free(struct user_table *t)
{
    struct file_table *ft = (struct file_table *)t;
    free_entries(ft->users, ft->nusers);
    free_entries(ft->aliases, ft->naliases);
    free(ft);
}

static const struct user_table_ops file_ops = {
    .name = "file",
    .password_hash = file_password_hash,
    .alias_targets = file_alias_targets,
    .free = file_free,
    .quota = file_quota,
};

void address_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

bool address_mailbox_safe(const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL || at == addr || at[1] == '\0')
        return false;
    if (addr[0] == '.' || at[1] == '.' || addr[0] == '"')
        return false;
    for (const char *p = addr; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x21 || *p == 0x7f)
            return false;
    return smtp_address_valid(addr, strlen(addr), true);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

typedef bool (*line_fn)(struct file_table *ft, char *line, const char *path, unsigned lineno,
                        struct buf *err);

static bool read_lines(struct file_table *ft, const char *path, line_fn fn, struct buf *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        buf_printf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    bool ok = true;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            /* The line would end there, silently dropping the rest. */
            buf_printf(err, "%s:%u: NUL character in the line\n", path, lineno);
            ok = false;
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *t = trim(line);
        if (*t == '\0')
            continue;
        if (!fn(ft, t, path, lineno, err))
            ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

static bool user_line(struct file_table *ft, char *line, const char *path, unsigned lineno,
                      struct buf *err)
{
    char *colon = strchr(line, ':');
    if (colon == NULL) {
        buf_printf(err, "%s:%u: expected \"address:hash\"\n", path, lineno);
        return false;
    }
    *colon = '\0';
    char *addr = trim(line);
    char *hash = colon + 1;
    /* A third field: "quota=SIZE" (a crypt(3) hash never has ':'). */
    char *opt = strchr(hash, ':');
    if (opt)
        *opt++ = '\0';
    hash = trim(hash);
    address_lower(addr);
    if (!address_mailbox_safe(addr)) {
        buf_printf(err, "%s:%u: '%s' is not a valid mailbox address\n", path, lineno, addr);
        return false;
    }
    if (*hash == '\0' || strchr(hash, ':') || strchr(hash, ' ')) {
        buf_printf(err, "%s:%u: missing or malformed password hash for %s\n", path, lineno, addr);
        return false;
    }
    uint64_t quota = 0;
    if (opt) {
        opt = trim(opt);
        if (strncasecmp(opt, "quota=", 6) != 0 || !conf_parse_size(trim(opt + 6), &quota)) {
            buf_printf(err,
                       "%s:%u: expected \"quota=SIZE\" (such as quota=500M) after the hash of %s\n",
                       path, lineno, addr);
            return false;
        }
    }
    if (find(ft->users, ft->nusers, addr)) {
        buf_printf(err, "%s:%u: %s is listed twice\n", path, lineno, addr);
        return false;
    }
    ft->users = xrealloc(ft->users, (ft->nusers + 1) * sizeof(*ft->users));
    ft->users[ft->nusers++] = (struct entry){
        .key = xstrdup(addr), .hash = xstrdup(hash), .has_quota = opt != NULL, .quota = quota};
    qsort(ft->users, ft->nusers, sizeof(*ft->users), entry_cmp);
    return true;
}

static struct entry *xmemdup_entry(const struct entry *e)
{
    struct entry *copy = xmalloc(sizeof(*copy));
    *copy = *e;
    return copy;
}

static bool alias_line(struct file_table *ft, char *line, const char *path, unsigned lineno,
                       struct buf *err)
{
    char *colon = strchr(line, ':');
    if (colon == NULL) {
        buf_printf(err, "%s:%u: expected \"alias@domain: target[, target...]\"\n", path, lineno);
        return false;
    }
    *colon = '\0';
    char *key = trim(line);
    address_lower(key);
    /* A catch-all "@domain" is checked as the address "x@domain". */
    char *probe = key[0] == '@' ? xasprintf("x%s", key) : xstrdup(key);
    bool valid = smtp_address_valid(probe, strlen(probe), true);
    free(probe);
    if (!valid) {
        buf_printf(err, "%s:%u: '%s' is not a valid alias address\n", path, lineno, key);
        return false;
    }
    if (find(ft->aliases, ft->naliases, key)) {
        buf_printf(err, "%s:%u: alias %s is listed twice\n", path, lineno, key);
        return false;
    }
    struct entry e = {.key = xstrdup(key)};
    char *save = NULL;
    for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *target = trim(tok);
        if (*target == '\0')
            continue;
        address_lower(target);
        if (!smtp_address_valid(target, strlen(target), true)) {
            buf_printf(err, "%s:%u: target '%s' is not a valid address\n", path, lineno, target);
            free_entries(xmemdup_entry(&e), 1);
            return false;
        }
        e.targets = xrealloc(e.targets, (e.ntargets + 1) * sizeof(char *));
        e.targets[e.ntargets++] = xstrdup(target);
    }
    if (e.ntargets == 0) {
        buf_printf(err, "%s:%u: alias %s has no target\n", path, lineno, key);
        free(e.key);
        return false;
    }
    ft->aliases = xrealloc(ft->aliases, (ft->naliases + 1) * sizeof(*ft->aliases));
    ft->aliases[ft->naliases++] = e;
    qsort(ft->aliases, ft->naliases, sizeof(*ft->aliases), entry_cmp);
    return true;
}

struct user_table *user_table_load_files(const char *users_file, const char *aliases_file,
                                         struct buf *err_r)
{
    struct file_table *ft = xcalloc(1, sizeof(*ft));
    ft->base.ops = &file_ops;
    bool ok = read_lines(ft, users_file, user_line, err_r);
    if (aliases_file && !read_lines(ft, aliases_file, alias_line, err_r))
        ok = false;
    if (!ok) {
        file_free(&ft->base);
        return NULL;
    }
    return &ft->base;
}
