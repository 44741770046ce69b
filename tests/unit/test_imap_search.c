/* Unit tests for proto/imap_search: every search key, good and bad, on
 * messages built for the purpose; NOT/OR/group nesting and its bounds;
 * RETURN and CHARSET; sequence sets and UIDs with '*' and "$"; dates at
 * day boundaries and offsets; header unfolding and RFC 2047 encoded words;
 * case folding beyond ASCII; the SEARCH and ESEARCH responses. The
 * arguments come from a small tokenizer below (the command parser,
 * proto/imap_parse, is built elsewhere): atoms, "quoted" strings,
 * {n}literals (the n octets right after the brace), NIL and lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap_date.h"
#include "proto/imap_search.h"

/* --- the tokenizer: argument trees from text, every allocation kept in
 * a list that args_free() releases --- */

struct args {
    void **allocs;
    size_t n_allocs;
    struct imap_arg *top;
    size_t n;
};

static void *keep(struct args *t, void *p)
{
    t->allocs = realloc(t->allocs, (t->n_allocs + 1) * sizeof(void *));
    t->allocs[t->n_allocs++] = p;
    return p;
}

static bool parse_items(struct args *t, const char **s, const char *end, bool in_list,
                        struct imap_arg **out, size_t *n_out)
{
    struct imap_arg *items = NULL;
    size_t n = 0;
    for (;;) {
        while (*s < end && **s == ' ')
            (*s)++;
        if (*s >= end || **s == ')') {
            bool closed = *s < end;
            if (closed)
                (*s)++;
            if (closed != in_list) {
                free(items);
                return false;
            }
            break;
        }
        items = realloc(items, (n + 1) * sizeof(*items));
        struct imap_arg *a = &items[n++];
        memset(a, 0, sizeof(*a));
        const char *p = *s;
        if (*p == '(') {
            *s = p + 1;
            struct imap_arg *kids;
            size_t nk;
            if (!parse_items(t, s, end, true, &kids, &nk)) {
                free(items);
                return false;
            }
            a->type = IMAP_ARG_LIST;
            a->list = kids;
            a->n = nk;
        } else if (*p == '"') {
            char *v = keep(t, malloc((size_t)(end - p) + 1));
            size_t len = 0;
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                v[len++] = *p;
            }
            if (p >= end) {
                free(items);
                return false;
            }
            v[len] = '\0';
            *s = p + 1;
            a->type = IMAP_ARG_STRING;
            a->str = v;
            a->len = len;
        } else if (*p == '{') {
            char *close;
            size_t len = strtoul(p + 1, &close, 10);
            if (close >= end || *close != '}' || (size_t)(end - close - 1) < len) {
                free(items);
                return false;
            }
            char *v = keep(t, malloc(len + 1));
            memcpy(v, close + 1, len);
            v[len] = '\0';
            *s = close + 1 + len;
            a->type = IMAP_ARG_LITERAL;
            a->str = v;
            a->len = len;
        } else {
            while (*s < end && **s != ' ' && **s != '(' && **s != ')')
                (*s)++;
            size_t len = (size_t)(*s - p);
            char *v = keep(t, malloc(len + 1));
            memcpy(v, p, len);
            v[len] = '\0';
            a->type = len == 3 && strncasecmp(v, "NIL", 3) == 0 ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
            a->str = a->type == IMAP_ARG_NIL ? NULL : v;
            a->len = a->type == IMAP_ARG_NIL ? 0 : len;
        }
    }
    *out = items ? keep(t, items) : NULL;
    *n_out = n;
    return true;
}

static void args_free(struct args *t)
{
    for (size_t k = 0; k < t->n_allocs; k++)
        free(t->allocs[k]);
    free(t->allocs);
    memset(t, 0, sizeof(*t));
}

static void args_parse(struct args *t, const char *text)
{
    memset(t, 0, sizeof(*t));
    const char *s = text;
    if (!parse_items(t, &s, text + strlen(text), false, &t->top, &t->n))
        fail_msg("test tokenizer: cannot parse %s", text);
}

/* --- helpers --- */

static enum imap_search_status compile(const char *text, struct imap_search **s, char *err)
{
    struct args t;
    args_parse(&t, text);
    enum imap_search_status st = imap_search_compile(t.top, t.n, s, err, 128);
    args_free(&t); /* the compiled search owns copies of what it needs */
    return st;
}

static void bad(const char *text, const char *err_want)
{
    struct imap_search *s = (struct imap_search *)1;
    char err[128];
    enum imap_search_status st = compile(text, &s, err);
    if (st != IMAP_SEARCH_BAD)
        fail_msg("%s: status %d, expected BAD", text, st);
    assert_null(s);
    if (strstr(err, err_want) == NULL)
        fail_msg("%s: error \"%s\", expected \"%s\"", text, err, err_want);
}

