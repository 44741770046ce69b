/*
 * imap_thread: THREAD's two algorithms over a forest of nodes held in
 * arrays (node 0 is a virtual root whose children are the threads; a node
 * without a message is a dummy), with doubly linked sibling lists so that
 * every move is O(1), and explicit stacks instead of recursion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_basesubject.h"
#include "proto/imap_sort.h"
#include "proto/imap_thread.h"
#include "util/xmalloc.h"

#define NONE SIZE_MAX
#define ROOT 0

/* --- compiling the command and describing a message ---------------------- */

enum imap_search_status imap_thread_compile(const struct imap_arg *args, size_t n,
                                            enum imap_thread_algo *algo_r, size_t *search_at_r,
                                            char *err, size_t errlen)
{
    const char *msg = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (n < 1 || args[0].type != IMAP_ARG_ATOM) {
        msg = "THREAD needs an algorithm";
    } else if (imap_arg_atom_is(&args[0], "ORDEREDSUBJECT")) {
        *algo_r = IMAP_THREAD_ORDEREDSUBJECT;
    } else if (imap_arg_atom_is(&args[0], "REFERENCES")) {
        *algo_r = IMAP_THREAD_REFERENCES;
    } else {
        if (errlen > 0)
            snprintf(err, errlen, "Unknown thread algorithm: %.40s", args[0].str);
        return IMAP_SEARCH_BAD;
    }
    if (msg == NULL && (n < 2 || !imap_arg_is_astring(&args[1]) || args[1].str == NULL))
        msg = "THREAD needs a charset after the algorithm";
    if (msg != NULL) {
        if (errlen > 0)
            snprintf(err, errlen, "%s", msg);
        return IMAP_SEARCH_BAD;
    }
    const struct imap_arg *cs = &args[1];
    if (!(cs->len == 5 && strncasecmp(cs->str, "UTF-8", 5) == 0) &&
        !(cs->len == 8 && strncasecmp(cs->str, "US-ASCII", 8) == 0)) {
        if (errlen > 0)
            snprintf(err, errlen, "%s Unsupported charset", IMAP_SEARCH_BADCHARSET_CODE);
        return IMAP_SEARCH_BADCHARSET;
    }
    if (n < 3) {
        if (errlen > 0)
            snprintf(err, errlen, "Missing search keys");
        return IMAP_SEARCH_BAD;
    }
    *search_at_r = 2;
    return IMAP_SEARCH_OK;
}

/* The next msg-id of a field value from v[i]: "<...>" with blanks and line
 * ends taken out, comments and other text between ids skipped, an id
 * without '@' skipped too. *id_r is
 * the id (the caller frees it) or NULL at the end; returns where to go on. */
static size_t next_msg_id(const char *v, size_t len, size_t i, char **id_r)
{
    *id_r = NULL;
    while (i < len) {
        if (v[i] == '(') { /* a comment, nested */
            unsigned depth = 0;
            for (; i < len; i++) {
                if (v[i] == '\\')
                    i++;
                else if (v[i] == '(')
                    depth++;
                else if (v[i] == ')' && --depth == 0)
                    break;
            }
            i++;
            continue;
        }
        if (v[i] != '<') {
            i++;
            continue;
        }
        size_t j = i + 1, k = 0;
        while (j < len && v[j] != '>' && v[j] != '<')
            j++;
        if (j >= len)
            return len;
        if (v[j] == '<') { /* "<a <b@c>": the second one starts again */
            i = j;
            continue;
        }
        char *id = xmalloc(j - i);
        for (size_t p = i + 1; p < j; p++)
            if (v[p] != ' ' && v[p] != '\t' && v[p] != '\r' && v[p] != '\n')
                id[k++] = v[p];
        id[k] = '\0';
        if (k > 0 && memchr(id, '@', k) != NULL) { /* Dovecot 2.3.19 skips ids without '@' */
            *id_r = id;
            return j + 1;
        }
        free(id);
        i = j + 1;
    }
    return len;
}

static void add_ref(struct imap_thread_msg *m, char *id, size_t *seen)
{
    /* Kept: the first one and the last IMAP_THREAD_REFS_MAX - 1 (a ring). */
    (*seen)++;
    if (m->n_refs < IMAP_THREAD_REFS_MAX) {
        m->refs[m->n_refs++] = id;
        return;
    }
    size_t ring = IMAP_THREAD_REFS_MAX - 1, slot = 1 + (*seen - 2) % ring;
    free(m->refs[slot]);
    m->refs[slot] = id;
}

