/* The IMAP mailbox commands on the store: login's preparation of the
 * Maildir, and the command table of the authenticated and selected
 * states. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "deliver/maildir.h"
#include "imapd/mailbox.h"
#include "imapd/session.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

static const struct imapd_command mailbox_table[] = {
    {NULL, 0, 0, NULL},
};

const struct imapd_command *imapd_mailbox_command(const char *name)
{
    for (const struct imapd_command *c = mailbox_table; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void imapd_mailbox_login(struct imapd_session *s, const char *user)
{
    s->auth_user = xstrdup(user);
    s->maildir = maildir_path(s->snap->conf->data_dir, user);
    s->state = IMAPD_AUTHENTICATED;
    log_info("event=imap_login client=%s user=%s tls=%s", s->ip, log_q(user),
             log_q(s->tls_info[0] ? s->tls_info : "none"));
    struct buf caps;
    buf_init(&caps);
    imapd_capabilities(s, &caps);
    imapd_reply_tagged(s, "OK", "[CAPABILITY %s] Logged in", caps.data);
    buf_free(&caps);
    imapd_command_done(s);
}

bool imapd_mailbox_poll(struct imapd_session *s, const char *name)
{
    imapd_reply_tagged(s, "OK", "%s completed", name);
    return true;
}

void imapd_mailbox_idle_end(struct imapd_session *s)
{
}

void imapd_mailbox_cleanup(struct imapd_session *s)
{
}