static const char *message_text = "Received: from x by y; Tue, 1 Feb 1994 23:59:59 -0800\r\n"
                                  "From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.org>\r\n"
                                  "To: alice@example.com,\r\n"
                                  "\tBob Builder <bob@example.net>\r\n"
                                  "Cc: carol@example.com\r\n"
                                  "Subject: =?ISO-8859-1?Q?Caf=E9_au_lait?= \r\n"
                                  " =?UTF-8?Q?_=C3=BCber?= tea =?KOI8-R?Q?=F0?=\r\n"
                                  "Date: Tue, 1 Feb 1994 23:59:59 -0800\r\n"
                                  "X-Empty:\r\n"
                                  "X-Spaced : spaced value\r\n"
                                  "\r\n"
                                  "Hello World, this is the Body text.\r\n"
                                  "Ünïcödé Σοφία Москва\r\n";

static const char *const msg_keywords[] = {"$Forwarded", "Work"};

/* 1994-02-01 23:59:59 -0800: 1994-02-02 07:59:59 UTC */
static time_t internal_time(void)
{
    return (time_t)(imap_day_from_civil(1994, 2, 2) * 86400 + 7 * 3600 + 59 * 60 + 59);
}

static struct imap_search_msg test_msg(void)
{
    struct imap_search_msg m = {
        .seq = 3,
        .uid = 30,
        .flags = IMAP_FLAG_SEEN | IMAP_FLAG_FLAGGED,
        .keywords = msg_keywords,
        .n_keywords = 2,
        .internal_date = internal_time(),
        .internal_tz = -480,
        .size = 1000,
        .modseq = 700,
        .data = message_text,
        .len = strlen(message_text),
    };
    return m;
}

static const struct imap_search_mailbox test_mailbox = {.messages = 5, .uid_max = 50};

static bool match_in(const char *text, const struct imap_search_msg *m,
                     const struct imap_search_mailbox *mb)
{
    struct imap_search *s;
    char err[128];
    enum imap_search_status st = compile(text, &s, err);
    if (st != IMAP_SEARCH_OK)
        fail_msg("%s: status %d: %s", text, st, err);
    imap_search_prepare(s, mb);
    bool r = imap_search_match(s, m);
    imap_search_free(s);
    return r;
}

static bool match(const char *text)
{
    struct imap_search_msg m = test_msg();
    return match_in(text, &m, &test_mailbox);
}

#define YES(q) assert_true(match(q))
#define NO(q)  assert_false(match(q))

/* --- tests --- */

static void test_flags(void **state)
{
    YES("ALL");
    YES("SEEN");
    NO("UNSEEN");
    YES("FLAGGED");
    NO("UNFLAGGED");
    NO("ANSWERED");
    YES("UNANSWERED");
    NO("DELETED");
    YES("UNDELETED");
    NO("DRAFT");
    YES("UNDRAFT");
    NO("RECENT");
    YES("OLD");
    NO("NEW");
    YES("seen flagged"); /* case-insensitive key names; implicit AND */
    NO("SEEN DELETED");
    struct imap_search_msg m = test_msg();
    m.flags = IMAP_FLAG_RECENT | IMAP_FLAG_ANSWERED | IMAP_FLAG_DELETED | IMAP_FLAG_DRAFT;
    assert_true(match_in("NEW", &m, &test_mailbox));
    assert_true(match_in("RECENT ANSWERED DELETED DRAFT UNSEEN UNFLAGGED", &m, &test_mailbox));
    assert_false(match_in("OLD", &m, &test_mailbox));
    m.flags |= IMAP_FLAG_SEEN;
    assert_false(match_in("NEW", &m, &test_mailbox));
}

static void test_keywords(void **state)
{
    YES("KEYWORD $Forwarded");
    YES("KEYWORD work"); /* flag names are case-insensitive */
    NO("KEYWORD Wor");
    NO("KEYWORD Junk");
    YES("UNKEYWORD Junk");
    NO("UNKEYWORD $forwarded");
    bad("KEYWORD", "Missing argument for KEYWORD");
    bad("KEYWORD \\Seen", "Invalid keyword");
    bad("KEYWORD \"Work\"", "Invalid keyword");
    bad("UNKEYWORD (Work)", "Invalid keyword");
    bad("KEYWORD Wo*", "Invalid keyword");
}

