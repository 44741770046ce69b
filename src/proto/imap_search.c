/*
 * imap_search: compiling the arguments of SEARCH into a tree of search
 * keys (RETURN, CHARSET, every key of RFC 3501 and RFC 9051), with a bound
 * on nesting and on the number of keys so a hostile command costs little;
 * and resolving the tree's sequence sets for a mailbox.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_date.h"
#include "proto/imap_search_int.h"
#include "util/xmalloc.h"

struct compiler {
    const struct imap_arg *args;
    size_t n, pos;
    size_t keys;
    bool failed;
    enum imap_search_status status;
    char *err;
    size_t errlen;
    struct imap_search *s;
};

static void fail(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct compiler *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    c->status = IMAP_SEARCH_BAD;
    if (c->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

/* An atom's text, safe to echo in a reply: printable ASCII, at most 32. */
static const char *shown(const struct imap_arg *a, char *tmp, size_t cap)
{
    size_t k = 0;
    if (a->type != IMAP_ARG_ATOM || a->str == NULL)
        return a->type == IMAP_ARG_LIST ? "(list)" : "(string)";
    for (size_t i = 0; i < a->len && k + 4 < cap && i < 32; i++)
        tmp[k++] = a->str[i] > ' ' && a->str[i] < 0x7f ? a->str[i] : '?';
    if (a->len > 32 && k + 4 < cap)
        tmp[k++] = '.', tmp[k++] = '.', tmp[k++] = '.';
    tmp[k] = '\0';
    return tmp;
}

static bool atom_is(const struct imap_arg *a, const char *word)
{
    size_t wl = strlen(word);
    return a->type == IMAP_ARG_ATOM && a->str != NULL && a->len == wl &&
           strncasecmp(a->str, word, wl) == 0;
}

/* The next argument, an astring, for key (NULL and an error if missing). */
static const struct imap_arg *astring_arg(struct compiler *c, const char *key)
{
    if (c->pos >= c->n) {
        fail(c, "Missing argument for %s", key);
        return NULL;
    }
    const struct imap_arg *a = &c->args[c->pos++];
    if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL) ||
        a->str == NULL) {
        fail(c, "Invalid argument for %s", key);
        return NULL;
    }
    return a;
}

static void set_needs(struct compiler *c, enum imap_search_needs needs)
{
    if (needs > c->s->needs)
        c->s->needs = needs;
}

static void free_node(struct search_node *node)
{
    for (size_t k = 0; k < node->n_kids; k++)
        free_node(&node->kids[k]);
    free(node->kids);
    free(node->str);
    buf_free(&node->needle);
    imap_seqset_free(&node->set);
    imap_seqlist_free(&node->resolved);
}

static bool compile_key(struct compiler *c, unsigned depth, struct search_node *node);

/* Keys until the end of the arguments (the top level or a group); node is
 * an SN_AND. */
static bool compile_all(struct compiler *c, unsigned depth, struct search_node *node)
{
    node->type = SN_AND;
    size_t cap = c->n - c->pos;
    node->kids = cap ? xcalloc(cap, sizeof(node->kids[0])) : NULL;
    while (c->pos < c->n) {
        if (!compile_key(c, depth, &node->kids[node->n_kids++]))
            return false;
    }
    return true;
}

static bool compile_kids(struct compiler *c, unsigned depth, struct search_node *node,
                         enum search_node_type type, size_t count, const char *key)
{
    node->type = type;
    node->kids = xcalloc(count, sizeof(node->kids[0]));
    for (size_t k = 0; k < count; k++) {
        if (c->pos >= c->n) {
            fail(c, "Missing argument for %s", key);
            return false;
        }
        node->n_kids++;
        if (!compile_key(c, depth + 1, &node->kids[k]))
            return false;
    }
    return true;
}

static bool compile_group(struct compiler *c, unsigned depth, const struct imap_arg *list,
                          struct search_node *node)
{
    if (list->n == 0) {
        fail(c, "Empty search key list");
        return false;
    }
    struct compiler sub = *c;
    sub.args = list->list;
    sub.n = list->n;
    sub.pos = 0;
    bool ok = compile_all(&sub, depth + 1, node);
    c->keys = sub.keys;
    c->failed = sub.failed;
    c->status = sub.status;
    return ok;
}

