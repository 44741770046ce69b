/*
 * imap_search_eval: matching a compiled search against one message, and
 * the untagged SEARCH and ESEARCH responses. What a message's text costs
 * (locating its header section, decoding a field, its MIME tree and the
 * decoded text of its parts) is done only for the keys that ask for it,
 * and at most once per message.
 *
 * BODY and TEXT follow Dovecot (lib-mail message-search.c): the body of
 * every part whose type is text/... or message/... (or none: text/plain)
 * is searched, decoded from its Content-Transfer-Encoding and converted
 * from its charset to UTF-8; other parts (images, attachments), the
 * preamble and epilogue of a multipart are not searched. TEXT adds the
 * header of every part, the message's own and the MIME ones, raw and
 * decoded. HTML is text as it stands: tags and entities are not touched.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_date.h"
#include "proto/imap_search_int.h"
#include "proto/imap_section.h"
#include "proto/mime.h"
#include "util/xmalloc.h"

struct eval {
    const struct imap_search *s;
    const struct imap_search_msg *m;
    size_t header_len, body; /* from search_split, once data is looked at */
    bool split;
    int sent; /* -1: not looked up yet; 0: no valid Date: field; 1: sent_day */
    int64_t sent_day;
    struct mime_part *tree; /* NULL until a BODY or TEXT key needs it */
    /* The decoded, UTF-8, case-folded text of the searched parts, one
     * after another; part k ends at text_ends[k] (a match must not span
     * two parts). */
    bool texts_done;
    struct buf texts;
    size_t *text_ends, n_texts, cap_texts;
    struct buf value, scratch;
};

static void split(struct eval *e)
{
    if (e->split)
        return;
    e->split = true;
    if (e->m->data == NULL) {
        e->header_len = e->body = 0;
        return;
    }
    search_split(e->m->data, e->m->len, &e->header_len, &e->body);
}

static bool name_is(const char *name, size_t len, const char *want, size_t want_len)
{
    return len == want_len && strncasecmp(name, want, len) == 0;
}

/* Whether a field of the header h[0..len) named name (or any field, name
 * NULL) has needle in its decoded value. */
static bool fields_match(struct eval *e, const char *h, size_t len, const char *name,
                         size_t name_len, const struct buf *needle)
{
    const char *fname, *value;
    size_t fname_len, value_len, pos = 0;
    while (search_next_field(h, len, &pos, &fname, &fname_len, &value, &value_len)) {
        if (name != NULL && !name_is(fname, fname_len, name, name_len))
            continue;
        buf_reset(&e->value);
        search_decode_value(value, value_len, &e->value);
        if (search_contains(e->value.data, e->value.len, needle, &e->scratch))
            return true;
    }
    return false;
}

/* The same in the message's own header section. */
static bool field_match(struct eval *e, const char *name, size_t name_len, const struct buf *needle)
{
    split(e);
    return fields_match(e, e->m->data, e->header_len, name, name_len, needle);
}

static bool sent_day(struct eval *e, int64_t *day_r)
{
    if (e->sent < 0) {
        const char *fname, *value;
        size_t fname_len, value_len, pos = 0;
        e->sent = 0;
        split(e);
        while (search_next_field(e->m->data, e->header_len, &pos, &fname, &fname_len, &value,
                                 &value_len)) {
            time_t when;
            int tz;
            if (!name_is(fname, fname_len, "Date", 4))
                continue;
            if (imap_rfc5322_date_parse(value, value_len, &when, &tz)) {
                e->sent = 1;
                e->sent_day = imap_day_of(when, tz);
            }
            break; /* the first Date: field is the one */
        }
    }
    *day_r = e->sent_day;
    return e->sent == 1;
}

static const char *param(const struct mime_params *ps, const char *name)
{
    for (size_t k = 0; k < ps->n; k++)
        if (strcasecmp(ps->v[k].name, name) == 0)
            return ps->v[k].value;
    return NULL;
}

/* The part's Content-Transfer-Encoding. The tree drops the Content-*
 * fields of a header without MIME-Version or Content-Type; Dovecot's
 * decoder still honours such a field, and so is it read here. */
