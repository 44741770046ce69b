/*
 * imap_search_eval: matching a compiled search against one message, and
 * the untagged SEARCH and ESEARCH responses. What a message's text costs
 * (locating its header section, decoding a field) is done only for the
 * keys that ask for it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_date.h"
#include "proto/imap_search_int.h"

struct eval {
    const struct imap_search *s;
    const struct imap_search_msg *m;
    size_t header_len, body; /* from search_split, once data is looked at */
    bool split;
    int sent; /* -1: not looked up yet; 0: no valid Date: field; 1: sent_day */
    int64_t sent_day;
    int decoded; /* -1: not looked at yet; 0: the body is as stored; 1: body_text */
    struct buf value, scratch, body_text;
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

/* Whether a field named name (or any field, name NULL) has needle in its
 * decoded value. */
static bool field_match(struct eval *e, const char *name, size_t name_len, const struct buf *needle)
{
    const char *fname, *value;
    size_t fname_len, value_len, pos = 0;
    split(e);
    while (search_next_field(e->m->data, e->header_len, &pos, &fname, &fname_len, &value,
                             &value_len)) {
        if (name != NULL && !name_is(fname, fname_len, name, name_len))
            continue;
        buf_reset(&e->value);
        search_decode_value(value, value_len, &e->value);
        if (search_contains(e->value.data, e->value.len, needle, &e->scratch))
            return true;
    }
    return false;
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

/* The body to search: decoded when the message's own
 * Content-Transfer-Encoding is base64 or quoted-printable (a single-part
 * message; the parts of a multipart one are searched as stored). */
static void body(struct eval *e, const char **b_r, size_t *len_r)
{
    split(e);
    if (e->decoded < 0) {
        const char *fname, *value;
        size_t fname_len, value_len, pos = 0;
        e->decoded = 0;
        while (search_next_field(e->m->data, e->header_len, &pos, &fname, &fname_len, &value,
                                 &value_len)) {
            if (!name_is(fname, fname_len, "Content-Transfer-Encoding", 25))
                continue;
            while (value_len > 0 && (*value == ' ' || *value == '\t'))
                value++, value_len--;
            while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
                value_len--;
            bool b64 = name_is(value, value_len, "base64", 6);
            if (b64 || name_is(value, value_len, "quoted-printable", 16)) {
                e->decoded = 1;
                search_decode_body(e->m->data + e->body, e->m->len - e->body, b64, &e->body_text);
            }
            break;
        }
    }
    if (e->decoded == 1) {
        *b_r = e->body_text.data;
        *len_r = e->body_text.len;
    } else {
        *b_r = e->m->data + e->body;
        *len_r = e->m->len - e->body;
    }
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
    const char *b;
    size_t blen;
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
    case SN_HEADER:
        return field_match(e, node->str, node->str_len, &node->needle);
    case SN_BODY:
        if (m->data == NULL)
            return false;
        body(e, &b, &blen);
        return search_contains(b, blen, &node->needle, &e->scratch);
    case SN_TEXT:
        if (m->data == NULL)
            return false;
        if (search_contains(m->data, m->len, &node->needle, &e->scratch))
            return true; /* raw: header and body at once */
        body(e, &b, &blen);
        if (e->decoded == 1 && search_contains(b, blen, &node->needle, &e->scratch))
            return true;
        return field_match(e, NULL, 0, &node->needle);
    case SN_SEQ:
        return in_set(e, node, m->seq);
    case SN_UID:
        return in_set(e, node, m->uid);
    }
    return false;
}

bool imap_search_match(const struct imap_search *s, const struct imap_search_msg *m)
{
    struct eval e = {.s = s, .m = m, .sent = -1, .decoded = -1};
    buf_init(&e.value);
    buf_init(&e.scratch);
    buf_init(&e.body_text);
    bool r = eval_node(&e, &s->root);
    buf_free(&e.value);
    buf_free(&e.scratch);
    buf_free(&e.body_text);
    return r;
}

void imap_search_format_search(struct buf *out, const uint32_t *nums, size_t n)
{
    buf_append_str(out, "* SEARCH");
    for (size_t k = 0; k < n; k++)
        buf_printf(out, " %u", (unsigned)nums[k]);
    buf_append_str(out, "\r\n");
}

void imap_search_format_esearch(struct buf *out, const char *tag, bool uid, unsigned ret,
                                const uint32_t *nums, size_t n)
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
    buf_append_str(out, "\r\n");
    imap_seqlist_free(&list);
}
