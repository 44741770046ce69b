/* The selected folder and the session's view of it (see select.h):
 * SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, the updates of NOOP and
 * CHECK, and IDLE with its inotify watch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sys/inotify.h>

#include "daemon.h"
#include "imapd/condstore.h"
#include "imapd/imapd.h"
#include "imapd/job.h"
#include "imapd/names.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "net/conn.h"
#include "proto/imap_seqset.h"
#include "proto/mime.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/xmalloc.h"

void imapd_selected_free(struct imapd_selected *sel)
{
    if (sel == NULL)
        return;
    if (sel->f)
        store_close(sel->f);
    store_free(sel->store);
    for (size_t i = 0; i < STORE_KEYWORDS_MAX; i++)
        free(sel->keywords_reported[i]);
    imap_seqlist_free(&sel->saved);
    free(sel->v);
    free(sel);
}

void imapd_flags_format(struct buf *out, const struct imapd_selected *sel, unsigned flags,
                        uint32_t keywords, bool recent)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {STORE_F_ANSWERED, "\\Answered"}, {STORE_F_FLAGGED, "\\Flagged"},
        {STORE_F_DELETED, "\\Deleted"},   {STORE_F_SEEN, "\\Seen"},
        {STORE_F_DRAFT, "\\Draft"},
    };
    buf_append_char(out, '(');
    bool first = true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (flags & names[i].bit) {
            buf_printf(out, "%s%s", first ? "" : " ", names[i].name);
            first = false;
        }
    for (size_t i = 0; i < STORE_KEYWORDS_MAX; i++)
        if ((keywords & (1u << i)) && sel->f->keywords[i]) {
            buf_printf(out, "%s%s", first ? "" : " ", sel->f->keywords[i]);
            first = false;
        }
    if (recent && !sel->rev2) /* IMAP4rev2 has no \Recent */
        buf_printf(out, "%s\\Recent", first ? "" : " ");
    buf_append_char(out, ')');
}

struct imapd_view_msg *imapd_view_by_uid(struct imapd_selected *sel, uint32_t uid, size_t *seq_r)
{
    size_t lo = 0, hi = sel->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sel->v[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < sel->n && sel->v[lo].uid == uid) {
        if (seq_r)
            *seq_r = lo + 1;
        return &sel->v[lo];
    }
    return NULL;
}

uint32_t *imapd_view_resolve(const struct imapd_selected *sel, const struct imap_seqset *set,
                             bool uid, size_t *n_r, bool *bad_r)
{
    uint32_t *seqs = xcalloc(sel->n ? sel->n : 1, sizeof(*seqs));
    size_t n = 0;
    *bad_r = false;
    if (set->saved) {
        for (size_t i = 0; i < sel->n; i++)
            if (imap_seqlist_contains(&sel->saved, sel->v[i].uid))
                seqs[n++] = (uint32_t)(i + 1);
    } else if (uid) {
        uint32_t star = sel->n ? sel->v[sel->n - 1].uid : 0;
        for (size_t i = 0; i < sel->n; i++)
            if (imap_seqset_contains(set, sel->v[i].uid, star))
                seqs[n++] = (uint32_t)(i + 1);
    } else {
        for (size_t r = 0; r < set->n; r++) {
            uint32_t lo = set->ranges[r].first, hi = set->ranges[r].last;
            if (sel->n == 0 || (lo != IMAP_SEQ_STAR && lo > sel->n) ||
                (hi != IMAP_SEQ_STAR && hi > sel->n)) {
                *bad_r = true;
                free(seqs);
                return NULL;
            }
        }
        for (size_t i = 0; i < sel->n; i++)
            if (imap_seqset_contains(set, (uint32_t)(i + 1), (uint32_t)sel->n))
                seqs[n++] = (uint32_t)(i + 1);
    }
    *n_r = n;
    return seqs;
}

size_t imapd_keyword_names(const struct store_folder *f, uint32_t bits,
                           const char *names[STORE_KEYWORDS_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < STORE_KEYWORDS_MAX; i++)
        if ((bits & (1u << i)) && f->keywords[i])
            names[n++] = f->keywords[i];
    return n;
}

uint32_t *imapd_job_messages(struct imapd_job *j, const struct imap_seqset *set, size_t *n_r)
{
    struct imapd_selected *sel = j->sel;
    imapd_view_update(sel, &j->out, j->uid);
    bool bad;
    uint32_t *seqs = imapd_view_resolve(sel, set, j->uid, n_r, &bad);
    if (bad)
        imapd_job_tagged(j, "BAD", "Message number out of range (there are %zu)", sel->n);
    return seqs;
}

