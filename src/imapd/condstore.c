/* CONDSTORE and QRESYNC (RFC 7162): enabling, SELECT's parameters and
 * resynchronisation, VANISHED, and the flag responses with MODSEQ (see
 * condstore.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/condstore.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "net/conn.h"
#include "util/xmalloc.h"

bool imapd_modseq_parse(const struct imap_arg *a, bool zero_ok, uint64_t *out)
{
    if (a->type != IMAP_ARG_ATOM || a->str == NULL || a->len == 0 || a->len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        if (a->str[i] < '0' || a->str[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(a->str[i] - '0'); /* 19 digits fit in 64 bits */
    }
    if (v > (uint64_t)IMAPD_MODSEQ_MAX || (v == 0 && !zero_ok))
        return false;
    *out = v;
    return true;
}

void imapd_condstore_enable(struct imapd_session *s)
{
    s->condstore = true;
    if (s->sel == NULL || s->sel->condstore)
        return;
    s->sel->condstore = true;
    /* RFC 7162 3.1: the first enabling command while a folder is selected
     * tells the client where the folder stands. The folder is not lent to a
     * job now (commands are read only between jobs). */
    if (s->conn)
        conn_printf(s->conn, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
                    (unsigned long long)store_highest_modseq(s->sel->f));
}

void imapd_qresync_enable(struct imapd_session *s)
{
    imapd_condstore_enable(s);
    s->qresync = true;
    if (s->sel)
        s->sel->qresync = true;
}

void imapd_select_params_free(struct imapd_select_params *p)
{
    imap_seqset_free(&p->known_uids);
}

/* QRESYNC's list: (uidvalidity modseq [known-uids [(seqs uids)]]). */
static bool parse_qresync(struct imapd_session *s, const struct imap_arg *l,
                          struct imapd_select_params *p)
{
    if (l->type != IMAP_ARG_LIST || l->n < 2 || l->n > 4) {
        imapd_reply_bad(s, "QRESYNC expects (uidvalidity modseq [known-uids [(seqs uids)]])");
        return false;
    }
    const struct imap_arg *v = l->list;
    uint64_t uv = 0;
    if (!imapd_modseq_parse(&v[0], false, &uv) || uv > UINT32_MAX) {
        imapd_reply_bad(s, "QRESYNC: bad UIDVALIDITY");
        return false;
    }
    p->uidvalidity = (uint32_t)uv;
    if (!imapd_modseq_parse(&v[1], false, &p->modseq)) {
        imapd_reply_bad(s, "QRESYNC: bad mod-sequence (1 to 9223372036854775807)");
        return false;
    }
    size_t k = 2;
    if (k < l->n && v[k].type == IMAP_ARG_ATOM) {
        if (imap_seqset_parse(v[k].str, v[k].len, false, &p->known_uids) != IMAP_SEQSET_OK) {
            imapd_reply_bad(s, "QRESYNC: bad set of known UIDs");
            return false;
        }
        k++;
    }
    if (k < l->n) {
        /* seq-match-data: checked, not needed (the expunge history is
         * kept, and without it the answer is the safe superset). */
        const struct imap_arg *m = &v[k];
        struct imap_seqset seqs = {0}, uids = {0};
        struct imap_seqlist ls = {0}, lu = {0};
        bool ok =
            m->type == IMAP_ARG_LIST && m->n == 2 && m->list[0].type == IMAP_ARG_ATOM &&
            m->list[1].type == IMAP_ARG_ATOM &&
            imap_seqset_parse(m->list[0].str, m->list[0].len, false, &seqs) == IMAP_SEQSET_OK &&
            imap_seqset_parse(m->list[1].str, m->list[1].len, false, &uids) == IMAP_SEQSET_OK;
        if (ok) {
            imap_seqset_resolve(&seqs, UINT32_MAX, &ls);
            imap_seqset_resolve(&uids, UINT32_MAX, &lu);
            ok = imap_seqlist_count(&ls) == imap_seqlist_count(&lu); /* RFC 7162 3.2.5.2 */
        }
        imap_seqset_free(&seqs);
        imap_seqset_free(&uids);
        imap_seqlist_free(&ls);
        imap_seqlist_free(&lu);
        if (!ok || k + 1 != l->n) {
            imapd_reply_bad(s, "QRESYNC: bad sequence match data (two sets of the same size)");
            return false;
        }
    }
    p->qresync = true;
    return true;
}

