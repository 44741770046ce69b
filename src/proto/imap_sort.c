/*
 * imap_sort: SORT's criteria, the per-message keys and the sort itself
 * (a merge sort over indexes: stable and with the spec at hand, without
 * qsort_r), and the SORT and ESORT answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_basesubject.h"
#include "proto/imap_date.h"
#include "proto/imap_search_int.h"
#include "proto/imap_sort.h"
#include "util/xmalloc.h"

static const struct {
    const char *name;
    enum imap_sort_field field;
} sort_names[] = {
    {"ARRIVAL", IMAP_SORT_ARRIVAL},
    {"CC", IMAP_SORT_CC},
    {"DATE", IMAP_SORT_DATE},
    {"FROM", IMAP_SORT_FROM},
    {"SIZE", IMAP_SORT_SIZE},
    {"SUBJECT", IMAP_SORT_SUBJECT},
    {"TO", IMAP_SORT_TO},
    {"DISPLAYFROM", IMAP_SORT_DISPLAYFROM},
    {"DISPLAYTO", IMAP_SORT_DISPLAYTO},
};

static enum imap_search_status fail(char *err, size_t errlen, const char *msg,
                                    const struct imap_arg *a)
{
    if (errlen == 0)
        return IMAP_SEARCH_BAD;
    if (a != NULL && a->type == IMAP_ARG_ATOM && a->str != NULL)
        snprintf(err, errlen, "%s: %.40s", msg, a->str);
    else
        snprintf(err, errlen, "%s", msg);
    return IMAP_SEARCH_BAD;
}

static enum imap_search_status compile_return(const struct imap_arg *list,
                                              struct imap_sort_spec *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned bit;
    } opts[] = {{"MIN", IMAP_SEARCH_RETURN_MIN},
                {"MAX", IMAP_SEARCH_RETURN_MAX},
                {"ALL", IMAP_SEARCH_RETURN_ALL},
                {"COUNT", IMAP_SEARCH_RETURN_COUNT},
                {"SAVE", IMAP_SEARCH_RETURN_SAVE}};
    if (list == NULL || list->type != IMAP_ARG_LIST)
        return fail(err, errlen, "RETURN needs a list of options", NULL);
    out->esort = true;
    for (size_t k = 0; k < list->n; k++) {
        size_t o = 0;
        while (o < sizeof(opts) / sizeof(opts[0]) &&
               !imap_arg_atom_is(&list->list[k], opts[o].name))
            o++;
        if (o == sizeof(opts) / sizeof(opts[0]))
            return fail(err, errlen, "Unknown RETURN option", &list->list[k]);
        out->ret |= opts[o].bit;
    }
    if (list->n == 0) /* RFC 4731 3.1, which RFC 5267 follows: "RETURN ()" is ALL */
        out->ret = IMAP_SEARCH_RETURN_ALL;
    return IMAP_SEARCH_OK;
}

static enum imap_search_status
compile_criteria(const struct imap_arg *list, struct imap_sort_spec *out, char *err, size_t errlen)
{
    if (list == NULL || list->type != IMAP_ARG_LIST)
        return fail(err, errlen, "SORT needs a parenthesised list of sort criteria", NULL);
    if (list->n == 0)
        return fail(err, errlen, "Empty sort criteria", NULL);
    bool reverse = false;
    for (size_t k = 0; k < list->n; k++) {
        const struct imap_arg *a = &list->list[k];
        if (imap_arg_atom_is(a, "REVERSE")) {
            if (reverse)
                return fail(err, errlen, "REVERSE twice", NULL);
            reverse = true;
            continue;
        }
        size_t i = 0;
        while (i < sizeof(sort_names) / sizeof(sort_names[0]) &&
               !imap_arg_atom_is(a, sort_names[i].name))
            i++;
        if (i == sizeof(sort_names) / sizeof(sort_names[0]))
            return fail(err, errlen, "Unknown sort criterion", a);
        if (out->n_crit == IMAP_SORT_CRITERIA_MAX)
            return fail(err, errlen, "Too many sort criteria", NULL);
        out->crit[out->n_crit].field = sort_names[i].field;
        out->crit[out->n_crit].reverse = reverse;
        out->n_crit++;
        reverse = false;
    }
    if (reverse)
        return fail(err, errlen, "REVERSE must be followed by a sort criterion", NULL);
    return IMAP_SEARCH_OK;
}

