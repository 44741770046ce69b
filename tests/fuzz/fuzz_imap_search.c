/* Fuzzes the SEARCH compiler and evaluator (proto/imap_search.h) and the
 * sequence sets under them. The input is tokenized into an argument tree
 * (atoms, "quoted" strings, {n}literals, NIL, lists; the command parser is
 * not linked), compiled, and when it compiles, prepared for a small mailbox
 * and matched against fixed messages (single-part, and a multipart with
 * encoded parts in several charsets) given whole, as their header alone
 * and not at all; the matches make an ESEARCH response. Failures must come
 * with an error text and no search. The input is also parsed as a
 * sequence set, whose unresolved and resolved membership must agree, and
 * searched as a message itself by BODY and TEXT (its MIME tree, the
 * decoders, the charset conversions). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_search.h"

struct args {
    void **allocs;
    size_t n_allocs;
};

static void *keep(struct args *t, void *p)
{
    t->allocs = realloc(t->allocs, (t->n_allocs + 1) * sizeof(void *));
    t->allocs[t->n_allocs++] = p;
    return p;
}

/* Items up to ')' or the end; false on a syntax error or too deep. */
static bool items(struct args *t, const char **s, const char *end, unsigned depth,
                  struct imap_arg **out, size_t *n_out)
{
    struct imap_arg *v = NULL;
    size_t n = 0;
    if (depth > 64)
        return false;
    for (;;) {
        while (*s < end && **s == ' ')
            (*s)++;
        if (*s >= end || **s == ')') {
            bool closed = *s < end;
            if (closed)
                (*s)++;
            if (closed != (depth > 0)) {
                free(v);
                return false;
            }
            break;
        }
        v = realloc(v, (n + 1) * sizeof(*v));
        struct imap_arg *a = &v[n++];
        memset(a, 0, sizeof(*a));
        const char *p = *s;
        if (*p == '(') {
            *s = p + 1;
            struct imap_arg *kids;
            size_t nk;
            if (!items(t, s, end, depth + 1, &kids, &nk)) {
                free(v);
                return false;
            }
            a->type = IMAP_ARG_LIST;
            a->list = kids;
            a->n = nk;
            continue;
        }
        char *str;
        size_t len = 0;
        if (*p == '"') {
            str = keep(t, malloc((size_t)(end - p) + 1));
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                str[len++] = *p;
            }
            if (p >= end) {
                free(v);
                return false;
            }
            *s = p + 1;
            a->type = IMAP_ARG_STRING;
        } else if (*p == '{') {
            size_t want = 0;
            const char *q = p + 1;
            while (q < end && *q >= '0' && *q <= '9' && want < 100000)
                want = want * 10 + (size_t)(*q++ - '0');
            if (q >= end || *q != '}' || (size_t)(end - q - 1) < want) {
                free(v);
                return false;
            }
            str = keep(t, malloc(want + 1));
            memcpy(str, q + 1, want);
            len = want;
            *s = q + 1 + want;
            a->type = IMAP_ARG_LITERAL;
        } else {
            while (*s < end && **s != ' ' && **s != '(' && **s != ')')
                (*s)++;
            len = (size_t)(*s - p);
            str = keep(t, malloc(len + 1));
            memcpy(str, p, len);
            a->type = len == 3 && strncasecmp(str, "NIL", 3) == 0 ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
        }
        str[len] = '\0';
        a->str = a->type == IMAP_ARG_NIL ? NULL : str;
        a->len = a->type == IMAP_ARG_NIL ? 0 : len;
    }
    *out = v ? keep(t, v) : NULL;
    *n_out = n;
    return true;
}

static void args_free(struct args *t)
{
    for (size_t k = 0; k < t->n_allocs; k++)
        free(t->allocs[k]);
    free(t->allocs);
}

static const char message[] = "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\r\n"
                              "To: a@example.com,\r\n b@example.net\r\n"
                              "Subject: =?ISO-8859-1?Q?Caf=E9?= =?utf-8?q?_ok?=\r\n"
                              "Date: Tue, 1 Feb 1994 23:59:59 -0800\r\n"
                              "X-Empty:\r\n"
                              "\r\n"
                              "Body text \xc3\x84\xce\xa3\r\n";

static const char multipart[] =
    "From: x@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n"
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 soft=\r\n break\r\n"
    "--b\r\nContent-Type: text/html; charset=windows-1252\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>=80 Caf=E9</p>\r\n"
    "--b\r\nContent-Type: text/plain; charset=koi8-r\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n8NLJ18XU\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"
    "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "UE5H\r\n--b--\r\nepilogue\r\n";

/* The input as a message, searched by BODY and TEXT: whatever its MIME
 * structure, encodings and charsets, no crash, no leak. */
