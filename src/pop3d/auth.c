/* POP3 login: USER/PASS (RFC 1939 7) and AUTH PLAIN (RFC 5034, with the
 * initial response), verified in a worker, failures delayed and rate
 * limited per client address by the limiter SMTP AUTH shares. The AUTH
 * exchange itself is proto/sasl_step.h, as for SMTP; only PLAIN is offered
 * (the mechanism list is part of what clients and the tests see). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/check.h"
#include "daemon.h"
#include "net/conn.h"
#include "pop3d/session.h"
#include "util/log.h"
#include "util/xmalloc.h"

static void check_done(void *arg, enum auth_check_result result, const char *user)
{
    struct pop3d_session *s = arg;
    s->check = NULL;
    if (s->state == POP3D_CLOSING)
        return; /* shut down meanwhile */
    if (result == AUTH_CHECK_LOCKED) {
        pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
        return;
    }
    if (result == AUTH_CHECK_FAILED) {
        pop3d_reply_err(s, "[AUTH] Authentication failed");
        s->state = POP3D_AUTHORIZATION;
        pop3d_wait_command(s);
        pop3d_process_input(s);
        return;
    }
    if (pop3d_mailbox_in_use(s, user)) {
        log_info("event=pop3_mailbox_in_use client=%s user=%s", s->ip, log_q(user));
        pop3d_reply_err(s, "[IN-USE] Mailbox is in use by another POP3 session");
        s->state = POP3D_AUTHORIZATION;
        pop3d_wait_command(s);
        pop3d_process_input(s);
        return;
    }
    pop3d_open_mailbox(s, user); /* replies once the mailbox is read */
}

/* Refuses a locked-out address before any password is checked. */
static bool locked_out(struct pop3d_session *s)
{
    if (auth_check_lockout_left(s->d, s->ip, s->service) == 0)
        return false;
    pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
    return true;
}

static void start_verify(struct pop3d_session *s, const char *user, const char *password)
{
    s->state = POP3D_AUTH_CHECK;
    s->check = auth_check_start(s->d, s->ip, s->service, user, password, check_done, s);
}

bool pop3d_cmd_user(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (cmd->arg_len > SASL_USER_MAX) {
        pop3d_reply_err(s, "User name too long");
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    memcpy(s->user, cmd->arg, cmd->arg_len);
    s->user[cmd->arg_len] = '\0';
    s->has_user = true;
    /* The same answer for every name: USER reveals nothing. */
    pop3d_reply_ok(s, "Send PASS");
    return true;
}

bool pop3d_cmd_pass(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (!s->has_user) {
        pop3d_reply_err(s, "Send USER first");
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    s->has_user = false; /* a failed PASS starts over at USER (RFC 1939 7) */
    if (locked_out(s))
        return false;
    if (cmd->arg_len > SASL_PASSWORD_MAX) {
        pop3d_reply_err(s, "[AUTH] Authentication failed");
        return true;
    }
    char password[SASL_PASSWORD_MAX + 1];
    memcpy(password, cmd->arg, cmd->arg_len);
    password[cmd->arg_len] = '\0';
    start_verify(s, s->user, password);
    OPENSSL_cleanse(password, sizeof(password));
    OPENSSL_cleanse(s->user, sizeof(s->user));
    return false;
}

/* Answers one result of the SASL exchange; returns false when input
 * processing must stop (the password is being checked, or closing). */
static bool auth_result(struct pop3d_session *s, enum sasl_step_result r)
{
    switch (r) {
    case SASL_STEP_CHALLENGE:
        s->state = POP3D_SASL;
        conn_printf(s->conn, "+ %s\r\n", s->sasl.challenge);
        return true;
    case SASL_STEP_READY:
        start_verify(s, s->sasl.creds.user, s->sasl.creds.password);
        sasl_step_reset(&s->sasl);
        return false;
    case SASL_STEP_CANCELLED:
        s->state = POP3D_AUTHORIZATION;
        pop3d_reply_err(s, "Authentication cancelled");
        return true;
    case SASL_STEP_ERROR:
        break;
    }
    s->state = POP3D_AUTHORIZATION;
    if (s->sasl.error == SASL_AUTHZID) {
        pop3d_reply_err(s, "[AUTH] Acting as another user (authzid) is not allowed");
        return true;
    }
    if (s->sasl.error == SASL_BAD_BASE64)
        pop3d_reply_err(s, "Invalid base64 in authentication data");
    else
        pop3d_reply_err(s, "Malformed authentication data: %s", sasl_result_text(s->sasl.error));
    pop3d_bad_command(s);
    return s->state != POP3D_CLOSING;
}

bool pop3d_auth_response(struct pop3d_session *s, const char *line, size_t len)
{
    return auth_result(s, sasl_step_feed(&s->sasl, line, len));
}

bool pop3d_cmd_auth(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (cmd->arg_len == 0) {
        /* "AUTH" alone: the mechanism list, as many clients expect. */
        conn_printf(s->conn, "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
        return true;
    }
    /* The exchange is pure: started first so that an unknown mechanism is
     * answered before the lockout is looked at, as before. */
    enum sasl_step_result r = sasl_step_start(&s->sasl, SASL_MECH_PLAIN, cmd->arg, cmd->arg_len,
                                              cmd->initial, cmd->initial_len);
    if (r == SASL_STEP_ERROR && s->sasl.error == SASL_UNKNOWN_MECH) {
        pop3d_reply_err(s, "Unsupported authentication mechanism (use PLAIN)");
        return true;
    }
    if (locked_out(s)) {
        sasl_step_reset(&s->sasl);
        return false;
    }
    s->has_user = false;
    return auth_result(s, r);
}

void pop3d_auth_cleanup(struct pop3d_session *s)
{
    auth_check_cancel(&s->check);
    sasl_step_reset(&s->sasl);
    OPENSSL_cleanse(s->user, sizeof(s->user));
}