static void part_encoding(const struct eval *e, const struct mime_part *p, struct buf *out)
{
    buf_reset(out);
    buf_append(out, "", 0); /* a string, even when empty */
    if (p->encoding != NULL) {
        buf_append_str(out, p->encoding);
        return;
    }
    struct mime_field f;
    size_t pos = 0;
    while (mime_field_next(e->m->data + p->hdr_off, p->hdr_len, &pos, &f)) {
        if (!name_is(f.name, f.name_len, "Content-Transfer-Encoding", 25))
            continue;
        const char *v = f.value;
        size_t n = f.value_len;
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
            n--;
        buf_append(out, v, n);
        return; /* the first one counts */
    }
}

/* Whether Dovecot searches the part's body: text/... or message/..., or
 * no Content-Type (text/plain); a multipart's own body (preamble,
 * epilogue) is not. */
static bool part_is_searched(const struct mime_part *p)
{
    if (p->first_child != NULL)
        return false;
    return p->type == NULL || strcasecmp(p->type, "text") == 0 ||
           strcasecmp(p->type, "message") == 0;
}

/* Appends the searched text of p (decoded, UTF-8, folded) to e->texts. */
static void add_part_text(struct eval *e, const struct mime_part *p)
{
    const char *body = e->m->data + p->body_off;
    size_t len = p->body_len;
    part_encoding(e, p, &e->value);
    buf_reset(&e->scratch);
    if (strcasecmp(e->value.data, "base64") == 0) {
        imap_decode_base64(body, len, &e->scratch);
    } else if (strcasecmp(e->value.data, "quoted-printable") == 0) {
        imap_decode_qp(body, len, &e->scratch);
    } else {
        buf_append(&e->scratch, body, len); /* 7bit, 8bit, binary, unknown: as stored */
    }
    buf_reset(&e->value);
    search_to_utf8(e->scratch.data, e->scratch.len, param(&p->type_params, "charset"), &e->value);
    search_fold(e->value.data, e->value.len, &e->texts);
    if (e->n_texts == e->cap_texts) {
        e->cap_texts = e->cap_texts ? e->cap_texts * 2 : 8;
        e->text_ends = xrealloc(e->text_ends, e->cap_texts * sizeof(*e->text_ends));
    }
    e->text_ends[e->n_texts++] = e->texts.len;
}

static struct mime_part *tree(struct eval *e)
{
    if (e->tree == NULL)
        e->tree = mime_parse(e->m->data, e->m->len); /* LF lines parse as well */
    return e->tree;
}

/* The next part of the tree in depth-first order after p, or NULL. */
static const struct mime_part *next_part(const struct mime_part *p)
{
    if (p->first_child != NULL)
        return p->first_child;
    while (p != NULL && p->next == NULL)
        p = p->parent;
    return p != NULL ? p->next : NULL;
}

/* Whether the needle is in the decoded text of a searched part. */
static bool body_match(struct eval *e, const struct buf *needle)
{
    if (needle->len == 0)
        return true;
    if (!e->texts_done) {
        e->texts_done = true;
        for (const struct mime_part *p = tree(e); p != NULL; p = next_part(p))
            if (part_is_searched(p))
                add_part_text(e, p);
    }
    size_t start = 0;
    for (size_t k = 0; k < e->n_texts; k++) {
        size_t end = e->text_ends[k];
        if (memmem(e->texts.data + start, end - start, needle->data, needle->len) != NULL)
            return true;
        start = end;
    }
    return false;
}

/* Whether the needle is in the header of a part, the message's own or a
 * MIME one, as stored or decoded. */
static bool headers_match(struct eval *e, const struct buf *needle)
{
    for (const struct mime_part *p = tree(e); p != NULL; p = next_part(p)) {
        const char *h = e->m->data + p->hdr_off;
        if (search_contains(h, p->hdr_len, needle, &e->scratch) ||
            fields_match(e, h, p->hdr_len, NULL, 0, needle))
            return true;
    }
    return false;
}

static bool has_keyword(const struct imap_search_msg *m, const char *kw, size_t len)
{
    for (size_t k = 0; k < m->n_keywords; k++)
        if (m->keywords[k] != NULL && strlen(m->keywords[k]) == len &&
            strncasecmp(m->keywords[k], kw, len) == 0)
            return true;
    return false;
}

static bool in_set(const struct eval *e, const struct search_node *node, uint32_t n)
{
    if (node->set.saved)
        return e->s->saved_uids != NULL && imap_seqlist_contains(e->s->saved_uids, e->m->uid);
    if (node->is_resolved)
        return imap_seqlist_contains(&node->resolved, n);
    return imap_seqset_contains(&node->set, n, 0); /* not prepared: '*' is nothing */
}

