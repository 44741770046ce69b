/* The IMAP folder commands of the authenticated state (RFC 9051 6.3):
 * CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE, STATUS and
 * APPEND, each a job on the store (LIST and LSUB are list.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/condstore.h"
#include "imapd/folders.h"
#include "imapd/job.h"
#include "imapd/names.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "proto/imap_date.h"
#include "proto/imap_seqset.h"
#include "snapshot.h"
#include "store/store.h"
#include "util/xmalloc.h"

/* CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE */

enum folder_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE };

struct folder_args {
    enum folder_op op;
    char *name, *to;
    unsigned use; /* CREATE ... (USE (...)): special-use bits */
};

static void folder_args_free(void *arg)
{
    struct folder_args *a = arg;
    free(a->name);
    free(a->to);
    free(a);
}

static const char *const op_names[] = {"CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"};

static void folder_work(struct imapd_job *j)
{
    struct folder_args *a = j->args;
    int err = 0;
    switch (a->op) {
    case OP_CREATE:
        err = store_create(j->store, a->name);
        if (err == 0 && a->use && store_set_special_use(j->store, a->name, a->use) != 0) {
            store_delete(j->store, a->name);
            imapd_job_tagged(j, "NO", "[USEATTR] The special use could not be recorded");
            return;
        }
        break;
    case OP_DELETE:
        /* The selected folder may not vanish under the session. */
        err = j->sel && strcmp(j->sel->f->name, a->name) == 0 ? EBUSY
                                                              : store_delete(j->store, a->name);
        break;
    case OP_RENAME:
        err = store_rename(j->store, a->name, a->to);
        break;
    case OP_SUBSCRIBE:
    case OP_UNSUBSCRIBE:
        err = store_subscribe(j->store, a->name, a->op == OP_SUBSCRIBE);
        break;
    }
    if (err == EBUSY)
        imapd_job_tagged(j, "NO", "[INUSE] Close the folder first (CLOSE or UNSELECT)");
    else if (err)
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, a->name));
    else
        imapd_job_tagged(j, "OK", "%s completed", op_names[a->op]);
}

bool imapd_cmd_folder(struct imapd_session *s, const struct imap_command *cmd)
{
    enum folder_op op = OP_CREATE;
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(cmd->name, op_names[i]) == 0)
            op = (enum folder_op)i;
    size_t want = op == OP_RENAME ? 2 : 1;
    unsigned use = 0;
    if (op == OP_CREATE && cmd->n == 2) {
        /* CREATE name (USE (\Archive)), RFC 6154 3 */
        const struct imap_arg *o = &cmd->args[1];
        if (o->type != IMAP_ARG_LIST || o->n != 2 || !imap_arg_atom_is(&o->list[0], "USE") ||
            o->list[1].type != IMAP_ARG_LIST) {
            imapd_reply_bad(s, "CREATE expects a folder name and optionally (USE (attributes))");
            return true;
        }
        if (!imapd_special_use_parse(s, &o->list[1], &use))
            return true;
        want = 2;
    }
    if (cmd->n != want) {
        imapd_reply_bad(
            s, op == OP_RENAME ? "RENAME expects two folder names" : "%s expects one folder name",
            cmd->name);
        return true;
    }
    struct folder_args *a = xcalloc(1, sizeof(*a));
    a->op = op;
    a->use = use;
    a->name = imapd_folder_arg(s, &cmd->args[0]);
    if (a->name && op == OP_RENAME)
        a->to = imapd_folder_arg(s, &cmd->args[1]);
    if (a->name == NULL || (op == OP_RENAME && a->to == NULL)) {
        folder_args_free(a);
        return true;
    }
    /* A trailing separator in CREATE means "a parent to be" (RFC 9051
     * 6.3.4): the store refuses it as a name, so it is dropped here. */
    return imapd_job_submit(imapd_job_new(s, folder_work, a, folder_args_free));
}

bool imapd_cmd_namespace(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "NAMESPACE takes no arguments");
        return true;
    }
    /* One personal namespace with "." as the separator; no shared ones. */
    imapd_reply_untagged(s, "NAMESPACE ((\"\" \".\")) NIL NIL");
    imapd_reply_tagged(s, "OK", "NAMESPACE completed");
    return true;
}

/* STATUS (also LIST's RETURN (STATUS ...), RFC 5819) */