/* Puts the ring of add_ref back into order (oldest first after refs[0]). */
static void unring(struct imap_thread_msg *m, size_t seen)
{
    size_t ring = IMAP_THREAD_REFS_MAX - 1;
    if (seen <= IMAP_THREAD_REFS_MAX)
        return;
    size_t start = 1 + (seen - 1) % ring; /* the slot of the oldest one kept */
    char *tmp[IMAP_THREAD_REFS_MAX];
    for (size_t k = 0; k < ring; k++)
        tmp[k] = m->refs[1 + (start - 1 + k) % ring];
    memcpy(m->refs + 1, tmp, ring * sizeof(*tmp));
}

void imap_thread_msg_build(struct imap_thread_msg *m, uint32_t num, time_t internal_date,
                           const char *hdr, size_t len)
{
    const char *v;
    size_t vlen, i;
    char *id;
    struct buf base, key;
    memset(m, 0, sizeof(*m));
    m->num = num;
    m->sent = imap_sort_sent_date(hdr, len, internal_date);
    buf_init(&base);
    buf_init(&key);
    if (imap_sort_field(hdr, len, "Subject", &v, &vlen))
        m->reply = imap_base_subject(v, vlen, &base);
    imap_casemap(base.data != NULL ? base.data : "", base.len, &key);
    m->subject = xstrndup(key.data != NULL ? key.data : "", key.len);
    buf_free(&base);
    buf_free(&key);
    if (imap_sort_field(hdr, len, "Message-ID", &v, &vlen))
        next_msg_id(v, vlen, 0, &m->message_id);
    m->refs = xcalloc(IMAP_THREAD_REFS_MAX, sizeof(*m->refs));
    size_t seen = 0;
    if (imap_sort_field(hdr, len, "References", &v, &vlen)) {
        for (i = next_msg_id(v, vlen, 0, &id); id != NULL; i = next_msg_id(v, vlen, i, &id))
            add_ref(m, id, &seen);
        unring(m, seen);
    }
    if (m->n_refs == 0 && imap_sort_field(hdr, len, "In-Reply-To", &v, &vlen)) {
        next_msg_id(v, vlen, 0, &id);
        if (id != NULL)
            m->refs[m->n_refs++] = id;
    }
}

void imap_thread_msg_free(struct imap_thread_msg *m)
{
    free(m->subject);
    free(m->message_id);
    for (size_t k = 0; k < m->n_refs; k++)
        free(m->refs[k]);
    free(m->refs);
    memset(m, 0, sizeof(*m));
}

/* --- the forest --------------------------------------------------------- */

struct node {
    size_t msg; /* index into msgs, NONE for a dummy */
    size_t parent, first, last, prev, next;
    time_t key_sent; /* the sort key: the message's, a dummy's first child's */
    size_t key_idx;
};

struct forest {
    struct node *v;
    size_t n, cap;
    const struct imap_thread_msg *msgs;
};

static size_t node_new(struct forest *f, size_t msg)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
    }
    struct node *x = &f->v[f->n];
    x->msg = msg;
    x->parent = x->first = x->last = x->prev = x->next = NONE;
    x->key_sent = 0;
    x->key_idx = msg;
    return f->n++;
}

static void unlink_node(struct forest *f, size_t x)
{
    struct node *v = f->v;
    size_t p = v[x].parent;
    if (p == NONE)
        return;
    if (v[x].prev != NONE)
        v[v[x].prev].next = v[x].next;
    else
        v[p].first = v[x].next;
    if (v[x].next != NONE)
        v[v[x].next].prev = v[x].prev;
    else
        v[p].last = v[x].prev;
    v[x].parent = v[x].prev = v[x].next = NONE;
}

/* Makes x (unlinked) the last child of p, or the one before sibling `before`. */
static void link_before(struct forest *f, size_t p, size_t x, size_t before)
{
    struct node *v = f->v;
    v[x].parent = p;
    v[x].next = before;
    v[x].prev = before == NONE ? v[p].last : v[before].prev;
    if (v[x].prev != NONE)
        v[v[x].prev].next = x;
    else
        v[p].first = x;
    if (before != NONE)
        v[before].prev = x;
    else
        v[p].last = x;
}