bool imapd_read_message(struct store_folder *f, uint32_t uid, bool crlf, struct buf *out)
{
    int fd = store_open_msg(f, uid);
    if (fd < 0)
        return false;
    if (!crlf) {
        int rc = fd_read_all(fd, out);
        close(fd);
        return rc == 0;
    }
    struct buf raw;
    buf_init(&raw);
    int rc = fd_read_all(fd, &raw);
    close(fd);
    if (rc == 0)
        mime_to_crlf(raw.data ? raw.data : "", raw.len, out);
    buf_free(&raw);
    return rc == 0;
}

/* The FLAGS and PERMANENTFLAGS responses when the keyword list changed. */
static void report_keywords(struct imapd_selected *sel, struct buf *out, bool force)
{
    bool same = !force;
    for (size_t i = 0; i < STORE_KEYWORDS_MAX && same; i++) {
        const char *a = sel->keywords_reported[i], *b = sel->f->keywords[i];
        same = (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
    }
    if (same)
        return;
    struct buf kw;
    buf_init(&kw);
    for (size_t i = 0; i < STORE_KEYWORDS_MAX; i++) {
        free(sel->keywords_reported[i]);
        sel->keywords_reported[i] = sel->f->keywords[i] ? xstrdup(sel->f->keywords[i]) : NULL;
        if (sel->f->keywords[i])
            buf_printf(&kw, " %s", sel->f->keywords[i]);
    }
    buf_printf(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)\r\n",
               kw.len ? kw.data : "");
    if (sel->read_only)
        buf_printf(out, "* OK [PERMANENTFLAGS ()] Read-only folder\r\n");
    else
        buf_printf(out,
                   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s \\*)] "
                   "Flags permitted\r\n",
                   kw.len ? kw.data : "");
    buf_free(&kw);
}

void imapd_view_update(struct imapd_selected *sel, struct buf *out, bool expunges)
{
    struct store_folder *f = sel->f;
    int err = store_sync(f, NULL);
    if (err)
        log_warn("event=imap_sync_failed folder=%s error=%s", log_q(f->name), log_q(strerror(err)));
    report_keywords(sel, out, false);
    /* Expunged messages, highest first would keep the numbers stable, but
     * RFC 9051 7.5.1 numbers each EXPUNGE after the previous ones: report
     * in ascending order, each with its number at that moment. */
    size_t w = 0;
    uint32_t *vanished = NULL; /* QRESYNC: the expunged UIDs, as one VANISHED */
    size_t n_vanished = 0;
    for (size_t r = 0; r < sel->n; r++) {
        struct imapd_view_msg m = sel->v[r];
        if (expunges && store_msg_by_uid(f, m.uid) == NULL) {
            if (sel->qresync) {
                if (vanished == NULL)
                    vanished = xcalloc(sel->n - r, sizeof(*vanished));
                vanished[n_vanished++] = m.uid;
            } else {
                buf_printf(out, "* %zu EXPUNGE\r\n", w + 1);
            }
            continue;
        }
        sel->v[w++] = m;
    }
    if (n_vanished) {
        buf_append_str(out, "* VANISHED ");
        imap_seqset_format_numbers(out, vanished, n_vanished);
        buf_append_str(out, "\r\n");
    }
    free(vanished);
    sel->n = w;
    /* Flag changes of the messages the client knows. */
    for (size_t i = 0; i < sel->n; i++) {
        struct imapd_view_msg *m = &sel->v[i];
        const struct store_msg *sm = store_msg_by_uid(f, m->uid);
        if (sm == NULL || (sm->flags == m->flags && sm->keywords == m->keywords))
            continue;
        m->flags = sm->flags;
        m->keywords = sm->keywords;
        imapd_flags_response(out, sel, i + 1, m, sm->modseq, false, false);
    }
    /* New messages: every UID above the last one known. */
    uint32_t last = sel->n ? sel->v[sel->n - 1].uid : 0;
    size_t before = sel->n, recent = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct store_msg *sm = &f->msgs[i];
        if (sm->uid <= last)
            continue;
        if (sel->n == sel->cap) {
            sel->cap = sel->cap ? sel->cap * 2 : 64;
            sel->v = xrealloc(sel->v, sel->cap * sizeof(*sel->v));
        }
        sel->v[sel->n++] = (struct imapd_view_msg){
            .uid = sm->uid, .flags = sm->flags, .keywords = sm->keywords, .recent = sm->recent};
    }
    for (size_t i = 0; i < sel->n; i++)
        recent += sel->v[i].recent;
    if (sel->n != before || w != before) {
        buf_printf(out, "* %zu EXISTS\r\n", sel->n);
        if (sel->n != before && !sel->rev2)
            buf_printf(out, "* %zu RECENT\r\n", recent);
    }
}