enum status_item {
    ST_MESSAGES = 1u << 0,
    ST_RECENT = 1u << 1,
    ST_UIDNEXT = 1u << 2,
    ST_UIDVALIDITY = 1u << 3,
    ST_UNSEEN = 1u << 4,
    ST_SIZE = 1u << 5,
    ST_DELETED = 1u << 6,
    ST_HIGHESTMODSEQ = 1u << 7, /* RFC 7162 3.1.6 */
};

bool imapd_status_items(struct imapd_session *s, const struct imap_arg *list, unsigned *items_r)
{
    static const struct {
        const char *name;
        unsigned bit;
    } items[] = {
        {"MESSAGES", ST_MESSAGES}, {"RECENT", ST_RECENT},
        {"UIDNEXT", ST_UIDNEXT},   {"UIDVALIDITY", ST_UIDVALIDITY},
        {"UNSEEN", ST_UNSEEN},     {"SIZE", ST_SIZE},
        {"DELETED", ST_DELETED},   {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
    };
    if (list->type != IMAP_ARG_LIST || list->n == 0) {
        imapd_reply_bad(s, "Expected a list of STATUS items such as (MESSAGES UNSEEN)");
        return false;
    }
    unsigned want = 0;
    for (size_t i = 0; i < list->n; i++) {
        const struct imap_arg *it = &list->list[i];
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(items) / sizeof(items[0]) && !bit; k++)
            if (imap_arg_atom_is(it, items[k].name))
                bit = items[k].bit;
        if (bit == 0) {
            imapd_reply_bad(s, "Unknown STATUS item %s", it->str ? it->str : "");
            return false;
        }
        want |= bit;
    }
    *items_r = want;
    return true;
}

int imapd_status_format(struct store *store, const char *name, unsigned items, bool utf8,
                        struct buf *out)
{
    struct store_status st;
    int err = store_status(store, name, &st);
    if (err)
        return err;
    buf_append_str(out, "* STATUS ");
    imapd_folder_quote(out, name, utf8);
    buf_append_str(out, " (");
    const char *sp = "";
#define ITEM(bit, fmt, v)                                                                          \
    if (items & (bit)) {                                                                           \
        buf_printf(out, "%s" fmt, sp, v);                                                          \
        sp = " ";                                                                                  \
    }
    ITEM(ST_MESSAGES, "MESSAGES %u", (unsigned)st.messages);
    ITEM(ST_RECENT, "RECENT %u", (unsigned)st.recent);
    ITEM(ST_UIDNEXT, "UIDNEXT %u", (unsigned)st.uidnext);
    ITEM(ST_UIDVALIDITY, "UIDVALIDITY %u", (unsigned)st.uidvalidity);
    ITEM(ST_UNSEEN, "UNSEEN %u", (unsigned)st.unseen);
    ITEM(ST_SIZE, "SIZE %llu", (unsigned long long)st.size);
    ITEM(ST_DELETED, "DELETED %u", (unsigned)st.deleted);
    ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu", (unsigned long long)st.highest_modseq);
#undef ITEM
    buf_append_str(out, ")\r\n");
    return 0;
}

struct status_args {
    char *name;
    unsigned items;
    bool utf8;
};

static void status_args_free(void *arg)
{
    struct status_args *a = arg;
    free(a->name);
    free(a);
}

static void status_work(struct imapd_job *j)
{
    struct status_args *a = j->args;
    int err = imapd_status_format(j->store, a->name, a->items, a->utf8, &j->out);
    if (err)
        imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, a->name));
    else
        imapd_job_tagged(j, "OK", "STATUS completed");
}

bool imapd_cmd_status(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n != 2) {
        imapd_reply_bad(s, "STATUS expects a folder name and a list of items");
        return true;
    }
    unsigned want;
    if (!imapd_status_items(s, &cmd->args[1], &want))
        return true;
    char *name = imapd_folder_arg(s, &cmd->args[0]);
    if (name == NULL)
        return true;
    struct status_args *a = xcalloc(1, sizeof(*a));
    a->name = name;
    a->items = want;
    a->utf8 = s->utf8_enabled;
    if (want & ST_HIGHESTMODSEQ)
        imapd_condstore_enable(s); /* a CONDSTORE enabling command (RFC 7162 3.1) */
    return imapd_job_submit(imapd_job_new(s, status_work, a, status_args_free));
}