static void append_child(struct forest *f, size_t p, size_t x)
{
    unlink_node(f, x);
    link_before(f, p, x, NONE);
}

/* Whether a is b or one of b's ancestors. A node without children is no
 * one's ancestor, which keeps the common case (a new message) O(1). */
static bool is_ancestor(const struct forest *f, size_t a, size_t b)
{
    if (a == b)
        return true;
    if (f->v[a].first == NONE)
        return false;
    for (size_t x = f->v[b].parent; x != NONE; x = f->v[x].parent)
        if (x == a)
            return true;
    return false;
}

/* The nodes under ROOT in pre-order (parents before their children). */
static size_t *preorder(const struct forest *f, size_t *n_r)
{
    size_t *out = xmalloc(f->n * sizeof(*out)), n = 0;
    size_t x = ROOT;
    while (x != NONE) {
        out[n++] = x;
        if (f->v[x].first != NONE) {
            x = f->v[x].first;
            continue;
        }
        while (x != NONE && x != ROOT && f->v[x].next == NONE)
            x = f->v[x].parent;
        x = x == NONE || x == ROOT ? NONE : f->v[x].next;
    }
    *n_r = n;
    return out;
}

/* --- string -> node tables (open addressing, grown at half full) --------- */

struct table {
    const char **keys;
    size_t *vals;
    size_t cap, used;
};

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static size_t *table_slot(struct table *t, const char *key)
{
    size_t i = hash_str(key) & (t->cap - 1);
    while (t->keys[i] != NULL && strcmp(t->keys[i], key) != 0)
        i = (i + 1) & (t->cap - 1);
    if (t->keys[i] == NULL) {
        t->keys[i] = key;
        t->vals[i] = NONE;
        t->used++;
    }
    return &t->vals[i];
}

static void table_init(struct table *t, size_t expect)
{
    t->cap = 16;
    while (t->cap < 2 * expect + 2)
        t->cap *= 2;
    t->keys = xcalloc(t->cap, sizeof(*t->keys));
    t->vals = xcalloc(t->cap, sizeof(*t->vals));
    t->used = 0;
}

/* The node stored for key (NONE: a new entry); the keys are not copied. */
static size_t *table_get(struct table *t, const char *key)
{
    if (2 * (t->used + 1) > t->cap) {
        struct table bigger;
        table_init(&bigger, t->cap);
        for (size_t k = 0; k < t->cap; k++)
            if (t->keys[k] != NULL)
                *table_slot(&bigger, t->keys[k]) = t->vals[k];
        free(t->keys);
        free(t->vals);
        *t = bigger;
    }
    return table_slot(t, key);
}

static void table_free(struct table *t)
{
    free(t->keys);
    free(t->vals);
}

/* --- REFERENCES (RFC 5256 4, steps 1 to 5) ------------------------------ */

/* Step 1: the id table and the links. */
static void link_references(struct forest *f, size_t n)
{
    struct table ids;
    table_init(&ids, n);
    for (size_t i = 0; i < n; i++) {
        const struct imap_thread_msg *m = &f->msgs[i];
        size_t me = NONE;
        if (m->message_id != NULL) {
            size_t *slot = table_get(&ids, m->message_id);
            if (*slot == NONE)
                *slot = me = node_new(f, i);
            else if (f->v[*slot].msg == NONE) /* a dummy made for a reference */
                f->v[me = *slot].msg = i;
        }
        if (me == NONE) /* no valid id, or a duplicate: an id of its own */
            me = node_new(f, i);
        /* A: the references linked in order where not linked already and
         * where the link makes no loop. */
        size_t prev = NONE;
        for (size_t r = 0; r < m->n_refs; r++) {
            size_t *slot = table_get(&ids, m->refs[r]);
            if (*slot == NONE)
                *slot = node_new(f, NONE);
            size_t c = *slot;
            if (prev != NONE && f->v[c].parent == NONE && !is_ancestor(f, c, prev))
                link_before(f, prev, c, NONE);
            prev = c;
        }
        /* B: the message's parent is its last reference (or none): a parent
         * it had (a truncated References elsewhere) is replaced. */
        if (prev != NONE && (f->v[me].parent == prev || is_ancestor(f, me, prev)))
            continue;
        unlink_node(f, me);
        if (prev != NONE)
            link_before(f, prev, me, NONE);
    }
    table_free(&ids);
}

