/* The SMTP command table and its handlers (RFC 5321 4.1, 1870, 3030, 6531). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "daemon.h"
#include "net/conn.h"
#include "queue/queue.h"
#include "smtpd/session.h"
#include "snapshot.h"
#include "smtpd/srs_rcpt.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define S(x)              SMTPD_STATE_BIT(SMTPD_##x)
#define ANY_COMMAND_STATE (S(CONNECTED) | S(READY) | S(MAIL) | S(RCPT))

/* The command must be the last of a pipelined group (RFC 2920 3.1): input
 * already waiting behind it means the client did not wait for our reply. */
#define CMD_SYNC 0x1u

struct smtpd_command {
    enum smtp_verb verb;
    unsigned states;
    unsigned flags;
    const char *out_of_order; /* the 503 text when the state does not allow it */
    bool (*handler)(struct smtpd_session *s, const struct smtp_command *cmd);
};

static bool cmd_helo(struct smtpd_session *s, const struct smtp_command *cmd);
static const char *sender_addr(const struct smtp_path *path)
{
    static char addr[SMTP_LOCAL_PART_MAX + SMTP_DOMAIN_MAX + 2];
    if (path->is_null)
        return "";
    snprintf(addr, sizeof(addr), "%s@%s", path->local, path->domain);
    return addr;
}