bool imapd_special_use_parse(struct imapd_session *s, const struct imap_arg *list, unsigned *use_r)
{
    static const struct {
        const char *name;
        unsigned bit;
    } uses[] = {
        {"\\Sent", STORE_A_SENT}, {"\\Drafts", STORE_A_DRAFTS},   {"\\Trash", STORE_A_TRASH},
        {"\\Junk", STORE_A_JUNK}, {"\\Archive", STORE_A_ARCHIVE},
    };
    *use_r = 0;
    for (size_t i = 0; i < list->n; i++) {
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(uses) / sizeof(uses[0]) && !bit; k++)
            if (list->list[i].type == IMAP_ARG_ATOM &&
                strcasecmp(list->list[i].str, uses[k].name) == 0)
                bit = uses[k].bit;
        if (bit == 0) {
            /* \All and \Flagged are virtual folders Postern does not have. */
            imapd_reply_tagged(s, "NO", "[USEATTR] Unsupported special use");
            return false;
        }
        *use_r |= bit;
    }
    return true;
}

/* Flags in APPEND and STORE. */

bool imapd_flags_parse(struct imapd_session *s, const struct imap_arg *list, unsigned *flags_r,
                       char ***keywords_r, size_t *n_r)
{
    static const struct {
        const char *name;
        unsigned bit;
    } sys[] = {
        {"\\Answered", STORE_F_ANSWERED}, {"\\Flagged", STORE_F_FLAGGED},
        {"\\Deleted", STORE_F_DELETED},   {"\\Seen", STORE_F_SEEN},
        {"\\Draft", STORE_F_DRAFT},
    };
    const struct imap_arg *v = list->type == IMAP_ARG_LIST ? list->list : list;
    size_t n = list->type == IMAP_ARG_LIST ? list->n : 1;
    *flags_r = 0;
    *keywords_r = NULL;
    *n_r = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != IMAP_ARG_ATOM) {
            imapd_reply_bad(s, "Flags are atoms such as \\Seen");
            goto fail;
        }
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]) && !bit; k++)
            if (strcasecmp(v[i].str, sys[k].name) == 0)
                bit = sys[k].bit;
        if (bit) {
            *flags_r |= bit;
            continue;
        }
        if (v[i].str[0] == '\\') {
            imapd_reply_bad(s, "Flag %s cannot be set", v[i].str);
            goto fail;
        }
        if (!store_keyword_valid(v[i].str)) {
            imapd_reply_bad(s, "Invalid keyword %s", v[i].str);
            goto fail;
        }
        bool dup = false;
        for (size_t k = 0; k < *n_r && !dup; k++)
            dup = strcasecmp((*keywords_r)[k], v[i].str) == 0;
        if (dup)
            continue;
        *keywords_r = xrealloc(*keywords_r, (*n_r + 1) * sizeof(char *));
        (*keywords_r)[(*n_r)++] = xstrdup(v[i].str);
    }
    return true;
fail:
    imapd_keywords_free(*keywords_r, *n_r);
    *keywords_r = NULL;
    *n_r = 0;
    return false;
}

void imapd_keywords_free(char **keywords, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keywords[i]);
    free(keywords);
}

/* APPEND */

struct append_msg {
    char *data;
    size_t len;
    unsigned flags;
    char **keywords;
    size_t n_keywords;
    int64_t date;
};

struct append_args {
    char *name;
    struct append_msg *msgs; /* MULTIAPPEND (RFC 3502): one or more */
    size_t n;
};

static void append_args_free(void *arg)
{
    struct append_args *a = arg;
    free(a->name);
    for (size_t i = 0; i < a->n; i++) {
        free(a->msgs[i].data);
        imapd_keywords_free(a->msgs[i].keywords, a->msgs[i].n_keywords);
    }
    free(a->msgs);
    free(a);
}

/* MULTIAPPEND is all or nothing: what was appended before a failure is
 * expunged again. */
static void append_undo(struct imapd_job *j, const char *name, const uint32_t *uids, size_t n)
{
    struct store_folder *f = NULL;
    if (n == 0 || store_open(j->store, name, false, &f) != 0)
        return;
    uint32_t *gone = NULL;
    size_t n_gone = 0;
    store_expunge(f, uids, n, &gone, &n_gone);
    free(gone);
    store_close(f);
}

