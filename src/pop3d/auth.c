/* POP3 login: USER/PASS (RFC 1939 7) and AUTH PLAIN (RFC 5034, with the
 * initial response), verified in a worker, failures delayed and rate
 * limited per client address by the limiter SMTP AUTH shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth/login.h"
#include "daemon.h"
#include "net/conn.h"
#include "pop3d/session.h"
#include "util/log.h"
#include "util/xmalloc.h"

static void login_done(void *arg, enum login_result result, const char *user)
{
    struct pop3d_session *s = arg;
    s->check = NULL;
    if (s->state == POP3D_CLOSING)
        return; /* shut down meanwhile */
    if (result == LOGIN_LOCKED) {
        pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
        return;
    }
    if (result == LOGIN_FAILED) {
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
    if (login_lockout_left(s->d, s->ip, s->service) == 0)
        return false;
    pop3d_close(s, "[SYS/TEMP] Too many failed logins from your address, try again later");
    return true;
}

static void start_verify(struct pop3d_session *s, const char *user, const char *password)
{
    s->state = POP3D_AUTH_CHECK;
    s->check = login_start(s->d, s->ip, s->service, user, password, login_done, s);
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

/* Decodes one PLAIN response and starts the check, or replies why not. */
static bool plain_response(struct pop3d_session *s, const char *data, size_t len)
{
    if (len == 1 && data[0] == '*') {
        s->state = POP3D_AUTHORIZATION;
        pop3d_reply_err(s, "Authentication cancelled");
        return true;
    }
    struct sasl_creds creds;
    enum sasl_result r = sasl_plain_decode(data, len, &creds);
    if (r != SASL_OK) {
        OPENSSL_cleanse(&creds, sizeof(creds));
        s->state = POP3D_AUTHORIZATION;
        if (r == SASL_BAD_BASE64)
            pop3d_reply_err(s, "Invalid base64 in authentication data");
        else
            pop3d_reply_err(s, "Malformed authentication data: %s", sasl_result_text(r));
        pop3d_bad_command(s);
        return s->state != POP3D_CLOSING;
    }
    if (creds.authzid[0] && strcasecmp(creds.authzid, creds.user) != 0) {
        OPENSSL_cleanse(&creds, sizeof(creds));
        s->state = POP3D_AUTHORIZATION;
        pop3d_reply_err(s, "[AUTH] Acting as another user (authzid) is not allowed");
        return true;
    }
    start_verify(s, creds.user, creds.password);
    OPENSSL_cleanse(&creds, sizeof(creds));
    return false;
}

bool pop3d_auth_response(struct pop3d_session *s, const char *line, size_t len)
{
    return plain_response(s, line, len);
}

bool pop3d_cmd_auth(struct pop3d_session *s, const struct pop3_command *cmd)
{
    if (cmd->arg_len == 0) {
        /* "AUTH" alone: the mechanism list, as many clients expect. */
        conn_printf(s->conn, "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
        return true;
    }
    if (cmd->arg_len != 5 || strncasecmp(cmd->arg, "PLAIN", 5) != 0) {
        pop3d_reply_err(s, "Unsupported authentication mechanism (use PLAIN)");
        return true;
    }
    if (locked_out(s))
        return false;
    s->has_user = false;
    if (cmd->initial) {
        /* RFC 5034 4: "=" is an empty initial response. */
        size_t len = cmd->initial_len == 1 && cmd->initial[0] == '=' ? 0 : cmd->initial_len;
        return plain_response(s, cmd->initial, len);
    }
    s->state = POP3D_SASL;
    conn_write(s->conn, "+ \r\n", 4);
    return true;
}

void pop3d_auth_cleanup(struct pop3d_session *s)
{
    login_cancel(&s->check);
    OPENSSL_cleanse(s->user, sizeof(s->user));
}
