/* The IMAP command table (RFC 9051 6) and the commands of any state:
 * CAPABILITY, NOOP, LOGOUT, STARTTLS, ID, ENABLE. One dispatcher checks the
 * state and the TLS policy, so no handler repeats those checks; the
 * mailbox commands are in mailbox*.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "imapd/condstore.h"
#include "imapd/mailbox.h"
#include "imapd/session.h"
#include "net/conn.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/log.h"

static bool cmd_capability(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "CAPABILITY takes no arguments");
        return true;
    }
    struct buf caps;
    buf_init(&caps);
    imapd_capabilities(s, &caps);
    imapd_reply_untagged(s, "CAPABILITY %s", caps.data);
    buf_free(&caps);
    imapd_reply_tagged(s, "OK", "CAPABILITY completed");
    return true;
}

static bool cmd_noop(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "%s takes no arguments", cmd->name);
        return true;
    }
    if (s->state == IMAPD_SELECTED)
        return imapd_mailbox_poll(s, cmd->name);
    imapd_reply_tagged(s, "OK", "%s completed", cmd->name);
    return true;
}

static bool cmd_logout(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "LOGOUT takes no arguments");
        return true;
    }
    conn_printf(s->conn, "* BYE Logging out\r\n");
    imapd_reply_tagged(s, "OK", "LOGOUT completed");
    imapd_bye(s, NULL);
    return false;
}

static bool cmd_starttls(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n) {
        imapd_reply_bad(s, "STARTTLS takes no arguments");
        return true;
    }
    if (conn_tls_started(s->conn)) {
        imapd_reply_bad(s, "TLS is already active");
        return true;
    }
    if (s->service != SERVICE_IMAP || s->snap->tls == NULL) {
        imapd_reply_tagged(s, "NO", "STARTTLS is not available ([tls] cert and key are not set)");
        return true;
    }
    size_t injected = evbuffer_get_length(conn_input(s->conn));
    if (injected)
        log_warn("event=imap_starttls_input_discarded client=%s octets=%zu", s->ip, injected);
    imapd_reply_tagged(s, "OK", "Begin TLS negotiation now");
    /* The plaintext input buffered behind the command is dropped by
     * conn_starttls (the injection of CVE-2011-0411 and CVE-2021-33515). */
    if (!conn_starttls(s->conn, s->snap->tls)) {
        log_warn("event=imap_starttls_failed client=%s", s->ip);
        imapd_bye(s, NULL);
        return false;
    }
    imapd_command_finish(s);
    return false; /* the next command comes over TLS */
}

/* RFC 2971: the client's identification is logged, ours is the name. */
static bool cmd_id(struct imapd_session *s, const struct imap_command *cmd)
{
    const struct imap_arg *a = cmd->n == 1 ? &cmd->args[0] : NULL;
    if (a == NULL || (a->type != IMAP_ARG_NIL && a->type != IMAP_ARG_LIST)) {
        imapd_reply_bad(s, "ID expects NIL or a parenthesised list of field-value pairs");
        return true;
    }
    if (a->type == IMAP_ARG_LIST) {
        if (a->n % 2 != 0 || a->n > 60) {
            imapd_reply_bad(s, "ID expects at most 30 field-value pairs");
            return true;
        }
        for (size_t i = 0; i < a->n; i += 2)
            if (!imap_arg_is_string(&a->list[i]) ||
                !(imap_arg_is_string(&a->list[i + 1]) || a->list[i + 1].type == IMAP_ARG_NIL)) {
                imapd_reply_bad(s, "ID fields are strings, values strings or NIL");
                return true;
            }
        for (size_t i = 0; i < a->n; i += 2)
            if (strcasecmp(a->list[i].str, "name") == 0 ||
                strcasecmp(a->list[i].str, "version") == 0)
                log_info("event=imap_id client=%s %s=%s", s->ip, a->list[i].str,
                         log_q(a->list[i + 1].str ? a->list[i + 1].str : "NIL"));
    }
    imapd_reply_untagged(s, "ID (\"name\" \"Postern\")");
    imapd_reply_tagged(s, "OK", "ID completed");
    return true;
}

/* RFC 5161. Only what Postern implements is enabled; the rest is ignored,
 * as the RFC says. */
