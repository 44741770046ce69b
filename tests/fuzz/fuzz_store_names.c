/* Fuzzes the store's pure name code: folder-name validation, LIST pattern
 * matching (against a plain backtracking matcher on short inputs, and for
 * bounded cost on long ones), Maildir file names, and the dovecot-keywords
 * and subscriptions parsers (format then parse gives the same). The first
 * input byte chooses what the rest is. */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/keywords.h"
#include "store/maildir_name.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static void check_name(const char *s)
{
    bool ok = store_name_valid(s);
    size_t len = strlen(s);
    if (!ok)
        return;
    assert(len > 0 && len <= STORE_NAME_MAX);
    assert(s[0] != '~' && s[0] != STORE_SEP && s[len - 1] != STORE_SEP);
    assert(strstr(s, "..") == NULL);
    assert(strpbrk(s, "/\\*%") == NULL);
    for (size_t i = 0; i < len; i++)
        assert(s[i] >= 0x20 && s[i] < 0x7f);
    /* A valid name is never a LIST pattern: it matches itself only as is. */
    assert(store_list_match(s, s));
    assert(store_list_match("*", s));
}

/* The definition, by backtracking: exponential, so only for short inputs. */
static bool ref_match(const char *p, const char *n, bool fold, size_t at)
{
    if (*p == '\0')
        return *n == '\0';
    if (*p == '*' || *p == '%') {
        for (size_t k = 0;; k++) {
            if (ref_match(p + 1, n + k, fold, at + k))
                return true;
            if (n[k] == '\0' || (*p == '%' && n[k] == STORE_SEP))
                return false;
        }
    }
    if (*n == '\0')
        return false;
    bool eq = fold && at < 5 ? toupper((unsigned char)*p) == toupper((unsigned char)*n) : *p == *n;
    return eq && ref_match(p + 1, n + 1, fold, at + 1);
}

static void check_match(const char *pattern, const char *name)
{
    bool r = store_list_match(pattern, name);
    size_t pl = strlen(pattern), nl = strlen(name);
    if (pl <= 10 && nl <= 16) {
        bool fold = strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == STORE_SEP);
        assert(r == ref_match(pattern, name, fold, 0));
    }
    /* Widening every '%' to '*' can only match more. */
    if (r) {
        char *wide = xstrdup(pattern);
        for (char *c = wide; *c; c++)
            if (*c == '%')
                *c = '*';
        assert(store_list_match(wide, name));
        free(wide);
    }
}

static void check_file_name(const char *s)
{
    struct maildir_name mn;
    if (!maildir_name_parse(s, &mn))
        return;
    size_t len = strlen(s);
    assert(mn.base_len > 0 && mn.base_len <= mn.info_at && mn.info_at <= len);
    assert(maildir_name_stem_len(s) == mn.info_at);
    assert((mn.keywords >> STORE_KEYWORDS_MAX) == 0);
    unsigned flags = (unsigned)len & 0x1f;
    uint32_t kw = (uint32_t)(len * 2654435761u) & ((1u << STORE_KEYWORDS_MAX) - 1);
    char *with = maildir_name_with_flags(s, flags, kw);
    struct maildir_name again;
    assert(maildir_name_parse(with, &again));
    assert(again.flags == flags && again.keywords == kw);
    assert(again.base_len == mn.base_len && again.info_at == mn.info_at);
    assert(again.has_s == mn.has_s && again.s == mn.s && again.has_w == mn.has_w &&
           again.w == mn.w);
    free(with);
}

static void check_keywords(const char *text, size_t len)
{
    char *names[STORE_KEYWORDS_MAX];
    keywords_parse(text, len, names);
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++) {
        if (names[i] == NULL)
            continue;
        assert(store_keyword_valid(names[i]));
        assert(keywords_find(names, names[i]) == i);
    }
    struct buf out;
    buf_init(&out);
    keywords_format(names, &out);
    char *again[STORE_KEYWORDS_MAX];
    keywords_parse(out.data ? out.data : "", out.len, again);
    for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
        assert((names[i] == NULL && again[i] == NULL) ||
               (names[i] && again[i] && strcmp(names[i], again[i]) == 0));
    keywords_free(again);
    keywords_free(names);
    buf_free(&out);
}

static void check_subscriptions(const char *text, size_t len)
{
    struct store_names l = {0};
    subscriptions_parse(text, len, &l);
    for (size_t i = 0; i < l.n; i++) {
        assert(store_name_valid(l.v[i]));
        assert(!store_name_is_inbox(l.v[i]) || strcmp(l.v[i], "INBOX") == 0);
        for (size_t j = 0; j < i; j++)
            assert(strcmp(l.v[i], l.v[j]) != 0);
    }
    struct buf out;
    buf_init(&out);
    subscriptions_format(&l, &out);
    struct store_names again = {0};
    subscriptions_parse(out.data, out.len, &again);
    assert(again.n == l.n);
    for (size_t i = 0; i < l.n; i++)
        assert(strcmp(l.v[i], again.v[i]) == 0);
    store_names_free(&again);
    store_names_free(&l);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char *s = xstrndup(text, len); /* up to the first NUL */
    switch (data[0] % 5) {
    case 0:
        check_name(s);
        store_keyword_valid(s);
        break;
    case 1: {
        /* pattern NUL name */
        const char *nul = memchr(text, '\0', len);
        char *name = nul ? xstrndup(nul + 1, len - (size_t)(nul + 1 - text)) : xstrdup("INBOX");
        check_match(s, name);
        free(name);
        break;
    }
    case 2:
        check_file_name(s);
        break;
    case 3:
        check_keywords(text, len);
        break;
    default:
        check_subscriptions(text, len);
        break;
    }
    free(s);
    return 0;
}