static void test_sizes(void **state)
{
    YES("LARGER 999");
    NO("LARGER 1000");
    YES("SMALLER 1001");
    NO("SMALLER 1000");
    YES("LARGER 0");
    YES("SMALLER 9223372036854775807");
    bad("LARGER", "Missing argument for LARGER");
    bad("LARGER x", "Invalid number for LARGER");
    bad("LARGER -1", "Invalid number for LARGER");
    bad("SMALLER 9223372036854775808", "Invalid number for SMALLER");
    bad("SMALLER 99999999999999999999", "Invalid number for SMALLER");
    bad("SMALLER \"5\"", "Invalid number for SMALLER");
    bad("SMALLER 1e3", "Invalid number for SMALLER");
}

/* MODSEQ (RFC 7162 3.1.5): at least the value; the per-flag entry is
 * checked, then ignored. */
static void test_modseq(void **state)
{
    (void)state;
    YES("MODSEQ 700");
    YES("MODSEQ 0");
    NO("MODSEQ 701");
    YES("MODSEQ \"/flags/\\\\Draft\" all 620");
    YES("MODSEQ \"/flags/$Work\" priv 1 SEEN");
    NO("NOT MODSEQ 1");
    bad("MODSEQ", "Missing argument for MODSEQ");
    bad("MODSEQ x", "Invalid number for MODSEQ");
    bad("MODSEQ 9223372036854775808", "Invalid number for MODSEQ");
    bad("MODSEQ \"/flags/\\\\Seen\" both 5", "MODSEQ entry types");
    bad("MODSEQ \"/other/x\" all 5", "MODSEQ entry names");
    struct imap_search *s;
    char err[128];
    assert_int_equal(compile("MODSEQ 5", &s, err), IMAP_SEARCH_OK);
    assert_true(imap_search_uses_modseq(s));
    imap_search_free(s);
    assert_int_equal(compile("OR SEEN (NOT MODSEQ 5)", &s, err), IMAP_SEARCH_OK);
    assert_true(imap_search_uses_modseq(s));
    imap_search_free(s);
    assert_int_equal(compile("SEEN", &s, err), IMAP_SEARCH_OK);
    assert_false(imap_search_uses_modseq(s));
    imap_search_free(s);
    struct buf b;
    buf_init(&b);
    imap_search_format_search(&b, (uint32_t[]){2, 5}, 2, 917162500);
    assert_string_equal(b.data, "* SEARCH 2 5 (MODSEQ 917162500)\r\n");
    buf_reset(&b);
    imap_search_format_search(&b, NULL, 0, 917162500); /* nothing found: no modseq */
    assert_string_equal(b.data, "* SEARCH\r\n");
    buf_reset(&b);
    imap_search_format_esearch(&b, "a", true, IMAP_SEARCH_RETURN_ALL, (uint32_t[]){1, 2, 3}, 3, 42);
    assert_string_equal(b.data, "* ESEARCH (TAG \"a\") UID ALL 1:3 MODSEQ 42\r\n");
    buf_free(&b);
}

static void test_internal_dates(void **state)
{
    /* The internal date is 1994-02-01 23:59:59 at -0800: its day is Feb 1,
     * although it is Feb 2 in UTC. */
    YES("ON 1-Feb-1994");
    NO("ON 2-Feb-1994");
    YES("SINCE 1-Feb-1994");
    NO("SINCE 2-Feb-1994");
    YES("BEFORE 2-Feb-1994");
    NO("BEFORE 1-Feb-1994");
    YES("ON \"01-FEB-1994\"");
    YES("ON {10}1-Feb-1994");
    struct imap_search_msg m = test_msg();
    /* One second later it is Feb 2 at -0800. */
    m.internal_date += 1;
    assert_true(match_in("ON 2-Feb-1994", &m, &test_mailbox));
    assert_false(match_in("BEFORE 2-Feb-1994", &m, &test_mailbox));
    /* The same instant at +0000 is Feb 2, at +1400 too, at -1200 Feb 1. */
    m.internal_date -= 1;
    m.internal_tz = 0;
    assert_true(match_in("ON 2-Feb-1994", &m, &test_mailbox));
    m.internal_tz = -720;
    assert_true(match_in("ON 1-Feb-1994", &m, &test_mailbox));
    /* Midnight exactly belongs to the new day. */
    m.internal_date = (time_t)(imap_day_from_civil(2000, 1, 1) * 86400);
    m.internal_tz = 0;
    assert_true(match_in("ON 1-Jan-2000 SINCE 1-Jan-2000 BEFORE 2-Jan-2000", &m, &test_mailbox));
    assert_true(match_in("NOT BEFORE 1-Jan-2000", &m, &test_mailbox));
    m.internal_date -= 1;
    assert_true(match_in("ON 31-Dec-1999 BEFORE 1-Jan-2000", &m, &test_mailbox));
    bad("ON", "Missing argument for ON");
    bad("SINCE 30-Feb-1994", "Invalid date");
    bad("BEFORE 1994-02-01", "Invalid date");
    bad("BEFORE (1-Feb-1994)", "Invalid argument for BEFORE");
    bad("ON NIL", "Invalid argument for ON");
}

