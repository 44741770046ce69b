/* The message commands of the selected state besides FETCH: STORE, COPY,
 * MOVE (RFC 6851) and SEARCH (with ESEARCH results, RFC 4731), each also
 * as a UID command (RFC 9051 6.4.9). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imapd/condstore.h"
#include "imapd/folders.h"
#include "imapd/job.h"
#include "imapd/messages.h"
#include "imapd/names.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "proto/imap_search.h"
#include "proto/imap_seqset.h"
#include "util/xmalloc.h"

/* STORE */

enum store_mode { STORE_SET, STORE_ADD, STORE_REMOVE };

struct store_args {
    struct imap_seqset set;
    enum store_mode mode;
    bool silent;
    unsigned flags;
    char **keywords;
    size_t n_keywords;
    bool conditional;        /* UNCHANGEDSINCE (RFC 7162 3.1.3) */
    uint64_t unchangedsince; /* may be 0: then every message fails */
};

static void store_args_free(void *arg)
{
    struct store_args *a = arg;
    imap_seqset_free(&a->set);
    imapd_keywords_free(a->keywords, a->n_keywords);
    free(a);
}

/* The new keyword list of a message, by name. */
static size_t new_keywords(const struct store_args *a, const struct store_folder *f, uint32_t bits,
                           const char *out[STORE_KEYWORDS_MAX * 2])
{
    const char *have[STORE_KEYWORDS_MAX];
    size_t n_have = a->mode == STORE_SET ? 0 : imapd_keyword_names(f, bits, have), n = 0;
    for (size_t i = 0; i < n_have; i++) {
        bool removed = false;
        for (size_t k = 0; k < a->n_keywords && a->mode == STORE_REMOVE && !removed; k++)
            removed = strcasecmp(have[i], a->keywords[k]) == 0;
        if (!removed)
            out[n++] = have[i];
    }
    if (a->mode != STORE_REMOVE)
        for (size_t k = 0; k < a->n_keywords && n < STORE_KEYWORDS_MAX * 2; k++) {
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = strcasecmp(out[i], a->keywords[k]) == 0;
            if (!dup)
                out[n++] = a->keywords[k];
        }
    return n;
}

static void store_work(struct imapd_job *j)
{
    struct store_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    size_t n;
    uint32_t *seqs = imapd_job_messages(j, &a->set, &n);
    if (seqs == NULL)
        return;
    int failed = 0;
    uint32_t *modified = NULL; /* UNCHANGEDSINCE failures: numbers as the command gave them */
    size_t n_modified = 0;
    for (size_t i = 0; i < n; i++) {
        struct imapd_view_msg *v = &sel->v[seqs[i] - 1];
        struct store_msg *m = store_msg_by_uid(sel->f, v->uid);
        if (m == NULL)
            continue;
        unsigned flags = a->mode == STORE_SET   ? a->flags
                         : a->mode == STORE_ADD ? m->flags | a->flags
                                                : m->flags & ~a->flags;
        const char *kw[STORE_KEYWORDS_MAX * 2];
        size_t n_kw = new_keywords(a, sel->f, m->keywords, kw);
        bool was_modified = false;
        int err = a->conditional ? store_set_flags_unchanged_since(sel->f, v->uid, flags, kw, n_kw,
                                                                   a->unchangedsince, &was_modified)
                                 : store_set_flags(sel->f, v->uid, flags, kw, n_kw);
        if (err) {
            failed = err;
            continue;
        }
        if (was_modified) {
            if (modified == NULL)
                modified = xcalloc(n, sizeof(*modified));
            modified[n_modified++] = j->uid ? v->uid : seqs[i];
            continue;
        }
        m = store_msg_by_uid(sel->f, v->uid);
        v->flags = m->flags;
        v->keywords = m->keywords;
        /* .SILENT still says the new MODSEQ to a CONDSTORE-aware client
         * (RFC 7162 3.1.3). Sent after store_commit below: the buffer
         * goes out when this job ends. */
        imapd_flags_response(&j->out, sel, seqs[i], v, m->modseq, j->uid, a->silent);
    }
    free(seqs);
    int durable = store_commit(sel->f); /* the new flags are on disk before OK */
    if (failed == 0)
        failed = durable;
    if (failed) {
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(failed, sel->f->name));
    } else if (n_modified) {
        struct buf set;
        buf_init(&set);
        imap_seqset_format_numbers(&set, modified, n_modified);
        imapd_job_tagged(j, "OK", "[MODIFIED %s] Conditional %sSTORE failed for some messages",
                         set.data, j->uid ? "UID " : "");
        buf_free(&set);
    } else {
        imapd_job_tagged(j, "OK", "%sSTORE completed", j->uid ? "UID " : "");
    }
    free(modified);
}

