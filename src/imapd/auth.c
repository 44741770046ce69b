/* IMAP login: LOGIN (RFC 9051 6.2.3) and AUTHENTICATE PLAIN or LOGIN with
 * the initial response of SASL-IR (RFC 4959), verified in a worker through
 * auth/check.h, so failures are delayed, rate limited and logged
 * (event=auth_failed ... service=imap) as for SMTP AUTH and POP3. The
 * exchange itself is proto/sasl_step.h, shared with them. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/check.h"
#include "imapd/mailbox.h"
#include "imapd/session.h"
#include "net/conn.h"
#include "util/log.h"

#define IMAPD_MECHS (SASL_MECH_PLAIN | SASL_MECH_LOGIN)

static void check_done(void *arg, enum auth_check_result result, const char *user)
{
    struct imapd_session *s = arg;
    s->check = NULL;
    if (s->state == IMAPD_LOGOUT)
        return;
    if (result == AUTH_CHECK_LOCKED) {
        imapd_reply_tagged(s, "NO",
                           "[UNAVAILABLE] Too many failed logins from your address, "
                           "try again later");
        imapd_bye(s, NULL);
        return;
    }
    if (result == AUTH_CHECK_FAILED) {
        imapd_reply_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
        imapd_command_done(s);
        return;
    }
    imapd_mailbox_login(s, user); /* replies once the Maildir is ready */
}

/* Refuses a locked-out address before any password is checked. */
static bool locked_out(struct imapd_session *s)
{
    if (auth_check_lockout_left(s->d, s->ip, s->service) == 0)
        return false;
    imapd_reply_tagged(s, "NO",
                       "[UNAVAILABLE] Too many failed logins from your address, try "
                       "again later");
    imapd_bye(s, NULL);
    return true;
}

static void start_check(struct imapd_session *s, const char *user, const char *password)
{
    imapd_command_busy(s);
    s->check = auth_check_start(s->d, s->ip, s->service, user, password, check_done, s);
}

bool imapd_cmd_login(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n != 2 || !imap_arg_is_astring(&cmd->args[0]) || !imap_arg_is_astring(&cmd->args[1])) {
        imapd_reply_bad(s, "LOGIN expects a user name and a password");
        return true;
    }
    const struct imap_arg *user = &cmd->args[0], *pass = &cmd->args[1];
    if (user->len > SASL_USER_MAX || pass->len > SASL_PASSWORD_MAX ||
        memchr(user->str, '\0', user->len) || memchr(pass->str, '\0', pass->len)) {
        imapd_reply_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
        return true;
    }
    if (locked_out(s))
        return false;
    start_check(s, user->str, pass->str);
    /* The parser's copy of the password goes with the command (reset). */
    OPENSSL_cleanse((char *)pass->str, pass->len);
    return false;
}

/* One result of the SASL exchange; false when input must stop. */
static bool auth_result(struct imapd_session *s, enum sasl_step_result r)
{
    switch (r) {
    case SASL_STEP_CHALLENGE:
        s->wait = IMAPD_WAIT_SASL;
        conn_printf(s->conn, "+ %s\r\n", s->sasl.challenge);
        return true;
    case SASL_STEP_READY:
        s->wait = IMAPD_WAIT_COMMAND;
        start_check(s, s->sasl.creds.user, s->sasl.creds.password);
        sasl_step_reset(&s->sasl);
        return false;
    case SASL_STEP_CANCELLED:
        s->wait = IMAPD_WAIT_COMMAND;
        imapd_reply_bad(s, "Authentication cancelled");
        imapd_command_finish(s);
        return s->state != IMAPD_LOGOUT;
    case SASL_STEP_ERROR:
        break;
    }
    bool was_exchange = s->wait == IMAPD_WAIT_SASL;
    s->wait = IMAPD_WAIT_COMMAND;
    if (s->sasl.error == SASL_UNKNOWN_MECH)
        imapd_reply_tagged(s, "NO", "Unsupported authentication mechanism (use PLAIN or LOGIN)");
    else if (s->sasl.error == SASL_AUTHZID)
        imapd_reply_tagged(s, "NO",
                           "[AUTHORIZATIONFAILED] Acting as another user (authzid) is "
                           "not allowed");
    else if (s->sasl.error == SASL_BAD_BASE64)
        imapd_reply_bad(s, "Invalid base64 in authentication data");
    else
        imapd_reply_bad(s, "Malformed authentication data: %s", sasl_result_text(s->sasl.error));
    sasl_step_reset(&s->sasl);
    if (was_exchange)
        imapd_command_finish(s);
    return s->state != IMAPD_LOGOUT;
}

bool imapd_auth_response(struct imapd_session *s, const char *line, size_t len)
{
    return auth_result(s, sasl_step_feed(&s->sasl, line, len));
}

bool imapd_cmd_authenticate(struct imapd_session *s, const struct imap_command *cmd)
{
    if (cmd->n < 1 || cmd->n > 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
        (cmd->n == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
        imapd_reply_bad(s, "AUTHENTICATE expects a mechanism and an optional initial response");
        return true;
    }
    const struct imap_arg *ir = cmd->n == 2 ? &cmd->args[1] : NULL;
    enum sasl_step_result r =
        sasl_step_start(&s->sasl, IMAPD_MECHS, cmd->args[0].str, cmd->args[0].len,
                        ir ? ir->str : NULL, ir ? ir->len : 0);
    if (r == SASL_STEP_ERROR && s->sasl.error == SASL_UNKNOWN_MECH)
        return auth_result(s, r);
    if (locked_out(s)) {
        sasl_step_reset(&s->sasl);
        return false;
    }
    return auth_result(s, r);
}

void imapd_auth_cleanup(struct imapd_session *s)
{
    auth_check_cancel(&s->check);
    sasl_step_reset(&s->sasl);
}