static void test_sent_dates(void **state)
{
    /* Date: Tue, 1 Feb 1994 23:59:59 -0800: the day as written. */
    YES("SENTON 1-Feb-1994");
    NO("SENTON 2-Feb-1994");
    YES("SENTBEFORE 2-Feb-1994");
    NO("SENTBEFORE 1-Feb-1994");
    YES("SENTSINCE 1-Feb-1994");
    NO("SENTSINCE 2-Feb-1994");
    /* Without a Date: field, no SENT* key matches. */
    const char *nodate = "Subject: x\r\n\r\nbody\r\n";
    struct imap_search_msg m = test_msg();
    m.data = nodate;
    m.len = strlen(nodate);
    assert_false(match_in("SENTSINCE 1-Jan-1970", &m, &test_mailbox));
    assert_false(match_in("SENTBEFORE 1-Jan-3000", &m, &test_mailbox));
    assert_true(match_in("NOT SENTON 1-Feb-1994", &m, &test_mailbox));
    /* The first Date: field counts; a folded one is unfolded. */
    const char *two =
        "date: Sat, 31 Dec 2005\r\n 23:00:00 +0100\r\nDate: 1 Jan 2010 00:00 +0000\r\n\r\n";
    m.data = two;
    m.len = strlen(two);
    assert_true(match_in("SENTON 31-Dec-2005", &m, &test_mailbox));
    /* An invalid Date: field counts as none. */
    const char *broken = "Date: yesterday\r\n\r\n";
    m.data = broken;
    m.len = strlen(broken);
    assert_false(match_in("OR SENTBEFORE 1-Jan-3000 SENTSINCE 1-Jan-1970", &m, &test_mailbox));
    bad("SENTON 1-Feb", "Invalid date");
}

static void test_header_keys(void **state)
{
    YES("FROM juergen@example.org");
    YES("FROM \"JÜRGEN MÜLLER\""); /* decoded encoded word, case-folded beyond ASCII */
    YES("FROM \"jürgen m\"");
    NO("FROM alice");
    YES("TO alice");
    YES("TO \"bob builder\"");       /* from the folded line */
    YES("TO \"example.com,\tbob\""); /* unfolding removes only the line break */
    NO("TO \"example.com,bob\"");
    YES("CC CAROL");
    NO("CC alice");
    NO("BCC carol");                          /* no Bcc: field */
    YES("SUBJECT \"café au lait über tea\""); /* Latin-1 Q, adjacent words joined */
    YES("SUBJECT \"CAFÉ\"");
    YES("SUBJECT =?KOI8-R?Q?=F0?="); /* an unknown charset stays as written */
    NO("SUBJECT \"lait  über\"");
    YES("HEADER X-Empty \"\""); /* the field exists */
    NO("HEADER X-Missing \"\"");
    YES("HEADER x-spaced \"SPACED VALUE\"");
    YES("HEADER Received \"from x\"");
    YES("HEADER Subject caf");
    YES("FROM {4}j\xc3\xbcr");
    NO("FROM Body"); /* the body is not a header */
    YES("SUBJECT \"\"");
    NO("BCC \"\"");
    bad("FROM", "Missing argument for FROM");
    bad("FROM NIL", "Invalid argument for FROM");
    bad("SUBJECT (a b)", "Invalid argument for SUBJECT");
    bad("HEADER", "Missing argument for HEADER");
    bad("HEADER Subject", "Missing argument for HEADER");
    bad("HEADER \"\" x", "Invalid header field name");
    bad("HEADER \"Sub:ject\" x", "Invalid header field name");
    bad("HEADER \"Sub ject\" x", "Invalid header field name");
}