static bool cmd_enable(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n == 0) {
        imapd_reply_bad(s, "ENABLE expects at least one capability");
        return true;
    }
    struct buf enabled;
    buf_init(&enabled);
    for (size_t i = 0; i < cmd->n; i++) {
        if (cmd->args[i].type != IMAP_ARG_ATOM) {
            imapd_reply_bad(s, "ENABLE expects capability names");
            buf_free(&enabled);
            return true;
        }
    }
    buf_append_str(&enabled, "ENABLED");
    for (size_t i = 0; i < cmd->n; i++)
        if (imap_arg_atom_is(&cmd->args[i], "UTF8=ACCEPT") && !s->utf8_enabled) {
            s->utf8_enabled = true; /* RFC 6855: names and strings in UTF-8 from now on */
            buf_append_str(&enabled, " UTF8=ACCEPT");
        } else if (imap_arg_atom_is(&cmd->args[i], "IMAP4rev2") && !s->rev2) {
            /* RFC 9051: no \Recent, ESEARCH results, LIST at SELECT. */
            s->rev2 = true;
            buf_append_str(&enabled, " IMAP4rev2");
        } else if (imap_arg_atom_is(&cmd->args[i], "CONDSTORE") && !s->condstore) {
            imapd_condstore_enable(s); /* RFC 7162 3.1 */
            buf_append_str(&enabled, " CONDSTORE");
        } else if (imap_arg_atom_is(&cmd->args[i], "QRESYNC") && !s->qresync) {
            imapd_qresync_enable(s); /* RFC 7162 3.2.3: CONDSTORE too */
            buf_append_str(&enabled, " QRESYNC");
        }
    imapd_reply_untagged(s, "%s", enabled.data);
    buf_free(&enabled);
    imapd_reply_tagged(s, "OK", "ENABLE completed");
    return true;
}

/* RFC 4978: DEFLATE from the octet after our OK, in both directions. */
static bool cmd_compress(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n != 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
        imapd_reply_bad(s, "COMPRESS expects a mechanism (DEFLATE)");
        return true;
    }
    if (!imap_arg_atom_is(&cmd->args[0], "DEFLATE")) {
        imapd_reply_bad(s, "Unknown compression mechanism (only DEFLATE)");
        return true;
    }
    if (conn_deflate_active(s->conn)) {
        imapd_reply_tagged(s, "NO", "[COMPRESSIONACTIVE] DEFLATE is already active");
        return true;
    }
    imapd_reply_tagged(s, "OK", "DEFLATE active");
    if (!conn_start_deflate(s->conn)) {
        /* The client compresses from now on: nothing more can be said. */
        log_warn("event=imap_compress_failed client=%s", s->ip);
        imapd_bye(s, NULL);
        return false;
    }
    return true;
}

static const struct imapd_command command_table[] = {
    {"CAPABILITY", IMAPD_ANY, 0, cmd_capability},
    {"NOOP", IMAPD_ANY, 0, cmd_noop},
    {"LOGOUT", IMAPD_ANY, 0, cmd_logout},
    {"ID", IMAPD_ANY, 0, cmd_id},
    {"STARTTLS", IMAPD_NOTAUTH, 0, cmd_starttls},
    {"LOGIN", IMAPD_NOTAUTH, IMAPD_CMD_LOGIN, imapd_cmd_login},
    {"AUTHENTICATE", IMAPD_NOTAUTH, IMAPD_CMD_LOGIN, imapd_cmd_authenticate},
    {"ENABLE", IMAPD_AUTH, 0, cmd_enable},
    {"CHECK", IMAPD_SELECTED_ONLY, 0, cmd_noop},
    {"COMPRESS", IMAPD_AUTH, 0, cmd_compress},
};

static const struct imapd_command *lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++)
        if (strcmp(command_table[i].name, name) == 0)
            return &command_table[i];
    return imapd_mailbox_command(name);
}

/* Replies to a command that cannot run here; false if it may. */
static bool refused(struct imapd_session *s, const struct imapd_command *entry,
                    const struct imap_command *cmd)
{
    if (entry == NULL) {
        imapd_reply_bad(s, "Unknown command %s", cmd->name);
    } else if (!(entry->states & IMAPD_STATE_BIT(s->state))) {
        if (s->state == IMAPD_NOT_AUTHENTICATED)
            imapd_reply_bad(s, "%s: log in first (LOGIN or AUTHENTICATE)", cmd->name);
        else if (entry->states == IMAPD_NOTAUTH)
            imapd_reply_bad(s, "%s: already logged in", cmd->name);
        else
            imapd_reply_bad(s, "%s: select a folder first (SELECT or EXAMINE)", cmd->name);
    } else if ((entry->flags & IMAPD_CMD_LOGIN) && !imapd_login_allowed(s)) {
        imapd_reply_tagged(s, "NO",
                           "[PRIVACYREQUIRED] Use STARTTLS first: passwords are only "
                           "accepted over TLS");
    } else {
        return false;
    }
    return true;
}

bool imapd_dispatch(struct imapd_session *s, const struct imap_command *cmd)
{
    const struct imapd_command *entry = lookup(cmd->name);
    bool go_on = refused(s, entry, cmd) || entry->handler(s, cmd);
    /* A handler that went asynchronous called imapd_command_busy(), one
     * that waits for more from the client set s->wait; the others are
     * finished here. */
    if (s->wait == IMAPD_WAIT_COMMAND)
        imapd_command_finish(s);
    return go_on && s->state != IMAPD_LOGOUT;
}