static void search_input_as_message(const uint8_t *data, size_t size)
{
    static const struct imap_arg key[] = {
        {.type = IMAP_ARG_ATOM, .str = "OR", .len = 2},
        {.type = IMAP_ARG_ATOM, .str = "BODY", .len = 4},
        {.type = IMAP_ARG_STRING, .str = "caf\xc3\xa9", .len = 5},
        {.type = IMAP_ARG_ATOM, .str = "TEXT", .len = 4},
        {.type = IMAP_ARG_STRING, .str = "zz", .len = 2},
    };
    struct imap_search *search;
    char err[128];
    if (imap_search_compile(key, 5, &search, err, sizeof(err)) != IMAP_SEARCH_OK)
        abort();
    struct imap_search_mailbox mb = {.messages = 1, .uid_max = 1};
    imap_search_prepare(search, &mb);
    struct imap_search_msg m = {.seq = 1, .uid = 1, .data = (const char *)data, .len = size};
    (void)imap_search_match(search, &m);
    imap_search_free(search);
}

static void check_seqset(const uint8_t *data, size_t size)
{
    struct imap_seqset set;
    if (imap_seqset_parse((const char *)data, size, true, &set) != IMAP_SEQSET_OK) {
        if (set.ranges != NULL || set.n != 0)
            abort();
        return;
    }
    static const uint32_t stars[] = {0, 1, 7, 100, UINT32_MAX};
    static const uint32_t probes[] = {1,         2, 6, 7, 8, 99, 100, 101, 65536, UINT32_MAX - 1,
                                      UINT32_MAX};
    for (size_t i = 0; i < sizeof(stars) / sizeof(stars[0]); i++) {
        struct imap_seqlist list;
        imap_seqset_resolve(&set, stars[i], &list);
        for (size_t j = 0; j < sizeof(probes) / sizeof(probes[0]); j++)
            if (imap_seqset_contains(&set, probes[j], stars[i]) !=
                imap_seqlist_contains(&list, probes[j]))
                abort();
        if (list.n > 0 && imap_seqlist_count(&list) == 0)
            abort();
        imap_seqlist_free(&list);
    }
    imap_seqset_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_seqset(data, size);
    search_input_as_message(data, size);
    struct args t = {0};
    const char *s = (const char *)data;
    struct imap_arg *top;
    size_t n;
    if (!items(&t, &s, s + size, 0, &top, &n)) {
        args_free(&t);
        return 0;
    }
    struct imap_search *search = (struct imap_search *)1;
    char err[128];
    enum imap_search_status st = imap_search_compile(top, n, &search, err, sizeof(err));
    args_free(&t); /* the search must not point into its arguments */
    if (st != IMAP_SEARCH_OK) {
        if (search != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    static const char *const keywords[] = {"$Forwarded", "Work"};
    uint32_t saved_uids[] = {2, 30};
    struct imap_seqlist saved;
    imap_seqlist_from_numbers(saved_uids, 2, &saved);
    struct imap_search_mailbox mb = {.messages = 5, .uid_max = 50, .saved_uids = &saved};
    imap_search_prepare(search, &mb);
    enum imap_search_needs needs = imap_search_needs(search);
    uint32_t found[5];
    size_t nfound = 0;
    for (uint32_t seq = 1; seq <= 5; seq++) {
        struct imap_search_msg m = {
            .seq = seq,
            .uid = seq * 10,
            .flags = seq * 7 % 64,
            .keywords = keywords,
            .n_keywords = seq % 3,
            .internal_date = (time_t)760147199 + (time_t)seq * 43200,
            .internal_tz = (int)seq * 60 - 180,
            .size = seq * 100,
            .data = seq % 2 ? message : multipart,
            .len = seq % 2 ? sizeof(message) - 1 : sizeof(multipart) - 1,
        };
        size_t header_len = (size_t)(strstr(m.data, "\r\n\r\n") - m.data) + 2;
        bool whole = imap_search_match(search, &m);
        if (whole)
            found[nfound++] = m.uid;
        m.len = header_len;
        bool header = imap_search_match(search, &m);
        m.data = NULL;
        m.len = 0;
        bool none = imap_search_match(search, &m);
        /* What the search says it needs is enough to decide. */
        if (needs <= IMAP_SEARCH_NEEDS_HEADER && header != whole)
            abort();
        if (needs == IMAP_SEARCH_NEEDS_NOTHING && none != whole)
            abort();
    }
    struct buf out;
    buf_init(&out);
    imap_search_format_esearch(&out, "t", true, imap_search_return(search), found, nfound, 0);
    imap_search_format_search(&out, found, nfound, 0);
    buf_free(&out);
    imap_seqlist_free(&saved);
    imap_search_free(search);
    return 0;
}