static void test_body_text(void **state)
{
    YES("BODY \"hello world\"");
    YES("BODY \"üNÏCÖDÉ σοφία москва\""); /* Latin-1, Greek, Cyrillic capitals folded */
    YES("BODY \"ΣΟΦΊΑ МОСКВА\"");
    NO("BODY juergen"); /* the header is not the body */
    NO("BODY \"hello  world\"");
    YES("TEXT juergen");
    YES("TEXT \"hello world\"");
    YES("TEXT \"jürgen\"");   /* decoded header */
    YES("TEXT \"x-spaced\""); /* field names are text too */
    NO("TEXT nowhere");
    YES("BODY \"\"");
    /* A message without a body, and one with LF line ends. */
    struct imap_search_msg m = test_msg();
    const char *lf = "Subject: hi\n\nthe Body\n";
    m.data = lf;
    m.len = strlen(lf);
    assert_true(match_in("BODY body SUBJECT HI", &m, &test_mailbox));
    assert_false(match_in("BODY subject", &m, &test_mailbox));
    const char *nobody = "Subject: hi\r\n";
    m.data = nobody;
    m.len = strlen(nobody);
    assert_false(match_in("BODY hi", &m, &test_mailbox));
    assert_true(match_in("TEXT hi", &m, &test_mailbox));
    const char *empty_header = "\r\nonly body\r\n";
    m.data = empty_header;
    m.len = strlen(empty_header);
    assert_true(match_in("BODY only NOT SUBJECT \"\"", &m, &test_mailbox));
    bad("BODY", "Missing argument for BODY");
    bad("TEXT", "Missing argument for TEXT");
}

static void test_body_encodings(void **state)
{
    struct imap_search_msg m = test_msg();
    /* "Grüße aus Köln\r\n" in base64, folded over two lines. */
    const char *b64 =
        "Content-Transfer-Encoding:  BASE64 \r\n\r\nR3LDvMOfZSBhdXMg\r\nS8O2bG4NCg==\r\n";
    m.data = b64;
    m.len = strlen(b64);
    assert_false(match_in("BODY \"GRÜSSE\"", &m, &test_mailbox)); /* ß is not folded to ss */
    assert_true(match_in("BODY \"grüße aus köln\"", &m, &test_mailbox));
    assert_true(match_in("TEXT \"AUS KÖLN\"", &m, &test_mailbox));
    assert_false(match_in("BODY R3LD", &m, &test_mailbox)); /* the decoded body only */
    const char *qp = "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                     "Gr=C3=BC=C3=9Fe a=\r\nus K=C3=B6ln, 1=3D1 =\r\n\r\n";
    m.data = qp;
    m.len = strlen(qp);
    assert_true(match_in("BODY \"grüße aus köln, 1=1\"", &m, &test_mailbox));
    assert_false(match_in("BODY \"=C3\"", &m, &test_mailbox));
    assert_true(match_in("TEXT \"aus köln\"", &m, &test_mailbox));
    /* Other encodings are searched as stored. */
    const char *eightbit = "Content-Transfer-Encoding: 8bit\r\n\r\nGr=C3=BC\r\n";
    m.data = eightbit;
    m.len = strlen(eightbit);
    assert_true(match_in("BODY gr=c3=bc", &m, &test_mailbox));
}