static void append_work(struct imapd_job *j)
{
    struct append_args *a = j->args;
    uint32_t uidvalidity = 0;
    uint32_t *uids = xcalloc(a->n, sizeof(*uids));
    int err = 0;
    size_t done = 0;
    for (; done < a->n && err == 0; done++) {
        const struct append_msg *m = &a->msgs[done];
        uint32_t uv = 0;
        err = store_append(j->store, a->name, m->data, m->len, m->flags,
                           (const char *const *)m->keywords, m->n_keywords, m->date, &uv,
                           &uids[done]);
        if (err == 0 && done > 0 && uv != uidvalidity)
            err = EAGAIN; /* the folder was renumbered meanwhile: no APPENDUID set */
        uidvalidity = uv;
    }
    if (err) {
        append_undo(j, a->name, uids, done - 1);
        free(uids);
        if (err == ENOENT)
            imapd_job_tagged(j, "NO", "[TRYCREATE] No such folder: create it first");
        else
            imapd_job_tagged(j, "NO", "%s", imapd_store_error(err, a->name));
        return;
    }
    if (j->sel && strcmp(j->sel->f->name, a->name) == 0)
        imapd_view_update(j->sel, &j->out, false);
    struct buf set;
    buf_init(&set);
    imap_seqset_format_numbers(&set, uids, a->n);
    free(uids);
    imapd_job_tagged(j, "OK", "[APPENDUID %u %s] APPEND completed", (unsigned)uidvalidity,
                     set.data);
    buf_free(&set);
}

/* One message of APPEND: [flags] [date-time] literal, or with UTF8=ACCEPT
 * enabled [flags] [date-time] UTF8 (literal8) (RFC 6855 4). Advances *i;
 * false after a BAD or NO. */
static bool append_message(struct imapd_session *s, const struct imap_command *cmd, size_t *i,
                           struct append_msg *m)
{
    const struct imap_arg *args = cmd->args, *flags = NULL, *date = NULL, *msg = NULL;
    size_t n = cmd->n;
    if (*i < n && args[*i].type == IMAP_ARG_LIST)
        flags = &args[(*i)++];
    if (*i < n && args[*i].type == IMAP_ARG_STRING)
        date = &args[(*i)++];
    if (*i < n && args[*i].type == IMAP_ARG_LITERAL) {
        msg = &args[(*i)++];
    } else if (s->utf8_enabled && *i + 1 < n && imap_arg_atom_is(&args[*i], "UTF8") &&
               args[*i + 1].type == IMAP_ARG_LIST && args[*i + 1].n == 1 &&
               args[*i + 1].list[0].type == IMAP_ARG_LITERAL) {
        msg = &args[*i + 1].list[0];
        *i += 2;
    }
    if (msg == NULL) {
        imapd_reply_bad(s, "APPEND expects a folder, then for each message optional flags and "
                           "date, and a literal");
        return false;
    }
    if (msg->len == 0) {
        imapd_reply_tagged(s, "NO", "An empty message cannot be appended");
        return false;
    }
    time_t when = time(NULL);
    int tz = 0;
    if (date && !imap_datetime_parse(date->str, date->len, &when, &tz)) {
        imapd_reply_bad(s, "Invalid date-time (expected \"17-Jul-1996 02:44:25 -0700\")");
        return false;
    }
    if (flags && !imapd_flags_parse(s, flags, &m->flags, &m->keywords, &m->n_keywords))
        return false;
    m->date = (int64_t)when;
    m->data = xmalloc(msg->len);
    memcpy(m->data, msg->str, msg->len);
    m->len = msg->len;
    return true;
}

bool imapd_cmd_append(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n < 2) {
        imapd_reply_bad(s, "APPEND expects a folder, optional flags and date, and a literal");
        return true;
    }
    struct append_args *a = xcalloc(1, sizeof(*a));
    /* Each message takes at least one argument: at most n - 1 of them. */
    a->msgs = xcalloc(cmd->n - 1, sizeof(*a->msgs));
    for (size_t i = 1; i < cmd->n;) {
        if (!append_message(s, cmd, &i, &a->msgs[a->n])) {
            a->n++; /* its parts are freed with the rest */
            append_args_free(a);
            return true;
        }
        a->n++;
    }
    a->name = imapd_folder_arg(s, &cmd->args[0]);
    if (a->name == NULL) {
        append_args_free(a);
        return true;
    }
    return imapd_job_submit(imapd_job_new(s, append_work, a, append_args_free));
}