/* STORE's modifier list: (UNCHANGEDSINCE m). False after a BAD. */
static bool store_modifiers(struct imapd_session *s, struct store_args *a, const struct imap_arg *l)
{
    if (l->type != IMAP_ARG_LIST || l->n != 2 || !imap_arg_atom_is(&l->list[0], "UNCHANGEDSINCE") ||
        l->list[0].type != IMAP_ARG_ATOM ||
        !imapd_modseq_parse(&l->list[1], true, &a->unchangedsince)) {
        imapd_reply_bad(s, "STORE modifiers: (UNCHANGEDSINCE mod-sequence)");
        return false;
    }
    a->conditional = true;
    return true;
}

bool imapd_cmd_store(struct imapd_session *s, const struct imap_command *cmd)
{
    /* STORE set [(UNCHANGEDSINCE m)] FLAGS... flags */
    bool uid = strcmp(cmd->name, "UID") == 0;
    const struct imap_arg *args = uid ? cmd->args + 1 : cmd->args; /* NULL without arguments */
    size_t n = cmd->n - (uid ? 1 : 0);
    if ((n != 3 && n != 4) || args[0].type != IMAP_ARG_ATOM || args[n - 2].type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "STORE expects a message set, FLAGS, +FLAGS or -FLAGS, and flags");
        return true;
    }
    const struct imap_arg *mods = n == 4 ? &args[1] : NULL;
    const struct imap_arg *item = &args[n - 2]; /* FLAGS..., then the flags */
    if (s->sel->read_only) {
        imapd_reply_tagged(s, "NO", "[READ-ONLY] The folder was opened with EXAMINE");
        return true;
    }
    struct store_args *a = xcalloc(1, sizeof(*a));
    if (mods && !store_modifiers(s, a, mods)) {
        store_args_free(a);
        return true;
    }
    const char *what = item->str;
    a->mode = what[0] == '+' ? STORE_ADD : what[0] == '-' ? STORE_REMOVE : STORE_SET;
    if (a->mode != STORE_SET)
        what++;
    if (strcasecmp(what, "FLAGS.SILENT") == 0)
        a->silent = true;
    else if (strcasecmp(what, "FLAGS") != 0) {
        imapd_reply_bad(s, "Expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT)");
        store_args_free(a);
        return true;
    }
    enum imap_seqset_result r = imap_seqset_parse(args[0].str, args[0].len, true, &a->set);
    if (r != IMAP_SEQSET_OK) {
        imapd_reply_bad(s, "Bad message set: %s", imap_seqset_error(r));
        store_args_free(a);
        return true;
    }
    if (!imapd_flags_parse(s, &item[1], &a->flags, &a->keywords, &a->n_keywords)) {
        store_args_free(a);
        return true;
    }
    if (a->conditional)
        imapd_condstore_enable(s); /* a CONDSTORE enabling command (RFC 7162 3.1) */
    struct imapd_job *j = imapd_job_new(s, store_work, a, store_args_free);
    j->uid = uid;
    return imapd_job_submit(j);
}

/* COPY and MOVE */

struct copy_args {
    struct imap_seqset set;
    char *dest;
    bool move;
};

static void copy_args_free(void *arg)
{
    struct copy_args *a = arg;
    imap_seqset_free(&a->set);
    free(a->dest);
    free(a);
}