static void test_needs(void **state)
{
    struct {
        const char *q;
        enum imap_search_needs needs;
    } cases[] = {
        {"ALL", IMAP_SEARCH_NEEDS_NOTHING},
        {"SEEN LARGER 5 UID 1:* 1,2 ON 1-Jan-2000", IMAP_SEARCH_NEEDS_NOTHING},
        {"NOT KEYWORD x", IMAP_SEARCH_NEEDS_NOTHING},
        {"SUBJECT x", IMAP_SEARCH_NEEDS_HEADER},
        {"OR SEEN (NOT SENTON 1-Jan-2000)", IMAP_SEARCH_NEEDS_HEADER},
        {"HEADER a b", IMAP_SEARCH_NEEDS_HEADER},
        {"FROM x BODY y", IMAP_SEARCH_NEEDS_MESSAGE},
        {"NOT NOT TEXT y", IMAP_SEARCH_NEEDS_MESSAGE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct imap_search *s;
        char err[128];
        assert_int_equal(compile(cases[i].q, &s, err), IMAP_SEARCH_OK);
        if (imap_search_needs(s) != cases[i].needs)
            fail_msg("%s: needs %d", cases[i].q, imap_search_needs(s));
        imap_search_free(s);
    }
    /* A header-only message is enough for header keys. */
    struct imap_search_msg m = test_msg();
    m.len = (size_t)(strstr(message_text, "\r\n\r\n") - message_text) + 2;
    assert_true(match_in("FROM juergen SENTON 1-Feb-1994", &m, &test_mailbox));
    m.data = NULL;
    m.len = 0;
    assert_true(match_in("SEEN KEYWORD work", &m, &test_mailbox));
}

static void test_nesting(void **state)
{
    YES("NOT DELETED");
    NO("NOT SEEN");
    YES("NOT NOT SEEN");
    YES("OR DELETED SEEN");
    YES("OR SEEN DELETED");
    NO("OR DELETED DRAFT");
    YES("OR DELETED (SEEN FLAGGED)");
    NO("OR DELETED (SEEN DRAFT)");
    YES("(SEEN) (FLAGGED (UNDELETED))");
    YES("OR (DELETED) OR DRAFT NOT ANSWERED");
    NO("NOT OR SEEN DELETED");
    YES("NOT (DELETED SEEN)");
    YES("OR NOT SEEN NOT DELETED");
    bad("NOT", "Missing argument for NOT");
    bad("OR SEEN", "Missing argument for OR");
    bad("OR", "Missing argument for OR");
    bad("()", "Empty search key list");
    bad("SEEN (NOT)", "Missing argument for NOT");
    bad("OR (FROM) SEEN", "Missing argument for FROM");
    /* Depth: 31 nested groups are fine, 32 are not; NOT and OR count. */
    char q[1024];
    for (int depth = 30; depth <= 33; depth++) {
        size_t k = 0;
        for (int i = 0; i < depth; i++)
            q[k++] = '(';
        k += (size_t)snprintf(q + k, sizeof(q) - k, "SEEN");
        for (int i = 0; i < depth; i++)
            q[k++] = ')';
        q[k] = '\0';
        if (depth < IMAP_SEARCH_DEPTH_MAX)
            YES(q);
        else
            bad(q, "nested too deeply");
    }
    q[0] = '\0';
    for (int i = 0; i < IMAP_SEARCH_DEPTH_MAX - 1; i++)
        strcat(q, "NOT ");
    strcat(q, "DELETED");
    assert_true(match(q) == ((IMAP_SEARCH_DEPTH_MAX - 1) % 2 == 0 ? false : true));
    strcat(q, " ");
    memmove(q + 4, q, strlen(q) + 1);
    memcpy(q, "NOT ", 4);
    bad(q, "nested too deeply");
    q[0] = '\0';
    for (int i = 0; i < IMAP_SEARCH_DEPTH_MAX; i++)
        strcat(q, "OR DELETED ");
    strcat(q, "DRAFT SEEN");
    bad(q, "nested too deeply");
}

static void test_key_count(void **state)
{
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < IMAP_SEARCH_KEYS_MAX; i++)
        buf_append_str(&b, i ? " SEEN" : "SEEN");
    YES(b.data);
    buf_append_str(&b, " SEEN");
    bad(b.data, "Too many search keys");
    buf_free(&b);
    /* Keys inside groups and NOT count too. */
    buf_init(&b);
    for (int i = 0; i < IMAP_SEARCH_KEYS_MAX / 2; i++)
        buf_append_str(&b, "(NOT DELETED) ");
    bad(b.data, "Too many search keys");
    buf_free(&b);
}

static void test_sets(void **state)
{
    YES("3");
    YES("1:5");
    YES("5:1");
    NO("4:*");
    YES("3:*"); /* * is 5 */
    NO("1,2,4:5");
    YES("1,2,3:3,4");
    YES("*:3");
    NO("*");
    YES("UID 30");
    NO("UID 3");
    NO("UID 50:*"); /* 50:50 */
    YES("UID 29:*");
    YES("UID *:30");
    NO("UID 31:*");
    YES("UID 1:4294967295");
    /* '*' follows the mailbox given to prepare. */
    struct imap_search_msg m = test_msg();
    struct imap_search_mailbox mb = {.messages = 3, .uid_max = 30};
    assert_true(match_in("* UID *", &m, &mb));
    mb.messages = 0; /* an empty mailbox: '*' is nothing */
    mb.uid_max = 0;
    assert_false(match_in("1:*", &m, &mb));
    assert_false(match_in("UID 1:*", &m, &mb));
    /* Prepare again after the mailbox changed. */
    struct imap_search *s;
    char err[128];
    assert_int_equal(compile("UID 40:*", &s, err), IMAP_SEARCH_OK);
    mb.uid_max = 50;
    imap_search_prepare(s, &mb);
    assert_false(imap_search_match(s, &m));
    mb.uid_max = 20;
    imap_search_prepare(s, &mb);
    assert_true(imap_search_match(s, &m)); /* 20:40 */
    imap_search_free(s);
    bad("0", "Invalid sequence set");
    bad("1:", "Invalid sequence set");
    bad("1,", "Invalid sequence set");
    bad("4294967296", "number over 4294967295");
    bad("UID", "Missing argument for UID");
    bad("UID x", "Invalid sequence set");
    bad("UID \"1\"", "Invalid sequence set");
    bad("UID 1:0", "0 is not");
}

