/*
 * imap_seqset: parsing, resolving, iterating and formatting IMAP sequence
 * sets. Everything works on ranges; no step costs anything per number.
 */
#include "proto/imap_seqset.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* One seq-number at s[*i]: a nz-number (no leading zero) or '*'. */
static enum imap_seqset_result seq_number(const char *s, size_t len, size_t *i, uint32_t *v)
{
    if (*i < len && s[*i] == '*') {
        (*i)++;
        *v = IMAP_SEQ_STAR;
        return IMAP_SEQSET_OK;
    }
    if (*i >= len || s[*i] < '0' || s[*i] > '9')
        return IMAP_SEQSET_SYNTAX;
    if (s[*i] == '0') {
        (*i)++;
        return *i < len && s[*i] >= '0' && s[*i] <= '9' ? IMAP_SEQSET_SYNTAX : IMAP_SEQSET_ZERO;
    }
    uint64_t x = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        x = x * 10 + (uint64_t)(s[(*i)++] - '0');
        if (x > UINT32_MAX)
            return IMAP_SEQSET_RANGE;
    }
    *v = (uint32_t)x;
    return IMAP_SEQSET_OK;
}

enum imap_seqset_result imap_seqset_parse(const char *s, size_t len, bool allow_saved,
                                          struct imap_seqset *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 1 && s[0] == '$') {
        if (!allow_saved)
            return IMAP_SEQSET_SAVED;
        out->saved = true;
        return IMAP_SEQSET_OK;
    }
    if (len == 0)
        return IMAP_SEQSET_SYNTAX;
    size_t parts = 1;
    for (size_t k = 0; k < len; k++)
        parts += s[k] == ',';
    struct imap_seq_range *r = xcalloc(parts, sizeof(*r));
    size_t i = 0, n = 0;
    enum imap_seqset_result res = IMAP_SEQSET_OK;
    for (;;) {
        res = seq_number(s, len, &i, &r[n].first);
        if (res != IMAP_SEQSET_OK)
            break;
        r[n].last = r[n].first;
        if (i < len && s[i] == ':') {
            i++;
            res = seq_number(s, len, &i, &r[n].last);
            if (res != IMAP_SEQSET_OK)
                break;
        }
        n++;
        if (i == len)
            break;
        if (s[i] != ',') {
            res = IMAP_SEQSET_SYNTAX;
            break;
        }
        i++; /* a comma must be followed by another part: the loop demands it */
    }
    if (res != IMAP_SEQSET_OK) {
        free(r);
        return res;
    }
    out->ranges = r;
    out->n = n;
    return IMAP_SEQSET_OK;
}

void imap_seqset_free(struct imap_seqset *set)
{
    free(set->ranges);
    memset(set, 0, sizeof(*set));
}

const char *imap_seqset_error(enum imap_seqset_result r)
{
    switch (r) {
    case IMAP_SEQSET_OK:
        return "OK";
    case IMAP_SEQSET_ZERO:
        return "Invalid sequence set: 0 is not a message number";
    case IMAP_SEQSET_RANGE:
        return "Invalid sequence set: number over 4294967295";
    case IMAP_SEQSET_SAVED:
        return "Invalid sequence set: no saved result here";
    case IMAP_SEQSET_SYNTAX:
        break;
    }
    return "Invalid sequence set";
}

/* The concrete range of r for star, ordered; false when it is empty
 * (a '*' end in an empty mailbox). */
static bool concrete(const struct imap_seq_range *r, uint32_t star, uint32_t *lo, uint32_t *hi)
{
    uint32_t a = r->first == IMAP_SEQ_STAR ? star : r->first;
    uint32_t b = r->last == IMAP_SEQ_STAR ? star : r->last;
    if (a == 0 || b == 0)
        return false;
    *lo = a < b ? a : b;
    *hi = a < b ? b : a;
    return true;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
    uint32_t lo, hi;
    for (size_t k = 0; k < set->n; k++)
        if (concrete(&set->ranges[k], star, &lo, &hi) && n >= lo && n <= hi)
            return true;
    return false;
}

