/* Pure name rules: which folder names and keywords are allowed, LIST
 * pattern matching, and the subscriptions file's format. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/xmalloc.h"

bool store_name_is_inbox(const char *name)
{
    return strcasecmp(name, "INBOX") == 0;
}

bool store_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_NAME_MAX || name[0] == '~')
        return false;
    size_t component = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '*' || c == '%')
            return false;
        if (c == STORE_SEP) {
            if (component == 0)
                return false; /* leading '.' or ".." */
            component = 0;
        } else if (++component > STORE_COMPONENT_MAX) {
            return false;
        }
    }
    return component > 0; /* no trailing '.' */
}

bool store_keyword_valid(const char *kw)
{
    size_t len = strlen(kw);
    if (len == 0 || len > STORE_KEYWORD_LENMAX || kw[0] == '\\')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)kw[i];
        if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
            return false;
    }
    return true;
}

/* Whether name begins with the INBOX name (INBOX or INBOX.something). */
static bool inbox_prefixed(const char *name)
{
    return strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == STORE_SEP);
}

bool store_list_match(const char *pattern, const char *name)
{
    size_t m = strlen(pattern), n = strlen(name);
    bool fold = inbox_prefixed(name);
    /* row[j]: pattern[0..i) matches name[0..j); one row at a time, so a
     * long pattern costs time linear in its length, never backtracking. */
    bool *row = xcalloc(n + 1, sizeof(bool));
    bool *next = xcalloc(n + 1, sizeof(bool));
    row[0] = true;
    for (size_t i = 0; i < m; i++) {
        char c = pattern[i];
        next[0] = (c == '*' || c == '%') && row[0];
        for (size_t j = 1; j <= n; j++) {
            char d = name[j - 1];
            if (c == '*')
                next[j] = row[j] || next[j - 1];
            else if (c == '%')
                next[j] = row[j] || (next[j - 1] && d != STORE_SEP);
            else if (fold && j <= 5)
                next[j] = row[j - 1] && toupper((unsigned char)c) == toupper((unsigned char)d);
            else
                next[j] = row[j - 1] && c == d;
        }
        bool *t = row;
        row = next;
        next = t;
    }
    bool r = row[n];
    free(row);
    free(next);
    return r;
}

void subscriptions_parse(const char *text, size_t len, struct store_names *out)
{
    const char *p = text, *end = text + len;
    bool first = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t l = (size_t)(eol - p);
        if (first && l == 3 && memcmp(p, "V\t2", 3) == 0) {
            /* Dovecot 2.3's header; the empty line after it is skipped
             * below like any other. */
        } else if (l > 0) {
            char *name = xstrndup(p, l);
            for (char *c = name; *c; c++)
                if (*c == '\t')
                    *c = STORE_SEP;
            if (store_name_is_inbox(name)) {
                free(name);
                name = xstrdup("INBOX");
            }
            if (store_name_valid(name) && !store_names_has(out, name))
                store_names_add(out, name);
            free(name);
        }
        first = false;
        p = eol + 1;
    }
}

void subscriptions_format(const struct store_names *names, struct buf *out)
{
    buf_append_str(out, "V\t2\n\n");
    for (size_t i = 0; i < names->n; i++) {
        for (const char *c = names->v[i]; *c; c++)
            buf_append_char(out, *c == STORE_SEP ? '\t' : *c);
        buf_append_char(out, '\n');
    }
}

bool store_names_has(const struct store_names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return true;
    return false;
}

void store_names_add(struct store_names *l, const char *name)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(name);
}

void store_names_remove(struct store_names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0) {
            free(l->v[i]);
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
            l->n--;
            return;
        }
}

void store_names_free(struct store_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