static void test_saved(void **state)
{
    struct imap_search *s;
    char err[128];
    assert_int_equal(compile("$", &s, err), IMAP_SEARCH_OK);
    assert_true(imap_search_uses_saved(s));
    struct imap_search_msg m = test_msg();
    struct imap_search_mailbox mb = test_mailbox;
    imap_search_prepare(s, &mb);
    assert_false(imap_search_match(s, &m)); /* no saved result */
    struct imap_seqlist saved;
    imap_seqlist_from_numbers((uint32_t[]){10, 30, 31}, 3, &saved);
    mb.saved_uids = &saved;
    imap_search_prepare(s, &mb);
    assert_true(imap_search_match(s, &m)); /* by UID even for the sequence-set form */
    m.uid = 29;
    assert_false(imap_search_match(s, &m));
    imap_search_free(s);
    assert_int_equal(compile("OR UID $ SEEN", &s, err), IMAP_SEARCH_OK);
    assert_true(imap_search_uses_saved(s));
    imap_search_free(s);
    assert_int_equal(compile("UID 1:*", &s, err), IMAP_SEARCH_OK);
    assert_false(imap_search_uses_saved(s));
    imap_search_free(s);
    m.uid = 31;
    mb.saved_uids = &saved;
    assert_true(match_in("NOT NOT UID $", &m, &mb));
    imap_seqlist_free(&saved);
    bad("$,1", "Invalid sequence set");
}

static void test_return_charset(void **state)
{
    struct imap_search *s;
    char err[128];
    assert_int_equal(compile("SEEN", &s, err), IMAP_SEARCH_OK);
    assert_false(imap_search_is_esearch(s));
    assert_int_equal(imap_search_return(s), 0);
    imap_search_free(s);
    assert_int_equal(compile("RETURN (MIN max COUNT) SEEN", &s, err), IMAP_SEARCH_OK);
    assert_true(imap_search_is_esearch(s));
    assert_int_equal(imap_search_return(s),
                     IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_COUNT);
    imap_search_free(s);
    assert_int_equal(compile("RETURN () SEEN", &s, err), IMAP_SEARCH_OK);
    assert_int_equal(imap_search_return(s), IMAP_SEARCH_RETURN_ALL);
    imap_search_free(s);
    assert_int_equal(compile("RETURN (SAVE) CHARSET utf-8 ALL", &s, err), IMAP_SEARCH_OK);
    assert_int_equal(imap_search_return(s), IMAP_SEARCH_RETURN_SAVE);
    imap_search_free(s);
    assert_int_equal(compile("RETURN (ALL SAVE MIN) CHARSET \"US-ASCII\" SEEN", &s, err),
                     IMAP_SEARCH_OK);
    assert_int_equal(imap_search_return(s),
                     IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN);
    imap_search_free(s);
    YES("CHARSET UTF-8 SUBJECT caf\xc3\xa9");
    /* Bad charsets: NO with the response code. */
    const char *badcs[] = {"CHARSET ISO-8859-1 SEEN", "CHARSET KOI8-R FROM x",
                           "RETURN (MIN) CHARSET UTF8 ALL", "CHARSET \"\" ALL"};
    for (size_t i = 0; i < sizeof(badcs) / sizeof(badcs[0]); i++) {
        s = (struct imap_search *)1;
        assert_int_equal(compile(badcs[i], &s, err), IMAP_SEARCH_BADCHARSET);
        assert_null(s);
        assert_int_equal(strncmp(err, "[BADCHARSET (UTF-8 US-ASCII)]", 29), 0);
    }
    bad("CHARSET", "Missing argument for CHARSET");
    bad("CHARSET UTF-8", "Missing search keys");
    bad("", "Missing search keys");
    bad("RETURN (MIN)", "Missing search keys");
    bad("RETURN MIN SEEN", "RETURN needs a list");
    bad("RETURN", "RETURN needs a list");
    bad("RETURN (MIN PARTIAL) SEEN", "Unknown RETURN option PARTIAL");
    bad("RETURN ((MIN)) SEEN", "Unknown RETURN option");
    bad("SEEN CHARSET UTF-8", "CHARSET must come before");
    bad("CHARSET UTF-8 RETURN (MIN) SEEN", "RETURN must come before");
}