static bool eval_node(struct eval *e, const struct search_node *node)
{
    const struct imap_search_msg *m = e->m;
    int64_t day;
    switch (node->type) {
    case SN_AND:
        for (size_t k = 0; k < node->n_kids; k++)
            if (!eval_node(e, &node->kids[k]))
                return false;
        return true;
    case SN_OR:
        return eval_node(e, &node->kids[0]) || eval_node(e, &node->kids[1]);
    case SN_NOT:
        return !eval_node(e, &node->kids[0]);
    case SN_FLAG:
        return ((m->flags & node->flag) != 0) != node->flag_unset;
    case SN_KEYWORD:
        return has_keyword(m, node->str, node->str_len);
    case SN_BEFORE:
        return imap_day_of(m->internal_date, m->internal_tz) < node->day;
    case SN_ON:
        return imap_day_of(m->internal_date, m->internal_tz) == node->day;
    case SN_SINCE:
        return imap_day_of(m->internal_date, m->internal_tz) >= node->day;
    case SN_SENTBEFORE:
        return sent_day(e, &day) && day < node->day;
    case SN_SENTON:
        return sent_day(e, &day) && day == node->day;
    case SN_SENTSINCE:
        return sent_day(e, &day) && day >= node->day;
    case SN_LARGER:
        return m->size > node->number;
    case SN_SMALLER:
        return m->size < node->number;
    case SN_MODSEQ:
        return m->modseq >= node->number;
    case SN_HEADER:
        return field_match(e, node->str, node->str_len, &node->needle);
    case SN_BODY:
        return m->data != NULL && body_match(e, &node->needle);
    case SN_TEXT:
        return m->data != NULL && (headers_match(e, &node->needle) || body_match(e, &node->needle));
    case SN_SEQ:
        return in_set(e, node, m->seq);
    case SN_UID:
        return in_set(e, node, m->uid);
    }
    return false;
}

bool imap_search_match(const struct imap_search *s, const struct imap_search_msg *m)
{
    struct eval e = {.s = s, .m = m, .sent = -1};
    buf_init(&e.value);
    buf_init(&e.scratch);
    buf_init(&e.texts);
    bool r = eval_node(&e, &s->root);
    buf_free(&e.value);
    buf_free(&e.scratch);
    buf_free(&e.texts);
    free(e.text_ends);
    if (e.tree != NULL)
        mime_free(e.tree);
    return r;
}

void imap_search_format_search(struct buf *out, const uint32_t *nums, size_t n, uint64_t modseq)
{
    buf_append_str(out, "* SEARCH");
    for (size_t k = 0; k < n; k++)
        buf_printf(out, " %u", (unsigned)nums[k]);
    if (modseq && n)
        buf_printf(out, " (MODSEQ %llu)", (unsigned long long)modseq);
    buf_append_str(out, "\r\n");
}

void imap_search_format_esearch(struct buf *out, const char *tag, bool uid, unsigned ret,
                                const uint32_t *nums, size_t n, uint64_t modseq)
{
    struct imap_seqlist list;
    imap_seqlist_from_numbers(nums, n, &list);
    if ((ret & ~(unsigned)IMAP_SEARCH_RETURN_SAVE) == 0)
        ret |= IMAP_SEARCH_RETURN_ALL;
    buf_append_str(out, "* ESEARCH");
    if (tag != NULL) {
        buf_append_str(out, " (TAG \"");
        for (const char *p = tag; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_append_char(out, '\\');
            buf_append_char(out, *p);
        }
        buf_append_str(out, "\")");
    }
    if (uid)
        buf_append_str(out, " UID");
    if (list.n > 0 && (ret & IMAP_SEARCH_RETURN_MIN))
        buf_printf(out, " MIN %u", (unsigned)list.ranges[0].first);
    if (list.n > 0 && (ret & IMAP_SEARCH_RETURN_MAX))
        buf_printf(out, " MAX %u", (unsigned)list.ranges[list.n - 1].last);
    if (ret & IMAP_SEARCH_RETURN_COUNT)
        buf_printf(out, " COUNT %llu", (unsigned long long)imap_seqlist_count(&list));
    if (list.n > 0 && (ret & IMAP_SEARCH_RETURN_ALL)) {
        buf_append_str(out, " ALL ");
        imap_seqlist_format(out, &list);
    }
    if (modseq && list.n > 0)
        buf_printf(out, " MODSEQ %llu", (unsigned long long)modseq);
    buf_append_str(out, "\r\n");
    imap_seqlist_free(&list);
}