enum imap_search_status imap_sort_compile(const struct imap_arg *args, size_t n,
                                          struct imap_sort_spec *out, char *err, size_t errlen)
{
    enum imap_search_status st;
    size_t pos = 0;
    memset(out, 0, sizeof(*out));
    if (errlen > 0)
        err[0] = '\0';
    if (pos < n && imap_arg_atom_is(&args[pos], "RETURN")) {
        pos++;
        st = compile_return(pos < n ? &args[pos] : NULL, out, err, errlen);
        if (st != IMAP_SEARCH_OK)
            return st;
        pos++;
    }
    st = compile_criteria(pos < n ? &args[pos] : NULL, out, err, errlen);
    if (st != IMAP_SEARCH_OK)
        return st;
    pos++;
    if (pos >= n || !imap_arg_is_astring(&args[pos]) || args[pos].str == NULL)
        return fail(err, errlen, "SORT needs a charset after the sort criteria", NULL);
    const struct imap_arg *cs = &args[pos++];
    if (!(cs->len == 5 && strncasecmp(cs->str, "UTF-8", 5) == 0) &&
        !(cs->len == 8 && strncasecmp(cs->str, "US-ASCII", 8) == 0)) {
        if (errlen > 0)
            snprintf(err, errlen, "%s Unsupported charset", IMAP_SEARCH_BADCHARSET_CODE);
        return IMAP_SEARCH_BADCHARSET;
    }
    if (pos >= n)
        return fail(err, errlen, "Missing search keys", NULL);
    out->search_at = pos;
    return IMAP_SEARCH_OK;
}

bool imap_sort_needs_header(const struct imap_sort_spec *s)
{
    for (size_t k = 0; k < s->n_crit; k++)
        if (s->crit[k].field != IMAP_SORT_ARRIVAL && s->crit[k].field != IMAP_SORT_SIZE)
            return true;
    return false;
}

bool imap_sort_field(const char *hdr, size_t len, const char *name, const char **value_r,
                     size_t *value_len_r)
{
    size_t hlen, body, pos = 0, nlen = strlen(name);
    const char *fname;
    size_t fname_len;
    if (hdr == NULL)
        return false;
    search_split(hdr, len, &hlen, &body);
    while (search_next_field(hdr, hlen, &pos, &fname, &fname_len, value_r, value_len_r))
        if (fname_len == nlen && strncasecmp(fname, name, nlen) == 0)
            return true;
    return false;
}

time_t imap_sort_sent_date(const char *hdr, size_t len, time_t internal_date)
{
    const char *v;
    size_t vlen;
    time_t when;
    int tz;
    if (imap_sort_field(hdr, len, "Date", &v, &vlen) &&
        imap_rfc5322_date_parse(v, vlen, &when, &tz))
        return when;
    return internal_date;
}

/* Skips the comment at v[i] == '(' (nested, with quoted pairs): the index
 * after it (len when it is not closed). */
static size_t skip_comment(const char *v, size_t len, size_t i)
{
    unsigned depth = 0;
    for (; i < len; i++) {
        if (v[i] == '\\') {
            i++;
        } else if (v[i] == '(') {
            depth++;
        } else if (v[i] == ')' && --depth == 0) {
            return i + 1;
        }
    }
    return len;
}

/* Appends the quoted string at v[i] == '"' unquoted to a and b (b may be
 * NULL): the index after it. */
static size_t take_quoted(const char *v, size_t len, size_t i, struct buf *a, struct buf *b)
{
    for (i++; i < len && v[i] != '"'; i++) {
        if (v[i] == '\\' && i + 1 < len)
            i++;
        if (v[i] == '\r' || v[i] == '\n')
            continue;
        buf_append_char(a, v[i]);
        if (b != NULL)
            buf_append_char(b, v[i]);
    }
    return i < len ? i + 1 : len;
}

/* The addr-spec inside "<...>" from v[i] (after '<'): a route ("@a,@b:")
 * and blanks and comments dropped. The index after '>'. */
static size_t take_angle(const char *v, size_t len, size_t i, struct buf *spec)
{
    size_t start = spec->len;
    while (i < len && v[i] != '>') {
        char c = v[i];
        if (c == '(') {
            i = skip_comment(v, len, i);
        } else if (c == '"') {
            i = take_quoted(v, len, i, spec, NULL);
        } else if (c == ':' && spec->len > start && spec->data[start] == '@') {
            spec->len = start; /* the end of a route */
            spec->data[start] = '\0';
            i++;
        } else {
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
                buf_append_char(spec, c);
            i++;
        }
    }
    return i < len ? i + 1 : len;
}

/* The first mailbox of an address-list value (lenient: groups entered,
 * empty elements and group names skipped): its raw display name (encoded
 * words still encoded) and its addr-spec. */