/* Step 4: dummies without children go; a dummy's children take its place,
 * except at the top where a dummy with several children stays. */
static void prune_dummies(struct forest *f)
{
    size_t n, *order = preorder(f, &n);
    for (size_t k = n; k-- > 1;) { /* children before their parents */
        size_t x = order[k];
        struct node *v = f->v;
        if (v[x].msg != NONE)
            continue;
        size_t p = v[x].parent;
        if (v[x].first != NONE && p == ROOT && v[v[x].first].next != NONE)
            continue;
        while (v[x].first != NONE) {
            size_t c = v[x].first;
            unlink_node(f, c);
            link_before(f, p, c, x);
        }
        unlink_node(f, x);
    }
    free(order);
}

/* A thread's subject and whether it was a reply: a dummy's first child's. */
static const struct imap_thread_msg *thread_msg(const struct forest *f, size_t x)
{
    if (f->v[x].msg == NONE)
        x = f->v[x].first;
    return x == NONE || f->v[x].msg == NONE ? NULL : &f->msgs[f->v[x].msg];
}

/* Step 5: the threads with the same base subject gathered. */
static void group_by_subject(struct forest *f)
{
    struct table subj;
    table_init(&subj, f->n);
    for (size_t x = f->v[ROOT].first; x != NONE; x = f->v[x].next) { /* A */
        const struct imap_thread_msg *m = thread_msg(f, x);
        if (m == NULL || m->subject[0] == '\0')
            continue;
        size_t *slot = table_get(&subj, m->subject);
        if (*slot == NONE) {
            *slot = x;
            continue;
        }
        bool x_dummy = f->v[x].msg == NONE, old_dummy = f->v[*slot].msg == NONE;
        if ((x_dummy && !old_dummy) ||
            (!old_dummy && thread_msg(f, *slot)->reply && !x_dummy && !m->reply))
            *slot = x;
    }
    size_t next;
    for (size_t x = f->v[ROOT].first; x != NONE; x = next) { /* B */
        next = f->v[x].next;
        const struct imap_thread_msg *m = thread_msg(f, x);
        if (m == NULL || m->subject[0] == '\0')
            continue;
        size_t *slot = table_get(&subj, m->subject), t = *slot;
        if (t == x)
            continue;
        bool x_dummy = f->v[x].msg == NONE, t_dummy = f->v[t].msg == NONE;
        if (x_dummy && t_dummy) {
            while (f->v[x].first != NONE)
                append_child(f, t, f->v[x].first);
            unlink_node(f, x);
        } else if (t_dummy || (!x_dummy && m->reply && !f->msgs[f->v[t].msg].reply)) {
            append_child(f, t, x);
        } else {
            size_t d = node_new(f, NONE);
            link_before(f, ROOT, d, t);
            append_child(f, d, t);
            append_child(f, d, x);
            *slot = d;
        }
    }
    table_free(&subj);
}

/* --- ORDEREDSUBJECT (RFC 5256 4) and the sort both share ---------------- */

/* Stable merge sort of idx[0..n) by before(ctx, a, b). */
static void merge_sort(size_t *idx, size_t n, bool (*before)(const void *, size_t, size_t),
                       const void *ctx)
{
    if (n < 2)
        return;
    size_t *tmp = xmalloc(n * sizeof(*tmp));
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = before(ctx, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[o++] = idx[i++];
            while (j < hi)
                tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof(*idx));
    }
    free(tmp);
}

static bool msg_before_subject(const void *ctx, size_t a, size_t b)
{
    const struct imap_thread_msg *m = ctx;
    int c = strcmp(m[a].subject, m[b].subject);
    if (c != 0)
        return c < 0;
    if (m[a].sent != m[b].sent)
        return m[a].sent < m[b].sent;
    return a < b;
}