static void test_unknown_keys(void **state)
{
    bad("FOO", "Unknown search key FOO");
    bad("SEEN BAR", "Unknown search key BAR");
    bad("\"SEEN\"", "Unknown search key (string)");
    bad("NIL", "Unknown search key");
    bad("XMODSEQ 5", "Unknown search key XMODSEQ");
    bad("UNSEENX", "Unknown search key UNSEENX");
    /* A key echoed in the error is bounded and printable. */
    struct imap_search *s;
    char err[128];
    char q[300];
    memset(q, 'K', 200);
    q[200] = '\0';
    assert_int_equal(compile(q, &s, err), IMAP_SEARCH_BAD);
    assert_true(strlen(err) < 80);
    assert_non_null(strstr(err, "..."));
    /* The error buffer's size is respected. */
    struct args t;
    args_parse(&t, "XYZZY");
    char small[8];
    memset(small, 'z', sizeof(small));
    assert_int_equal(imap_search_compile(t.top, t.n, &s, small, sizeof(small)), IMAP_SEARCH_BAD);
    assert_int_equal(small[7], '\0');
    assert_int_equal(imap_search_compile(t.top, t.n, &s, NULL, 0), IMAP_SEARCH_BAD);
    args_free(&t);
}

static void check_output(const char *want, struct buf *b)
{
    assert_string_equal(b->data, want);
    buf_reset(b);
}

static void test_responses(void **state)
{
    struct buf b;
    buf_init(&b);
    imap_search_format_search(&b, (uint32_t[]){2, 3, 10}, 3, 0);
    check_output("* SEARCH 2 3 10\r\n", &b);
    imap_search_format_search(&b, NULL, 0, 0);
    check_output("* SEARCH\r\n", &b);
    uint32_t nums[] = {9, 1, 2, 3, 9};
    imap_search_format_esearch(&b, "a", true,
                               IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX |
                                   IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL,
                               nums, 5, 0);
    check_output("* ESEARCH (TAG \"a\") UID MIN 1 MAX 9 COUNT 4 ALL 1:3,9\r\n", &b);
    imap_search_format_esearch(&b, "A282", false, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_COUNT,
                               (uint32_t[]){2, 10, 11}, 3, 0);
    check_output("* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n", &b);
    /* Nothing matched: no MIN, MAX or ALL, COUNT 0. */
    imap_search_format_esearch(&b, "t", false,
                               IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX |
                                   IMAP_SEARCH_RETURN_COUNT | IMAP_SEARCH_RETURN_ALL,
                               NULL, 0, 0);
    check_output("* ESEARCH (TAG \"t\") COUNT 0\r\n", &b);
    imap_search_format_esearch(&b, "t", true, IMAP_SEARCH_RETURN_ALL, NULL, 0, 0);
    check_output("* ESEARCH (TAG \"t\") UID\r\n", &b);
    /* No option (or SAVE alone) is ALL; a tag with a quote is escaped. */
    imap_search_format_esearch(&b, "q\"\\", false, 0, (uint32_t[]){4, 5}, 2, 0);
    check_output("* ESEARCH (TAG \"q\\\"\\\\\") ALL 4:5\r\n", &b);
    imap_search_format_esearch(&b, NULL, false, IMAP_SEARCH_RETURN_MAX, (uint32_t[]){4}, 1, 0);
    check_output("* ESEARCH MAX 4\r\n", &b);
    buf_free(&b);
}

/* Every message of a small mailbox against a compiled search, compared
 * with the same question asked key by key. */
static void test_mailbox_walk(void **state)
{
    struct imap_search *s;
    char err[128];
    assert_int_equal(compile("OR OR 1:2 UID 40:* NOT SEEN", &s, err), IMAP_SEARCH_OK);
    struct imap_search_mailbox mb = {.messages = 5, .uid_max = 50};
    imap_search_prepare(s, &mb);
    uint32_t uids[] = {10, 20, 30, 40, 50};
    unsigned flags[] = {IMAP_FLAG_SEEN, 0, IMAP_FLAG_SEEN, IMAP_FLAG_SEEN, 0};
    uint32_t found[5];
    size_t n = 0;
    for (uint32_t i = 0; i < 5; i++) {
        struct imap_search_msg m = {.seq = i + 1, .uid = uids[i], .flags = flags[i]};
        if (imap_search_match(s, &m))
            found[n++] = m.uid;
    }
    imap_search_free(s);
    struct buf b;
    buf_init(&b);
    imap_search_format_esearch(&b, "x", true, IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT,
                               found, n, 0);
    assert_string_equal(b.data, "* ESEARCH (TAG \"x\") UID COUNT 4 ALL 10,20,40,50\r\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_sizes),        cmocka_unit_test(test_internal_dates),
        cmocka_unit_test(test_sent_dates),   cmocka_unit_test(test_header_keys),
        cmocka_unit_test(test_body_text),    cmocka_unit_test(test_body_encodings),
        cmocka_unit_test(test_needs),        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_key_count),    cmocka_unit_test(test_sets),
        cmocka_unit_test(test_saved),        cmocka_unit_test(test_return_charset),
        cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_responses),
        cmocka_unit_test(test_mailbox_walk), cmocka_unit_test(test_modseq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