static bool compile_text(struct compiler *c, struct search_node *node, enum search_node_type type,
                         const char *field, const char *key)
{
    const struct imap_arg *a = astring_arg(c, key);
    if (a == NULL)
        return false;
    node->type = type;
    if (field != NULL) {
        node->str = xstrdup(field);
        node->str_len = strlen(field);
    }
    search_fold(a->str, a->len, &node->needle);
    set_needs(c, type == SN_HEADER ? IMAP_SEARCH_NEEDS_HEADER : IMAP_SEARCH_NEEDS_MESSAGE);
    return true;
}

static bool compile_header(struct compiler *c, struct search_node *node)
{
    const struct imap_arg *name = astring_arg(c, "HEADER");
    if (name == NULL)
        return false;
    if (name->len == 0) {
        fail(c, "Invalid header field name");
        return false;
    }
    for (size_t i = 0; i < name->len; i++)
        if ((unsigned char)name->str[i] <= ' ' || (unsigned char)name->str[i] >= 0x7f ||
            name->str[i] == ':') {
            fail(c, "Invalid header field name");
            return false;
        }
    if (!compile_text(c, node, SN_HEADER, NULL, "HEADER"))
        return false;
    node->str = xstrndup(name->str, name->len);
    node->str_len = name->len;
    return true;
}

static bool compile_date(struct compiler *c, struct search_node *node, enum search_node_type type,
                         const char *key)
{
    const struct imap_arg *a = astring_arg(c, key);
    if (a == NULL)
        return false;
    if (!imap_date_parse(a->str, a->len, &node->day)) {
        fail(c, "Invalid date for %s", key);
        return false;
    }
    node->type = type;
    if (type == SN_SENTBEFORE || type == SN_SENTON || type == SN_SENTSINCE)
        set_needs(c, IMAP_SEARCH_NEEDS_HEADER);
    return true;
}

static bool compile_number(struct compiler *c, struct search_node *node, enum search_node_type type,
                           const char *key)
{
    if (c->pos >= c->n) {
        fail(c, "Missing argument for %s", key);
        return false;
    }
    const struct imap_arg *a = &c->args[c->pos++];
    uint64_t v = 0;
    bool ok = a->type == IMAP_ARG_ATOM && a->str != NULL && a->len > 0 && a->len <= 19;
    for (size_t i = 0; ok && i < a->len; i++) {
        ok = a->str[i] >= '0' && a->str[i] <= '9';
        v = v * 10 + (uint64_t)(a->str[i] - '0');
    }
    if (!ok || v > INT64_MAX) { /* number64 (RFC 9051) */
        fail(c, "Invalid number for %s", key);
        return false;
    }
    node->type = type;
    node->number = v;
    return true;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 3.1.5):
 * the entry is a quoted "/flags/NAME", its type "priv", "shared" or "all". */
static bool compile_modseq(struct compiler *c, struct search_node *node)
{
    if (c->pos + 2 < c->n &&
        (c->args[c->pos].type == IMAP_ARG_STRING || c->args[c->pos].type == IMAP_ARG_LITERAL)) {
        const struct imap_arg *entry = &c->args[c->pos++];
        const struct imap_arg *type = &c->args[c->pos++];
        if (entry->str == NULL || entry->len < 8 || strncasecmp(entry->str, "/flags/", 7) != 0) {
            fail(c, "MODSEQ entry names are \"/flags/NAME\"");
            return false;
        }
        if (!atom_is(type, "priv") && !atom_is(type, "shared") && !atom_is(type, "all")) {
            fail(c, "MODSEQ entry types are priv, shared or all");
            return false;
        }
    }
    if (!compile_number(c, node, SN_MODSEQ, "MODSEQ"))
        return false;
    c->s->uses_modseq = true;
    return true;
}