static void copy_work(struct imapd_job *j)
{
    struct copy_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    size_t n;
    uint32_t *seqs = imapd_job_messages(j, &a->set, &n);
    if (seqs == NULL)
        return;
    uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
    for (size_t i = 0; i < n; i++)
        uids[i] = sel->v[seqs[i] - 1].uid;
    free(seqs);
    struct store_uidmap map = {0};
    int err = n ? store_copy(sel->f, uids, n, a->dest, a->move, &map) : 0;
    free(uids);
    const char *verb = a->move ? "MOVE" : "COPY";
    if (err == ENOENT) {
        imapd_job_tagged(j, "NO", "[TRYCREATE] No such folder: create it first");
        store_uidmap_free(&map);
        return;
    }
    if (err) {
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, a->dest));
        store_uidmap_free(&map);
        return;
    }
    struct buf code;
    buf_init(&code);
    if (map.n) {
        buf_printf(&code, "[COPYUID %u ", (unsigned)map.uidvalidity);
        imap_seqset_format_numbers(&code, map.src, map.n);
        buf_append_char(&code, ' ');
        imap_seqset_format_numbers(&code, map.dst, map.n);
        buf_append_str(&code, "] ");
    }
    store_uidmap_free(&map);
    if (a->move) {
        /* RFC 6851 3.3: COPYUID in an untagged OK, then the expunges. */
        if (code.len)
            buf_printf(&j->out, "* OK %sMoved\r\n", code.data);
        imapd_view_update(sel, &j->out, true);
        imapd_job_tagged(j, "OK", "%s%s completed", j->uid ? "UID " : "", verb);
    } else {
        imapd_job_tagged(j, "OK", "%s%s%s completed", code.len ? code.data : "",
                         j->uid ? "UID " : "", verb);
    }
    buf_free(&code);
}

bool imapd_cmd_copy(struct imapd_session *s, const struct imap_command *cmd)
{
    bool uid = strcmp(cmd->name, "UID") == 0;
    const struct imap_arg *args = uid ? cmd->args + 1 : cmd->args; /* NULL without arguments */
    size_t n = cmd->n - (uid ? 1 : 0);
    bool move = strcasecmp(uid ? cmd->args[0].str : cmd->name, "MOVE") == 0;
    if (n != 2 || args[0].type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "%s expects a message set and a folder name", move ? "MOVE" : "COPY");
        return true;
    }
    if (move && s->sel->read_only) {
        imapd_reply_tagged(s, "NO", "[READ-ONLY] The folder was opened with EXAMINE");
        return true;
    }
    struct copy_args *a = xcalloc(1, sizeof(*a));
    a->move = move;
    enum imap_seqset_result r = imap_seqset_parse(args[0].str, args[0].len, true, &a->set);
    if (r != IMAP_SEQSET_OK) {
        imapd_reply_bad(s, "Bad message set: %s", imap_seqset_error(r));
        copy_args_free(a);
        return true;
    }
    a->dest = imapd_folder_arg(s, &args[1]);
    if (a->dest == NULL) {
        copy_args_free(a);
        return true;
    }
    struct imapd_job *j = imapd_job_new(s, copy_work, a, copy_args_free);
    j->uid = uid;
    return imapd_job_submit(j);
}

/* SEARCH */

struct search_args {
    struct imap_search *search;
};

static void search_args_free(void *arg)
{
    struct search_args *a = arg;
    imap_search_free(a->search);
    free(a);
}

static unsigned search_flags(unsigned flags, bool recent)
{
    unsigned f = 0;
    f |= flags & STORE_F_SEEN ? IMAP_FLAG_SEEN : 0;
    f |= flags & STORE_F_ANSWERED ? IMAP_FLAG_ANSWERED : 0;
    f |= flags & STORE_F_FLAGGED ? IMAP_FLAG_FLAGGED : 0;
    f |= flags & STORE_F_DELETED ? IMAP_FLAG_DELETED : 0;
    f |= flags & STORE_F_DRAFT ? IMAP_FLAG_DRAFT : 0;
    f |= recent ? IMAP_FLAG_RECENT : 0;
    return f;
}

size_t imapd_search_run(struct imapd_job *j, struct imap_search *search, bool want_data,
                        imapd_match_fn each, void *arg)
{
    struct imapd_selected *sel = j->sel;
    imapd_view_update(sel, &j->out, j->uid);
    struct imap_search_mailbox mb = {
        .messages = (uint32_t)sel->n,
        .uid_max = sel->n ? sel->v[sel->n - 1].uid : 0,
        .saved_uids = &sel->saved,
    };
    imap_search_prepare(search, &mb);
    bool content = want_data || imap_search_needs(search) != IMAP_SEARCH_NEEDS_NOTHING;
    size_t n_hits = 0;
    struct buf data;
    buf_init(&data);
    for (size_t i = 0; i < sel->n; i++) {
        const struct imapd_view_msg *v = &sel->v[i];
        const struct store_msg *m = store_msg_by_uid(sel->f, v->uid);
        if (m == NULL)
            continue;
        const char *kw[STORE_KEYWORDS_MAX];
        size_t n_kw = imapd_keyword_names(sel->f, m->keywords, kw);
        time_t when = (time_t)m->internal_date;
        struct tm tm;
        localtime_r(&when, &tm);
        struct imap_search_msg sm = {
            .seq = (uint32_t)(i + 1),
            .uid = v->uid,
            .flags = search_flags(m->flags, v->recent),
            .keywords = kw,
            .n_keywords = n_kw,
            .internal_date = when,
            .internal_tz = (int)(tm.tm_gmtoff / 60),
            .size = m->size,
            .modseq = m->modseq,
        };
        buf_reset(&data);
        if (content && !imapd_read_message(sel->f, v->uid, false, &data))
            continue;
        sm.data = data.data ? data.data : "";
        sm.len = data.len;
        if (imap_search_match(search, &sm)) {
            n_hits++;
            each(arg, &sm, m);
        }
    }
    buf_free(&data);
    return n_hits;
}

