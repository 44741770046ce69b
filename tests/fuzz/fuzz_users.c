/* Fuzzes the users and aliases file lines, and alias resolution. The file
 * backend is included so that its line parsers can be driven from memory
 * (no file I/O per input). Input: users lines, NUL, aliases lines, NUL,
 * addresses to resolve. Invariants: every loaded mailbox is safe as a path,
 * keys are lower case and unique, every alias target is a valid address,
 * and resolution gives unique, lower-case, valid targets. */
#include "../../src/auth/users_file.c"

static void lines(struct file_table *ft, const char *s, size_t len, line_fn fn, const char *name,
                  struct buf *err)
{
    unsigned lineno = 0;
    while (len > 0) {
        const char *nl = memchr(s, '\n', len);
        size_t n = nl ? (size_t)(nl - s) : len;
        char *line = xstrndup(s, n); /* as read_lines() sees it, without the newline */
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *t = trim(line);
        if (*t)
            fn(ft, t, name, lineno, err);
        free(line);
        s += n + (nl ? 1 : 0);
        len -= n + (nl ? 1 : 0);
    }
}

static bool lower_case(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return false;
    return true;
}

static void check_entries(const struct entry *v, size_t n, bool users)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = v[i].key;
        if (!lower_case(k) || (i > 0 && strcmp(v[i - 1].key, k) >= 0))
            __builtin_trap();
        if (users) {
            if (!address_mailbox_safe(k) || !v[i].hash[0] || strpbrk(v[i].hash, ": "))
                __builtin_trap();
            continue;
        }
        if (v[i].ntargets == 0)
            __builtin_trap();
        for (size_t t = 0; t < v[i].ntargets; t++)
            if (!lower_case(v[i].targets[t]) ||
                !smtp_address_valid(v[i].targets[t], strlen(v[i].targets[t]), true))
                __builtin_trap();
    }
}

static void check_resolve(const struct user_table *t, const char *addr)
{
    char **v = NULL;
    size_t n = 0;
    size_t added = user_table_resolve(t, addr, &v, &n);
    if (added != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (!lower_case(v[i]) || !smtp_address_valid(v[i], strlen(v[i]), true))
            __builtin_trap();
        for (size_t k = 0; k < i; k++)
            if (strcmp(v[k], v[i]) == 0)
                __builtin_trap();
        /* A target that is a mailbox is safe to become a path. */
        if (user_table_has_mailbox(t, v[i]) && !address_mailbox_safe(v[i]))
            __builtin_trap();
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul1 = memchr(s, '\0', size);
    size_t ulen = nul1 ? (size_t)(nul1 - s) : size;
    const char *a = nul1 ? nul1 + 1 : s + size;
    size_t rest = size - (size_t)(a - s);
    const char *nul2 = memchr(a, '\0', rest);
    size_t alen = nul2 ? (size_t)(nul2 - a) : rest;
    const char *q = nul2 ? nul2 + 1 : a + alen;
    size_t qlen = size - (size_t)(q - s);

    struct file_table *ft = xcalloc(1, sizeof(*ft));
    ft->base.ops = &file_ops;
    struct buf err;
    buf_init(&err);
    lines(ft, s, ulen, user_line, "users", &err);
    lines(ft, a, alen, alias_line, "aliases", &err);
    check_entries(ft->users, ft->nusers, true);
    check_entries(ft->aliases, ft->naliases, false);
    for (size_t i = 0; i < ft->nusers; i++)
        check_resolve(&ft->base, ft->users[i].key);
    for (size_t i = 0; i < ft->naliases; i++)
        check_resolve(&ft->base, ft->aliases[i].key);
    while (qlen > 0) {
        const char *nl = memchr(q, '\n', qlen);
        size_t n = nl ? (size_t)(nl - q) : qlen;
        char *addr = xstrndup(q, n);
        check_resolve(&ft->base, addr);
        free(addr);
        q += n + (nl ? 1 : 0);
        qlen -= n + (nl ? 1 : 0);
    }
    buf_free(&err);
    file_free(&ft->base);
    return 0;
}