static bool compile_keyword(struct compiler *c, struct search_node *node, const char *key)
{
    if (c->pos >= c->n) {
        fail(c, "Missing argument for %s", key);
        return false;
    }
    const struct imap_arg *a = &c->args[c->pos++];
    bool ok = a->type == IMAP_ARG_ATOM && a->str != NULL && a->len > 0;
    for (size_t i = 0; ok && i < a->len; i++) {
        unsigned char ch = (unsigned char)a->str[i];
        /* atom-char less the list-wildcards and '\' (no system flag) */
        ok = ch > ' ' && ch < 0x7f && !strchr("(){%*\"\\]", ch);
    }
    if (!ok) {
        fail(c, "Invalid keyword for %s", key);
        return false;
    }
    node->type = SN_KEYWORD;
    node->str = xstrndup(a->str, a->len);
    node->str_len = a->len;
    return true;
}

static bool compile_set(struct compiler *c, struct search_node *node, enum search_node_type type,
                        const struct imap_arg *a)
{
    enum imap_seqset_result r = IMAP_SEQSET_SYNTAX;
    if (a->type == IMAP_ARG_ATOM && a->str != NULL)
        r = imap_seqset_parse(a->str, a->len, true, &node->set);
    if (r != IMAP_SEQSET_OK) {
        fail(c, "%s", imap_seqset_error(r));
        return false;
    }
    node->type = type;
    if (node->set.saved)
        c->s->uses_saved = true;
    return true;
}

enum key_kind {
    K_ALL,
    K_FLAG, /* arg: flag bit; unset: the UN- form */
    K_NEW,
    K_TEXT,   /* field: NULL for BODY/TEXT */
    K_HEADER, /* HEADER name value */
    K_DATE,
    K_NUMBER,
    K_KEYWORD,
    K_UNKEYWORD,
    K_NOT,
    K_OR,
    K_UID,
    K_MODSEQ,
};

static const struct search_key_def {
    const char *name;
    enum key_kind kind;
    enum search_node_type type;
    unsigned flag;
    bool unset;
    const char *field;
} key_defs[] = {
    {"ALL", K_ALL, SN_AND, 0, false, NULL},
    {"ANSWERED", K_FLAG, SN_FLAG, IMAP_FLAG_ANSWERED, false, NULL},
    {"BCC", K_TEXT, SN_HEADER, 0, false, "Bcc"},
    {"BEFORE", K_DATE, SN_BEFORE, 0, false, NULL},
    {"BODY", K_TEXT, SN_BODY, 0, false, NULL},
    {"CC", K_TEXT, SN_HEADER, 0, false, "Cc"},
    {"DELETED", K_FLAG, SN_FLAG, IMAP_FLAG_DELETED, false, NULL},
    {"DRAFT", K_FLAG, SN_FLAG, IMAP_FLAG_DRAFT, false, NULL},
    {"FLAGGED", K_FLAG, SN_FLAG, IMAP_FLAG_FLAGGED, false, NULL},
    {"FROM", K_TEXT, SN_HEADER, 0, false, "From"},
    {"HEADER", K_HEADER, SN_HEADER, 0, false, NULL},
    {"KEYWORD", K_KEYWORD, SN_KEYWORD, 0, false, NULL},
    {"LARGER", K_NUMBER, SN_LARGER, 0, false, NULL},
    {"MODSEQ", K_MODSEQ, SN_MODSEQ, 0, false, NULL},
    {"NEW", K_NEW, SN_AND, 0, false, NULL},
    {"NOT", K_NOT, SN_NOT, 0, false, NULL},
    {"OLD", K_FLAG, SN_FLAG, IMAP_FLAG_RECENT, true, NULL},
    {"ON", K_DATE, SN_ON, 0, false, NULL},
    {"OR", K_OR, SN_OR, 0, false, NULL},
    {"RECENT", K_FLAG, SN_FLAG, IMAP_FLAG_RECENT, false, NULL},
    {"SEEN", K_FLAG, SN_FLAG, IMAP_FLAG_SEEN, false, NULL},
    {"SENTBEFORE", K_DATE, SN_SENTBEFORE, 0, false, NULL},
    {"SENTON", K_DATE, SN_SENTON, 0, false, NULL},
    {"SENTSINCE", K_DATE, SN_SENTSINCE, 0, false, NULL},
    {"SINCE", K_DATE, SN_SINCE, 0, false, NULL},
    {"SMALLER", K_NUMBER, SN_SMALLER, 0, false, NULL},
    {"SUBJECT", K_TEXT, SN_HEADER, 0, false, "Subject"},
    {"TEXT", K_TEXT, SN_TEXT, 0, false, NULL},
    {"TO", K_TEXT, SN_HEADER, 0, false, "To"},
    {"UID", K_UID, SN_UID, 0, false, NULL},
    {"UNANSWERED", K_FLAG, SN_FLAG, IMAP_FLAG_ANSWERED, true, NULL},
    {"UNDELETED", K_FLAG, SN_FLAG, IMAP_FLAG_DELETED, true, NULL},
    {"UNDRAFT", K_FLAG, SN_FLAG, IMAP_FLAG_DRAFT, true, NULL},
    {"UNFLAGGED", K_FLAG, SN_FLAG, IMAP_FLAG_FLAGGED, true, NULL},
    {"UNKEYWORD", K_UNKEYWORD, SN_NOT, 0, false, NULL},
    {"UNSEEN", K_FLAG, SN_FLAG, IMAP_FLAG_SEEN, true, NULL},
};