static void first_mailbox(const char *v, size_t len, struct buf *name, struct buf *spec)
{
    struct buf bare; /* the tokens without blanks: a bare addr-spec */
    buf_init(&bare);
    bool blank = false;
    size_t i = 0;
    while (i < len) {
        char c = v[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(') {
            i = c == '(' ? skip_comment(v, len, i) : i + 1;
            blank = name->len > 0;
            continue;
        }
        if (c == '<') {
            take_angle(v, len, i + 1, spec);
            buf_free(&bare);
            return;
        }
        if (c == ':' || c == ';' || c == ',') {
            if (c == ',' && bare.len > 0)
                break;
            buf_reset(name);
            buf_reset(&bare);
            blank = false;
            i++;
            continue;
        }
        if (blank)
            buf_append_char(name, ' ');
        blank = false;
        if (c == '"') {
            i = take_quoted(v, len, i, name, &bare);
        } else {
            buf_append_char(name, c);
            buf_append_char(&bare, c);
            i++;
        }
    }
    /* A bare addr-spec: it has no display name. */
    buf_reset(name);
    buf_append(spec, bare.data, bare.len);
    buf_free(&bare);
}

enum addr_part { ADDR_MAILBOX, ADDR_DISPLAY };

static char *address_key(const char *hdr, size_t len, const char *field, enum addr_part part)
{
    struct buf name, spec, text, key;
    const char *v;
    size_t vlen;
    buf_init(&name);
    buf_init(&spec);
    buf_init(&text);
    buf_init(&key);
    if (imap_sort_field(hdr, len, field, &v, &vlen))
        first_mailbox(v, vlen, &name, &spec);
    if (part == ADDR_MAILBOX) {
        /* the local part ends at the last '@' (a quoted one may hold more) */
        size_t local = spec.len;
        while (local > 0 && spec.data[local - 1] != '@')
            local--;
        buf_append(&text, spec.data, local > 0 ? local - 1 : spec.len);
    } else {
        struct buf dec;
        buf_init(&dec);
        search_decode_value(name.data != NULL ? name.data : "", name.len, &dec);
        for (size_t k = 0; k < dec.len; k++) { /* blanks collapse, ends trimmed */
            char c = dec.data[k] == '\t' ? ' ' : dec.data[k];
            if (c == ' ' && (text.len == 0 || text.data[text.len - 1] == ' '))
                continue;
            buf_append_char(&text, c);
        }
        while (text.len > 0 && text.data[text.len - 1] == ' ')
            text.data[--text.len] = '\0';
        if (text.len == 0) /* RFC 5957: no display name, the addr-spec */
            buf_append(&text, spec.data, spec.len);
        buf_free(&dec);
    }
    imap_casemap(text.data != NULL ? text.data : "", text.len, &key);
    char *r = xstrndup(key.data != NULL ? key.data : "", key.len);
    buf_free(&name);
    buf_free(&spec);
    buf_free(&text);
    buf_free(&key);
    return r;
}

static char *subject_key(const char *hdr, size_t len)
{
    struct buf base, key;
    const char *v;
    size_t vlen;
    buf_init(&base);
    buf_init(&key);
    if (imap_sort_field(hdr, len, "Subject", &v, &vlen))
        imap_base_subject(v, vlen, &base);
    imap_casemap(base.data != NULL ? base.data : "", base.len, &key);
    char *r = xstrndup(key.data != NULL ? key.data : "", key.len);
    buf_free(&base);
    buf_free(&key);
    return r;
}

void imap_sort_key_build(const struct imap_sort_spec *s, const struct imap_sort_msg *m,
                         struct imap_sort_key *k)
{
    const char *h = m->header;
    size_t hl = m->header_len;
    memset(k, 0, sizeof(*k));
    k->seq = m->seq;
    k->uid = m->uid;
    k->arrival = m->internal_date;
    k->size = m->size;
    k->sent = m->internal_date;
    for (size_t c = 0; c < s->n_crit; c++) {
        switch (s->crit[c].field) {
        case IMAP_SORT_DATE:
            k->sent = imap_sort_sent_date(h, hl, m->internal_date);
            break;
        case IMAP_SORT_FROM:
            if (k->from == NULL)
                k->from = address_key(h, hl, "From", ADDR_MAILBOX);
            break;
        case IMAP_SORT_TO:
            if (k->to == NULL)
                k->to = address_key(h, hl, "To", ADDR_MAILBOX);
            break;
        case IMAP_SORT_CC:
            if (k->cc == NULL)
                k->cc = address_key(h, hl, "Cc", ADDR_MAILBOX);
            break;
        case IMAP_SORT_DISPLAYFROM:
            if (k->display_from == NULL)
                k->display_from = address_key(h, hl, "From", ADDR_DISPLAY);
            break;
        case IMAP_SORT_DISPLAYTO:
            if (k->display_to == NULL)
                k->display_to = address_key(h, hl, "To", ADDR_DISPLAY);
            break;
        case IMAP_SORT_SUBJECT:
            if (k->subject == NULL)
                k->subject = subject_key(h, hl);
            break;
        case IMAP_SORT_ARRIVAL:
        case IMAP_SORT_SIZE:
            break;
        }
    }
}

void imap_sort_key_free(struct imap_sort_key *k)
{
    free(k->from);
    free(k->to);
    free(k->cc);
    free(k->display_from);
    free(k->display_to);
    free(k->subject);
    memset(k, 0, sizeof(*k));
}

static int cmp_num(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_time(time_t a, time_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int compare_keys(const struct imap_sort_spec *s, const struct imap_sort_key *a,
                        const struct imap_sort_key *b)
{
    for (size_t c = 0; c < s->n_crit; c++) {
        int r = 0;
        switch (s->crit[c].field) {
        case IMAP_SORT_ARRIVAL:
            r = cmp_time(a->arrival, b->arrival);
            break;
        case IMAP_SORT_DATE:
            r = cmp_time(a->sent, b->sent);
            break;
        case IMAP_SORT_SIZE:
            r = cmp_num(a->size, b->size);
            break;
        case IMAP_SORT_FROM:
            r = cmp_str(a->from, b->from);
            break;
        case IMAP_SORT_TO:
            r = cmp_str(a->to, b->to);
            break;
        case IMAP_SORT_CC:
            r = cmp_str(a->cc, b->cc);
            break;
        case IMAP_SORT_DISPLAYFROM:
            r = cmp_str(a->display_from, b->display_from);
            break;
        case IMAP_SORT_DISPLAYTO:
            r = cmp_str(a->display_to, b->display_to);
            break;
        case IMAP_SORT_SUBJECT:
            r = cmp_str(a->subject, b->subject);
            break;
        }
        if (r != 0)
            return s->crit[c].reverse ? -r : r;
    }
    return cmp_num(a->seq, b->seq); /* never reversed (RFC 5256 3) */
}

void imap_sort_order(const struct imap_sort_spec *s, const struct imap_sort_key *keys, size_t n,
                     size_t *order)
{
    for (size_t k = 0; k < n; k++)
        order[k] = k;
    if (n < 2)
        return;
    /* Bottom-up merge sort: stable, O(n log n), one scratch array. */
    size_t *tmp = xmalloc(n * sizeof(*tmp));
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] =
                    compare_keys(s, &keys[order[j]], &keys[order[i]]) < 0 ? order[j++] : order[i++];
            while (i < mid)
                tmp[o++] = order[i++];
            while (j < hi)
                tmp[o++] = order[j++];
        }
        memcpy(order, tmp, n * sizeof(*order));
    }
    free(tmp);
}