static int range_cmp(const void *a, const void *b)
{
    const struct imap_seq_range *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Sorts and merges list->ranges in place (overlapping or adjacent ranges
 * become one). */
static void normalise(struct imap_seqlist *list)
{
    if (list->n == 0)
        return;
    qsort(list->ranges, list->n, sizeof(list->ranges[0]), range_cmp);
    size_t w = 0;
    for (size_t k = 1; k < list->n; k++) {
        struct imap_seq_range *cur = &list->ranges[w];
        const struct imap_seq_range *r = &list->ranges[k];
        if ((uint64_t)r->first <= (uint64_t)cur->last + 1) {
            if (r->last > cur->last)
                cur->last = r->last;
        } else {
            list->ranges[++w] = *r;
        }
    }
    list->n = w + 1;
}

void imap_seqset_resolve(const struct imap_seqset *set, uint32_t star, struct imap_seqlist *out)
{
    out->ranges = set->n ? xcalloc(set->n, sizeof(out->ranges[0])) : NULL;
    out->n = 0;
    for (size_t k = 0; k < set->n; k++) {
        uint32_t lo, hi;
        if (concrete(&set->ranges[k], star, &lo, &hi))
            out->ranges[out->n++] = (struct imap_seq_range){lo, hi};
    }
    normalise(out);
}

void imap_seqlist_free(struct imap_seqlist *list)
{
    free(list->ranges);
    list->ranges = NULL;
    list->n = 0;
}

bool imap_seqlist_contains(const struct imap_seqlist *list, uint32_t n)
{
    size_t lo = 0, hi = list->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct imap_seq_range *r = &list->ranges[mid];
        if (n < r->first)
            hi = mid;
        else if (n > r->last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

uint64_t imap_seqlist_count(const struct imap_seqlist *list)
{
    uint64_t c = 0;
    for (size_t k = 0; k < list->n; k++)
        c += (uint64_t)list->ranges[k].last - list->ranges[k].first + 1;
    return c;
}

void imap_seqlist_from_numbers(const uint32_t *nums, size_t n, struct imap_seqlist *out)
{
    out->ranges = n ? xcalloc(n, sizeof(out->ranges[0])) : NULL;
    out->n = 0;
    for (size_t k = 0; k < n; k++)
        if (nums[k] != 0)
            out->ranges[out->n++] = (struct imap_seq_range){nums[k], nums[k]};
    normalise(out);
}

void imap_seqlist_iter_init(struct imap_seqlist_iter *it, const struct imap_seqlist *list)
{
    it->list = list;
    it->range = 0;
    it->next = list->n ? list->ranges[0].first : 0;
}

bool imap_seqlist_next(struct imap_seqlist_iter *it, uint32_t *n_r)
{
    while (it->range < it->list->n) {
        const struct imap_seq_range *r = &it->list->ranges[it->range];
        if (it->next <= r->last) {
            *n_r = (uint32_t)it->next++;
            return true;
        }
        if (++it->range < it->list->n)
            it->next = it->list->ranges[it->range].first;
    }
    return false;
}

static void append_range(struct buf *out, uint32_t first, uint32_t last)
{
    if (first == last)
        buf_printf(out, "%u", (unsigned)first);
    else
        buf_printf(out, "%u:%u", (unsigned)first, (unsigned)last);
}

void imap_seqset_format_numbers(struct buf *out, const uint32_t *nums, size_t n)
{
    size_t k = 0;
    while (k < n) {
        size_t j = k;
        while (j + 1 < n && nums[j] != UINT32_MAX && nums[j + 1] == nums[j] + 1)
            j++;
        if (k > 0)
            buf_append_char(out, ',');
        append_range(out, nums[k], nums[j]);
        k = j + 1;
    }
}

void imap_seqlist_format(struct buf *out, const struct imap_seqlist *list)
{
    for (size_t k = 0; k < list->n; k++) {
        if (k > 0)
            buf_append_char(out, ',');
        append_range(out, list->ranges[k].first, list->ranges[k].last);
    }
}
