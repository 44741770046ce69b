/* SORT (RFC 5256, with ESORT's RETURN, RFC 5267, and SORT=DISPLAY, RFC
 * 5957) and THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256), and
 * their UID forms: the search runs as SEARCH's does (messages.c), the
 * matches' header sections give the keys (proto/imap_sort.h,
 * proto/imap_thread.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/condstore.h"
#include "imapd/job.h"
#include "imapd/messages.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "imapd/sort.h"
#include "proto/imap_search.h"
#include "proto/imap_sort.h"
#include "proto/imap_thread.h"
#include "proto/text.h"
#include "store/store.h"
#include "util/xmalloc.h"

struct sort_args {
    bool thread;
    struct imap_sort_spec spec;
    enum imap_thread_algo algo;
    struct imap_search *search;
};

static void sort_args_free(void *arg)
{
    struct sort_args *a = arg;
    imap_search_free(a->search);
    free(a);
}

struct sort_state {
    const struct sort_args *a;
    bool uid;
    struct imap_sort_key *keys;
    struct imap_thread_msg *msgs;
    size_t n, cap;
    uint64_t modseq; /* the highest of the matches (SORT MODSEQ, RFC 7162 3.1.5) */
};

static void add_match(void *arg, const struct imap_search_msg *sm, const struct store_msg *m)
{
    struct sort_state *st = arg;
    if (m->modseq > st->modseq)
        st->modseq = m->modseq;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        if (st->a->thread)
            st->msgs = xrealloc(st->msgs, st->cap * sizeof(*st->msgs));
        else
            st->keys = xrealloc(st->keys, st->cap * sizeof(*st->keys));
    }
    size_t hdr_len = sm->data ? text_header_length(sm->data, sm->len) : 0;
    if (st->a->thread) {
        imap_thread_msg_build(&st->msgs[st->n++], st->uid ? sm->uid : sm->seq, sm->internal_date,
                              sm->data, hdr_len);
        return;
    }
    struct imap_sort_msg msg = {
        .seq = sm->seq,
        .uid = sm->uid,
        .internal_date = sm->internal_date,
        .size = m->size,
        .header = sm->data,
        .header_len = hdr_len,
    };
    imap_sort_key_build(&st->a->spec, &msg, &st->keys[st->n++]);
}

static void sort_work(struct imapd_job *j)
{
    struct sort_args *a = j->args;
    struct sort_state st = {.a = a, .uid = j->uid};
    bool header = a->thread || imap_sort_needs_header(&a->spec);
    imapd_search_run(j, a->search, header, add_match, &st);
    const char *verb = a->thread ? "THREAD" : "SORT";
    if (a->thread) {
        /* Matches come in sequence order, as imap_thread_format wants. */
        imap_thread_format(&j->out, a->algo, st.msgs, st.n);
        for (size_t i = 0; i < st.n; i++)
            imap_thread_msg_free(&st.msgs[i]);
        free(st.msgs);
    } else {
        size_t *order = xcalloc(st.n + 1, sizeof(*order));
        uint32_t *nums = xcalloc(st.n + 1, sizeof(*nums));
        imap_sort_order(&a->spec, st.keys, st.n, order);
        for (size_t i = 0; i < st.n; i++)
            nums[i] = j->uid ? st.keys[order[i]].uid : st.keys[order[i]].seq;
        if (a->spec.esort)
            imap_sort_format_esort(&j->out, j->tag, j->uid, a->spec.ret, nums, st.n);
        else
            imap_sort_format_sort(&j->out, nums, st.n);
        if (imap_search_uses_modseq(a->search) && st.n && j->out.len >= 2) {
            /* RFC 7162 3.1.5: the response line ends with the highest
             * modseq of the messages found. */
            j->out.len -= 2; /* the line's CRLF */
            buf_printf(&j->out, a->spec.esort ? " MODSEQ %llu\r\n" : " (MODSEQ %llu)\r\n",
                       (unsigned long long)st.modseq);
        }
        for (size_t i = 0; i < st.n; i++)
            imap_sort_key_free(&st.keys[i]);
        free(st.keys);
        free(order);
        free(nums);
    }
    imapd_job_tagged(j, "OK", "%s%s completed", j->uid ? "UID " : "", verb);
}

bool imapd_cmd_sort(struct imapd_session *s, const struct imap_command *cmd)
{
    bool uid = strcmp(cmd->name, "UID") == 0;
    const struct imap_arg *args = uid ? cmd->args + 1 : cmd->args;
    size_t n = cmd->n - (uid ? 1 : 0);
    const char *verb = uid ? cmd->args[0].str : cmd->name;
    struct sort_args *a = xcalloc(1, sizeof(*a));
    a->thread = strcasecmp(verb, "THREAD") == 0;
    char err[256];
    size_t search_at = 0;
    enum imap_search_status st =
        a->thread ? imap_thread_compile(args, n, &a->algo, &search_at, err, sizeof(err))
                  : imap_sort_compile(args, n, &a->spec, err, sizeof(err));
    if (!a->thread)
        search_at = a->spec.search_at;
    if (st == IMAP_SEARCH_OK)
        st = imap_search_compile(args + search_at, n - search_at, &a->search, err, sizeof(err));
    if (st == IMAP_SEARCH_OK && imap_search_is_esearch(a->search)) {
        snprintf(err, sizeof(err), "RETURN goes before the sort criteria (RFC 5267)");
        st = IMAP_SEARCH_BAD;
    }
    if (st != IMAP_SEARCH_OK) {
        if (st == IMAP_SEARCH_BADCHARSET)
            imapd_reply_tagged(s, "NO", "%s", err);
        else
            imapd_reply_bad(s, "%s", err);
        sort_args_free(a);
        return true;
    }
    if (imap_search_uses_modseq(a->search))
        imapd_condstore_enable(s); /* a CONDSTORE enabling command (RFC 7162 3.1) */
    struct imapd_job *j = imapd_job_new(s, sort_work, a, sort_args_free);
    j->uid = uid;
    return imapd_job_submit(j);
}