bool imapd_select_params_parse(struct imapd_session *s, const struct imap_arg *list,
                               struct imapd_select_params *p)
{
    memset(p, 0, sizeof(*p));
    if (list->type != IMAP_ARG_LIST) {
        imapd_reply_bad(s, "SELECT parameters are a list, such as (CONDSTORE)");
        return false;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct imap_arg *a = &list->list[i];
        if (imap_arg_atom_is(a, "CONDSTORE") && a->type == IMAP_ARG_ATOM) {
            p->condstore = true;
        } else if (imap_arg_atom_is(a, "QRESYNC") && a->type == IMAP_ARG_ATOM) {
            const char *why = !s->qresync        ? "QRESYNC must be enabled first (ENABLE QRESYNC)"
                              : p->qresync       ? "QRESYNC given twice"
                              : i + 1 == list->n ? "QRESYNC expects a list"
                                                 : NULL;
            if (why) {
                imapd_reply_bad(s, "%s", why);
                imapd_select_params_free(p);
                return false;
            }
            if (!parse_qresync(s, &list->list[++i], p)) {
                imapd_select_params_free(p);
                return false;
            }
        } else {
            imapd_reply_bad(s, "Unknown SELECT parameter");
            imapd_select_params_free(p);
            return false;
        }
    }
    return true;
}

void imapd_vanished_format(struct buf *out, bool earlier, const struct store_uid_ranges *r)
{
    if (r->n == 0)
        return;
    buf_append_str(out, earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
    for (size_t i = 0; i < r->n; i++) {
        if (i)
            buf_append_char(out, ',');
        if (r->v[i].lo == r->v[i].hi)
            buf_printf(out, "%u", (unsigned)r->v[i].lo);
        else
            buf_printf(out, "%u:%u", (unsigned)r->v[i].lo, (unsigned)r->v[i].hi);
    }
    buf_append_str(out, "\r\n");
}

void imapd_vanished_since(struct imapd_selected *sel, uint64_t modseq,
                          const struct imap_seqset *uids, struct buf *out)
{
    struct store_folder *f = sel->f;
    /* '*' is the last UID given out: every expunged UID is below UIDNEXT. */
    uint32_t star = f->uidnext > 1 ? f->uidnext - 1 : 1;
    struct imap_seqlist within = {0};
    if (uids && uids->n)
        imap_seqset_resolve(uids, star, &within);
    struct store_uid_range *r = NULL;
    if (within.n) {
        r = xcalloc(within.n, sizeof(*r));
        for (size_t i = 0; i < within.n; i++)
            r[i] = (struct store_uid_range){within.ranges[i].first, within.ranges[i].last};
    }
    struct store_uid_ranges gone = {0};
    bool complete;
    store_expunged_since(f, modseq, r, within.n, &gone, &complete);
    imapd_vanished_format(out, true, &gone);
    store_uid_ranges_free(&gone);
    free(r);
    imap_seqlist_free(&within);
}

void imapd_flags_response(struct buf *out, const struct imapd_selected *sel, size_t seq,
                          const struct imapd_view_msg *v, uint64_t modseq, bool uid, bool silent)
{
    if (silent && !sel->condstore)
        return;
    buf_printf(out, "* %zu FETCH (", seq);
    const char *sp = "";
    if (uid || sel->condstore) {
        buf_printf(out, "UID %u", (unsigned)v->uid);
        sp = " ";
    }
    if (!silent) {
        buf_printf(out, "%sFLAGS ", sp);
        imapd_flags_format(out, sel, v->flags, v->keywords, v->recent);
        sp = " ";
    }
    if (sel->condstore)
        buf_printf(out, "%sMODSEQ (%llu)", sp, (unsigned long long)modseq);
    buf_append_str(out, ")\r\n");
}

void imapd_select_resync(struct imapd_selected *sel, const struct imapd_select_params *p,
                         struct buf *out)
{
    struct store_folder *f = sel->f;
    if (!sel->condstore)
        return;
    buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
               (unsigned long long)store_highest_modseq(f));
    /* RFC 7162 3.2.5.1: another UIDVALIDITY means the client's cache is
     * gone; the rest of the parameter is ignored. */
    if (!p->qresync || p->uidvalidity != f->uidvalidity)
        return;
    imapd_vanished_since(sel, p->modseq, &p->known_uids, out);
    uint32_t *changed = NULL;
    size_t n = 0;
    store_changed_since(f, p->modseq, &changed, &n);
    for (size_t i = 0; i < n; i++) {
        size_t seq;
        const struct imapd_view_msg *v = imapd_view_by_uid(sel, changed[i], &seq);
        const struct store_msg *m = store_msg_by_uid(f, changed[i]);
        if (v && m)
            imapd_flags_response(out, sel, seq, v, m->modseq, true, false);
    }
    free(changed);
}