static const struct search_key_def *find_key(const struct imap_arg *a)
{
    for (size_t k = 0; k < sizeof(key_defs) / sizeof(key_defs[0]); k++)
        if (atom_is(a, key_defs[k].name))
            return &key_defs[k];
    return NULL;
}

static bool compile_def(struct compiler *c, unsigned depth, const struct search_key_def *def,
                        struct search_node *node)
{
    switch (def->kind) {
    case K_ALL:
        node->type = SN_AND;
        return true;
    case K_FLAG:
        node->type = SN_FLAG;
        node->flag = def->flag;
        node->flag_unset = def->unset;
        return true;
    case K_NEW: /* RECENT UNSEEN */
        node->type = SN_AND;
        node->kids = xcalloc(2, sizeof(node->kids[0]));
        node->n_kids = 2;
        node->kids[0] = (struct search_node){.type = SN_FLAG, .flag = IMAP_FLAG_RECENT};
        node->kids[1] =
            (struct search_node){.type = SN_FLAG, .flag = IMAP_FLAG_SEEN, .flag_unset = true};
        return true;
    case K_TEXT:
        return compile_text(c, node, def->type, def->field, def->name);
    case K_HEADER:
        return compile_header(c, node);
    case K_DATE:
        return compile_date(c, node, def->type, def->name);
    case K_NUMBER:
        return compile_number(c, node, def->type, def->name);
    case K_KEYWORD:
        return compile_keyword(c, node, def->name);
    case K_UNKEYWORD:
        node->type = SN_NOT;
        node->kids = xcalloc(1, sizeof(node->kids[0]));
        node->n_kids = 1;
        return compile_keyword(c, &node->kids[0], def->name);
    case K_NOT:
        return compile_kids(c, depth, node, SN_NOT, 1, def->name);
    case K_OR:
        return compile_kids(c, depth, node, SN_OR, 2, def->name);
    case K_UID:
        if (c->pos >= c->n) {
            fail(c, "Missing argument for UID");
            return false;
        }
        return compile_set(c, node, SN_UID, &c->args[c->pos++]);
    case K_MODSEQ:
        return compile_modseq(c, node);
    }
    return false;
}