static void ordered_subject(struct forest *f, size_t n)
{
    size_t *idx = xmalloc((n ? n : 1) * sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    merge_sort(idx, n, msg_before_subject, f->msgs);
    size_t first = NONE;
    for (size_t k = 0; k < n; k++) {
        size_t x = node_new(f, idx[k]);
        if (first != NONE && strcmp(f->msgs[idx[k]].subject, f->msgs[f->v[first].msg].subject) == 0)
            link_before(f, first, x, NONE); /* all are children of the first */
        else
            link_before(f, ROOT, first = x, NONE);
    }
    free(idx);
}

static bool node_before(const void *ctx, size_t a, size_t b)
{
    const struct node *v = ctx;
    if (v[a].key_sent != v[b].key_sent)
        return v[a].key_sent < v[b].key_sent;
    return v[a].key_idx < v[b].key_idx;
}

/* Step 6: every set of siblings by sent date (then sequence), children
 * first, a dummy sorting as its first child. */
static void sort_siblings(struct forest *f)
{
    size_t n, *order = preorder(f, &n), *kids = xmalloc(f->n * sizeof(*kids));
    for (size_t k = n; k-- > 0;) {
        size_t x = order[k], nk = 0;
        struct node *v = f->v;
        for (size_t c = v[x].first; c != NONE; c = v[c].next)
            kids[nk++] = c;
        merge_sort(kids, nk, node_before, v);
        v[x].first = v[x].last = NONE;
        for (size_t c = 0; c < nk; c++) {
            v[kids[c]].parent = NONE;
            link_before(f, x, kids[c], NONE);
        }
        if (v[x].msg != NONE) {
            v[x].key_sent = f->msgs[v[x].msg].sent;
            v[x].key_idx = v[x].msg;
        } else if (v[x].first != NONE) {
            v[x].key_sent = v[v[x].first].key_sent;
            v[x].key_idx = v[v[x].first].key_idx;
        }
    }
    free(kids);
    free(order);
}

/* --- the answer ------------------------------------------------------------ */

/* "(3 6 (4 23)(44 7 96))" for each thread: a chain of only children is
 * one list, several children are one list each. */
static void format_forest(const struct forest *f, struct buf *out)
{
    const struct node *v = f->v;
    size_t *stack = xmalloc(f->n * sizeof(*stack)), depth = 0; /* the next child to show */
    for (size_t t = v[ROOT].first; t != NONE; t = v[t].next) {
        size_t x = t;
        buf_append_char(out, '(');
        for (;;) {
            bool first_in_list = true;
            for (;;) { /* a chain */
                if (v[x].msg != NONE) {
                    buf_printf(out, first_in_list ? "%u" : " %u", (unsigned)f->msgs[v[x].msg].num);
                    first_in_list = false;
                }
                if (v[x].first == NONE)
                    break;
                if (v[v[x].first].next == NONE) {
                    x = v[x].first;
                    continue;
                }
                if (!first_in_list)
                    buf_append_char(out, ' ');
                stack[depth++] = v[v[x].first].next;
                buf_append_char(out, '(');
                x = v[x].first;
                first_in_list = true;
            }
            buf_append_char(out, ')'); /* the list of the leaf */
            while (depth > 0 && stack[depth - 1] == NONE) {
                depth--;
                buf_append_char(out, ')'); /* the list around a node of several children */
            }
            if (depth == 0)
                break;
            x = stack[depth - 1];
            stack[depth - 1] = v[x].next;
            buf_append_char(out, '(');
        }
    }
    free(stack);
}

void imap_thread_format(struct buf *out, enum imap_thread_algo algo,
                        const struct imap_thread_msg *msgs, size_t n)
{
    struct forest f = {.msgs = msgs};
    node_new(&f, NONE); /* ROOT */
    if (algo == IMAP_THREAD_ORDEREDSUBJECT) {
        ordered_subject(&f, n);
    } else {
        link_references(&f, n);
        for (size_t x = 1; x < f.n; x++) /* step 2: the root set */
            if (f.v[x].parent == NONE)
                link_before(&f, ROOT, x, NONE);
        prune_dummies(&f);
        group_by_subject(&f);
    }
    sort_siblings(&f);
    buf_append_str(out, "* THREAD");
    if (f.v[ROOT].first != NONE)
        buf_append_char(out, ' ');
    format_forest(&f, out);
    buf_append_str(out, "\r\n");
    free(f.v);
}