void imap_sort_format_sort(struct buf *out, const uint32_t *nums, size_t n)
{
    buf_append_str(out, "* SORT");
    for (size_t k = 0; k < n; k++)
        buf_printf(out, " %u", (unsigned)nums[k]);
    buf_append_str(out, "\r\n");
}

void imap_sort_format_esort(struct buf *out, const char *tag, bool uid, unsigned ret,
                            const uint32_t *nums, size_t n)
{
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
    if (n > 0 && (ret & IMAP_SEARCH_RETURN_MIN))
        buf_printf(out, " MIN %u", (unsigned)nums[0]);
    if (n > 0 && (ret & IMAP_SEARCH_RETURN_MAX))
        buf_printf(out, " MAX %u", (unsigned)nums[n - 1]);
    if (n > 0 && (ret & IMAP_SEARCH_RETURN_ALL)) {
        buf_append_str(out, " ALL ");
        /* In sort order: only ascending runs (n, n+1, ...) become ranges. */
        for (size_t k = 0; k < n;) {
            size_t e = k;
            while (e + 1 < n && nums[e] != UINT32_MAX && nums[e + 1] == nums[e] + 1)
                e++;
            if (k > 0)
                buf_append_char(out, ',');
            if (e > k)
                buf_printf(out, "%u:%u", (unsigned)nums[k], (unsigned)nums[e]);
            else
                buf_printf(out, "%u", (unsigned)nums[k]);
            k = e + 1;
        }
    }
    if (ret & IMAP_SEARCH_RETURN_COUNT) /* after ALL, where Dovecot 2.3.19 puts it */
        buf_printf(out, " COUNT %zu", n);
    buf_append_str(out, "\r\n");
}