static bool compile_key(struct compiler *c, unsigned depth, struct search_node *node)
{
    char tmp[48];
    if (depth >= IMAP_SEARCH_DEPTH_MAX) {
        fail(c, "Search keys nested too deeply");
        return false;
    }
    if (++c->keys > IMAP_SEARCH_KEYS_MAX) {
        fail(c, "Too many search keys");
        return false;
    }
    const struct imap_arg *a = &c->args[c->pos++];
    if (a->type == IMAP_ARG_LIST)
        return compile_group(c, depth, a, node);
    const struct search_key_def *def = find_key(a);
    if (def != NULL)
        return compile_def(c, depth, def, node);
    if (a->type == IMAP_ARG_ATOM && a->str != NULL && a->len > 0 &&
        ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*' || a->str[0] == '$'))
        return compile_set(c, node, SN_SEQ, a);
    if (atom_is(a, "CHARSET") || atom_is(a, "RETURN"))
        fail(c, "%s must come before the search keys", a->str);
    else
        fail(c, "Unknown search key %s", shown(a, tmp, sizeof(tmp)));
    return false;
}

static bool compile_return(struct compiler *c)
{
    const struct imap_arg *list = c->pos < c->n ? &c->args[c->pos++] : NULL;
    char tmp[48];
    if (list == NULL || list->type != IMAP_ARG_LIST) {
        fail(c, "RETURN needs a list of options");
        return false;
    }
    static const struct {
        const char *name;
        unsigned bit;
    } opts[] = {{"MIN", IMAP_SEARCH_RETURN_MIN},
                {"MAX", IMAP_SEARCH_RETURN_MAX},
                {"ALL", IMAP_SEARCH_RETURN_ALL},
                {"COUNT", IMAP_SEARCH_RETURN_COUNT},
                {"SAVE", IMAP_SEARCH_RETURN_SAVE}};
    c->s->esearch = true;
    for (size_t k = 0; k < list->n; k++) {
        size_t o = 0;
        while (o < sizeof(opts) / sizeof(opts[0]) && !atom_is(&list->list[k], opts[o].name))
            o++;
        if (o == sizeof(opts) / sizeof(opts[0])) {
            fail(c, "Unknown RETURN option %s", shown(&list->list[k], tmp, sizeof(tmp)));
            return false;
        }
        c->s->ret |= opts[o].bit;
    }
    if (list->n == 0) /* RFC 4731 3.1: "RETURN ()" is "RETURN (ALL)" */
        c->s->ret = IMAP_SEARCH_RETURN_ALL;
    return true;
}

static bool compile_charset(struct compiler *c)
{
    const struct imap_arg *a = astring_arg(c, "CHARSET");
    if (a == NULL)
        return false;
    if ((a->len == 5 && strncasecmp(a->str, "UTF-8", 5) == 0) ||
        (a->len == 8 && strncasecmp(a->str, "US-ASCII", 8) == 0))
        return true;
    c->failed = true;
    c->status = IMAP_SEARCH_BADCHARSET;
    if (c->errlen > 0)
        snprintf(c->err, c->errlen, "%s Unsupported charset", IMAP_SEARCH_BADCHARSET_CODE);
    return false;
}

enum imap_search_status imap_search_compile(const struct imap_arg *args, size_t n,
                                            struct imap_search **out, char *err, size_t errlen)
{
    struct imap_search *s = xcalloc(1, sizeof(*s));
    struct compiler c = {.args = args, .n = n, .err = err, .errlen = errlen, .s = s};
    bool ok = true;
    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (c.pos < c.n && atom_is(&args[c.pos], "RETURN")) {
        c.pos++;
        ok = compile_return(&c);
    }
    if (ok && c.pos < c.n && atom_is(&args[c.pos], "CHARSET")) {
        c.pos++;
        ok = compile_charset(&c);
    }
    if (ok && c.pos >= c.n) {
        fail(&c, "Missing search keys");
        ok = false;
    }
    if (ok)
        ok = compile_all(&c, 0, &s->root);
    if (!ok) {
        imap_search_free(s);
        return c.status;
    }
    *out = s;
    return IMAP_SEARCH_OK;
}

void imap_search_free(struct imap_search *s)
{
    if (s == NULL)
        return;
    free_node(&s->root);
    free(s);
}

bool imap_search_is_esearch(const struct imap_search *s)
{
    return s->esearch;
}

unsigned imap_search_return(const struct imap_search *s)
{
    return s->ret;
}

enum imap_search_needs imap_search_needs(const struct imap_search *s)
{
    return s->needs;
}

bool imap_search_uses_saved(const struct imap_search *s)
{
    return s->uses_saved;
}

bool imap_search_uses_modseq(const struct imap_search *s)
{
    return s->uses_modseq;
}

static void prepare_node(struct search_node *node, const struct imap_search_mailbox *mb)
{
    for (size_t k = 0; k < node->n_kids; k++)
        prepare_node(&node->kids[k], mb);
    if (node->type != SN_SEQ && node->type != SN_UID)
        return;
    imap_seqlist_free(&node->resolved);
    imap_seqset_resolve(&node->set, node->type == SN_SEQ ? mb->messages : mb->uid_max,
                        &node->resolved);
    node->is_resolved = true;
}

void imap_search_prepare(struct imap_search *s, const struct imap_search_mailbox *mb)
{
    s->saved_uids = mb->saved_uids;
    prepare_node(&s->root, mb);
}