static bool cmd_mail(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_rcpt(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_data(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_bdat(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_rset(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_noop(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_quit(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_vrfy(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_expn(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_help(struct smtpd_session *s, const struct smtp_command *cmd);
static bool cmd_starttls(struct smtpd_session *s, const struct smtp_command *cmd);

static const struct smtpd_command command_table[] = {
    {SMTP_VERB_HELO, ANY_COMMAND_STATE, CMD_SYNC, NULL, cmd_helo},
    {SMTP_VERB_EHLO, ANY_COMMAND_STATE, CMD_SYNC, NULL, cmd_helo},
    {SMTP_VERB_MAIL, S(READY), 0, NULL, cmd_mail},
    {SMTP_VERB_RCPT, S(MAIL) | S(RCPT), 0, "Need MAIL before RCPT", cmd_rcpt},
    {SMTP_VERB_DATA, S(RCPT), CMD_SYNC, NULL, cmd_data},
    {SMTP_VERB_BDAT, S(RCPT), 0, NULL, cmd_bdat},
    {SMTP_VERB_RSET, ANY_COMMAND_STATE, 0, NULL, cmd_rset},
    {SMTP_VERB_NOOP, ANY_COMMAND_STATE, 0, NULL, cmd_noop},
    {SMTP_VERB_QUIT, ANY_COMMAND_STATE, 0, NULL, cmd_quit},
    {SMTP_VERB_VRFY, ANY_COMMAND_STATE, 0, NULL, cmd_vrfy},
    {SMTP_VERB_EXPN, ANY_COMMAND_STATE, 0, NULL, cmd_expn},
    {SMTP_VERB_HELP, ANY_COMMAND_STATE, 0, NULL, cmd_help},
    {SMTP_VERB_STARTTLS, ANY_COMMAND_STATE, CMD_SYNC, NULL, cmd_starttls},
    {SMTP_VERB_AUTH, S(READY), CMD_SYNC, NULL, smtpd_cmd_auth},
};

static const struct smtp_error err_params_need_ehlo = {555, "5.5.4",
                                                       "Parameters need EHLO, not HELO"};

static const char *out_of_order_text(const struct smtpd_session *s, enum smtp_verb verb)
{
    if (s->state == SMTPD_CONNECTED)
        return "Send HELO/EHLO first";
    switch (verb) {
    case SMTP_VERB_MAIL:
        return "Nested MAIL command: send RSET to start over";
    case SMTP_VERB_RCPT:
        return "Need MAIL before RCPT";
    case SMTP_VERB_DATA:
    case SMTP_VERB_BDAT:
        return s->state == SMTPD_MAIL && s->env && s->env->nrcpts == 0 && s->rcpt_commands == 0
                   ? "Need RCPT before DATA (no valid recipient yet)"
                   : "Need MAIL and RCPT before DATA";
    default:
        return "Bad sequence of commands";
    }
}

bool smtpd_dispatch(struct smtpd_session *s, const char *line, size_t len, bool more_input)
{
    struct smtp_command cmd;
    const struct smtp_error *err = smtp_command_parse(line, len, &cmd);
    if (err) {
        smtpd_reply_error(s, err);
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    const struct smtpd_command *entry = NULL;
    for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++)
        if (command_table[i].verb == cmd.verb)
            entry = &command_table[i];
    if (entry == NULL) {
        smtpd_reply(s, 500, "5.5.1", "Command unrecognized");
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (!(entry->states & SMTPD_STATE_BIT(s->state))) {
        if (cmd.verb == SMTP_VERB_BDAT) {
            /* RFC 3030: the chunk must still be read, then refused. */
            uint64_t size;
            bool last;
            if (smtp_bdat_parse(cmd.args, cmd.args_len, &size, &last) == NULL) {
                smtpd_bdat_start(s, size, last, true);
                return s->state != SMTPD_CLOSING;
            }
        }
        smtpd_reply(s, 503, "5.5.1", "%s", out_of_order_text(s, cmd.verb));
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if ((entry->flags & CMD_SYNC) && more_input) {
        log_warn("event=smtp_pipelining_violation client=%s command=%s", s->ip,
                 smtp_verb_name(cmd.verb));
        smtpd_close(s, 554, "5.5.0",
                    "Protocol error: commands sent before the reply to a command that must "
                    "end a pipelined group (RFC 2920)");
        return false;
    }
    return entry->handler(s, &cmd);
}

static bool helo_arg_valid(const char *p, size_t n)
{
    if (n == 0 || n > 255 || !utf8_valid(p, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

static bool cmd_helo(struct smtpd_session *s, const struct smtp_command *cmd)
{
    bool ehlo = cmd->verb == SMTP_VERB_EHLO;
    if (!helo_arg_valid(cmd->args, cmd->args_len)) {
        smtpd_reply(s, 501, "5.5.4", "Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    smtpd_transaction_reset(s);
    free(s->helo);
    s->helo = xstrndup(cmd->args, cmd->args_len);
    s->esmtp = ehlo;
    s->state = SMTPD_READY;
    const struct conf *conf = s->snap->conf;
    if (!ehlo) {
        smtpd_reply(s, 250, NULL, "%s", conf->hostname);
        return true;
    }
    conn_printf(s->conn,
                "250-%s Hello [%s]\r\n"
                "250-PIPELINING\r\n"
                "250-SIZE %llu\r\n"
                "250-8BITMIME\r\n"
                "250-ENHANCEDSTATUSCODES\r\n"
                "250-SMTPUTF8\r\n"
                "250-CHUNKING\r\n"
                "250-DSN\r\n",
                conf->hostname, s->ip, (unsigned long long)conf->message_size);
    if (s->snap->tls && !conn_tls_started(s->conn))
        conn_printf(s->conn, "250-STARTTLS\r\n");
    /* Passwords only inside TLS: before it, AUTH is not even advertised. */
    if (smtpd_auth_offered(s) && conn_tls(s->conn) && !s->auth_user)
        conn_printf(s->conn, "250-AUTH PLAIN LOGIN\r\n");
    conn_printf(s->conn, "250 HELP\r\n");
    return true;
}

static bool cmd_mail(struct smtpd_session *s, const struct smtp_command *cmd)
{
    if (smtpd_is_submission(s) && s->auth_user == NULL) {
        smtpd_reply(s, 530, "5.7.0",
                    conn_tls(s->conn) ? "Authentication required: log in with AUTH first"
                                      : "Must issue a STARTTLS command first, then AUTH");
        return true;
    }
    struct smtp_path path;
    struct esmtp_param params[SMTP_PARAMS_MAX];
    size_t nparams;
    const struct smtp_error *err =
        smtp_path_parse(cmd->args, cmd->args_len, SMTP_PATH_MAIL, &path, params, &nparams);
    if (err == NULL && !s->esmtp && nparams > 0)
        err = &err_params_need_ehlo;
    struct smtp_mail_params mp;
    if (err == NULL)
        err = smtp_mail_params_parse(params, nparams, s->snap->conf->message_size, &mp);
    if (err) {
        log_info("event=mail_rejected client=%s code=%d reason=%s", s->ip, err->code,
                 log_q(err->text));
        smtpd_reply_error(s, err);
        if (err->code != 552)
            smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (path.utf8 && !mp.smtputf8) {
        smtpd_reply(s, 553, "5.6.7",
                    "Address has non-ASCII characters: send MAIL FROM with the SMTPUTF8 "
                    "parameter");
        return true;
    }
    /* Refuse early when the queue cannot hold the message (RFC 1870 6.1). */
    uint64_t need = (mp.has_size ? mp.size : 0) + 1024 * 1024;
    if (queue_free_space(s->d->queue) < need) {
        log_warn("event=mail_rejected client=%s reason=queue_disk_full", s->ip);
        smtpd_reply(s, 452, "4.3.1", "Insufficient system storage, try again later");
        return true;
    }
    if (s->auth_user && !smtpd_sender_owned(s, path.is_null ? NULL : sender_addr(&path))) {
        log_warn("event=mail_rejected client=%s user=%s reason=sender_not_owned sender=%s", s->ip,
                 log_q(s->auth_user), log_q(sender_addr(&path)));
        smtpd_reply(s, 553, "5.7.1", "<%s>: Sender address is not one of %s's addresses",
                    sender_addr(&path), s->auth_user);
        return true;
    }
    s->env = envelope_new();
    if (s->auth_user)
        s->env->auth_user = xstrdup(s->auth_user);
    free(s->env->sender);
    s->env->sender = path.is_null ? xstrdup("") : xasprintf("%s@%s", path.local, path.domain);
    s->env->helo = xstrdup(s->helo);
    s->env->client = xstrdup(s->ip);
    s->env->smtputf8 = mp.smtputf8;
    s->env->body_8bit = mp.body == SMTP_BODY_8BITMIME;
    s->env->ret = (int)mp.ret;
    if (mp.envid[0])
        s->env->envid = xstrdup(mp.envid);
    s->mail = mp;
    s->state = SMTPD_MAIL;
    smtpd_checks_mail(s, s->env->sender);
    smtpd_reply(s, 250, "2.1.0", "Ok");
    return true;
}

void smtpd_rcpt_add_targets(struct smtpd_session *s, const char *addr,
                            const struct smtp_rcpt_params *rp, char *const *targets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (envelope_find_rcpt(s->env, targets[i]) < 0) {
            struct envelope_rcpt *r = envelope_add_rcpt(s->env, targets[i], addr);
            r->notify = rp->notify;
            if (rp->orcpt[0])
                r->orcpt = xstrdup(rp->orcpt);
        }
    }
}

void smtpd_rcpt_accepted(struct smtpd_session *s, const char *addr)
{
    s->rcpt_commands++;
    free(s->single_rcpt);
    s->single_rcpt = s->rcpt_commands == 1 ? xstrdup(addr) : NULL;
    s->state = SMTPD_RCPT;
    smtpd_reply(s, 250, "2.1.5", "Ok");
}

enum local_rcpt { LOCAL_RCPT_UNKNOWN, LOCAL_RCPT_ADDED, LOCAL_RCPT_CHECKING };

/* Fills the envelope with the final targets of a local recipient, or
 * hands them to the quota check (which answers). UNKNOWN when the address
 * reaches no mailbox. The user table is the current one (d->users), not
 * the session's snapshot: a user added by a reload receives mail from
 * sessions already open. */
static enum local_rcpt add_local_rcpt(struct smtpd_session *s, const char *addr,
                                      const struct smtp_rcpt_params *rp)
{
    char **targets = NULL;
    size_t n = 0;
    user_table_resolve(s->d->users, addr, &targets, &n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *at = strrchr(targets[i], '@');
        bool local = at && conf_is_local_domain(s->snap->conf, at + 1);
        if (local && !user_table_has_mailbox(s->d->users, targets[i])) {
            log_warn("event=alias_target_unknown rcpt=%s target=%s", log_q(addr),
                     log_q(targets[i]));
            free(targets[i]);
            continue;
        }
        targets[kept++] = targets[i];
    }
    enum local_rcpt result = LOCAL_RCPT_UNKNOWN;
    if (kept > 0 && smtpd_rcpt_quota_start(s, addr, rp, targets, kept)) {
        result = LOCAL_RCPT_CHECKING;
    } else if (kept > 0) {
        smtpd_rcpt_add_targets(s, addr, rp, targets, kept);
        result = LOCAL_RCPT_ADDED;
    }
    for (size_t i = 0; i < kept; i++)
        free(targets[i]);
    free(targets);
    return result;
}

static bool cmd_rcpt(struct smtpd_session *s, const struct smtp_command *cmd)
{
    const struct conf *conf = s->snap->conf;
    struct smtp_path path;
    struct esmtp_param params[SMTP_PARAMS_MAX];
    size_t nparams;
    const struct smtp_error *err =
        smtp_path_parse(cmd->args, cmd->args_len, SMTP_PATH_RCPT, &path, params, &nparams);
    if (err == NULL && !s->esmtp && nparams > 0)
        err = &err_params_need_ehlo;
    struct smtp_rcpt_params rp;
    if (err == NULL)
        err = smtp_rcpt_params_parse(params, nparams, &rp);
    if (err) {
        smtpd_reply_error(s, err);
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (s->rcpt_commands >= conf->recipients) {
        smtpd_reply(s, 452, "4.5.3", "Too many recipients (the limit is %u per message)",
                    conf->recipients);
        return true;
    }
    if (path.utf8 && !s->mail.smtputf8) {
        smtpd_reply(s, 553, "5.6.7",
                    "Address has non-ASCII characters: send MAIL FROM with the SMTPUTF8 "
                    "parameter");
        return true;
    }
    char *addr;
    if (path.domain[0] == '\0') /* RCPT TO:<postmaster> (RFC 5321 4.5.1) */
        addr = xasprintf("postmaster@%s", conf->local_domains[0]);
    else
        addr = xasprintf("%s@%s", path.local, path.domain);
    /* Domains are case-insensitive; a remote local part is not ours to fold. */
    char *domain = strrchr(addr, '@') + 1;
    address_lower(domain);
    if (conf_is_local_domain(conf, domain))
        address_lower(addr);
    enum smtpd_srs srs = smtpd_srs_rcpt(s, path.local, domain, &rp);
    enum local_rcpt local;
    if (srs == SMTPD_SRS_REFUSED) {
        free(addr);
        return true;
    } else if (srs == SMTPD_SRS_ACCEPTED) {
        /* a bounce to a sender whose mail we forwarded: relayed back */
    } else if (!conf_is_local_domain(conf, domain) && s->auth_user) {
        /* An authenticated user's mail for elsewhere is queued for relay. */
        if (envelope_find_rcpt(s->env, addr) < 0) {
            struct envelope_rcpt *r = envelope_add_rcpt(s->env, addr, addr);
            r->notify = rp.notify;
            if (rp.orcpt[0])
                r->orcpt = xstrdup(rp.orcpt);
        }
    } else if (!conf_is_local_domain(conf, domain)) {
        log_info("event=rcpt_rejected client=%s rcpt=%s reason=relay_denied", s->ip, log_q(addr));
        smtpd_reply(s, 554, "5.7.1",
                    "<%s>: Relay access denied (this server only accepts mail for its own "
                    "domains; log in on the submission port to send elsewhere)",
                    addr);
        free(addr);
        return true;
    } else if ((local = add_local_rcpt(s, addr, &rp)) == LOCAL_RCPT_CHECKING) {
        free(addr); /* the check answers */
        return false;
    } else if (local == LOCAL_RCPT_UNKNOWN) {
        log_info("event=rcpt_rejected client=%s rcpt=%s reason=unknown_user", s->ip, log_q(addr));
        smtpd_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: no such user here", addr);
        free(addr);
        /* Directory harvesting: unknown users are counted (on their own, so
         * that they do not add to a clumsy client's protocol errors) against
         * [limits] bad_commands, so a connection cannot try more names. */
        if (++s->unknown_rcpts >= conf->bad_commands) {
            log_warn("event=smtp_too_many_errors client=%s unknown_rcpts=%u", s->ip,
                     s->unknown_rcpts);
            smtpd_close(s, 421, "4.7.0", "Too many errors, closing connection");
        } else if (s->unknown_rcpts > conf->bad_commands / 2) {
            /* Past half the limit, each further guess costs the guesser
             * [limits] error_delay (Postfix: smtpd_error_sleep_time). */
            smtpd_error_pause(s, conf->error_delay_ms);
        }
        return s->state != SMTPD_CLOSING && s->state != SMTPD_ERROR_WAIT;
    }
    smtpd_rcpt_accepted(s, addr);
    free(addr);
    return true;
}

static bool cmd_data(struct smtpd_session *s, const struct smtp_command *cmd)
{
    if (cmd->args_len) {
        smtpd_reply(s, 501, "5.5.4", "Syntax: DATA (no arguments)");
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (s->bdat_used) {
        smtpd_reply(s, 503, "5.5.1", "DATA after BDAT in one transaction: send RSET");
        return true;
    }
    if (!smtpd_data_begin(s))
        return true;
    smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    return true;
}

static bool cmd_bdat(struct smtpd_session *s, const struct smtp_command *cmd)
{
    uint64_t size;
    bool last;
    const struct smtp_error *err = smtp_bdat_parse(cmd->args, cmd->args_len, &size, &last);
    if (err) {
        /* Without a valid size the chunk cannot be skipped: close. */
        smtpd_reply_error(s, err);
        smtpd_close(s, 421, "4.5.0", "Cannot recover from a malformed BDAT");
        return false;
    }
    smtpd_bdat_start(s, size, last, false);
    return s->state != SMTPD_CLOSING && s->state != SMTPD_COMMIT;
}

static bool cmd_rset(struct smtpd_session *s, const struct smtp_command *cmd)
{
    smtpd_transaction_reset(s);
    smtpd_reply(s, 250, "2.0.0", "Ok");
    return true;
}

static bool cmd_noop(struct smtpd_session *s, const struct smtp_command *cmd)
{
    smtpd_reply(s, 250, "2.0.0", "Ok");
    return true;
}

static bool cmd_quit(struct smtpd_session *s, const struct smtp_command *cmd)
{
    smtpd_close(s, 221, "2.0.0", "Bye");
    return false;
}

static bool cmd_vrfy(struct smtpd_session *s, const struct smtp_command *cmd)
{
    /* Never confirm addresses to strangers (RFC 5321 3.5.3 allows 252). */
    smtpd_reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
    return true;
}

static bool cmd_expn(struct smtpd_session *s, const struct smtp_command *cmd)
{
    smtpd_reply(s, 502, "5.5.1", "EXPN is not available");
    return true;
}

static bool cmd_help(struct smtpd_session *s, const struct smtp_command *cmd)
{
    smtpd_reply(s, 214, "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP; see RFC 5321");
    return true;
}

static bool cmd_starttls(struct smtpd_session *s, const struct smtp_command *cmd)
{
    if (cmd->args_len) {
        smtpd_reply(s, 501, "5.5.4", "Syntax: STARTTLS (no arguments)");
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (conn_tls_started(s->conn)) {
        smtpd_reply(s, 503, "5.5.1", "TLS is already active");
        smtpd_bad_command(s);
        return s->state != SMTPD_CLOSING;
    }
    if (s->snap->tls == NULL) {
        smtpd_reply(s, 454, "4.7.0", "TLS not available: no certificate is configured");
        return true;
    }
    smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
    /* RFC 3207 4.2: forget everything learnt before TLS; EHLO again. */
    smtpd_transaction_reset(s);
    free(s->helo);
    s->helo = NULL;
    s->esmtp = false;
    s->state = SMTPD_CONNECTED;
    if (!conn_starttls(s->conn, s->snap->tls)) {
        smtpd_close(s, 421, "4.7.0", "TLS could not be started");
        return false;
    }
    smtpd_wait_command(s);
    return false; /* the input was discarded; wait for the handshake */
}