/* SELECT and EXAMINE */

struct select_args {
    char *name;
    bool read_only;
    bool rev2, utf8;
    bool condstore, qresync; /* the session's, as the command starts */
    struct imapd_select_params params;
    int err;
};

static void select_args_free(void *arg)
{
    struct select_args *a = arg;
    free(a->name);
    imapd_select_params_free(&a->params);
    free(a);
}

static void select_work(struct imapd_job *j)
{
    struct select_args *a = j->args;
    struct store_folder *f = NULL;
    a->err = store_open(j->store, a->name, a->read_only, &f);
    if (a->err) {
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(a->err, a->name));
        return;
    }
    struct imapd_selected *sel = xcalloc(1, sizeof(*sel));
    sel->store = j->store; /* the folder keeps a pointer to it */
    j->store = NULL;
    sel->f = f;
    sel->read_only = a->read_only;
    sel->rev2 = a->rev2;
    sel->condstore = a->condstore;
    sel->qresync = a->qresync;
    report_keywords(sel, &j->out, true);
    imapd_view_update(sel, &j->out, true);
    if (sel->n == 0) /* imapd_view_update reports EXISTS only on a change */
        buf_printf(&j->out, a->rev2 ? "* 0 EXISTS\r\n" : "* 0 EXISTS\r\n* 0 RECENT\r\n");
    if (a->rev2) {
        /* RFC 9051 6.3.2: the folder's name as the server spells it. */
        buf_append_str(&j->out, "* LIST () \".\" ");
        imapd_folder_quote(&j->out, f->name, a->utf8);
        buf_append_str(&j->out, "\r\n");
    }
    for (size_t i = 0; i < sel->n && !a->rev2; i++)
        if (!(sel->v[i].flags & STORE_F_SEEN)) {
            buf_printf(&j->out, "* OK [UNSEEN %zu] First unseen\r\n", i + 1);
            break;
        }
    buf_printf(&j->out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", (unsigned)f->uidvalidity);
    buf_printf(&j->out, "* OK [UIDNEXT %u] Predicted next UID\r\n", (unsigned)f->uidnext);
    imapd_select_resync(sel, &a->params, &j->out);
    imapd_job_tagged(j, "OK", "[%s] %s completed", a->read_only ? "READ-ONLY" : "READ-WRITE",
                     a->read_only ? "EXAMINE" : "SELECT");
    j->sel = sel;
}

static void select_done(struct imapd_job *j)
{
    struct select_args *a = j->args;
    struct imapd_session *s = j->s;
    if (a->err == 0) {
        s->sel = j->sel;
        j->sel = NULL;
        s->state = IMAPD_SELECTED;
    } else {
        s->state = IMAPD_AUTHENTICATED;
    }
}

bool imapd_cmd_select(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n != 1 && cmd->n != 2) {
        imapd_reply_bad(s, "%s expects a folder name and optional parameters", cmd->name);
        return true;
    }
    struct imapd_select_params params;
    memset(&params, 0, sizeof(params));
    if (cmd->n == 2 && !imapd_select_params_parse(s, &cmd->args[1], &params))
        return true; /* a BAD: the folder selected before stays selected */
    char *name = imapd_folder_arg(s, &cmd->args[0]);
    if (name == NULL) {
        imapd_select_params_free(&params);
        return true;
    }
    /* A new SELECT closes the current folder first, without expunging
     * (RFC 9051 6.3.2), and the state is authenticated if it fails. */
    if (s->sel) {
        imapd_selected_free(s->sel);
        s->sel = NULL;
        /* [CLOSED] is RFC 9051's and QRESYNC's (RFC 7162 3.2.11);
         * IMAP4rev1 clients get none, as from Dovecot. */
        if (s->rev2 || s->qresync)
            conn_printf(s->conn, "* OK [CLOSED] Previous folder closed\r\n");
    }
    s->state = IMAPD_AUTHENTICATED;
    if (params.condstore || params.qresync)
        imapd_condstore_enable(s);
    struct select_args *a = xcalloc(1, sizeof(*a));
    a->name = name;
    a->read_only = strcmp(cmd->name, "EXAMINE") == 0;
    a->rev2 = s->rev2;
    a->utf8 = s->utf8_enabled;
    a->condstore = s->condstore;
    a->qresync = s->qresync;
    a->params = params;
    struct imapd_job *j = imapd_job_new(s, select_work, a, select_args_free);
    j->done = select_done;
    return imapd_job_submit(j);
}

/* CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE */

struct expunge_args {
    bool silent;  /* CLOSE: no responses */
    bool close;   /* CLOSE and UNSELECT: the folder is closed afterwards */
    bool expunge; /* remove the \Deleted messages */
    struct imap_seqset uids;
    bool has_uids; /* UID EXPUNGE */
};

static void expunge_args_free(void *arg)
{
    struct expunge_args *a = arg;
    imap_seqset_free(&a->uids);
    free(a);
}

static void expunge_work(struct imapd_job *j)
{
    struct expunge_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    if (a->expunge && !sel->read_only) {
        uint32_t *want = NULL;
        size_t n_want = 0;
        if (a->has_uids) {
            want = xcalloc(sel->f->n ? sel->f->n : 1, sizeof(*want));
            uint32_t star = sel->f->n ? sel->f->msgs[sel->f->n - 1].uid : 0;
            for (size_t i = 0; i < sel->f->n; i++)
                if ((sel->f->msgs[i].flags & STORE_F_DELETED) &&
                    (a->uids.saved ? imap_seqlist_contains(&sel->saved, sel->f->msgs[i].uid)
                                   : imap_seqset_contains(&a->uids, sel->f->msgs[i].uid, star)))
                    want[n_want++] = sel->f->msgs[i].uid;
        }
        uint32_t *gone = NULL;
        size_t n_gone = 0;
        int err = a->has_uids && n_want == 0
                      ? 0
                      : store_expunge(sel->f, a->has_uids ? want : NULL, n_want, &gone, &n_gone);
        free(want);
        free(gone);
        if (err) {
            imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, sel->f->name));
            return;
        }
    }
    if (!a->silent)
        imapd_view_update(sel, &j->out, true);
    if (sel->qresync && !a->close) {
        /* RFC 7162 3.2.10: the client's cached HIGHESTMODSEQ may move on. */
        imapd_job_tagged(j, "OK", "[HIGHESTMODSEQ %llu] %s completed",
                         (unsigned long long)store_highest_modseq(sel->f),
                         a->has_uids ? "UID EXPUNGE" : "EXPUNGE");
        return;
    }
    imapd_job_tagged(j, "OK", "%s completed",
                     a->close ? (a->expunge ? "CLOSE" : "UNSELECT")
                              : (a->has_uids ? "UID EXPUNGE" : "EXPUNGE"));
}

static void close_done(struct imapd_job *j)
{
    struct imapd_session *s = j->s;
    imapd_selected_free(j->sel);
    j->sel = NULL;
    s->state = IMAPD_AUTHENTICATED;
}

bool imapd_cmd_close(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "%s takes no arguments", cmd->name);
        return true;
    }
    struct expunge_args *a = xcalloc(1, sizeof(*a));
    a->close = true;
    a->silent = true;
    a->expunge = strcmp(cmd->name, "CLOSE") == 0;
    struct imapd_job *j = imapd_job_new(s, expunge_work, a, expunge_args_free);
    j->done = close_done;
    return imapd_job_submit(j);
}

bool imapd_cmd_expunge(struct imapd_session *s, const struct imap_command *cmd)
{
    /* "EXPUNGE", or "UID EXPUNGE set" (UIDPLUS, RFC 4315) whose args
     * start with the subcommand. */
    bool uid = strcmp(cmd->name, "UID") == 0;
    size_t want = uid ? 2 : 0;
    if (cmd->n != want || (uid && cmd->args[1].type != IMAP_ARG_ATOM)) {
        imapd_reply_bad(s, uid ? "UID EXPUNGE expects a UID set" : "EXPUNGE takes no arguments");
        return true;
    }
    struct expunge_args *a = xcalloc(1, sizeof(*a));
    a->expunge = true;
    if (uid) {
        enum imap_seqset_result r =
            imap_seqset_parse(cmd->args[1].str, cmd->args[1].len, true, &a->uids);
        if (r != IMAP_SEQSET_OK) {
            imapd_reply_bad(s, "Bad UID set: %s", imap_seqset_error(r));
            expunge_args_free(a);
            return true;
        }
        a->has_uids = true;
    }
    if (s->sel->read_only) {
        imapd_reply_tagged(s, "NO", "[READ-ONLY] The folder was opened with EXAMINE");
        expunge_args_free(a);
        return true;
    }
    return imapd_job_submit(imapd_job_new(s, expunge_work, a, expunge_args_free));
}

/* NOOP, CHECK and IDLE */

