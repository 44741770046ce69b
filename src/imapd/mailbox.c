/* The IMAP mailbox commands' table (the authenticated and selected
 * states), UID's subcommands, login's preparation of the Maildir (the
 * default folders at first login), and the session's end. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/users.h"
#include "daemon.h"
#include "deliver/maildir.h"
#include "imapd/fetch.h"
#include "imapd/folders.h"
#include "imapd/job.h"
#include "imapd/mailbox.h"
#include "imapd/messages.h"
#include "imapd/quota.h"
#include "imapd/select.h"
#include "imapd/session.h"
#include "imapd/sort.h"
#include "snapshot.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

static bool cmd_uid(struct imapd_session *s, const struct imap_command *cmd)
{
    static const struct {
        const char *name;
        bool (*handler)(struct imapd_session *s, const struct imap_command *cmd);
    } subs[] = {
        {"FETCH", imapd_cmd_fetch}, {"STORE", imapd_cmd_store},   {"COPY", imapd_cmd_copy},
        {"MOVE", imapd_cmd_copy},   {"SEARCH", imapd_cmd_search}, {"EXPUNGE", imapd_cmd_expunge},
        {"SORT", imapd_cmd_sort},   {"THREAD", imapd_cmd_sort},
    };
    if (cmd->n == 0 || cmd->args[0].type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "UID expects FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD or EXPUNGE");
        return true;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcasecmp(cmd->args[0].str, subs[i].name) == 0)
            return subs[i].handler(s, cmd);
    imapd_reply_bad(s, "Unknown UID command %s", cmd->args[0].str);
    return true;
}

static bool cmd_unselect_or_close(struct imapd_session *s, const struct imap_command *cmd)
{
    return imapd_cmd_close(s, cmd);
}

static const struct imapd_command mailbox_table[] = {
    {"SELECT", IMAPD_AUTH, 0, imapd_cmd_select},
    {"EXAMINE", IMAPD_AUTH, 0, imapd_cmd_select},
    {"CREATE", IMAPD_AUTH, 0, imapd_cmd_folder},
    {"DELETE", IMAPD_AUTH, 0, imapd_cmd_folder},
    {"RENAME", IMAPD_AUTH, 0, imapd_cmd_folder},
    {"SUBSCRIBE", IMAPD_AUTH, 0, imapd_cmd_folder},
    {"UNSUBSCRIBE", IMAPD_AUTH, 0, imapd_cmd_folder},
    {"LIST", IMAPD_AUTH, 0, imapd_cmd_list},
    {"LSUB", IMAPD_AUTH, 0, imapd_cmd_list},
    {"NAMESPACE", IMAPD_AUTH, 0, imapd_cmd_namespace},
    {"STATUS", IMAPD_AUTH, 0, imapd_cmd_status},
    {"APPEND", IMAPD_AUTH, 0, imapd_cmd_append},
    {"IDLE", IMAPD_AUTH, 0, imapd_cmd_idle},
    {"GETQUOTAROOT", IMAPD_AUTH, 0, imapd_cmd_quota},
    {"GETQUOTA", IMAPD_AUTH, 0, imapd_cmd_quota},
    {"SETQUOTA", IMAPD_AUTH, 0, imapd_cmd_quota},
    {"CLOSE", IMAPD_SELECTED_ONLY, 0, cmd_unselect_or_close},
    {"UNSELECT", IMAPD_SELECTED_ONLY, 0, cmd_unselect_or_close},
    {"EXPUNGE", IMAPD_SELECTED_ONLY, 0, imapd_cmd_expunge},
    {"FETCH", IMAPD_SELECTED_ONLY, 0, imapd_cmd_fetch},
    {"STORE", IMAPD_SELECTED_ONLY, 0, imapd_cmd_store},
    {"COPY", IMAPD_SELECTED_ONLY, 0, imapd_cmd_copy},
    {"MOVE", IMAPD_SELECTED_ONLY, 0, imapd_cmd_copy},
    {"SEARCH", IMAPD_SELECTED_ONLY, 0, imapd_cmd_search},
    {"SORT", IMAPD_SELECTED_ONLY, 0, imapd_cmd_sort},
    {"THREAD", IMAPD_SELECTED_ONLY, 0, imapd_cmd_sort},
    {"UID", IMAPD_SELECTED_ONLY, 0, cmd_uid},
    {NULL, 0, 0, NULL},
};

const struct imapd_command *imapd_mailbox_command(const char *name)
{
    for (const struct imapd_command *c = mailbox_table; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Login: the Maildir and its default folders (Sent, Drafts, Trash, Junk,
 * Archive) are made at the first login, in a worker. */
static void setup_work(struct imapd_job *j)
{
    int err = store_setup(j->store);
    if (err) {
        log_error("event=imap_mailbox_failed user=%s error=%s", log_q((const char *)j->args),
                  log_q(strerror(err)));
        imapd_job_tagged(j, "NO", "[UNAVAILABLE] Cannot open your mailbox, try again later");
    }
}

static void setup_done(struct imapd_job *j)
{
    struct imapd_session *s = j->s;
    if (j->out.len) {
        /* Failed: the NO is in out; the session stays unauthenticated. */
        free(s->auth_user);
        free(s->maildir);
        s->auth_user = s->maildir = NULL;
        return;
    }
    s->state = IMAPD_AUTHENTICATED;
    log_info("event=imap_login client=%s user=%s tls=%s", s->ip, log_q(s->auth_user),
             log_q(s->tls_info[0] ? s->tls_info : "none"));
    struct buf caps;
    buf_init(&caps);
    imapd_capabilities(s, &caps);
    buf_printf(&j->out, "%s OK [CAPABILITY %s] Logged in\r\n", j->tag, caps.data);
    buf_free(&caps);
}

void imapd_mailbox_login(struct imapd_session *s, const char *user)
{
    s->auth_user = xstrdup(user);
    s->maildir = maildir_path(s->snap->conf->data_dir, user);
    s->quota = user_table_quota(s->d->users, user, s->snap->conf->imap_quota);
    struct imapd_job *j = imapd_job_new(s, setup_work, xstrdup(user), free);
    j->done = setup_done;
    imapd_job_submit(j);
}

bool imapd_mailbox_poll(struct imapd_session *s, const char *name)
{
    return imapd_select_poll(s, name);
}

void imapd_mailbox_idle_end(struct imapd_session *s)
{
    imapd_idle_stop(s);
}

void imapd_mailbox_cleanup(struct imapd_session *s)
{
    imapd_idle_stop(s);
    imapd_job_cancel(s);
    imapd_selected_free(s->sel);
    s->sel = NULL;
}