struct hits {
    uint32_t *v;
    size_t n;
    bool uid;
    uint64_t modseq; /* the highest of the hits */
};

static void add_hit(void *arg, const struct imap_search_msg *sm, const struct store_msg *m)
{
    struct hits *h = arg;
    h->v[h->n++] = h->uid ? sm->uid : sm->seq;
    if (m->modseq > h->modseq)
        h->modseq = m->modseq;
}

static void search_work(struct imapd_job *j)
{
    struct search_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    struct hits h = {.v = xcalloc(sel->n + 1, sizeof(uint32_t)), .uid = j->uid};
    imapd_search_run(j, a->search, false, add_hit, &h);
    uint32_t *hits = h.v;
    size_t n_hits = h.n;
    unsigned ret = imap_search_return(a->search);
    if (ret & IMAP_SEARCH_RETURN_SAVE) {
        /* RFC 5182: the result, as UIDs, for "$" in later commands. */
        uint32_t *uids = xcalloc(n_hits ? n_hits : 1, sizeof(*uids));
        for (size_t i = 0; i < n_hits; i++)
            uids[i] = j->uid ? hits[i] : sel->v[hits[i] - 1].uid;
        imap_seqlist_free(&sel->saved);
        imap_seqlist_from_numbers(uids, n_hits, &sel->saved);
        free(uids);
    }
    /* With a MODSEQ key, the highest modseq of what was found (RFC 7162 3.1.5). */
    uint64_t modseq = imap_search_uses_modseq(a->search) ? h.modseq : 0;
    if (ret == IMAP_SEARCH_RETURN_SAVE)
        ; /* SAVE alone: no result now (RFC 5182 2.4) */
    else if (imap_search_is_esearch(a->search) || sel->rev2)
        imap_search_format_esearch(&j->out, j->tag, j->uid, ret, hits, n_hits, modseq);
    else
        imap_search_format_search(&j->out, hits, n_hits, modseq);
    free(hits);
    imapd_job_tagged(j, "OK", "%sSEARCH completed", j->uid ? "UID " : "");
}

bool imapd_cmd_search(struct imapd_session *s, const struct imap_command *cmd)
{
    bool uid = strcmp(cmd->name, "UID") == 0;
    const struct imap_arg *args = uid ? cmd->args + 1 : cmd->args; /* NULL without arguments */
    size_t n = cmd->n - (uid ? 1 : 0);
    struct search_args *a = xcalloc(1, sizeof(*a));
    char err[256];
    enum imap_search_status st = imap_search_compile(args, n, &a->search, err, sizeof(err));
    if (st != IMAP_SEARCH_OK) {
        /* A failed SEARCH that asked to SAVE empties the saved result
         * (RFC 5182 2.1). */
        if (n && args[0].type == IMAP_ARG_ATOM && imap_arg_atom_is(&args[0], "RETURN") && n > 1 &&
            args[1].type == IMAP_ARG_LIST)
            for (size_t i = 0; i < args[1].n; i++)
                if (imap_arg_atom_is(&args[1].list[i], "SAVE"))
                    imap_seqlist_free(&s->sel->saved);
        if (st == IMAP_SEARCH_BADCHARSET)
            imapd_reply_tagged(s, "NO", "%s", err);
        else
            imapd_reply_bad(s, "%s", err);
        search_args_free(a);
        return true;
    }
    if (imap_search_uses_modseq(a->search))
        imapd_condstore_enable(s); /* a CONDSTORE enabling command (RFC 7162 3.1) */
    struct imapd_job *j = imapd_job_new(s, search_work, a, search_args_free);
    j->uid = uid;
    return imapd_job_submit(j);
}