static void poll_work(struct imapd_job *j)
{
    imapd_view_update(j->sel, &j->out, true);
    if (j->args)
        imapd_job_tagged(j, "OK", "%s completed", (const char *)j->args);
}

bool imapd_select_poll(struct imapd_session *s, const char *name)
{
    return imapd_job_submit(imapd_job_new(s, poll_work, xstrdup(name), free));
}

/* During IDLE: a change in new/ or cur/. The updates are sent as untagged
 * responses; IDLE goes on. Input waits while an update runs (the session
 * is busy with a job), so DONE is read after it. */
static void idle_update(struct imapd_session *s)
{
    if (s->job || s->paced || s->sel == NULL) {
        s->idle_dirty = true; /* one at a time: again when this one is done */
        return;
    }
    s->idle_dirty = false;
    struct imapd_job *j = imapd_job_new(s, poll_work, NULL, NULL);
    j->idle = true;
    imapd_job_submit(j);
}

void imapd_notify_delivery(struct daemon *d, const char *user)
{
    for (struct session *o = d->session_list; o; o = o->next) {
        struct imapd_session *s = imapd_session_of(o);
        if (s && s->wait == IMAPD_WAIT_IDLE && s->auth_user && strcmp(s->auth_user, user) == 0 &&
            (s->sel == NULL || strcmp(s->sel->f->name, "INBOX") == 0))
            idle_update(s); /* with the folder lent out, it runs after the job in hand */
    }
}

void imapd_idle_job_done(struct imapd_session *s)
{
    if (s->wait == IMAPD_WAIT_IDLE && s->idle_dirty)
        idle_update(s);
    else
        session_process_input(&s->base);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct imapd_session *s = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof(buf)) > 0)
        ; /* the events only say "look again" */
    if (s->wait == IMAPD_WAIT_IDLE)
        idle_update(s);
}

/* IDLE starts with a job: the watch is set up and what changed since the
 * last command is found in a worker (path lookups touch the disk); on the
 * loop the session gets the watch and says "+ idling". The watch belongs
 * to the session, not to the folder, which a job may hold when the
 * session ends: an event must never outlive its session. */
struct idle_args {
    int fd; /* the inotify descriptor, or -1 */
    int err;
};

static void idle_args_free(void *arg)
{
    struct idle_args *a = arg;
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

static void idle_start_work(struct imapd_job *j)
{
    struct idle_args *a = j->args;
    struct imapd_selected *sel = j->sel;
    char *new_dir = NULL, *cur_dir = NULL;
    a->err = store_watch_paths(sel->store, sel->f->name, &new_dir, &cur_dir);
    if (a->err == 0) {
        a->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE;
        if (a->fd < 0 || inotify_add_watch(a->fd, new_dir, mask) < 0 ||
            inotify_add_watch(a->fd, cur_dir, mask) < 0)
            a->err = errno;
    }
    free(new_dir);
    free(cur_dir);
    if (a->err) {
        imapd_job_tagged(j, "NO", "[SERVERBUG] Cannot watch the folder for changes");
        return;
    }
    imapd_view_update(sel, &j->out, true); /* sent after "+ idling" */
}

static void idle_start_done(struct imapd_job *j)
{
    struct idle_args *a = j->args;
    struct imapd_session *s = j->s;
    if (a->err) {
        log_warn("event=imap_watch_failed client=%s error=%s", s->ip, log_q(strerror(a->err)));
        return;
    }
    if (s->conn)
        conn_printf(s->conn, "+ idling\r\n");
    imapd_idle_stop(s); /* none should be left; never two */
    s->inotify_fd = a->fd;
    a->fd = -1;
    s->watch = event_new(s->d->base, s->inotify_fd, EV_READ | EV_PERSIST, on_inotify, s);
    event_add(s->watch, NULL);
    j->enters_idle = true;
}

bool imapd_cmd_idle(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "IDLE takes no arguments");
        return true;
    }
    if (s->sel == NULL) {
        /* Nothing selected: nothing to watch; DONE ends it. */
        conn_printf(s->conn, "+ idling\r\n");
        s->wait = IMAPD_WAIT_IDLE;
        imapd_arm_deadline(s);
        return true;
    }
    struct idle_args *a = xcalloc(1, sizeof(*a));
    a->fd = -1;
    struct imapd_job *j = imapd_job_new(s, idle_start_work, a, idle_args_free);
    j->done = idle_start_done;
    return imapd_job_submit(j);
}

void imapd_idle_stop(struct imapd_session *s)
{
    if (s->watch == NULL)
        return;
    event_free(s->watch);
    s->watch = NULL;
    close(s->inotify_fd);
    s->inotify_fd = -1;
}
